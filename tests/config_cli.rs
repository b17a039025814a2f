//! The `lvsd` binary as an operator runs it: `-t` exit codes (keepalived 2.2.7's), output on
//! stderr, `config dump --json`, `--help`.

use std::process::{Command, Output};

fn lvsd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run lvsd")
}

#[test]
fn config_test_clean_exits_0() {
    let o = lvsd(&["-t", "-f", "tests/config_cli/clean-lo.conf"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("configuration OK"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn config_test_warnings_exit_5_unreadable_exits_4() {
    let o = lvsd(&["-t", "-f", "examples/seed003-healthcheck-vsg.conf"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains(
            "examples/seed003-healthcheck-vsg.conf:20:13: warning: `nb_get_retry` is deprecated"
        ),
        "{err}"
    );
    assert!(
        err.contains("20 |             nb_get_retry 3\n   |             ^"),
        "{err}"
    );

    // keepalived 2.2.7 refuses none of these problems (it skips each object and runs): 5.
    let o = lvsd(&["-t", "-f", "tests/config_ui/refused.conf"]);
    assert_eq!(o.status.code(), Some(5));
    let o = lvsd(&["-t", "-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read configuration file"));
}

#[test]
fn strict_makes_warnings_fatal() {
    let o = lvsd(&[
        "-t",
        "--strict",
        "-f",
        "examples/seed003-healthcheck-vsg.conf",
    ]);
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn config_dump_json_is_the_resolved_model() {
    let o = lvsd(&[
        "config",
        "dump",
        "--json",
        "-f",
        "examples/seed003-default-sample.conf",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["vrrp_instances"][0]["name"], "VI_1");
    assert_eq!(v["virtual_servers"].as_array().map(Vec::len), Some(3));
    // nb_get_retry 3 resolved as retry; delay_loop inherited from the virtual server.
    let c = &v["virtual_servers"][1]["real_servers"][0]["checkers"][0];
    assert_eq!(c["timing"]["retry"], 3);
    // Durations in keepalived's unit (seconds), not serde's {"secs","nanos"}.
    assert_eq!(c["timing"]["delay_loop"], 6);
    assert_eq!(v["vrrp_instances"][0]["advert_int"], 1);
    // Warnings still reach stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("nb_get_retry"));
}

#[test]
fn dump_conf_with_config_test_prints_json() {
    let o = lvsd(&["-t", "-d", "-f", "tests/config_cli/clean-lo.conf"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["global"]["router_id"], "lvsd_test");
}

#[test]
fn help_reads_well() {
    let o = lvsd(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--use-file",
        "--config-test",
        "--dump-conf",
        "--config-id",
        "--strict",
        "--dont-fork",
        "EXIT CODES",
    ] {
        assert!(h.contains(flag), "--help lacks {flag}:\n{h}");
    }
    let o = lvsd(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn config_dump_summary_reads_like_the_file() {
    let o = lvsd(&[
        "config",
        "dump",
        "-f",
        "examples/seed003-default-sample.conf",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    // vrrp_strict with priority 100: keepalived (and lvsd) start VI_1 as BACKUP.
    assert!(
        out.contains("vrrp_instance VI_1: BACKUP on eth0 vrid 51 priority 100"),
        "{out}"
    );
    assert!(
        out.contains("virtual_server TCP 192.168.200.100:443: rr NAT delay_loop 6s"),
        "{out}"
    );
    assert!(out.contains("  sorry_server 192.168.200.200:1358"), "{out}");
}
