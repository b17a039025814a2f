//! `use_vmac_addr` (keepalived.conf(5)): every other interface a VIP/eVIP names (`dev X`, X not
//! the instance's interface) gets a VMAC (macvlan, 00:00:5e:00:01|02:VRID) made on it, and the
//! VIP goes on that VMAC instead of X, as keepalived 2.2.7 does (it names the first one
//! `vrrp.VRID`). The VMACs are removed when the instance stops.
//!
//! Not done: the other half of the man page's rule, an eVIP of the other address family on
//! the instance's own interface (lvsd puts it on the interface, or the instance's VMAC).

use super::config::InstanceConfig;
use super::vip::{Error, Netlink};

/// The VMAC made on the `k`-th (from 0, in VIP order) other interface: `vrrp.VRID` unless
/// `use_vmac` already takes that name, then `vrrp.VRID.K+1`.
pub fn name(cfg_vrid: u8, k: usize, instance_vmac: Option<&str>) -> String {
    let first = format!("vrrp.{cfg_vrid}");
    let taken = match instance_vmac {
        Some("") => true,
        Some(n) => n == first,
        None => false,
    };
    if k == 0 && !taken {
        first
    } else {
        format!("vrrp.{cfg_vrid}.{}", k + 1)
    }
}

/// The other interfaces named by the VIPs, in order, each once.
pub fn other_devs<'c>(
    cfg_interface: &str,
    devs: impl Iterator<Item = Option<&'c str>>,
) -> Vec<&'c str> {
    let mut out: Vec<&str> = Vec::new();
    for d in devs.flatten() {
        if d != cfg_interface && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Makes (or finds) the VMAC on `dev` for this instance and brings it up; its index.
pub async fn ensure(cfg: &InstanceConfig, nl: &Netlink, dev: &str, k: usize) -> Result<u32, Error> {
    let parent = nl.link(dev).await?;
    let name = name(cfg.vrid, k, cfg.use_vmac.as_deref());
    let v6 = cfg.is_ipv6();
    let l = nl
        .ensure_vmac(parent.index, &name, cfg.vrid, v6, None)
        .await?;
    let _ = nl.set_up(l.index).await;
    super::vmac::apply_vmac_sysctls(&parent.name, &l.name, v6);
    Ok(l.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_keepalived_and_never_twice() {
        assert_eq!(name(9, 0, None), "vrrp.9");
        assert_eq!(name(9, 1, None), "vrrp.9.2");
        assert_eq!(name(9, 0, Some("")), "vrrp.9.1");
        assert_eq!(name(9, 0, Some("vrrp.9")), "vrrp.9.1");
        assert_eq!(name(9, 0, Some("vm1")), "vrrp.9");
        let devs = [None, Some("eth1"), Some("eth0"), Some("eth2"), Some("eth1")];
        assert_eq!(other_devs("eth0", devs.into_iter()), ["eth1", "eth2"]);
    }
}
