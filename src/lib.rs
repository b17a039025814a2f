//! lvsd: a Linux load-balancer director, drop-in for keepalived.
//!
//! Data flow: `config` (keepalived.conf → typed model) → `checkers` specs → health transitions →
//! the director computes the desired IPVS table (level-triggered) → `ipvs` reconciler converges
//! the kernel. `vrrp` elects the master that holds the virtual addresses. `status` is the plain
//! data every reader (API, metrics, dumps) renders. Runtime control (lvsd extensions):
//! `director::operator` (drain / disable / enable state), `events` (the numbered event stream),
//! `runtime_api` (`/`, `/events`, `POST /operator/*`), `status_page`, `runtime_ctl` (the
//! `lvsd ctl drain|disable|enable|events` client).

pub mod api;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod director;
pub mod dump;
pub mod events;
pub mod genhash;
pub mod metrics;
pub mod notify;
pub mod runtime_api;
pub mod runtime_ctl;
pub mod status;
pub mod status_page;
pub mod systemd;
pub mod vrrp;
