//! The writer task: configuration + VRRP instance states + kernel events → passes of
//! [`super::plan::step`] over every configured address, route and rule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::{broadcast, watch};

use super::kernel::{self, Netlink};
use super::msg;
use super::plan::{Installed, Owner, Seen, Step, step};
use crate::config::Config;
use crate::config::model::{RouteSpec, RuleSpec};
use crate::status::{StatusHub, VrrpInstanceStatus, VrrpState};
use crate::vrrp::Vip;

/// Re-converge at least this often, whatever the events say.
const RESYNC: Duration = Duration::from_secs(5);

enum What {
    Route(RouteSpec),
    Rule(RuleSpec),
    /// A `static_ipaddress` on its interface.
    Addr(Vip, String),
    /// A virtual address (address, prefix, interface): the instance adds and removes it;
    /// this writer only watches that it stays while MASTER.
    Vip(std::net::IpAddr, u8, String),
}

struct Item {
    owner: Owner,
    what: What,
    tracked: bool,
    /// A static item's `track_group`: (group, its instances).
    group: Option<(String, Vec<String>)>,
    /// As written (log lines, and the key of [`Installed`]).
    label: String,
}

/// Everything the configuration asks this writer to hold.
fn items(c: &Config) -> Vec<Item> {
    let mut out = Vec::new();
    let default_if = c
        .global
        .default_interface
        .clone()
        .unwrap_or_else(|| "eth0".to_string());
    for a in &c.static_ipaddresses {
        let vip = Vip::from_model(a);
        let dev = a.dev.clone().unwrap_or_else(|| default_if.clone());
        out.push(Item {
            owner: Owner::Static,
            label: format!("address {}/{} dev {dev}", a.addr, a.prefix_len),
            what: What::Addr(vip, dev),
            tracked: false,
            group: super::track_group::members(c, a.track_group.as_deref()),
        });
    }
    for i in &c.vrrp_instances {
        let iface = i.interface.clone().unwrap_or_default();
        // Where the instance puts its VIPs: their `dev`, else the VMAC, else its interface.
        let base = match &i.use_vmac {
            Some(n) if !n.is_empty() => n.clone(),
            Some(_) => format!("vrrp.{}", i.virtual_router_id),
            None => iface.clone(),
        };
        let all = || {
            i.virtual_ipaddress
                .iter()
                .chain(&i.virtual_ipaddress_excluded)
        };
        // use_vmac_addr: another interface's VIPs, and eVIPs of the other family, are on the
        // VMAC made for them.
        let v6 = i.family == crate::config::model::Family::Inet6;
        fn fam(v: &crate::config::model::VirtualAddress) -> (Option<&str>, bool) {
            (v.dev.as_deref(), v.addr.is_ipv6())
        }
        let slots = crate::vrrp::vmac_addr::slots(&iface, v6, all().map(fam));
        for v in all() {
            let (d, fv6) = fam(v);
            let slot = crate::vrrp::vmac_addr::slot(&iface, v6, d, fv6);
            let dev = match (slot, d.filter(|d| *d != iface)) {
                (Some(s), _) if i.use_vmac_addr => {
                    let k = slots.iter().position(|o| *o == s).unwrap_or(0);
                    crate::vrrp::vmac_addr::name(i.virtual_router_id, k, i.use_vmac.as_deref())
                }
                (_, Some(d)) => d.to_string(),
                _ => base.clone(),
            };
            out.push(Item {
                owner: Owner::Instance(i.name.clone()),
                label: format!("address {}/{} dev {dev}", v.addr, v.prefix_len),
                what: What::Vip(v.addr, v.prefix_len, dev),
                tracked: !v.no_track,
                group: None,
            });
        }
    }
    let routes =
        c.static_routes
            .iter()
            .map(|r| (Owner::Static, r))
            .chain(c.vrrp_instances.iter().flat_map(|i| {
                i.virtual_routes
                    .iter()
                    .map(|r| (Owner::Instance(i.name.clone()), r))
            }));
    for (owner, r) in routes {
        out.push(Item {
            group: match owner {
                Owner::Static => super::track_group::members(c, r.spec.track_group.as_deref()),
                Owner::Instance(_) => None,
            },
            owner,
            what: What::Route(r.spec.clone()),
            tracked: !r.no_track,
            label: format!("route {}", r.words.join(" ")),
        });
    }
    let rules =
        c.static_rules
            .iter()
            .map(|r| (Owner::Static, r))
            .chain(c.vrrp_instances.iter().flat_map(|i| {
                i.virtual_rules
                    .iter()
                    .map(|r| (Owner::Instance(i.name.clone()), r))
            }));
    for (owner, r) in rules {
        out.push(Item {
            group: match owner {
                Owner::Static => super::track_group::members(c, r.spec.track_group.as_deref()),
                Owner::Instance(_) => None,
            },
            owner,
            what: What::Rule(r.spec.clone()),
            tracked: !r.no_track,
            label: format!("rule {}", r.words.join(" ")),
        });
    }
    out
}

/// The daemon's writer (full and `-P` modes). Opens rtnetlink only once a configuration has
/// something to hold; ends after `shutdown`, with everything it holds removed, except the
/// virtual routes and rules under `-V` (`keep_virtual`: keepalived keeps VIPs and VROUTEs).
pub fn spawn(
    configs: &watch::Sender<Option<crate::daemon::Model>>,
    hub: &StatusHub,
    shutdown: watch::Receiver<bool>,
    keep_virtual: bool,
) -> tokio::task::JoinHandle<()> {
    let config_of = |m: &Option<crate::daemon::Model>| m.as_ref().map(|(c, _)| c.clone());
    let (tx, rx) = watch::channel(config_of(&configs.borrow()));
    let mut models = configs.subscribe();
    tokio::spawn(async move {
        while models.changed().await.is_ok() {
            if tx.send(config_of(&models.borrow_and_update())).is_err() {
                break;
            }
        }
    });
    tokio::spawn(run(
        rx,
        hub.vrrp.subscribe(),
        hub.vrrp_resign.clone(),
        hub.static_track_faults.clone(),
        shutdown,
        keep_virtual,
    ))
}

/// (instance → mastership start) of the instances that are MASTER.
fn masters(v: &[VrrpInstanceStatus]) -> HashMap<String, u64> {
    v.iter()
        .filter(|s| s.state == VrrpState::Master)
        .map(|s| (s.name.clone(), s.since_unix_us))
        .collect()
}

pub async fn run(
    mut configs: watch::Receiver<Option<Arc<Config>>>,
    mut states: watch::Receiver<Vec<VrrpInstanceStatus>>,
    resign: broadcast::Sender<(String, u64)>,
    faults: Arc<watch::Sender<std::collections::BTreeSet<String>>>,
    mut shutdown: watch::Receiver<bool>,
    keep_virtual: bool,
) {
    let mut w: Option<Writer> = None;
    let watched = kernel::Watched::default();
    let mut events: Option<Box<dyn futures_util::Stream<Item = ()> + Send + Unpin>> = None;
    let mut last_masters = HashMap::new();
    loop {
        let cfg = configs.borrow_and_update().clone();
        let stopping = *shutdown.borrow();
        let m = masters(&states.borrow_and_update());
        last_masters.clone_from(&m);
        let mut list = cfg.as_deref().map(items).unwrap_or_default();
        if stopping && keep_virtual {
            list.retain(|i| i.owner == Owner::Static);
        }
        if w.is_none() && !list.is_empty() && !stopping {
            match Writer::new() {
                Ok(x) => w = Some(x),
                Err(e) => tracing::error!("routes: cannot open rtnetlink: {e}"),
            }
            match kernel::changes(watched.clone()) {
                Ok(s) => events = Some(Box::new(s)),
                Err(e) => tracing::warn!(
                    "routes: no kernel change events ({e}); resyncing every {RESYNC:?}"
                ),
            }
        }
        if let Some(w) = w.as_mut() {
            if let Ok(mut k) = watched.write() {
                *k = w.route_keys(&list);
            }
            let lost = w.pass(list, &m, stopping, &resign, &states).await;
            super::track_group::publish(&faults, lost);
        }
        if stopping {
            return;
        }
        tokio::select! {
            r = shutdown.changed() => {
                if r.is_err() {
                    return;
                }
            }
            r = configs.changed() => {
                if r.is_err() {
                    // The sender is gone: keep the last configuration.
                    std::future::pending::<()>().await;
                }
            }
            _ = async {
                // Counters change with every advert; only a state change is news here.
                loop {
                    if states.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    if masters(&states.borrow()) != last_masters {
                        return;
                    }
                }
            } => {}
            Some(()) = async {
                match events.as_mut() {
                    Some(e) => e.next().await,
                    None => std::future::pending().await,
                }
            } => {
                // A burst (our own writes, `ip route flush`) becomes one pass.
                tokio::time::sleep(Duration::from_millis(5)).await;
                if let Some(e) = events.as_mut() {
                    while let Some(Some(())) = e.next().now_or_never() {}
                }
            }
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// The writer's state between passes: what it held (to remove items a reload dropped), what
/// was seen installed per mastership, and the last error per item (logged once).
struct Writer {
    nl: Netlink,
    addrs: crate::vrrp::vip::Netlink,
    held: Vec<Item>,
    installed: Installed,
    lost: HashSet<(String, u64)>,
    errors: HashMap<String, String>,
}

/// What the kernel holds, dumped at most once per pass per table/family.
#[derive(Default)]
struct Dump {
    routes: HashMap<(bool, u32), Vec<netlink_packet_route::route::RouteMessage>>,
    rules: HashMap<bool, Vec<netlink_packet_route::rule::RuleMessage>>,
    addrs: HashMap<u32, Vec<(std::net::IpAddr, u8)>>,
}

impl Writer {
    fn new() -> Result<Writer, kernel::Error> {
        Ok(Writer {
            nl: Netlink::connect()?,
            addrs: crate::vrrp::vip::Netlink::new()?,
            held: Vec::new(),
            installed: Installed::default(),
            lost: HashSet::new(),
            errors: HashMap::new(),
        })
    }

    /// The keys of the routes in `list` (encoded with a placeholder interface index: the
    /// key does not depend on it).
    fn route_keys(&self, list: &[Item]) -> HashSet<msg::RouteKey> {
        list.iter()
            .chain(&self.held)
            .filter_map(|i| match &i.what {
                What::Route(s) => msg::route_message(s, &|_| Some(0)).ok(),
                _ => None,
            })
            .map(|m| msg::route_key(&m))
            .collect()
    }

    fn report(&mut self, label: &str, err: Option<String>) {
        match err {
            Some(e) => {
                if self.errors.get(label) != Some(&e) {
                    tracing::error!("routes: {label}: {e}");
                    self.errors.insert(label.to_string(), e);
                }
            }
            None => {
                if self.errors.remove(label).is_some() {
                    tracing::info!("routes: {label}: installed");
                }
            }
        }
    }

    async fn pass(
        &mut self,
        list: Vec<Item>,
        masters: &HashMap<String, u64>,
        stopping: bool,
        resign: &broadcast::Sender<(String, u64)>,
        states: &watch::Receiver<Vec<VrrpInstanceStatus>>,
    ) -> super::track_group::Lost {
        let mut lost = super::track_group::Lost::default();
        let links = match self.nl.links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("routes: cannot list interfaces: {e}");
                return lost;
            }
        };
        let mut dump = Dump::default();
        // Items a reload dropped go first (when stopping, `list` is what to remove).
        let keep: HashSet<&str> = list.iter().map(|i| i.label.as_str()).collect();
        let dropped: Vec<Item> = std::mem::take(&mut self.held)
            .into_iter()
            .filter(|i| !stopping && !keep.contains(i.label.as_str()))
            .collect();
        for it in &dropped {
            self.converge(it, false, None, &links, &mut dump, (resign, states))
                .await;
        }
        for it in &list {
            let epoch = match &it.owner {
                Owner::Static => None,
                Owner::Instance(n) => masters.get(n).copied(),
            };
            let wanted = !stopping && (it.owner == Owner::Static || epoch.is_some());
            let held = self
                .converge(it, wanted, epoch, &links, &mut dump, (resign, states))
                .await;
            if let (Some(g), false) = (&it.group, held || !wanted) {
                lost.add(&it.label, g);
            }
        }
        let current: HashSet<(String, u64)> =
            masters.iter().map(|(n, e)| (n.clone(), *e)).collect();
        self.installed.keep_only(&current);
        self.lost.retain(|k| current.contains(k));
        if !stopping {
            self.held = list;
        }
        lost
    }

    /// Converges one item; false when it is wanted but neither present nor put back.
    async fn converge(
        &mut self,
        it: &Item,
        wanted: bool,
        epoch: Option<u64>,
        links: &HashMap<String, u32>,
        dump: &mut Dump,
        (resign, states): (
            &broadcast::Sender<(String, u64)>,
            &watch::Receiver<Vec<VrrpInstanceStatus>>,
        ),
    ) -> bool {
        let present = match self.present(it, links, dump).await {
            Ok(p) => p,
            Err(e) => {
                if wanted {
                    self.report(&it.label, Some(e));
                }
                return false;
            }
        };
        let inst = match (&it.owner, epoch) {
            (Owner::Instance(n), Some(e)) => Some((n.as_str(), e)),
            _ => None,
        };
        let installed = inst.is_some_and(|(n, e)| self.installed.has(n, e, &it.label));
        let s = Seen {
            wanted,
            present,
            installed,
            tracked: it.tracked,
        };
        let decided = match (step(&it.owner, s), &it.what) {
            // Virtual addresses are the instance's to add and remove.
            (Step::Add | Step::Del, What::Vip(..)) => Step::Nothing,
            (d, _) => d,
        };
        match decided {
            Step::Nothing => {
                if let (Some((n, e)), true) = (inst, present) {
                    self.installed.mark(n, e, &it.label);
                }
            }
            Step::Add => {
                let r = self.write(it, true, links).await;
                if r.is_ok()
                    && let Some((n, e)) = inst
                {
                    self.installed.mark(n, e, &it.label);
                }
                let ok = r.is_ok();
                self.report(&it.label, r.err());
                return ok;
            }
            Step::Del => {
                if let Err(e) = self.write(it, false, links).await {
                    tracing::warn!("routes: removing {}: {e}", it.label);
                }
            }
            Step::Lost => {
                // Still the same mastership a moment later: an instance leaving MASTER drops
                // its own VIPs a little before it publishes its new state.
                if matches!(it.what, What::Vip(..)) {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                let still = inst.is_some_and(|(n, e)| masters(&states.borrow()).get(n) == Some(&e));
                if let Some((n, e)) = inst
                    && still
                    && self.lost.insert((n.to_string(), e))
                {
                    tracing::warn!(instance = %n, "tracked {} was deleted: leaving MASTER", it.label);
                    let _ = resign.send((n.to_string(), e));
                }
            }
        }
        true
    }

    async fn present(
        &self,
        it: &Item,
        links: &HashMap<String, u32>,
        dump: &mut Dump,
    ) -> Result<bool, String> {
        let ix = |d: &str| links.get(d).copied();
        Ok(match &it.what {
            What::Route(s) => {
                let want = msg::route_message(s, &ix)?;
                let key = (s.is_ipv6(), s.table);
                if let std::collections::hash_map::Entry::Vacant(e) = dump.routes.entry(key) {
                    e.insert(
                        self.nl
                            .routes(key.0, key.1)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                dump.routes[&key]
                    .iter()
                    .any(|h| msg::route_matches(&want, h))
            }
            What::Rule(r) => {
                let want = msg::rule_message(r);
                let v6 = r.is_ipv6();
                if let std::collections::hash_map::Entry::Vacant(e) = dump.rules.entry(v6) {
                    e.insert(self.nl.rules(v6).await.map_err(|e| e.to_string())?);
                }
                dump.rules[&v6].iter().any(|h| msg::rule_matches(&want, h))
            }
            What::Vip(a, p, dev) => {
                let i = ix(dev).ok_or_else(|| format!("interface {dev} does not exist"))?;
                if let std::collections::hash_map::Entry::Vacant(e) = dump.addrs.entry(i) {
                    let a = self.addrs.addresses(i).await.map_err(|e| e.to_string())?;
                    e.insert(a.into_iter().map(|(a, p, _)| (a, p)).collect());
                }
                dump.addrs[&i].contains(&(*a, *p))
            }
            What::Addr(v, dev) => {
                let i = ix(dev).ok_or_else(|| format!("interface {dev} does not exist"))?;
                if let std::collections::hash_map::Entry::Vacant(e) = dump.addrs.entry(i) {
                    let a = self.addrs.addresses(i).await.map_err(|e| e.to_string())?;
                    e.insert(a.into_iter().map(|(a, p, _)| (a, p)).collect());
                }
                dump.addrs[&i].contains(&(v.addr, v.prefix))
            }
        })
    }

    async fn write(
        &self,
        it: &Item,
        add: bool,
        links: &HashMap<String, u32>,
    ) -> Result<(), String> {
        let ix = |d: &str| links.get(d).copied();
        let r = match &it.what {
            What::Route(s) => {
                let m = msg::route_message(s, &ix)?;
                if add {
                    self.nl.add_route(m, s.append).await
                } else {
                    self.nl.del_route(m).await
                }
            }
            What::Rule(r) => {
                let m = msg::rule_message(r);
                if add {
                    self.nl.add_rule(m).await
                } else {
                    self.nl.del_rule(m).await
                }
            }
            What::Vip(..) => Ok(()),
            What::Addr(v, dev) => {
                let i = ix(dev).ok_or_else(|| format!("interface {dev} does not exist"))?;
                let r = if add {
                    self.addrs.add_vip(i, v).await
                } else {
                    self.addrs.del_vip(i, v).await
                };
                r.map_err(|e| e.to_string().into())
            }
        };
        r.map_err(|e| e.to_string())
    }
}
