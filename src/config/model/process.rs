//! Process-level `global_defs` keywords lvsd acts on (the daemon's set-up, [`crate::process`]
//! and [`crate::fifo`]): scheduling and limits of the VRRP and checker threads, `umask`,
//! `reload_time_file`, `rs_init_notifies`, `fifo_write_vrrp_states_on_reload`, and the
//! top-level `net_namespace` / `net_namespace_ipvs`.

use std::path::PathBuf;

use serde::Serialize;

/// keepalived's per-child-process tuning, applied by lvsd to the threads doing that work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadTuning {
    /// `*_priority N` (-20..=19): nice value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
    /// `*_rt_priority N` (1..=99): SCHED_RR at this priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_priority: Option<u8>,
    /// `*_no_swap`: memory locked (mlockall).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_swap: bool,
    /// `*_cpu_affinity CPU…`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpu_affinity: Vec<usize>,
    /// `*_rlimit_rttime USECS` (RLIMIT_RTTIME, with realtime scheduling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rlimit_rttime: Option<u64>,
    /// `*_process_name NAME`: the thread's name (`/proc/PID/task/TID/comm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_name: Option<String>,
}

impl ThreadTuning {
    pub fn is_default(&self) -> bool {
        *self == ThreadTuning::default()
    }
}

/// The process keywords of a configuration (all default: as if absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessDefs {
    /// `max_auto_priority [-1..99]`: the highest SCHED_RR priority the VRRP thread raises
    /// itself to when it runs late (0: off, the default; -1: off; no value: 99).
    #[serde(skip_serializing_if = "is_zero")]
    pub max_auto_priority: i32,
    /// `min_auto_priority_delay USECS`: lateness that counts (None: 1 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_auto_priority_delay: Option<std::time::Duration>,
    #[serde(skip_serializing_if = "ThreadTuning::is_default")]
    pub vrrp: ThreadTuning,
    #[serde(skip_serializing_if = "ThreadTuning::is_default")]
    pub checker: ThreadTuning,
    /// `process_name NAME`: the main thread's name (what `ps` shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_name: Option<String>,
    /// `process_names`: keepalived's default names (`keepalived`, `keepalived_vrrp`,
    /// `keepalived_ipvs`) for the threads.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub process_names: bool,
    /// `umask NUMBER|BITS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// `reload_time_file PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload_time_file: Option<PathBuf>,
    /// `reload_repeat`: the reload time file is kept (a time without a date repeats daily).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reload_repeat: bool,
    /// `rs_init_notifies`: notify the initial state of every real server.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rs_init_notifies: bool,
    /// `fifo_write_vrrp_states_on_reload`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fifo_write_vrrp_states_on_reload: bool,
    /// Top-level `net_namespace NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_namespace: Option<String>,
    /// Top-level `net_namespace_ipvs [NAME]`: Some("") is the default (root) namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_namespace_ipvs: Option<String>,
    /// Top-level `namespace_with_ipsets`: keepalived.conf(5) lets ipsets be used inside
    /// `net_namespace` on kernels before 3.13, where they were not per namespace. lvsd's
    /// `vrrp_ipsets` / `nftables` sets are nft sets, created by lvsd inside its namespace, and
    /// nftables itself needs 3.13: they are always used there, as the line asks (tests/vrrp_vm.rs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub namespace_with_ipsets: bool,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

impl ProcessDefs {
    pub fn is_default(&self) -> bool {
        *self == ProcessDefs::default()
    }
}
