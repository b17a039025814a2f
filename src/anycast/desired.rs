//! The pure core: which host routes should exist now, and the minimal edit from what the
//! kernel holds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::config::model as cfg;
use crate::status::VirtualServerStatus;

/// Addresses a group's ranges may expand to before the rest is refused (a /16 range would
/// otherwise mean 65536 routes).
pub const MAX_GROUP_ADDRESSES: usize = 1024;

/// One announced virtual server: its status key and the addresses it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// [`crate::director::from_config::vs_id`], the key its status is published under.
    pub key: String,
    pub addrs: Vec<IpAddr>,
    /// How long after its checks start every one of them has given a first verdict (warmup +
    /// every attempt). Until then "up" is only the start-up assumption (keepalived's: servers
    /// start up unless `alpha`), not yet a fact: its route is not added (one already in the
    /// kernel, left by a crashed lvsd, is kept).
    pub settle: Duration,
}

/// [`Announce::settle`] of one virtual server: the slowest first verdict of its checkers.
pub fn settle_time(vs: &cfg::VirtualServer) -> Duration {
    vs.real_servers
        .iter()
        .flat_map(|r| &r.checkers)
        .map(|c| {
            let t = &c.timing;
            let attempts = t.retry.saturating_add(1);
            t.warmup
                .saturating_add(t.connect_timeout.saturating_mul(attempts))
                .saturating_add(t.delay_before_retry.saturating_mul(t.retry))
        })
        .max()
        .unwrap_or_default()
}

/// Where the routes go and which virtual servers gate them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub table: u32,
    pub protocol: u8,
    pub announce: Vec<Announce>,
    /// An announced service is SCTP (it needs `sloppy_sctp`).
    pub sctp: bool,
}

impl Target {
    /// The anycast part of a configuration, with a warning per announce_route that cannot
    /// name an address. None when the configuration uses none of the anycast keywords.
    pub fn from_config(config: &cfg::Config) -> (Option<Target>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut announce = Vec::new();
        let mut sctp = false;
        for vs in &config.virtual_servers {
            let Some(explicit) = &vs.announce_route else {
                continue;
            };
            sctp |= vs.protocol == cfg::Protocol::Sctp;
            let key = crate::director::from_config::vs_id(vs);
            let addrs = if explicit.is_empty() {
                own_addresses(config, vs, &key, &mut warnings)
            } else {
                explicit.clone()
            };
            announce.push(Announce {
                key,
                addrs,
                settle: settle_time(vs),
            });
        }
        let defs = config.anycast;
        if announce.is_empty() && defs.table.is_none() && defs.protocol.is_none() {
            return (None, warnings);
        }
        let target = Target {
            table: defs.table.unwrap_or(super::DEFAULT_TABLE),
            protocol: defs.protocol.unwrap_or(super::DEFAULT_PROTOCOL),
            announce,
            sctp,
        };
        (Some(target), warnings)
    }
}

fn own_addresses(
    config: &cfg::Config,
    vs: &cfg::VirtualServer,
    key: &str,
    warnings: &mut Vec<String>,
) -> Vec<IpAddr> {
    match &vs.address {
        cfg::VsAddress::Inet { addr, .. } => vec![*addr],
        cfg::VsAddress::Fwmark { .. } => {
            warnings.push(format!(
                "{key}: announce_route on a fwmark service needs the addresses to announce \
                 (`announce_route ADDR…`); nothing is announced"
            ));
            Vec::new()
        }
        cfg::VsAddress::Group { name } => {
            let mut out = Vec::new();
            for e in config
                .virtual_server_group(name)
                .map(|g| g.entries.as_slice())
                .unwrap_or_default()
            {
                if let cfg::VsgEntry::Range { first, last, .. } = e
                    && !push_range(&mut out, *first, *last)
                {
                    warnings.push(format!(
                        "{key}: group {name} holds more than {MAX_GROUP_ADDRESSES} \
                         addresses; only the first {MAX_GROUP_ADDRESSES} are announced"
                    ));
                    break;
                }
            }
            out.sort();
            out.dedup();
            out
        }
    }
}

/// Appends first..=last; false when the cap was reached.
fn push_range(out: &mut Vec<IpAddr>, first: IpAddr, last: IpAddr) -> bool {
    let (lo, hi, v4) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), false),
        _ => return true,
    };
    let mut x = lo;
    while x <= hi {
        if out.len() >= MAX_GROUP_ADDRESSES {
            return false;
        }
        out.push(if v4 {
            IpAddr::V4((x as u32).into())
        } else {
            IpAddr::V6(x.into())
        });
        x += 1;
    }
    true
}

/// The routes wanted now, and the ones still undecided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Announced: every announced virtual server that names the address has quorum.
    pub on: BTreeSet<IpAddr>,
    /// Undecided: some virtual server naming it has no status yet (lvsd just started and the
    /// director has not published). The kernel's route, if any, stays as it is, so a restart
    /// never withdraws a route only to announce it again a moment later.
    pub hold: BTreeSet<IpAddr>,
}

/// Several services on one VIP (80 and 443) share its route: it goes when any of them cannot
/// serve, since the router would keep sending that service's traffic here otherwise.
/// `settled`: the keys whose checks have all given a first verdict (see [`Announce::settle`]).
pub fn routes(
    target: &Target,
    status: &[VirtualServerStatus],
    settled: &BTreeSet<String>,
) -> Wanted {
    let up: BTreeMap<&str, bool> = status
        .iter()
        .map(|s| (s.key.as_str(), s.quorum_up))
        .collect();
    // Per address: Some(true) on, Some(false) off, None undecided (off wins over undecided).
    let mut verdict: BTreeMap<IpAddr, Option<bool>> = BTreeMap::new();
    for a in &target.announce {
        let state = match up.get(a.key.as_str()) {
            Some(true) if !settled.contains(&a.key) => None,
            s => s.copied(),
        };
        for addr in &a.addrs {
            let v = verdict.entry(*addr).or_insert(Some(true));
            *v = match (*v, state) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (None, _) | (_, None) => None,
                _ => Some(true),
            };
        }
    }
    let mut w = Wanted::default();
    for (a, v) in verdict {
        match v {
            Some(true) => {
                w.on.insert(a);
            }
            None => {
                w.hold.insert(a);
            }
            Some(false) => {}
        }
    }
    w
}

/// Minimal edit from the kernel's routes (those of our table and protocol) to the desired set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub add: Vec<IpAddr>,
    pub del: Vec<IpAddr>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.del.is_empty()
    }
}

/// Withdrawals first, so a plan cut short by an error never leaves more announced than wanted.
pub fn diff(wanted: &Wanted, kernel: &BTreeSet<IpAddr>) -> Plan {
    Plan {
        del: kernel
            .iter()
            .filter(|a| !wanted.on.contains(a) && !wanted.hold.contains(a))
            .copied()
            .collect(),
        add: wanted.on.difference(kernel).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn status(key: &str, up: bool) -> VirtualServerStatus {
        VirtualServerStatus {
            key: key.into(),
            scheduler: "mh".into(),
            quorum: 1,
            live_weight: u64::from(up),
            quorum_up: up,
            sorry_server_active: false,
            operator: None,
            checks_suspended: None,
            real_servers: Vec::new(),
        }
    }

    fn target(announce: &[(&str, &[&str])]) -> Target {
        Target {
            table: 198,
            protocol: 245,
            sctp: false,
            announce: announce
                .iter()
                .map(|(k, a)| Announce {
                    key: (*k).into(),
                    addrs: a.iter().map(|s| ip(s)).collect(),
                    settle: Duration::ZERO,
                })
                .collect(),
        }
    }

    /// Every virtual server settled.
    fn routes_all(t: &Target, s: &[VirtualServerStatus]) -> Wanted {
        let all = t.announce.iter().map(|a| a.key.clone()).collect();
        routes(t, s, &all)
    }

    #[test]
    fn up_before_the_first_verdicts_holds_but_does_not_add() {
        let t = target(&[("TCP 192.0.2.1:80", &["192.0.2.1"])]);
        let w = routes(&t, &[status("TCP 192.0.2.1:80", true)], &BTreeSet::new());
        assert!(w.on.is_empty());
        assert!(
            diff(&w, &BTreeSet::new()).is_empty(),
            "a fresh start does not announce yet"
        );
        let left = BTreeSet::from([ip("192.0.2.1")]);
        assert!(
            diff(&w, &left).is_empty(),
            "a crash-restart keeps the route"
        );
        // A failure is a fact at once: withdrawn even before settling.
        let w = routes(&t, &[status("TCP 192.0.2.1:80", false)], &BTreeSet::new());
        assert_eq!(diff(&w, &left).del, vec![ip("192.0.2.1")]);
    }

    #[test]
    fn a_route_follows_quorum() {
        let t = target(&[("TCP 192.0.2.1:80", &["192.0.2.1"])]);
        let w = routes_all(&t, &[status("TCP 192.0.2.1:80", true)]);
        assert_eq!(w.on, BTreeSet::from([ip("192.0.2.1")]));
        assert!(w.hold.is_empty());
        assert_eq!(
            routes_all(&t, &[status("TCP 192.0.2.1:80", false)]),
            Wanted::default()
        );
        // No status yet (the director has not published): undecided, neither added nor
        // removed.
        let w = routes_all(&t, &[]);
        assert!(w.on.is_empty());
        let have = BTreeSet::from([ip("192.0.2.1")]);
        assert!(diff(&w, &have).is_empty());
        assert!(diff(&w, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_shared_vip_needs_every_service() {
        let t = target(&[
            ("TCP 192.0.2.1:80", &["192.0.2.1"]),
            ("TCP 192.0.2.1:443", &["192.0.2.1"]),
            ("TCP [2001:db8::1]:80", &["2001:db8::1"]),
        ]);
        let s = [
            status("TCP 192.0.2.1:80", true),
            status("TCP 192.0.2.1:443", false),
            status("TCP [2001:db8::1]:80", true),
        ];
        assert_eq!(routes_all(&t, &s).on, BTreeSet::from([ip("2001:db8::1")]));
        // 443 not published yet, 80 down: off (a known failure beats not knowing).
        let w = routes_all(&t, &s[..1]);
        assert_eq!(w.hold, BTreeSet::from([ip("192.0.2.1"), ip("2001:db8::1")]));
        let w = routes_all(&t, &[status("TCP 192.0.2.1:80", false)]);
        assert!(!w.hold.contains(&ip("192.0.2.1")) && !w.on.contains(&ip("192.0.2.1")));
    }

    #[test]
    fn diff_is_minimal_and_withdraws_first() {
        let want = Wanted {
            on: BTreeSet::from([ip("192.0.2.1"), ip("192.0.2.2")]),
            hold: BTreeSet::new(),
        };
        let have = BTreeSet::from([ip("192.0.2.2"), ip("192.0.2.3")]);
        let p = diff(&want, &have);
        assert_eq!(p.add, vec![ip("192.0.2.1")]);
        assert_eq!(p.del, vec![ip("192.0.2.3")]);
        // A restart that finds the right routes writes nothing.
        assert!(diff(&want, &want.on).is_empty());
        // Stop: everything of ours goes.
        assert_eq!(diff(&Wanted::default(), &have).del.len(), 2);
    }

    #[test]
    fn groups_expand_with_a_cap() {
        let mut out = Vec::new();
        assert!(push_range(&mut out, ip("192.0.2.1"), ip("192.0.2.3")));
        assert_eq!(out.len(), 3);
        let mut big = Vec::new();
        assert!(!push_range(&mut big, ip("10.0.0.0"), ip("10.0.255.255")));
        assert_eq!(big.len(), MAX_GROUP_ADDRESSES);
    }
}
