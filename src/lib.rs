//! lvsd: a Linux load-balancer director, drop-in for keepalived.
//!
//! Data flow: `config` (keepalived.conf → typed model) → `checkers` specs → health transitions →
//! the director computes the desired IPVS table (level-triggered) → `ipvs` reconciler converges
//! the kernel. `vrrp` elects the master that holds the virtual addresses. `anycast` holds a host
//! route per healthy announced VIP for a routing daemon (FRR) to announce. `bfd` runs the
//! `bfd_instance` sessions (RFC 5880/5881/5883) whose states `track_bfd` (VRRP) and
//! `BFD_CHECK` (director) follow. `status` is the plain
//! data every reader (API, metrics, dumps) renders. `scripts` turns every script of a loaded
//! configuration into a runnable `checkers::Script` (user resolved, keepalived's security
//! walk done) or a reason it is disabled, once per load, for the director and VRRP alike.
//! Runtime control (lvsd extensions): `director::operator` (drain / disable / enable state),
//! `events` (the numbered event stream), `runtime_api` (`/`, `/events`, `POST /operator/*`
//! handlers, routed by `api`), `status_page`, `runtime_ctl` (the
//! `lvsd ctl drain|disable|enable|events` client).

pub mod addrmon;
pub mod anycast;
pub mod api;
pub mod bfd;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod director;
pub mod dump;
pub mod dump_global;
pub mod events;
pub mod fifo;
pub mod genhash;
pub mod logging;
pub mod metrics;
pub mod nft;
pub mod notify;
pub mod pidfile;
pub mod process;
pub mod reload_time;
pub mod routes;
pub mod runtime_api;
pub mod runtime_ctl;
pub mod scripts;
pub mod status;
pub mod status_page;
pub mod systemd;
pub mod tuning;
pub mod vrrp;
