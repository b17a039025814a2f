//! `use_vmac_addr` (keepalived.conf(5)): every other interface a VIP/eVIP names (`dev X`, X not
//! the instance's interface), and the instance's own interface for an eVIP of the other
//! address family, gets a VMAC (macvlan) made on it with the VRRP MAC of the address's family
//! (00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6); the address goes on that VMAC,
//! as keepalived 2.2.7 does (it names the first one `vrrp.VRID`). The VMACs are removed when the
//! instance stops.

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

/// Where one VMAC goes: its parent device and the address family (true: IPv6) of its MAC.
pub type Slot<'c> = (&'c str, bool);

/// The VMAC slot of an address on `dev` (None: the instance's interface) of family `v6`, when
/// it needs one: on another interface, or of the family the instance is not.
pub fn slot<'c>(
    cfg_interface: &'c str,
    instance_v6: bool,
    dev: Option<&'c str>,
    v6: bool,
) -> Option<Slot<'c>> {
    match dev.filter(|d| *d != cfg_interface) {
        Some(d) => Some((d, instance_v6)),
        None => (v6 != instance_v6).then_some((cfg_interface, v6)),
    }
}

/// The slots the VIPs need, in VIP order, each once. `vips` gives each address's `dev` and
/// family.
pub fn slots<'c>(
    cfg_interface: &'c str,
    instance_v6: bool,
    vips: impl Iterator<Item = (Option<&'c str>, bool)>,
) -> Vec<Slot<'c>> {
    let mut out: Vec<Slot> = Vec::new();
    for (dev, v6) in vips {
        if let Some(s) = slot(cfg_interface, instance_v6, dev, v6)
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    out
}

/// Makes (or finds) the `k`-th VMAC, on `dev` with the MAC of family `v6`, and brings it up;
/// its index.
pub async fn ensure(
    cfg: &InstanceConfig,
    nl: &Netlink,
    (dev, v6): Slot<'_>,
    k: usize,
) -> Result<u32, Error> {
    let parent = nl.link(dev).await?;
    let name = name(cfg.vrid, k, cfg.use_vmac.as_deref());
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
        let vips = [
            (None, false),
            (Some("eth1"), false),
            (Some("eth0"), false),
            (Some("eth2"), true),
            (Some("eth1"), false),
            (None, true),
            (Some("eth0"), true),
        ];
        // Another interface: the instance's family; its own interface: the other family only.
        assert_eq!(
            slots("eth0", false, vips.into_iter()),
            [("eth1", false), ("eth2", false), ("eth0", true)]
        );
    }
}
