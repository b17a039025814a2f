//! The real `lvsd` binary (`-P`, `--metrics-listen`) as VRRP backup beside a real keepalived
//! 2.2.7 master on the namespace LAN (tests/vrrp_lab), scraped from inside its namespace: the
//! keepalived-exporter state gauge and counters follow a crash failover (1 → 2, become_master)
//! and the preemption back (2 → 1, release_master); `/status` and `lvsd ctl status` show the same
//! state; `promtool check metrics` accepts the live output.

mod ops_support;
mod vrrp_lab;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ops_support::{http_get, sample_value};
use vrrp_lab::{Kind, Lab, Spec};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");
const KA: u8 = 1;
const LV: u8 = 2;
const API: &str = "127.0.0.1:9165";

/// lvsd in `lab`'s node `LV`, killed on drop (the lab also kills whatever is left in its
/// namespaces).
struct Lvsd(Child);

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(lab: &Lab, path: &'static str) -> (u16, String) {
    let addr: SocketAddr = API.parse().expect("API address");
    lab.in_ns(LV, move || http_get(addr, path))
}

fn scrape(lab: &Lab) -> String {
    let (code, body) = get(lab, "/metrics");
    assert_eq!(code, 200, "GET /metrics: {body}");
    body
}

const VI: [(&str, &str); 4] = [
    ("iname", "VI_1"),
    ("intf", "eth0"),
    ("vrid", "51"),
    ("ip_address", "10.77.0.100/24"),
];
const VI_COUNTER: [(&str, &str); 3] = [("iname", "VI_1"), ("intf", "eth0"), ("vrid", "51")];

fn state(body: &str) -> Option<f64> {
    sample_value(body, "keepalived_vrrp_state", &VI)
}

fn counter(body: &str, name: &str) -> f64 {
    sample_value(body, name, &VI_COUNTER).unwrap_or_else(|| panic!("{name} missing:\n{body}"))
}

/// Scrapes every 100 ms until the state gauge reads `want`; returns the scrape and the time.
fn wait_state(lab: &Lab, want: f64, within: Duration, what: &str) -> (String, Duration) {
    let t0 = Instant::now();
    loop {
        let body = scrape(lab);
        if state(&body) == Some(want) {
            return (body, t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "{what}: keepalived_vrrp_state is {:?} after {within:?}, want {want}\n{body}",
            state(&body)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn promtool_check(text: &str) {
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
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lvsd_metrics_follow_failover_against_keepalived() {
    let lab = Lab::new("om");
    let spec = |prio| Spec::v4(3, prio, 0.5);
    let vip = "10.77.0.100";

    let conf = lab.dir.join("lvsd.conf");
    std::fs::write(&conf, spec(100).keepalived_conf()).expect("write lvsd conf");
    let log = lab.dir.join("lvsd.log");
    let logf = std::fs::File::create(&log).expect("log file");
    let _lvsd = Lvsd(
        Command::new("ip")
            .args(["netns", "exec", &lab.ns(LV), LVSD, "-P", "-n", "-l", "-f"])
            .arg(&conf)
            .args(["--metrics-listen", API])
            .env("RUST_LOG", "info")
            .stdout(logf.try_clone().expect("log fd"))
            .stderr(logf)
            .spawn()
            .expect("spawn lvsd"),
    );
    let mut ka = lab.start(Kind::Keepalived, KA, &spec(150));
    let lvsd_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // The API is up once lvsd has started; keepalived (150) wins and lvsd settles as backup.
    let t0 = Instant::now();
    while lab.in_ns(LV, || std::net::TcpStream::connect(API).is_err()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "lvsd API never listened:\n{}",
            lvsd_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        lab.wait_for(KA, vip, true, Duration::from_secs(6))
            .is_some(),
        "keepalived never took {vip}"
    );
    let (body, _) = wait_state(&lab, 1.0, Duration::from_secs(5), "backup");
    let rcvd0 = counter(&body, "keepalived_advertisements_received_total");
    let become0 = counter(&body, "keepalived_become_master_total");
    assert_eq!(become0, 0.0, "lvsd was never master yet:\n{body}");
    std::thread::sleep(Duration::from_secs(1));
    let rcvd1 = counter(&scrape(&lab), "keepalived_advertisements_received_total");
    assert!(
        rcvd1 >= rcvd0 + 1.0,
        "adverts received {rcvd0} → {rcvd1} in 1 s"
    );

    // Crash the keepalived master: lvsd takes over (1 → 2) and sends adverts.
    ka.kill9();
    let (body, took) = wait_state(&lab, 2.0, Duration::from_secs(6), "takeover");
    eprintln!("lvsd master after {took:?} (state gauge 1 → 2)");
    assert!(lab.has(LV, vip), "lvsd master without the VIP");
    assert_eq!(counter(&body, "keepalived_become_master_total"), 1.0);
    let sent0 = counter(&body, "keepalived_advertisements_sent_total");
    std::thread::sleep(Duration::from_secs(1));
    let body = scrape(&lab);
    let sent1 = counter(&body, "keepalived_advertisements_sent_total");
    eprintln!("adverts sent {sent0} → {sent1} in 1 s (advert_int 0.5)");
    assert!(
        sent1 >= sent0 + 1.0,
        "adverts sent {sent0} → {sent1} in 1 s"
    );
    for name in [
        "keepalived_packet_length_errors_total",
        "keepalived_advertisements_interval_errors_total",
        "keepalived_ip_ttl_errors_total",
        "keepalived_invalid_type_received_total",
        "keepalived_address_list_errors_total",
        "keepalived_authentication_invalid_total",
        "keepalived_authentication_mismatch_total",
        "keepalived_authentication_failure_total",
    ] {
        assert_eq!(counter(&body, name), 0.0, "{name}");
    }
    promtool_check(&body);

    // /status and `lvsd ctl status` agree with the gauge.
    let (code, text) = get(&lab, "/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&text).expect("/status is JSON");
    let inst = &status["vrrp"][0];
    assert_eq!(inst["name"], "VI_1", "{status}");
    assert_eq!(inst["state"], "MASTER", "{status}");
    assert_eq!(inst["vrid"], 51);
    assert_eq!(inst["counters"]["become_master"], 1);
    let ctl = lab.exec(LV, &[LVSD, "ctl", "--api", API, "status"]);
    let table = String::from_utf8_lossy(&ctl.stdout);
    assert!(
        ctl.status.success(),
        "lvsd ctl status: {}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    eprintln!("lvsd ctl status:\n{table}");
    let row = table
        .lines()
        .find(|l| l.contains("VI_1"))
        .unwrap_or_else(|| panic!("no VI_1 row in:\n{table}"));
    assert!(
        row.contains("MASTER") && row.contains("eth0") && row.contains("51"),
        "VI_1 row: {row}\n{table}"
    );
    let config = table
        .lines()
        .find(|l| l.starts_with("config "))
        .unwrap_or_else(|| panic!("no config line in:\n{table}"));
    assert!(
        config.contains("s ago, last reload ok; 0 reloads ok, 0 failed"),
        "config line: {config}"
    );

    // keepalived comes back with the higher priority and preempts: lvsd releases (2 → 1).
    let _ka = lab.start(Kind::Keepalived, KA, &spec(150));
    let (body, took) = wait_state(&lab, 1.0, Duration::from_secs(8), "preempted");
    eprintln!("lvsd back to backup after {took:?} (state gauge 2 → 1)");
    assert_eq!(counter(&body, "keepalived_release_master_total"), 1.0);
    assert_eq!(counter(&body, "keepalived_become_master_total"), 1.0);
    assert!(
        lab.wait_for(LV, vip, false, Duration::from_secs(2))
            .is_some(),
        "lvsd kept {vip} as backup"
    );
    let (_, text) = get(&lab, "/status");
    let status: serde_json::Value = serde_json::from_str(&text).expect("/status is JSON");
    assert_eq!(status["vrrp"][0]["state"], "BACKUP", "{status}");
    assert_eq!(status["vrrp"][0]["master_addr"], "10.77.0.1", "{status}");
    promtool_check(&body);
}
