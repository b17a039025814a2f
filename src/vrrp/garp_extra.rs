//! VIPs on other interfaces than the instance's (`dev X`): their gratuitous ARPs / unsolicited
//! NAs go out of that interface with its MAC (as keepalived sends them), and with
//! `garp_extra_if [all] SECS` they are repeated every SECS while MASTER so that switches keep
//! those MACs in their caches — by default only for VMAC (macvlan) interfaces, with `all` for
//! every other interface (keepalived.conf(5) `vrrp_garp_extra_if`).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use super::config::{InstanceConfig, Vip};
use super::garp::{Announcer, Mac, announce_frame};
use super::vip::Netlink;

/// One other interface holding VIPs of the instance.
pub(super) struct OtherIf {
    pub ifindex: u32,
    name: String,
    announcer: Announcer,
    mac: Mac,
    /// A VMAC (macvlan): repeated by `garp_extra_if` even without `all`.
    vmac: bool,
    addrs: Vec<IpAddr>,
}

impl OtherIf {
    /// One GARP (IPv4) or unsolicited NA (IPv6) for `addr` out of this interface.
    pub fn announce(&self, addr: IpAddr) -> io::Result<()> {
        self.announcer.send(&announce_frame(self.mac, addr))
    }
}

/// The interfaces other than `base` that `vips` are on, each with its MAC.
pub(super) async fn other_interfaces(
    cfg: &InstanceConfig,
    nl: &Netlink,
    base: u32,
    vips: &[(u32, Vip)],
) -> anyhow::Result<Vec<OtherIf>> {
    let mut out: Vec<OtherIf> = Vec::new();
    for (ix, v) in vips {
        if *ix == base {
            continue;
        }
        if let Some(o) = out.iter_mut().find(|o| o.ifindex == *ix) {
            o.addrs.push(v.addr);
            continue;
        }
        let l = nl.link_by_index(*ix).await?;
        let dev = &l.name;
        out.push(OtherIf {
            ifindex: l.index,
            name: l.name.clone(),
            announcer: Announcer::new(l.index)
                .with_context(|| format!("({}) packet socket on {dev}", cfg.name))?,
            mac: l.mac,
            vmac: l.macvlan,
            addrs: vec![v.addr],
        });
    }
    Ok(out)
}

/// The `garp_extra_if` timer: armed on becoming MASTER (first repeat one interval later, as
/// keepalived), disarmed on leaving it.
#[derive(Debug)]
pub(super) struct Periodic {
    every: Option<Duration>,
    all: bool,
    next: Option<Instant>,
}

impl Periodic {
    pub fn new(every: Option<Duration>, all: bool) -> Periodic {
        Periodic {
            every: every.filter(|d| !d.is_zero()),
            all,
            next: None,
        }
    }

    /// Called before every wait with whether the instance is MASTER now.
    pub fn master(&mut self, master: bool, now: Instant) {
        match (master, self.next) {
            (false, _) => self.next = None,
            (true, None) => self.next = self.every.map(|e| now + e),
            (true, Some(_)) => {}
        }
    }

    /// When the next repeat is due (None: not MASTER or not configured).
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Whether `o`'s VIPs are repeated.
    fn covers(&self, o: &OtherIf) -> bool {
        self.all || o.vmac
    }

    /// The repeat is due: one GARP/NA per VIP on every covered interface; the next in one
    /// interval (from the due time, so the period does not drift).
    pub fn fired(&mut self, others: &[OtherIf], instance: &str) {
        for o in others.iter().filter(|o| self.covers(o)) {
            for a in &o.addrs {
                if let Err(e) = o.announce(*a) {
                    tracing::debug!(instance = %instance, "garp_extra_if: GARP/NA for {a} on {} not sent: {e}", o.name);
                }
            }
        }
        if let (Some(n), Some(e)) = (self.next, self.every) {
            let mut t = n + e;
            // Far behind (a stopped process): restart from now rather than bursting.
            let now = Instant::now();
            if t < now {
                t = now + e;
            }
            self.next = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn armed_one_interval_after_becoming_master_and_disarmed_on_leaving() {
        let mut p = Periodic::new(Some(Duration::from_secs(3)), true);
        let t0 = Instant::now();
        p.master(false, t0);
        assert_eq!(p.next(), None);
        p.master(true, t0);
        assert_eq!(p.next(), Some(t0 + Duration::from_secs(3)));
        // Still master: unchanged.
        p.master(true, t0 + Duration::from_secs(1));
        assert_eq!(p.next(), Some(t0 + Duration::from_secs(3)));
        tokio::time::advance(Duration::from_secs(3)).await;
        p.fired(&[], "VI");
        assert_eq!(p.next(), Some(t0 + Duration::from_secs(6)));
        p.master(false, Instant::now());
        assert_eq!(p.next(), None);
        // Off (0 or absent): never armed.
        let mut off = Periodic::new(Some(Duration::ZERO), true);
        off.master(true, t0);
        assert_eq!(off.next(), None);
    }
}
