//! Checks of the configuration against this machine, as `keepalived -t` does: the interfaces
//! named exist, the scripts that will run exist and are executable, and script security.
//!
//! The machine is reached through [`Probe`] so tests can describe a host; [`System`] reads
//! `/sys/class/net` and the file system. Only `-t` and daemon start-up run these checks: the
//! config itself stays valid on a machine that lacks an interface today.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::diag::{Category, Diagnostic, Severity, SourceMap, Span};
use super::model::{Config, Script};

/// What the host checks need to know about the machine.
pub trait Probe {
    fn interface_exists(&self, name: &str) -> bool;
    /// Metadata of a file (following symlinks), None if absent or unreadable.
    fn file(&self, path: &Path) -> Option<FileInfo>;
    /// Whether a system user exists (for `script_user` and script security).
    fn user_exists(&self, name: &str) -> bool {
        matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
    }
    /// The path with symlinks resolved (for script security); None: judge the path as given.
    fn canonical(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    /// Directories searched for a script given without a `/`.
    fn search_path(&self) -> Vec<PathBuf> {
        crate::scripts::default_search_path()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub is_file: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The real machine.
pub struct System;

impl Probe for System {
    fn interface_exists(&self, name: &str) -> bool {
        !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
    }
    fn file(&self, path: &Path) -> Option<FileInfo> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileInfo {
            is_file: m.is_file(),
            mode: m.permissions().mode(),
            uid: m.uid(),
            gid: m.gid(),
        })
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// A [`Probe`] as the file system [`crate::scripts::check_program`] walks, so `-t` and the
/// daemon judge a script by the same rules.
struct ProbeFs<'a>(&'a dyn Probe);

impl crate::scripts::Fs for ProbeFs<'_> {
    fn stat(&self, path: &Path) -> Option<crate::scripts::Meta> {
        let f = self.0.file(path)?;
        // A described host may give only the permission bits: add the type.
        let typ = if f.mode & libc::S_IFMT != 0 {
            0
        } else if f.is_file {
            libc::S_IFREG
        } else {
            libc::S_IFDIR
        };
        Some(crate::scripts::Meta {
            mode: f.mode | typ,
            uid: f.uid,
            gid: f.gid,
        })
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        self.0.canonical(path)
    }
    fn search_path(&self) -> Vec<PathBuf> {
        self.0.search_path()
    }
}

/// Runs the host checks, appending diagnostics.
pub fn check(config: &Config, sources: &SourceMap, probe: &dyn Probe, diags: &mut Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut push = |cat: Category, span: Span, msg: String, note: Option<String>| {
        let mut d = sources
            .diagnostic(Severity::Warning, span, msg)
            .with_category(cat);
        if let Some(n) = note {
            d = d.with_note(n);
        }
        out.push(d);
    };

    // Interfaces.
    if !config.global.dynamic_interfaces {
        for vi in &config.vrrp_instances {
            if let Some(ifname) = &vi.interface
                && !probe.interface_exists(ifname)
            {
                push(
                    Category::Host,
                    vi.interface_span.unwrap_or(vi.span),
                    format!(
                        "interface {ifname} for vrrp_instance {} does not exist on this host",
                        vi.name
                    ),
                    Some(
                        "note: keepalived refuses to run VRRP with a non-existent interface".into(),
                    ),
                );
            }
            for t in &vi.track_interfaces {
                if !probe.interface_exists(&t.name) {
                    push(
                        Category::Host,
                        t.span,
                        format!(
                            "({}) track_interface {} does not exist on this host",
                            vi.name, t.name
                        ),
                        None,
                    );
                }
            }
            for a in vi
                .virtual_ipaddress
                .iter()
                .chain(&vi.virtual_ipaddress_excluded)
            {
                if let Some(dev) = &a.dev
                    && !probe.interface_exists(dev)
                {
                    push(
                        Category::Host,
                        a.span,
                        format!(
                            "({}) dev {dev} of {} does not exist on this host",
                            vi.name, a.addr
                        ),
                        None,
                    );
                }
            }
        }
        if let Some(d) = &config.global.lvs_sync_daemon
            && !probe.interface_exists(&d.interface)
        {
            push(
                Category::Host,
                d.span,
                format!(
                    "lvs_sync_daemon interface {} does not exist on this host",
                    d.interface
                ),
                None,
            );
        }
    }

    // Scripts that will run: every script of the configuration (crate::scripts lists them,
    // as the daemon resolves them), vrrp_scripts only when tracked (keepalived ignores the rest).
    let tracked: BTreeSet<&str> = config
        .vrrp_instances
        .iter()
        .flat_map(|v| v.track_scripts.iter().map(|t| t.name.as_str()))
        .chain(
            config
                .vrrp_sync_groups
                .iter()
                .flat_map(|g| g.track_scripts.iter().map(|t| t.name.as_str())),
        )
        .collect();
    let scripts: Vec<(String, &Script)> = crate::scripts::every_script(config)
        .into_iter()
        .filter(|(what, _)| {
            what.strip_prefix("vrrp_script ")
                .is_none_or(|name| tracked.contains(name))
        })
        .collect();
    // The user scripts run as (keepalived: the script's own, `script_user`, then
    // keepalived_script, then root unless script security is on).
    let security = config.global.enable_script_security;
    let global_span = config.global.span.unwrap_or_default();
    let default_user: Result<(u32, u32), String> = match &config.global.script_user {
        Some(u) if !probe.user_exists(&u.user) => {
            push(
                Category::Host,
                global_span,
                format!("script_user {} does not exist on this host", u.user),
                Some("note: keepalived then disables every script that names no user".into()),
            );
            Err(format!("script_user {} does not exist", u.user))
        }
        Some(u) if u.group.as_deref().is_some_and(|g| !group_exists(g)) => {
            let g = u.group.as_deref().unwrap_or_default();
            push(
                Category::Host,
                global_span,
                format!("script_user group {g} does not exist on this host"),
                Some("note: keepalived then disables every script that names no user".into()),
            );
            Err(format!("script_user group {g} does not exist"))
        }
        Some(u) => Ok(ids(&u.user, u.group.as_deref())),
        None if probe.user_exists(crate::scripts::DEFAULT_SCRIPT_USER) => {
            Ok(ids(crate::scripts::DEFAULT_SCRIPT_USER, None))
        }
        None if security && !scripts.is_empty() => {
            push(
                Category::Host,
                global_span,
                "script security is on but there is no script_user and the default script user `keepalived_script` does not exist: scripts that name no user are disabled".into(),
                Some("help: create the user, or set `script_user` in global_defs".into()),
            );
            Err("the default script user keepalived_script does not exist".into())
        }
        None => Ok((0, 0)),
    };
    let mut runnable = 0usize;
    for (what, s) in &scripts {
        let Some(prog) = s.argv.first() else { continue };
        let user = match &s.user {
            Some(u) if !probe.user_exists(&u.user) => {
                Err(format!("its user {} does not exist", u.user))
            }
            Some(u) => Ok(ids(&u.user, u.group.as_deref())),
            None => default_user.clone(),
        };
        let (uid, gid) = match user {
            Ok(ids) => ids,
            Err(why) => {
                if s.user.is_some() {
                    push(
                        Category::Host,
                        s.span,
                        format!("{what}: {why}; it is disabled"),
                        None,
                    );
                }
                continue;
            }
        };
        match crate::scripts::check_program(&ProbeFs(probe), prog, uid, gid, security) {
            Ok(_) => runnable += 1,
            Err(refusal) => push(
                Category::Host,
                s.span,
                format!("{what}: {refusal}; it is disabled"),
                None,
            ),
        }
    }
    if runnable > 0 && !config.global.enable_script_security {
        let span = config.global.span.unwrap_or(Span {
            file: super::diag::FileId(0),
            line: 1,
            col: 1,
        });
        let mut d = Diagnostic::warning(
            "scripts are executed but script security is not enabled (`enable_script_security` in global_defs)",
        )
        .with_category(Category::ScriptSecurity)
        .with_note("note: keepalived calls this a SECURITY VIOLATION and `-t` exits 6");
        if config.global.span.is_some() {
            d = d.at(sources.location(span));
        }
        out.push(d);
    }
    diags.extend(out);
}

fn group_exists(name: &str) -> bool {
    name == "root" || matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
}

/// uid/gid of a user (and group) named in the configuration: root is 0; others as this
/// host has them, or an unprivileged placeholder on a described host that lacks them.
fn ids(user: &str, group: Option<&str>) -> (u32, u32) {
    const UNPRIVILEGED: u32 = u32::MAX - 1;
    let uid_gid = match crate::scripts::lookup(user, None) {
        Ok(u) => (u.uid.as_raw(), u.gid.as_raw()),
        Err(_) if user == "root" => (0, 0),
        Err(_) => (UNPRIVILEGED, UNPRIVILEGED),
    };
    let gid = match group {
        None => uid_gid.1,
        Some("root") => 0,
        Some(g) => match nix::unistd::Group::from_name(g) {
            Ok(Some(g)) => g.gid.as_raw(),
            _ => UNPRIVILEGED,
        },
    };
    (uid_gid.0, gid)
}
