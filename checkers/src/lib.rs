//! Health checkers: each check is a target, a kind and its timing; the scheduler runs them and
//! reports each real server's up/down transitions with a reason. No IPVS knowledge lives here.
//!
//! # Model
//! - [`Spec`] (spec.rs): what to check — `target` (exact address), [`CheckKind`] (one variant per
//!   keepalived checker) and [`Timing`] (`delay_loop`, `connect_timeout`, `retry`,
//!   `delay_before_retry`, `warmup`, `alpha`, keepalived defaults in `Default` /
//!   [`Timing::for_kind`]). Built by the config layer; compared by value.
//! - [`check`]: runs one attempt of a spec and returns an [`Outcome`]; a failure carries a
//!   [`FailReason`] whose `Display` is the sentence an operator acts on ("HTTP 503 on /health
//!   (expected 200-299)"). One file per checker: http.rs (+ tls.rs, digest.rs), tcp.rs, smtp.rs,
//!   dns.rs, udp.rs, ping.rs, file.rs, misc.rs, and the lvsd extensions grpc.rs (gRPC health)
//!   and h2.rs (HTTP/2 for gRPC and `http_protocol 2`); body_regex.rs (a url's `regex`). [`check_observed`] also returns what a
//!   run saw besides its verdict ([`Observed`]: a verified certificate's expiry).
//! - state.rs (pure, takes `now`): a check's retry / alpha bookkeeping and the rule that a real
//!   server is up only when all its checks are.
//! - scheduler.rs (tokio): [`Scheduler::spawn`] gives a [`SchedulerHandle`] and a
//!   `Receiver<Transition>`. [`SchedulerHandle::set`] hands over every real server (an opaque key
//!   of the caller's choice) with its specs; calling it again is a reload that keeps unchanged
//!   checks and their state.
//! - command.rs: keepalived command lines ([`split_command`]), the [`Script`] every kind of
//!   script in lvsd is (argv + resolved uid/gid, see [`resolve_user`]) and its runner
//!   ([`run_script`]: own process group, null stdio, script user, timeout → SIGTERM then
//!   SIGKILL to the group, cancellation-safe; [`spawn_detached`] for hooks that outlive lvsd).
//! - digest.rs + genhash.rs: keepalived's body MD5 (bytes after the header block, capped at
//!   Content-Length, chunk framing included) and the `genhash` tool on top of it.
//!
//! # Director API
//! ```text
//! Scheduler::spawn::<S>(SchedulerConfig { max_concurrent, channel_capacity, seed, on_result })
//!     -> (SchedulerHandle<S>, tokio::sync::mpsc::Receiver<Transition<S>>)
//! SchedulerHandle::set(&self, Vec<ServerChecks<S> { id: S, checks: Vec<Spec>, initially_up: bool }>)
//! SchedulerHandle::suspend(&self, HashSet<S>)                     // pause these servers (ha_suspend)
//! SchedulerHandle::snapshot(&self).await -> Vec<Transition<S>>    // current health of every server
//! Transition<S> { server: S, up: bool, reason: String, weight: Option<i64>, at: SystemTime }
//! on_result: Arc<dyn Fn(&CheckReport) + Send + Sync>            // every run, for metrics
//! CheckReport { spec: Arc<Spec>, outcome: Outcome, duration: Duration, up: bool,
//!               observed: Observed { cert_not_after: Option<SystemTime> } }
//! ```
//! - `S` is any `Clone + Eq + Hash + Debug + Send + Sync + 'static` key (a string, a u64...).
//! - A server is up when all its checks are up (none: up). A transition is sent whenever that,
//!   or the summed dynamic weight, changes; a new server whose computed health differs from
//!   `initially_up` gets one at once (non-alpha checks start up, alpha ones down).
//! - `set` replaces everything: unchanged `(id, Spec)` pairs keep their check state and timers,
//!   new specs start after a random warmup, removed ones are aborted (programs killed).
//!   Identical specs used by several servers run once. A spec added to a server that is down
//!   starts down, so a reload never flaps a down server up before its new check has run.
//! - Dropping every handle stops all checks; dropping the receiver does at the next transition.
//! - The worst time from a server failing to its transition is
//!   [`Timing::detection_bound`] (plus waiting for a free slot when `max_concurrent` checks
//!   are already running).
//!
//! ```no_run
//! # async fn demo() {
//! use checkers::{CheckKind, Scheduler, SchedulerConfig, ServerChecks, Spec, TcpSpec};
//! let (handle, mut transitions) = Scheduler::spawn::<u64>(SchedulerConfig::default());
//! let spec = Spec::new("10.0.0.1:80".parse().unwrap(), CheckKind::Tcp(TcpSpec {}));
//! handle.set(vec![ServerChecks { id: 1, checks: vec![spec], initially_up: false }]);
//! while let Some(t) = transitions.recv().await {
//!     println!("{:?} up={} weight={:?}: {}", t.server, t.up, t.weight, t.reason);
//! }
//! # }
//! ```

#![warn(missing_docs)]

pub mod body_regex;
pub mod command;
pub mod digest;
pub mod dns;
pub mod file;
pub mod genhash;
pub mod grpc;
mod h2;
pub mod http;
pub mod misc;
pub mod outcome;
pub mod ping;
mod recovery;
pub mod scheduler;
pub mod smtp;
pub mod spec;
pub mod state;
pub mod tcp;
mod tls;
pub mod udp;

pub use command::{
    KILL_GRACE, Script, ScriptExit, ScriptUser, resolve_user, run_script, spawn_detached,
    split_command,
};
pub use outcome::{FailReason, Observed, Outcome};
pub use scheduler::{
    CheckReport, ResultHook, Scheduler, SchedulerConfig, SchedulerHandle, ServerChecks, ServerKey,
    Transition,
};
pub use spec::{
    Bind, CheckKind, ClientCert, DnsSpec, DnsType, FileSpec, GrpcSpec, HttpProtocol, HttpSpec,
    MiscSpec, PingSpec, RegexOptions, RegexSpec, SmtpSpec, Spec, TcpSpec, Timing, TlsVerify,
    UdpSpec, UrlSpec,
};
pub use state::{CheckState, Health};

/// Runs one attempt of `spec`. Never panics and never outlives its own timeouts.
pub async fn check(spec: &Spec) -> Outcome {
    check_observed(spec).await.0
}

/// [`check`], with what it observed besides the verdict (certificate expiry).
pub async fn check_observed(spec: &Spec) -> (Outcome, Observed) {
    check_part(spec, None).await
}

/// One run; `only_url`: of an HTTP_GET / SSL_GET, only that url (recovery.rs).
pub(crate) async fn check_part(spec: &Spec, only_url: Option<usize>) -> (Outcome, Observed) {
    let mut observed = Observed::default();
    let outcome = match &spec.kind {
        CheckKind::Tcp(_) => tcp::check(spec).await,
        CheckKind::Http(h) => http::check_urls(spec, h, false, only_url, &mut observed).await,
        CheckKind::Ssl(h) => http::check_urls(spec, h, true, only_url, &mut observed).await,
        CheckKind::Grpc(g) => grpc::check(spec, g, &mut observed).await,
        CheckKind::Misc(m) => misc::check(spec, m).await,
        CheckKind::Smtp(m) => smtp::check(spec, m).await,
        CheckKind::Dns(d) => dns::check(spec, d).await,
        CheckKind::Udp(u) => udp::check(spec, u).await,
        CheckKind::Ping(_) => ping::check(spec).await,
        CheckKind::File(f) => file::check(f).await,
    };
    (outcome, observed)
}
