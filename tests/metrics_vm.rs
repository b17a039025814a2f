//! `/metrics` against a real IPVS kernel: the table is built with `ipvsadm` (independent of
//! lvsd's client), one TCP connection goes through it, and the scraped node_exporter-style series
//! must match what `ipvsadm -Ln --stats --exact` reports. `in_vm` boots the IPVS VM once
//! (tests/vm/ipvs-vm.sh) and runs the `metrics_vm_*` tests inside it.

#[path = "vm/harness.rs"]
mod vm;

mod ops_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use lvsd::api::{self, Api};
use lvsd::metrics::Metrics;
use lvsd::status::StatusHub;
use ops_support::{http_get, sample_value};

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("metrics_vm_", 2);
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ipvsadm -Ln --stats --exact` row of destination `rs` under service `vs`: Conns InPkts OutPkts
/// InBytes OutBytes.
fn ipvsadm_stats(vs: &str, rs: &str) -> Vec<u64> {
    let text = sh("ipvsadm -Ln --stats --exact");
    let mut in_service = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 && f[0] != "->" {
            in_service = f[1] == vs;
        } else if in_service && f.first() == Some(&"->") && f.get(1) == Some(&rs) {
            return f[2..7].iter().map(|n| n.parse().unwrap()).collect();
        }
    }
    panic!("no {vs} -> {rs} in:\n{text}");
}

/// ActiveConn InActConn Weight of destination `rs` from `ipvsadm -Ln`.
fn ipvsadm_conns(vs: &str, rs: &str) -> (u64, u64, u64) {
    let text = sh("ipvsadm -Ln");
    let mut in_service = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 && f[0] != "->" {
            in_service = f[1] == vs;
        } else if in_service && f.first() == Some(&"->") && f.get(1) == Some(&rs) {
            return (
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
                f[3].parse().unwrap(),
            );
        }
    }
    panic!("no {vs} -> {rs} in:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn metrics_vm_scrape_matches_ipvsadm() {
    sh("ipvsadm -C");
    sh(
        "ip link add lvsdm0 type dummy 2>/dev/null || true; ip link set lvsdm0 up; \
        ip addr replace 10.77.0.1/24 dev lvsdm0; ip addr replace 10.77.0.2/24 dev lvsdm0",
    );
    // A backend on the dummy address, a NAT service in front of it, a firewall-mark service.
    let backend = TcpListener::bind("10.77.0.2:8080").unwrap();
    sh(
        "ipvsadm -A -t 10.77.0.1:80 -s wrr && ipvsadm -a -t 10.77.0.1:80 -r 10.77.0.2:8080 -m -w 3 \
        && ipvsadm -A -f 7 -s rr && ipvsadm -a -f 7 -r 10.77.0.3:0 -g -w 2",
    );

    // One connection through IPVS (locally originated traffic is balanced on LOCAL_OUT).
    let through = std::thread::spawn(|| {
        let mut c = TcpStream::connect_timeout(
            &"10.77.0.1:80".parse::<SocketAddr>().unwrap(),
            Duration::from_secs(5),
        )?;
        c.write_all(b"ping")?;
        Ok::<_, std::io::Error>(c)
    });
    backend.set_nonblocking(false).unwrap();
    let (mut server_side, _) = backend.accept().expect("IPVS forwarded the connection");
    let mut buf = [0u8; 4];
    server_side.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let _client = through.join().unwrap().unwrap();
    // The kernel folds its per-CPU counters into the readable totals from its rate estimator,
    // every 2 s: wait until the connection shows (ipvsadm as the witness), at most 10 s.
    for _ in 0..40 {
        if ipvsadm_stats("10.77.0.1:80", "10.77.0.2:8080")[0] >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let client = ipvs::Client::connect().await.expect("IPVS netlink");
    let api = Api {
        status: StatusHub::new(),
        metrics: Metrics::new(),
        ipvs: Some(api::kernel_dumper(client)),
        reload: None,
    };
    let (addr, _task) = api::spawn("127.0.0.1:0".parse().unwrap(), api, std::future::pending())
        .await
        .unwrap();
    let body = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .unwrap()
        .1;

    let backend_labels = [
        ("local_address", "10.77.0.1"),
        ("local_port", "80"),
        ("local_mark", ""),
        ("proto", "TCP"),
        ("remote_address", "10.77.0.2"),
        ("remote_port", "8080"),
    ];
    let got = |name: &str| sample_value(&body, name, &backend_labels);
    assert_eq!(
        sample_value(&body, "lvsd_ipvs_scrape_success", &[]),
        Some(1.0)
    );
    let (active, inactive, weight) = ipvsadm_conns("10.77.0.1:80", "10.77.0.2:8080");
    assert_eq!(weight, 3);
    assert_eq!(active, 1, "the connection is established through IPVS");
    assert_eq!(got("node_ipvs_backend_weight"), Some(weight as f64));
    assert_eq!(
        got("node_ipvs_backend_connections_active"),
        Some(active as f64)
    );
    assert_eq!(
        got("node_ipvs_backend_connections_inactive"),
        Some(inactive as f64)
    );

    // Counters: the kernel updates them with every packet, and scrape and ipvsadm are two reads;
    // the connection is idle now, so they agree.
    let stats = ipvsadm_stats("10.77.0.1:80", "10.77.0.2:8080");
    let ours = [
        "lvsd_ipvs_backend_connections_total",
        "lvsd_ipvs_backend_incoming_packets_total",
        "lvsd_ipvs_backend_outgoing_packets_total",
        "lvsd_ipvs_backend_incoming_bytes_total",
        "lvsd_ipvs_backend_outgoing_bytes_total",
    ]
    .map(|n| got(n).unwrap_or_else(|| panic!("{n} missing:\n{body}")) as u64);
    assert_eq!(ours.to_vec(), stats);
    assert_eq!(stats[0], 1, "one connection counted");

    // The firewall-mark service: mark in local_mark (hex, as node_exporter), proto FWM.
    assert_eq!(
        sample_value(
            &body,
            "node_ipvs_backend_weight",
            &[
                ("local_mark", "00000007"),
                ("proto", "FWM"),
                ("remote_address", "10.77.0.3")
            ]
        ),
        Some(2.0)
    );
    // Whole-kernel totals from /proc/net/ip_vs_stats.
    let total = sample_value(&body, "node_ipvs_connections_total", &[]).unwrap();
    assert!(total >= 1.0, "{total}");
    sh("ipvsadm -C; ip link del lvsdm0");
}

// ---------------------------------------------------------------------------------------------
// The lvsd binary as a director (`-n -C --metrics-listen`), real HTTP backends, real events.
// ---------------------------------------------------------------------------------------------

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");
const LVSD_API: &str = "127.0.0.1:9165";
const VS: &str = "TCP 10.0.0.1:80";
const RS_A: &str = "127.0.0.2:8080";
const RS_B: &str = "127.0.0.3:8080";

/// keepalived.conf with two HTTP_GET-checked real servers; `weight_b` changes on reload, `broken`
/// appends a parameter that expands to itself (keepalived never finishes reading it; lvsd
/// refuses it — unclosed blocks are not "broken": keepalived closes them and runs).
fn director_config(weight_b: u32, broken: bool) -> String {
    let rs = |addr: &str, weight: u32| {
        let (ip, port) = addr.split_once(':').unwrap();
        format!(
            "    real_server {ip} {port} {{\n        weight {weight}\n        HTTP_GET {{\n            \
             url {{\n                path /health\n                status_code 200\n            }}\n            \
             connect_timeout 1\n            retry 0\n            delay_before_retry 1\n        }}\n    }}\n"
        )
    };
    format!(
        "global_defs {{\n    router_id lvsd_metrics_vm\n}}\nvirtual_server 10.0.0.1 80 {{\n    \
         delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n{}{}}}\n{}",
        rs(RS_A, 2),
        rs(RS_B, weight_b),
        if broken {
            "$BROKEN=${BROKEN}\n$BROKEN\n"
        } else {
            ""
        }
    )
}

/// A tiny HTTP/1.0 backend on its own thread, answering `200 OK` (or `500` once `failing` is set)
/// until it is stopped; stopping closes the listening socket, so checks see a refused connection.
struct Backend {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    fn start(addr: &str) -> Backend {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, f) = (stop.clone(), failing.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).ok();
                        c.set_read_timeout(Some(Duration::from_secs(1))).ok();
                        let mut buf = [0u8; 1024];
                        let _ = c.read(&mut buf);
                        let status = if f.load(Ordering::Relaxed) {
                            "500 Internal Server Error"
                        } else {
                            "200 OK"
                        };
                        let _ = write!(
                            c,
                            "HTTP/1.0 {status}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Backend {
            stop,
            failing,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

struct LvsdProc {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl LvsdProc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }
}

impl Drop for LvsdProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lvsd_scrape() -> String {
    let (code, body) = http_get(LVSD_API.parse().unwrap(), "/metrics");
    assert_eq!(code, 200, "GET /metrics: {body}");
    body
}

fn rs_up(body: &str, rs: &str) -> Option<f64> {
    sample_value(
        body,
        "lvsd_real_server_up",
        &[("virtual_server", VS), ("real_server", rs)],
    )
}

/// Scrapes every 100 ms until `ok` holds; returns the scrape and how long it took.
fn wait_scrape(
    lvsd: &LvsdProc,
    within: Duration,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let t0 = std::time::Instant::now();
    loop {
        let body = lvsd_scrape();
        if ok(&body) {
            return (body, t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "{what}: not seen after {within:?}\n{body}\n--- lvsd log ---\n{}",
            lvsd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn failures(body: &str, rs: &str, reason: &str) -> f64 {
    sample_value(
        body,
        "lvsd_check_failures_total",
        &[
            ("virtual_server", VS),
            ("real_server", rs),
            ("checker", "HTTP_GET"),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

fn reloads(body: &str, result: &str) -> f64 {
    sample_value(body, "lvsd_config_reloads_total", &[("result", result)])
        .unwrap_or_else(|| panic!("lvsd_config_reloads_total{{result={result}}} missing:\n{body}"))
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn metrics_vm_lvsd_director_events() {
    use nix::sys::signal::Signal;
    sh("ipvsadm -C");
    let dir = std::path::PathBuf::from(format!("/tmp/lvsd-metrics-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, director_config(3, false)).unwrap();
    let a = Backend::start(RS_A);
    let b = Backend::start(RS_B);
    let log = dir.join("lvsd.log");
    let lvsd = LvsdProc {
        child: Command::new(LVSD)
            .args(["-n", "-l", "-C", "-f"])
            .arg(&conf)
            .args(["--metrics-listen", LVSD_API])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {LVSD}: {e}")),
        log,
    };
    let t0 = std::time::Instant::now();
    while TcpStream::connect(LVSD_API).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "lvsd API never listened:\n{}",
            lvsd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Both backends pass: up 1, and the kernel series match ipvsadm.
    let (_, t) = wait_scrape(&lvsd, Duration::from_secs(10), "all up", |b| {
        rs_up(b, RS_A) == Some(1.0) && rs_up(b, RS_B) == Some(1.0)
    });
    eprintln!("lvsd director: both real servers up after {t:?}");
    let kernel = |body: &str, rs: &str, name: &str| {
        let (ip, port) = rs.split_once(':').unwrap();
        sample_value(
            body,
            name,
            &[
                ("local_address", "10.0.0.1"),
                ("local_port", "80"),
                ("proto", "TCP"),
                ("remote_address", ip),
                ("remote_port", port),
            ],
        )
    };
    // The status is published as the director decides; the kernel write follows (ms later).
    let (body, _) = wait_scrape(&lvsd, Duration::from_secs(3), "both in IPVS", |b| {
        [RS_A, RS_B]
            .iter()
            .all(|rs| kernel(b, rs, "node_ipvs_backend_weight").is_some())
    });
    assert_eq!(
        sample_value(&body, "lvsd_ipvs_scrape_success", &[]),
        Some(1.0)
    );
    for (rs, w) in [(RS_A, 2.0), (RS_B, 3.0)] {
        let (_, _, kw) = ipvsadm_conns("10.0.0.1:80", rs);
        assert_eq!(kw as f64, w, "ipvsadm weight of {rs}");
        assert_eq!(
            kernel(&body, rs, "node_ipvs_backend_weight"),
            Some(w),
            "{rs}\n{body}"
        );
        let stats = ipvsadm_stats("10.0.0.1:80", rs);
        assert_eq!(
            kernel(&body, rs, "lvsd_ipvs_backend_connections_total"),
            Some(stats[0] as f64),
            "{rs}"
        );
        assert_eq!(
            kernel(&body, rs, "lvsd_ipvs_backend_incoming_bytes_total"),
            Some(stats[3] as f64)
        );
    }
    assert_eq!(failures(&body, RS_A, "refused"), 0.0);

    // Stop A: down within its detection bound (delay_loop 1 + connect_timeout 1 × (retry 0 + 1)
    // = 2 s, plus slack for the emulated VM), the refusal counted, the kernel entry removed.
    a.stop();
    let (body, t) = wait_scrape(&lvsd, Duration::from_secs(6), "A down", |b| {
        rs_up(b, RS_A) == Some(0.0)
    });
    eprintln!("lvsd director: A stopped → lvsd_real_server_up 0 after {t:?}");
    assert_eq!(rs_up(&body, RS_B), Some(1.0));
    let refused = failures(&body, RS_A, "refused");
    assert!(refused >= 1.0, "no refusal counted for A:\n{body}");
    assert_eq!(failures(&body, RS_B, "refused"), 0.0);
    let rs_labels = |rs| [("virtual_server", VS), ("real_server", rs)];
    assert_eq!(
        sample_value(
            &body,
            "lvsd_real_server_transitions_total",
            &rs_labels(RS_A)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &body,
            "lvsd_real_server_transitions_total",
            &rs_labels(RS_B)
        ),
        Some(0.0)
    );
    let (body, _) = wait_scrape(&lvsd, Duration::from_secs(3), "A out of IPVS", |b| {
        kernel(b, RS_A, "node_ipvs_backend_weight").is_none()
    });
    assert!(
        !sh("ipvsadm -Ln --exact").contains(RS_A),
        "A still in the kernel"
    );
    assert_eq!(
        sample_value(
            &body,
            "lvsd_virtual_server_live_weight",
            &[("virtual_server", VS)]
        ),
        Some(3.0)
    );

    // B answers 500: a different reason.
    b.failing.store(true, std::sync::atomic::Ordering::Relaxed);
    let (body, t) = wait_scrape(&lvsd, Duration::from_secs(6), "B down", |b| {
        rs_up(b, RS_B) == Some(0.0)
    });
    eprintln!("lvsd director: B answering 500 → down after {t:?}");
    assert!(failures(&body, RS_B, "status") >= 1.0, "{body}");
    assert_eq!(failures(&body, RS_B, "refused"), 0.0);
    eprintln!(
        "lvsd director: failures A refused={} B status={}",
        failures(&body, RS_A, "refused"),
        failures(&body, RS_B, "status")
    );
    promtool_check(&body);

    // /status shows both down with their last failure reason.
    let (code, text) = http_get(LVSD_API.parse().unwrap(), "/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&text).expect("/status is JSON");
    let vs = &status["virtual_servers"][0];
    assert_eq!(vs["key"], VS, "{status}");
    let rs = |addr: &str| {
        vs["real_servers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| format!("{}:{}", r["address"].as_str().unwrap_or(""), r["port"]) == addr)
            .cloned()
            .unwrap_or_else(|| panic!("{addr} not in {status}"))
    };
    let (ra, rb) = (rs(RS_A), rs(RS_B));
    eprintln!(
        "lvsd director: /status last_failure A={} B={}",
        ra["last_failure"], rb["last_failure"]
    );
    assert_eq!(ra["up"], false, "{ra}");
    assert!(ra["last_check_unix_ms"].as_u64().is_some(), "{ra}");
    let reason_a = ra["last_failure"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(reason_a.contains("refused"), "A's last failure: {ra}");
    assert_eq!(rb["up"], false, "{rb}");
    assert!(
        rb["last_failure"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "B's last failure: {rb}"
    );

    // SIGHUP with B's weight changed: a successful reload; then a broken file: a failure.
    let (ok0, bad0) = (reloads(&body, "success"), reloads(&body, "failure"));
    let loaded = |b: &str| sample_value(b, "lvsd_config_last_reload_timestamp_seconds", &[]);
    let started = loaded(&body).unwrap_or_else(|| panic!("no load time at start-up:\n{body}"));
    std::fs::write(&conf, director_config(4, false)).unwrap();
    lvsd.signal(Signal::SIGHUP);
    // The reload is counted once the file is taken; the director applies it just after.
    let rs_weight = |b: &str| {
        sample_value(
            b,
            "lvsd_real_server_weight",
            &[("virtual_server", VS), ("real_server", RS_B)],
        )
    };
    let (body, _) = wait_scrape(&lvsd, Duration::from_secs(5), "reload applied", |b| {
        reloads(b, "success") == ok0 + 1.0 && rs_weight(b) == Some(4.0)
    });
    assert_eq!(reloads(&body, "failure"), bad0);
    assert!(
        loaded(&body).is_some_and(|t| t > started),
        "load time {started} → {:?}",
        loaded(&body)
    );
    assert_eq!(
        sample_value(&body, "lvsd_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let reloaded = loaded(&body);
    std::fs::write(&conf, director_config(5, true)).unwrap();
    lvsd.signal(Signal::SIGHUP);
    let (body, _) = wait_scrape(
        &lvsd,
        Duration::from_secs(5),
        "failed reload counted",
        |b| reloads(b, "failure") == bad0 + 1.0,
    );
    assert_eq!(reloads(&body, "success"), ok0 + 1.0);
    assert_eq!(
        sample_value(&body, "lvsd_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        loaded(&body),
        reloaded,
        "a failed reload leaves the running configuration's load time"
    );
    let (_, text) = http_get(LVSD_API.parse().unwrap(), "/status");
    let status: serde_json::Value = serde_json::from_str(&text).expect("/status is JSON");
    assert!(
        status["reload"]["last_error"].as_str().is_some(),
        "{status}"
    );
    eprintln!(
        "lvsd director: reloads success {ok0} → {}, failure {bad0} → {}",
        reloads(&body, "success"),
        reloads(&body, "failure")
    );
    promtool_check(&body);

    lvsd.signal(Signal::SIGTERM);
    drop(lvsd);
    b.stop();
    sh("ipvsadm -C");
}

/// `promtool check metrics` (the Debian `prometheus` package) on a live scrape.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install the Debian package `prometheus`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
