//! The tokio side: one task per distinct [`Spec`], a coordinator that owns every real server's
//! health, and a bounded channel of [`Transition`]s to the director.
//!
//! ```text
//!  SchedulerHandle::set ──cmd──▶ coordinator ──Transition──▶ director (mpsc, every event counts)
//!                                  ▲      │ spawns / aborts
//!                        CheckState│      ▼
//!                          check task (one per distinct Spec): sleep → permit → check → state
//!                                  └──▶ on_result callback (metrics, every run)
//! ```
//!
//! Contracts:
//! - A check never has two runs at once: its task runs it in a loop.
//! - At most `max_concurrent` checks run at once (a semaphore); a hanging backend costs its own
//!   timeout only, never a slot for longer.
//! - Identical specs (same target, checker, timing, binding) used by several servers run once.
//! - `set` is a reload: unchanged specs keep running with their state, new ones start after a
//!   random warmup, removed ones are aborted (dropping their sockets / killing their programs).
//! - Dropping the handle stops every check (dropping the receiver: at the next transition).
//! - `suspend` pauses some servers (`ha_suspend`): their checks stop, their health stays as
//!   reported, and on resume their checks start again as a reload's new checks do.
//! - A check runs every `delay_loop` counted from the start of its previous run.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::outcome::{FailReason, Outcome};
use crate::spec::Spec;
use crate::state::{CheckState, combine};

/// What a real-server key must be: chosen by the caller, opaque here.
pub trait ServerKey: Clone + Eq + Hash + Debug + Send + Sync + 'static {}
impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> ServerKey for T {}

/// A real server's health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<S> {
    /// The caller's key.
    pub server: S,
    /// All its checks pass.
    pub up: bool,
    /// Operator sentence: which check failed and why, or that all pass.
    pub reason: String,
    /// Dynamic weight (`misc_dynamic`, FILE_CHECK `dynamic`), summed over its checks.
    pub weight: Option<i64>,
    /// Wall-clock time of the change.
    pub at: SystemTime,
}

/// One finished check run, for metrics.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The check.
    pub spec: Arc<Spec>,
    /// What it concluded.
    pub outcome: Outcome,
    /// How long the run took.
    pub duration: Duration,
    /// Whether the check counts as up after this run.
    pub up: bool,
    /// What the run saw besides its verdict (certificate expiry).
    pub observed: crate::Observed,
}

/// Called after every run, on the check's task: keep it cheap (increment counters).
pub type ResultHook = Arc<dyn Fn(&CheckReport) + Send + Sync>;

/// A real server and its checks, as handed to [`SchedulerHandle::set`].
#[derive(Debug, Clone)]
pub struct ServerChecks<S> {
    /// The caller's key.
    pub id: S,
    /// Its checks; it is up when all pass.
    pub checks: Vec<Spec>,
    /// Health assumed when the server is new (e.g. down with `alpha`, or as it was before a
    /// restart). Ignored for servers already known.
    pub initially_up: bool,
}

/// Scheduler settings.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Checks running at once, at most (default 4096). Each holds a socket or a process:
    /// the effective bound is also kept 256 below the process's open-file limit, so the daemon
    /// should raise `RLIMIT_NOFILE` to its hard limit at startup. Too low a bound makes checks
    /// queue when backends are slow, which delays detection.
    pub max_concurrent: usize,
    /// Capacity of the transition channel.
    pub channel_capacity: usize,
    /// Seed for warmup jitter; `None` seeds from the clock.
    pub seed: Option<u64>,
    /// Per-run callback.
    pub on_result: Option<ResultHook>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_concurrent: 4096,
            channel_capacity: 1024,
            seed: None,
            on_result: None,
        }
    }
}

impl Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("max_concurrent", &self.max_concurrent)
            .field("channel_capacity", &self.channel_capacity)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Entry point.
#[derive(Debug)]
pub struct Scheduler;

impl Scheduler {
    /// Starts the coordinator on the current tokio runtime. Checks start with the first
    /// [`SchedulerHandle::set`].
    pub fn spawn<S: ServerKey>(
        config: SchedulerConfig,
    ) -> (SchedulerHandle<S>, mpsc::Receiver<Transition<S>>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::channel(config.channel_capacity.max(1));
        let (upd_tx, upd_rx) = mpsc::unbounded_channel();
        let seed = config.seed.unwrap_or_else(|| {
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos() as u64 ^ u64::from(std::process::id())
        });
        let coord = Coordinator {
            sem: Arc::new(Semaphore::new(concurrency_bound(config.max_concurrent))),
            on_result: config.on_result,
            rng: SplitMix(seed),
            next_id: 0,
            checks: HashMap::new(),
            servers: HashMap::new(),
            wanted: Vec::new(),
            suspended: HashSet::new(),
            upd_tx,
            out: out_tx,
        };
        tokio::spawn(coord.run(cmd_rx, upd_rx));
        (SchedulerHandle { cmd: cmd_tx }, out_rx)
    }
}

/// Cloneable control handle; dropping every clone stops the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerHandle<S> {
    cmd: mpsc::UnboundedSender<Command<S>>,
}

enum Command<S> {
    Set(Vec<ServerChecks<S>>),
    Suspend(HashSet<S>),
    Snapshot(tokio::sync::oneshot::Sender<Vec<Transition<S>>>),
}

impl<S: ServerKey> SchedulerHandle<S> {
    /// Replaces the whole set of servers (a reload); see the module contracts.
    pub fn set(&self, servers: Vec<ServerChecks<S>>) {
        // A closed channel means the scheduler is gone (runtime shutting down): nothing to do.
        let _ = self.cmd.send(Command::Set(servers));
    }

    /// Pauses the checks of these servers (and resumes every other one): keepalived's
    /// `ha_suspend`. A paused server keeps its reported health and sends no transition; its
    /// checks are stopped (a check shared with a running server keeps running). On resume
    /// its checks start again after their warmup, a server that was down starting down.
    pub fn suspend(&self, servers: HashSet<S>) {
        let _ = self.cmd.send(Command::Suspend(servers));
    }

    /// Current health of every server (as last reported), for status dumps.
    pub async fn snapshot(&self) -> Vec<Transition<S>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.cmd.send(Command::Snapshot(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

struct Update {
    id: u64,
    spec: Arc<Spec>,
    state: CheckState,
}

struct CheckEntry<S> {
    id: u64,
    /// Servers using this check (rebuilt on every `set`).
    users: Vec<S>,
    label: String,
    state: CheckState,
    task: AbortHandle,
}

struct ServerEntry {
    checks: Vec<Arc<Spec>>,
    reported: Transition<()>,
}

struct Coordinator<S> {
    sem: Arc<Semaphore>,
    on_result: Option<ResultHook>,
    rng: SplitMix,
    next_id: u64,
    checks: HashMap<Arc<Spec>, CheckEntry<S>>,
    servers: HashMap<S, ServerEntry>,
    /// The last `set`, re-applied when the suspended set changes.
    wanted: Vec<ServerChecks<S>>,
    suspended: HashSet<S>,
    upd_tx: mpsc::UnboundedSender<Update>,
    out: mpsc::Sender<Transition<S>>,
}

impl<S: ServerKey> Coordinator<S> {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command<S>>,
        mut upd_rx: mpsc::UnboundedReceiver<Update>,
    ) {
        loop {
            let alive = tokio::select! {
                biased;
                cmd = cmd_rx.recv() => match cmd {
                    Some(Command::Set(servers)) => {
                        self.wanted = servers;
                        self.apply().await
                    }
                    Some(Command::Suspend(ids)) => {
                        if ids == self.suspended {
                            true
                        } else {
                            self.suspended = ids;
                            self.apply().await
                        }
                    }
                    Some(Command::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                        true
                    }
                    None => false,
                },
                Some(upd) = upd_rx.recv() => self.update(upd).await,
            };
            if !alive {
                break;
            }
        }
        for entry in self.checks.values() {
            entry.task.abort();
        }
    }

    fn snapshot(&self) -> Vec<Transition<S>> {
        self.servers
            .iter()
            .map(|(id, e)| Transition {
                server: id.clone(),
                up: e.reported.up,
                reason: e.reported.reason.clone(),
                weight: e.reported.weight,
                at: e.reported.at,
            })
            .collect()
    }

    /// Runs the checks of `wanted` minus the suspended servers (see the module contracts).
    async fn apply(&mut self) -> bool {
        let servers = self.wanted.clone();
        // One Arc per distinct spec (identical checks run once), with the servers using it.
        let mut users: HashMap<Arc<Spec>, Vec<S>> = HashMap::new();
        // Distinct specs of servers already known and reported down.
        let mut of_down_servers: HashSet<Arc<Spec>> = HashSet::new();
        let mut next_servers = HashMap::with_capacity(servers.len());
        for sc in servers {
            let old = self.servers.remove(&sc.id);
            let known_down = old.as_ref().is_some_and(|o| !o.reported.up);
            let paused = self.suspended.contains(&sc.id);
            let mut specs = Vec::with_capacity(sc.checks.len());
            for spec in sc.checks {
                if paused {
                    specs.push(Arc::new(spec));
                    continue;
                }
                let spec = match users.get_key_value(&spec) {
                    Some((a, _)) => a.clone(),
                    None => Arc::new(spec),
                };
                users.entry(spec.clone()).or_default().push(sc.id.clone());
                if known_down {
                    of_down_servers.insert(spec.clone());
                }
                specs.push(spec);
            }
            let reported = match old {
                Some(old) => old.reported,
                None => Transition {
                    server: (),
                    up: sc.initially_up,
                    reason: String::new(),
                    weight: None,
                    at: SystemTime::now(),
                },
            };
            next_servers.insert(
                sc.id,
                ServerEntry {
                    checks: specs,
                    reported,
                },
            );
        }
        self.checks.retain(|spec, entry| {
            let keep = users.contains_key(spec);
            if !keep {
                entry.task.abort();
            }
            keep
        });
        for (spec, ids) in users {
            if !self.checks.contains_key(&spec) {
                // A check added by a reload to a server that is down starts down: the server
                // must not flap up before the new check has even run.
                let start_down = of_down_servers.contains(&spec);
                self.start(spec.clone(), start_down);
            }
            if let Some(entry) = self.checks.get_mut(&spec) {
                entry.users = ids;
            }
        }
        self.servers = next_servers;
        let ids: Vec<S> = self.servers.keys().cloned().collect();
        self.reevaluate(ids).await
    }

    fn start(&mut self, spec: Arc<Spec>, start_down: bool) {
        self.next_id += 1;
        let id = self.next_id;
        let state = if start_down {
            CheckState::down()
        } else {
            CheckState::new(&spec.timing)
        };
        let now = Instant::now();
        let first = CheckState::first_run(now.into_std(), &spec.timing, self.rng.unit());
        let task = tokio::spawn(check_loop(CheckTask {
            id,
            spec: spec.clone(),
            state: state.clone(),
            first: Instant::from_std(first),
            sem: self.sem.clone(),
            upd: self.upd_tx.clone(),
            on_result: self.on_result.clone(),
        }));
        let label = spec.label();
        self.checks.insert(
            spec,
            CheckEntry {
                id,
                users: Vec::new(),
                label,
                state,
                task: task.abort_handle(),
            },
        );
    }

    async fn update(&mut self, upd: Update) -> bool {
        let Some(entry) = self.checks.get_mut(&upd.spec) else {
            return true;
        };
        if entry.id != upd.id {
            return true; // a stale message from an aborted task
        }
        entry.state = upd.state;
        let users = entry.users.clone();
        self.reevaluate(users).await
    }

    /// Recomputes the servers' health and sends a transition for each change.
    async fn reevaluate(&mut self, ids: Vec<S>) -> bool {
        for id in ids {
            if self.suspended.contains(&id) {
                continue; // paused: keeps what it last reported
            }
            let Some(server) = self.servers.get_mut(&id) else {
                continue;
            };
            let health =
                combine(server.checks.iter().filter_map(|spec| {
                    self.checks.get(spec).map(|e| (e.label.as_str(), &e.state))
                }));
            if health.up == server.reported.up && health.weight == server.reported.weight {
                continue;
            }
            let at = SystemTime::now();
            server.reported = Transition {
                server: (),
                up: health.up,
                reason: health.reason.clone(),
                weight: health.weight,
                at,
            };
            let t = Transition {
                server: id,
                up: health.up,
                reason: health.reason,
                weight: health.weight,
                at,
            };
            if self.out.send(t).await.is_err() {
                return false; // nobody listens any more
            }
        }
        true
    }
}

struct CheckTask {
    id: u64,
    spec: Arc<Spec>,
    state: CheckState,
    first: Instant,
    sem: Arc<Semaphore>,
    upd: mpsc::UnboundedSender<Update>,
    on_result: Option<ResultHook>,
}

async fn check_loop(mut t: CheckTask) {
    let mut next = t.first;
    let mut progress = crate::recovery::UrlProgress::default();
    loop {
        tokio::time::sleep_until(next).await;
        let Ok(permit) = t.sem.acquire().await else {
            return;
        };
        let started = Instant::now();
        // A checker bug must not silently freeze this server's health: a panic is a failure.
        let only_url = progress.pick(&t.spec, t.state.is_up());
        let (outcome, observed) = match AssertUnwindSafe(crate::check_part(&t.spec, only_url))
            .catch_unwind()
            .await
        {
            Ok((o, seen)) => (progress.after(only_url, o, &t.spec), seen),
            Err(_) => (
                Outcome::Fail(FailReason::Setup(
                    "the checker panicked (a bug in lvsd)".to_string(),
                )),
                crate::Observed::default(),
            ),
        };
        drop(permit);
        let now = Instant::now();
        let step = t
            .state
            .on_outcome(started.into_std(), now.into_std(), &outcome, &t.spec.timing);
        if let Some(hook) = &t.on_result {
            hook(&CheckReport {
                spec: t.spec.clone(),
                outcome,
                duration: now - started,
                up: t.state.is_up(),
                observed,
            });
        }
        if step.changed {
            let upd = Update {
                id: t.id,
                spec: t.spec.clone(),
                state: t.state.clone(),
            };
            if t.upd.send(upd).is_err() {
                return;
            }
        }
        next = Instant::from_std(step.next);
    }
}

/// `wanted`, kept 256 below the open-file limit (the rest of the daemon needs descriptors too).
fn concurrency_bound(wanted: usize) -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
    let limit = if ok && r.rlim_cur != libc::RLIM_INFINITY {
        usize::try_from(r.rlim_cur)
            .unwrap_or(usize::MAX)
            .saturating_sub(256)
    } else {
        usize::MAX
    };
    if wanted > limit {
        tracing::warn!(
            wanted,
            limit,
            "checker concurrency capped by the open-file limit (raise RLIMIT_NOFILE)"
        );
    }
    wanted.min(limit).max(1)
}

/// Tiny deterministic generator for warmup jitter (no crypto need, seedable in tests).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
