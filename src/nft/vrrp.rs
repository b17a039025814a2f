//! keepalived's VRRP firewall (global_defs `nftables [TABLE]`, `nftables_priority`,
//! `nftables_counters`, `nftables_ifindex`; `vrrp_iptables` means the same on a keepalived
//! built with nftables, as Debian's 2.2.7 is): `no_accept` (RFC 5798 Accept_Mode false, the
//! default under `vrrp_strict`) makes a master that is not the address owner drop traffic to
//! and from its VIPs and excluded VIPs.
//!
//! Layout, as keepalived 2.2.7 writes it (checked side by side in tests/nft_vrrp.rs): table
//! `ip TABLE` for IPv4 with set `vips` (ipv4_addr) and base chains `in` (input) and `out`
//! (output) at priority `nftables_priority` (default -1) holding `ip daddr @vips drop` /
//! `ip saddr @vips drop`; table `ip6 TABLE` with `vips` (ipv6_addr), a constant
//! `neighbor-discovery` set that is accepted first (the VIP stays reachable at L2), link-local
//! VIPs matched with their interface in `vips_link_local` (`ipv6_addr . iface_index`) or, for
//! an instance with `dont_track_primary` and no `nftables_ifindex`, `vips_link_local_name`
//! (`ipv6_addr . ifname`), through chains `in_link_local` / `out_link_local`.
//! `nftables_counters` adds a counter to every drop. A set holds an instance's addresses while
//! that instance is master; a table exists while any no_accept instance has an address of its
//! family (keepalived creates it at the first mastership; lvsd at start, empty), and goes at
//! exit (kept with `-V`, like the VIPs).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::backend::{Nft, NftProgram};
use super::ruleset::{self, Chain, Rule, Set, Table};
use crate::vrrp::{InstanceConfig, VrrpConfig};

/// keepalived's default table name and chain priority.
pub const DEFAULT_TABLE: &str = "keepalived";
pub const DEFAULT_PRIORITY: i32 = -1;

/// The global_defs settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallConfig {
    pub table: String,
    pub priority: i32,
    pub counters: bool,
    pub ifindex: bool,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            table: DEFAULT_TABLE.into(),
            priority: DEFAULT_PRIORITY,
            counters: false,
            ifindex: false,
        }
    }
}

/// One address an instance blocks while master.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blocked {
    pub addr: IpAddr,
    /// The interface a link-local IPv6 VIP lives on.
    pub iface: String,
    /// Match the interface by name rather than index (`dont_track_primary`).
    pub by_name: bool,
}

fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// What `instance` blocks as master: its VIPs and excluded VIPs, when it runs no_accept and
/// is not the address owner (priority 255 always accepts, as RFC 5798 says).
pub fn blocked_by(i: &InstanceConfig, fw: &FirewallConfig) -> Vec<Blocked> {
    if i.accept || i.priority == 255 {
        return Vec::new();
    }
    let mut v: Vec<Blocked> = i
        .vips
        .iter()
        .chain(&i.vips_excluded)
        .map(|vip| Blocked {
            addr: vip.addr,
            iface: vip.dev.clone().unwrap_or_else(|| i.interface.clone()),
            by_name: i.dont_track_primary && !fw.ifindex,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `{matched} {value} [counter] {verdict}`: every rule counts under `nftables_counters`, as
/// keepalived's do.
fn rule(fw: &FirewallConfig, matched: &str, value: &str, verdict: &str) -> Rule {
    let c = if fw.counters { " counter" } else { "" };
    let mut signature = vec![value.to_string()];
    if fw.counters {
        signature.push("counter".into());
    }
    signature.push(verdict.into());
    Rule {
        text: format!("{matched} {value}{c} {verdict}"),
        signature,
    }
}

fn drop_rule(fw: &FirewallConfig, matched: &str, set: &str) -> Rule {
    rule(fw, matched, &format!("@{set}"), "drop")
}

fn base_chain(fw: &FirewallConfig, name: &str, hook: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        hook: Some(("filter".into(), hook.into(), fw.priority)),
        rules,
    }
}

fn set(name: &str, kind: &str, elements: BTreeSet<String>) -> Set {
    Set {
        name: name.into(),
        kind: kind.into(),
        elements,
        ..Set::default()
    }
}

/// The `ip` table: `configured` are all addresses no_accept instances may block, `active`
/// those of the current masters.
fn table4(fw: &FirewallConfig, configured: &[Blocked], active: &[Blocked]) -> Option<Table> {
    if !configured.iter().any(|b| b.addr.is_ipv4()) {
        return None;
    }
    let elems = active
        .iter()
        .filter(|b| b.addr.is_ipv4())
        .map(|b| b.addr.to_string())
        .collect();
    Some(Table {
        family: "ip".into(),
        name: fw.table.clone(),
        sets: vec![set("vips", "ipv4_addr", elems)],
        // keepalived's order (the listing shows creation order).
        chains: vec![
            base_chain(fw, "out", "output", vec![drop_rule(fw, "ip saddr", "vips")]),
            base_chain(fw, "in", "input", vec![drop_rule(fw, "ip daddr", "vips")]),
        ],
    })
}

/// The `ip6` table (see the module docs).
fn table6(fw: &FirewallConfig, configured: &[Blocked], active: &[Blocked]) -> Option<Table> {
    let v6 = |bs: &[Blocked]| -> Vec<Blocked> {
        bs.iter().filter(|b| b.addr.is_ipv6()).cloned().collect()
    };
    let (configured, active) = (v6(configured), v6(active));
    if configured.is_empty() {
        return None;
    }
    let global = active
        .iter()
        .filter(|b| !is_link_local(&b.addr))
        .map(|b| b.addr.to_string())
        .collect();
    let mut sets = vec![
        set("vips", "ipv6_addr", global),
        Set {
            flags: Some("constant".into()),
            ..set(
                "neighbor-discovery",
                "icmpv6_type",
                ["nd-neighbor-solicit", "nd-neighbor-advert"]
                    .map(String::from)
                    .into(),
            )
        },
    ];
    let nd = rule(fw, "icmpv6 type", "@neighbor-discovery", "accept");
    let mut ins = vec![nd.clone()];
    let mut outs = vec![nd];
    let mut ll_chains = Vec::new();
    let ll_kinds = [
        (false, "vips_link_local", "iface_index", "iif", "oif"),
        (true, "vips_link_local_name", "ifname", "iifname", "oifname"),
    ];
    let used: Vec<_> = ll_kinds
        .iter()
        .filter(|k| {
            configured
                .iter()
                .any(|b| is_link_local(&b.addr) && b.by_name == k.0)
        })
        .collect();
    if !used.is_empty() {
        ins.push(rule(fw, "ip6 daddr", "fe80::/10", "goto in_link_local"));
        outs.push(rule(fw, "ip6 saddr", "fe80::/10", "goto out_link_local"));
        let (mut ll_in, mut ll_out) = (Vec::new(), Vec::new());
        for (by_name, name, kind, iif, oif) in used {
            let elems = active
                .iter()
                .filter(|b| is_link_local(&b.addr) && b.by_name == *by_name)
                .map(|b| format!("{} . \"{}\"", b.addr, b.iface))
                .collect();
            sets.push(set(name, &format!("ipv6_addr . {kind}"), elems));
            ll_in.push(drop_rule(fw, &format!("ip6 daddr . {iif}"), name));
            ll_out.push(drop_rule(fw, &format!("ip6 saddr . {oif}"), name));
        }
        ll_chains.push(Chain {
            name: "in_link_local".into(),
            hook: None,
            rules: ll_in,
        });
        ll_chains.push(Chain {
            name: "out_link_local".into(),
            hook: None,
            rules: ll_out,
        });
    }
    ins.push(drop_rule(fw, "ip6 daddr", "vips"));
    outs.push(drop_rule(fw, "ip6 saddr", "vips"));
    let mut chains = vec![
        base_chain(fw, "out", "output", outs),
        base_chain(fw, "in", "input", ins),
    ];
    chains.extend(ll_chains);
    Some(Table {
        family: "ip6".into(),
        name: fw.table.clone(),
        sets,
        chains,
    })
}

/// The wanted `ip` and `ip6` tables for these instances, `masters` naming those that block
/// now.
pub fn desired(
    fw: &FirewallConfig,
    instances: &[InstanceConfig],
    masters: &BTreeSet<String>,
) -> [Option<Table>; 2] {
    let mut configured = Vec::new();
    let mut active = Vec::new();
    for i in instances {
        let b = blocked_by(i, fw);
        if masters.contains(&i.name) {
            active.extend(b.iter().cloned());
        }
        configured.extend(b);
    }
    [
        table4(fw, &configured, &active),
        table6(fw, &configured, &active),
    ]
}

struct State {
    fw: FirewallConfig,
    instances: Vec<InstanceConfig>,
    masters: BTreeSet<String>,
    /// Tables written under an earlier name (a reload renamed them): deleted at the next pass.
    stale: Vec<String>,
    /// A convergence ran: lvsd may own tables now.
    seen: bool,
    nft: Arc<dyn Nft>,
    /// The periodic pass that restores the tables when something else removed or changed
    /// them (`systemctl restart nftables` flushes the whole ruleset).
    resync: Option<tokio::task::JoinHandle<()>>,
}

/// How often the kernel is compared with the wanted tables between state changes.
pub const RESYNC: std::time::Duration = std::time::Duration::from_secs(5);

/// The VRRP firewall every instance of one runtime shares; each call converges the kernel to
/// the whole wanted state.
#[derive(Clone)]
pub struct Firewall(Arc<tokio::sync::Mutex<State>>);

impl Default for Firewall {
    fn default() -> Self {
        Firewall::new(Arc::new(NftProgram))
    }
}

impl Firewall {
    pub fn new(nft: Arc<dyn Nft>) -> Firewall {
        Firewall(Arc::new(tokio::sync::Mutex::new(State {
            fw: FirewallConfig::default(),
            instances: Vec::new(),
            masters: BTreeSet::new(),
            stale: Vec::new(),
            seen: false,
            nft,
            resync: None,
        })))
    }

    /// A (re)loaded configuration: masters that are gone stop blocking.
    pub async fn configure(&self, cfg: &VrrpConfig) {
        let mut s = self.0.lock().await;
        if s.seen && s.fw.table != cfg.firewall.table {
            let old = s.fw.table.clone();
            s.stale.push(old);
        }
        s.fw = cfg.firewall.clone();
        s.instances = cfg.instances.clone();
        let names: BTreeSet<String> = cfg.instances.iter().map(|i| i.name.clone()).collect();
        s.masters.retain(|m| names.contains(m));
        // Nothing runs no_accept and nothing was written: leave nftables alone (and do not
        // need `nft` at all).
        if s.involved() {
            s.converge().await;
            if s.resync.is_none() {
                let weak = Arc::downgrade(&self.0);
                s.resync = Some(tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RESYNC).await;
                        let Some(state) = weak.upgrade() else { break };
                        let mut s = state.lock().await;
                        if s.involved() {
                            s.converge().await;
                        }
                    }
                }));
            }
        }
    }

    /// `instance` became master (`true`, before its VIPs are added) or left it (after they
    /// are removed). Returns once the kernel holds the rules.
    pub async fn set_master(&self, instance: &str, master: bool) {
        let mut s = self.0.lock().await;
        let changed = if master {
            s.masters.insert(instance.to_string())
        } else {
            s.masters.remove(instance)
        };
        let blocks = s
            .instances
            .iter()
            .any(|i| i.name == instance && !blocked_by(i, &s.fw).is_empty());
        if changed && blocks {
            s.converge().await;
        }
    }

    /// At exit: remove the tables (unless `keep`, with `-V`: the VIPs stay, so do the rules).
    pub async fn stop(&self, keep: bool) {
        let mut s = self.0.lock().await;
        if let Some(t) = s.resync.take() {
            t.abort();
        }
        if keep {
            return;
        }
        s.masters.clear();
        s.instances.clear();
        if s.seen {
            s.converge().await;
        }
    }
}

impl State {
    /// Whether lvsd owns or wants tables (so a config without no_accept never runs `nft`).
    fn involved(&self) -> bool {
        self.seen
            || self
                .instances
                .iter()
                .any(|i| !blocked_by(i, &self.fw).is_empty())
    }

    async fn converge(&mut self) {
        self.seen = true;
        let want = desired(&self.fw, &self.instances, &self.masters);
        for old in std::mem::take(&mut self.stale) {
            for family in ["ip", "ip6"] {
                if let Err(e) = ruleset::converge(&*self.nft, family, &old, None).await {
                    tracing::error!("VRRP firewall: removing table {family} {old}: {e:#}");
                }
            }
        }
        for (family, t) in ["ip", "ip6"].into_iter().zip(&want) {
            match ruleset::converge(&*self.nft, family, &self.fw.table, t.as_ref()).await {
                Ok(ruleset::Outcome::Unchanged) => {}
                Ok(o) => tracing::info!("VRRP firewall: table {family} {} {o:?}", self.fw.table),
                Err(e) => tracing::error!(
                    "VRRP firewall (no_accept) not enforced: table {family} {}: {e:#}",
                    self.fw.table
                ),
            }
        }
    }
}

impl FirewallConfig {
    pub fn from_model(d: &crate::config::model::NftDefs) -> FirewallConfig {
        FirewallConfig {
            table: d.table.clone().unwrap_or_else(|| DEFAULT_TABLE.into()),
            priority: d.priority.unwrap_or(DEFAULT_PRIORITY),
            counters: d.counters,
            ifindex: d.ifindex,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::Vip;

    fn inst(name: &str, vips: &[&str], excluded: &[&str]) -> InstanceConfig {
        let v = |a: &&str| Vip::new(a.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        InstanceConfig {
            name: name.into(),
            interface: "eth0".into(),
            priority: 100,
            accept: false,
            vips: vips.iter().map(v).collect(),
            vips_excluded: excluded.iter().map(v).collect(),
            ..Default::default()
        }
    }

    fn masters(n: &[&str]) -> BTreeSet<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn backup_has_empty_sets_master_its_vips_and_excluded() {
        let fw = FirewallConfig::default();
        let i = [inst("VI_1", &["10.0.0.100"], &["10.0.0.101", "fd00::5"])];
        let [v4, v6] = desired(&fw, &i, &masters(&[]));
        let v4 = v4.expect("ip table while a no_accept instance is configured");
        assert_eq!(v4.name, "keepalived");
        assert!(v4.sets[0].elements.is_empty());
        assert!(v6.is_some_and(|t| {
            t.sets
                .iter()
                .all(|s| s.name == "neighbor-discovery" || s.elements.is_empty())
        }));
        let [v4, v6] = desired(&fw, &i, &masters(&["VI_1"]));
        let v4 = v4.unwrap_or_else(|| unreachable!());
        assert_eq!(
            v4.sets[0].elements,
            ["10.0.0.100", "10.0.0.101"].map(String::from).into()
        );
        let s = v4.script();
        assert!(s.contains("add chain ip keepalived in { type filter hook input priority -1;"));
        assert!(
            s.contains("add rule ip keepalived in ip daddr @vips drop\n"),
            "{s}"
        );
        assert!(
            s.contains("add rule ip keepalived out ip saddr @vips drop\n"),
            "{s}"
        );
        let v6 = v6.unwrap_or_else(|| unreachable!());
        assert_eq!(v6.sets[0].elements, ["fd00::5".to_string()].into());
        assert!(
            !v6.script().contains("link_local"),
            "no link-local VIP, no link-local chain"
        );
    }

    #[test]
    fn accept_and_owner_instances_install_nothing() {
        let fw = FirewallConfig::default();
        let mut a = inst("A", &["10.0.0.1"], &[]);
        a.accept = true;
        let mut o = inst("O", &["10.0.0.2"], &[]);
        o.priority = 255;
        assert_eq!(desired(&fw, &[a, o], &masters(&["A", "O"])), [None, None]);
    }

    #[test]
    fn options_shape_the_table() {
        let fw = FirewallConfig {
            table: "ka2".into(),
            priority: -5,
            counters: true,
            ifindex: false,
        };
        let mut by_name = inst("N", &["fe80::100"], &[]);
        by_name.dont_track_primary = true;
        let by_index = inst("I", &["fe80::200", "fd00::1"], &[]);
        let [_, v6] = desired(&fw, &[by_name.clone(), by_index], &masters(&["N", "I"]));
        let s = v6.unwrap_or_else(|| unreachable!()).script();
        assert!(s.contains("priority -5;"), "{s}");
        assert!(s.contains(
            "add set ip6 ka2 vips_link_local { type ipv6_addr . iface_index; elements = { fe80::200 . \"eth0\" }; }"
        ), "{s}");
        assert!(s.contains(
            "add set ip6 ka2 vips_link_local_name { type ipv6_addr . ifname; elements = { fe80::100 . \"eth0\" }; }"
        ), "{s}");
        assert!(
            s.contains("in_link_local ip6 daddr . iif @vips_link_local counter drop"),
            "{s}"
        );
        assert!(s.contains("in_link_local ip6 daddr . iifname @vips_link_local_name counter drop"));
        assert!(s.contains("in ip6 daddr @vips counter drop"), "{s}");
        // nftables_ifindex: interfaces by index even with dont_track_primary.
        let fw = FirewallConfig {
            ifindex: true,
            ..fw
        };
        let [_, v6] = desired(&fw, &[by_name], &masters(&["N"]));
        assert!(
            !v6.unwrap_or_else(|| unreachable!())
                .script()
                .contains("ifname")
        );
    }

    /// A fake kernel: records scripts, lists no table.
    #[derive(Default)]
    struct Fake {
        applied: std::sync::Mutex<Vec<String>>,
    }

    impl Nft for Fake {
        fn apply<'a>(
            &'a self,
            script: &'a str,
        ) -> super::super::backend::BoxFut<'a, anyhow::Result<()>> {
            self.applied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(script.into());
            Box::pin(async { Ok(()) })
        }
        fn list<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> super::super::backend::BoxFut<'a, anyhow::Result<Option<serde_json::Value>>> {
            Box::pin(async { Ok(None) })
        }
    }

    #[tokio::test]
    async fn firewall_writes_on_mastership_and_deletes_at_stop() {
        let fake = Arc::new(Fake::default());
        let fw = Firewall::new(fake.clone());
        let cfg = VrrpConfig {
            instances: vec![inst("VI_1", &["10.0.0.100"], &[])],
            ..Default::default()
        };
        fw.configure(&cfg).await;
        fw.set_master("VI_1", true).await;
        fw.stop(false).await;
        let applied = fake
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert_eq!(applied.len(), 2, "{applied:?}");
        assert!(
            applied[1].contains("elements = { 10.0.0.100 }"),
            "{applied:?}"
        );
        // The fake lists nothing, so stop has nothing to delete.
        let quiet = Arc::new(Fake::default());
        let fw = Firewall::new(quiet.clone());
        let mut accept = inst("A", &["10.0.0.1"], &[]);
        accept.accept = true;
        fw.configure(&VrrpConfig {
            instances: vec![accept],
            ..Default::default()
        })
        .await;
        fw.set_master("A", true).await;
        fw.stop(false).await;
        assert!(
            quiet
                .applied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty(),
            "accept never runs nft"
        );
    }
}
