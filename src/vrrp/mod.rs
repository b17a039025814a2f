//! VRRP (RFC 3768 v2, RFC 5798 v3; IPv4 and IPv6), wire-compatible with keepalived 2.2.7.
//!
//! Model: each `vrrp_instance` is one task (`instance.rs`) around a pure step ([`step`]):
//! packets, deadlines, tracker changes, sync-group moves and shutdown go in as one
//! [`step::Input`]; adverts, VIP changes, GARPs and notifications come out as effects. The
//! RFC state machine ([`fsm`]) sits inside the step. The codec ([`packet`]), validation
//! ([`validate`]) and frame builders ([`garp`]) are pure; [`socket`] (raw protocol 112),
//! [`vip`] (rtnetlink), [`track`] (scripts, links, files) and [`track_process`] with
//! [`cn_proc`] (the kernel's process connector) are the I/O edges. `Runtime::apply` reconciles
//! one resource at a time (scripts, files, processes, instances, sync groups, status).
//!
//! Entry points, for the daemon (`lvsd -P` and the full mode):
//!
//! ```ignore
//! let loaded = lvsd::config::load(path, &opts)?;              // keepalived.conf
//! let (cfg_tx, cfg_rx) = watch::channel(VrrpConfig::from_model(&loaded.config));
//! // on SIGHUP: cfg_tx.send(VrrpConfig::from_model(&reloaded.config))
//! lvsd::vrrp::run_reloadable(cfg_rx, hub.clone(), shutdown_rx).await?; // until shutdown = true
//! ```
//!
//! [`run`] is the same for a fixed configuration. Both return after every instance has
//! resigned (priority 0 when master), removed its VIPs and run `notify_stop`.
//!
//! Timing under load: all instances run on a dedicated OS thread with its own single-threaded
//! tokio runtime, so the daemon's other work (checkers, IPVS, API) cannot delay an advert.
//! The thread is SCHED_RR (`realtime_priority`, default 10 from keepalived.conf; with
//! SCHED_RESET_ON_FORK, so scripts it starts are ordinary processes). Protocol deadlines go
//! through a timerfd ([`timer`]) rather than tokio's millisecond wheel. Received adverts are
//! handled before an expired Master_Down_Timer, so a late wake-up does not fail over while
//! the master's advert waits in the socket. Adverts leave with `SO_PRIORITY`
//! (`socket_priority`, default 6) so a busy qdisc sends them first.
//!
//! Reload: [`run_reloadable`] reconciles in place: unchanged instances keep their state and
//! VIPs; changed ones restart (one failover each); an invalid configuration is refused.
//!
//! `no_accept` (the default under `vrrp_strict`): a non-owner master drops traffic to its VIPs
//! through keepalived's nftables table (`ip`/`ip6 keepalived`, see [`crate::nft::vrrp`]);
//! its addresses enter the table's sets before the VIPs are added on becoming master and
//! leave them after the VIPs are removed; the tables go at exit. A SIGKILLed lvsd leaves
//! them until it starts again (as its VIPs).
//!
//! v2 AH authentication (`auth_type AH`) is in [`ah`] and [`socket`].
//!
//! Not done: `min_ttl`/`max_ttl`, sync-group level tracking.
//! `use_vmac` sets the parent's arp_ignore/arp_filter as keepalived does ([`vmac`]).

pub mod ah;
pub mod cn_proc;
pub mod config;
mod from_model;
pub mod fsm;
pub mod garp;
mod garp_extra;
mod instance;
pub mod ipvlan;
pub mod log_limit;
pub mod notify;
pub mod packet;
pub mod socket;
pub mod step;
pub mod sync;
mod sync_tracking;
pub mod timer;
pub mod track;
pub mod track_process;
pub mod validate;
pub mod vip;
pub mod vmac;
pub mod vmac_addr;
pub mod vrf;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::sync::watch;

pub use config::{InstanceConfig, ScriptConfig, SyncGroupConfig, Tracked, Vip, VrrpConfig};
pub use from_model::{DEFAULT_RT_PRIORITY, DEFAULT_SOCKET_PRIORITY};

use crate::status::{StatusHub, VrrpScriptStatus};

/// Checks what the runtime cannot work around; the config layer reports the same problems
/// with file positions, this is the last line of defence.
pub fn validate_config(c: &VrrpConfig) -> anyhow::Result<()> {
    let mut seen = HashMap::new();
    for i in &c.instances {
        if i.interface.is_empty() && i.unicast_peers.is_empty() {
            bail!(
                "vrrp_instance {}: no interface (only a unicast instance may omit it)",
                i.name
            );
        }
        if i.interface.is_empty() && (i.use_vmac.is_some() || i.use_ipvlan.is_some()) {
            bail!(
                "vrrp_instance {}: a VMAC or ipvlan needs an interface",
                i.name
            );
        }
        if let Some(v) = &i.vrf
            && !i.interface.is_empty()
        {
            bail!(
                "vrrp_instance {}: vrf {v} applies only without an interface",
                i.name
            );
        }
        if i.vrid == 0 {
            bail!("vrrp_instance {}: virtual_router_id must be 1-255", i.name);
        }
        if i.priority == 0 {
            bail!("vrrp_instance {}: priority must be 1-255", i.name);
        }
        if i.version != 2 && i.version != 3 {
            bail!("vrrp_instance {}: version must be 2 or 3", i.name);
        }
        if i.vips.is_empty() {
            bail!("vrrp_instance {}: no virtual_ipaddress", i.name);
        }
        let v6 = i.is_ipv6();
        if v6 && i.version == 2 {
            bail!(
                "vrrp_instance {}: VRRPv2 has no IPv6; use version 3",
                i.name
            );
        }
        if i.vips.iter().any(|v| v.addr.is_ipv6() != v6) {
            bail!(
                "vrrp_instance {}: IPv4 and IPv6 virtual addresses cannot share an instance",
                i.name
            );
        }
        // Interface-less instances are told apart by their VRF.
        let scope = match &i.vrf {
            Some(v) if i.interface.is_empty() => format!("vrf {v}"),
            _ => i.interface.clone(),
        };
        if let Some(other) = seen.insert((scope, i.vrid, v6), i.name.clone()) {
            bail!(
                "vrrp_instance {} and {} use the same vrid {} on {}",
                other,
                i.name,
                i.vrid,
                i.interface
            );
        }
        for t in &i.track_scripts {
            if !c.scripts.iter().any(|s| s.name == t.name) {
                bail!(
                    "vrrp_instance {}: track_script {} is not defined",
                    i.name,
                    t.name
                );
            }
        }
    }
    for g in &c.sync_groups {
        for m in &g.members {
            if !c.instances.iter().any(|i| &i.name == m) {
                bail!(
                    "vrrp_sync_group {}: member {} is not a vrrp_instance",
                    g.name,
                    m
                );
            }
        }
    }
    Ok(())
}

/// Runs every VRRP instance of `config` until `shutdown` becomes `true`; then each instance
/// sends priority 0 (if master), removes its VIPs and runs `notify_stop`. Status goes to
/// `hub.vrrp` and `hub.vrrp_scripts`. Same as [`run_reloadable`] with a configuration that
/// never changes.
pub async fn run(
    config: &VrrpConfig,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (_keep, rx) = watch::channel(config.clone());
    run_reloadable(rx, hub, shutdown).await
}

/// Like [`run`], and applies every new value of `configs` in place (reload, SIGHUP):
/// instances whose settings (and tracked scripts, and sync group) are unchanged keep running
/// untouched, keeping their state and VIPs; removed or changed instances stop (resigning with
/// priority 0 if master) and changed or new ones start. An invalid new configuration is
/// logged and ignored (the running one stays).
///
/// The instances run on a dedicated thread (see the module docs); this future only waits for
/// it, so it may be awaited from any runtime. Errors: the initial configuration is invalid, or
/// the runtime could not start (no rtnetlink); per-instance problems (a missing interface) are
/// retried inside the instance.
pub async fn run_reloadable(
    configs: watch::Receiver<VrrpConfig>,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let first = configs.borrow().clone();
    validate_config(&first)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lvsd-vrrp".into())
        .spawn(move || {
            if let Some(p) = first.realtime_priority {
                set_realtime(p);
            }
            crate::tuning::auto_priority::init(
                first.max_auto_priority,
                first.min_auto_priority_delay,
            );
            let res = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run_here(configs, hub, shutdown)),
                Err(e) => Err(anyhow::Error::from(e).context("starting the VRRP runtime")),
            };
            let _ = tx.send(res);
        })
        .context("spawning the VRRP thread")?;
    rx.await.context("VRRP thread ended without a result")?
}

/// SCHED_RR at `prio` for the calling thread, reset to normal in children it forks.
fn set_realtime(prio: u8) {
    let param = libc::sched_param {
        sched_priority: i32::from(prio).clamp(1, 99),
    };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid parameter struct.
    let r =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if r != 0 {
        tracing::warn!(
            "cannot set SCHED_RR priority {prio} for VRRP: {}",
            std::io::Error::last_os_error()
        );
    } else {
        tracing::info!("VRRP thread runs SCHED_RR priority {prio}");
    }
}

struct RunningScript {
    cfg: ScriptConfig,
    rx: watch::Receiver<Option<bool>>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

/// A tracked process block, the sender its task publishes on, and the receiver instances clone.
type ProcessEntry = (
    track_process::ProcessConfig,
    Arc<watch::Sender<Option<bool>>>,
    watch::Receiver<Option<bool>>,
);

/// The `vrrp_track_process` trackers: one verdict channel per block, kept across reloads
/// while the block is unchanged; one task follows all of them.
#[derive(Default)]
struct RunningProcesses {
    by_name: HashMap<String, ProcessEntry>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningProcesses {
    /// Keeps identical blocks' channels, replaces the rest and restarts the task over the new
    /// set; returns the names that changed or went away.
    fn apply(&mut self, wanted: &[track_process::ProcessConfig]) -> Vec<String> {
        let mut changed = Vec::new();
        self.by_name.retain(|name, (c, _, _)| {
            let keep = wanted.iter().any(|w| w == c);
            if !keep {
                changed.push(name.clone());
            }
            keep
        });
        let mut new = false;
        for w in wanted {
            if !self.by_name.contains_key(&w.name) {
                let (tx, rx) = watch::channel(None);
                self.by_name
                    .insert(w.name.clone(), (w.clone(), Arc::new(tx), rx));
                new = true;
            }
        }
        if new || !changed.is_empty() || (self.task.is_none() && !wanted.is_empty()) {
            self.stop();
            if !self.by_name.is_empty() {
                let (specs, txs) = self
                    .by_name
                    .values()
                    .map(|(c, tx, _)| (c.clone(), tx.clone()))
                    .unzip();
                self.task = Some(tokio::spawn(track_process::process_task(specs, txs)));
            }
        }
        changed
    }

    fn verdicts(&self) -> track_process::Verdicts {
        self.by_name
            .iter()
            .map(|(n, (_, _, rx))| (n.clone(), rx.clone()))
            .collect()
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

struct RunningInstance {
    cfg: InstanceConfig,
    group: Option<SyncGroupConfig>,
    stop: watch::Sender<bool>,
    /// The ifindexes the instance resolved its interfaces to when it started.
    ifindexes: Vec<u32>,
}

/// The interfaces an instance binds to (its interface, then its VIPs' `dev`s) as ifindexes,
/// 0 for one that does not exist: an instance is restarted when these change under it.
/// The instance's own VMAC is left out: the instance creates it.
fn interface_indexes(cfg: &InstanceConfig) -> Vec<u32> {
    let devs = cfg
        .vips
        .iter()
        .chain(&cfg.vips_excluded)
        .filter_map(|v| v.dev.as_deref())
        .filter(|d| cfg.use_vmac.as_deref() != Some(*d));
    std::iter::once(cfg.interface.as_str())
        .chain(devs)
        .map(|n| nix::net::if_::if_nametoindex(n).unwrap_or(0))
        .collect()
}

/// Whether an interface the instance resolved at start (`was`) now has another index
/// (`now`, same order; 0 = absent). One still absent is not a move (the instance is in FAULT
/// until it is back); one absent at start is adopted into `was` (the instance resolves it
/// itself), never a restart, so no restart can repeat.
fn interfaces_moved(was: &mut [u32], now: &[u32]) -> bool {
    let mut moved = false;
    for (w, &n) in was.iter_mut().zip(now) {
        match (*w, n) {
            (_, 0) => {}
            (0, n) => *w = n,
            (w, n) => moved |= w != n,
        }
    }
    moved
}

/// Everything the VRRP thread runs, reconciled against each configuration.
struct Runtime {
    nl: vip::Netlink,
    hub: StatusHub,
    links: watch::Receiver<HashMap<String, bool>>,
    scripts: HashMap<String, RunningScript>,
    files: HashMap<String, (watch::Receiver<i64>, tokio::task::JoinHandle<()>)>,
    processes: RunningProcesses,
    /// The interfaces the link task polls (`linkbeat_interfaces`).
    linkbeat: watch::Sender<Vec<String>>,
    groups: HashMap<String, (SyncGroupConfig, sync::Member)>,
    instances: HashMap<String, RunningInstance>,
    tasks: tokio::task::JoinSet<(String, anyhow::Result<()>)>,
    /// `-V` at stop; see [`VrrpConfig::keep_vips_on_stop`].
    keep_on_stop: Arc<std::sync::atomic::AtomicBool>,
    firewall: crate::nft::vrrp::Firewall,
}

impl Runtime {
    /// Reconciles everything the VRRP thread runs with `cfg`, one resource at a time: what
    /// instances use (scripts, files, groups) exists before they start; changed instances
    /// resign before their replacements start.
    async fn apply(&mut self, cfg: &VrrpConfig) {
        let changed_scripts = self.apply_scripts(cfg);
        self.publish_script_status(cfg);
        self.apply_files(cfg);
        self.linkbeat.send_if_modified(|v| {
            let new = cfg.linkbeat_interfaces();
            let changed = *v != new;
            *v = new;
            changed
        });
        let changed_processes = self.processes.apply(&tracked_processes(cfg));
        self.stop_changed_instances(cfg, &changed_scripts, &changed_processes)
            .await;
        self.firewall.configure(cfg).await;
        self.apply_groups(cfg);
        self.publish_instance_status(cfg);
        self.start_new_instances(cfg);
    }

    /// Scripts: identical ones keep their watch; the rest restart. Returns the names of the
    /// scripts that changed or went away.
    fn apply_scripts(&mut self, cfg: &VrrpConfig) -> Vec<String> {
        let mut changed = Vec::new();
        self.scripts.retain(|name, r| {
            let keep = cfg.scripts.iter().any(|s| &s.name == name && *s == r.cfg);
            if !keep {
                r.tasks.iter().for_each(|t| t.abort());
                changed.push(name.clone());
            }
            keep
        });
        for s in &cfg.scripts {
            if !self.scripts.contains_key(&s.name) {
                let r = start_script(s, &self.hub);
                self.scripts.insert(s.name.clone(), r);
            }
        }
        changed
    }

    /// `/status` script list in the new order; a kept script keeps its verdict.
    fn publish_script_status(&self, cfg: &VrrpConfig) {
        let prev = self.hub.vrrp_scripts.borrow().clone();
        self.hub.vrrp_scripts.send_replace(
            cfg.scripts
                .iter()
                .map(|s| {
                    let prev = prev.iter().find(|p| p.name == s.name);
                    VrrpScriptStatus {
                        name: s.name.clone(),
                        ok: prev.is_some_and(|p| p.ok),
                        running: prev.is_some_and(|p| p.running),
                    }
                })
                .collect(),
        );
    }

    /// `track_file`s: one poller per path any instance tracks.
    fn apply_files(&mut self, cfg: &VrrpConfig) {
        let files: Vec<String> = cfg
            .instances
            .iter()
            .flat_map(|i| &i.track_files)
            .map(|f| f.path.clone())
            .collect();
        self.files.retain(|p, (_, t)| {
            let keep = files.contains(p);
            if !keep {
                t.abort();
            }
            keep
        });
        for p in files {
            if let std::collections::hash_map::Entry::Vacant(e) = self.files.entry(p) {
                let (tx, rx) = watch::channel(0i64);
                let t = tokio::spawn(track::file_task(e.key().clone(), tx));
                e.insert((rx, t));
            }
        }
    }

    /// Restarts every instance whose interface was deleted and created again (a new
    /// ifindex): its sockets and VIPs were bound to the old one. An interface that is gone
    /// now waits for its re-creation (the instance is in FAULT meanwhile).
    async fn restart_moved_instances(&mut self) {
        let cfg = self.hub.vrrp_config.borrow().clone();
        let moved: Vec<String> = self
            .instances
            .iter_mut()
            .filter_map(|(n, r)| {
                let now = interface_indexes(&r.cfg);
                interfaces_moved(&mut r.ifindexes, &now).then(|| n.clone())
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        for name in &moved {
            tracing::info!(instance = %name, "interface re-created (new ifindex): restarting the instance on it");
            if let Some(r) = self.instances.get(name) {
                let _ = r.stop.send(true);
            }
        }
        self.wait_stopped(moved).await;
        self.start_new_instances(&cfg);
    }

    /// Removes the `stopping` instances and waits for their tasks to end (resign).
    async fn wait_stopped(&mut self, mut stopping: Vec<String>) {
        for name in &stopping {
            self.instances.remove(name);
        }
        while !stopping.is_empty() {
            match self.tasks.join_next().await {
                Some(Ok((name, res))) => {
                    if let Err(e) = res {
                        tracing::error!(instance = %name, "VRRP instance failed: {e:#}");
                    }
                    stopping.retain(|n| *n != name);
                }
                Some(Err(e)) => tracing::error!("VRRP instance task: {e}"),
                None => break,
            }
        }
    }

    /// Stops what is gone or changed (including its scripts or sync group) and waits for it
    /// to resign.
    async fn stop_changed_instances(
        &mut self,
        cfg: &VrrpConfig,
        changed_scripts: &[String],
        changed_processes: &[String],
    ) {
        let mut stopping = Vec::new();
        for (name, r) in &self.instances {
            let same = cfg.instances.iter().any(|i| i == &r.cfg)
                && group_of(cfg, name) == r.group
                && !r
                    .cfg
                    .track_scripts
                    .iter()
                    .any(|t| changed_scripts.contains(&t.name))
                && !r
                    .cfg
                    .track_processes
                    .iter()
                    .any(|t| changed_processes.contains(&t.name));
            if !same {
                let _ = r.stop.send(true);
                stopping.push(name.clone());
            }
        }
        self.wait_stopped(stopping).await;
    }

    /// Sync groups: a changed group gets a new channel (its members restarted above).
    fn apply_groups(&mut self, cfg: &VrrpConfig) {
        self.groups
            .retain(|name, (g, _)| cfg.sync_groups.iter().any(|n| &n.name == name && n == g));
        for g in &cfg.sync_groups {
            self.groups
                .entry(g.name.clone())
                .or_insert_with(|| (g.clone(), sync::group(g)));
        }
    }

    /// Status list in the new order; running instances keep their entry.
    fn publish_instance_status(&self, cfg: &VrrpConfig) {
        self.hub.vrrp_config.send_replace(Arc::new(cfg.clone()));
        let prev = self.hub.vrrp.borrow().clone();
        self.hub.vrrp.send_replace(
            cfg.instances
                .iter()
                .map(|i| {
                    match prev
                        .iter()
                        .find(|p| p.name == i.name && self.instances.contains_key(&i.name))
                    {
                        Some(p) => p.clone(),
                        None => instance::initial_status(i),
                    }
                })
                .collect(),
        );
    }

    fn shared(&self, cfg: &VrrpConfig) -> instance::Shared {
        instance::Shared {
            nl: self.nl.clone(),
            hub: self.hub.clone(),
            links: self.links.clone(),
            scripts: self
                .scripts
                .iter()
                .map(|(n, r)| (n.clone(), (r.cfg.clone(), r.rx.clone())))
                .collect(),
            files: self
                .files
                .iter()
                .map(|(p, (rx, _))| (p.clone(), rx.clone()))
                .collect(),
            bfd: self.hub.bfd.subscribe(),
            static_faults: self.hub.static_track_faults.subscribe(),
            processes: self.processes.verdicts(),
            socket_priority: cfg.socket_priority,
            keep_on_stop: self.keep_on_stop.clone(),
            startup_delay: cfg.startup_delay,
            firewall: self.firewall.clone(),
        }
    }

    /// Starts every configured instance not running.
    fn start_new_instances(&mut self, cfg: &VrrpConfig) {
        let shared = self.shared(cfg);
        for ic in &cfg.instances {
            if self.instances.contains_key(&ic.name) {
                continue;
            }
            let group_cfg = group_of(cfg, &ic.name);
            let group = group_cfg
                .as_ref()
                .and_then(|g| self.groups.get(&g.name))
                .map(|(_, m)| m.clone());
            let (stop, stop_rx) = watch::channel(false);
            let name = ic.name.clone();
            let ifindexes = interface_indexes(ic);
            let fut = instance::run(
                ic.clone(),
                shared.clone(),
                instance::Slot { group },
                stop_rx,
            );
            self.tasks.spawn(async move { (name, fut.await) });
            self.instances.insert(
                ic.name.clone(),
                RunningInstance {
                    cfg: ic.clone(),
                    group: group_cfg,
                    stop,
                    ifindexes,
                },
            );
        }
    }
}

/// The `vrrp_track_process` blocks some instance tracks (the others cost nothing).
fn tracked_processes(cfg: &VrrpConfig) -> Vec<track_process::ProcessConfig> {
    cfg.processes
        .iter()
        .filter(|p| {
            cfg.instances
                .iter()
                .any(|i| i.track_processes.iter().any(|t| t.name == p.name))
        })
        .cloned()
        .collect()
}

/// The sync group `name` belongs to.
fn group_of(cfg: &VrrpConfig, name: &str) -> Option<SyncGroupConfig> {
    cfg.sync_groups
        .iter()
        .find(|g| g.members.iter().any(|m| m == name))
        .cloned()
}

/// Starts a `vrrp_script`: its runner and the task mirroring its verdict into `/status`.
/// Both end with the script's watch (the runner is aborted on change or at exit).
fn start_script(s: &ScriptConfig, hub: &StatusHub) -> RunningScript {
    // `init_fail`: failed until proven otherwise.
    let (tx, rx) = watch::channel(s.init_fail.then_some(false));
    let (run_tx, mut run_rx) = watch::channel(false);
    let runner = tokio::spawn(track::script_task(s.clone(), tx, run_tx));
    let hub = hub.clone();
    let (mut rx2, name) = (rx.clone(), s.name.clone());
    let mirror = tokio::spawn(async move {
        loop {
            tokio::select! {
                r = rx2.changed() => if r.is_err() { break },
                r = run_rx.changed() => if r.is_err() { break },
            }
            let ok = rx2.borrow_and_update().unwrap_or(false);
            let running = *run_rx.borrow_and_update();
            hub.vrrp_scripts.send_modify(|v| {
                if let Some(x) = v.iter_mut().find(|x| x.name == name) {
                    x.ok = ok;
                    x.running = running;
                }
            });
        }
    });
    RunningScript {
        cfg: s.clone(),
        rx,
        tasks: [runner, mirror],
    }
}

async fn run_here(
    mut configs: watch::Receiver<VrrpConfig>,
    hub: StatusHub,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let nl = vip::Netlink::new()?;
    let (links_tx, links) = watch::channel(HashMap::new());
    let (linkbeat, polled) = watch::channel(configs.borrow().linkbeat_interfaces());
    let link_task = tokio::spawn(async move {
        if let Err(e) = track::link_task(links_tx, polled).await {
            tracing::error!("link tracking stopped: {e:#}");
        }
    });
    // Start instances with the link states known, so a tracked interface is not taken for
    // down (FAULT, notify_fault) during the first milliseconds.
    let mut first_links = links.clone();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), first_links.changed()).await;
    let mut rt = Runtime::new(nl, hub, links, linkbeat);
    let first = configs.borrow_and_update().clone();
    rt.apply(&first).await;
    let mut first_err = None;
    // Link events (a re-created interface comes up) re-check the instances' ifindexes.
    let mut link_events = rt.links.clone();
    link_events.borrow_and_update();
    let mut links_open = true;
    // False once the configuration sender is gone: the last configuration keeps running and
    // shutdown is still watched.
    let mut reloadable = true;
    while !*shutdown.borrow() {
        tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            r = configs.changed(), if reloadable => {
                if r.is_err() {
                    reloadable = false;
                    continue;
                }
                let cfg = configs.borrow_and_update().clone();
                match validate_config(&cfg) {
                    Ok(()) => {
                        tracing::info!("VRRP configuration reloaded");
                        rt.apply(&cfg).await;
                    }
                    Err(e) => tracing::error!("VRRP reload refused, keeping the running configuration: {e:#}"),
                }
            }
            r = link_events.changed(), if links_open => {
                // Err: the link task ended, no more events to wait for.
                links_open = r.is_ok();
                if links_open {
                    link_events.borrow_and_update();
                    rt.restart_moved_instances().await;
                }
            }
            Some(r) = rt.tasks.join_next() => {
                if let Some(e) = rt.ended(r) {
                    first_err.get_or_insert(e);
                }
            }
        }
    }
    let keep = configs.borrow().keep_vips_on_stop;
    rt.stop(keep).await;
    link_task.abort();
    first_err.map_or(Ok(()), Err)
}

type InstanceEnd = Result<(String, anyhow::Result<()>), tokio::task::JoinError>;

impl Runtime {
    fn new(
        nl: vip::Netlink,
        hub: StatusHub,
        links: watch::Receiver<HashMap<String, bool>>,
        linkbeat: watch::Sender<Vec<String>>,
    ) -> Runtime {
        Runtime {
            nl,
            hub,
            links,
            scripts: HashMap::new(),
            files: HashMap::new(),
            processes: RunningProcesses::default(),
            linkbeat,
            groups: HashMap::new(),
            instances: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            keep_on_stop: Default::default(),
            firewall: Default::default(),
        }
    }

    /// An instance that ended on its own (a setup error it cannot retry) is forgotten; its
    /// error is returned.
    fn ended(&mut self, r: InstanceEnd) -> Option<anyhow::Error> {
        match r {
            Ok((name, Err(e))) => {
                tracing::error!(instance = %name, "VRRP instance failed: {e:#}");
                self.instances.remove(&name);
                Some(e)
            }
            Ok((name, Ok(()))) => {
                self.instances.remove(&name);
                None
            }
            Err(e) => {
                tracing::error!("VRRP instance task: {e}");
                None
            }
        }
    }

    /// Stops every instance (they resign and drop their VIPs unless `keep`), then the
    /// firewall, the trackers and the tracked processes.
    async fn stop(&mut self, keep: bool) {
        if keep {
            self.keep_on_stop
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        for r in self.instances.values() {
            let _ = r.stop.send(true);
        }
        while let Some(r) = self.tasks.join_next().await {
            if let Ok((name, Err(e))) = r {
                tracing::error!(instance = %name, "VRRP instance failed: {e:#}");
            }
        }
        self.firewall.stop(keep).await;
        for s in self.scripts.values() {
            s.tasks.iter().for_each(|t| t.abort());
        }
        for (_, t) in self.files.values() {
            t.abort();
        }
        self.processes.stop();
    }
}

#[cfg(test)]
mod runtime_tests;

#[cfg(test)]
mod moved_tests {
    use super::interfaces_moved;

    #[test]
    fn only_a_new_index_for_a_known_interface_is_a_move() {
        let mut was = vec![7, 9];
        assert!(!interfaces_moved(&mut was, &[7, 9]), "unchanged");
        assert!(
            !interfaces_moved(&mut was, &[0, 9]),
            "deleted, not back yet"
        );
        assert!(interfaces_moved(&mut was, &[12, 9]), "re-created");
        let mut was = vec![0, 9];
        assert!(!interfaces_moved(&mut was, &[5, 9]), "appeared after start");
        assert_eq!(was, [5, 9], "adopted");
        assert!(interfaces_moved(&mut was, &[6, 9]), "then re-created");
    }
}
