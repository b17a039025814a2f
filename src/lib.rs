//! lvsd: a Linux load-balancer director, drop-in for keepalived.
//!
//! Data flow: `config` (keepalived.conf → typed model) → `checkers` specs → health transitions →
//! the director computes the desired IPVS table (level-triggered) → `ipvs` reconciler converges
//! the kernel. `vrrp` elects the master that holds the virtual addresses. `status` is the plain
//! data every reader (API, metrics, dumps) renders. `scripts` turns every script of a loaded
//! configuration into a runnable `checkers::Script` (user resolved, keepalived's security
//! walk done) or a reason it is disabled, once per load, for the director and VRRP alike.

pub mod addrmon;
pub mod api;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod director;
pub mod dump;
pub mod genhash;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod pidfile;
pub mod process;
pub mod scripts;
pub mod status;
pub mod systemd;
pub mod vrrp;
