//! Routes, rules and addresses that follow VRRP state, as keepalived 2.2.7 keeps them:
//! `static_ipaddress` / `static_routes` / `static_rules` held for as long as lvsd runs, and an
//! instance's `virtual_routes` / `virtual_rules` held exactly while it is MASTER.
//!
//! ```text
//!  config (typed RouteSpec / RuleSpec, model::route) ──┐
//!  StatusHub.vrrp (instance, state, since) ────────────┼─▶ plan::step (pure) ─▶ add / del
//!  kernel dump (per table, per family) ────────────────┘        │
//!                                                               └─▶ lost → StatusHub.vrrp_resign
//! ```
//!
//! Level-triggered: every pass (a configuration, a state change, a route/rule/address/link
//! event from the kernel's multicast groups, the resync timer) dumps what the kernel holds and
//! converges to what is wanted; a static route deleted by hand is put back at once, a virtual
//! route of an instance that is not MASTER is removed. The one thing remembered is which
//! virtual items were seen installed during the current mastership (the instance's
//! `since` timestamp), because keepalived's tracking is about that: a tracked virtual route
//! or rule (no `no_track`) that disappears while its instance is MASTER makes the instance
//! leave MASTER (it sends priority 0, drops its VIPs, routes and rules and goes BACKUP, as
//! keepalived 2.2.7 does), and everything is installed again when it next becomes MASTER; a
//! `no_track` one is left missing until then (keepalived.conf(5)).
//!
//! A static item naming a `track_group` that is deleted and cannot be put back puts the
//! group's instances in FAULT until it is back (`track_group.rs`).
//!
//! Files: `plan.rs` the pure decisions, `msg.rs` the pure netlink encoding and matching,
//! `kernel.rs` the rtnetlink edge, `run.rs` the task.

pub mod kernel;
pub mod msg;
pub mod plan;
pub mod run;
mod track_group;

pub use run::spawn;
