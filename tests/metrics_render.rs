//! The /metrics exposition as Prometheus sees it: every family rendered from a realistic snapshot,
//! values where dashboards expect them, and `promtool check metrics` accepting the whole text.

mod ops_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lvsd::metrics::{CheckResult, IpvsScrape, Metrics, render, to_prometheus_text};
use ops_support::{sample_ipvs, sample_status, sample_value};

fn full_exposition() -> String {
    let metrics = Metrics::new();
    metrics.observe_check(
        "TCP 192.0.2.100:80",
        "198.51.100.2:8080",
        "HTTP_GET",
        Duration::from_millis(3),
        CheckResult::Failure {
            reason: "connection_refused",
        },
    );
    metrics.observe_check(
        "TCP 192.0.2.100:80",
        "198.51.100.1:8080",
        "HTTP_GET",
        Duration::from_millis(40),
        CheckResult::Success,
    );
    render(
        &metrics,
        Arc::new(sample_status()),
        IpvsScrape::Dumped(Arc::new(sample_ipvs(2, 3))),
    )
}

#[test]
fn keepalived_exporter_vrrp_families_keep_their_names_and_labels() {
    let text = full_exposition();
    let vi1 = [("iname", "VI_1"), ("intf", "eth0"), ("vrid", "51")];
    // One state series per VIP, ip_address and intf as keepalived-exporter takes them from
    // keepalived's VIP line: the prefix kept unless /32, the VIP's own device; MASTER is 2.
    for (ip, intf) in [("192.0.2.100/24", "eth0"), ("192.0.2.101", "eth2")] {
        let l = [
            ("iname", "VI_1"),
            ("intf", intf),
            ("vrid", "51"),
            ("ip_address", ip),
        ];
        assert_eq!(
            sample_value(&text, "keepalived_vrrp_state", &l),
            Some(2.0),
            "{ip}"
        );
    }
    for (ip, intf) in [("192.0.2.200", "eth0"), ("198.51.100.7/24", "eth3")] {
        let l = [
            ("iname", "VI_1"),
            ("intf", intf),
            ("vrid", "51"),
            ("ip_address", ip),
        ];
        assert_eq!(
            sample_value(&text, "keepalived_vrrp_excluded_state", &l),
            Some(2.0),
            "{ip}"
        );
    }
    assert_eq!(
        sample_value(&text, "keepalived_script_state", &[("name", "chk_haproxy")]),
        Some(0.0),
        "idle"
    );
    assert_eq!(
        sample_value(&text, "keepalived_script_state", &[("name", "chk_disk")]),
        Some(1.0),
        "running"
    );
    // keepalived_up has no labels at all (not an empty set `{}`).
    assert!(text.contains("\nkeepalived_up 1\n"), "{text}");
    // HELP texts as keepalived-exporter words them.
    for help in [
        "# HELP keepalived_up Status",
        "# HELP keepalived_vrrp_state State of vrrp",
        "# HELP keepalived_vrrp_excluded_state State of vrrp with excluded VIP",
        "# HELP keepalived_gratuitous_arp_delay Gratuitous ARP delay",
        "# HELP keepalived_become_master Became master",
        "# HELP keepalived_script_status Tracker Script Status",
        "# HELP keepalived_script_state Tracker Script State",
    ] {
        assert!(text.contains(&format!("{help}\n")), "{help}");
    }
    assert_eq!(
        sample_value(
            &text,
            "keepalived_vrrp_state",
            &[
                ("iname", "VI_6 \"quoted\" \\ new\nline ü"),
                ("ip_address", "2001:db8::100/64")
            ]
        ),
        Some(1.0),
        "BACKUP is 1, escaped label values round-trip"
    );
    let expect = [
        ("keepalived_advertisements_sent_total", 1234.0),
        ("keepalived_advertisements_received_total", 7.0),
        ("keepalived_become_master_total", 2.0),
        ("keepalived_release_master_total", 1.0),
        ("keepalived_authentication_failure_total", 3.0),
        // The exporter's meaning: the garp_master_delay setting, seconds.
        ("keepalived_gratuitous_arp_delay_total", 3.0),
        ("lvsd_vrrp_delayed_garp_bursts_total", 4.0),
        ("keepalived_packet_length_errors_total", 0.0),
        ("keepalived_advertisements_interval_errors_total", 0.0),
        ("keepalived_ip_ttl_errors_total", 0.0),
        ("keepalived_invalid_type_received_total", 0.0),
        ("keepalived_address_list_errors_total", 0.0),
        ("keepalived_authentication_invalid_total", 0.0),
        ("keepalived_authentication_mismatch_total", 0.0),
        ("keepalived_priority_zero_received_total", 0.0),
        ("keepalived_priority_zero_sent_total", 0.0),
        ("lvsd_vrrp_split_brain_events_total", 1.0),
        ("lvsd_vrrp_effective_priority", 140.0),
    ];
    for (name, v) in expect {
        assert_eq!(sample_value(&text, name, &vi1), Some(v), "{name}");
    }
    assert_eq!(
        sample_value(&text, "keepalived_script_status", &[("name", "chk_disk")]),
        Some(0.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "keepalived_script_status",
            &[("name", "chk_haproxy")]
        ),
        Some(1.0)
    );
}

#[test]
fn server_health_quorum_reloads_and_check_events_are_exposed() {
    let text = full_exposition();
    let down = [
        ("virtual_server", "TCP 192.0.2.100:80"),
        ("real_server", "198.51.100.2:8080"),
    ];
    assert_eq!(sample_value(&text, "lvsd_real_server_up", &down), Some(0.0));
    assert_eq!(
        sample_value(&text, "lvsd_real_server_transitions_total", &down),
        Some(3.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "lvsd_real_server_up",
            &[("real_server", "[2001:db8::2]:443")]
        ),
        Some(0.0)
    );
    let fwm = [("virtual_server", "FWM 7")];
    assert_eq!(
        sample_value(&text, "lvsd_virtual_server_quorum_up", &fwm),
        Some(0.0)
    );
    assert_eq!(
        sample_value(&text, "lvsd_virtual_server_sorry_server_active", &fwm),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "lvsd_virtual_server_live_weight",
            &[("virtual_server", "TCP 192.0.2.100:80")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample_value(&text, "lvsd_config_reloads_total", &[("result", "failure")]),
        Some(1.0)
    );
    // The keywords lvsd does not implement (listed in /status) are counted.
    assert_eq!(
        sample_value(&text, "lvsd_config_unimplemented_keywords", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&text, "lvsd_config_last_reload_timestamp_seconds", &[]),
        Some(1_795_527_900.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "lvsd_check_failures_total",
            &[
                ("real_server", "198.51.100.2:8080"),
                ("reason", "connection_refused")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "lvsd_check_duration_seconds_bucket",
            &[("result", "success"), ("le", "0.05")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "lvsd_check_duration_seconds_bucket",
            &[("result", "success"), ("le", "0.025")]
        ),
        Some(0.0)
    );
    assert!(
        sample_value(
            &text,
            "lvsd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .is_some()
    );
}

#[test]
fn ipvs_families_follow_node_exporter_labels() {
    let text = full_exposition();
    let backend = [
        ("local_address", "10.0.0.2"),
        ("local_port", "80"),
        ("local_mark", ""),
        ("proto", "TCP"),
        ("remote_address", "172.16.0.3"),
        ("remote_port", "8080"),
    ];
    // Destination index 2: weight 1 + 2 % 5, active 2 % 17, inactive 2 % 3, connections 2.
    assert_eq!(
        sample_value(&text, "node_ipvs_backend_weight", &backend),
        Some(3.0)
    );
    assert_eq!(
        sample_value(&text, "node_ipvs_backend_connections_active", &backend),
        Some(2.0)
    );
    assert_eq!(
        sample_value(&text, "node_ipvs_backend_connections_inactive", &backend),
        Some(2.0)
    );
    assert_eq!(
        sample_value(&text, "lvsd_ipvs_backend_outgoing_bytes_total", &backend),
        Some(18_000.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "node_ipvs_backend_connections_inactive",
            &[
                // node_exporter's form: /proc/net/ip_vs's 8 hex digits.
                ("local_mark", "00000007"),
                ("proto", "FWM"),
                ("local_address", ""),
                ("remote_address", "2001:db8::2")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&text, "node_ipvs_connections_total", &[]),
        Some(1_000_000.0)
    );
    assert_eq!(
        sample_value(&text, "lvsd_ipvs_scrape_success", &[]),
        Some(1.0)
    );
}

#[test]
fn node_ipvs_families_can_be_left_to_node_exporter() {
    let metrics = Metrics::new();
    metrics.set_node_ipvs(false);
    let text = render(
        &metrics,
        Arc::new(sample_status()),
        IpvsScrape::Dumped(Arc::new(sample_ipvs(2, 3))),
    );
    assert!(!text.contains("node_ipvs_"), "{text}");
    assert!(text.contains("lvsd_ipvs_backend_connections_total{"));
    metrics.set_node_ipvs(true);
    let text = render(
        &metrics,
        Arc::new(sample_status()),
        IpvsScrape::Dumped(Arc::new(sample_ipvs(2, 3))),
    );
    assert!(text.contains("node_ipvs_backend_weight{"));
}

#[test]
fn bfd_sessions_show_their_state_and_counters() {
    let text = full_exposition();
    for want in [
        "# HELP lvsd_bfd_session_state ",
        "lvsd_bfd_session_state{name=\"bfd_up\",neighbor=\"192.0.2.20\"} 1\n",
        "lvsd_bfd_session_state{name=\"bfd_down\",neighbor=\"2001:db8::20\"} 0\n",
        "lvsd_bfd_session_transitions_total{name=\"bfd_up\",neighbor=\"192.0.2.20\"} 3\n",
        "lvsd_bfd_packets_received_total{name=\"bfd_up\",neighbor=\"192.0.2.20\"} 1200\n",
        "lvsd_bfd_packets_sent_total{name=\"bfd_down\",neighbor=\"2001:db8::20\"} 1300\n",
        "lvsd_bfd_dropped_datagrams_total{reason=\"malformed\"} 4\n",
        "lvsd_bfd_dropped_datagrams_total{reason=\"no_session\"} 5\n",
        "lvsd_bfd_dropped_datagrams_total{reason=\"bad_ttl\"} 6\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn one_state_series_per_address_even_if_listed_twice() {
    let mut status = sample_status();
    let mut cfg = (*status.vrrp_config).clone();
    let twice = cfg.instances[0].vips[0].clone();
    cfg.instances[0].vips = vec![twice.clone(), twice];
    cfg.instances[0].vips_excluded.clear();
    status.vrrp_config = Arc::new(cfg);
    let text = render(&Metrics::new(), Arc::new(status), IpvsScrape::Disabled);
    let n = text
        .lines()
        .filter(|l| l.starts_with("keepalived_vrrp_state{") && l.contains("iname=\"VI_1\""))
        .count();
    assert_eq!(n, 1, "{text}");
}

#[test]
fn failed_or_absent_ipvs_dump_is_reported_not_invented() {
    let metrics = Metrics::new();
    let failed = render(&metrics, Arc::new(sample_status()), IpvsScrape::Failed);
    assert_eq!(
        sample_value(&failed, "lvsd_ipvs_scrape_success", &[]),
        Some(0.0)
    );
    assert!(!failed.contains("node_ipvs_backend_weight{"));
    let off = render(&metrics, Arc::new(sample_status()), IpvsScrape::Disabled);
    assert!(!off.contains("lvsd_ipvs_scrape_success"));
    assert!(off.ends_with("# EOF\n"));
}

/// promtool is the Debian `prometheus` package's linter; CI installs it.
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install the Debian package `prometheus`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), msg)
}

#[test]
fn promtool_accepts_the_full_exposition() {
    // promtool reads the classic text format, which is what /metrics serves to clients that do
    // not ask for OpenMetrics (Prometheus itself does ask).
    let text = to_prometheus_text(&full_exposition());
    let (ok, msg) = promtool_check(&text);
    assert!(
        ok,
        "promtool check metrics failed:\n{msg}\n--- exposition ---\n{text}"
    );
    assert!(msg.trim().is_empty(), "promtool lint findings:\n{msg}");
}

#[test]
fn promtool_is_a_real_witness() {
    // The same check rejects a broken exposition, so the test above can fail.
    let (ok, _) = promtool_check("# TYPE x counter\nx{a=\"1\" 3\n");
    assert!(!ok);
}
