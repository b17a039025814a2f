//! The director task: checker transitions → health table → desired table (on a `watch`,
//! latest wins) → the writer converges the kernel through [`ipvs::Ipvs`].
//!
//! ```text
//!  spec watch (reloads) ─┐                         ┌─▶ notify scripts (Notifier, non-blocking)
//!  checkers Transition ──┼─▶ health loop ──────────┼─▶ StatusHub.virtual_servers (status.rs)
//!  shutdown watch ───────┘   desired::compute      └─▶ Target watch ─▶ writer.rs: dump → plan →
//!  (local_addrs.rs: host addresses → ha_suspend pauses checks in the scheduler)
//!                            (health.rs)                              apply (on change and every
//!                                                                     `resync`; releases at exit)
//! ```
//!
//! Without a kernel (health-check-only mode) the dry writer only logs what it would write.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipvs::{Ipvs, Plan, Table};
use tokio::sync::watch;

use super::desired::{self, QuorumState, RsId};
use super::health::{self, CheckUsers, HealthTable};
use super::local_addrs;
use super::operator::{self, OperatorState};
use super::spec::{DirectorSpec, build_table};
use super::writer::{self, Target, WriterOptions};
use crate::notify::Notifier;
use crate::status::StatusHub;

/// Director settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Re-converge at least this often even without changes (repairs manual edits).
    pub resync: Duration,
    /// At exit, remove the services lvsd owns (keepalived's default; `-I` turns it off).
    pub release_on_exit: bool,
    /// Per-run check metrics (`lvsd_check_duration_seconds`, `lvsd_check_failures`).
    pub metrics: Option<crate::metrics::Metrics>,
    /// Where operator state (drain / disable) is kept across restarts; None: memory only.
    pub state_dir: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            resync: Duration::from_secs(5),
            release_on_exit: true,
            metrics: None,
            state_dir: None,
        }
    }
}

/// The desired table right now (initial health: everyone up except `alpha` servers), as
/// `lvsd -t --plan` and the first pass after a start see it.
pub fn initial_table(spec: &DirectorSpec) -> Table {
    initial_table_with(spec, &OperatorState::default())
}

/// [`initial_table`] with the operator state (drained and disabled servers out, draining ones
/// at weight 0).
pub fn initial_table_with(spec: &DirectorSpec, op: &OperatorState) -> Table {
    let admin = operator::admin_snapshot(op, spec);
    let d = desired::compute_with(
        &spec.cores(),
        &HashMap::new(),
        &admin,
        now_ms(),
        &QuorumState::default(),
    );
    build_table(spec, &d)
}

/// `lvsd -t --plan`: the operations a start with this configuration would write now (every
/// real server assumed up except `alpha` ones, as on the first pass).
pub async fn plan_against<I: Ipvs>(kernel: &I, spec: &DirectorSpec) -> Result<Plan, ipvs::Error> {
    plan_against_with(kernel, spec, &OperatorState::default()).await
}

/// [`plan_against`] honouring the persisted operator state.
pub async fn plan_against_with<I: Ipvs>(
    kernel: &I,
    spec: &DirectorSpec,
    op: &OperatorState,
) -> Result<Plan, ipvs::Error> {
    writer::plan_for(kernel, &initial_table_with(spec, op), &spec.globals).await
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How often a recomputation runs while a weight ramps up or a drain waits for its deadline.
const TICK: Duration = Duration::from_millis(500);

/// The director's inputs and outputs between events.
struct Director {
    spec: Arc<DirectorSpec>,
    health: HealthTable,
    /// BFD session states, for BFD_CHECK.
    bfd: crate::bfd::StatusMap,
    quorum: QuorumState,
    operator: OperatorState,
    conns: Arc<writer::Conns>,
    has_kernel: bool,
    hub: StatusHub,
    notifier: Notifier,
    target_tx: watch::Sender<Arc<Target>>,
    /// A ramp or a drain is in progress: recompute on a tick.
    ticking: bool,
    /// Virtual servers whose checks `ha_suspend` pauses (shown in /status).
    suspended: BTreeSet<String>,
}

impl Director {
    /// The admin input: operator holds, and for slow start when each server came back.
    fn admin(&self) -> desired::AdminSnapshot {
        let mut admin = operator::admin_snapshot(&self.operator, &self.spec);
        for (id, h) in &self.health {
            if let Some(t) = h.up_since.and_then(super::status::unix_ms) {
                let a = admin.entry(id.clone()).or_default();
                a.back_since_ms = a.back_since_ms.max(Some(t));
            }
        }
        admin
    }

    /// The checkers' verdicts with BFD_CHECK's applied.
    fn combined(&self) -> HealthTable {
        super::bfd_check::combine(&self.health, &self.spec, &self.bfd)
    }

    /// New BFD states: servers whose verdict flips are logged, notified and published.
    fn on_bfd(&mut self, next: crate::bfd::StatusMap) {
        let before = self.combined();
        self.bfd = next;
        let after = self.combined();
        for (id, h) in &after {
            let was = before.get(id).map(|b| b.up);
            if was == Some(h.up) || (was.is_none() && h.up) {
                continue;
            }
            let Some((vs, rs)) = self.spec.real_server(id) else {
                continue;
            };
            let state = if h.up { "up" } else { "down" };
            let hook = if h.up { &rs.notify_up } else { &rs.notify_down };
            if h.up {
                tracing::info!("{}: real server {} UP: {}", vs.core.id, id.addr, h.reason);
            } else {
                tracing::warn!("{}: real server {} DOWN: {}", vs.core.id, id.addr, h.reason);
            }
            if let Some(s) = hook {
                self.notifier
                    .fire(s, if h.up { "notify_up" } else { "notify_down" });
            }
            self.hub.events.publish(
                "real_server",
                format!("{} {}", id.vs, id.addr),
                format!("{state}: {}", h.reason),
            );
        }
    }

    fn recompute(&mut self) {
        let spec = self.spec.clone();
        let combined = self.combined();
        let d = desired::compute_with(
            &spec.cores(),
            &health::snapshot(&combined),
            &self.admin(),
            now_ms(),
            &self.quorum,
        );
        for ev in &d.events {
            quorum_event(&spec, ev, &self.notifier, &self.hub);
        }
        self.quorum = d.quorum.clone();
        let drains = self.operator.drains();
        let watch: BTreeSet<ipvs::ServiceKey> = spec
            .virtual_servers
            .iter()
            .filter(|v| drains.iter().any(|(vs, _, _)| *vs == v.core.id))
            .flat_map(|v| v.services.iter().map(|s| s.key))
            .collect();
        self.ticking = !drains.is_empty()
            || d.vs
                .iter()
                .any(|v| v.real_servers.iter().any(|r| r.ramping));
        self.target_tx.send_replace(Arc::new(Target {
            table: build_table(&spec, &d),
            globals: spec.globals.clone(),
            watch,
        }));
        let mut vss = super::status::virtual_servers(
            &spec,
            &combined,
            &d,
            &self.operator,
            self.has_kernel.then_some(&*self.conns),
        );
        for v in vss.iter_mut().filter(|v| self.suspended.contains(&v.key)) {
            v.checks_suspended = Some(
                "ha_suspend: none of its addresses is on this host; health as last checked"
                    .to_string(),
            );
        }
        self.hub.virtual_servers.send_replace(vss);
    }

    /// Turns drains that are over into `drained` (through the store, so it is persisted and
    /// seen by everyone); true if any.
    fn finish_drains(&self) -> bool {
        let now = now_ms();
        let done = operator::finished_drains(
            &self.operator,
            &self.spec,
            &self.target_tx.borrow().table,
            &self.conns,
            self.has_kernel,
            now,
        );
        for (vs, rs, why) in &done {
            let subject = rs.map_or_else(|| vs.clone(), |a| format!("{vs} {a}"));
            tracing::info!("{subject}: drain finished ({why}); taken out");
            self.hub
                .events
                .publish("operator", subject, format!("drained ({why}), taken out"));
        }
        if done.is_empty() {
            return false;
        }
        self.hub.operator.modify(|st| {
            for (vs, rs, _) in &done {
                operator::complete(st, vs, *rs, now);
            }
        });
        true
    }
}

fn quorum_event(
    spec: &DirectorSpec,
    ev: &desired::QuorumEvent,
    notifier: &Notifier,
    hub: &StatusHub,
) {
    let Some(vs) = spec.virtual_servers.iter().find(|v| v.core.id == ev.vs) else {
        return;
    };
    crate::fifo::lvs_vs(&vs.services, ev.up);
    if ev.up {
        tracing::info!("{}: quorum gained (live weight {})", ev.vs, ev.live_weight);
        hub.events.publish(
            "quorum",
            ev.vs.clone(),
            format!("quorum gained (live weight {})", ev.live_weight),
        );
        if let Some(s) = &vs.quorum_up {
            notifier.fire(s, "quorum_up");
        }
    } else {
        let sorry = if vs.sorry.is_some() {
            ", sorry server in"
        } else {
            ""
        };
        let msg = format!(
            "quorum lost (live weight {}, quorum {}){sorry}",
            ev.live_weight, vs.core.quorum
        );
        tracing::warn!("{}: {msg}", ev.vs);
        hub.events.publish("quorum", ev.vs.clone(), msg);
        if let Some(s) = &vs.quorum_down {
            notifier.fire(s, "quorum_down");
        }
    }
}

/// Loads the persisted operator state into the hub's store (a broken file is reported and
/// moved aside; the daemon runs on with what it has).
fn load_operator(dir: &std::path::Path, hub: &StatusHub) {
    match operator::load_or_quarantine(dir) {
        Ok(st) => {
            if st != OperatorState::default() {
                tracing::info!(
                    "operator state loaded from {}: {} virtual server and {} real server holds",
                    dir.join(operator::FILE).display(),
                    st.virtual_servers.len(),
                    st.real_servers.values().map(|m| m.len()).sum::<usize>()
                );
            }
            hub.operator.modify(|s| *s = st);
        }
        Err(e) => tracing::error!("operator state not loaded: {e}"),
    }
}

fn save_operator(dir: &std::path::Path, st: &OperatorState) {
    if let Err(e) = operator::save(dir, st) {
        tracing::error!(
            "operator state not saved to {}: {e}",
            dir.join(operator::FILE).display()
        );
    }
}

/// Runs the director until `shutdown` turns true (or its sender goes away). `kernel: None` is
/// health-check-only mode: checks, logs, scripts and status, no kernel access at all.
pub async fn run<K: Ipvs + 'static>(
    mut spec_rx: watch::Receiver<Arc<DirectorSpec>>,
    kernel: Option<K>,
    hub: StatusHub,
    notifier: Notifier,
    opts: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut checks = Checks::start(&opts);
    let spec = spec_rx.borrow_and_update().clone();
    checks.apply(&spec, &hub);
    if let Some(dir) = &opts.state_dir {
        load_operator(dir, &hub);
    }
    let mut operator_rx = hub.operator.subscribe();
    let mut bfd_rx = hub.bfd.subscribe();
    let (target_tx, target_rx) = watch::channel(Arc::new(Target::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (conns_tx, mut conns_rx) = watch::channel(Arc::new(writer::Conns::new()));
    let mut d = Director {
        spec,
        health: HealthTable::new(),
        bfd: bfd_rx.borrow_and_update().clone(),
        quorum: QuorumState::default(),
        operator: operator_rx.borrow_and_update().clone(),
        conns: Arc::default(),
        has_kernel: kernel.is_some(),
        hub: hub.clone(),
        notifier,
        target_tx,
        ticking: false,
        suspended: checks.suspension.paused().clone(),
    };

    // keepalived writes `VS … UP` to the notify FIFOs for every virtual server as it starts
    // (read back from its FIFO in the IPVS VM); one that has no quorum then goes DOWN below.
    for vs in &d.spec.virtual_servers {
        crate::fifo::lvs_vs(&vs.services, true);
    }
    // First computation before the writer starts, so its first pass sees the real target.
    d.recompute();
    let mut marker = crate::nft::ipvs::Marker::default();
    if d.has_kernel {
        marker.set(&d.spec.globals.nft_ipvs).await;
    }
    health::announce_initial(&d.spec, &d.notifier);
    let writer = spawn_writer(kernel, target_rx, &hub, conns_tx, &opts, stop_rx);
    let mut conns_open = d.has_kernel;
    let mut next_tick = tokio::time::Instant::now() + TICK;

    loop {
        tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            r = spec_rx.changed() => {
                if r.is_err() {
                    break;
                }
                d.spec = spec_rx.borrow_and_update().clone();
                if d.has_kernel {
                    marker.set(&d.spec.globals.nft_ipvs).await;
                }
                d.reload(&mut checks);
            }
            r = bfd_rx.changed() => {
                if r.is_err() {
                    break;
                }
                let next = bfd_rx.borrow_and_update().clone();
                d.on_bfd(next);
                d.recompute();
            }
            r = operator_rx.changed() => {
                if r.is_err() {
                    break;
                }
                d.operator = operator_rx.borrow_and_update().clone();
                if let Some(dir) = &opts.state_dir {
                    save_operator(dir, &d.operator);
                }
                if !d.finish_drains() {
                    d.recompute();
                }
            }
            r = conns_rx.changed(), if conns_open => {
                conns_open = r.is_ok();
                d.conns = conns_rx.borrow_and_update().clone();
                d.on_conns();
            }
            t = checks.transitions.recv() => {
                let Some(t) = t else {
                    tracing::error!("director: checker scheduler stopped");
                    break;
                };
                d.on_transitions(t, &mut checks.transitions);
            }
            _ = checks.suspension.changed() => {
                if checks.resuspend(&d.spec, &d.hub) {
                    d.suspended = checks.suspension.paused().clone();
                    d.recompute();
                }
            }
            _ = tokio::time::sleep_until(next_tick), if d.ticking => {
                next_tick = tokio::time::Instant::now() + TICK;
                if !d.finish_drains() {
                    d.recompute();
                }
            }
        }
    }

    drop(checks);
    if d.spec.virtual_servers.iter().any(|v| v.omega) {
        omega(&d.spec, &d.health, &d.quorum, &d.notifier).await;
    }
    let _ = stop_tx.send(true);
    let _ = writer.await;
    marker.stop(!opts.release_on_exit).await;
}

/// The checker scheduler and what feeds it: which real servers use each check (a check
/// shared by several runs once, for metrics) and which are paused by `ha_suspend`.
struct Checks {
    sched: checkers::SchedulerHandle<RsId>,
    transitions: tokio::sync::mpsc::Receiver<checkers::Transition<RsId>>,
    users: Arc<RwLock<CheckUsers>>,
    suspension: local_addrs::Suspension,
}

impl Checks {
    fn start(opts: &RunOptions) -> Checks {
        let users: Arc<RwLock<CheckUsers>> = Arc::default();
        let on_result = opts
            .metrics
            .clone()
            .map(|m| health::metrics_hook(m, users.clone()));
        let (sched, transitions) = checkers::Scheduler::spawn::<RsId>(checkers::SchedulerConfig {
            on_result,
            ..checkers::SchedulerConfig::default()
        });
        Checks {
            sched,
            transitions,
            users,
            suspension: local_addrs::Suspension::default(),
        }
    }

    /// Schedules `spec`'s checks and pauses those `ha_suspend` holds: true if the paused set
    /// changed.
    fn apply(&mut self, spec: &DirectorSpec, hub: &StatusHub) -> bool {
        health::set_users(&self.users, spec);
        self.sched.set(spec.server_checks());
        self.resuspend(spec, hub)
    }

    /// Re-evaluates `ha_suspend` against the host's addresses: true if the paused set changed.
    fn resuspend(&mut self, spec: &DirectorSpec, hub: &StatusHub) -> bool {
        match self.suspension.update(spec, hub) {
            Some(paused) => {
                self.sched.suspend(paused);
                true
            }
            None => false,
        }
    }
}

/// The writer task: the real one over `kernel`, or the dry one of health-check-only mode.
fn spawn_writer<K: Ipvs + 'static>(
    kernel: Option<K>,
    target_rx: watch::Receiver<Arc<Target>>,
    hub: &StatusHub,
    conns_tx: watch::Sender<Arc<writer::Conns>>,
    opts: &RunOptions,
    stop_rx: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    match kernel {
        Some(k) => tokio::spawn(writer::writer(
            k,
            target_rx,
            hub.vrrp.subscribe(),
            conns_tx,
            WriterOptions {
                resync: opts.resync,
                release_on_exit: opts.release_on_exit,
            },
            stop_rx,
        )),
        None => {
            drop(conns_tx);
            tokio::spawn(writer::dry_writer(target_rx, stop_rx))
        }
    }
}

/// What the run loop does on each event.
impl Director {
    /// A reloaded spec (already in `self.spec`): its checks scheduled, health of servers
    /// that are gone forgotten, the target recomputed.
    fn reload(&mut self, checks: &mut Checks) {
        if checks.apply(&self.spec, &self.hub) {
            self.suspended = checks.suspension.paused().clone();
        }
        let known: BTreeSet<RsId> = self
            .spec
            .server_checks()
            .into_iter()
            .map(|s| s.id)
            .collect();
        self.health.retain(|id, _| known.contains(id));
        tracing::info!(
            virtual_servers = self.spec.virtual_servers.len(),
            "director: configuration applied"
        );
        self.recompute();
    }

    /// New connection counters from the writer: they may end a drain; otherwise they only
    /// update the status (no new target).
    fn on_conns(&mut self) {
        if !self.finish_drains() {
            self.hub.virtual_servers.send_modify(|v| {
                super::status::set_conns(v, &self.spec, &self.conns);
            });
        }
    }

    /// A checker transition and any queued behind it (a burst is one recomputation); each
    /// real server that flips is an event.
    fn on_transitions(
        &mut self,
        first: checkers::Transition<RsId>,
        more: &mut tokio::sync::mpsc::Receiver<checkers::Transition<RsId>>,
    ) {
        let mut flips = Vec::new();
        flips.extend(health::on_transition(
            &self.spec,
            &mut self.health,
            &self.notifier,
            first,
        ));
        while let Ok(t) = more.try_recv() {
            flips.extend(health::on_transition(
                &self.spec,
                &mut self.health,
                &self.notifier,
                t,
            ));
        }
        for f in flips {
            let state = if f.up { "up" } else { "down" };
            self.hub.events.publish(
                "real_server",
                format!("{} {}", f.id.vs, f.id.addr),
                format!("{state}: {}", f.reason),
            );
        }
        self.recompute();
    }
}

/// `omega`: at shutdown, the down scripts of what is up, waited for (bounded by the
/// notifier's timeout).
async fn omega(
    spec: &DirectorSpec,
    health: &HealthTable,
    quorum: &QuorumState,
    notifier: &Notifier,
) {
    let snap = health::snapshot(health);
    let mut waits = Vec::new();
    for vs in spec.virtual_servers.iter().filter(|v| v.omega) {
        for (core, rs) in vs.core.real_servers.iter().zip(&vs.real_servers) {
            let id = RsId {
                vs: vs.core.id.clone(),
                addr: core.addr,
            };
            if desired::verdict(core, snap.get(&id)).up
                && let Some(s) = &rs.notify_down
            {
                waits.extend(notifier.fire(s, "notify_down (omega)"));
            }
        }
        if quorum.is_up(&vs.core.id)
            && let Some(s) = &vs.quorum_down
        {
            waits.extend(notifier.fire(s, "quorum_down (omega)"));
        }
    }
    for w in waits {
        let _ = w.await;
    }
}

pub use writer::{converge, converge_scoped, ownership, sync_roles};
