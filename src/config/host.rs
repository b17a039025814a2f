//! Checks of the configuration against this machine, as `keepalived -t` does: the interfaces
//! named exist, the scripts that will run exist and are executable, and script security.
//!
//! The machine is reached through [`Probe`] so tests can describe a host; [`System`] reads
//! `/sys/class/net` and the file system. Only `-t` and daemon start-up run these checks: the
//! config itself stays valid on a machine that lacks an interface today.

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
    /// Directories searched for a script given without a `/`.
    fn search_path(&self) -> Vec<PathBuf> {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub is_file: bool,
    pub mode: u32,
    pub uid: u32,
}

impl FileInfo {
    fn executable(&self) -> bool {
        self.is_file && self.mode & 0o111 != 0
    }
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
        })
    }
}

/// Runs the host checks, appending diagnostics.
pub fn check(config: &Config, sources: &SourceMap, probe: &dyn Probe, diags: &mut Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
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
                            "({}) interface {dev} for ip address {} does not exist on this host",
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
            // keepalived 2.2.7 says nothing: lvsd's own finding.
            notes.push(
                sources
                    .diagnostic(
                        Severity::Note,
                        d.span,
                        format!(
                            "lvs_sync_daemon interface {} does not exist on this host",
                            d.interface
                        ),
                    )
                    .with_category(Category::Host),
            );
        }
        let statics = config
            .static_ipaddresses
            .iter()
            .map(|a| (a.dev.as_ref(), a.span, format!("ip address {}", a.addr)));
        let routes = config
            .static_routes
            .iter()
            .chain(config.vrrp_instances.iter().flat_map(|v| &v.virtual_routes))
            .map(|r| (r.dev.as_ref(), r.span, "VROUTE nexthop".to_string()));
        let rules = config
            .static_rules
            .iter()
            .chain(config.vrrp_instances.iter().flat_map(|v| &v.virtual_rules))
            .flat_map(|r| {
                [
                    (r.iif.as_ref(), r.span, "rule".to_string()),
                    (r.oif.as_ref(), r.span, "rule".to_string()),
                ]
            });
        for (dev, span, what) in statics.chain(routes).chain(rules) {
            if let Some(dev) = dev
                && !probe.interface_exists(dev)
            {
                push(
                    Category::Host,
                    span,
                    format!("interface {dev} for {what} does not exist on this host"),
                    None,
                );
            }
        }
    }

    // Scripts that will run: tracked vrrp_scripts, notifies, MISC_CHECK, quorum and RS hooks.
    // keepalived 2.2.7 counts every configured script toward "scripts are being executed"
    // (tracked or not); it warns about a missing track script but says nothing about a missing
    // notify, quorum or MISC_CHECK script (those are lvsd's notes).
    let mut scripts: Vec<(String, &Script, Kind)> = Vec::new();
    for s in &config.vrrp_scripts {
        scripts.push((format!("track script {}", s.name), &s.script, Kind::Track));
    }
    for vi in &config.vrrp_instances {
        let n = &vi.notify;
        for s in [
            &n.master,
            &n.backup,
            &n.fault,
            &n.stop,
            &n.any,
            &n.master_rx_lower_pri,
        ]
        .into_iter()
        .flatten()
        .chain(n.deleted.iter().flatten())
        {
            scripts.push((format!("({}) notify script", vi.name), s, Kind::Other));
        }
    }
    for g in &config.vrrp_sync_groups {
        let n = &g.notify;
        for s in [&n.master, &n.backup, &n.fault, &n.stop, &n.any]
            .into_iter()
            .flatten()
            .chain(n.deleted.iter().flatten())
        {
            scripts.push((
                format!("sync group {} notify script", g.name),
                s,
                Kind::Other,
            ));
        }
    }
    let g = &config.global;
    for (what, s) in [
        ("startup_script", &g.startup_script),
        ("shutdown_script", &g.shutdown_script),
    ] {
        if let Some(s) = s {
            scripts.push((what.into(), s, Kind::Other));
        }
    }
    for f in [&g.notify_fifo, &g.vrrp_notify_fifo, &g.lvs_notify_fifo]
        .into_iter()
        .flatten()
    {
        if let Some(s) = &f.script {
            scripts.push(("notify FIFO script".into(), s, Kind::Other));
        }
    }
    for vs in &config.virtual_servers {
        for s in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            scripts.push(("quorum script".into(), s, Kind::Other));
        }
        for rs in &vs.real_servers {
            for s in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                scripts.push((
                    format!("real_server {} notify script", rs.addr),
                    s,
                    Kind::Other,
                ));
            }
            for c in &rs.checkers {
                if let super::model::CheckerKind::Misc(m) = &c.kind {
                    scripts.push((
                        format!("MISC_CHECK of real_server {}", rs.addr),
                        &m.script,
                        Kind::Other,
                    ));
                }
            }
        }
    }
    match &config.global.script_user {
        Some(u) if !probe.user_exists(&u.user) => push(
            Category::Host,
            u.span,
            format!(
                "script_user {} does not exist on this host (keepalived: error setting global script uid/gid)",
                u.user
            ),
            None,
        ),
        _ => {}
    }
    let mut runnable = 0usize;
    // keepalived drops each script that has no user of its own when script security is on,
    // no script_user is set and its default user does not exist.
    let default_user_missing = config.global.enable_script_security
        && config.global.script_user.is_none()
        && !probe.user_exists("keepalived_script");
    for (what, s, kind) in &scripts {
        let Some(prog) = s.argv.first() else { continue };
        if default_user_missing && s.user.is_none() {
            push(
                Category::Host,
                s.span,
                format!(
                    "{what}: unable to set default user keepalived_script; the script is disabled"
                ),
                Some("help: create the user, or set `script_user` in global_defs".into()),
            );
            if *kind == Kind::Track {
                disabled_track_refs(config, what, &mut push);
            }
            continue;
        }
        if let Some(u) = &s.user
            && !probe.user_exists(&u.user)
        {
            push(
                Category::Host,
                u.span,
                format!(
                    "{what}: user {} does not exist; the script is disabled",
                    u.user
                ),
                None,
            );
            if *kind == Kind::Track {
                disabled_track_refs(config, what, &mut push);
            }
            continue;
        }
        let missing = match resolve(probe, prog) {
            None => format!("{what}: `{prog}` not found; it is disabled"),
            Some((path, info)) if !info.executable() => format!(
                "{what}: `{}` is not an executable file; it is disabled",
                path.display()
            ),
            Some((path, info)) => {
                runnable += 1;
                if config.global.enable_script_security
                    && let Some(why) = insecure(probe, &path, info)
                {
                    push(
                        Category::ScriptSecurity,
                        s.span,
                        format!(
                            "{what}: `{}` is unsafe to run as root ({why}); it is disabled",
                            path.display()
                        ),
                        None,
                    );
                }
                continue;
            }
        };
        match kind {
            Kind::Track => push(Category::Host, s.span, missing, None),
            Kind::Other => notes.push(
                sources
                    .diagnostic(Severity::Note, s.span, missing)
                    .with_category(Category::Host),
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
    diags.extend(notes);
}

/// Whether keepalived warns when the script is missing (track scripts) or not (the rest).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Track,
    Other,
}

/// keepalived drops a track script it cannot run as its user, then reports each reference to
/// it as "not found": so does lvsd, at each `track_script` line naming it.
fn disabled_track_refs(
    config: &Config,
    what: &str,
    push: &mut impl FnMut(Category, Span, String, Option<String>),
) {
    let name = what.trim_start_matches("track script ");
    for vi in &config.vrrp_instances {
        for t in vi.track_scripts.iter().filter(|t| t.name == name) {
            push(
                Category::Host,
                t.span,
                format!("({}) track script {name} is disabled; not tracked", vi.name),
                None,
            );
        }
    }
}

fn resolve(probe: &dyn Probe, prog: &str) -> Option<(PathBuf, FileInfo)> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return probe.file(&p).map(|i| (p, i));
    }
    probe
        .search_path()
        .into_iter()
        .map(|d| d.join(prog))
        .find_map(|p| probe.file(&p).filter(|i| i.is_file).map(|i| (p, i)))
}

/// Why a root-run script is unsafe: it or a directory above it is writable by non-root.
fn insecure(probe: &dyn Probe, path: &Path, info: FileInfo) -> Option<String> {
    if info.uid != 0 || info.mode & 0o022 != 0 {
        return Some("the file is writable by a non-root user".into());
    }
    for dir in path.ancestors().skip(1) {
        if let Some(d) = probe.file(dir) {
            // Sticky directories (/tmp) still let others replace files they own.
            if d.uid != 0 || d.mode & 0o022 != 0 {
                return Some(format!("{} is writable by a non-root user", dir.display()));
            }
        }
    }
    None
}
