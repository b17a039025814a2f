//! The director task: checker transitions → health table → desired table (on a `watch`,
//! latest wins) → the writer converges the kernel through [`ipvs::Ipvs`].
//!
//! ```text
//!  spec watch (reloads) ─┐                         ┌─▶ notify scripts (Notifier, non-blocking)
//!  checkers Transition ──┼─▶ health loop ──────────┼─▶ StatusHub.virtual_servers (status.rs)
//!  shutdown watch ───────┘   desired::compute      └─▶ Target watch ─▶ writer.rs: dump → plan →
//!                            (health.rs)                              apply (on change and every
//!                                                                     `resync`; releases at exit)
//! ```
//!
//! Without a kernel (health-check-only mode) the dry writer only logs what it would write.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipvs::{Ipvs, Plan, Table};
use tokio::sync::watch;

use super::desired::{self, QuorumState, RsId};
use super::health::{self, CheckUsers, HealthTable};
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

/// The desired table right now (initial health: everyone up except `alpha` servers), as
/// `lvsd -t --plan` and the first pass after a start see it.
pub fn initial_table(spec: &DirectorSpec) -> Table {
    let d = desired::compute(&spec.cores(), &HashMap::new(), &QuorumState::default());
    build_table(spec, &d)
}

/// `lvsd -t --plan`: the operations a start with this configuration would write now (every
/// real server assumed up except `alpha` ones, as on the first pass).
pub async fn plan_against<I: Ipvs>(kernel: &I, spec: &DirectorSpec) -> Result<Plan, ipvs::Error> {
    writer::plan_for(kernel, &initial_table(spec), &spec.globals).await
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
    let mut notifier = notifier;
    // Which real servers use each check (a check shared by several runs once), for metrics.
    let users: Arc<RwLock<CheckUsers>> = Arc::default();
    let on_result = opts
        .metrics
        .clone()
        .map(|m| health::metrics_hook(m, users.clone()));
    let (sched, mut transitions) = checkers::Scheduler::spawn::<RsId>(checkers::SchedulerConfig {
        on_result,
        ..checkers::SchedulerConfig::default()
    });
    let mut spec = spec_rx.borrow_and_update().clone();
    health::set_users(&users, &spec);
    sched.set(spec.server_checks());

    let mut health = HealthTable::new();
    let mut quorum = QuorumState::default();
    let (target_tx, target_rx) = watch::channel(Arc::new(Target::default()));
    let (stop_tx, stop_rx) = watch::channel(false);

    // First computation before the writer starts, so its first pass sees the real target.
    recompute(&spec, &health, &mut quorum, &hub, &notifier, &target_tx);
    let (conns_tx, _conns_rx) = watch::channel(Arc::new(writer::Conns::new()));
    let writer = match kernel {
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
        None => tokio::spawn(writer::dry_writer(target_rx, stop_rx)),
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
                let new = spec_rx.borrow_and_update().clone();
                if new.globals.script_user != spec.globals.script_user {
                    notifier = notifier.with_default_user(new.globals.script_user.clone());
                }
                spec = new;
                health::set_users(&users, &spec);
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
                health::on_transition(&spec, &mut health, &notifier, t);
                // Coalesce a burst into one recomputation.
                while let Ok(t) = transitions.try_recv() {
                    health::on_transition(&spec, &mut health, &notifier, t);
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

fn recompute(
    spec: &DirectorSpec,
    health: &HealthTable,
    quorum: &mut QuorumState,
    hub: &StatusHub,
    notifier: &Notifier,
    target_tx: &watch::Sender<Arc<Target>>,
) {
    let d = desired::compute(&spec.cores(), &health::snapshot(health), quorum);
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
        watch: BTreeSet::new(),
    }));
    hub.virtual_servers
        .send_replace(super::status::virtual_servers(spec, health, &d));
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
