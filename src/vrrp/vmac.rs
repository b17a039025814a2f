//! Interface settings keepalived 2.2.7 makes for `use_vmac` (observed on its interfaces in a
//! namespace): without them the parent answers ARP requests for the VIP with its own MAC as
//! well, so a client may learn the wrong one.
//!
//! - the parent: `arp_ignore=1` (answer only for addresses configured on the interface the
//!   request came in on) and `arp_filter=1`;
//! - the macvlan: `arp_ignore=1`, `accept_local=1` (adverts looped from the parent are not
//!   martians) and `promote_secondaries=1` (deleting one VIP keeps the others).
//!
//! Like keepalived, the parent's values are left set at exit (the VMAC itself is deleted).

use std::io;
use std::path::PathBuf;

/// One `net.ipv4.conf.IF.KEY` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub ifname: String,
    pub key: &'static str,
    pub value: &'static str,
}

impl Sysctl {
    pub fn path(&self) -> PathBuf {
        // Names with dots (vrrp.51) are used as-is under /proc/sys.
        PathBuf::from(format!(
            "/proc/sys/net/ipv4/conf/{}/{}",
            self.ifname, self.key
        ))
    }

    pub fn apply(&self) -> io::Result<()> {
        std::fs::write(self.path(), self.value)
    }
}

/// What `use_vmac` sets, for a VMAC `vmac` on `parent`. IPv6 instances have no ARP; only the
/// macvlan's own settings apply to them.
pub fn vmac_sysctls(parent: &str, vmac: &str, v6: bool) -> Vec<Sysctl> {
    let s = |ifname: &str, key, value| Sysctl {
        ifname: ifname.to_string(),
        key,
        value,
    };
    let mut v = Vec::new();
    if !v6 {
        v.push(s(parent, "arp_ignore", "1"));
        v.push(s(parent, "arp_filter", "1"));
        v.push(s(vmac, "arp_ignore", "1"));
    }
    v.push(s(vmac, "accept_local", "1"));
    v.push(s(vmac, "promote_secondaries", "1"));
    v
}

/// Applies [`vmac_sysctls`]; a failure is logged (the VMAC still works, with the double ARP
/// reply keepalived avoids) rather than stopping the instance.
pub fn apply_vmac_sysctls(parent: &str, vmac: &str, v6: bool) {
    for s in vmac_sysctls(parent, vmac, v6) {
        if let Err(e) = s.apply() {
            tracing::warn!(
                "use_vmac: cannot set {}: {e}; the parent interface may answer ARP for the VIPs",
                s.path().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_sets_the_parent_arp_settings() {
        let v = vmac_sysctls("eth0", "vrrp.51", false);
        let paths: Vec<String> = v
            .iter()
            .map(|s| format!("{}={}", s.path().display(), s.value))
            .collect();
        assert!(paths.contains(&"/proc/sys/net/ipv4/conf/eth0/arp_ignore=1".to_string()));
        assert!(paths.contains(&"/proc/sys/net/ipv4/conf/eth0/arp_filter=1".to_string()));
        assert!(paths.contains(&"/proc/sys/net/ipv4/conf/vrrp.51/accept_local=1".to_string()));
        let v6 = vmac_sysctls("eth0", "vrrp.61", true);
        assert!(v6.iter().all(|s| s.ifname == "vrrp.61"));
    }
}
