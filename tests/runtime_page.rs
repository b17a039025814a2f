//! The runtime endpoints of a running `lvsd --health-check-only` (backends on loopback): the
//! event stream as `lvsd ctl events` prints it (operator action, real server down, reload, in
//! order, numbered, across a reload, replay with Last-Event-ID), and the status page loaded in
//! real headless Chromium: the DOM shows the virtual and real servers with health, operator
//! state and the recent events; a screenshot is saved under target/.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// A TCP backend accepting and closing connections until stopped.
fn backend() -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((c, _)) => drop(c),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (addr, stop)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

fn wait_until(what: &str, within: Duration, lvsd: &Lvsd, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < within,
            "{what} not seen within {within:?}\n--- lvsd log ---\n{}",
            lvsd.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn config(path: &Path, a: SocketAddr, b: SocketAddr, weight_b: u32) {
    let rs = |addr: SocketAddr, w: u32| {
        format!(
            "    real_server 127.0.0.1 {} {{\n        weight {w}\n        TCP_CHECK {{\n            connect_timeout 1\n            delay_loop 1\n            retry 0\n        }}\n    }}\n",
            addr.port()
        )
    };
    std::fs::write(
        path,
        format!(
            "virtual_server 192.0.2.10 80 {{\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n    slow_start 3\n{}{}}}\n",
            rs(a, 3),
            rs(b, weight_b)
        ),
    )
    .unwrap();
}

fn http_get(api: SocketAddr, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The first second of a streaming response.
fn http_get_some(api: SocketAddr, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {api}\r\n{headers}\r\n").unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `lvsd ctl` over the daemon's control socket (state changes need it).
fn ctl(socket: &Path, args: &[&str]) -> String {
    let out = Command::new(LVSD)
        .args(["ctl", "--socket"])
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ctl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Where this test leaves its screenshot: target/runtime-page/ of the workspace.
fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/runtime-page");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium(args: &[&str], url: &str) -> std::process::Output {
    let profile = std::env::temp_dir().join(format!("lvsd-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium (apt-get install chromium; .ci/run installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    out
}

#[test]
fn events_stream_and_status_page_in_a_real_browser() {
    let dir = std::env::temp_dir().join(format!("lvsd-runtime-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, stop_a) = backend();
    let (b, _stop_b) = backend();
    let conf = dir.join("keepalived.conf");
    config(&conf, a, b, 2);
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let socket = dir.join("ctl.sock");
    let log = dir.join("lvsd.log");
    let child = Command::new(LVSD)
        .args(["--health-check-only", "-n", "-l", "-f"])
        .arg(&conf)
        .args(["--metrics-listen", &api.to_string(), "--state-dir"])
        .arg(dir.join("state"))
        .arg("--ctl-socket")
        .arg(&socket)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start lvsd");
    let lvsd = Lvsd { child, log };
    wait_until("API up", Duration::from_secs(10), &lvsd, || {
        TcpStream::connect(api).is_ok() && http_get(api, "/status", "").contains("192.0.2.10")
    });

    // Follow the stream from before anything happens.
    let mut follower = Command::new(LVSD)
        .args(["ctl", "--api", &api.to_string(), "events", "--count", "6"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = follower.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("snapshot line");
    assert!(
        first.starts_with("# snapshot") && first.contains("1 virtual server"),
        "{first}"
    );

    // Disable B; A goes down; a reload (B's weight changes); enable B.
    let out = ctl(&socket, &["disable", "192.0.2.10:80", &b.to_string()]);
    assert!(out.contains("disabled"), "{out}");
    stop_a.store(true, Ordering::Relaxed);
    let want_down = format!("{a}");
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !lines
        .iter()
        .any(|l: &String| l.contains("real_server") && l.contains(&want_down))
    {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no down event; got {lines:?}\n{}", lvsd.log()));
        lines.push(l);
    }
    config(&conf, a, b, 5);
    let pid = lvsd.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    // SIGHUP is asynchronous: let the reload land before the enable, so the order is known.
    while !lines.iter().any(|l: &String| l.contains(" reload ")) {
        let l = rx
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no reload event; got {lines:?}\n{}", lvsd.log()));
        lines.push(l);
    }
    let out = ctl(&socket, &["enable", "192.0.2.10:80", &b.to_string()]);
    assert!(out.contains("enabled"), "{out}");
    while lines.len() < 6 {
        lines.push(
            rx.recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| panic!("stream stopped: {lines:?}\n{}", lvsd.log())),
        );
    }
    let status = follower.wait().unwrap();
    assert!(status.success());
    eprintln!("ctl events:\n{}", lines.join("\n"));
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| l[1..].split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    // A down with B disabled: nothing left, quorum lost; B enabled: quorum back.
    assert_eq!(
        kinds,
        [
            "operator",
            "real_server",
            "quorum",
            "reload",
            "operator",
            "quorum"
        ],
        "{lines:?}"
    );
    assert!(
        lines[0].contains("disabled") && lines[4].contains("enabled"),
        "{lines:?}"
    );

    // Replay after an id (what a reconnecting client sends), without a snapshot.
    let replay = http_get_some(api, "/events", &format!("Last-Event-ID: {}\r\n", seqs[1]));
    assert!(replay.contains("text/event-stream"), "{replay}");
    assert!(
        replay.contains(&format!("id: {}", seqs[2])) && !replay.contains("event: snapshot"),
        "{replay}"
    );

    // Over TCP without the operator's token, a state change is refused (read routes are not).
    let refused = Command::new(LVSD)
        .args(["ctl", "--api", &api.to_string(), "disable", "192.0.2.10:80"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("403") && why.contains("changes state"),
        "{why}"
    );

    // Disable B again so the page shows an operator hold, then load the page.
    ctl(&socket, &["disable", "192.0.2.10:80", &b.to_string()]);
    let url = format!("http://{api}/");
    let page = chromium(&["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.status.success() && dom.contains("<table id=\"virtual-servers\">"),
        "chromium failed: {}\n{dom}",
        String::from_utf8_lossy(&page.stderr)
    );
    let row = |addr: SocketAddr| {
        let tag = format!("data-rs=\"TCP 192.0.2.10:80 {addr}\"");
        let i = dom
            .find(&tag)
            .unwrap_or_else(|| panic!("no row for {addr} in the DOM:\n{dom}"));
        let end = dom[i..].find("</tr>").map_or(dom.len(), |e| i + e);
        dom[i..end].to_string()
    };
    let ra = row(a);
    assert!(ra.contains("class=\"down health\">down<"), "{ra}");
    let rb = row(b);
    assert!(rb.contains("class=\"up health\">up<"), "{rb}");
    assert!(rb.contains("class=\"op operator\">disabled<"), "{rb}");
    assert!(rb.contains(">5<"), "reloaded weight not shown: {rb}");
    assert!(dom.contains("data-vs=\"TCP 192.0.2.10:80\""), "{dom}");
    let events_table = &dom[dom.find("<table id=\"events\">").unwrap()..];
    assert!(
        events_table.contains("configuration reloaded"),
        "{events_table}"
    );
    assert!(events_table.contains("disabled"), "{events_table}");
    assert!(!dom.contains("src=\"http"), "external asset in the page");

    let shot = out_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(&[&format!("--screenshot={}", shot.display())], &url);
    assert!(
        shot.exists() && std::fs::metadata(&shot).unwrap().len() > 5_000,
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("status page screenshot: {}", shot.display());
    eprintln!("status page screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&dir);
}
