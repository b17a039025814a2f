//! Operator state: drain, disable and enable of a real server or of a whole virtual server.
//!
//! The state is plain data ([`OperatorState`]) on a watch ([`OperatorStore`], in the
//! [`StatusHub`](crate::status::StatusHub)): control requests change it, the director reads it
//! as an input of the pure desired-state function (via [`admin_snapshot`]) exactly like health,
//! so it is level-triggered: whatever the state says is what the kernel converges to, after a
//! reload, a restart or an `ipvsadm -C`. The director persists every change to
//! `STATE_DIR/operator.json` (written to a temporary file, synced, renamed), and loads it at
//! start: a drained or disabled server stays so across reloads and restarts.
//!
//! A drain ([`Mode::Draining`]) sets the weight to 0 (established connections live on, new
//! ones go elsewhere); the director watches the kernel's active-connection counters of that
//! destination and, once they reach 0 (with the kernel already at weight 0) or the deadline
//! passes, turns it into [`Mode::Drained`]: out of the table. `enable` removes the operator
//! hold and records when, for slow start.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::desired::{Admin, AdminMode, AdminSnapshot, RsId};
use super::spec::DirectorSpec;
use super::writer::Conns;

/// File name under the state directory.
pub const FILE: &str = "operator.json";
/// Default state directory (`--state-dir`).
pub const DEFAULT_DIR: &str = "/var/lib/lvsd";
/// Drain timeout when none is given.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What the operator set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// Weight 0 until the active connections reach 0 or the deadline (Unix ms).
    Draining { deadline_unix_ms: u64 },
    /// A drain finished: out of the table.
    Drained,
    /// Out of the table at once.
    Disabled,
    /// Back in (recorded for slow start).
    Enabled,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Draining { .. } => "draining",
            Mode::Drained => "drained",
            Mode::Disabled => "disabled",
            Mode::Enabled => "enabled",
        }
    }
    fn admin(self) -> AdminMode {
        match self {
            Mode::Draining { .. } => AdminMode::Drain,
            Mode::Drained | Mode::Disabled => AdminMode::Out,
            Mode::Enabled => AdminMode::Normal,
        }
    }
}

/// One hold, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub mode: Mode,
    pub since_unix_ms: u64,
}

/// Operator state of the whole daemon, as persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    /// Whole virtual servers, by display key ("TCP 10.0.0.1:80").
    #[serde(default)]
    pub virtual_servers: BTreeMap<String, Entry>,
    /// Real servers, by virtual server key then address.
    #[serde(default)]
    pub real_servers: BTreeMap<String, BTreeMap<SocketAddr, Entry>>,
}

impl OperatorState {
    /// The entry for a virtual server (`rs: None`) or a real server.
    pub fn get(&self, vs: &str, rs: Option<SocketAddr>) -> Option<&Entry> {
        match rs {
            None => self.virtual_servers.get(vs),
            Some(a) => self.real_servers.get(vs)?.get(&a),
        }
    }

    fn set(&mut self, vs: &str, rs: Option<SocketAddr>, e: Entry) {
        match rs {
            None => {
                self.virtual_servers.insert(vs.to_string(), e);
            }
            Some(a) => {
                self.real_servers
                    .entry(vs.to_string())
                    .or_default()
                    .insert(a, e);
            }
        }
    }

    /// The effective mode of a real server: the stronger of its own and its virtual server's
    /// (out over drain over normal), and when it last came back.
    pub fn effective(&self, id: &RsId) -> Admin {
        let entries = [self.get(&id.vs, None), self.get(&id.vs, Some(id.addr))];
        let mut admin = Admin::default();
        for e in entries.into_iter().flatten() {
            let m = e.mode.admin();
            if rank(m) > rank(admin.mode) {
                admin.mode = m;
            }
            if e.mode == Mode::Enabled {
                admin.back_since_ms = admin.back_since_ms.max(Some(e.since_unix_ms));
            }
        }
        admin
    }

    /// Every drain in progress: (virtual server, real server or None for all of it, deadline).
    pub fn drains(&self) -> Vec<(String, Option<SocketAddr>, u64)> {
        let mut out = Vec::new();
        for (vs, e) in &self.virtual_servers {
            if let Mode::Draining { deadline_unix_ms } = e.mode {
                out.push((vs.clone(), None, deadline_unix_ms));
            }
        }
        for (vs, m) in &self.real_servers {
            for (a, e) in m {
                if let Mode::Draining { deadline_unix_ms } = e.mode {
                    out.push((vs.clone(), Some(*a), deadline_unix_ms));
                }
            }
        }
        out
    }
}

fn rank(m: AdminMode) -> u8 {
    match m {
        AdminMode::Normal => 0,
        AdminMode::Drain => 1,
        AdminMode::Out => 2,
    }
}

/// The pure core's operator input for every real server of `spec`.
pub fn admin_snapshot(state: &OperatorState, spec: &DirectorSpec) -> AdminSnapshot {
    let mut out = AdminSnapshot::new();
    for vs in &spec.virtual_servers {
        for rs in &vs.core.real_servers {
            let id = RsId {
                vs: vs.core.id.clone(),
                addr: rs.addr,
            };
            let a = state.effective(&id);
            if a != Admin::default() {
                out.insert(id, a);
            }
        }
    }
    out
}

/// What a control request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Drain { timeout: Duration },
    Disable,
    Enable,
}

/// Finds the virtual server a user named: its exact key ("TCP 10.0.0.1:80"), or an unambiguous
/// suffix of it ("10.0.0.1:80", "FWM 1", "group web" — case-insensitive).
pub fn resolve_vs<'a>(keys: impl Iterator<Item = &'a str>, name: &str) -> Result<String, String> {
    let keys: Vec<&str> = keys.collect();
    if keys.contains(&name) {
        return Ok(name.to_string());
    }
    let lower = name.to_ascii_lowercase();
    let hits: Vec<&&str> = keys
        .iter()
        .filter(|k| {
            let k = k.to_ascii_lowercase();
            k == lower || k.ends_with(&format!(" {lower}"))
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(format!(
            "no virtual server `{name}` (known: {})",
            keys.join(", ")
        )),
        many => Err(format!(
            "`{name}` names several virtual servers: {}",
            many.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Applies a command to the state (already resolved to a configured virtual / real server);
/// returns what happened, without the server's name.
pub fn apply(
    state: &mut OperatorState,
    vs: &str,
    rs: Option<SocketAddr>,
    cmd: &Command,
    now_ms: u64,
) -> String {
    let mode = match cmd {
        Command::Drain { timeout } => {
            // Draining again keeps the first deadline unless the new one is later.
            let deadline = now_ms.saturating_add(timeout.as_millis() as u64);
            match state.get(vs, rs).map(|e| e.mode) {
                Some(Mode::Draining { deadline_unix_ms }) => Mode::Draining {
                    deadline_unix_ms: deadline_unix_ms.max(deadline),
                },
                Some(Mode::Drained) | Some(Mode::Disabled) => {
                    return "is already out".to_string();
                }
                _ => Mode::Draining {
                    deadline_unix_ms: deadline,
                },
            }
        }
        Command::Disable => Mode::Disabled,
        Command::Enable => Mode::Enabled,
    };
    state.set(
        vs,
        rs,
        Entry {
            mode,
            since_unix_ms: now_ms,
        },
    );
    match mode {
        Mode::Draining { deadline_unix_ms } => format!(
            "draining (weight 0) until its connections end, at most {} s",
            deadline_unix_ms.saturating_sub(now_ms) / 1000
        ),
        m => m.name().to_string(),
    }
}

/// Drains that are over: every destination of the drained server(s) that the desired table
/// holds shows weight 0 and no active connection in the kernel's last read (one the desired
/// table no longer holds, e.g. failed, is over), or the deadline has passed.
/// `kernel: false` (health-check-only mode): no connections exist, so every drain is over.
pub fn finished_drains(
    state: &OperatorState,
    spec: &DirectorSpec,
    desired: &ipvs::Table,
    conns: &Conns,
    kernel: bool,
    now_ms: u64,
) -> Vec<(String, Option<SocketAddr>, &'static str)> {
    let mut out = Vec::new();
    for (vs_id, rs, deadline) in state.drains() {
        let Some(vs) = spec.virtual_servers.iter().find(|v| v.core.id == vs_id) else {
            continue;
        };
        if now_ms >= deadline {
            out.push((vs_id, rs, "timeout"));
            continue;
        }
        if !kernel {
            out.push((vs_id, rs, "no kernel"));
            continue;
        }
        let idle = vs
            .core
            .real_servers
            .iter()
            .zip(&vs.real_servers)
            .filter(|(c, _)| rs.is_none_or(|a| a == c.addr))
            .all(|(_, r)| {
                vs.services.iter().all(|s| {
                    let key = (s.key, r.dest.key());
                    let wanted = desired
                        .get(&s.key)
                        .is_some_and(|e| e.dests.contains_key(&key.1));
                    !wanted
                        || conns
                            .get(&key)
                            .is_some_and(|(w, c)| *w == 0 && c.active == 0)
                })
            });
        if idle {
            out.push((vs_id, rs, "connections ended"));
        }
    }
    out
}

/// Marks finished drains as drained.
pub fn complete(state: &mut OperatorState, vs: &str, rs: Option<SocketAddr>, now_ms: u64) {
    state.set(
        vs,
        rs,
        Entry {
            mode: Mode::Drained,
            since_unix_ms: now_ms,
        },
    );
}

/// One line per hold (`# operator: TCP 10.0.0.1:80 192.168.0.2:80 drained`), for `--plan`.
pub fn describe(state: &OperatorState) -> String {
    let mut out = String::new();
    for (vs, e) in &state.virtual_servers {
        if e.mode != Mode::Enabled {
            out.push_str(&format!("# operator: {vs} {}\n", e.mode.name()));
        }
    }
    for (vs, m) in &state.real_servers {
        for (a, e) in m {
            if e.mode != Mode::Enabled {
                out.push_str(&format!("# operator: {vs} {a} {}\n", e.mode.name()));
            }
        }
    }
    out
}

/// The operator state on a watch; cheap to clone. Control requests and the director change it.
#[derive(Clone, Debug)]
pub struct OperatorStore {
    tx: Arc<watch::Sender<OperatorState>>,
}

impl Default for OperatorStore {
    fn default() -> Self {
        OperatorStore {
            tx: Arc::new(watch::channel(OperatorState::default()).0),
        }
    }
}

impl OperatorStore {
    pub fn get(&self) -> OperatorState {
        self.tx.borrow().clone()
    }
    pub fn subscribe(&self) -> watch::Receiver<OperatorState> {
        self.tx.subscribe()
    }
    /// Changes the state; subscribers see it if it changed.
    pub fn modify<R>(&self, f: impl FnOnce(&mut OperatorState) -> R) -> R {
        let mut out = None;
        self.tx.send_if_modified(|s| {
            let before = s.clone();
            out = Some(f(s));
            *s != before
        });
        // send_if_modified always runs the closure.
        out.unwrap_or_else(|| unreachable!("closure ran"))
    }
}

/// Reads `dir/operator.json`; missing is empty. Read-only (`lvsd -t --plan`).
pub fn load(dir: &Path) -> Result<OperatorState, String> {
    read(dir, false)
}

/// [`load`] for the daemon: a file that does not parse is moved aside (`operator.json.bad`)
/// and reported, so the next write does not destroy the evidence.
pub fn load_or_quarantine(dir: &Path) -> Result<OperatorState, String> {
    read(dir, true)
}

fn read(dir: &Path, quarantine: bool) -> Result<OperatorState, String> {
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OperatorState::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    // Bounded: a state file is a few KB; refuse something absurd instead of parsing it.
    if text.len() > 16 << 20 {
        return Err(format!("{}: larger than 16 MiB", path.display()));
    }
    serde_json::from_slice(&text).map_err(|e| {
        let bad = dir.join(format!("{FILE}.bad"));
        let moved = quarantine && std::fs::rename(&path, &bad).is_ok();
        format!(
            "{}: {e}{}",
            path.display(),
            if moved {
                format!(" (moved to {})", bad.display())
            } else {
                String::new()
            }
        )
    })
}

/// Writes `dir/operator.json` atomically: temporary file, fsync, rename, fsync of the directory.
pub fn save(dir: &Path, state: &OperatorState) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE);
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn effective_mode_is_the_stronger_hold_and_enable_records_the_ramp() {
        let mut st = OperatorState::default();
        let vs = "TCP 10.0.0.1:80";
        let id = RsId {
            vs: vs.into(),
            addr: a("192.168.0.2:80"),
        };
        assert_eq!(st.effective(&id), Admin::default());
        apply(
            &mut st,
            vs,
            Some(id.addr),
            &Command::Drain {
                timeout: Duration::from_secs(10),
            },
            1_000,
        );
        assert_eq!(st.effective(&id).mode, AdminMode::Drain);
        apply(&mut st, vs, None, &Command::Disable, 2_000);
        assert_eq!(st.effective(&id).mode, AdminMode::Out);
        apply(&mut st, vs, None, &Command::Enable, 3_000);
        assert_eq!(
            st.effective(&id),
            Admin {
                mode: AdminMode::Drain,
                back_since_ms: Some(3_000)
            }
        );
        complete(&mut st, vs, Some(id.addr), 4_000);
        assert_eq!(st.effective(&id).mode, AdminMode::Out);
        // Draining something already out does not bring it back to weight 0.
        let msg = apply(
            &mut st,
            vs,
            Some(id.addr),
            &Command::Drain {
                timeout: Duration::from_secs(1),
            },
            5_000,
        );
        assert!(msg.contains("already out"), "{msg}");
        assert_eq!(st.effective(&id).mode, AdminMode::Out);
    }

    #[test]
    fn persists_atomically_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("lvsd-operator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(load(&dir).unwrap(), OperatorState::default());
        let mut st = OperatorState::default();
        apply(&mut st, "FWM 1", None, &Command::Disable, 7);
        apply(
            &mut st,
            "TCP 10.0.0.1:80",
            Some(a("[2001:db8::2]:80")),
            &Command::Drain {
                timeout: Duration::from_secs(5),
            },
            9,
        );
        let path = save(&dir, &st).unwrap();
        assert_eq!(load(&dir).unwrap(), st);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"mode\": \"draining\""), "{text}");
        assert!(!dir.join(format!(".{FILE}.tmp")).exists());
        std::fs::write(&path, "{ not json").unwrap();
        let e = load(&dir).unwrap_err();
        assert!(!e.contains("moved to"), "{e}");
        let e = load_or_quarantine(&dir).unwrap_err();
        assert!(e.contains("moved to"), "{e}");
        assert_eq!(load(&dir).unwrap(), OperatorState::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn virtual_server_names_resolve_by_unambiguous_suffix() {
        let keys = ["TCP 10.0.0.1:80", "UDP 10.0.0.1:80", "TCP 10.0.0.2:443"];
        let r = |n| resolve_vs(keys.iter().copied(), n);
        assert_eq!(r("TCP 10.0.0.1:80").unwrap(), "TCP 10.0.0.1:80");
        assert_eq!(r("10.0.0.2:443").unwrap(), "TCP 10.0.0.2:443");
        assert_eq!(r("tcp 10.0.0.1:80").unwrap(), "TCP 10.0.0.1:80");
        assert!(r("10.0.0.1:80").unwrap_err().contains("several"));
        assert!(r("10.9.9.9:1").unwrap_err().contains("no virtual server"));
    }
}
