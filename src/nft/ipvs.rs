//! `nftables_ipvs [TABLE]`: keepalived gives every virtual server that uses a
//! virtual_server_group (of addresses and ranges only, no `fwmark` entry) its own fwmark,
//! from `nftables_ipvs_start_fwmark` (default 1000) up in virtual_server order; IPVS then
//! holds one fwmark service for it instead of one service per address and port, and
//! nftables sets the mark on the group's traffic.
//!
//! Layout, as keepalived 2.2.7 writes it (seen in the IPVS VM, tests/nft_ipvs_vm.rs): table
//! `ip TABLE` / `ip6 TABLE` (default `keepalived_ipvs`), one map per protocol, `tcp_map`,
//! `udp_map`, `sctp_map`, of type `ipv4_addr . inet_service : mark` (flags interval, so
//! ranges stay ranges), and a base chain `in` (hook input, priority
//! `nftables_ipvs_priority`, default -1) with `meta mark set ip daddr . tcp dport map
//! @tcp_map return` per map. `nftables_counters` counts per element and per rule. The
//! tables go when lvsd stops (kept with `-I`, like the services).

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::backend::{Nft, NftProgram};
use super::ruleset::{self, Chain, Rule, Set, Table};
use crate::config::model as cfg;

/// keepalived's defaults.
pub const DEFAULT_TABLE: &str = "keepalived_ipvs";
pub const DEFAULT_PRIORITY: i32 = -1;
pub const DEFAULT_START_FWMARK: u32 = 1000;

/// What the director asks of nftables for `nftables_ipvs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsMarks {
    /// The table name; None: `nftables_ipvs` is not configured.
    pub table: Option<String>,
    /// The wanted `ip` and `ip6` tables (None: no group of that family).
    pub tables: [Option<Table>; 2],
}

/// Whether `vs` gets a fwmark: it uses a group of addresses only.
fn eligible<'c>(
    config: &'c cfg::Config,
    vs: &cfg::VirtualServer,
) -> Option<&'c cfg::VirtualServerGroup> {
    let cfg::VsAddress::Group { name } = &vs.address else {
        return None;
    };
    let g = config.virtual_server_group(name)?;
    let only_ranges = !g.entries.is_empty()
        && g.entries
            .iter()
            .all(|e| matches!(e, cfg::VsgEntry::Range { .. }));
    only_ranges.then_some(g)
}

/// The fwmark of the virtual server at `index` in `config.virtual_servers`, under
/// `nftables_ipvs`.
pub fn mark_of(config: &cfg::Config, index: usize) -> Option<u32> {
    config.nft.ipvs.as_ref()?;
    let vs = config.virtual_servers.get(index)?;
    eligible(config, vs)?;
    let before = config.virtual_servers[..index]
        .iter()
        .filter(|v| eligible(config, v).is_some())
        .count() as u32;
    Some(
        config
            .nft
            .ipvs_start_fwmark
            .unwrap_or(DEFAULT_START_FWMARK)
            .saturating_add(before),
    )
}

/// The family of a group's addresses (IPv6 when every address is).
pub fn group_family(g: &cfg::VirtualServerGroup) -> cfg::Family {
    let v6 = g.entries.iter().all(|e| match e {
        cfg::VsgEntry::Range { first, .. } => first.is_ipv6(),
        cfg::VsgEntry::Fwmark { .. } => false,
    });
    if v6 {
        cfg::Family::Inet6
    } else {
        cfg::Family::Inet
    }
}

/// An address range as nft prints it: one address, a prefix when aligned, else first-last.
fn range_text(first: IpAddr, last: IpAddr) -> String {
    if first == last {
        return first.to_string();
    }
    let (a, b, bits) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return format!("{first}-{last}"),
    };
    let span = b.wrapping_sub(a).wrapping_add(1);
    if span.is_power_of_two() && a & (span - 1) == 0 {
        return format!("{first}/{}", bits - span.trailing_zeros());
    }
    format!("{first}-{last}")
}

fn proto_name(p: cfg::Protocol) -> &'static str {
    match p {
        cfg::Protocol::Tcp => "tcp",
        cfg::Protocol::Udp => "udp",
        cfg::Protocol::Sctp => "sctp",
    }
}

/// The wanted tables for a configuration.
pub fn plan(config: &cfg::Config) -> IpvsMarks {
    let Some(table) = config.nft.ipvs.clone() else {
        return IpvsMarks::default();
    };
    let counters = config.nft.counters;
    let priority = config.nft.ipvs_priority.unwrap_or(DEFAULT_PRIORITY);
    // (family index, protocol) -> elements
    let mut maps: [Vec<(cfg::Protocol, BTreeSet<String>)>; 2] = Default::default();
    for (i, vs) in config.virtual_servers.iter().enumerate() {
        let (Some(g), Some(mark)) = (eligible(config, vs), mark_of(config, i)) else {
            continue;
        };
        for e in &g.entries {
            let cfg::VsgEntry::Range {
                first, last, port, ..
            } = e
            else {
                continue;
            };
            let fam = usize::from(first.is_ipv6());
            let list = &mut maps[fam];
            let slot = match list.iter().position(|(p, _)| *p == vs.protocol) {
                Some(s) => s,
                None => {
                    list.push((vs.protocol, BTreeSet::new()));
                    list.len() - 1
                }
            };
            list[slot]
                .1
                .insert(format!("{} . {port} : {mark}", range_text(*first, *last)));
        }
    }
    let mut tables: [Option<Table>; 2] = [None, None];
    for (fam, list) in maps.iter_mut().enumerate() {
        if list.is_empty() {
            continue;
        }
        // tcp, udp, sctp: keepalived's order.
        list.sort_by_key(|(p, _)| *p as u8);
        let (family, addr, l3) = if fam == 0 {
            ("ip", "ipv4_addr", "ip")
        } else {
            ("ip6", "ipv6_addr", "ip6")
        };
        let c = if counters { " counter" } else { "" };
        let mut sets = Vec::new();
        let mut rules = Vec::new();
        for (p, elems) in list.iter() {
            let name = format!("{}_map", proto_name(*p));
            sets.push(Set {
                name: name.clone(),
                kind: format!("{addr} . inet_service : mark"),
                flags: Some("interval".into()),
                is_map: true,
                counter: counters,
                elements: elems.clone(),
            });
            let mut signature = vec![format!("set map @{name}")];
            if counters {
                signature.push("counter".into());
            }
            signature.push("return".into());
            rules.push(Rule {
                text: format!(
                    "meta mark set {l3} daddr . {} dport map @{name}{c} return",
                    proto_name(*p)
                ),
                signature,
            });
        }
        tables[fam] = Some(Table {
            family: family.into(),
            name: table.clone(),
            sets,
            chains: vec![Chain {
                name: "in".into(),
                hook: Some(("filter".into(), "input".into(), priority)),
                rules,
            }],
        });
    }
    IpvsMarks {
        table: Some(table),
        tables,
    }
}

/// Converges the kernel to `want`; `previous` names a table an earlier configuration used,
/// removed when the name changed or `nftables_ipvs` went.
pub async fn converge(nft: &dyn Nft, want: &IpvsMarks, previous: Option<&str>) {
    if let Some(old) = previous
        && want.table.as_deref() != Some(old)
    {
        remove(nft, old).await;
    }
    let Some(name) = &want.table else {
        return;
    };
    for (family, t) in ["ip", "ip6"].into_iter().zip(&want.tables) {
        if let Err(e) = ruleset::converge(nft, family, name, t.as_ref()).await {
            tracing::error!(
                "nftables_ipvs: table {family} {name}: {e:#} (the group's fwmark services get no traffic)"
            );
        }
    }
}

/// Removes both tables of that name.
pub async fn remove(nft: &dyn Nft, name: &str) {
    for family in ["ip", "ip6"] {
        if let Err(e) = ruleset::converge(nft, family, name, None).await {
            tracing::error!("nftables_ipvs: removing table {family} {name}: {e:#}");
        }
    }
}

/// The `nft` program, for the director.
pub fn program() -> NftProgram {
    NftProgram
}

/// The fwmark service a virtual server becomes under `nftables_ipvs`: the family of its
/// group's addresses and its mark.
pub fn fwmark_for(config: &cfg::Config, vs: &cfg::VirtualServer) -> Option<(cfg::Family, u32)> {
    let index = config
        .virtual_servers
        .iter()
        .position(|v| std::ptr::eq(v, vs))?;
    let mark = mark_of(config, index)?;
    Some((group_family(eligible(config, vs)?), mark))
}

/// The director's side: converges at start and on every reload, then every [`RESYNC`] so
/// marks something else flushed (`systemctl restart nftables`) come back, and removes the
/// tables at exit.
#[derive(Default)]
pub struct Marker {
    /// What is wanted, and the table name last converged (to remove it when renamed).
    state: std::sync::Arc<tokio::sync::Mutex<(IpvsMarks, Option<String>)>>,
    resync: Option<tokio::task::JoinHandle<()>>,
}

/// How often the kernel is compared with the wanted tables between reloads.
pub const RESYNC: std::time::Duration = std::time::Duration::from_secs(5);

async fn pass(state: &mut (IpvsMarks, Option<String>)) {
    let (want, previous) = state;
    if want.table.is_none() && previous.is_none() {
        return;
    }
    converge(&program(), want, previous.as_deref()).await;
    *previous = want.table.clone();
}

impl Marker {
    /// A (re)loaded configuration.
    pub async fn set(&mut self, want: &IpvsMarks) {
        let mut s = self.state.lock().await;
        s.0 = want.clone();
        pass(&mut s).await;
        if want.table.is_some() && self.resync.is_none() {
            let weak = std::sync::Arc::downgrade(&self.state);
            self.resync = Some(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RESYNC).await;
                    let Some(state) = weak.upgrade() else { break };
                    pass(&mut *state.lock().await).await;
                }
            }));
        }
    }

    /// At exit: stop resyncing; remove the tables unless `keep` (`-I`: the services stay).
    pub async fn stop(mut self, keep: bool) {
        if let Some(t) = self.resync.take() {
            t.abort();
        }
        let s = self.state.lock().await;
        if let (false, Some(t)) = (keep, &s.1) {
            remove(&program(), t).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> cfg::Config {
        let at = std::path::Path::new("test.conf");
        match crate::config::load_str(text, at, &Default::default()) {
            Ok(l) => l.config,
            Err(e) => panic!("{e}"),
        }
    }

    const GROUPS: &str = "virtual_server_group A {\n  10.0.0.1 80\n  10.0.1.0/24 443\n}\n\
        virtual_server_group M {\n  10.0.0.9 80\n  fwmark 7\n}\n\
        virtual_server_group B {\n  10.0.0.10-12 8080\n}\n\
        virtual_server group B {\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n\
        virtual_server group M {\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n\
        virtual_server group A {\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n\
        virtual_server group A {\n  protocol UDP\n  real_server 10.1.0.1 53 {\n  }\n}\n";

    #[test]
    fn marks_follow_virtual_server_order_and_skip_groups_with_fwmarks() {
        let c = load(&format!(
            "global_defs {{\n  nftables_ipvs\n  nftables_ipvs_start_fwmark 50\n}}\n{GROUPS}"
        ));
        let marks: Vec<Option<u32>> = (0..4).map(|i| mark_of(&c, i)).collect();
        assert_eq!(marks, [Some(50), None, Some(51), Some(52)]);
        let p = plan(&c);
        let t = p.tables[0].as_ref().unwrap_or_else(|| unreachable!());
        assert!(p.tables[1].is_none(), "no IPv6 group, no ip6 table");
        assert_eq!(t.name, "keepalived_ipvs");
        assert_eq!(
            t.sets[0].elements,
            [
                "10.0.0.10-10.0.0.12 . 8080 : 50",
                "10.0.0.1 . 80 : 51",
                "10.0.1.0/24 . 443 : 51"
            ]
            .map(String::from)
            .into()
        );
        assert_eq!(
            (t.sets[0].name.as_str(), t.sets[1].name.as_str()),
            ("tcp_map", "udp_map")
        );
        let s = t.script();
        assert!(s.contains("add map ip keepalived_ipvs tcp_map { type ipv4_addr . inet_service : mark; flags interval; elements"), "{s}");
        assert!(
            s.contains("add chain ip keepalived_ipvs in { type filter hook input priority -1;"),
            "{s}"
        );
        assert!(
            s.contains("in meta mark set ip daddr . udp dport map @udp_map return"),
            "{s}"
        );
    }

    #[test]
    fn without_nftables_ipvs_nothing_changes() {
        let c = load(GROUPS);
        assert_eq!(plan(&c), IpvsMarks::default());
        assert!((0..4).all(|i| mark_of(&c, i).is_none()));
    }

    #[test]
    fn ranges_print_as_nft_prints_them() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(range_text(a("10.0.0.1"), a("10.0.0.1")), "10.0.0.1");
        assert_eq!(range_text(a("10.0.2.0"), a("10.0.2.255")), "10.0.2.0/24");
        assert_eq!(
            range_text(a("10.0.0.10"), a("10.0.0.12")),
            "10.0.0.10-10.0.0.12"
        );
        assert_eq!(range_text(a("fd00::"), a("fd00::ff")), "fd00::/120");
    }
}
