//! Every seed config in `examples/` is checked as `lvsd -t` would, in the three environments
//! `examples/EXPECTED-keepalived.md` records for keepalived 2.2.7 -t:
//!
//! * **host**: interfaces `lo`, `eth0`; none of the seeds' scripts exist;
//! * **+ens33**: `ens33` exists too;
//! * **+ens33+scripts**: and every referenced script exists (root, 0755).
//!
//! The environments are described through a fake [`Probe`], so the test means the same on any
//! machine. For each file and environment we assert the exit code keepalived gave and that
//! lvsd reports exactly the listed problems, by line. Where keepalived stops early (a missing
//! interface hides its later VRRP checks), lvsd reports everything at once; those extra
//! findings are the ones keepalived shows in the next environment, and are listed as such.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lvsd::cli::config_test_exit_code;
use lvsd::config::host::{FileInfo, Probe};
use lvsd::config::{self, Diagnostic, LoadOptions};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Env {
    Host,
    Ens33,
    Scripts,
}

struct FakeHost(Env);

const SCRIPTS: &[&str] = &[
    "/etc/keepalived/nginx_check.sh",
    "/server/scripts/check_list",
    "/opt/check_nginx.sh",
    "/data/sh/check_nginx.sh",
];

impl Probe for FakeHost {
    fn interface_exists(&self, name: &str) -> bool {
        match name {
            "lo" | "eth0" => true,
            "ens33" => self.0 != Env::Host,
            _ => false,
        }
    }
    fn file(&self, path: &Path) -> Option<FileInfo> {
        let p = path.to_str()?;
        (self.0 == Env::Scripts && SCRIPTS.contains(&p)).then_some(FileInfo {
            is_file: true,
            mode: 0o100755,
            uid: 0,
            gid: 0,
        })
    }
}

/// Runs `-t` on an example in an environment: (exit code, diagnostics).
fn check(file: &str, env: Env) -> (u8, Vec<Diagnostic>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let opts = LoadOptions {
        config_id: Some("lvsd-test".into()),
        strict: false,
        check_host: true,
    };
    // Notes are lvsd's own findings (unimplemented keywords…): not keepalived's, not compared.
    let (rc, d) = match config::load_with_probe(&path, &opts, &FakeHost(env)) {
        Ok(l) => (config_test_exit_code(&l.diagnostics, false), l.diagnostics),
        Err(e) => (config_test_exit_code(&e.diagnostics, true), e.diagnostics),
    };
    (rc, d.into_iter().filter(|d| !d.is_note()).collect())
}

// Key phrases of lvsd's messages, one per keepalived message.
const IFACE: &str = "interface ens33 for vrrp_instance";
const SCRIPT_MISSING: &str = "not found; it is disabled";
const SECURITY: &str = "script security is not enabled";
const NB_GET_RETRY: &str = "`nb_get_retry` is deprecated";
const NOPREEMPT: &str = "nopreempt will not work with initial state MASTER";

/// (line, phrase); line 0 = not tied to a line (keepalived prints these without one).
type Expect = Vec<(u32, &'static str)>;

fn assert_reports(file: &str, env: Env, rc: u8, expected: Expect) {
    let (got_rc, diags) = check(file, env);
    let rendered: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let got: BTreeSet<(u32, String)> = diags
        .iter()
        .map(|d| {
            let phrase = expected
                .iter()
                .map(|(_, p)| *p)
                .find(|p| d.message.contains(p))
                .unwrap_or(&d.message);
            let line = if expected.iter().any(|(l, p)| *l == 0 && *p == phrase) {
                0
            } else {
                d.line().unwrap_or(0)
            };
            (line, phrase.to_string())
        })
        .collect();
    let want: BTreeSet<(u32, String)> = expected.iter().map(|(l, p)| (*l, p.to_string())).collect();
    assert_eq!(got, want, "{file} in {env:?}:\n{}", rendered.join(""));
    assert_eq!(
        diags.len(),
        want.len(),
        "{file} in {env:?}: duplicates:\n{}",
        rendered.join("")
    );
    assert_eq!(
        got_rc,
        rc,
        "{file} in {env:?}: exit code\n{}",
        rendered.join("")
    );
}

#[test]
fn seed000_master_and_backup() {
    for f in ["seed000-master.conf", "seed000-backup.conf"] {
        assert_reports(f, Env::Host, 5, vec![(12, IFACE), (6, SCRIPT_MISSING)]);
        assert_reports(f, Env::Ens33, 5, vec![(6, SCRIPT_MISSING)]);
        assert_reports(f, Env::Scripts, 6, vec![(0, SECURITY)]);
    }
}

#[test]
fn seed001_clean_files_report_nothing() {
    for f in [
        "seed001-preempt-master.conf",
        "seed001-preempt-backup.conf",
        "seed001-nopreempt-master.conf",
        "seed001-nopreempt-backup.conf",
    ] {
        for env in [Env::Host, Env::Ens33, Env::Scripts] {
            assert_reports(f, env, 0, vec![]);
        }
    }
}

#[test]
fn seed001_check_script() {
    let f = "seed001-check-script.conf";
    assert_reports(f, Env::Host, 5, vec![(7, SCRIPT_MISSING)]);
    assert_reports(f, Env::Ens33, 5, vec![(7, SCRIPT_MISSING)]);
    assert_reports(f, Env::Scripts, 6, vec![(0, SECURITY)]);
}

#[test]
fn seed002_master_and_backup() {
    let f = "seed002-master.conf";
    assert_reports(f, Env::Host, 5, vec![(4, IFACE), (8, NOPREEMPT)]);
    assert_reports(f, Env::Ens33, 5, vec![(8, NOPREEMPT)]);
    assert_reports(f, Env::Scripts, 5, vec![(8, NOPREEMPT)]);
    let f = "seed002-backup.conf";
    assert_reports(f, Env::Host, 5, vec![(3, IFACE)]);
    assert_reports(f, Env::Ens33, 0, vec![]);
    assert_reports(f, Env::Scripts, 0, vec![]);
}

#[test]
fn seed003_default_sample() {
    let expected = vec![
        (15, "`vrrp_garp_interval` 0 is invalid"),
        (16, "`vrrp_gna_interval` 0 is invalid"),
        (55, NB_GET_RETRY),
        (86, NB_GET_RETRY),
        (103, NB_GET_RETRY),
        (132, NB_GET_RETRY),
        (153, NB_GET_RETRY),
        // keepalived: "(VI_1) State MASTER must match being address owner" (no line).
        (23, "state MASTER must match being address owner"),
        // keepalived: "(VI_1) Strict mode does not support authentication. Ignoring."
        (25, "strict mode does not support authentication"),
    ];
    for env in [Env::Host, Env::Ens33, Env::Scripts] {
        assert_reports("seed003-default-sample.conf", env, 5, expected.clone());
    }
}

#[test]
fn seed003_nginx_master_missing_brace_in_comment() {
    // keepalived reports "Missing '{' at beginning of configuration block" at L8 (the line
    // after); lvsd points at L7, where the `{` hides in the comment, and like keepalived's
    // VRRP parser still builds VI_102 from the lines that follow.
    let f = "seed003-nginx-master.conf";
    let missing = (7, "missing `{` after `vrrp_instance VI_102`");
    assert_reports(
        f,
        Env::Host,
        5,
        vec![missing, (9, "interface ens33 for vrrp_instance VI_102")],
    );
    assert_reports(f, Env::Ens33, 5, vec![missing]);
    assert_reports(f, Env::Scripts, 5, vec![missing]);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(f);
    let l = config::load(&path, &LoadOptions::default()).expect("loads with a warning");
    let vi = &l.config.vrrp_instances[0];
    assert_eq!(
        (vi.name.as_str(), vi.virtual_router_id, vi.priority),
        ("VI_102", 51, 100)
    );
    assert_eq!(vi.virtual_ipaddress[0].addr.to_string(), "192.168.8.200");
}

#[test]
fn seed003_others() {
    let f = "seed003-nginx-backup.conf";
    assert_reports(
        f,
        Env::Host,
        5,
        vec![(9, "interface ens33 for vrrp_instance VI_102")],
    );
    assert_reports(f, Env::Ens33, 0, vec![]);
    assert_reports(f, Env::Scripts, 0, vec![]);
    for env in [Env::Host, Env::Ens33, Env::Scripts] {
        assert_reports(
            "seed003-healthcheck-vsg.conf",
            env,
            5,
            vec![(20, NB_GET_RETRY)],
        );
        assert_reports("seed003-dual-master-node1.conf", env, 0, vec![]);
        assert_reports("seed003-dual-master-node2.conf", env, 0, vec![]);
    }
    let f = "seed003-script-hook.conf";
    assert_reports(f, Env::Host, 5, vec![(14, IFACE), (8, SCRIPT_MISSING)]);
    assert_reports(f, Env::Ens33, 5, vec![(8, SCRIPT_MISSING)]);
    assert_reports(f, Env::Scripts, 6, vec![(0, SECURITY)]);
}

#[test]
fn seed004_dual_master() {
    let common = vec![
        (10, "unknown keyword `route_id` in global_defs"),
        (
            26,
            "(VI_1) `lvs_sync_daemon_interface` in a vrrp_instance is deprecated",
        ),
        (32, "auth_pass is longer than 8 characters"),
        (36, "(VI_1) ignoring track_interface eth0"),
        (
            52,
            "(VI_2) `lvs_sync_daemon_interface` in a vrrp_instance is deprecated",
        ),
        (
            52,
            "(VI_2) lvs_sync_daemon_interface has already been specified as eth0",
        ),
        (65, "(VI_2) track script `chk_nginx` is not defined"),
    ];
    for (f, extra) in [
        ("seed004-dual-master-node1.conf", vec![]),
        (
            "seed004-dual-master-node2.conf",
            vec![(56, "(VI_2) nopreempt will not work")],
        ),
    ] {
        let mut base = common.clone();
        base.extend(extra);
        let mut missing = base.clone();
        missing.push((15, SCRIPT_MISSING));
        assert_reports(f, Env::Host, 5, missing.clone());
        assert_reports(f, Env::Ens33, 5, missing);
        let mut sec = base.clone();
        sec.push((0, SECURITY));
        assert_reports(f, Env::Scripts, 6, sec);
    }
}

#[test]
fn suggestions_name_the_keyword_meant() {
    let (_, diags) = check("seed004-dual-master-node1.conf", Env::Ens33);
    let route = diags
        .iter()
        .find(|d| d.message.contains("route_id"))
        .expect("route_id warned");
    assert!(
        route.notes.iter().any(|n| n.contains("`router_id`")),
        "{route}"
    );
    let chk = diags
        .iter()
        .find(|d| d.message.contains("chk_nginx"))
        .expect("chk_nginx warned");
    assert!(
        chk.notes.iter().any(|n| n.contains("`check_nginx`")),
        "{chk}"
    );
}

#[test]
fn every_example_is_covered() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let n = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "conf"))
        .count();
    // 18 seed files (see EXPECTED-keepalived.md); a new one needs its own expectations above.
    assert_eq!(n, 18);
}
