//! The writer: converges the kernel to the latest [`Target`] through [`ipvs::Ipvs`].
//!
//! A full pass (start, every `resync`, after a transport failure) dumps the whole kernel; in
//! between, a change reads and fixes only the services whose desired state changed (`ipvs`
//! scoped reconcile), so a health flip in a table of thousands of services is a few requests.
//!
//! Kernel errors stay typed: a pass whose dump or socket failed (`Err(ipvs::Error)`) did
//! nothing and is retried as a full pass; a pass that ran but had some ops refused (the
//! [`ipvs::ApplyReport`] lists them) *is* done: the rest of the table is converged, the
//! start-up `lvs_flush` has run (so a foreign service added later is never deleted by a
//! retry), and only the services of the refused ops are retried, scoped, with back-off.
//!
//! The writer never remembers what it wrote, only which service keys are lvsd's (those of the
//! current configuration and of older ones until their removal succeeded), so a restart adopts
//! whatever the kernel holds and an `ipvsadm -C` by hand is repaired on the next pass. After
//! each pass it publishes the destinations' connection counters it read ([`Conns`]), which
//! drains wait on; while `Target::watch` names services it re-reads them every
//! [`CONNS_POLL`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ipvs::{
    ApplyReport, DaemonState, DestConns, DestKey, Ipvs, Ownership, Plan, ServiceKey, Table,
    reconcile,
};
use tokio::sync::watch;

use super::spec::Globals;
use crate::status::{VrrpInstanceStatus, VrrpState};

/// How often the counters of services with a draining destination are read.
pub const CONNS_POLL: Duration = Duration::from_secs(1);

/// What the writer converges to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub table: Table,
    pub globals: Globals,
    /// Services whose connection counters someone waits on (a drain): polled every
    /// [`CONNS_POLL`] between passes.
    pub watch: BTreeSet<ServiceKey>,
}

/// Connection counters per destination as the kernel last reported them (every destination
/// read is present).
/// The kernel's weight beside them: a drain is over only once the kernel holds weight 0.
pub type Conns = BTreeMap<(ServiceKey, DestKey), (u32, DestConns)>;

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub resync: Duration,
    pub release_on_exit: bool,
}

/// `lvsd -t --plan` against `kernel` for `desired`, with start-up ownership.
pub async fn plan_for<I: Ipvs>(
    kernel: &I,
    desired: &Table,
    globals: &Globals,
) -> Result<Plan, ipvs::Error> {
    let current = kernel.dump().await?;
    Ok(reconcile::plan(
        &current,
        desired,
        &ownership(globals, &BTreeSet::new(), true),
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

/// One pass: dump, diff, apply.
pub async fn converge<I: Ipvs>(
    kernel: &I,
    desired: &Table,
    ownership: &Ownership,
) -> Result<(Plan, ApplyReport, Table), ipvs::Error> {
    let current = kernel.dump().await?;
    let plan = reconcile::plan(&current, desired, ownership);
    let report = apply(kernel, &plan).await?;
    Ok((plan, report, current))
}

/// A pass over only the services in `scope` (those whose desired state changed): reads just
/// them from the kernel, diffs and applies. Still level-triggered — the kernel is read, not
/// assumed — while a health change in a table of thousands of services costs a few requests
/// instead of a full dump. Full passes (start, periodic resync, after a failure) cover the rest.
pub async fn converge_scoped<I: Ipvs>(
    kernel: &I,
    desired: &Table,
    scope: &BTreeSet<ServiceKey>,
    ownership: &Ownership,
) -> Result<(Plan, ApplyReport, Table), ipvs::Error> {
    if scope.is_empty() {
        return Ok(Default::default());
    }
    let current = kernel.read_services(scope).await?;
    let plan = reconcile::plan_scoped(&current, desired, scope, ownership);
    let report = apply(kernel, &plan).await?;
    Ok((plan, report, current))
}

async fn apply<I: Ipvs>(kernel: &I, plan: &Plan) -> Result<ApplyReport, ipvs::Error> {
    if plan.is_empty() {
        Ok(ApplyReport::default())
    } else {
        kernel.apply(plan).await
    }
}

/// Which sync daemon roles run: both, or the one matching the tracked VRRP instance's state
/// (`lvs_sync_daemon … inst NAME`: master while it is MASTER, backup otherwise).
pub fn sync_roles(globals: &Globals, vrrp: &[VrrpInstanceStatus]) -> Vec<DaemonState> {
    use DaemonState::{Backup, Master};
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

/// Applies `lvs_timeouts` when configured, and runs the sync daemon in exactly `roles`
/// (restarted only when its settings differ from the kernel's; the other role stopped).
/// Without `lvs_sync_daemon`, running daemons are left alone.
pub async fn setup<I: Ipvs>(
    kernel: &I,
    globals: &Globals,
    roles: &[DaemonState],
) -> Result<(), ipvs::Error> {
    if let Some(t) = &globals.timeouts {
        kernel.set_timeouts(t).await?;
    }
    let Some(want) = &globals.sync_daemon else {
        return Ok(());
    };
    let running = kernel.daemons().await?;
    for state in [DaemonState::Master, DaemonState::Backup] {
        let is_running = running.iter().any(|r| r.state == state);
        if !roles.contains(&state) {
            if is_running {
                kernel.del_daemon(state).await?;
            }
            continue;
        }
        let mut d = want.clone();
        d.state = state;
        if running.iter().any(|r| same_daemon(r, &d)) {
            continue;
        }
        if is_running {
            kernel.del_daemon(state).await?;
        }
        kernel.add_daemon(&d).await?;
    }
    Ok(())
}

/// Whether a running daemon has the configured settings; 0 / unset fields mean "kernel
/// default", which the kernel reports filled in (maxlen 1472, port 8848, ttl 1, 224.0.0.81).
fn same_daemon(running: &ipvs::DaemonConfig, want: &ipvs::DaemonConfig) -> bool {
    running.state == want.state
        && running.mcast_ifn == want.mcast_ifn
        && running.sync_id == want.sync_id
        && (want.sync_maxlen == 0 || running.sync_maxlen == want.sync_maxlen)
        && (want.mcast_group.is_none() || running.mcast_group == want.mcast_group)
        && (want.mcast_port == 0 || running.mcast_port == want.mcast_port)
        && (want.mcast_ttl == 0 || running.mcast_ttl == want.mcast_ttl)
}

/// The writer's memory between passes: only which keys are lvsd's and what to retry.
struct State {
    owned: BTreeSet<ServiceKey>,
    first_pass: bool,
    /// A transport failure is being retried (logged once).
    failing: bool,
    /// Services with refused ops, retried scoped; and the last failure text (logged on change).
    retry: BTreeSet<ServiceKey>,
    retry_delay: Duration,
    last_failures: String,
    /// The desired table of the last pass that ran (None forces a full pass).
    last_desired: Option<Table>,
}

impl State {
    /// Books a pass that ran (over `scope`, or the whole kernel): ownership moves on, refused
    /// ops are kept for a scoped retry.
    fn ran(
        &mut self,
        target: &Target,
        plan: &Plan,
        report: &ApplyReport,
        scope: Option<&BTreeSet<ServiceKey>>,
    ) {
        log_ops(plan);
        if self.failing {
            tracing::info!("ipvs: kernel reachable again");
        }
        self.failing = false;
        self.first_pass = false;
        self.last_desired = Some(target.table.clone());
        let covered_all = scope.is_none_or(|s| self.retry.is_subset(s));
        match scope {
            None => self.retry.clear(),
            Some(s) => self.retry.retain(|k| !s.contains(k)),
        }
        let refused_deletes: Vec<ServiceKey> = self
            .owned
            .iter()
            .filter(|k| self.retry.contains(k) && !target.table.services.contains_key(k))
            .copied()
            .collect();
        self.owned = target.table.services.keys().copied().collect();
        self.owned.extend(refused_deletes);
        let mut text = String::new();
        for (op, e) in report.failures() {
            if let Some(k) = op.service_key() {
                self.retry.insert(*k);
                // A refused delete: still ours, deleted on a later pass.
                if matches!(op, ipvs::Op::DelService(_)) {
                    self.owned.insert(*k);
                }
            }
            text.push_str(&format!("\n  {e}"));
        }
        if covered_all && text != self.last_failures {
            if text.is_empty() {
                tracing::info!("ipvs: kernel table converged");
            } else {
                tracing::error!(
                    "ipvs: {} of {} operations refused by the kernel (retried):{text}",
                    report.writes() - report.succeeded(),
                    report.writes()
                );
            }
            self.last_failures = text;
        }
        self.retry_delay = if self.retry.is_empty() {
            Duration::from_millis(500)
        } else {
            (self.retry_delay * 2).min(Duration::from_secs(30))
        };
    }

    fn new() -> State {
        State {
            owned: BTreeSet::new(),
            first_pass: true,
            failing: false,
            retry: BTreeSet::new(),
            retry_delay: Duration::from_millis(500),
            last_failures: String::new(),
            last_desired: None,
        }
    }

    /// What a scoped pass looks at: the services whose desired state changed since the last
    /// pass, those with refused ops when their retry is due, and those whose connections are
    /// watched (draining) when their poll is due.
    fn scope(&self, target: &Target, retry_due: bool, poll_due: bool) -> BTreeSet<ServiceKey> {
        let mut s = self
            .last_desired
            .as_ref()
            .map(|prev| Table::changed_services(prev, &target.table))
            .unwrap_or_default();
        if retry_due {
            s.extend(self.retry.iter().copied());
        }
        if poll_due {
            s.extend(target.watch.iter().copied());
        }
        s
    }

    /// The kernel could not be read or written: logged once, and the next pass is full.
    fn failed(&mut self, e: &ipvs::Error) {
        if !self.failing {
            tracing::error!("ipvs: could not read or write the kernel table: {e}");
        }
        self.failing = true;
        self.last_desired = None;
    }
}

pub async fn writer<I: Ipvs>(
    kernel: I,
    mut target_rx: watch::Receiver<Arc<Target>>,
    mut vrrp_rx: watch::Receiver<Vec<VrrpInstanceStatus>>,
    conns_tx: watch::Sender<Arc<Conns>>,
    opts: WriterOptions,
    mut stop: watch::Receiver<bool>,
) {
    let mut st = State::new();
    let mut globals_done: Option<(Globals, Vec<DaemonState>)> = None;
    let mut flush_on_stop: bool;
    let mut vrrp_open = true;
    let mut next_full = tokio::time::Instant::now();
    let mut next_retry: Option<tokio::time::Instant> = None;
    let mut next_poll: Option<tokio::time::Instant> = None;
    loop {
        let target = target_rx.borrow_and_update().clone();
        flush_on_stop = target.globals.flush_on_stop;
        st.owned.extend(target.table.services.keys().copied());
        let roles = sync_roles(&target.globals, &vrrp_rx.borrow_and_update());
        let want_setup = (target.globals.clone(), roles);
        if globals_done.as_ref() != Some(&want_setup) {
            match setup(&kernel, &want_setup.0, &want_setup.1).await {
                Ok(()) => globals_done = Some(want_setup),
                Err(e) => tracing::warn!("ipvs: global settings not applied: {e}"),
            }
        }
        let own = ownership(&target.globals, &st.owned, st.first_pass);
        let now = tokio::time::Instant::now();
        let full = st.last_desired.is_none() || now >= next_full;
        let mut scope = None;
        let pass = if full {
            next_full = now + opts.resync;
            converge(&kernel, &target.table, &own).await
        } else {
            let due = |t: Option<tokio::time::Instant>| t.is_some_and(|t| now >= t);
            let s = st.scope(&target, due(next_retry), due(next_poll));
            let r = converge_scoped(&kernel, &target.table, &s, &own).await;
            scope = Some(s);
            r
        };
        match pass {
            Ok((plan, report, read)) => {
                st.ran(&target, &plan, &report, scope.as_ref());
                publish_conns(&conns_tx, &read, full);
            }
            Err(e) => {
                st.failed(&e);
                // Retry with a full pass, sooner than the periodic resync.
                next_full = now + opts.resync.min(Duration::from_secs(1));
            }
        }
        let now = tokio::time::Instant::now();
        next_retry = (!st.retry.is_empty()).then(|| now + st.retry_delay);
        next_poll = (!target.watch.is_empty()).then(|| now + CONNS_POLL);
        let wake = [Some(next_full), next_retry, next_poll]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_full);
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
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    release(
        &kernel,
        &opts,
        globals_done.as_ref(),
        flush_on_stop,
        &st.owned,
    )
    .await;
}

/// The counters of what a pass read: a full pass replaces everything, a scoped one updates its
/// services.
fn publish_conns(tx: &watch::Sender<Arc<Conns>>, read: &Table, full: bool) {
    if read.services.is_empty() && !full {
        return;
    }
    let mut conns: Conns = if full {
        Conns::new()
    } else {
        let mut c = (**tx.borrow()).clone();
        c.retain(|(k, _), _| !read.services.contains_key(k));
        c
    };
    for (k, e) in &read.services {
        for (dk, d) in &e.dests {
            // A dump always carries the counters; a table without them has none active.
            conns.insert((*k, *dk), (d.weight, d.conns.unwrap_or_default()));
        }
    }
    // Only a change wakes the director.
    tx.send_if_modified(|c| {
        if **c == conns {
            return false;
        }
        *c = Arc::new(conns);
        true
    });
}

/// At exit: stop the sync daemons and remove the services lvsd owns (keepalived's
/// `lvs_flush_on_stop VS`, and fewer writes than its default); `lvs_flush_on_stop` takes
/// everything.
async fn release<I: Ipvs>(
    kernel: &I,
    opts: &WriterOptions,
    globals_done: Option<&(Globals, Vec<DaemonState>)>,
    flush_on_stop: bool,
    owned: &BTreeSet<ServiceKey>,
) {
    if !opts.release_on_exit {
        return;
    }
    if let Some((globals, roles)) = globals_done
        && !roles.is_empty()
    {
        match setup(kernel, globals, &[]).await {
            Ok(()) => tracing::info!("ipvs: sync daemons stopped"),
            Err(e) => tracing::warn!("ipvs: could not stop the sync daemons: {e}"),
        }
    }
    let ownership = if flush_on_stop {
        Ownership::All
    } else {
        Ownership::Declared(owned.clone())
    };
    match converge(kernel, &Table::new(), &ownership).await {
        Ok((plan, report, _)) if report.is_success() => {
            tracing::info!(ops = plan.len(), "ipvs: released the services lvsd owns")
        }
        Ok((_, report, _)) => {
            tracing::error!("ipvs: could not release every service lvsd owns: {report}")
        }
        Err(e) => tracing::error!("ipvs: could not release the services lvsd owns: {e}"),
    }
}

/// Health-check-only mode: no kernel, but every change of the desired table is logged as the
/// ipvsadm command it would have been.
pub async fn dry_writer(
    mut target_rx: watch::Receiver<Arc<Target>>,
    mut stop: watch::Receiver<bool>,
) {
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
