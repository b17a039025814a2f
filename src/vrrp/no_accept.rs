//! `no_accept` (RFC 5798 Accept_Mode false; keepalived's default under `vrrp_strict`): a
//! master that is not the address owner drops traffic addressed to its VIPs; the VRRP
//! machinery is untouched (adverts use the real and multicast addresses, ARP is not IP, and
//! IPv6 neighbour discovery to a VIP is let through so the VIP stays reachable at L2).
//!
//! The rules live in the nftables table `inet lvsd`, one base chain per instance hooked at
//! `input`, added on becoming master and deleted on leaving it, at start and at exit. They
//! are written by the `nft` program in one atomic batch: the Rust nftables-over-netlink crate
//! (rustables) is GPL, and the batch keeps what lvsd does readable with `nft list table inet
//! lvsd`. Rendering is pure ([`block_script`], [`unblock_script`]); [`apply`] runs `nft`.

use std::net::IpAddr;

use anyhow::{Context as _, bail};

/// The table every lvsd rule lives in.
pub const TABLE: &str = "lvsd";

/// The instance's chain: `vrrp_<vrid>_<name>`, with anything nft would not take as an
/// identifier replaced by `_`.
pub fn chain_name(vrid: u8, instance: &str) -> String {
    let clean: String = instance
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("vrrp_{vrid}_{clean}")
}

fn chain_decl(chain: &str) -> String {
    format!(
        "add table inet {TABLE}\n\
         add chain inet {TABLE} {chain} {{ type filter hook input priority filter; policy accept; }}\n"
    )
}

fn set(addrs: &[IpAddr]) -> String {
    let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    format!("{{ {} }}", list.join(", "))
}

/// Drops everything addressed to `vips` except IPv6 neighbour discovery (replacing what the
/// chain held).
pub fn block_script(chain: &str, vips: &[IpAddr]) -> String {
    let mut s = chain_decl(chain);
    s += &format!("flush chain inet {TABLE} {chain}\n");
    let v4: Vec<IpAddr> = vips.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = vips.iter().copied().filter(IpAddr::is_ipv6).collect();
    if !v4.is_empty() {
        s += &format!("add rule inet {TABLE} {chain} ip daddr {} drop\n", set(&v4));
    }
    if !v6.is_empty() {
        s += &format!(
            "add rule inet {TABLE} {chain} ip6 daddr {} icmpv6 type \
             {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n",
            set(&v6)
        );
        s += &format!(
            "add rule inet {TABLE} {chain} ip6 daddr {} drop\n",
            set(&v6)
        );
    }
    s
}

/// Removes the chain; declaring it first makes this succeed whether or not it exists.
pub fn unblock_script(chain: &str) -> String {
    chain_decl(chain) + &format!("delete chain inet {TABLE} {chain}\n")
}

/// Runs `nft -f -` with `script` as one atomic transaction.
pub async fn apply(script: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("no_accept needs the `nft` program (Debian package nftables)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .context("writing to nft")?;
    }
    let out = child.wait_with_output().await.context("waiting for nft")?;
    if !out.status.success() {
        bail!(
            "nft refused the no_accept rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_nft_identifiers() {
        assert_eq!(chain_name(51, "VI_1"), "vrrp_51_VI_1");
        assert_eq!(chain_name(7, "web-vip.1"), "vrrp_7_web_vip_1");
    }

    #[test]
    fn block_drops_each_family_and_keeps_neighbour_discovery() {
        let vips: Vec<IpAddr> = ["10.0.0.1", "fd00::1", "10.0.0.2"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let s = block_script("c", &vips);
        assert!(s.contains("flush chain inet lvsd c\n"), "{s}");
        assert!(s.contains("ip daddr { 10.0.0.1, 10.0.0.2 } drop"), "{s}");
        let nd = s.find("nd-neighbor-solicit").unwrap_or(usize::MAX);
        let drop6 = s.find("ip6 daddr { fd00::1 } drop").unwrap_or(0);
        assert!(nd < drop6, "ND must be accepted before the drop: {s}");
    }

    #[test]
    fn unblock_is_idempotent_by_construction() {
        let s = unblock_script("c");
        assert!(
            s.starts_with("add table inet lvsd\nadd chain inet lvsd c"),
            "{s}"
        );
        assert!(s.ends_with("delete chain inet lvsd c\n"), "{s}");
    }
}
