//! Drain, disable, slow start and persistence against a real IPVS kernel with real traffic
//! (tests/vm: one VM boot). Inside the guest: a client namespace, two real-server namespaces
//! (NAT: their default route is the director), the director in the root namespace with the
//! VIP 10.0.0.1 on `lo`. The backends greet each connection with their name and then echo, so
//! the client sees which server it reached and whether a connection still works.
//! `ipvsadm -Ln` is the independent witness of the kernel table.

#[path = "vm/harness.rs"]
mod vm;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipvs::{Dest, Forward, Scheduler, Service, ServiceKey};
use lvsd::director::desired::{RsSpec, VsSpec};
use lvsd::director::{DirectorSpec, Globals, RealServer, RunOptions, VirtualServer, run};
use lvsd::notify::{Notifier, NotifierConfig};
use lvsd::status::StatusHub;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("runtime_vm_", 1);
}

const VIP: &str = "10.0.0.1:80";
const R1: &str = "10.8.1.2:8080";
const R2: &str = "10.8.2.2:8080";

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?} failed");
}

/// Client and real-server namespaces wired to the root namespace (the director).
fn lab() {
    for ns in ["c", "r1", "r2"] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        sh(&["ip", "netns", "add", ns]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    let link = |ns: &str, here: &str, there: &str, net: &str| {
        sh(&[
            "ip", "link", "add", here, "type", "veth", "peer", "name", there,
        ]);
        sh(&["ip", "link", "set", there, "netns", ns]);
        sh(&["ip", "addr", "add", &format!("{net}.1/24"), "dev", here]);
        sh(&["ip", "link", "set", here, "up"]);
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{net}.2/24"),
            "dev",
            there,
        ]);
        sh(&["ip", "-n", ns, "link", "set", there, "up"]);
        sh(&[
            "ip",
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &format!("{net}.1"),
        ]);
    };
    link("c", "vc", "eth0", "10.9.0");
    link("r1", "v1", "eth0", "10.8.1");
    link("r2", "v2", "eth0", "10.8.2");
    let _ = Command::new("ip")
        .args(["addr", "add", "10.0.0.1/32", "dev", "lo"])
        .status();
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    // Without it, IPVS drops packets of connections to a destination removed from the table
    // only when expire_nodest_conn is set; keep the kernel default (0) explicit.
    let _ = std::fs::write("/proc/sys/net/ipv4/vs/expire_nodest_conn", "0");
}

/// Runs `f` in a thread that joined network namespace `ns` (sockets it creates live there).
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// A backend in `ns`: greets with `name`, then echoes lines. Setting the flag closes the
/// listener at its next connection (new connections are then refused).
fn backend(ns: &str, name: &'static str) -> Arc<AtomicBool> {
    let l = in_ns(ns, || TcpListener::bind("0.0.0.0:8080").expect("bind 8080"));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let _ = c.write_all(format!("{name}\n").as_bytes());
                let Ok(r) = c.try_clone() else { return };
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    if c.write_all(format!("{line}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    stop
}

/// A connection from the client namespace to the VIP, with the name of the server reached.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    server: String,
}

fn connect() -> Conn {
    let stream = in_ns("c", || {
        TcpStream::connect_timeout(&VIP.parse().unwrap(), Duration::from_secs(3))
            .expect("connect to the VIP")
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut server = String::new();
    reader.read_line(&mut server).expect("greeting");
    Conn {
        stream,
        reader,
        server: server.trim().to_string(),
    }
}

impl Conn {
    fn echo(&mut self, msg: &str) -> String {
        self.stream
            .write_all(format!("{msg}\n").as_bytes())
            .expect("write on the connection");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("echo");
        line.trim().to_string()
    }
}

/// Which servers `n` new connections reach.
fn spread(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|_| connect().server).collect();
    v.sort();
    v.dedup();
    v
}

/// (RemoteAddress:Port, Weight, ActiveConn) per `ipvsadm -Ln`.
fn ipvsadm() -> Vec<(String, u32, u32)> {
    let out = Command::new("ipvsadm")
        .arg("-Ln")
        .output()
        .expect("ipvsadm");
    let mut v: Vec<(String, u32, u32)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter(|l| !l.starts_with("RemoteAddress"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect();
    v.sort();
    v
}

fn weight(addr: &str) -> Option<u32> {
    ipvsadm().into_iter().find(|d| d.0 == addr).map(|d| d.1)
}

async fn until(what: &str, within: Duration, f: impl Fn() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < within,
            "{what}: not after {within:?}; ipvsadm -Ln: {:?}",
            ipvsadm()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t0.elapsed()
}

fn spec(slow_start: Option<Duration>) -> DirectorSpec {
    let key = ServiceKey::tcp("10.0.0.1".parse().unwrap(), 80);
    let rs = |a: &str| {
        let addr: SocketAddr = a.parse().unwrap();
        let mut check = checkers::Spec::new(addr, checkers::CheckKind::Tcp(checkers::TcpSpec {}));
        check.timing.delay_loop = Duration::from_millis(500);
        check.timing.connect_timeout = Duration::from_secs(1);
        check.timing.retry = 0;
        check.timing.warmup = Some(Duration::ZERO);
        (
            RsSpec {
                addr,
                weight: 10,
                inhibit_on_failure: false,
                checked: true,
                alpha: false,
                slow_start,
            },
            RealServer {
                dest: Dest::new(addr.ip(), addr.port(), Forward::Masq),
                checks: vec![check],
                notify_up: None,
                notify_down: None,
                bfd: Vec::new(),
            },
        )
    };
    let (c1, r1) = rs(R1);
    let (c2, r2) = rs(R2);
    DirectorSpec {
        virtual_servers: vec![VirtualServer {
            core: VsSpec {
                id: "TCP 10.0.0.1:80".into(),
                quorum: 1,
                hysteresis: 0,
                sorry: None,
                real_servers: vec![c1, c2],
            },
            services: vec![Service::new(key, Scheduler::Wrr)],
            real_servers: vec![r1, r2],
            sorry: None,
            quorum_up: None,
            quorum_down: None,
            omega: false,
            ha_suspend: Vec::new(),
        }],
        globals: Globals::default(),
    }
}

struct Director {
    hub: StatusHub,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    api: SocketAddr,
}

async fn start(spec: DirectorSpec, state_dir: &std::path::Path) -> Director {
    let (_spec_tx, spec_rx) = watch::channel(Arc::new(spec));
    let (stop, stop_rx) = watch::channel(false);
    let hub = StatusHub::new();
    let client = ipvs::Client::connect().await.expect("IPVS in the VM");
    let api = lvsd::api::Api {
        status: hub.clone(),
        metrics: lvsd::metrics::Metrics::new(),
        ipvs: None,
        reload: None,
    };
    let mut api_stop = stop_rx.clone();
    // State changes over TCP need the operator's token (as with --ctl-token-file).
    let endpoint = lvsd::api::Endpoint::Tcp {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: Some(lvsd::api::Token::new(TOKEN)),
    };
    let (bound, _) =
        lvsd::api::spawn_endpoint(endpoint, lvsd::api::Limits::default(), api, async move {
            let _ = api_stop.wait_for(|s| *s).await;
        })
        .await
        .expect("API listener");
    let lvsd::api::Bound::Tcp(api) = bound else {
        panic!("{bound:?}")
    };
    let task = tokio::spawn(run(
        spec_rx,
        Some(client),
        hub.clone(),
        Notifier::new(NotifierConfig::default()),
        RunOptions {
            resync: Duration::from_millis(500),
            release_on_exit: false,
            metrics: None,
            state_dir: Some(state_dir.to_path_buf()),
        },
        stop_rx,
    ));
    std::mem::forget(_spec_tx);
    Director {
        hub,
        stop,
        task,
        api,
    }
}

impl Director {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");
const TOKEN: &str = "runtime-vm-token";

fn ctl(api: SocketAddr, args: &[&str]) -> std::process::Child {
    let token = std::env::temp_dir().join(format!("lvsd-runtime-vm-token-{}", std::process::id()));
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    Command::new(LVSD)
        .args(["ctl", "--api", &api.to_string(), "--token-file"])
        .arg(&token)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lvsd ctl")
}

fn ctl_ok(api: SocketAddr, args: &[&str]) -> String {
    let out = ctl(api, args).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lvsd ctl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn runtime_vm_drain_disable_slow_start_persist() {
    sh(&["ipvsadm", "-C"]);
    lab();
    backend("r1", "r1");
    let r2 = backend("r2", "r2");
    let dir = std::env::temp_dir().join(format!("lvsd-runtime-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = start(spec(None), &dir).await;
    until("both in", Duration::from_secs(10), || {
        weight(R1) == Some(10) && weight(R2) == Some(10)
    })
    .await;
    assert_eq!(spread(8), vec!["r1", "r2"], "round robin over both");

    // A long-lived connection on r1.
    let mut long = (0..10)
        .map(|_| connect())
        .find(|c| c.server == "r1")
        .expect("a connection to r1");
    assert_eq!(long.echo("before"), "before");

    // `lvsd ctl drain` waits; r1 goes to weight 0 and stays while the connection lives.
    let drain = ctl(d.api, &["drain", "10.0.0.1:80", R1, "--timeout", "60s"]);
    until("r1 at weight 0", Duration::from_secs(10), || {
        weight(R1) == Some(0)
    })
    .await;
    let t0 = Instant::now();
    let new = spread(12);
    assert_eq!(
        new,
        vec!["r2"],
        "a new connection reached the draining server"
    );
    assert_eq!(
        long.echo("during"),
        "during",
        "the drain cut the connection"
    );
    let active = ipvsadm().into_iter().find(|x| x.0 == R1).map(|x| x.2);
    assert!(active >= Some(1), "ActiveConn of r1: {:?}", ipvsadm());
    let st = d.hub.virtual_servers.borrow()[0].real_servers[0].clone();
    assert_eq!(st.runtime.operator.as_deref(), Some("draining"));
    assert!(st.runtime.active_conns >= Some(1), "{st:?}");
    assert!(st.up, "health still shown as up");
    assert_eq!(
        weight(R1),
        Some(0),
        "taken out with a connection still active"
    );
    eprintln!("draining for {:?} with a live connection", t0.elapsed());

    // The connection ends: the drain finishes, r1 leaves the table, ctl returns.
    drop(long);
    let t = until("r1 out", Duration::from_secs(20), || weight(R1).is_none()).await;
    eprintln!("r1 taken out {t:?} after its last connection closed");
    let out = drain.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("drained after"), "{text}");
    assert_eq!(spread(6), vec!["r2"]);

    // Restart with an emptied kernel table: the hold comes back from the state directory.
    d.stop().await;
    sh(&["ipvsadm", "-C"]);
    let saved = std::fs::read_to_string(dir.join("operator.json")).unwrap();
    assert!(saved.contains("drained"), "{saved}");
    let d = start(spec(Some(Duration::from_secs(4))), &dir).await;
    until("r2 back after restart", Duration::from_secs(10), || {
        weight(R2) == Some(10)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(weight(R1), None, "drained server came back after a restart");
    // `lvsd -t --plan` honours the same state: nothing to add for the drained server.
    let conf = dir.join("keepalived.conf");
    let rs = |a: &str| {
        let (ip, port) = a.split_once(':').unwrap();
        format!(
            "    real_server {ip} {port} {{\n        weight 10\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n"
        )
    };
    std::fs::write(
        &conf,
        format!(
            "virtual_server 10.0.0.1 80 {{\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n{}{}}}\n",
            rs(R1),
            rs(R2)
        ),
    )
    .unwrap();
    let plan = |state: &std::path::Path| {
        let out = Command::new(LVSD)
            .args(["-t", "--plan", "-f"])
            .arg(&conf)
            .arg("--state-dir")
            .arg(state)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    let add_r1 = format!("-a -t 10.0.0.1:80 -r {R1} -m -w 10");
    let (held, err) = plan(&dir);
    assert!(!held.contains(&add_r1), "{held}");
    assert!(
        err.contains(&format!("# operator: TCP 10.0.0.1:80 {R1} drained")),
        "{err}"
    );
    let (free, _) = plan(&dir.join("empty"));
    assert!(free.contains(&add_r1), "{free}");

    // Enable with slow start: r1's weight ramps 1 → 10 over 4 s.
    ctl_ok(d.api, &["enable", "10.0.0.1:80", R1]);
    let t0 = Instant::now();
    let mut seen: Vec<u32> = Vec::new();
    while t0.elapsed() < Duration::from_secs(12) && seen.last() != Some(&10) {
        if let Some(w) = weight(R1)
            && seen.last() != Some(&w)
        {
            seen.push(w);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("slow start weights: {seen:?} over {:?}", t0.elapsed());
    assert_eq!(seen.last(), Some(&10), "{seen:?}");
    assert!(seen.len() >= 3 && seen[0] <= 4, "no ramp: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "ramp too fast: {seen:?}"
    );

    // Disable: out at once, while its health checks keep running; enable brings it back.
    ctl_ok(d.api, &["disable", "10.0.0.1:80", R2]);
    until("r2 out", Duration::from_secs(10), || weight(R2).is_none()).await;
    assert_eq!(spread(6), vec!["r1"]);
    let r2_status = || d.hub.virtual_servers.borrow()[0].real_servers[1].clone();
    assert_eq!(r2_status().runtime.operator.as_deref(), Some("disabled"));
    // Health checks keep running on a disabled server: its backend failing shows as down.
    r2.store(true, Ordering::SeqCst);
    let _ = in_ns("c", || {
        TcpStream::connect_timeout(&R2.parse().unwrap(), Duration::from_secs(1))
    });
    until(
        "r2 seen down while disabled",
        Duration::from_secs(10),
        || !r2_status().up,
    )
    .await;
    let r2 = backend("r2", "r2");
    until("r2 seen up while disabled", Duration::from_secs(10), || {
        r2_status().up
    })
    .await;
    assert_eq!(weight(R2), None);
    ctl_ok(d.api, &["enable", "10.0.0.1:80", R2]);
    until("r2 back", Duration::from_secs(10), || {
        weight(R2) == Some(10)
    })
    .await;

    d.stop().await;
    drop(r2);
    sh(&["ipvsadm", "-C"]);
    let _ = std::fs::remove_dir_all(&dir);
}
