//! The director: health drives IPVS.
//!
//! ```text
//!  config::Config ─from_config.rs─▶ DirectorSpec (spec.rs: ipvs Services/Dests, checker specs,
//!                  scripts) ──▶ checkers::ServerChecks keyed by RsId ──▶ checkers::Scheduler
//!                                                                        │ Transition (mpsc)
//!                                                                        ▼
//!  run.rs: health snapshot ──▶ desired::compute (pure) ──▶ desired table on a watch (latest wins)
//!                                                                        │
//!                          kernel dump ──▶ ipvs::reconcile::plan ──▶ Client::apply
//! ```
//!
//! Level-triggered: the director never remembers what it wrote. Every pass recomputes the
//! desired table from the configuration and the latest health, dumps the kernel and lets the
//! reconciler decide the minimal edits; so a restart adopts what the kernel holds and an
//! `ipvsadm -C` by hand is repaired on the next pass.
//!
//! Files: `desired.rs` the pure core (health, inhibit, dynamic weights, quorum/hysteresis,
//! sorry server), `spec.rs` what runs and `build_table`, `from_config.rs` the config adapter,
//! `run.rs` the task and its `Kernel` seam (+ `FakeKernel`), `kernel.rs` the real
//! `ipvs::Client` behind it.

pub mod desired;
pub mod from_config;
mod kernel;
pub mod run;
pub mod spec;

pub use desired::RsId;
pub use run::{FakeKernel, Kernel, KernelError, RunOptions, run};
pub use spec::{DirectorSpec, Globals, RealServer, VirtualServer, build_table};
