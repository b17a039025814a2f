//! Health-gated anycast: a host route per announced VIP, held exactly while its virtual
//! servers have quorum and lvsd runs, for the routing suite (FRR: zebra `ip import-table N`,
//! bgpd `redistribute table N`) to announce. An lvsd extension (docs/anycast.md).
//!
//! ```text
//!  config (announce_route, anycast_table/protocol) ─┐
//!  StatusHub.virtual_servers (quorum_up per VS) ────┼─▶ desired::routes (pure) ─▶ desired set
//!  shutdown ────────────────────────────────────────┘                              │
//!                   kernel dump (table N, protocol P) ─▶ desired::diff (pure) ─▶ add / del
//! ```
//!
//! Level-triggered like the IPVS director: every pass compares the routes wanted now with the
//! routes the kernel holds in that table with that protocol, and writes only the difference; a
//! restart after a crash adopts the routes that are still right (no withdrawal, no flap) and
//! removes the others. Routes of other protocols in the table are never touched. The writer
//! depends only on rtnetlink, not on IPVS: a host without IPVS still announces (the director's
//! health checks keep running there).
//!
//! Files: `desired.rs` the pure core, `kernel.rs` the rtnetlink edge (+ `FakeRoutes`), `run.rs`
//! the task, `sysctl.rs` the IPVS settings anycast needs (`sloppy_tcp`).

pub mod desired;
pub mod kernel;
pub mod run;
pub mod sysctl;

pub use desired::{Announce, Plan, Target, Wanted};
pub use kernel::{FakeRoutes, Netlink, RouteKernel};
pub use run::{RunOptions, run, spawn};

/// `anycast_table` when not configured.
pub const DEFAULT_TABLE: u32 = 198;
/// `anycast_protocol` when not configured: outside the kernel's (0-4), zebra's (11) and FRR's
/// daemons' (186-197) numbers, so zebra treats the routes as another program's.
pub const DEFAULT_PROTOCOL: u8 = 245;
