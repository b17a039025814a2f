//! keepalived checker options acted on by the daemon, shown with `lvsd --health-check-only`
//! (no IPVS needed) against loopback servers the test starts and stops; what a user sees is
//! the real server's notify_up / notify_down scripts writing to a file.
//! - SMTP_CHECK `host {}`: every host is checked with its own connect_ip / connect_port /
//!   bindto; one host dying takes the real server down.
//! - HTTP_GET url `regex` / `regex_no_match` / `regex_options`: the body decides.
//! - `fast_recovery`: without it a recovering checker takes one url per delay_loop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

type Handler = Arc<dyn Fn(TcpStream) + Send + Sync>;

/// A loopback TCP server running `handler` per connection and recording each client's
/// address, until dropped (then its port refuses connections).
struct Server {
    addr: SocketAddr,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(bind: &str, handler: Handler) -> Server {
        let l = TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (stop.clone(), peers.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, peer)) => {
                        p.lock().unwrap().push(peer);
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                        let h = handler.clone();
                        thread::spawn(move || h(c));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            addr,
            peers,
            stop,
            thread: Some(thread),
        }
    }

    fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A minimal SMTP server: greeting, HELO answered 250, QUIT answered 221.
fn smtp() -> Handler {
    Arc::new(|mut c: TcpStream| {
        let _ = c.write_all(b"220 test ESMTP\r\n");
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            let reply: &[u8] = if line.starts_with("HELO") {
                b"250 test hello\r\n"
            } else {
                b"221 bye\r\n"
            };
            let _ = c.write_all(reply);
            if line.starts_with("QUIT") {
                break;
            }
            line.clear();
        }
    })
}

/// An HTTP server answering 200 with the current `body` to any GET.
fn http(body: Arc<Mutex<String>>) -> Handler {
    Arc::new(move |mut c: TcpStream| {
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
        let b = body.lock().unwrap().clone();
        let _ = write!(
            c,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        );
    })
}

struct Lvsd {
    child: Child,
    log: PathBuf,
    events: PathBuf,
    dir: PathBuf,
}

impl Lvsd {
    /// Starts `lvsd --health-check-only` on `servers` (real_server blocks, where `NOTIFY`
    /// stands for the notify_up / notify_down lines of that server's `NAME`).
    fn start(test: &str, servers: &[(&str, String)]) -> Lvsd {
        let dir = std::env::temp_dir().join(format!("lvsd-ckw-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let events = dir.join("events");
        let notify = |word: String| format!("\"/bin/sh -c 'echo {word} >> {}'\"", events.display());
        let mut conf = String::new();
        for (i, (name, block)) in servers.iter().enumerate() {
            let lines = format!(
                "notify_up {}\n        notify_down {}",
                notify(format!("{name}_UP")),
                notify(format!("{name}_DOWN"))
            );
            conf.push_str(&format!(
                "virtual_server 192.0.2.{} 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}\n}}\n",
                10 + i,
                block.replace("NOTIFY", &lines)
            ));
        }
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).unwrap();
        let log = dir.join("lvsd.log");
        let child = Command::new(LVSD)
            .args(["--health-check-only", "-n", "-l", "-f"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start lvsd");
        Lvsd {
            child,
            log,
            events,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for the `n`th occurrence of event `what`; returns the time waited.
    fn wait_event(&self, what: &str, n: usize, within: Duration) -> Duration {
        let t0 = Instant::now();
        while self.events().iter().filter(|e| *e == what).count() < n {
            assert!(
                t0.elapsed() < within,
                "{what} #{n} not seen within {within:?}; events {:?}\n--- lvsd log ---\n{}",
                self.events(),
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        t0.elapsed()
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn smtp_check_checks_every_host() {
    // Three SMTP servers on three loopback addresses; the real server's own address is
    // checked only through the `host` that names it, as keepalived documents.
    let a = Server::start("127.0.0.1:0", smtp());
    let b = Server::start("127.0.0.2:0", smtp());
    let c = Server::start("127.0.0.3:0", smtp());
    let block = format!(
        r#"    real_server 127.0.0.1 {pa} {{
        NOTIFY
        SMTP_CHECK {{
            delay_loop 1
            connect_timeout 1
            retry 0
            warmup 0
            helo_name lvsd.test
            host {{
                connect_ip 127.0.0.1
                connect_port {pa}
            }}
            host {{
                connect_ip 127.0.0.2
                connect_port {pb}
                bindto 127.0.0.5
            }}
            host {{
                connect_ip 127.0.0.3
                connect_port {pc}
                connect_timeout 2
            }}
        }}
    }}"#,
        pa = a.addr.port(),
        pb = b.addr.port(),
        pc = c.addr.port()
    );
    let lvsd = Lvsd::start("smtp", &[("RS", block)]);
    // Every host is checked (each one's server sees connections), host 2 from its bindto.
    let t0 = Instant::now();
    while a.peers().is_empty() || b.peers().is_empty() || c.peers().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "not every host checked: {:?} {:?} {:?}\n{}",
            a.peers(),
            b.peers(),
            c.peers(),
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let lo5: IpAddr = "127.0.0.5".parse().unwrap();
    assert!(b.peers().iter().all(|p| p.ip() == lo5), "{:?}", b.peers());
    assert!(a.peers().iter().all(|p| p.ip() != lo5), "{:?}", a.peers());
    assert!(!lvsd.events().contains(&"RS_DOWN".to_string()));

    // One host dies: the real server goes down (delay_loop 1 + connect_timeout 1).
    let pc = c.addr;
    drop(c);
    let took = lvsd.wait_event("RS_DOWN", 1, Duration::from_secs(5));
    eprintln!("third SMTP host stopped -> notify_down after {took:?}");
    assert!(
        lvsd.log().contains(&format!("SMTP_CHECK {pc}")),
        "the failing host is named\n{}",
        lvsd.log()
    );
    // It comes back: the real server is up again.
    let _c = Server::start(&pc.to_string(), smtp());
    lvsd.wait_event("RS_UP", 1, Duration::from_secs(5));
    drop(a);
    lvsd.wait_event("RS_DOWN", 2, Duration::from_secs(5));
}

fn http_block(port: u16, checker: &str) -> String {
    format!(
        r#"    real_server 127.0.0.1 {port} {{
        NOTIFY
        HTTP_GET {{
            delay_loop 1
            connect_timeout 1
            retry 0
            warmup 0
{checker}
        }}
    }}"#
    )
}

#[test]
fn regex_decides_on_the_body() {
    let body = Arc::new(Mutex::new("status: ok\n".to_string()));
    let s = Server::start("127.0.0.1:0", http(body.clone()));
    let port = s.addr.port();
    let matching = http_block(
        port,
        r#"            url {
                path /health
                regex "^status: (ok|fine)$"
                regex_options multiline
            }"#,
    );
    let no_match = http_block(
        port,
        r#"            url {
                path /health
                regex "maintenance"
                regex_no_match
                regex_options caseless
                regex_min_offset 0
                regex_max_offset 100
            }"#,
    );
    let lvsd = Lvsd::start("regex", &[("MATCH", matching), ("NOMATCH", no_match)]);
    thread::sleep(Duration::from_millis(1500));
    assert!(
        lvsd.events().is_empty(),
        "{:?}\n{}",
        lvsd.events(),
        lvsd.log()
    );

    *body.lock().unwrap() = "status: broken\n".to_string();
    lvsd.wait_event("MATCH_DOWN", 1, Duration::from_secs(5));
    assert!(
        lvsd.log()
            .contains("does not match regex \\\"^status: (ok|fine)$\\\"")
            || lvsd
                .log()
                .contains("does not match regex \"^status: (ok|fine)$\""),
        "{}",
        lvsd.log()
    );
    assert!(!lvsd.events().contains(&"NOMATCH_DOWN".to_string()));

    *body.lock().unwrap() = "status: fine\nMAINTENANCE tonight\n".to_string();
    lvsd.wait_event("MATCH_UP", 1, Duration::from_secs(5));
    lvsd.wait_event("NOMATCH_DOWN", 1, Duration::from_secs(5));

    *body.lock().unwrap() = "status: ok\n".to_string();
    lvsd.wait_event("NOMATCH_UP", 1, Duration::from_secs(5));
}

#[test]
fn fast_recovery_checks_all_urls_at_once() {
    let body = Arc::new(Mutex::new("up".to_string()));
    let s = Server::start("127.0.0.1:0", http(body));
    let port = s.addr.port();
    let urls = "            alpha\n            url { path /a }\n            url { path /b }\n            url { path /c }\n            url { path /d }";
    let fast = http_block(port, &format!("            fast_recovery\n{urls}"));
    let slow = http_block(port, urls);
    let lvsd = Lvsd::start("fast", &[("FAST", fast), ("SLOW", slow)]);
    // alpha: both start down. With fast_recovery all four urls pass in the first run; without,
    // one url per delay_loop (1 s): up after the fourth run, 3 s later.
    let fast_up = lvsd.wait_event("FAST_UP", 1, Duration::from_secs(10));
    let slow_up = lvsd.wait_event("SLOW_UP", 1, Duration::from_secs(10)) + fast_up;
    eprintln!("fast_recovery up after {fast_up:?}, without after {slow_up:?}");
    assert!(
        slow_up >= fast_up + Duration::from_millis(2500),
        "fast {fast_up:?} slow {slow_up:?}\n{}",
        lvsd.log()
    );
    assert!(
        slow_up < fast_up + Duration::from_millis(4500),
        "{slow_up:?}"
    );
}
