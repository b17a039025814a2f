//! The director task: checker transitions → health snapshot → desired table (on a `watch`,
//! latest wins) → reconcile against a fresh kernel dump → apply.
//!
//! ```text
//!  spec watch (reloads) ─┐                         ┌─▶ notify scripts (Notifier, non-blocking)
//!  checkers Transition ──┼─▶ health loop ──────────┼─▶ StatusHub.virtual_servers
//!  shutdown watch ───────┘   desired::compute      └─▶ Target watch ─▶ writer: dump → plan → apply
//!                                                                      (on change and every
//!                                                                       `resync`; releases at exit)
//! ```
//!
//! A full pass (start, every `resync`, after a failure) dumps the whole kernel; in between, a
//! change reads and fixes only the services whose desired state changed (`ipvs` scoped
//! reconcile), so a health flip in a table of thousands of services is a few requests.
//! The writer never remembers what it wrote, only which service keys are lvsd's (those of the
//! current configuration and of older ones until their removal succeeded), so a restart adopts
//! whatever the kernel holds (an identical table costs zero writes) and an `ipvsadm -C` by hand
//! is repaired on the next pass. Without a kernel (health-check-only mode) no writer runs at all.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipvs::{Ownership, Plan, ServiceKey, Table, reconcile};
use tokio::sync::watch;

use super::desired::{self, Health, HealthSnapshot, Member, QuorumState, RsId};
use super::spec::{DirectorSpec, Globals, build_table};
use crate::notify::Notifier;
use crate::status::{
    RealServerStatus, StatusHub, VirtualServerStatus, VrrpInstanceStatus, VrrpState,
};

/// Why a kernel operation could not run.
pub type KernelError = Box<dyn std::error::Error + Send + Sync>;

/// The kernel as the writer sees it: the real `ipvs::Client` in production, [`FakeKernel`] in
/// tests.
pub trait Kernel: Send + Sync + 'static {
    /// The whole IPVS table.
    fn dump(&self) -> impl Future<Output = Result<Table, KernelError>> + Send;
    /// The kernel's current state of just these services (absent keys are absent). The
    /// default reads everything; `ipvs::Client` asks for exactly these services.
    fn read_services(
        &self,
        keys: &BTreeSet<ServiceKey>,
    ) -> impl Future<Output = Result<Table, KernelError>> + Send {
        async move { Ok(self.dump().await?.subset(keys)) }
    }
    /// Runs a plan in order.
    fn apply(&self, plan: &Plan) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// Applies `lvs_timeouts`, and runs the `lvs_sync_daemon` in exactly the `roles` given
    /// (stopping the other role); without `lvs_sync_daemon`, running daemons are left alone.
    fn setup(
        &self,
        globals: &Globals,
        roles: &[ipvs::DaemonState],
    ) -> impl Future<Output = Result<(), KernelError>> + Send;
}

/// An in-memory kernel: applies plans to a [`Table`] and counts the writes.
#[derive(Clone, Default)]
pub struct FakeKernel {
    pub table: Arc<Mutex<Table>>,
    /// Every op applied, in order.
    pub writes: Arc<Mutex<Vec<ipvs::Op>>>,
    pub globals: Arc<Mutex<Option<Globals>>>,
    /// Sync daemon roles of the last setup.
    pub roles: Arc<Mutex<Vec<ipvs::DaemonState>>>,
}

impl FakeKernel {
    /// The table now.
    pub fn snapshot(&self) -> Table {
        self.table.lock().map(|t| t.clone()).unwrap_or_default()
    }
    /// Number of ops applied so far.
    pub fn write_count(&self) -> usize {
        self.writes.lock().map(|w| w.len()).unwrap_or(0)
    }
}

impl Kernel for FakeKernel {
    async fn dump(&self) -> Result<Table, KernelError> {
        Ok(self.snapshot())
    }
    async fn apply(&self, plan: &Plan) -> Result<(), KernelError> {
        let mut t = self.table.lock().map_err(|_| "fake kernel poisoned")?;
        let errs = t.apply(plan);
        if let Ok(mut w) = self.writes.lock() {
            w.extend(plan.ops.iter().cloned());
        }
        match errs.first() {
            None => Ok(()),
            Some((op, e)) => Err(format!("{op}: {e}").into()),
        }
    }
    async fn setup(
        &self,
        globals: &Globals,
        roles: &[ipvs::DaemonState],
    ) -> Result<(), KernelError> {
        if let Ok(mut g) = self.globals.lock() {
            *g = Some(globals.clone());
        }
        if let Ok(mut r) = self.roles.lock() {
            *r = roles.to_vec();
        }
        Ok(())
    }
}

/// Director settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Re-converge at least this often even without changes (repairs manual edits).
    pub resync: Duration,
    /// At exit, remove the services lvsd owns (keepalived's default; `-I` turns it off).
    pub release_on_exit: bool,
    /// Per-run check metrics (`lvsd_check_duration_seconds`, `lvsd_check_failures`).
    pub metrics: Option<crate::metrics::Metrics>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            resync: Duration::from_secs(5),
            release_on_exit: true,
            metrics: None,
        }
    }
}

/// What the writer converges to.
#[derive(Debug, Clone, Default)]
struct Target {
    table: Table,
    globals: Globals,
}

/// A real server's health as last reported, with what status needs.
#[derive(Debug, Clone)]
struct HealthEntry {
    up: bool,
    weight: Option<i64>,
    reason: String,
    at: SystemTime,
    transitions: u64,
}

/// The desired table right now (initial health: everyone up except `alpha` servers), as
/// `lvsd -t --plan` and the first pass after a start see it.
pub fn initial_table(spec: &DirectorSpec) -> Table {
    let d = desired::compute(&spec.cores(), &HashMap::new(), &QuorumState::default());
    build_table(spec, &d)
}

/// `lvsd -t --plan`: the operations a start with this configuration would write now (every
/// real server assumed up except `alpha` ones, as on the first pass).
pub async fn plan_against<K: Kernel>(kernel: &K, spec: &DirectorSpec) -> Result<Plan, KernelError> {
    let current = kernel.dump().await?;
    Ok(reconcile::plan(
        &current,
        &initial_table(spec),
        &ownership(&spec.globals, &BTreeSet::new(), true),
    ))
}

/// Which kernel services a pass may touch: on the first pass with `lvs_flush` everything (the
/// start-up flush of keepalived, done as a diff so identical services survive), else the
/// declared ones.
pub fn ownership(globals: &Globals, owned: &BTreeSet<ServiceKey>, first_pass: bool) -> Ownership {
    if globals.lvs_flush && first_pass {
        Ownership::All
    } else {
        Ownership::Declared(owned.clone())
    }
}

/// Runs the director until `shutdown` turns true (or its sender goes away). `kernel: None` is
/// health-check-only mode: checks, logs, scripts and status, no kernel access at all.
pub async fn run<K: Kernel>(
    mut spec_rx: watch::Receiver<Arc<DirectorSpec>>,
    kernel: Option<K>,
    hub: StatusHub,
    notifier: Notifier,
    opts: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    // Which real servers use each check (a check shared by several runs once), for metrics.
    let users: Arc<std::sync::RwLock<CheckUsers>> = Arc::default();
    let on_result = opts.metrics.clone().map(|m| metrics_hook(m, users.clone()));
    let (sched, mut transitions) = checkers::Scheduler::spawn::<RsId>(checkers::SchedulerConfig {
        on_result,
        ..checkers::SchedulerConfig::default()
    });
    let mut spec = spec_rx.borrow_and_update().clone();
    set_users(&users, &spec);
    sched.set(spec.server_checks());

    let mut health: HashMap<RsId, HealthEntry> = HashMap::new();
    let mut quorum = QuorumState::default();
    let (target_tx, target_rx) = watch::channel(Arc::new(Target::default()));
    let (stop_tx, stop_rx) = watch::channel(false);

    // First computation before the writer starts, so its first pass sees the real target.
    recompute(&spec, &health, &mut quorum, &hub, &notifier, &target_tx);
    let writer = match kernel {
        Some(k) => tokio::spawn(writer(
            k,
            target_rx,
            hub.vrrp.subscribe(),
            opts.clone(),
            stop_rx,
        )),
        None => tokio::spawn(dry_writer(target_rx, stop_rx)),
    };

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
                spec = spec_rx.borrow_and_update().clone();
                set_users(&users, &spec);
                sched.set(spec.server_checks());
                let known: BTreeSet<RsId> =
                    spec.server_checks().into_iter().map(|s| s.id).collect();
                health.retain(|id, _| known.contains(id));
                tracing::info!(virtual_servers = spec.virtual_servers.len(), "director: configuration applied");
                recompute(&spec, &health, &mut quorum, &hub, &notifier, &target_tx);
            }
            t = transitions.recv() => {
                let Some(t) = t else {
                    tracing::error!("director: checker scheduler stopped");
                    break;
                };
                on_transition(&spec, &mut health, &notifier, t);
                // Coalesce a burst into one recomputation.
                while let Ok(t) = transitions.try_recv() {
                    on_transition(&spec, &mut health, &notifier, t);
                }
                recompute(&spec, &health, &mut quorum, &hub, &notifier, &target_tx);
            }
        }
    }

    drop(sched);
    if spec.virtual_servers.iter().any(|v| v.omega) {
        omega(&spec, &health, &quorum, &notifier).await;
    }
    let _ = stop_tx.send(true);
    let _ = writer.await;
}

/// Health-check-only mode: no kernel, but every change of the desired table is logged as the
/// ipvsadm commands a director would run, so lvsd can be evaluated beside a running keepalived.
async fn dry_writer(mut target_rx: watch::Receiver<Arc<Target>>, mut stop: watch::Receiver<bool>) {
    let mut prev = Table::new();
    loop {
        let target = target_rx.borrow_and_update().clone();
        let owned = prev.services.keys().copied().collect();
        for op in &reconcile::plan(&prev, &target.table, &Ownership::Declared(owned)).ops {
            tracing::info!("health-check-only, not applied: ipvsadm {op}");
        }
        prev = target.table.clone();
        tokio::select! {
            biased;
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    break;
                }
            }
            r = target_rx.changed() => {
                if r.is_err() {
                    break;
                }
            }
        }
    }
}

type CheckUsers = HashMap<checkers::Spec, Vec<RsId>>;

fn set_users(users: &std::sync::RwLock<CheckUsers>, spec: &DirectorSpec) {
    let mut map = CheckUsers::new();
    for sc in spec.server_checks() {
        for c in sc.checks {
            map.entry(c).or_default().push(sc.id.clone());
        }
    }
    if let Ok(mut u) = users.write() {
        *u = map;
    }
}

/// Records each finished check run for every real server using it.
fn metrics_hook(
    metrics: crate::metrics::Metrics,
    users: Arc<std::sync::RwLock<CheckUsers>>,
) -> checkers::ResultHook {
    Arc::new(move |r: &checkers::CheckReport| {
        let result = match &r.outcome {
            checkers::Outcome::Pass { .. } => crate::metrics::CheckResult::Success,
            checkers::Outcome::Fail(f) => crate::metrics::CheckResult::Failure { reason: f.kind() },
        };
        let Ok(users) = users.read() else {
            return;
        };
        for id in users.get(&*r.spec).into_iter().flatten() {
            metrics.observe_check(
                &id.vs,
                &id.addr.to_string(),
                r.spec.kind.name(),
                r.duration,
                result,
            );
        }
    })
}

fn on_transition(
    spec: &DirectorSpec,
    health: &mut HashMap<RsId, HealthEntry>,
    notifier: &Notifier,
    t: checkers::Transition<RsId>,
) {
    let Some((vs, rs)) = spec.real_server(&t.server) else {
        // A transition racing a reload that removed the server.
        return;
    };
    let was_up = match health.get(&t.server) {
        Some(h) => h.up,
        None => vs
            .core
            .real_servers
            .iter()
            .find(|r| r.addr == t.server.addr)
            .is_none_or(|r| !r.alpha),
    };
    let transitions = health.get(&t.server).map_or(0, |h| h.transitions);
    let changed = was_up != t.up;
    health.insert(
        t.server.clone(),
        HealthEntry {
            up: t.up,
            weight: t.weight,
            reason: t.reason.clone(),
            at: t.at,
            transitions: transitions + u64::from(changed),
        },
    );
    if !changed {
        if t.weight.is_some() {
            tracing::info!(
                "{}: real server {} weight now {:?}",
                vs.core.id,
                t.server.addr,
                t.weight
            );
        }
        return;
    }
    if t.up {
        tracing::info!(
            "{}: real server {} UP: {}",
            vs.core.id,
            t.server.addr,
            t.reason
        );
        if let Some(s) = &rs.notify_up {
            notifier.fire(s, "notify_up");
        }
    } else {
        tracing::warn!(
            "{}: real server {} DOWN: {}",
            vs.core.id,
            t.server.addr,
            t.reason
        );
        if let Some(s) = &rs.notify_down {
            notifier.fire(s, "notify_down");
        }
    }
}

fn snapshot(health: &HashMap<RsId, HealthEntry>) -> HealthSnapshot {
    health
        .iter()
        .map(|(id, h)| {
            (
                id.clone(),
                Health {
                    up: h.up,
                    weight: h.weight,
                },
            )
        })
        .collect()
}

fn recompute(
    spec: &DirectorSpec,
    health: &HashMap<RsId, HealthEntry>,
    quorum: &mut QuorumState,
    hub: &StatusHub,
    notifier: &Notifier,
    target_tx: &watch::Sender<Arc<Target>>,
) {
    let d = desired::compute(&spec.cores(), &snapshot(health), quorum);
    for ev in &d.events {
        let Some(vs) = spec.virtual_servers.iter().find(|v| v.core.id == ev.vs) else {
            continue;
        };
        if ev.up {
            tracing::info!("{}: quorum gained (live weight {})", ev.vs, ev.live_weight);
            if let Some(s) = &vs.quorum_up {
                notifier.fire(s, "quorum_up");
            }
        } else {
            tracing::warn!(
                "{}: quorum lost (live weight {}, quorum {}){}",
                ev.vs,
                ev.live_weight,
                vs.core.quorum,
                if vs.sorry.is_some() {
                    ", sorry server in"
                } else {
                    ""
                }
            );
            if let Some(s) = &vs.quorum_down {
                notifier.fire(s, "quorum_down");
            }
        }
    }
    *quorum = d.quorum.clone();
    target_tx.send_replace(Arc::new(Target {
        table: build_table(spec, &d),
        globals: spec.globals.clone(),
    }));
    hub.virtual_servers.send_replace(status(spec, health, &d));
}

fn unix_ms(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

fn status(
    spec: &DirectorSpec,
    health: &HashMap<RsId, HealthEntry>,
    d: &desired::Desired,
) -> Vec<VirtualServerStatus> {
    spec.virtual_servers
        .iter()
        .zip(&d.vs)
        .map(|(vs, plan)| VirtualServerStatus {
            key: vs.core.id.clone(),
            scheduler: vs
                .services
                .first()
                .map(|s| s.scheduler.name().to_string())
                .unwrap_or_default(),
            quorum: vs.core.quorum,
            live_weight: plan.live_weight,
            quorum_up: plan.quorum_up,
            sorry_server_active: plan.sorry_active,
            real_servers: vs
                .core
                .real_servers
                .iter()
                .zip(&plan.real_servers)
                .enumerate()
                .map(|(i, (rs, v))| {
                    let h = health.get(&RsId {
                        vs: vs.core.id.clone(),
                        addr: rs.addr,
                    });
                    RealServerStatus {
                        address: rs.addr.ip(),
                        port: rs.addr.port(),
                        up: v.up,
                        weight: i64::from(v.weight),
                        live_weight: plan.weight_of(Member::Real(i)),
                        last_failure: h.filter(|h| !h.up).map(|h| h.reason.clone()),
                        last_check_unix_ms: h.and_then(|h| unix_ms(h.at)),
                        transitions: h.map_or(0, |h| h.transitions),
                    }
                })
                .collect(),
        })
        .collect()
}

/// `omega`: at shutdown, the down scripts of what is up, waited for (bounded by the
/// notifier's timeout).
async fn omega(
    spec: &DirectorSpec,
    health: &HashMap<RsId, HealthEntry>,
    quorum: &QuorumState,
    notifier: &Notifier,
) {
    let snap = snapshot(health);
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

/// One pass: dump, diff, apply. Returns the plan that was applied.
pub async fn converge<K: Kernel>(
    kernel: &K,
    desired: &Table,
    ownership: &Ownership,
) -> Result<Plan, KernelError> {
    let current = kernel.dump().await?;
    let plan = reconcile::plan(&current, desired, ownership);
    if !plan.is_empty() {
        kernel.apply(&plan).await?;
    }
    Ok(plan)
}

/// A pass over only the services in `scope` (those whose desired state changed): reads just
/// them from the kernel, diffs and applies. Still level-triggered — the kernel is read, not
/// assumed — while a health change in a table of thousands of services costs a few requests
/// instead of a full dump. Full passes (start, periodic resync, after a failure) cover the rest.
pub async fn converge_scoped<K: Kernel>(
    kernel: &K,
    desired: &Table,
    scope: &BTreeSet<ServiceKey>,
    ownership: &Ownership,
) -> Result<Plan, KernelError> {
    if scope.is_empty() {
        return Ok(Plan::default());
    }
    let current = kernel.read_services(scope).await?;
    let plan = reconcile::plan_scoped(&current, desired, scope, ownership);
    if !plan.is_empty() {
        kernel.apply(&plan).await?;
    }
    Ok(plan)
}

/// Which sync daemon roles run: both, or the one matching the tracked VRRP instance's state
/// (`lvs_sync_daemon … inst NAME`: master while it is MASTER, backup otherwise).
pub fn sync_roles(globals: &Globals, vrrp: &[VrrpInstanceStatus]) -> Vec<ipvs::DaemonState> {
    use ipvs::DaemonState::{Backup, Master};
    if globals.sync_daemon.is_none() {
        return Vec::new();
    }
    match &globals.sync_instance {
        None => vec![Master, Backup],
        Some(name) => {
            let master = vrrp
                .iter()
                .any(|i| &i.name == name && i.state == VrrpState::Master);
            vec![if master { Master } else { Backup }]
        }
    }
}

async fn writer<K: Kernel>(
    kernel: K,
    mut target_rx: watch::Receiver<Arc<Target>>,
    mut vrrp_rx: watch::Receiver<Vec<VrrpInstanceStatus>>,
    opts: RunOptions,
    mut stop: watch::Receiver<bool>,
) {
    // Services lvsd owns: the current target's and older ones until their removal succeeded.
    let mut owned: BTreeSet<ServiceKey> = BTreeSet::new();
    let mut globals_done: Option<(Globals, Vec<ipvs::DaemonState>)> = None;
    let mut first_pass = true;
    let mut flush_on_stop: bool;
    let mut failing = false;
    let mut vrrp_open = true;
    // The desired table of the last successful pass, and when the next full pass (one that
    // reads the whole kernel and so repairs outside changes) is due. Between full passes, a
    // wake-up reads and fixes only the services whose desired state changed.
    let mut last_desired: Option<Table> = None;
    let mut next_full = tokio::time::Instant::now();
    loop {
        let target = target_rx.borrow_and_update().clone();
        flush_on_stop = target.globals.flush_on_stop;
        owned.extend(target.table.services.keys().copied());
        let roles = sync_roles(&target.globals, &vrrp_rx.borrow_and_update());
        let setup = (target.globals.clone(), roles);
        if globals_done.as_ref() != Some(&setup) {
            match kernel.setup(&setup.0, &setup.1).await {
                Ok(()) => globals_done = Some(setup),
                Err(e) => tracing::warn!("ipvs: global settings not applied: {e}"),
            }
        }
        let own = ownership(&target.globals, &owned, first_pass);
        let now = tokio::time::Instant::now();
        let pass = match &last_desired {
            Some(prev) if now < next_full => {
                let scope = Table::changed_services(prev, &target.table);
                converge_scoped(&kernel, &target.table, &scope, &own).await
            }
            _ => {
                next_full = now + opts.resync;
                converge(&kernel, &target.table, &own).await
            }
        };
        match pass {
            Ok(plan) => {
                last_desired = Some(target.table.clone());
                log_ops(&plan);
                if failing {
                    tracing::info!("ipvs: kernel table converged again");
                }
                failing = false;
                first_pass = false;
                owned = target.table.services.keys().copied().collect();
            }
            Err(e) => {
                if !failing {
                    tracing::error!("ipvs: could not converge the kernel table: {e}");
                }
                failing = true;
                // Retry with a full pass, sooner than the periodic resync.
                last_desired = None;
                next_full = now + opts.resync.min(Duration::from_secs(1));
            }
        }
        tokio::select! {
            biased;
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    break;
                }
            }
            r = target_rx.changed() => {
                if r.is_err() {
                    break;
                }
            }
            // VRRP changes matter only for a tracked sync daemon; a closed channel (no VRRP)
            // must not spin, so then wait on the other branches only.
            r = vrrp_rx.changed(), if vrrp_open => {
                vrrp_open = r.is_ok();
            }
            _ = tokio::time::sleep_until(next_full) => {}
        }
    }
    if opts.release_on_exit
        && let Some((globals, roles)) = &globals_done
        && !roles.is_empty()
    {
        match kernel.setup(globals, &[]).await {
            Ok(()) => tracing::info!("ipvs: sync daemons stopped"),
            Err(e) => tracing::warn!("ipvs: could not stop the sync daemons: {e}"),
        }
    }
    if opts.release_on_exit {
        // Removing a service removes its destinations with it (keepalived's `lvs_flush_on_stop
        // VS`, and fewer writes than its default); `lvs_flush_on_stop` takes everything.
        let ownership = if flush_on_stop {
            Ownership::All
        } else {
            Ownership::Declared(owned.clone())
        };
        match converge(&kernel, &Table::new(), &ownership).await {
            Ok(plan) => tracing::info!(ops = plan.len(), "ipvs: released the services lvsd owns"),
            Err(e) => tracing::error!("ipvs: could not release the services lvsd owns: {e}"),
        }
    }
}

/// Every write at info level, unless a pass is large (a first start with thousands of
/// services): then a count at info and the ops at debug.
fn log_ops(plan: &Plan) {
    const DETAIL: usize = 100;
    if plan.len() <= DETAIL {
        for op in &plan.ops {
            tracing::info!("ipvs: ipvsadm {op}");
        }
    } else {
        tracing::info!(
            "ipvs: {} operations written (run with -D to list them)",
            plan.len()
        );
        for op in &plan.ops {
            tracing::debug!("ipvs: ipvsadm {op}");
        }
    }
}
