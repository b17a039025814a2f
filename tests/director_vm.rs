//! The director against a real IPVS kernel (tests/vm: one VM boot for every inner test), with
//! real HTTP backends on loopback addresses started by the test and `ipvsadm -Ln` as the
//! independent witness of the kernel table.
//!
//! - `director_vm_inproc_*`: the director task in this process over `ipvs::Client`, wrapped to
//!   count the netlink writes exactly.
//! - `director_vm_process_*`: the `lvsd` binary with a real keepalived.conf, driven by signals.

#[path = "vm/harness.rs"]
mod vm;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ipvs::{Dest, Forward, Ipvs, Op, Plan, Scheduler, Service, ServiceKey, Table};
use lvsd::director::desired::{RsSpec, SorrySpec, VsSpec};
use lvsd::director::{DirectorSpec, Globals, RealServer, RunOptions, VirtualServer, run};
use lvsd::notify::{Notifier, NotifierConfig};
use lvsd::status::StatusHub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("director_vm_", 6);
}

/// The real client, counting every op it is asked to write.
#[derive(Clone)]
struct Counting {
    client: ipvs::Client,
    writes: Arc<Mutex<Vec<Op>>>,
}

impl Counting {
    fn count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
    fn since(&self, n: usize) -> Vec<String> {
        self.writes.lock().unwrap()[n..]
            .iter()
            .map(|o| o.to_string())
            .collect()
    }
}

impl Ipvs for Counting {
    async fn dump(&self) -> Result<Table, ipvs::Error> {
        self.client.dump().await
    }
    async fn apply(&self, plan: &Plan) -> Result<ipvs::ApplyReport, ipvs::Error> {
        self.writes.lock().unwrap().extend(plan.ops.iter().cloned());
        self.client.apply(plan).await
    }
    async fn read_services(
        &self,
        keys: &std::collections::BTreeSet<ServiceKey>,
    ) -> Result<Table, ipvs::Error> {
        self.client.read_services(keys).await
    }
    async fn set_timeouts(&self, t: &ipvs::Timeouts) -> Result<(), ipvs::Error> {
        self.client.set_timeouts(t).await
    }
    async fn daemons(&self) -> Result<Vec<ipvs::DaemonConfig>, ipvs::Error> {
        self.client.daemons().await
    }
    async fn add_daemon(&self, d: &ipvs::DaemonConfig) -> Result<(), ipvs::Error> {
        self.client.add_daemon(d).await
    }
    async fn del_daemon(&self, s: ipvs::DaemonState) -> Result<(), ipvs::Error> {
        self.client.del_daemon(s).await
    }
}

/// An HTTP backend answering `200 ok` on `addr` until aborted.
async fn backend(addr: SocketAddr) -> JoinHandle<()> {
    let l = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = c
                    .write_all(
                        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
                    )
                    .await;
            });
        }
    })
}

fn http_check(addr: SocketAddr) -> checkers::Spec {
    let mut s = checkers::Spec::new(
        addr,
        checkers::CheckKind::Http(checkers::HttpSpec {
            urls: vec![checkers::UrlSpec::new("/health")],
            ..Default::default()
        }),
    );
    s.timing.delay_loop = Duration::from_millis(300);
    s.timing.connect_timeout = Duration::from_millis(500);
    s.timing.retry = 0;
    s.timing.delay_before_retry = Duration::from_millis(100);
    s.timing.warmup = Some(Duration::ZERO);
    s
}

const A: &str = "127.0.0.2:8080";
const B: &str = "127.0.0.3:8080";
const SORRY: &str = "127.0.0.9:8080";

/// TCP 10.0.0.1:80 wrr over A (weight `wa`) and B (weight 3, inhibit_on_failure), sorry server.
fn spec(wa: i64) -> DirectorSpec {
    let key = ServiceKey::tcp("10.0.0.1".parse().unwrap(), 80);
    let rs = |addr: &str, weight: i64, inhibit: bool| {
        let addr: SocketAddr = addr.parse().unwrap();
        (
            RsSpec {
                addr,
                weight,
                inhibit_on_failure: inhibit,
                checked: true,
                alpha: false,
                slow_start: None,
            },
            RealServer {
                dest: Dest::new(addr.ip(), addr.port(), Forward::Masq),
                checks: vec![http_check(addr)],
                notify_up: None,
                notify_down: None,
                bfd: Vec::new(),
            },
        )
    };
    let (ca, ra) = rs(A, wa, false);
    let (cb, rb) = rs(B, 3, true);
    let sorry: SocketAddr = SORRY.parse().unwrap();
    DirectorSpec {
        virtual_servers: vec![VirtualServer {
            core: VsSpec {
                id: "TCP 10.0.0.1:80".into(),
                quorum: 1,
                hysteresis: 0,
                sorry: Some(SorrySpec { inhibit: false }),
                real_servers: vec![ca, cb],
            },
            services: vec![Service::new(key, Scheduler::Wrr)],
            real_servers: vec![ra, rb],
            sorry: Some(Dest::new(sorry.ip(), sorry.port(), Forward::Masq)),
            quorum_up: None,
            quorum_down: None,
            omega: false,
            ha_suspend: Vec::new(),
        }],
        globals: Globals::default(),
    }
}

/// Destinations of every service per `ipvsadm -Ln` (the witness): (addr:port, weight), sorted.
fn ipvsadm_dests() -> Vec<(String, u32)> {
    let out = Command::new("ipvsadm")
        .arg("-Ln")
        .output()
        .expect("ipvsadm");
    let mut v: Vec<(String, u32)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter(|l| !l.starts_with("RemoteAddress"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect();
    v.sort();
    v
}

fn ipvsadm_stats() -> String {
    let out = Command::new("ipvsadm")
        .args(["-Ln", "--stats"])
        .output()
        .expect("ipvsadm");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `Conns` counter of TCP 10.0.0.1:80 (reset to 0 if the service is ever re-created).
fn service_conns() -> u64 {
    ipvsadm_stats()
        .lines()
        .find(|l| l.starts_with("TCP") && l.contains("10.0.0.1:80"))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(0)
}

fn table(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = v.iter().map(|(a, w)| (a.to_string(), *w)).collect();
    v.sort();
    v
}

async fn wait_table(want: Vec<(String, u32)>, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        let have = ipvsadm_dests();
        if have == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "{what}: after {within:?} ipvsadm -Ln shows {have:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Director {
    hub: StatusHub,
    spec_tx: watch::Sender<Arc<DirectorSpec>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(spec: DirectorSpec, kernel: Counting, release_on_exit: bool) -> Director {
    let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
    let (stop, stop_rx) = watch::channel(false);
    let hub = StatusHub::new();
    let task = tokio::spawn(run(
        spec_rx,
        Some(kernel),
        hub.clone(),
        Notifier::new(NotifierConfig::default()),
        RunOptions {
            resync: Duration::from_millis(500),
            release_on_exit,
            metrics: None,
            state_dir: None,
        },
        stop_rx,
    ));
    Director {
        hub,
        spec_tx,
        stop,
        task,
    }
}

async fn counting() -> Counting {
    Counting {
        client: ipvs::Client::connect().await.expect("IPVS in the VM"),
        writes: Arc::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn director_vm_inproc_health_sorry_reload_repair() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let a = backend(A.parse().unwrap()).await;
    let b = backend(B.parse().unwrap()).await;
    let k = counting().await;
    let d = start(spec(2), k.clone(), true);
    // Detection bound: delay_loop 0.3 + connect_timeout 0.5 × 1 = 0.8 s; slack for TCG.
    let bound = Duration::from_secs(4);

    let t = wait_table(table(&[(A, 2), (B, 3)]), bound, "all up").await;
    eprintln!("all up: present after {t:?}");

    a.abort();
    let _ = a.await;
    let t = wait_table(table(&[(B, 3)]), bound, "A down").await;
    eprintln!("A down: removed after {t:?}");

    b.abort();
    let _ = b.await;
    let t = wait_table(table(&[(B, 0), (SORRY, 1)]), bound, "all down").await;
    eprintln!("all down: sorry server (B inhibited at 0) after {t:?}");

    let a = backend(A.parse().unwrap()).await;
    let b = backend(B.parse().unwrap()).await;
    let t = wait_table(table(&[(A, 2), (B, 3)]), bound, "restored").await;
    eprintln!("restored, sorry server gone after {t:?}");

    // Reload with one weight changed: exactly one netlink write, an edit in place.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let n = k.count();
    d.spec_tx.send(Arc::new(spec(5))).unwrap();
    wait_table(table(&[(A, 5), (B, 3)]), bound, "reload").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        k.since(n),
        vec!["-e -t 10.0.0.1:80 -r 127.0.0.2:8080 -m -w 5".to_string()]
    );

    // ipvsadm -C by hand: repaired by the periodic pass.
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let t = wait_table(table(&[(A, 5), (B, 3)]), bound, "after ipvsadm -C").await;
    eprintln!("ipvsadm -C repaired after {t:?}");

    // Stop: lvsd's services are released.
    d.stop.send(true).unwrap();
    d.task.await.unwrap();
    assert_eq!(ipvsadm_dests(), vec![]);
    assert!(!ipvsadm_stats().contains("10.0.0.1:80"));
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn director_vm_inproc_restart_adopts_without_delete() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let _a = backend(A.parse().unwrap()).await;
    let _b = backend(B.parse().unwrap()).await;
    let k = counting().await;
    let d = start(spec(2), k.clone(), false);
    wait_table(table(&[(A, 2), (B, 3)]), Duration::from_secs(4), "all up").await;
    // Connections through the service bump its counters (the VIP is local; whether the
    // forwarded SYN gets an answer does not matter, scheduling it is counted).
    let _ = Command::new("ip")
        .args(["addr", "add", "10.0.0.1/32", "dev", "lo"])
        .status();
    for _ in 0..3 {
        let _ = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect("10.0.0.1:80"),
        )
        .await;
    }
    // The kernel folds its per-cpu counters into what it reports every 2 s.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let conns = service_conns();
    assert!(conns > 0, "no connection counted:\n{}", ipvsadm_stats());
    // A stop with -I (like a kill -9) leaves the table; a new director adopts it.
    d.stop.send(true).unwrap();
    d.task.await.unwrap();
    let k2 = counting().await;
    let d2 = start(spec(2), k2.clone(), true);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        k2.since(0),
        Vec::<String>::new(),
        "restart wrote to the kernel"
    );
    assert!(
        service_conns() >= conns,
        "service re-created:\n{}",
        ipvsadm_stats()
    );
    assert_eq!(ipvsadm_dests(), table(&[(A, 2), (B, 3)]));
    d2.stop.send(true).unwrap();
    d2.task.await.unwrap();
    let _ = Command::new("ip")
        .args(["addr", "del", "10.0.0.1/32", "dev", "lo"])
        .status();
}

// ---------------------------------------------------------------------------------------------
// The lvsd binary with a real configuration.
// ---------------------------------------------------------------------------------------------

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

struct Lvsd {
    child: Child,
    log: PathBuf,
}

impl Lvsd {
    fn start(conf: &Path, log: &Path) -> Lvsd {
        let logf = std::fs::File::create(log).unwrap();
        let child = Command::new(LVSD)
            .args(["-n", "-l", "-C", "-f"])
            .arg(conf)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .unwrap_or_else(|e| panic!("start {LVSD}: {e}"));
        Lvsd {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kernel writes lvsd reported (one log line per netlink op).
    fn writes(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("ipvs: ipvsadm "))
            .map(|l| l.split("ipvs: ipvsadm ").nth(1).unwrap_or("").to_string())
            .collect()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(weight_a: u32, broken: bool) -> String {
    // Broken: a parameter that expands to itself. keepalived never finishes reading it; lvsd
    // refuses it. (Unclosed blocks are not "broken": keepalived closes them and runs.)
    let extra = if broken {
        "$BROKEN=${BROKEN}\n$BROKEN\n"
    } else {
        ""
    };
    format!(
        r#"global_defs {{
    router_id lvsd_vm
}}
virtual_server 10.0.0.1 80 {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    sorry_server 127.0.0.9 8080
    real_server 127.0.0.2 8080 {{
        weight {weight_a}
        HTTP_GET {{
            url {{
                path /health
                status_code 200
            }}
            connect_timeout 1
            retry 0
            delay_before_retry 1
        }}
    }}
    real_server 127.0.0.3 8080 {{
        weight 3
        inhibit_on_failure
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
{extra}"#
    )
}

/// Backends for the process test run on their own runtime thread (the test itself is sync).
struct Backends {
    rt: tokio::runtime::Runtime,
}

impl Backends {
    fn new() -> Backends {
        Backends {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        }
    }
    fn start(&self, addr: &str) -> JoinHandle<()> {
        self.rt.block_on(backend(addr.parse().unwrap()))
    }
    fn stop(&self, h: JoinHandle<()>) {
        h.abort();
        let _ = self.rt.block_on(h);
    }
}

fn wait_proc_table(
    want: Vec<(String, u32)>,
    within: Duration,
    what: &str,
    lvsd: &Lvsd,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let have = ipvsadm_dests();
        if have == want {
            return t0.elapsed();
        }
        if t0.elapsed() > within {
            panic!(
                "{what}: after {within:?} ipvsadm -Ln shows {have:?}, want {want:?}\n--- lvsd log ---\n{}",
                lvsd.log()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn director_vm_process_signals_and_restart() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let dir = PathBuf::from(format!("/tmp/lvsd-director-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config(2, false)).unwrap();
    let backends = Backends::new();
    let a = backends.start(A);
    let b = backends.start(B);
    // Detection bound: delay_loop 1 + connect_timeout 1 × (retry 0 + 1) = 2 s, plus slack for
    // the emulated VM.
    let bound = Duration::from_secs(6);

    let lvsd = Lvsd::start(&conf, &dir.join("lvsd.log"));
    let t = wait_proc_table(
        table(&[(A, 2), (B, 3)]),
        Duration::from_secs(10),
        "all up",
        &lvsd,
    );
    eprintln!("process: all up → present after {t:?}");

    backends.stop(a);
    let t = wait_proc_table(table(&[(B, 3)]), bound, "A down", &lvsd);
    eprintln!("process: A down → removed after {t:?}");

    backends.stop(b);
    let t = wait_proc_table(table(&[(B, 0), (SORRY, 1)]), bound, "all down", &lvsd);
    eprintln!("process: all down → sorry server after {t:?}");

    let a = backends.start(A);
    let b = backends.start(B);
    let t = wait_proc_table(table(&[(A, 2), (B, 3)]), bound, "restored", &lvsd);
    eprintln!("process: restored after {t:?}");

    // SIGHUP with one weight changed → exactly one edit.
    thread::sleep(Duration::from_millis(1500));
    let before = lvsd.writes().len();
    std::fs::write(&conf, config(5, false)).unwrap();
    lvsd.signal("HUP");
    wait_proc_table(table(&[(A, 5), (B, 3)]), bound, "reload weight", &lvsd);
    thread::sleep(Duration::from_secs(2));
    let new: Vec<String> = lvsd.writes()[before..].to_vec();
    assert_eq!(
        new,
        vec!["-e -t 10.0.0.1:80 -r 127.0.0.2:8080 -m -w 5".to_string()],
        "reload wrote"
    );

    // SIGHUP with a broken config → nothing changes, the error is logged.
    let before = lvsd.writes().len();
    std::fs::write(&conf, config(7, true)).unwrap();
    lvsd.signal("HUP");
    thread::sleep(Duration::from_secs(2));
    assert_eq!(lvsd.writes().len(), before, "a broken reload wrote");
    assert_eq!(ipvsadm_dests(), table(&[(A, 5), (B, 3)]));
    assert!(
        lvsd.log()
            .contains("reload failed, keeping the running configuration"),
        "no reload error logged:\n{}",
        lvsd.log()
    );
    std::fs::write(&conf, config(5, false)).unwrap();

    // ipvsadm -C by hand → restored by the periodic pass (every 5 s).
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let t = wait_proc_table(
        table(&[(A, 5), (B, 3)]),
        Duration::from_secs(12),
        "after ipvsadm -C",
        &lvsd,
    );
    eprintln!("process: ipvsadm -C repaired after {t:?}");

    // kill -9 and restart → nothing deleted and re-added: the service's connection counter
    // survives and the new lvsd logs no write.
    let _ = Command::new("ip")
        .args(["addr", "add", "10.0.0.1/32", "dev", "lo"])
        .status();
    for _ in 0..3 {
        let _ =
            TcpStream::connect_timeout(&"10.0.0.1:80".parse().unwrap(), Duration::from_millis(300));
    }
    thread::sleep(Duration::from_millis(2500));
    let conns = service_conns();
    assert!(conns > 0, "no connection counted:\n{}", ipvsadm_stats());
    lvsd.signal("KILL");
    drop(lvsd);
    let mut lvsd = Lvsd::start(&conf, &dir.join("lvsd2.log"));
    let t0 = Instant::now();
    while !lvsd.log().contains("lvsd started") && t0.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!("process: restarted after kill -9 in {:?}", t0.elapsed());
    assert!(lvsd.log().contains("lvsd started"), "{}", lvsd.log());
    assert_eq!(
        lvsd.writes(),
        Vec::<String>::new(),
        "restart wrote to the kernel"
    );
    assert!(
        service_conns() >= conns,
        "service re-created:\n{}",
        ipvsadm_stats()
    );

    // SIGTERM → exit 0, the table released.
    lvsd.signal("TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = lvsd.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "lvsd did not exit on SIGTERM"
        );
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}\n{}", lvsd.log());
    assert_eq!(ipvsadm_dests(), vec![]);
    let _ = Command::new("ip")
        .args(["addr", "del", "10.0.0.1/32", "dev", "lo"])
        .status();
    drop((a, b));
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn director_vm_process_plan() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let dir = PathBuf::from(format!("/tmp/lvsd-plan-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config(2, false)).unwrap();
    let plan = || {
        let out = Command::new(LVSD)
            .args(["-t", "--plan", "-f"])
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let want = "-A -t 10.0.0.1:80 -s wrr\n\
                -a -t 10.0.0.1:80 -r 127.0.0.2:8080 -m -w 2\n\
                -a -t 10.0.0.1:80 -r 127.0.0.3:8080 -m -w 3\n";
    assert_eq!(plan(), want);
    // The plan is valid `ipvsadm -R` input; once applied, nothing is left to do.
    let mut r = Command::new("ipvsadm")
        .arg("-R")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(r.stdin.as_mut().unwrap(), want.as_bytes()).unwrap();
    drop(r.stdin.take());
    assert!(r.wait().unwrap().success());
    assert_eq!(plan(), "");
    // A weight changed by hand: one edit back.
    assert!(
        Command::new("ipvsadm")
            .args([
                "-e",
                "-t",
                "10.0.0.1:80",
                "-r",
                "127.0.0.3:8080",
                "-m",
                "-w",
                "9"
            ])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(plan(), "-e -t 10.0.0.1:80 -r 127.0.0.3:8080 -m -w 3\n");
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn director_vm_inproc_timeouts_and_sync_daemon() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("ip")
            .args(["link", "add", "sync0", "type", "dummy"])
            .status()
            .unwrap()
            .success()
    );
    let _ = Command::new("ip")
        .args(["link", "set", "sync0", "up"])
        .status();
    let mut s = spec(2);
    s.globals.timeouts = Some(ipvs::Timeouts {
        tcp: 910,
        tcp_fin: 31,
        udp: 61,
    });
    s.globals.sync_daemon = Some(ipvs::DaemonConfig::new(
        ipvs::DaemonState::Master,
        "sync0",
        7,
    ));
    let d = start(s, counting().await, true);
    let t0 = Instant::now();
    let (timeouts, daemons) = loop {
        let t = Command::new("ipvsadm")
            .args(["-L", "--timeout"])
            .output()
            .unwrap();
        let d = Command::new("ipvsadm")
            .args(["-L", "--daemon"])
            .output()
            .unwrap();
        let (t, d) = (
            String::from_utf8_lossy(&t.stdout).into_owned(),
            String::from_utf8_lossy(&d.stdout).into_owned(),
        );
        if t.contains("910 31 61") && d.contains("backup sync daemon") {
            break (t, d);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "timeouts {t:?} daemons {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        daemons.contains("master sync daemon (mcast=sync0, syncid=7,"),
        "{daemons}"
    );
    assert!(
        daemons.contains("backup sync daemon (mcast=sync0, syncid=7,"),
        "{daemons}"
    );
    assert!(timeouts.contains("910 31 61"));

    // `lvs_sync_daemon sync0 inst VI_1`: the role follows the VRRP instance.
    let daemons = || {
        let d = Command::new("ipvsadm")
            .args(["-L", "--daemon"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&d.stdout).into_owned()
    };
    let wait_daemons = |master: bool, backup: bool| async move {
        let t0 = Instant::now();
        loop {
            let d = daemons();
            if d.contains("master sync daemon") == master
                && d.contains("backup sync daemon") == backup
            {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "want master={master} backup={backup}: {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut tracked = (**d.spec_tx.borrow()).clone();
    tracked.globals.sync_instance = Some("VI_1".into());
    d.spec_tx.send(Arc::new(tracked)).unwrap();
    wait_daemons(false, true).await;
    d.hub
        .vrrp
        .send_replace(vec![lvsd::status::VrrpInstanceStatus {
            name: "VI_1".into(),
            interface: "sync0".into(),
            vrid: 51,
            version: 2,
            family: "inet",
            state: lvsd::status::VrrpState::Master,
            base_priority: 100,
            effective_priority: 100,
            master_addr: None,
            since_unix_ms: 0,
            since_unix_us: 0,
            master_priority: 0,
            vips: Vec::new(),
            counters: Default::default(),
        }]);
    wait_daemons(true, false).await;
    // Exit (release) stops what lvsd started.
    d.stop.send(true).unwrap();
    d.task.await.unwrap();
    assert!(!daemons().contains("sync daemon"), "{}", daemons());
    let _ = Command::new("ipvsadm")
        .arg("--stop-daemon")
        .arg("master")
        .status();
    let _ = Command::new("ipvsadm")
        .arg("--stop-daemon")
        .arg("backup")
        .status();
}

/// Full mode (no -C): VRRP and the director in one process. The instance on a dummy link
/// becomes master (nobody else advertises), installs the VIP; the sync daemon follows it.
#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn director_vm_process_full_mode_with_vrrp() {
    assert!(
        Command::new("ipvsadm")
            .arg("-C")
            .status()
            .unwrap()
            .success()
    );
    let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
    assert!(ip(&["link", "add", "vrrp0", "type", "dummy"]));
    assert!(ip(&["link", "set", "vrrp0", "up"]));
    assert!(ip(&["addr", "add", "192.168.77.1/24", "dev", "vrrp0"]));
    let dir = PathBuf::from(format!("/tmp/lvsd-full-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        r#"global_defs {
    router_id lvsd_full
    lvs_sync_daemon vrrp0 VI_1 id 9
}
vrrp_instance VI_1 {
    state MASTER
    interface vrrp0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        192.168.77.100/32
    }
}
virtual_server 192.168.77.100 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.77.2 80 {
        weight 1
    }
}
"#,
    )
    .unwrap();
    let log = dir.join("lvsd.log");
    let child = Command::new(LVSD)
        .args(["-n", "-l", "-f"])
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lvsd = Lvsd {
        child,
        log: log.clone(),
    };
    let addrs = || {
        let o = Command::new("ip")
            .args(["-4", "addr", "show", "dev", "vrrp0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let daemons = || {
        let o = Command::new("ipvsadm")
            .args(["-L", "--daemon"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let t0 = Instant::now();
    loop {
        if addrs().contains("192.168.77.100/32")
            && ipvsadm_dests() == table(&[("192.168.77.2:80", 1)])
            && daemons().contains("master sync daemon (mcast=vrrp0, syncid=9")
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "VIP/table/sync daemon not in place: {}\n{:?}\n{}\n--- log ---\n{}",
            addrs(),
            ipvsadm_dests(),
            daemons(),
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "full mode: master with VIP, table and sync daemon after {:?}",
        t0.elapsed()
    );
    assert!(!daemons().contains("backup sync daemon"), "{}", daemons());

    lvsd.signal("TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = lvsd.child.try_wait().unwrap() {
            break s;
        }
        // Shutdown resigns mastership, removes the VIP, releases the table and stops the sync
        // daemon: several kernel round trips, slow under TCG on a loaded 2-core host.
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no exit on SIGTERM\n--- log ---\n{}",
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(50));
    };
    eprintln!("full mode: exit after SIGTERM in {:?}", t0.elapsed());
    if t0.elapsed() > Duration::from_secs(2) {
        eprintln!("slow exit; lvsd log:\n{}", lvsd.log());
    }
    assert!(status.success(), "exit {status}\n{}", lvsd.log());
    assert!(
        !addrs().contains("192.168.77.100"),
        "VIP left behind: {}",
        addrs()
    );
    assert_eq!(ipvsadm_dests(), vec![]);
    assert!(!daemons().contains("sync daemon"), "{}", daemons());

    // -P: VRRP only; the virtual server stays out of the kernel.
    let child = Command::new(LVSD)
        .args(["-n", "-l", "-P", "-f"])
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lvsd = Lvsd { child, log };
    let t0 = Instant::now();
    while !addrs().contains("192.168.77.100/32") {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "-P: no VIP\n{}",
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ipvsadm_dests(), vec![]);
    assert!(!ipvsadm_stats().contains("192.168.77.100"));
    lvsd.signal("TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = lvsd.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "-P: no exit on SIGTERM"
        );
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(!addrs().contains("192.168.77.100"));
    let _ = ip(&["link", "del", "vrrp0"]);
}
