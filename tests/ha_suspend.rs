//! `ha_suspend` in a network namespace: the checkers of a virtual server stop while its VIP is
//! not on the host and start again when it comes back; a virtual server without `ha_suspend`
//! keeps being checked. The VIP is added to and removed from the namespace's `lo` (the host
//! kernel has no dummy interfaces). The backend counts the GETs it gets per path; lvsd runs
//! `--health-check-only` (no IPVS needed) inside the namespace. Needs root and iproute2.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");
const NS: &str = "checks-ha";
const VIP: &str = "192.0.2.50";

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("this test needs iproute2 (`ip`): {e}"));
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Netns;

impl Netns {
    fn create() -> Netns {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
        ip(&["netns", "add", NS]);
        ip(&["-n", NS, "link", "set", "lo", "up"]);
        Netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
    }
}

/// HTTP backend inside the namespace answering 200, counting GETs of `/a` and `/b`.
struct Backend {
    port: u16,
    a: Arc<AtomicUsize>,
    b: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Backend {
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (ca, cb, s) = (a.clone(), b.clone(), stop.clone());
        thread::spawn(move || {
            // This thread (only) enters the namespace; its listener stays there.
            let ns = std::fs::File::open(format!("/run/netns/{NS}")).expect("netns file");
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let l = TcpListener::bind("127.0.0.1:0").expect("bind in netns");
            l.set_nonblocking(true).unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            while !s.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                if req.starts_with("GET /a ") {
                    ca.fetch_add(1, Ordering::Relaxed);
                } else if req.starts_with("GET /b ") {
                    cb.fetch_add(1, Ordering::Relaxed);
                }
                let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(5)).expect("backend");
        Backend { port, a, b, stop }
    }
    fn counts(&self) -> (usize, usize) {
        (
            self.a.load(Ordering::Relaxed),
            self.b.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// GET /status from lvsd's API inside the namespace (from a thread that enters it).
fn status_in_ns() -> String {
    thread::spawn(|| {
        let ns = std::fs::File::open(format!("/run/netns/{NS}")).expect("netns file");
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let Ok(mut c) = std::net::TcpStream::connect(API) else {
            return String::new();
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = c.write_all(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1:19265\r\n\r\n");
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    })
    .join()
    .unwrap_or_default()
}

const API: &str = "127.0.0.1:19265";

struct Lvsd(Child, std::path::PathBuf);

impl Lvsd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait(what: &str, lvsd: &Lvsd, within: Duration, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < within,
            "{what} not seen within {within:?}\n--- lvsd log ---\n{}",
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn vs(addr: &str, port: u16, path: &str, ha_suspend: bool, events: &std::path::Path) -> String {
    let down = format!("\"/bin/sh -c 'echo DOWN{path} >> {}'\"", events.display());
    format!(
        r#"virtual_server {addr} 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    {}
    real_server 127.0.0.1 {port} {{
        notify_down {down}
        HTTP_GET {{
            url {{
                path {path}
            }}
            delay_loop 0.2
            connect_timeout 1
            retry 0
            warmup 0
        }}
    }}
}}
"#,
        if ha_suspend { "ha_suspend" } else { "" }
    )
}

#[test]
fn checkers_pause_while_the_vip_is_away() {
    let _ns = Netns::create();
    ip(&["-n", NS, "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    let backend = Backend::start();
    let dir = std::env::temp_dir().join(format!("lvsd-ha-suspend-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events");
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        vs(VIP, backend.port, "/a", true, &events)
            + &vs("192.0.2.51", backend.port, "/b", false, &events),
    )
    .unwrap();
    let log = dir.join("lvsd.log");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            NS,
            LVSD,
            "--health-check-only",
            "-n",
            "-l",
            "--metrics-listen",
            API,
            "--state-dir",
        ])
        .arg(&dir)
        .arg("--ctl-socket")
        .arg(dir.join("ctl.sock"))
        .arg("-f")
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start lvsd");
    let lvsd = Lvsd(child, log);

    // VIP present: both virtual servers are checked.
    wait("checks of both", &lvsd, Duration::from_secs(10), || {
        let (a, b) = backend.counts();
        a >= 3 && b >= 3
    });

    // VIP removed: the ha_suspend one's checks stop; the other's go on.
    ip(&["-n", NS, "addr", "del", &format!("{VIP}/32"), "dev", "lo"]);
    wait("suspension", &lvsd, Duration::from_secs(3), || {
        lvsd.log().contains("checkers suspended (ha_suspend)")
    });
    // /status says why the checks are paused.
    wait(
        "checks_suspended in /status",
        &lvsd,
        Duration::from_secs(3),
        || {
            let st = status_in_ns();
            st.contains("checks_suspended") && st.contains("ha_suspend: none of its addresses")
        },
    );
    thread::sleep(Duration::from_millis(300)); // a run already under way may finish
    let (a0, b0) = backend.counts();
    thread::sleep(Duration::from_millis(1500));
    let (a1, b1) = backend.counts();
    assert_eq!(
        a1,
        a0,
        "checks went on while the VIP was away\n{}",
        lvsd.log()
    );
    assert!(
        b1 >= b0 + 4,
        "the other virtual server stopped too: {b0} -> {b1}"
    );

    // VIP back: checks resume, and the real server never went down meanwhile.
    ip(&["-n", NS, "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    wait("resumed checks", &lvsd, Duration::from_secs(3), || {
        backend.counts().0 >= a1 + 3
    });
    assert!(
        lvsd.log().contains("checkers resumed (ha_suspend)"),
        "{}",
        lvsd.log()
    );
    let st = status_in_ns();
    assert!(
        st.contains("192.0.2.50") && !st.contains("checks_suspended"),
        "{st}"
    );
    let ev = std::fs::read_to_string(&events).unwrap_or_default();
    assert!(!ev.contains("DOWN"), "a real server went down: {ev}");
    let _ = std::fs::remove_dir_all(&dir);
}
