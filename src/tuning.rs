//! keepalived's per-process tuning applied to lvsd's threads. keepalived runs a VRRP child and
//! a checker child; lvsd is one process whose VRRP instances run on one dedicated thread
//! (`lvsd-vrrp`) and whose checkers, director and API run on the main runtime's threads. Linux
//! keeps scheduling per thread, so the mapping is:
//!
//! | keyword                     | lvsd applies it to                                        |
//! |-----------------------------|-----------------------------------------------------------|
//! | `vrrp_priority N`           | nice N of the VRRP thread                                 |
//! | `vrrp_rt_priority N`        | SCHED_RR N of the VRRP thread (lvsd's default is RR 10)    |
//! | `vrrp_cpu_affinity CPU…`    | the VRRP thread's CPU set                                 |
//! | `vrrp_process_name NAME`    | the VRRP thread's name (`/proc/PID/task/TID/comm`)         |
//! | `checker_priority N`        | nice N of every other thread (main, runtime workers)      |
//! | `checker_rt_priority N`     | SCHED_RR N of those threads                               |
//! | `checker_cpu_affinity CPU…` | their CPU set                                             |
//! | `checker_process_name NAME` | the runtime workers' name                                 |
//! | `process_name NAME`         | the main thread's name, which is what `ps` shows           |
//! | `process_names`             | keepalived's names: `keepalived`, `keepalived_vrrp`, `keepalived_ipvs` |
//! | `*_no_swap`                 | the whole process: mlockall (memory cannot be per thread)  |
//! | `*_rlimit_rttime USECS`     | the whole process: RLIMIT_RTTIME (a process limit; the largest value given, as it bounds every realtime thread) |
//!
//! Threads made later inherit their creator's nice value, CPU set and (without
//! SCHED_RESET_ON_FORK) policy, so the runtime's blocking pool follows the checker settings.
//! Everything is applied once at start-up (keepalived applies them when it starts a child);
//! a failure is logged and lvsd runs on, as keepalived does.

use std::time::{Duration, Instant};

pub mod auto_priority;

use crate::config::model::{ProcessDefs, ThreadTuning};

/// The VRRP thread's name (set by `vrrp::run_reloadable`).
pub const VRRP_THREAD: &str = "lvsd-vrrp";

/// One thread of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub tid: i32,
    pub comm: String,
}

/// The threads of this process, from /proc/self/task.
pub fn threads() -> Vec<Thread> {
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some(Thread {
                tid,
                comm: comm.trim_end().to_string(),
            })
        })
        .collect()
}

/// Process-wide settings, before any subsystem starts: mlockall and RLIMIT_RTTIME.
pub fn apply_process(p: &ProcessDefs) {
    if p.vrrp.no_swap || p.checker.no_swap {
        // SAFETY: mlockall takes flags only.
        let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if r != 0 {
            tracing::warn!(
                "*_no_swap: mlockall failed: {}",
                std::io::Error::last_os_error()
            );
        } else {
            tracing::info!("*_no_swap: lvsd's memory is locked (mlockall)");
        }
    }
    if let Some(us) = p.vrrp.rlimit_rttime.max(p.checker.rlimit_rttime) {
        let lim = libc::rlimit {
            rlim_cur: us,
            rlim_max: us,
        };
        // SAFETY: a valid rlimit struct for a known resource.
        if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lim) } != 0 {
            tracing::warn!(
                "*_rlimit_rttime {us}: setrlimit failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Whether any per-thread setting is asked for.
pub fn wants_threads(p: &ProcessDefs) -> bool {
    let t = |t: &ThreadTuning| {
        t.nice.is_some() || t.rt_priority.is_some() || !t.cpu_affinity.is_empty()
    };
    t(&p.vrrp)
        || t(&p.checker)
        || p.vrrp.process_name.is_some()
        || p.checker.process_name.is_some()
        || p.process_name.is_some()
        || p.process_names
}

/// Applies the per-thread settings once the VRRP thread exists (`vrrp` says whether it will;
/// it is waited for up to 5 s). Runs in the background; returns at once.
pub fn spawn_thread_tuning(p: ProcessDefs, vrrp: bool) {
    if !wants_threads(&p) {
        return;
    }
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let me = threads();
        let mut vrrp_tid = me.iter().find(|t| t.comm == VRRP_THREAD).map(|t| t.tid);
        while vrrp && vrrp_tid.is_none() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            vrrp_tid = threads()
                .iter()
                .find(|t| t.comm == VRRP_THREAD)
                .map(|t| t.tid);
        }
        if vrrp && vrrp_tid.is_none() {
            tracing::warn!("the VRRP thread did not start: vrrp_* tuning not applied");
        }
        apply_threads(&p, vrrp_tid);
    });
}

fn apply_threads(p: &ProcessDefs, vrrp_tid: Option<i32>) {
    let pid = std::process::id() as i32;
    let mine = gettid();
    let others: Vec<Thread> = threads()
        .into_iter()
        .filter(|t| Some(t.tid) != vrrp_tid && t.tid != mine && !t.comm.starts_with("lvsd-fifo"))
        .collect();
    if let Some(tid) = vrrp_tid {
        tune(tid, &p.vrrp, "vrrp");
    }
    for t in &others {
        tune(t.tid, &p.checker, "checker");
    }
    let default = |s: &str| p.process_names.then(|| s.to_string());
    if let Some(tid) = vrrp_tid
        && let Some(n) = p
            .vrrp
            .process_name
            .clone()
            .or_else(|| default("keepalived_vrrp"))
    {
        set_comm(tid, &n);
    }
    if let Some(n) = p
        .checker
        .process_name
        .clone()
        .or_else(|| default("keepalived_ipvs"))
    {
        for t in others.iter().filter(|t| t.tid != pid) {
            set_comm(t.tid, &n);
        }
    }
    if let Some(n) = p.process_name.clone().or_else(|| default("keepalived")) {
        set_comm(pid, &n);
    }
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// nice, SCHED_RR and CPU set of one thread.
fn tune(tid: i32, t: &ThreadTuning, who: &str) {
    if let Some(n) = t.nice {
        // SAFETY: plain syscall on a thread id of this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, n) } != 0 {
            tracing::warn!("{who}_priority {n}: {}", std::io::Error::last_os_error());
        }
    }
    if let Some(rt) = t.rt_priority {
        let param = libc::sched_param {
            sched_priority: i32::from(rt),
        };
        // SAFETY: plain syscall on a thread id with a valid parameter struct.
        let r = unsafe {
            libc::sched_setscheduler(tid, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param)
        };
        if r != 0 {
            tracing::warn!(
                "{who}_rt_priority {rt}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if !t.cpu_affinity.is_empty() {
        let mut set = nix::sched::CpuSet::new();
        for &c in &t.cpu_affinity {
            if set.set(c).is_err() {
                tracing::warn!("{who}_cpu_affinity: CPU {c} is out of range");
            }
        }
        if let Err(e) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set) {
            tracing::warn!("{who}_cpu_affinity {:?}: {e}", t.cpu_affinity);
        }
    }
    if t.nice.is_some() || t.rt_priority.is_some() || !t.cpu_affinity.is_empty() {
        tracing::info!(
            tid,
            nice = ?t.nice,
            rt_priority = ?t.rt_priority,
            cpus = ?t.cpu_affinity,
            "{who} thread tuned"
        );
    }
}

/// A thread's name (at most 15 bytes, as the kernel keeps it).
fn set_comm(tid: i32, name: &str) {
    let mut n = name.to_string();
    while n.len() > 15 {
        n.pop();
    }
    let path = format!("/proc/self/task/{tid}/comm");
    if let Err(e) = std::fs::write(&path, &n) {
        tracing::warn!("process name {name}: {e}");
    }
}
