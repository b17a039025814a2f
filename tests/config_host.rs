//! `-t` host checks against a described host: interfaces, script presence and permissions,
//! script security and the script user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lvsd::cli::config_test_exit_code;
use lvsd::config::host::{FileInfo, Probe, check};
use lvsd::config::{Category, Diagnostic, LoadOptions, load_str};

#[derive(Default)]
struct Host {
    ifaces: Vec<&'static str>,
    files: HashMap<PathBuf, FileInfo>,
    users: Vec<&'static str>,
}

impl Probe for Host {
    fn interface_exists(&self, name: &str) -> bool {
        self.ifaces.contains(&name)
    }
    fn file(&self, path: &Path) -> Option<FileInfo> {
        self.files.get(path).copied()
    }
    fn user_exists(&self, name: &str) -> bool {
        self.users.contains(&name)
    }
    fn search_path(&self) -> Vec<PathBuf> {
        vec![PathBuf::from("/usr/bin")]
    }
}

fn root_dir() -> FileInfo {
    FileInfo {
        is_file: false,
        mode: 0o40755,
        uid: 0,
        gid: 0,
    }
}
fn exe(mode: u32, uid: u32) -> FileInfo {
    FileInfo {
        is_file: true,
        mode: 0o100000 | mode,
        uid,
        gid: 0,
    }
}

fn host_diags(text: &str, host: &Host) -> Vec<Diagnostic> {
    let l = load_str(text, Path::new("h.conf"), &LoadOptions::default()).expect("config loads");
    let mut d = Vec::new();
    check(&l.config, &l.sources, host, &mut d);
    d
}

const CONF: &str = "global_defs {\n    enable_script_security\n}\nvrrp_script chk {\n    script \"/etc/keepalived/chk.sh arg\"\n}\n\
vrrp_script unused {\n    script /usr/bin/pgrep\n}\nvrrp_instance VI {\n    interface eth9\n    virtual_router_id 5\n    \
track_interface {\n        eth8\n    }\n    virtual_ipaddress {\n        10.0.0.1 dev eth7\n    }\n    track_script {\n        chk\n    }\n    \
notify_master pgrep\n}\n";

fn base_host() -> Host {
    let mut h = Host {
        ifaces: vec!["eth9", "eth8", "eth7"],
        users: vec!["keepalived_script"],
        ..Host::default()
    };
    for d in ["/", "/etc", "/etc/keepalived", "/usr", "/usr/bin"] {
        h.files.insert(PathBuf::from(d), root_dir());
    }
    h.files
        .insert(PathBuf::from("/etc/keepalived/chk.sh"), exe(0o755, 0));
    h.files
        .insert(PathBuf::from("/usr/bin/pgrep"), exe(0o755, 0));
    h
}

#[test]
fn a_secure_host_has_nothing_to_report() {
    let d = host_diags(CONF, &base_host());
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(config_test_exit_code(&d, false), 0);
}

#[test]
fn missing_interfaces_are_reported_where_named() {
    let mut h = base_host();
    h.ifaces = vec![];
    let lines: Vec<_> = host_diags(CONF, &h)
        .iter()
        .map(|d| (d.line(), d.category))
        .collect();
    assert_eq!(
        lines,
        [
            (Some(11), Category::Host),
            (Some(14), Category::Host),
            (Some(17), Category::Host)
        ]
    );
}

/// keepalived 2.2.7 with `enable_script_security` disables a root-run script that another user
/// can change (file, or a directory above it) and `-t` exits 5; as an unprivileged script
/// user the same file is not walked.
#[test]
fn unsafe_scripts_are_disabled() {
    let as_root = CONF.replace(
        "enable_script_security",
        "enable_script_security\n    script_user root",
    );
    let mut h = base_host();
    h.users.push("root");
    h.files
        .insert(PathBuf::from("/etc/keepalived/chk.sh"), exe(0o775, 1000));
    let d = host_diags(&as_root, &h);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].category, d[0].line()), (Category::Host, Some(6)));
    assert!(d[0].message.contains("owned by uid 1000"), "{d:?}");
    assert_eq!(config_test_exit_code(&d, false), 5);
    // The unprivileged default user keepalived_script: not walked.
    assert!(host_diags(CONF, &h).is_empty());
    // A writable directory above the script is as bad.
    let mut h = base_host();
    h.users.push("root");
    h.files.insert(
        PathBuf::from("/etc/keepalived"),
        FileInfo {
            is_file: false,
            mode: 0o40777,
            uid: 0,
            gid: 0,
        },
    );
    let d = host_diags(&as_root, &h);
    assert!(
        d[0].message.contains("/etc/keepalived is world-writable"),
        "{d:?}"
    );
    // A sticky one (/tmp) is not.
    h.files.get_mut(Path::new("/etc/keepalived")).unwrap().mode = 0o41777;
    assert!(host_diags(&as_root, &h).is_empty());
}

#[test]
fn missing_or_non_executable_scripts_are_disabled() {
    let mut h = base_host();
    h.files.remove(Path::new("/usr/bin/pgrep"));
    h.files
        .insert(PathBuf::from("/etc/keepalived/chk.sh"), exe(0o644, 0));
    let d = host_diags(CONF, &h);
    let msgs: Vec<_> = d.iter().map(|d| (d.line(), d.message.as_str())).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].1.contains("is not an executable file"), "{msgs:?}");
    // Every vrrp_script is checked, tracked or not (keepalived disables either).
    assert!(
        msgs[1].1.contains("unused: `/usr/bin/pgrep` not found"),
        "{msgs:?}"
    );
    // A missing notify script: keepalived says nothing, lvsd notes it (no exit code change).
    assert!(msgs[2].1.contains("`pgrep` not found"), "{msgs:?}");
    assert!(d[2].is_note(), "{msgs:?}");
    assert_eq!(config_test_exit_code(&d, false), 5);
}

#[test]
fn script_users_must_exist() {
    let mut h = base_host();
    h.users.clear();
    // keepalived drops each script that has no user of its own (the track script is then
    // "not found" where tracked): warnings, not a script-security verdict.
    let d = host_diags(CONF, &h);
    let msgs: Vec<_> = d.iter().map(|d| (d.line(), d.message.as_str())).collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(
        msgs[0]
            .1
            .contains("unable to set default user keepalived_script"),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.0 == Some(20) && m.1.contains("track script chk is disabled")),
        "{msgs:?}"
    );
    assert_eq!(config_test_exit_code(&d, false), 5);
    let d = host_diags(
        &CONF.replace("enable_script_security", "script_user nobody"),
        &h,
    );
    assert!(
        d.iter()
            .any(|d| d.message.contains("script_user nobody does not exist")),
        "{d:?}"
    );
    // No script can run (keepalived removes them): no SECURITY VIOLATION, exit 5.
    assert_eq!(config_test_exit_code(&d, false), 5);
    // Without script security, running scripts is itself the finding (keepalived exit 6).
    let mut h = base_host();
    h.users.push("nobody");
    let d = host_diags(
        &CONF.replace("enable_script_security", "script_user nobody"),
        &h,
    );
    assert!(d.iter().any(|d| d.category == Category::ScriptSecurity));
    assert_eq!(config_test_exit_code(&d, false), 6);
}
