//! Every script of a configuration turned into a runnable [`checkers::Script`] (argv + uid/gid)
//! or refused, by keepalived 2.2.7's rules, once per load (start-up and every reload), before
//! any subsystem starts: nothing is looked up or walked when a script runs, and never on the
//! VRRP real-time thread.
//!
//! Rules (keepalived.conf(5), checked against the real keepalived 2.2.7):
//! - User: the script's own `user [group]` (MISC_CHECK `user`, vrrp_script `user`, the words
//!   after a notify script), else `script_user USER [GROUP]`, else `keepalived_script` when that
//!   user exists, else root — except that with `enable_script_security` a missing
//!   `keepalived_script` disables every script that names no user ("Unable to set default
//!   user"). An unknown user or group disables the script.
//! - The program must exist (a name without `/` is searched in the usual bin directories) and
//!   be executable by that user; otherwise the script is disabled (with or without security).
//! - `enable_script_security`, for a script run with uid 0 or gid 0: the program's real path
//!   (symlinks resolved) and every directory above it must be owned by root, not group-writable
//!   unless the group is root, and not world-writable (a sticky directory such as /tmp may be).
//!   Otherwise the script is disabled ("Unsafe permissions found for script"). A script run as
//!   an unprivileged user and group is not walked, as keepalived does not.
//! - Without `enable_script_security`, any script that will run earns keepalived's
//!   "SECURITY VIOLATION" warning (`-t` exit 6).
//!
//! What "disabled" means per kind is keepalived's: a vrrp_script's tracker is removed from the
//! instances tracking it (they run as if untracked), a MISC_CHECK is removed from its real
//! server, a notify / quorum / start-up script is simply not run. The disabled list, with the
//! reason, is logged at each load and published on `/status` (`disabled_scripts`).

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use checkers::{Script, ScriptUser};
use nix::unistd::{Gid, Uid};
use serde::Serialize;

use crate::config::model::{self as m, Config};

/// The user scripts run as when none is named and `keepalived_script` is missing.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// What the checks need to know about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// `st_mode`, file type bits included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// The file system as the checks see it (the real one, or a described one in tests of `-t`).
pub trait Fs {
    /// Metadata following symlinks; None when absent or unreadable.
    fn stat(&self, path: &Path) -> Option<Meta>;
    /// The path with every symlink resolved; None when it cannot be resolved.
    fn canonical(&self, path: &Path) -> Option<PathBuf>;
    /// Directories searched for a program named without a `/`.
    fn search_path(&self) -> Vec<PathBuf> {
        default_search_path()
    }
}

/// Where a program named without a `/` is looked for.
pub fn default_search_path() -> Vec<PathBuf> {
    [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// The machine's file system.
pub struct RealFs;

impl Fs for RealFs {
    fn stat(&self, path: &Path) -> Option<Meta> {
        let m = std::fs::metadata(path).ok()?;
        Some(Meta {
            mode: m.permissions().mode(),
            uid: m.uid(),
            gid: m.gid(),
        })
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// Why a program may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Absent (or not reachable).
    NotFound(String),
    /// Not a regular file executable by the script's user.
    NotExecutable(PathBuf),
    /// `enable_script_security` and a path component writable by a non-root user.
    Unsafe { path: PathBuf, why: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound(p) => write!(f, "`{p}` not found"),
            Refusal::NotExecutable(p) => {
                write!(
                    f,
                    "`{}` is not an executable file for its user",
                    p.display()
                )
            }
            Refusal::Unsafe { path, why } => write!(
                f,
                "unsafe permissions on `{}` ({why}); enable_script_security refuses it",
                path.display()
            ),
        }
    }
}

/// The program `prog` (first word of a script) checked for a script run as `uid`/`gid`:
/// found, executable by that user, and with `security` safe per the module rules. Returns the
/// path found.
pub fn check_program(
    fs: &dyn Fs,
    prog: &str,
    uid: u32,
    gid: u32,
    security: bool,
) -> Result<PathBuf, Refusal> {
    let (path, meta) = find(fs, prog).ok_or_else(|| Refusal::NotFound(prog.to_string()))?;
    if !meta.is_file() || !executable_by(&meta, uid, gid) {
        return Err(Refusal::NotExecutable(path));
    }
    if security && (uid == 0 || gid == 0) {
        let real = fs.canonical(&path).unwrap_or_else(|| path.clone());
        let mut at = Some(real.as_path());
        while let Some(p) = at {
            if let Some(meta) = fs.stat(p)
                && let Some(why) = unsafe_because(&meta)
            {
                return Err(Refusal::Unsafe {
                    path: real.clone(),
                    why: if p == real {
                        format!("the file {why}")
                    } else {
                        format!("{} {why}", p.display())
                    },
                });
            }
            at = p.parent();
        }
    }
    Ok(path)
}

fn find(fs: &dyn Fs, prog: &str) -> Option<(PathBuf, Meta)> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return fs.stat(&p).map(|m| (p, m));
    }
    fs.search_path()
        .into_iter()
        .map(|d| d.join(prog))
        .find_map(|p| fs.stat(&p).filter(Meta::is_file).map(|m| (p, m)))
}

/// The execute bit that applies to `uid`/`gid` (root: any execute bit).
fn executable_by(meta: &Meta, uid: u32, gid: u32) -> bool {
    let bits = if uid == 0 {
        0o111
    } else if meta.uid == uid {
        0o100
    } else if meta.gid == gid {
        0o010
    } else {
        0o001
    };
    meta.mode & bits != 0
}

/// keepalived's test of one path component for a root-run script.
fn unsafe_because(meta: &Meta) -> Option<String> {
    if meta.uid != 0 {
        return Some(format!("is owned by uid {}", meta.uid));
    }
    if meta.mode & 0o020 != 0 && meta.gid != 0 {
        return Some(format!("is writable by group {}", meta.gid));
    }
    let sticky_dir = meta.is_dir() && meta.mode & 0o1000 != 0;
    if meta.mode & 0o002 != 0 && !sticky_dir {
        return Some("is world-writable".to_string());
    }
    None
}

/// Who a script runs as, before the file checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    /// `enable_script_security`.
    pub security: bool,
    /// The user of scripts that name none: `script_user`, `keepalived_script` or root; Err
    /// (the reason) when that cannot be had.
    pub default: Result<ScriptUser, String>,
}

impl Users {
    /// From `global_defs`, looking users up on this host.
    pub fn of(g: &m::GlobalDefs) -> Users {
        let default = match &g.script_user {
            Some(u) => lookup(&u.user, u.group.as_deref())
                .map_err(|e| format!("script_user {}: {e}", u.user)),
            None => match checkers::resolve_user(Some(DEFAULT_SCRIPT_USER), None) {
                Ok(Some(u)) => Ok(u),
                _ if g.enable_script_security => Err(format!(
                    "no script_user and the default user {DEFAULT_SCRIPT_USER} does not exist"
                )),
                _ => Ok(ScriptUser {
                    uid: Uid::from_raw(0),
                    gid: Gid::from_raw(0),
                }),
            },
        };
        Users {
            security: g.enable_script_security,
            default,
        }
    }

    /// The user `s` runs as.
    pub fn user_of(&self, s: &m::Script) -> Result<ScriptUser, String> {
        match &s.user {
            Some(u) => lookup(&u.user, u.group.as_deref()),
            None => self.default.clone(),
        }
    }
}

/// `user [group]` on this host.
pub fn lookup(user: &str, group: Option<&str>) -> Result<ScriptUser, String> {
    checkers::resolve_user(Some(user), group)?.ok_or_else(|| format!("no user {user}"))
}

/// One script that will not run, for logs and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisabledScript {
    /// What it is: `vrrp_script chk`, `(VI_1) notify_master`, `MISC_CHECK of 10.0.0.2:80`…
    pub what: String,
    /// The command line as written.
    pub command: String,
    /// Why it does not run.
    pub reason: String,
    /// What that means, as keepalived does it: a vrrp_script's trackers are removed, a
    /// MISC_CHECK is removed from its real server, anything else is not run.
    pub effect: &'static str,
    /// `file:line` of the script in the configuration.
    pub at: String,
}

type Key = (Vec<String>, Option<(String, Option<String>)>);

fn key(s: &m::Script) -> Key {
    (
        s.argv.clone(),
        s.user.as_ref().map(|u| (u.user.clone(), u.group.clone())),
    )
}

/// Every script of one loaded configuration, resolved; see the module doc.
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    table: HashMap<Key, Result<Script, String>>,
    /// Scripts that will not run, in configuration order.
    pub disabled: Vec<DisabledScript>,
    /// Scripts will run without `enable_script_security` (keepalived's SECURITY VIOLATION).
    pub security_violation: bool,
}

impl Scripts {
    /// Resolves every script of `config` on this host.
    pub fn resolve(config: &Config) -> Scripts {
        Scripts::resolve_with(config, &Users::of(&config.global), &RealFs)
    }

    /// Resolves every script of `config` with the given users and file system.
    pub fn resolve_with(config: &Config, users: &Users, fs: &dyn Fs) -> Scripts {
        let mut out = Scripts::default();
        let mut runnable = 0usize;
        for (what, s) in every_script(config) {
            let r = out
                .table
                .entry(key(s))
                .or_insert_with(|| resolve_one(s, users, fs))
                .clone();
            match r {
                Ok(_) => runnable += 1,
                Err(reason) => out.disabled.push(DisabledScript {
                    effect: effect(&what),
                    what,
                    command: s.command.clone(),
                    reason,
                    at: at(config, s.span),
                }),
            }
        }
        out.security_violation = runnable > 0 && !users.security;
        out
    }

    /// The runnable form of `s`; None when it is disabled (or not of this configuration).
    pub fn get(&self, s: &m::Script) -> Option<&Script> {
        self.table.get(&key(s))?.as_ref().ok()
    }

    /// Logs what is disabled and keepalived's SECURITY VIOLATION warning.
    pub fn log(&self) {
        for d in &self.disabled {
            tracing::warn!(
                script = %d.command,
                at = %d.at,
                "{} is disabled: {}; {}",
                d.what,
                d.reason,
                d.effect
            );
        }
        if self.security_violation {
            tracing::warn!(
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled"
            );
        }
    }
}

fn effect(what: &str) -> &'static str {
    if what.starts_with("vrrp_script ") {
        "the instances tracking it ignore it"
    } else if what.starts_with("MISC_CHECK ") {
        "the check is removed from its real server"
    } else {
        "it is not run"
    }
}

fn resolve_one(s: &m::Script, users: &Users, fs: &dyn Fs) -> Result<Script, String> {
    let user = users.user_of(s)?;
    let prog = s.argv.first().ok_or("empty command")?;
    check_program(
        fs,
        prog,
        user.uid.as_raw(),
        user.gid.as_raw(),
        users.security,
    )
    .map_err(|e| e.to_string())?;
    Ok(Script::new(s.argv.clone(), user))
}

fn at(config: &Config, span: crate::config::Span) -> String {
    let file = config
        .files
        .get(span.file.0 as usize)
        .map_or_else(|| "?".to_string(), |p| p.display().to_string());
    format!("{file}:{}", span.line)
}

/// Every script of the configuration with what it is, in configuration order.
pub fn every_script(c: &Config) -> Vec<(String, &m::Script)> {
    let mut out: Vec<(String, &m::Script)> = Vec::new();
    let g = &c.global;
    for (kw, s) in [
        ("startup_script", &g.startup_script),
        ("shutdown_script", &g.shutdown_script),
    ] {
        if let Some(s) = s {
            out.push((kw.to_string(), s));
        }
    }
    for (kw, f) in [
        ("notify_fifo_script", &g.notify_fifo),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo),
        ("lvs_notify_fifo_script", &g.lvs_notify_fifo),
    ] {
        if let Some(s) = f.as_ref().and_then(|f| f.script.as_ref()) {
            out.push((kw.to_string(), s));
        }
    }
    for s in &c.vrrp_scripts {
        out.push((format!("vrrp_script {}", s.name), &s.script));
    }
    for vi in &c.vrrp_instances {
        notifies(&mut out, &format!("({})", vi.name), &vi.notify);
    }
    for sg in &c.vrrp_sync_groups {
        notifies(&mut out, &format!("sync group {}", sg.name), &sg.notify);
    }
    for vs in &c.virtual_servers {
        let id = crate::director::from_config::vs_id(vs);
        for (kw, s) in [
            ("quorum_up", &vs.quorum_up),
            ("quorum_down", &vs.quorum_down),
        ] {
            if let Some(s) = s {
                out.push((format!("{kw} of {id}"), s));
            }
        }
        for rs in &vs.real_servers {
            let rs_id = format!("real_server {} {} of {id}", rs.addr, rs.port);
            for (kw, s) in [
                ("notify_up", rs.notify_up.as_deref()),
                ("notify_down", rs.notify_down.as_deref()),
            ] {
                if let Some(s) = s {
                    out.push((format!("{kw} of {rs_id}"), s));
                }
            }
            for ch in &rs.checkers {
                if let m::CheckerKind::Misc(misc) = &ch.kind {
                    out.push((format!("MISC_CHECK of {rs_id}"), &misc.script));
                }
            }
        }
    }
    out
}

fn notifies<'a>(out: &mut Vec<(String, &'a m::Script)>, owner: &str, n: &'a m::Notify) {
    for (kw, s) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.any),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ] {
        if let Some(s) = s {
            out.push((format!("{owner} {kw}"), s));
        }
    }
    if let Some(Some(s)) = &n.deleted {
        out.push((format!("{owner} notify_deleted"), s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A described file system: path → metadata, no symlinks unless listed.
    #[derive(Default)]
    struct Described {
        files: HashMap<PathBuf, Meta>,
        links: HashMap<PathBuf, PathBuf>,
    }

    impl Fs for Described {
        fn stat(&self, p: &Path) -> Option<Meta> {
            let p = self.links.get(p).map_or(p, |t| t.as_path());
            self.files.get(p).copied()
        }
        fn canonical(&self, p: &Path) -> Option<PathBuf> {
            Some(
                self.links
                    .get(p)
                    .cloned()
                    .unwrap_or_else(|| p.to_path_buf()),
            )
        }
    }

    const DIR: u32 = 0o040000;
    const REG: u32 = 0o100000;

    fn host() -> Described {
        let mut d = Described::default();
        for p in ["/", "/etc", "/etc/k", "/tmp"] {
            let mode = if p == "/tmp" {
                DIR | 0o1777
            } else {
                DIR | 0o755
            };
            d.files.insert(
                p.into(),
                Meta {
                    mode,
                    uid: 0,
                    gid: 0,
                },
            );
        }
        d.files.insert(
            "/etc/k/ok.sh".into(),
            Meta {
                mode: REG | 0o755,
                uid: 0,
                gid: 0,
            },
        );
        d
    }

    fn verdict(fs: &Described, prog: &str, uid: u32, gid: u32) -> Result<PathBuf, Refusal> {
        check_program(fs, prog, uid, gid, true)
    }

    #[test]
    fn keepalived_permission_rules() {
        let mut fs = host();
        assert!(verdict(&fs, "/etc/k/ok.sh", 0, 0).is_ok());
        // Group-writable with group root is fine; with another group it is not.
        fs.files.get_mut(Path::new("/etc/k/ok.sh")).unwrap().mode = REG | 0o775;
        assert!(verdict(&fs, "/etc/k/ok.sh", 0, 0).is_ok());
        fs.files.get_mut(Path::new("/etc/k/ok.sh")).unwrap().gid = 50;
        assert!(matches!(
            verdict(&fs, "/etc/k/ok.sh", 0, 0),
            Err(Refusal::Unsafe { .. })
        ));
        // ... unless the script runs as an unprivileged user and group.
        assert!(verdict(&fs, "/etc/k/ok.sh", 1000, 50).is_ok());
        // Group root is privileged too.
        assert!(verdict(&fs, "/etc/k/ok.sh", 1000, 0).is_err());
        // A directory owned by another user, and a world-writable one.
        let mut fs = host();
        fs.files.get_mut(Path::new("/etc/k")).unwrap().uid = 1000;
        let e = verdict(&fs, "/etc/k/ok.sh", 0, 0).unwrap_err();
        assert!(e.to_string().contains("/etc/k is owned by uid 1000"), "{e}");
        let mut fs = host();
        fs.files.get_mut(Path::new("/etc")).unwrap().mode = DIR | 0o777;
        let e = verdict(&fs, "/etc/k/ok.sh", 0, 0).unwrap_err();
        assert!(e.to_string().contains("/etc is world-writable"), "{e}");
        // A sticky world-writable directory (/tmp) is allowed, a world-writable file is not.
        let mut fs = host();
        fs.files.insert(
            "/tmp/x.sh".into(),
            Meta {
                mode: REG | 0o755,
                uid: 0,
                gid: 0,
            },
        );
        assert!(verdict(&fs, "/tmp/x.sh", 0, 0).is_ok());
        fs.files.get_mut(Path::new("/tmp/x.sh")).unwrap().mode = REG | 0o1777;
        assert!(verdict(&fs, "/tmp/x.sh", 0, 0).is_err());
    }

    #[test]
    fn symlinks_are_judged_by_their_target() {
        let mut fs = host();
        fs.files.insert(
            "/w".into(),
            Meta {
                mode: DIR | 0o777,
                uid: 0,
                gid: 0,
            },
        );
        fs.files.insert(
            "/w/t.sh".into(),
            Meta {
                mode: REG | 0o755,
                uid: 0,
                gid: 0,
            },
        );
        fs.links.insert("/etc/k/l.sh".into(), "/w/t.sh".into());
        let e = verdict(&fs, "/etc/k/l.sh", 0, 0).unwrap_err();
        assert_eq!(
            e,
            Refusal::Unsafe {
                path: "/w/t.sh".into(),
                why: "/w is world-writable".into()
            }
        );
    }

    #[test]
    fn missing_and_not_executable() {
        let mut fs = host();
        assert_eq!(
            check_program(&fs, "/etc/k/none", 0, 0, false),
            Err(Refusal::NotFound("/etc/k/none".into()))
        );
        fs.files.get_mut(Path::new("/etc/k/ok.sh")).unwrap().mode = REG | 0o744;
        assert!(check_program(&fs, "/etc/k/ok.sh", 0, 0, false).is_ok());
        assert_eq!(
            check_program(&fs, "/etc/k/ok.sh", 1000, 1000, false),
            Err(Refusal::NotExecutable("/etc/k/ok.sh".into()))
        );
    }

    #[test]
    fn default_user_rules() {
        if matches!(
            checkers::resolve_user(Some(DEFAULT_SCRIPT_USER), None),
            Ok(Some(_))
        ) {
            return; // this host has keepalived_script: the fallbacks below do not apply
        }
        let mut g = m::GlobalDefs::default();
        // No script_user, no keepalived_script, no security: root (and SECURITY VIOLATION).
        assert_eq!(Users::of(&g).default.map(|u| u.uid.as_raw()), Ok(0));
        // With security the scripts that name no user are disabled.
        g.enable_script_security = true;
        let e = Users::of(&g).default.unwrap_err();
        assert!(e.contains("keepalived_script"), "{e}");
        g.script_user = Some(m::ScriptUser {
            user: "nobody".into(),
            group: Some("root".into()),
            span: Default::default(),
        });
        let u = Users::of(&g).default.unwrap();
        assert_eq!((u.uid.as_raw(), u.gid.as_raw()), (65534, 0));
        g.script_user = Some(m::ScriptUser {
            user: "no-such-user-lvsd".into(),
            group: None,
            span: Default::default(),
        });
        assert!(Users::of(&g).default.is_err());
    }

    /// `text` loaded and resolved on [`host`] plus a world-writable /etc/k/ww.sh.
    fn with_world_writable(text: &str) -> (crate::config::Loaded, Scripts) {
        let loaded = crate::config::load_str(
            text,
            Path::new("t.conf"),
            &crate::config::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
        let mut fs = host();
        let ww = Meta {
            mode: REG | 0o777,
            uid: 0,
            gid: 0,
        };
        fs.files.insert("/etc/k/ww.sh".into(), ww);
        let g = &loaded.config.global;
        let scripts = Scripts::resolve_with(&loaded.config, &Users::of(g), &fs);
        (loaded, scripts)
    }

    #[test]
    fn an_unsafe_track_script_loses_its_tracker_and_notifies_are_dropped() {
        let text = "global_defs {\n enable_script_security\n script_user root\n}\n\
            vrrp_script chk {\n script \"/etc/k/ww.sh a\"\n}\n\
            vrrp_script good {\n script \"/etc/k/ok.sh b\"\n user nobody\n}\n\
            vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 100\n\
             virtual_ipaddress {\n  10.0.0.1\n }\n track_script {\n  chk\n  good\n }\n\
             notify_master \"/etc/k/ww.sh m\"\n notify_backup \"/etc/k/ok.sh b\"\n}\n";
        let (loaded, scripts) = with_world_writable(text);
        let c = &loaded.config;
        let whats: Vec<&str> = scripts.disabled.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(whats, ["vrrp_script chk", "(VI_1) notify_master"]);
        assert!(!scripts.security_violation);
        let v = crate::vrrp::VrrpConfig::from_model_with(c, &scripts);
        let names: Vec<&str> = v.instances[0]
            .track_scripts
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["good"]);
        assert_eq!(v.scripts.len(), 1);
        assert_eq!(v.scripts[0].script.user.as_raw(), 65534);
        assert!(v.instances[0].notify.master.is_none());
        assert_eq!(
            v.instances[0].notify.backup.as_ref().unwrap().user.as_raw(),
            0
        );
    }

    /// Start-up/shutdown and FIFO scripts, notify_deleted and
    /// notify_master_rx_lower_pri are resolved and refused at load like the others, so `/status` and
    /// the log tell the truth about them.
    #[test]
    fn kinds_not_run_are_still_checked() {
        let text = "global_defs {\n enable_script_security\n script_user root\n\
            startup_script /etc/k/ww.sh\n shutdown_script /etc/k/ok.sh\n\
            vrrp_notify_fifo /run/f\n vrrp_notify_fifo_script /etc/k/ww.sh\n}\n\
            vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 100\n\
             virtual_ipaddress {\n  10.0.0.1\n }\n notify_deleted /etc/k/ww.sh\n\
             notify_master_rx_lower_pri /etc/k/ww.sh\n}\n";
        let (loaded, scripts) = with_world_writable(text);
        let c = &loaded.config;
        let whats: Vec<&str> = scripts.disabled.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "startup_script",
                "vrrp_notify_fifo_script",
                "(VI_1) notify_master_rx_lower_pri",
                "(VI_1) notify_deleted"
            ]
        );
        let ok = c.global.shutdown_script.as_ref().unwrap();
        assert_eq!(scripts.get(ok).map(|s| s.user.as_raw()), Some(0));
    }
}
