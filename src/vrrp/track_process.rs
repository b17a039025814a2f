//! `vrrp_track_process`: whether enough matching processes run, event-driven.
//!
//! At start the task reads /proc once (as keepalived does); from then on the kernel's
//! process connector ([`super::cn_proc`]) says when a process forks, execs, renames itself or
//! exits, and only that process's `comm` (and `cmdline`, when a tracker needs arguments) is
//! read. [`Table`] is the pure part: matching, counting per tracker and the fork/terminate
//! delays, with the time passed in. Its verdicts go out on one `watch` per tracker, which the
//! instances track like a script's (weight, reverse, or FAULT with weight 0).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::cn_proc::{Listener, ProcEvent, Received};

/// How parameters match (see `param_match` in keepalived.conf(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ParamMatch {
    #[default]
    Exact,
    Partial,
    Initial,
}

/// One `vrrp_track_process` block, as the runtime uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub name: String,
    pub process: String,
    pub params: Vec<String>,
    pub param_match: Option<ParamMatch>,
    pub full_command: bool,
    pub quorum: u32,
    pub quorum_max: u32,
    pub fork_delay: Duration,
    pub terminate_delay: Duration,
}

/// What is known of one process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcInfo {
    /// `/proc/PID/comm` (at most 15 bytes).
    pub comm: String,
    /// `/proc/PID/cmdline`, split at NULs (read only when some tracker needs it).
    pub argv: Vec<String>,
}

impl ProcessConfig {
    /// Arguments are compared with parameters, `param_match` or `full_command`; otherwise
    /// the process name (`comm`), exactly (as `pgrep '^name$'`).
    fn needs_argv(&self) -> bool {
        self.full_command || !self.params.is_empty() || self.param_match.is_some()
    }

    pub fn matches(&self, p: &ProcInfo) -> bool {
        if !self.needs_argv() {
            // The kernel keeps 15 bytes of the name.
            let want = truncate(&self.process, 15);
            return !p.comm.is_empty() && p.comm == want;
        }
        let Some((cmd, args)) = p.argv.split_first() else {
            return false;
        };
        if *cmd != self.process {
            return false;
        }
        if self.params.is_empty() && self.param_match.is_none() {
            // full_command without parameters: the program only.
            return true;
        }
        let want = &self.params;
        match self.param_match.unwrap_or_default() {
            ParamMatch::Exact => args == want.as_slice(),
            ParamMatch::Partial => args.len() >= want.len() && args[..want.len()] == want[..],
            ParamMatch::Initial => match (want.split_last(), args.split_last()) {
                (None, None) => true,
                (Some((wl, wr)), Some((al, ar))) => ar == wr && al.starts_with(wl.as_str()),
                _ => false,
            },
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One tracker's count and debounced verdict.
#[derive(Debug, Clone)]
struct Count {
    pids: HashSet<u32>,
    reported: bool,
    /// The raw verdict waiting out its delay.
    pending: Option<(bool, Instant)>,
}

/// The pure part: which processes match which tracker, and the reported verdicts.
#[derive(Debug, Clone)]
pub struct Table {
    specs: Vec<ProcessConfig>,
    counts: Vec<Count>,
}

impl Table {
    pub fn new(specs: Vec<ProcessConfig>) -> Table {
        let counts = specs
            .iter()
            .map(|_| Count {
                pids: HashSet::new(),
                reported: false,
                pending: None,
            })
            .collect();
        Table { specs, counts }
    }

    pub fn needs_argv(&self) -> bool {
        self.specs.iter().any(ProcessConfig::needs_argv)
    }

    /// The verdicts reported now, per tracker (in configuration order).
    pub fn verdicts(&self) -> Vec<bool> {
        self.counts.iter().map(|c| c.reported).collect()
    }

    fn raw(&self, i: usize) -> bool {
        let n = self.counts[i].pids.len() as u32;
        n >= self.specs[i].quorum && n <= self.specs[i].quorum_max
    }

    /// The full process list (start, or after lost events): verdicts are taken as they are,
    /// with no delay.
    pub fn rescan(&mut self, procs: &[(u32, ProcInfo)]) {
        for (i, spec) in self.specs.iter().enumerate() {
            let c = &mut self.counts[i];
            c.pids = procs
                .iter()
                .filter(|(_, p)| spec.matches(p))
                .map(|(pid, _)| *pid)
                .collect();
            c.pending = None;
        }
        for i in 0..self.counts.len() {
            self.counts[i].reported = self.raw(i);
        }
    }

    /// `pid` runs (a new program, or a new name): counted where it matches now.
    pub fn update(&mut self, now: Instant, pid: u32, p: &ProcInfo) {
        for i in 0..self.specs.len() {
            let m = self.specs[i].matches(p);
            let c = &mut self.counts[i];
            let changed = if m {
                c.pids.insert(pid)
            } else {
                c.pids.remove(&pid)
            };
            if changed {
                self.settle(now, i);
            }
        }
    }

    /// A fork: the child runs its parent's program, so it counts where the parent does.
    pub fn fork(&mut self, now: Instant, parent: u32, child: u32) {
        for i in 0..self.specs.len() {
            if self.counts[i].pids.contains(&parent) && self.counts[i].pids.insert(child) {
                self.settle(now, i);
            }
        }
    }

    pub fn exit(&mut self, now: Instant, pid: u32) {
        for i in 0..self.specs.len() {
            if self.counts[i].pids.remove(&pid) {
                self.settle(now, i);
            }
        }
    }

    /// A change of the raw verdict waits out `fork_delay` (becoming true) or
    /// `terminate_delay` (becoming false); back to the reported value cancels it.
    fn settle(&mut self, now: Instant, i: usize) {
        let raw = self.raw(i);
        let spec = &self.specs[i];
        let c = &mut self.counts[i];
        if raw == c.reported {
            c.pending = None;
            return;
        }
        if c.pending.is_some_and(|(v, _)| v == raw) {
            return;
        }
        let delay = if raw {
            spec.fork_delay
        } else {
            spec.terminate_delay
        };
        if delay.is_zero() {
            c.reported = raw;
            c.pending = None;
        } else {
            c.pending = Some((raw, now + delay));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.counts
            .iter()
            .filter_map(|c| c.pending.map(|p| p.1))
            .min()
    }

    /// Applies the delays that ran out by `now`.
    pub fn tick(&mut self, now: Instant) {
        for c in &mut self.counts {
            if let Some((v, at)) = c.pending
                && at <= now
            {
                c.reported = v;
                c.pending = None;
            }
        }
    }
}

/// `/proc/PID/comm` and, when asked, `cmdline`; None for a process gone or a zombie (its
/// cmdline is empty; keepalived does not count zombies either) or a kernel thread.
pub fn read_proc(pid: u32, argv: bool) -> Option<ProcInfo> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    let argv = if argv {
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .skip_while(String::is_empty)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    } else {
        Vec::new()
    };
    Some(ProcInfo {
        comm: comm.trim_end_matches('\n').to_string(),
        argv,
    })
}

/// Every running process (the start-up scan).
pub fn scan_proc(argv: bool) -> Vec<(u32, ProcInfo)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_proc(pid, argv)?)))
        .collect()
}

/// Follows every tracker of `specs`, publishing each verdict on its watch (None until the
/// first scan). Ends when every receiver is gone. Without the connector (no permission, a
/// kernel without CONFIG_PROC_EVENTS), it says so and falls back to rescanning /proc each
/// second.
pub async fn process_task(
    specs: Vec<ProcessConfig>,
    txs: Vec<std::sync::Arc<watch::Sender<Option<bool>>>>,
) {
    let mut table = Table::new(specs);
    let argv = table.needs_argv();
    // Subscribe before the scan, so a process started in between is not missed.
    let mut listener = match Listener::open().await {
        Ok((l, ns)) => {
            tracing::info!(
                "vrrp_track_process: following process events from the kernel's process connector (opened in {ns} network namespace)"
            );
            Some(l)
        }
        Err(e) => {
            tracing::error!(
                "vrrp_track_process: the kernel's process connector is unavailable ({e}); polling /proc every second instead"
            );
            None
        }
    };
    table.rescan(&scan_proc(argv));
    publish(&table, &txs);
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        if txs.iter().all(|t| t.is_closed()) {
            return;
        }
        let deadline = table.next_deadline();
        tokio::select! {
            r = async { listener.as_mut()?.next().await.ok() }, if listener.is_some() => {
                let now = Instant::now();
                match r {
                    Some(Received::Events(evs)) => {
                        for e in evs {
                            apply(&mut table, now, e, argv);
                        }
                    }
                    Some(Received::Overrun) => {
                        tracing::warn!("vrrp_track_process: process events were lost; rescanning /proc");
                        table.rescan(&scan_proc(argv));
                    }
                    None => {
                        tracing::error!("vrrp_track_process: the process connector failed; polling /proc every second instead");
                        listener = None;
                    }
                }
            }
            _ = poll.tick(), if listener.is_none() => table.rescan(&scan_proc(argv)),
            _ = sleep_opt(deadline) => table.tick(Instant::now()),
        }
        publish(&table, &txs);
    }
}

fn apply(table: &mut Table, now: Instant, e: ProcEvent, argv: bool) {
    match e {
        ProcEvent::Fork { parent, child } => table.fork(now, parent, child),
        ProcEvent::Exec { pid } | ProcEvent::Comm { pid } => match read_proc(pid, argv) {
            Some(p) => table.update(now, pid, &p),
            None => table.exit(now, pid),
        },
        ProcEvent::Exit { pid } => table.exit(now, pid),
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

fn publish(table: &Table, txs: &[std::sync::Arc<watch::Sender<Option<bool>>>]) {
    for (tx, ok) in txs.iter().zip(table.verdicts()) {
        tx.send_if_modified(|cur| {
            let changed = *cur != Some(ok);
            *cur = Some(ok);
            changed
        });
    }
}

/// The verdict channels of a set of trackers, by name.
pub type Verdicts = HashMap<String, watch::Receiver<Option<bool>>>;

#[cfg(test)]
mod tests;
