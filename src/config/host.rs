//! Checks of the configuration against this machine, as `keepalived -t` does: the interfaces
//! named exist, the scripts that will run exist and are executable, and script security.
//!
//! The machine is reached through [`Probe`] so tests can describe a host; [`System`] reads
//! `/sys/class/net` and the file system. Only `-t` and daemon start-up run these checks: the
//! config itself stays valid on a machine that lacks an interface today.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::diag::{Category, Diagnostic, Severity, SourceMap, Span};
use super::model::Config;

/// What the host checks need to know about the machine.
pub trait Probe {
    fn interface_exists(&self, name: &str) -> bool;
    /// Whether an existing device is a VRF master; None: not known (the check is skipped).
    fn is_vrf(&self, _name: &str) -> Option<bool> {
        None
    }
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
        // Asked of the kernel in lvsd's network namespace (sysfs would answer for the namespace
        // it was mounted in, which `net_namespace` does not change).
        !name.is_empty() && !name.contains('/') && nix::net::if_::if_nametoindex(name).is_ok()
    }
    fn is_vrf(&self, name: &str) -> Option<bool> {
        crate::vrrp::vrf::is_vrf(name)
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
    if !config.global.dynamic_interfaces {
        instance_interfaces(config, probe, &mut push);
        for vi in &config.vrrp_instances {
            vrf_device(vi, sources, probe, &mut push, &mut notes);
        }
        other_interfaces(config, sources, probe, &mut push, &mut notes);
    }
    let runnable = scripts(config, sources, probe, &mut push, &mut notes);
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

/// A warning of [`check`]: (category, span, message, note).
type Push<'p> = dyn FnMut(Category, Span, String, Option<String>) + 'p;

/// The interfaces of the VRRP instances: theirs, the tracked ones, their addresses'.
fn instance_interfaces(config: &Config, probe: &dyn Probe, push: &mut Push) {
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
                Some("note: keepalived refuses to run VRRP with a non-existent interface".into()),
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
}

/// `vrf NAME`: the device exists (keepalived's finding) and is a VRF master (lvsd's own: a
/// note, keepalived 2.2.7 says nothing).
fn vrf_device(
    vi: &super::model::VrrpInstance,
    sources: &SourceMap,
    probe: &dyn Probe,
    push: &mut Push,
    notes: &mut Vec<Diagnostic>,
) {
    let Some(v) = &vi.vrf else { return };
    let span = vi.vrf_span.unwrap_or(vi.span);
    if !probe.interface_exists(v) {
        push(
            Category::Host,
            span,
            format!(
                "VRF interface {v} for vrrp_instance {} does not exist on this host",
                vi.name
            ),
            Some("note: keepalived refuses to run VRRP with a non-existent interface".into()),
        );
    } else if probe.is_vrf(v) == Some(false) {
        let msg = format!(
            "({}) vrf {v} is not a VRF device (`ip link add {v} type vrf table N`); the instance waits in INIT until it is one",
            vi.name
        );
        notes.push(
            sources
                .diagnostic(Severity::Note, span, msg)
                .with_category(Category::Host),
        );
    }
}

/// The interfaces of the LVS sync daemon, the static addresses, and the routes and rules.
fn other_interfaces(
    config: &Config,
    sources: &SourceMap,
    probe: &dyn Probe,
    push: &mut Push,
    notes: &mut Vec<Diagnostic>,
) {
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
        // The line's `dev` and every nexthop's.
        .flat_map(|r| {
            r.spec
                .devices()
                .map(|d| (Some(d), r.span, "VROUTE nexthop".to_string()))
                .collect::<Vec<_>>()
        });
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

/// Scripts that will run: every script of the configuration, as the daemon resolves them
/// (crate::scripts). What keepalived 2.2.7's -t says of them, checked against it:
/// - every runnable script, tracked or not, counts toward "SECURITY VIOLATION" (exit 6);
/// - a script it cannot run as its user (no such user, default user missing under script
///   security) is a warning at the script, and a track script's references then say so;
/// - a missing program is a warning for a vrrp_script only (silent for the rest: lvsd notes);
/// - an unsafe checker-side script (MISC_CHECK, notify_up/down, quorum_up/down) is silent in
///   -t (its checker process drops it later): a note; every other unsafe script warns.
///
/// Returns how many scripts can run.
fn scripts(
    config: &Config,
    sources: &SourceMap,
    probe: &dyn Probe,
    push: &mut Push,
    notes: &mut Vec<Diagnostic>,
) -> usize {
    let scripts = crate::scripts::every_script(config);
    let security = config.global.enable_script_security;
    let default_user = default_user(config, probe, push);
    let mut runnable = 0usize;
    for (what, s) in &scripts {
        let Some(prog) = s.argv.first() else { continue };
        let kind = Kind::of(what);
        // keepalived's word for a vrrp_script it judges.
        let label = what.replacen("vrrp_script ", "track script ", 1);
        let user = match &s.user {
            Some(u) if !probe.user_exists(&u.user) => {
                Err((u.span, format!("user {} does not exist", u.user)))
            }
            Some(u) => Ok(ids(&u.user, u.group.as_deref())),
            None => default_user.clone().map_err(|e| (s.span, e)),
        };
        let (uid, gid) = match user {
            Ok(ids) => ids,
            Err((span, why)) => {
                push(
                    Category::Host,
                    span,
                    format!("{label}: {why}; the script is disabled"),
                    (s.user.is_none() && security).then(|| {
                        "help: create the user, or set `script_user` in global_defs".into()
                    }),
                );
                if kind == Kind::Track {
                    disabled_track_refs(config, what, push);
                }
                continue;
            }
        };
        let refusal = match crate::scripts::check_program(&ProbeFs(probe), prog, uid, gid, security)
        {
            Ok(_) => {
                runnable += 1;
                continue;
            }
            Err(r) => r,
        };
        let unsafe_ = matches!(refusal, crate::scripts::Refusal::Unsafe { .. });
        let warn = match (unsafe_, kind) {
            (true, Kind::Checker) => false,
            (true, _) => true,
            (false, Kind::Track) => true,
            (false, _) => false,
        };
        let cat = Category::Host;
        let msg = format!("{label}: {refusal}; it is disabled");
        if warn {
            push(cat, s.span, msg, None);
        } else {
            notes.push(
                sources
                    .diagnostic(Severity::Note, s.span, msg)
                    .with_category(cat),
            );
        }
    }
    runnable
}

/// The user scripts without a `user` of their own run as (`script_user`, else
/// keepalived_script, else root without script security), or why there is none.
fn default_user(config: &Config, probe: &dyn Probe, push: &mut Push) -> Result<(u32, u32), String> {
    let security = config.global.enable_script_security;
    match &config.global.script_user {
        Some(u) if !probe.user_exists(&u.user) => {
            push(
                Category::Host,
                u.span,
                format!(
                    "script_user {} does not exist on this host (keepalived: error setting global script uid/gid)",
                    u.user
                ),
                None,
            );
            Err(format!("script_user {} does not exist", u.user))
        }
        Some(u) if u.group.as_deref().is_some_and(|g| !group_exists(g)) => {
            let g = u.group.as_deref().unwrap_or_default();
            push(
                Category::Host,
                u.span,
                format!("script_user group {g} does not exist on this host"),
                None,
            );
            Err(format!("script_user group {g} does not exist"))
        }
        Some(u) => Ok(ids(&u.user, u.group.as_deref())),
        None if probe.user_exists(crate::scripts::DEFAULT_SCRIPT_USER) => {
            Ok(ids(crate::scripts::DEFAULT_SCRIPT_USER, None))
        }
        None if security => Err("unable to set default user keepalived_script".into()),
        None => Ok((0, 0)),
    }
}

/// Which of keepalived's processes judges a script, which decides what its -t says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `vrrp_script`: warned when missing.
    Track,
    /// MISC_CHECK, notify_up/down, quorum_up/down: the checker process judges them, after -t.
    Checker,
    /// Notifies, start-up/shutdown and FIFO scripts.
    Other,
}

impl Kind {
    /// From the names [`crate::scripts::every_script`] gives.
    fn of(what: &str) -> Kind {
        const CHECKER: [&str; 5] = [
            "MISC_CHECK ",
            "notify_up ",
            "notify_down ",
            "quorum_up ",
            "quorum_down ",
        ];
        if what.starts_with("vrrp_script ") {
            Kind::Track
        } else if CHECKER.iter().any(|p| what.starts_with(p)) {
            Kind::Checker
        } else {
            Kind::Other
        }
    }
}

/// keepalived drops a track script it cannot run as its user, then reports each reference to
/// it as "not found": so does lvsd, at each `track_script` line naming it.
fn disabled_track_refs(config: &Config, what: &str, push: &mut Push) {
    let name = what.trim_start_matches("vrrp_script ");
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
