//! `use_ipvlan [NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]` in a vrrp_instance, read as
//! keepalived 2.2.7 reads it: the words may come in any order; a mode word sets the mode
//! (default bridge), a valid address sets the address, the first other word is the name and
//! any later one is reported and ignored. The name defaults to `vrrp.<VRID>`; an IPv4
//! instance without an address stays in FAULT (keepalived's words), checked in [`finish`].

use std::net::IpAddr;

use super::Ctx;
use crate::config::model::{Family, IpvlanMode, UseIpvlan, VrrpInstance};
use crate::config::parser::Node;

/// The line itself; the name is left empty until the VRID is known.
pub(super) fn parse(cx: &mut Ctx, n: &Node, instance: &str) -> UseIpvlan {
    let mut u = UseIpvlan {
        name: String::new(),
        addr: None,
        prefix: 0,
        mode: IpvlanMode::Bridge,
    };
    for w in n.words.iter().skip(1) {
        if let Some(m) = mode(&w.text) {
            u.mode = m;
        } else if let (None, Some((a, p))) = (u.addr, address(&w.text)) {
            (u.addr, u.prefix) = (Some(a), p);
        } else if address(&w.text).is_some() {
            cx.warn(
                w.span,
                format!(
                    "({instance}) ipvlan address already specified - ignoring '{}'",
                    w.text
                ),
            );
        } else if u.name.is_empty() {
            u.name = w.text.to_string();
        } else {
            cx.warn(
                w.span,
                format!(
                    "({instance}) IPVLAN interface already specified - ignoring '{}'",
                    w.text
                ),
            );
        }
    }
    u
}

/// The default name and keepalived's check that an IPv4 ipvlan has an address.
pub(super) fn finish(cx: &mut Ctx, vi: &mut VrrpInstance, span: Option<crate::config::Span>) {
    let Some(u) = vi.use_ipvlan.as_mut() else {
        return;
    };
    if u.name.is_empty() {
        u.name = format!("vrrp.{}", vi.virtual_router_id);
    }
    if vi.family == Family::Inet && u.addr.is_none() {
        cx.warn(
            span.unwrap_or(vi.span),
            format!(
                "({}) IPv4 ipvlan requires a source ip address to be configured; \
                 the instance stays in FAULT",
                vi.name
            ),
        );
    }
}

fn mode(w: &str) -> Option<IpvlanMode> {
    Some(match w {
        "bridge" => IpvlanMode::Bridge,
        "private" => IpvlanMode::Private,
        "vepa" => IpvlanMode::Vepa,
        _ => return None,
    })
}

/// `ADDRESS` (/32 or /128) or `ADDRESS/PREFIX` with a prefix in range.
fn address(w: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = match w.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (w, None),
    };
    let a: IpAddr = a.parse().ok()?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    let p = match p {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((a, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_modes() {
        assert_eq!(address("10.1.1.1"), Some(("10.1.1.1".parse().unwrap(), 32)));
        assert_eq!(
            address("10.1.1.1/24"),
            Some(("10.1.1.1".parse().unwrap(), 24))
        );
        assert_eq!(address("fd00::1"), Some(("fd00::1".parse().unwrap(), 128)));
        assert_eq!(address("10.1.1.1/33"), None);
        assert_eq!(address("vrrp.5"), None);
        assert_eq!(mode("vepa"), Some(IpvlanMode::Vepa));
        assert_eq!(mode("l3"), None);
    }
}
