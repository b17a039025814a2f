//! `lvsd --health-check-only` on this host (whose kernel has no IPVS): the binary with a real
//! keepalived.conf, a real HTTP backend started by the test, notify scripts writing to a file.
//! The checkers run and report; nothing needs (or touches) IPVS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// An HTTP backend answering `200 ok` until stopped (then the port refuses connections).
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Backend {
    fn start(addr: SocketAddr) -> (Backend, SocketAddr) {
        let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while let Ok(n) = c.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&buf[..n]);
                            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                        let _ = c.write_all(
                            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
                        );
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        (
            Backend {
                stop,
                thread: Some(thread),
            },
            addr,
        )
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Lvsd {
    child: Child,
    log: PathBuf,
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lvsd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn wait_until(what: &str, within: Duration, lvsd: &Lvsd, f: impl Fn() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < within,
            "{what} not seen within {within:?}\n--- lvsd log ---\n{}",
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

fn write_config(path: &Path, port: u16, events: &Path) {
    let notify = |word: &str| format!("\"/bin/sh -c 'echo {word} >> {}'\"", events.display());
    std::fs::write(
        path,
        format!(
            r#"global_defs {{
    router_id hc_only_test
}}
virtual_server 192.0.2.10 80 {{
    delay_loop 1
    lb_algo wrr
    # NAT: with DR keepalived (and lvsd) reset the real server's port to the service's.
    lb_kind NAT
    protocol TCP
    quorum_up {qup}
    quorum_down {qdown}
    real_server 127.0.0.1 {port} {{
        weight 10
        notify_up {up}
        notify_down {down}
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
}}
"#,
            qup = notify("QUORUM_UP"),
            qdown = notify("QUORUM_DOWN"),
            up = notify("RS_UP"),
            down = notify("RS_DOWN"),
        ),
    )
    .unwrap();
}

#[test]
fn health_check_only_reports_transitions_without_ipvs() {
    let dir = std::env::temp_dir().join(format!("lvsd-hc-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (backend, addr) = Backend::start("127.0.0.1:0".parse().unwrap());
    let conf = dir.join("keepalived.conf");
    let events = dir.join("events");
    write_config(&conf, addr.port(), &events);
    let log = dir.join("lvsd.log");
    let child = Command::new(LVSD)
        .args(["--health-check-only", "-n", "-l", "-f"])
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start lvsd");
    let mut lvsd = Lvsd { child, log };
    let events_text = || std::fs::read_to_string(&events).unwrap_or_default();

    wait_until("start", Duration::from_secs(10), &lvsd, || {
        lvsd.log().contains("lvsd started")
    });
    // Detection bound: delay_loop 1 + connect_timeout 1 = 2 s.
    drop(backend);
    let took = wait_until("RS_DOWN", Duration::from_secs(5), &lvsd, || {
        events_text().contains("RS_DOWN")
    });
    eprintln!("backend stop → notify_down after {took:?}");
    wait_until("quorum_down", Duration::from_secs(2), &lvsd, || {
        events_text().contains("QUORUM_DOWN")
    });
    assert!(
        lvsd.log()
            .contains(&format!("real server 127.0.0.1:{} DOWN", addr.port())),
        "{}",
        lvsd.log()
    );

    let (_backend, _) = Backend::start(addr);
    wait_until("RS_UP", Duration::from_secs(5), &lvsd, || {
        events_text().contains("RS_UP") && events_text().contains("QUORUM_UP")
    });
    assert!(
        !lvsd.log().contains("ipvs: ipvsadm"),
        "health-check-only wrote to IPVS"
    );
    // What a director would have done is logged, not applied.
    let would = |op: String| lvsd.log().contains(&format!("not applied: ipvsadm {op}"));
    assert!(would("-A -t 192.0.2.10:80 -s wrr".into()), "{}", lvsd.log());
    assert!(
        would(format!("-d -t 192.0.2.10:80 -r 127.0.0.1:{}", addr.port())),
        "{}",
        lvsd.log()
    );

    // SIGTERM: clean exit 0.
    let _ = Command::new("kill")
        .args(["-TERM", &lvsd.child.id().to_string()])
        .status();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = lvsd.child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no exit on SIGTERM");
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status}\n{}", lvsd.log());
}
