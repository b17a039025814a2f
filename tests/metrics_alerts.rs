//! The shipped Prometheus alerting rules (dist/prometheus/lvsd-alerts.yml): `promtool check
//! rules` accepts them, and `promtool test rules` fires each alert on series lvsd itself
//! rendered — a 20-minute timeline of two directors (a real server goes down, a reload fails, a
//! quorum is lost, checks get slow, the backup becomes master beside the master), one
//! exposition per minute, labelled as Prometheus would scrape them (`job`, `instance`). The
//! Grafana dashboard (dist/grafana/lvsd.json) only queries families lvsd exposes.

mod ops_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lvsd::metrics::{CheckResult, IpvsScrape, Metrics, render, to_prometheus_text};
use lvsd::status::{Status, VrrpState};
use ops_support::{sample_ipvs, sample_status};

const STEPS: usize = 20;

fn rules_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/prometheus/lvsd-alerts.yml")
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("promtool (Debian package prometheus; bash .ci/run): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Director A's state at minute `t` (master of VI_1, serves TCP 192.0.2.100:80).
fn director_a(t: usize) -> Status {
    let mut s = base();
    s.vrrp[0].state = VrrpState::Master;
    s.vrrp[0].counters.become_master = 1;
    let vs = &mut s.virtual_servers[0];
    // 198.51.100.2 fails its checks from minute 4 on.
    if t >= 4 {
        vs.real_servers[1].up = false;
        vs.live_weight = 3;
    }
    // Minutes 8-11: the quorum is lost.
    vs.quorum_up = !(8..12).contains(&t);
    // Minutes 6-8: a reload failed (the running configuration stays).
    if (6..9).contains(&t) {
        s.reload.failures = 1;
        s.reload.last_error = Some("keepalived.conf:3:1: unexpected `}`".into());
    }
    s
}

/// Director B at minute `t`: no configuration for the first two minutes, backup of VI_1, then
/// from minute 14 master as well (it stopped hearing A's adverts).
fn director_b(t: usize) -> Status {
    let mut s = base();
    if t < 2 {
        s.reload.last_reload_unix_ms = None;
    }
    if t >= 14 {
        s.vrrp[0].state = VrrpState::Master;
        s.vrrp[0].counters.become_master = 1;
    }
    s
}

/// A healthy director: VI_1 backup, both real servers up, quorum met, no failed reload.
fn base() -> Status {
    let mut s = sample_status();
    s.vrrp.truncate(1);
    s.vrrp[0].state = VrrpState::Backup;
    s.vrrp[0].counters = Default::default();
    s.virtual_servers.truncate(1);
    let vs = &mut s.virtual_servers[0];
    vs.quorum_up = true;
    vs.live_weight = 5;
    for r in &mut vs.real_servers {
        r.up = true;
        r.last_failure = None;
    }
    s.reload.failures = 0;
    s.reload.last_error = None;
    s
}

/// One scrape as a map from the series (with `job` and `instance`) to its value.
fn scrape(metrics: &Metrics, status: Status, instance: &str) -> BTreeMap<String, f64> {
    let text = to_prometheus_text(&render(metrics, Arc::new(status), IpvsScrape::Disabled));
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let target = format!("job=\"lvsd\",instance=\"{instance}\"");
        let series = match series.split_once('{') {
            Some((name, rest)) => format!("{name}{{{target},{rest}"),
            None => format!("{series}{{{target}}}"),
        };
        out.insert(series, value.parse().expect("sample value"));
    }
    out
}

/// The timeline as promtool's `input_series`, one value per minute (`_` where a series is
/// absent).
fn input_series() -> String {
    let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let (ma, mb) = (Metrics::new(), Metrics::new());
    for t in 0..STEPS {
        // A's HTTP checks take 10 ms, then from minute 10 on 3 s (a slow backend).
        let took = if t >= 10 {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(10)
        };
        for _ in 0..6 {
            ma.observe_check(
                "TCP 192.0.2.100:80",
                "198.51.100.1:8080",
                "HTTP_GET",
                took,
                CheckResult::Success,
            );
            mb.observe_check(
                "TCP 192.0.2.100:80",
                "198.51.100.1:8080",
                "HTTP_GET",
                Duration::from_millis(10),
                CheckResult::Success,
            );
        }
        for scraped in [
            scrape(&ma, director_a(t), "a:9165"),
            scrape(&mb, director_b(t), "b:9165"),
        ] {
            for (k, v) in scraped {
                series.entry(k).or_insert_with(|| vec![None; STEPS])[t] = Some(v);
            }
        }
    }
    let mut y = String::new();
    for (k, vals) in series {
        let vals: Vec<String> = vals
            .iter()
            .map(|v| v.map_or("_".to_string(), |v| v.to_string()))
            .collect();
        y.push_str(&format!(
            "      - series: '{}'\n        values: '{}'\n",
            k.replace('\'', "''"),
            vals.join(" ")
        ));
    }
    y
}

/// What must fire when: (eval time, alert, expected label sets as YAML flow maps).
const EXPECT: &[(&str, &str, &[&str])] = &[
    (
        "1m",
        "LvsdDown",
        &[r#"{severity: critical, job: lvsd, instance: "b:9165"}"#],
    ),
    ("3m", "LvsdDown", &[]),
    ("5m", "LvsdRealServerDown", &[]),
    (
        "6m",
        "LvsdRealServerDown",
        &[
            r#"{severity: warning, job: lvsd, instance: "a:9165", virtual_server: "TCP 192.0.2.100:80", real_server: "198.51.100.2:8080"}"#,
        ],
    ),
    (
        "7m",
        "LvsdReloadFailed",
        &[r#"{severity: warning, job: lvsd, instance: "a:9165"}"#],
    ),
    ("10m", "LvsdReloadFailed", &[]),
    ("8m", "LvsdQuorumLost", &[]),
    (
        "9m",
        "LvsdQuorumLost",
        &[
            r#"{severity: critical, job: lvsd, instance: "a:9165", virtual_server: "TCP 192.0.2.100:80"}"#,
        ],
    ),
    ("13m", "LvsdQuorumLost", &[]),
    ("13m", "LvsdVrrpMasterChanged", &[]),
    (
        "15m",
        "LvsdVrrpMasterChanged",
        &[
            r#"{severity: info, job: lvsd, instance: "b:9165", iname: VI_1, intf: eth0, vrid: "51"}"#,
        ],
    ),
    ("13m", "LvsdVrrpSplitBrain", &[]),
    (
        "15m",
        "LvsdVrrpSplitBrain",
        &[r#"{severity: critical, iname: VI_1, vrid: "51"}"#],
    ),
    ("12m", "LvsdCheckLatencyHigh", &[]),
    (
        "16m",
        "LvsdCheckLatencyHigh",
        &[
            r#"{severity: warning, instance: "a:9165", virtual_server: "TCP 192.0.2.100:80", checker: HTTP_GET}"#,
        ],
    ),
];

fn test_file(dir: &Path) -> std::path::PathBuf {
    let mut y = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{}    alert_rule_test:\n",
        rules_file().display(),
        input_series()
    );
    for (at, alert, labels) in EXPECT {
        y.push_str(&format!(
            "      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts:"
        ));
        if labels.is_empty() {
            y.push_str(" []\n");
            continue;
        }
        y.push('\n');
        for l in *labels {
            y.push_str(&format!(
                "          - exp_labels: {l}\n            exp_annotations: {}\n",
                annotations(alert, l)
            ));
        }
    }
    let path = dir.join("lvsd-alerts.test.yml");
    std::fs::write(&path, y).unwrap();
    path
}

/// The annotations each alert renders for the timeline's series, as promtool compares them.
fn annotations(alert: &str, _labels: &str) -> &'static str {
    match alert {
        "LvsdDown" => {
            r#"{summary: "lvsd on b:9165 has no running configuration", description: "keepalived_up is 0: the daemon answers but has not loaded a configuration."}"#
        }
        "LvsdRealServerDown" => {
            r#"{summary: "Real server 198.51.100.2:8080 of TCP 192.0.2.100:80 is down", description: "Its health checks fail on a:9165; it takes no new traffic."}"#
        }
        "LvsdReloadFailed" => {
            r#"{summary: "Configuration reload failed on a:9165", description: "The running configuration stays in force; `lvsd ctl status` shows the error."}"#
        }
        "LvsdQuorumLost" => {
            r#"{summary: "Virtual server TCP 192.0.2.100:80 lost its quorum", description: "The live weight on a:9165 is below the configured quorum (sorry server or quorum_down in effect)."}"#
        }
        "LvsdVrrpMasterChanged" => {
            r#"{summary: "VRRP instance VI_1 (vrid 51) became master on b:9165", description: "A failover or a preemption happened in the last 5 minutes."}"#
        }
        "LvsdVrrpSplitBrain" => {
            r#"{summary: "VRRP instance VI_1 (vrid 51) is master on 2 directors", description: "More than one director holds the virtual addresses: adverts do not reach the peer."}"#
        }
        "LvsdCheckLatencyHigh" => {
            r#"{summary: "HTTP_GET checks of TCP 192.0.2.100:80 are slow", description: "99th percentile of check duration on a:9165 is 4.975s."}"#
        }
        other => panic!("no annotations for {other}"),
    }
}

#[test]
fn alert_rules_pass_promtool_check() {
    let (ok, text) = promtool(&["check", "rules", rules_file().to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
}

#[test]
fn alerts_fire_on_series_lvsd_renders() {
    let dir = std::env::temp_dir().join(format!("lvsd-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = test_file(&dir);
    let (ok, text) = promtool(&["test", "rules", path.to_str().unwrap()]);
    assert!(ok, "promtool test rules {}:\n{text}", path.display());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dashboard_queries_only_families_lvsd_exposes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/grafana/lvsd.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("dashboard JSON");
    // Every family lvsd can expose, from the TYPE lines of a scrape with an IPVS dump.
    let metrics = Metrics::new();
    metrics.observe_check(
        "TCP 192.0.2.100:80",
        "198.51.100.2:8080",
        "HTTP_GET",
        Duration::from_millis(5),
        CheckResult::Failure { reason: "timeout" },
    );
    let text = to_prometheus_text(&render(
        &metrics,
        Arc::new(director_a(5)),
        IpvsScrape::Dumped(Arc::new(sample_ipvs(1, 2))),
    ));
    let mut names = Vec::new();
    for t in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = t.split_once(' ').unwrap_or((t, ""));
        if kind == "histogram" {
            names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
        } else {
            names.push(name.to_string());
        }
    }
    let mut exprs = Vec::new();
    collect_exprs(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    for e in &exprs {
        let used: Vec<&str> = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| {
                w.starts_with("keepalived_")
                    || w.starts_with("lvsd_")
                    || w.starts_with("node_ipvs_")
            })
            .collect();
        assert!(!used.is_empty(), "query without an lvsd family: {e}");
        for w in used {
            assert!(names.iter().any(|n| n == w), "{w} (in {e}) is not exposed");
        }
    }
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "expr" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_exprs(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
