//! keepalived's notify FIFOs: `notify_fifo` (every event), `vrrp_notify_fifo` (VRRP) and
//! `lvs_notify_fifo` (checkers), each with an optional `*_fifo_script` that lvsd starts with
//! the FIFO's name as its last parameter, so it can read the events.
//!
//! Lines, as keepalived 2.2.7 writes them (read back from its FIFO in a namespace):
//! `INSTANCE "VI_1" MASTER 100`, `GROUP "G1" BACKUP 0`, `INSTANCE "VI_1" STOP 100` at stop
//! (the priority the instance had), `VS [10.0.0.1]:tcp:80 UP` (also for every virtual server
//! at start-up), `VS FWM 7 DOWN`, `RS [192.168.1.1]:tcp:80 [10.0.0.1]:tcp:80 DOWN`,
//! `RS [192.168.1.1]:none:0 FWM 7 UP`, `RS [::1]:udp:53 [fd00::10]:udp:53 UP` (the LVS lines
//! read back from keepalived's FIFO in the IPVS VM); each ends with a newline.
//!
//! The FIFO is created (mode 0600, owned by the `USER [GROUP]` given after its name) when it
//! does not exist and removed at stop when lvsd created it; an existing FIFO is used as it
//! is; anything else at the path (a file, a symlink) is refused. It is opened read-write and
//! non-blocking, as keepalived opens it, so lvsd never waits for a reader to appear.
//!
//! Contracts:
//! - Producers (the VRRP instance loop, the director) never block: a line goes into a
//!   bounded queue ([`QUEUE`] lines per FIFO) that one writer thread per FIFO drains. A reader
//!   that stalls fills the pipe, then the queue; further lines are dropped and counted
//!   ([`stats`]), with a warning on the first drop and every 1000th.
//! - Ordered: one queue and one writer per FIFO, so lines come out in the order produced.
//! - Across reloads: a FIFO whose path, owner and script are unchanged stays open and its
//!   script keeps running, so nothing is lost or repeated (keepalived closes, removes and
//!   re-creates the FIFO and restarts the script at every reload, losing what the script had
//!   not read). A FIFO that changed is flushed and closed, its script gets SIGTERM, then the
//!   new one opens and its script starts.
//! - Stop ([`shutdown`]): after the instances wrote their STOP lines, each queue is flushed
//!   (at most [`FLUSH`]), then the script gets SIGTERM and the FIFO is removed if lvsd made
//!   it. keepalived sends SIGTERM first and the STOP lines after; lvsd's order lets a script
//!   that exits on SIGTERM still see them.
//! - `fifo_write_vrrp_states_on_reload`: after a good reload, every instance's (and sync
//!   group's) current state is written again ([`write_states`]). keepalived 2.2.7 documents
//!   this but, in the same namespace test, wrote nothing at reload.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use checkers::{Script, ScriptUser};
use serde::Serialize;

use crate::config::model as m;
use crate::scripts::Scripts;

/// Lines waiting per FIFO before new ones are dropped.
pub const QUEUE: usize = 4096;
/// How long a closing FIFO may take to flush its queue to a slow reader.
pub const FLUSH: Duration = Duration::from_secs(1);

/// Which events a FIFO receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Kinds {
    vrrp: bool,
    lvs: bool,
}

/// What identifies an open FIFO across reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    path: PathBuf,
    owner: Option<ScriptUser>,
    script: Option<Script>,
}

/// Counters of one FIFO, for `/status` and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FifoStats {
    pub path: PathBuf,
    /// Lines written to the FIFO.
    pub written: u64,
    /// Lines dropped because the reader did not keep up (queue full, or not flushed at stop).
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    /// Set when closing: the writer gives up on a stalled reader after this.
    closing_deadline: Mutex<Option<Instant>>,
}

impl Counters {
    fn deadline(&self) -> Option<Instant> {
        *self
            .closing_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open FIFO: its queue, writer thread and script.
struct Sink {
    key: Key,
    kinds: Kinds,
    tx: SyncSender<String>,
    counters: Arc<Counters>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The FIFO's inode when lvsd created it (removed at close only if still that FIFO).
    created: Option<(u64, u64)>,
    script: Mutex<Option<ScriptProc>>,
}

struct ScriptProc {
    pid: nix::unistd::Pid,
    exited: Arc<AtomicBool>,
}

static SINKS: RwLock<Vec<Arc<Sink>>> = RwLock::new(Vec::new());

fn sinks() -> Vec<Arc<Sink>> {
    SINKS.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A VRRP state line (`kind` is `INSTANCE` or `GROUP`), to the VRRP FIFOs.
pub fn vrrp(kind: &str, name: &str, state: &str, priority: u8) {
    let line = format!("{kind} \"{name}\" {state} {priority}\n");
    emit(|k| k.vrrp, &line);
}

/// A virtual server's quorum went up or down (`VS [addr]:proto:port UP`).
pub fn lvs_vs(services: &[ipvs::Service], up: bool) {
    let Some(vs) = services.first() else { return };
    let line = format!("VS {} {}\n", vs_name(&vs.key), up_down(up));
    emit(|k| k.lvs, &line);
}

/// A real server went up or down (`RS [addr]:proto:port [vs] UP`).
pub fn lvs_rs(services: &[ipvs::Service], rs: &ipvs::Dest, up: bool) {
    let Some(vs) = services.first() else { return };
    let line = format!(
        "RS {} {} {}\n",
        rs_name(&vs.key, rs),
        vs_name(&vs.key),
        up_down(up)
    );
    emit(|k| k.lvs, &line);
}

fn up_down(up: bool) -> &'static str {
    if up { "UP" } else { "DOWN" }
}

fn proto(p: ipvs::Protocol) -> String {
    match p {
        ipvs::Protocol::Tcp => "tcp".into(),
        ipvs::Protocol::Udp => "udp".into(),
        ipvs::Protocol::Sctp => "sctp".into(),
        ipvs::Protocol::Other(n) => n.to_string(),
        p => p.number().to_string(),
    }
}

/// keepalived's name of a virtual server: `[addr]:proto:port`, `FWM mark` for a fwmark (as
/// keepalived 2.2.7 wrote them in the IPVS VM).
pub fn vs_name(key: &ipvs::ServiceKey) -> String {
    match key {
        ipvs::ServiceKey::Inet {
            addr,
            protocol,
            port,
        } => format!("[{addr}]:{}:{port}", proto(*protocol)),
        ipvs::ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

/// keepalived's name of a real server: its address and port with the service's protocol
/// (`none:0` under a fwmark service).
pub fn rs_name(vs: &ipvs::ServiceKey, rs: &ipvs::Dest) -> String {
    match vs {
        ipvs::ServiceKey::Inet { protocol, .. } => {
            format!("[{}]:{}:{}", rs.addr, proto(*protocol), rs.port)
        }
        // keepalived clears a fwmark real server's port ("has port specified - clearing").
        ipvs::ServiceKey::Fwmark { .. } => format!("[{}]:none:0", rs.addr),
    }
}

fn emit(wants: impl Fn(Kinds) -> bool, line: &str) {
    for s in sinks().iter().filter(|s| wants(s.kinds)) {
        match s.tx.try_send(line.to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = s.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(
                        fifo = %s.key.path.display(),
                        dropped = n,
                        "notify FIFO reader is not keeping up: line dropped"
                    );
                }
            }
        }
    }
}

/// Counters of every open FIFO.
pub fn stats() -> Vec<FifoStats> {
    sinks()
        .iter()
        .map(|s| FifoStats {
            path: s.key.path.clone(),
            written: s.counters.written.load(Ordering::Relaxed),
            dropped: s.counters.dropped.load(Ordering::Relaxed),
        })
        .collect()
}

/// The FIFOs a configuration asks for, merged by path (a path named twice gets both kinds).
fn wanted(g: &m::GlobalDefs, scripts: &Scripts) -> Vec<(Key, Kinds)> {
    let all = [
        (
            &g.notify_fifo,
            Kinds {
                vrrp: true,
                lvs: true,
            },
        ),
        (
            &g.vrrp_notify_fifo,
            Kinds {
                vrrp: true,
                lvs: false,
            },
        ),
        (
            &g.lvs_notify_fifo,
            Kinds {
                vrrp: false,
                lvs: true,
            },
        ),
    ];
    let mut out: Vec<(Key, Kinds)> = Vec::new();
    for (fifo, kinds) in all {
        let Some(f) = fifo else { continue };
        let owner = match &f.user {
            None => None,
            Some(u) => match crate::scripts::lookup(&u.user, u.group.as_deref()) {
                Ok(u) => Some(u),
                Err(e) => {
                    tracing::error!(fifo = %f.path.display(), "FIFO owner: {e}; FIFO not opened");
                    continue;
                }
            },
        };
        // A refused script (security, missing) is absent: the FIFO still opens.
        let script = f.script.as_ref().and_then(|s| scripts.get(s)).cloned();
        if let Some((_, k)) = out.iter_mut().find(|(k, _)| k.path == f.path) {
            k.vrrp |= kinds.vrrp;
            k.lvs |= kinds.lvs;
            continue;
        }
        out.push((
            Key {
                path: f.path.clone(),
                owner,
                script,
            },
            kinds,
        ));
    }
    out
}

/// Opens the FIFOs of a configuration that loaded (start-up and every good reload): unchanged
/// ones stay as they are, changed ones are closed and re-opened, removed ones closed.
pub fn configure(g: &m::GlobalDefs, scripts: &Scripts) {
    let want = wanted(g, scripts);
    let old = sinks();
    let mut next: Vec<Arc<Sink>> = Vec::new();
    let mut reopen: Vec<(Key, Kinds)> = Vec::new();
    for (key, kinds) in want {
        match old.iter().find(|s| s.key == key && s.kinds == kinds) {
            Some(s) => next.push(s.clone()),
            None => reopen.push((key, kinds)),
        }
    }
    let gone: Vec<Arc<Sink>> = old
        .iter()
        .filter(|s| !next.iter().any(|n| Arc::ptr_eq(n, s)))
        .cloned()
        .collect();
    // Closed before the new ones open: a path kept with another script or owner is
    // re-created cleanly.
    for s in &gone {
        s.close(Instant::now() + FLUSH);
    }
    for (key, kinds) in reopen {
        match Sink::open(key.clone(), kinds) {
            Ok(s) => next.push(Arc::new(s)),
            Err(e) => tracing::error!(
                fifo = %key.path.display(),
                "cannot open notify FIFO: {e}; nothing is written to it"
            ),
        }
    }
    *SINKS.write().unwrap_or_else(PoisonError::into_inner) = next;
}

/// At stop: flushes and closes every FIFO (see the module doc for the order).
pub fn shutdown() {
    let all = std::mem::take(&mut *SINKS.write().unwrap_or_else(PoisonError::into_inner));
    let deadline = Instant::now() + FLUSH;
    for s in &all {
        s.close(deadline);
    }
}

/// `fifo_write_vrrp_states_on_reload`: the current state of every instance, then of every
/// sync group (a group's state is its members').
pub fn write_states(
    instances: &[crate::status::VrrpInstanceStatus],
    groups: &[(String, Vec<String>)],
) {
    use crate::status::VrrpState;
    let word = |s: &VrrpState| match s {
        VrrpState::Master => "MASTER",
        VrrpState::Backup => "BACKUP",
        VrrpState::Fault => "FAULT",
        _ => "STOP",
    };
    for i in instances {
        vrrp("INSTANCE", &i.name, word(&i.state), i.effective_priority);
    }
    for (g, members) in groups {
        if let Some(i) = instances.iter().find(|i| members.contains(&i.name)) {
            vrrp("GROUP", g, word(&i.state), 0);
        }
    }
}

impl Sink {
    fn open(key: Key, kinds: Kinds) -> std::io::Result<Sink> {
        let created = make_fifo(&key.path, key.owner)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&key.path)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_fifo() {
            return Err(std::io::Error::other("not a FIFO"));
        }
        let (tx, rx) = sync_channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let path = key.path.clone();
        let writer = std::thread::Builder::new()
            .name("lvsd-fifo".into())
            .spawn(move || write_loop(file, rx, &c, &path))?;
        let script = key.script.as_ref().and_then(|s| start_script(s, &key.path));
        tracing::info!(fifo = %key.path.display(), script = ?key.script.as_ref().map(Script::display), "notify FIFO open");
        Ok(Sink {
            created: created.then_some((meta.dev(), meta.ino())),
            kinds,
            tx,
            counters,
            writer: Mutex::new(Some(writer)),
            script: Mutex::new(script),
            key,
        })
    }

    /// Flushes (until `deadline`), stops the script, removes the FIFO if lvsd made it.
    fn close(&self, deadline: Instant) {
        *self
            .counters
            .closing_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        if let Some(w) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = w.join();
        }
        if let Some(p) = self
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            && !p.exited.load(Ordering::Relaxed)
        {
            let _ = nix::sys::signal::kill(p.pid, nix::sys::signal::Signal::SIGTERM);
        }
        if let Some((dev, ino)) = self.created
            && std::fs::symlink_metadata(&self.key.path)
                .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
        {
            let _ = std::fs::remove_file(&self.key.path);
        }
    }
}

/// Creates the FIFO when absent (true: lvsd made it); an existing FIFO is fine, anything
/// else (a file, a directory, a symlink) is refused.
fn make_fifo(path: &Path, owner: Option<ScriptUser>) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(false),
        Ok(_) => {
            return Err(std::io::Error::other(
                "the path exists and is not a FIFO (lvsd does not replace it)",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(std::io::Error::from)?;
    if let Some(o) = owner {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            path,
            Some(o.uid),
            Some(o.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(std::io::Error::from)?;
    }
    Ok(true)
}

/// The FIFO's script, started with the FIFO's name as its last parameter (keepalived's
/// calling convention), through the one script runner. Its exit is logged.
fn start_script(script: &Script, fifo: &Path) -> Option<ScriptProc> {
    let mut s = script.clone();
    s.argv.push(fifo.display().to_string());
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let _rt = handle.enter();
    match checkers::spawn_detached(&s) {
        Ok(mut child) => {
            let pid = child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .map(nix::unistd::Pid::from_raw)?;
            let exited = Arc::new(AtomicBool::new(false));
            let e = exited.clone();
            let what = s.display();
            handle.spawn(async move {
                let st = child.wait().await;
                e.store(true, Ordering::Relaxed);
                tracing::info!(script = %what, status = ?st, "notify FIFO script ended");
            });
            Some(ScriptProc { pid, exited })
        }
        Err(e) => {
            tracing::warn!(script = %s.display(), "cannot run notify FIFO script: {e}");
            None
        }
    }
}

/// The writer thread: lines in order; waits for room while the reader is slow; once closing
/// (a deadline is set), ends when the queue is empty, giving up on a stalled reader at the
/// deadline.
fn write_loop(mut file: File, rx: Receiver<String>, c: &Counters, path: &Path) {
    loop {
        let line = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) if c.deadline().is_some() => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if write_line(&mut file, line.as_bytes(), c) {
            c.written.fetch_add(1, Ordering::Relaxed);
        } else {
            // Given up (deadline or error): this line and the rest are dropped.
            let rest = 1 + rx.try_iter().count() as u64;
            c.dropped.fetch_add(rest, Ordering::Relaxed);
            tracing::warn!(fifo = %path.display(), dropped = rest, "notify FIFO closed with lines unread");
            return;
        }
    }
}

/// One line (shorter than PIPE_BUF, so written whole or not at all); false when given up.
fn write_line(file: &mut File, buf: &[u8], c: &Counters) -> bool {
    loop {
        match file.write(buf) {
            Ok(_) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if c.deadline().is_some_and(|d| Instant::now() >= d) {
                    return false;
                }
                let mut pfd = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for an open descriptor, a bounded timeout.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            Err(e) => {
                tracing::warn!("notify FIFO write failed: {e}");
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(addr: &str, port: u16) -> ipvs::ServiceKey {
        ipvs::ServiceKey::Inet {
            addr: addr.parse().unwrap(),
            protocol: ipvs::Protocol::Tcp,
            port,
        }
    }

    /// A reader that stalls: producers never wait, the overflow is counted, and what the
    /// reader gets is in order, with no line cut.
    #[test]
    fn stalled_reader_drops_are_counted_and_order_kept() {
        // The FIFO sinks are process-wide and other unit tests (VRRP runtimes) write to
        // them: run alone, in a child process of this test binary.
        if std::env::var_os("LVSD_FIFO_UNIT_CHILD").is_none() {
            let name = "fifo::tests::stalled_reader_drops_are_counted_and_order_kept";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1", "--nocapture"])
                .env("LVSD_FIFO_UNIT_CHILD", "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let dir = std::env::temp_dir().join(format!("lvsd-fifo-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let g = m::GlobalDefs {
            vrrp_notify_fifo: Some(m::NotifyFifo {
                path: path.clone(),
                user: None,
                script: None,
            }),
            ..m::GlobalDefs::default()
        };
        configure(&g, &Scripts::default());
        let n = 20_000u32;
        let t0 = Instant::now();
        for i in 0..n {
            vrrp("INSTANCE", &format!("VI_{i}"), "MASTER", 100);
        }
        // 20k lines of ~28 bytes: more than the pipe (64 KiB) and the queue together.
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        std::thread::sleep(Duration::from_millis(200));
        let st = stats();
        assert_eq!(st.len(), 1);
        assert!(st[0].dropped > 0, "{st:?}");
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            match std::io::Read::read(&mut f, &mut buf) {
                Ok(k) if k > 0 => got.extend_from_slice(&buf[..k]),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let text = String::from_utf8(got).unwrap();
        let ids: Vec<u32> = text
            .lines()
            .map(|l| {
                assert!(
                    l.starts_with("INSTANCE \"VI_") && l.ends_with("\" MASTER 100"),
                    "{l}"
                );
                let id = l
                    .strip_prefix("INSTANCE \"VI_")
                    .and_then(|r| r.strip_suffix("\" MASTER 100"));
                id.and_then(|i| i.parse().ok())
                    .unwrap_or_else(|| panic!("{l:?}"))
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order");
        assert_eq!(ids[0], 0);
        let st = stats();
        assert_eq!(st[0].written + st[0].dropped, u64::from(n), "{st:?}");
        assert_eq!(st[0].written as usize, ids.len());
        shutdown();
        assert!(!path.exists(), "the FIFO lvsd made is removed at shutdown");
    }

    #[test]
    fn names_like_keepalived() {
        assert_eq!(vs_name(&svc("10.0.0.1", 80)), "[10.0.0.1]:tcp:80");
        assert_eq!(vs_name(&svc("fd00::1", 443)), "[fd00::1]:tcp:443");
        let fwm = ipvs::ServiceKey::Fwmark {
            af: ipvs::Af::Inet,
            mark: 7,
        };
        assert_eq!(vs_name(&fwm), "FWM 7");
    }
}
