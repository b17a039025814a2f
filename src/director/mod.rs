//! The director: health and operator state drive IPVS.
//!
//! ```text
//!  config::Config ─from_config.rs─▶ DirectorSpec (spec.rs: ipvs Services/Dests, checker specs,
//!                  scripts) ──▶ checkers::ServerChecks keyed by RsId ──▶ checkers::Scheduler
//!                                                                        │ Transition (mpsc)
//!                                                                        ▼
//!  run.rs: health table (health.rs) ──▶ desired::compute (pure) ──▶ Target on a watch
//!                                       └─▶ status.rs ─▶ StatusHub     │ (latest wins)
//!                                                                        ▼
//!                 writer.rs: kernel dump ──▶ ipvs::reconcile::plan ──▶ ipvs::Ipvs::apply
//! ```
//!
//! Level-triggered: the director never remembers what it wrote. Every pass recomputes the
//! desired table from the configuration, the latest health and the operator state (and the
//! clock, for slow start), reads the kernel and lets the
//! reconciler decide the minimal edits; so a restart adopts what the kernel holds and an
//! `ipvsadm -C` by hand is repaired on the next pass. The one kernel seam is [`ipvs::Ipvs`]
//! (`ipvs::Client` in production, `ipvs::FakeIpvs` in tests), with its typed errors and
//! per-op [`ipvs::ApplyReport`].
//!
//! Files: `desired.rs` the pure core (health, inhibit, dynamic weights, quorum/hysteresis,
//! sorry server), `spec.rs` what runs and `build_table`, `from_config.rs` the config adapter,
//! `health.rs` the health table and check metrics, `operator.rs` drain / disable / enable
//! (operator state: a pure input like health, persisted under `--state-dir`), `writer.rs` the
//! kernel writer (ownership, retries, sync daemon roles, connection counters for drains),
//! `status.rs` what `/status` shows, `local_addrs.rs` this host's addresses for `ha_suspend`,
//! `run.rs` the task.

pub mod bfd_check;
pub mod desired;
pub mod from_config;
pub mod health;
pub mod local_addrs;
pub mod operator;
pub mod run;
pub mod spec;
pub mod status;
pub mod writer;

pub use desired::RsId;
pub use run::{RunOptions, run};
pub use spec::{DirectorSpec, Globals, RealServer, VirtualServer, build_table};
