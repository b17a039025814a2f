//! Benchmark: 10,000 real servers with HTTP_GET (status + digest) at `delay_loop 1` against
//! loopback servers (50 addresses in 127.0.1.0/24 × 200 ports), the lvsd scheduler side by side
//! with a simple loop baseline (one task per server: connect, GET, read, sleep 1 s) under the
//! same load. Reports CPU (share of one core), peak RSS, checks/s, and the time to detect failed
//! servers against delay_loop + connect_timeout × (retry + 1) + delay_before_retry × retry.
//!
//! `cargo run --release -p checkers --example bench [-- SERVERS SECONDS]`
//!
//! Each side runs in its own process (so peak RSS is its own), which starts its own server
//! process (so the servers' CPU is not counted). keepalived's checker cannot be the reference
//! here: it exits without IPVS in the kernel.
//!
//! A run on 2 shared cores (load average ~4-5 from other builds, 2026-11-24):
//! ```text
//! RESULT side=baseline cpu=0.406 rss_kib=55220 checks_per_s=8863
//! RESULT side=lvsd cpu=0.405 rss_kib=75316 checks_per_s=8223 mean_check_ms=241.5
//!        detected=20/20 refuse_mean=1.47 refuse_max=1.71 hang_mean=3.65 hang_max=3.93 bound=4.00
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use checkers::{
    CheckKind, HttpSpec, Scheduler, SchedulerConfig, ServerChecks, Spec, Timing, UrlSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: &[u8] = b"<html>ok</html>\n";
const PORT_BASE: u16 = 21000;
const PORTS: u16 = 200;

fn target(i: usize) -> SocketAddr {
    let addr = 1 + (i / PORTS as usize) as u8; // 127.0.1.1 ..
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 1, addr)),
        PORT_BASE + (i % PORTS as usize) as u16,
    )
}

fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// (user + system CPU seconds, peak RSS in KiB) of this process.
fn usage() -> (f64, u64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let cpu = ru.ru_utime.tv_sec as f64
        + ru.ru_utime.tv_usec as f64 / 1e6
        + ru.ru_stime.tv_sec as f64
        + ru.ru_stime.tv_usec as f64 / 1e6;
    (cpu, ru.ru_maxrss as u64)
}

// ---------------------------------------------------------------- servers (child process)

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Refuse,
    Hang,
}

async fn serve_conn(mut s: TcpStream, mode: Mode) {
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    if mode == Mode::Hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let resp = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len());
    let _ = s.write_all(&[resp.as_bytes(), BODY].concat()).await;
}

fn servers(n: usize) {
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut modes = HashMap::new();
        for i in 0..n {
            let l = TcpListener::bind(target(i)).await.unwrap_or_else(|e| panic!("bind {}: {e}", target(i)));
            let (tx, rx) = tokio::sync::watch::channel(Mode::Serve);
            modes.insert(i, tx);
            tokio::spawn(async move {
                let mut rx = rx;
                loop {
                    let mode = *rx.borrow();
                    if mode == Mode::Refuse {
                        return; // listener dropped: connections refused
                    }
                    tokio::select! {
                        acc = l.accept() => if let Ok((s, _)) = acc { tokio::spawn(serve_conn(s, mode)); },
                        _ = rx.changed() => {}
                    }
                }
            });
        }
        println!("ready");
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin());
        let mut line = String::new();
        while tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line).await.unwrap_or(0) > 0 {
            let mut it = line.split_whitespace();
            if let (Some(cmd), Some(i)) = (it.next(), it.next().and_then(|i| i.parse::<usize>().ok())) {
                let mode = if cmd == "hang" { Mode::Hang } else { Mode::Refuse };
                if let Some(tx) = modes.get(&i) {
                    let _ = tx.send(mode);
                }
            }
            println!("ok");
            line.clear();
        }
    });
}

struct ServerProc {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl ServerProc {
    fn start(n: usize) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["serve", &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        ServerProc { child, out }
    }

    fn command(&mut self, cmd: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- the two sides

fn timing() -> Timing {
    Timing {
        delay_loop: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry: 1,
        delay_before_retry: Duration::from_secs(1),
        warmup: None,
        alpha: false,
    }
}

fn digest() -> String {
    let mut r = checkers::digest::ResponseReader::new();
    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len());
    r.feed(head.as_bytes(), &mut |_| {}).unwrap();
    r.feed(BODY, &mut |_| {}).unwrap();
    r.hex_digest()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Measures CPU and checks over `secs` after a warmup of one delay_loop.
async fn measure(secs: u64, checks: &AtomicU64) -> (f64, f64) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c0, n0, t0) = (usage().0, checks.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    (
        (usage().0 - c0) / wall,
        (checks.load(Ordering::Relaxed) - n0) as f64 / wall,
    )
}

fn lvsd_side(n: usize, secs: u64) {
    raise_nofile();
    let mut server = ServerProc::start(n);
    let rt = runtime();
    rt.block_on(async move {
        let checks = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let busy_us = Arc::new(AtomicU64::new(0));
        let (c, f, b) = (checks.clone(), failures.clone(), busy_us.clone());
        let cfg = SchedulerConfig {
            on_result: Some(Arc::new(move |r| {
                c.fetch_add(1, Ordering::Relaxed);
                b.fetch_add(r.duration.as_micros() as u64, Ordering::Relaxed);
                if !r.outcome.is_pass() {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            })),
            ..SchedulerConfig::default()
        };
        let (handle, mut rx) = Scheduler::spawn::<usize>(cfg);
        let want = digest();
        let servers = (0..n)
            .map(|i| {
                let mut url = UrlSpec::new("/health");
                url.digest = Some(want.clone());
                let http = HttpSpec { urls: vec![url], ..HttpSpec::default() };
                let spec = Spec { timing: timing(), ..Spec::new(target(i), CheckKind::Http(http)) };
                ServerChecks { id: i, checks: vec![spec], initially_up: true }
            })
            .collect();
        handle.set(servers);
        let (cpu, rate) = measure(secs, &checks).await;
        let failed_before = failures.load(Ordering::Relaxed);
        let mean_check_ms = busy_us.load(Ordering::Relaxed) as f64 / checks.load(Ordering::Relaxed).max(1) as f64 / 1000.0;
        // Fail 10 servers by refusing and 10 by hanging, then time their down transitions.
        let victims: Vec<(usize, &str)> =
            (0..20).map(|k| (k * (n / 20) + 7, if k % 2 == 0 { "refuse" } else { "hang" })).collect();
        while let Ok(t) = rx.try_recv() {
            eprintln!("unexpected transition before failures: {t:?}");
        }
        let failed_at = SystemTime::now();
        for (i, how) in &victims {
            server.command(&format!("{how} {i}"));
        }
        let mut detect: HashMap<usize, (Duration, &str, String)> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while detect.len() < victims.len() && Instant::now() < deadline {
            let Ok(Some(t)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await else { continue };
            if let Some((_, how)) = victims.iter().find(|(i, _)| *i == t.server)
                && !t.up
            {
                detect.insert(t.server, (t.at.duration_since(failed_at).unwrap_or_default(), how, t.reason));
            }
        }
        let bound = timing().detection_bound();
        let worst = |how: &str| detect.values().filter(|d| d.1 == how).map(|d| d.0).max().unwrap_or_default();
        let mean = |how: &str| {
            let v: Vec<f64> = detect.values().filter(|d| d.1 == how).map(|d| d.0.as_secs_f64()).collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let (_, rss) = usage();
        println!(
            "RESULT side=lvsd cpu={cpu:.3} rss_kib={rss} checks_per_s={rate:.0} mean_check_ms={mean_check_ms:.1} failed_checks_before={failed_before} \
             detected={}/{} refuse_mean={:.2} refuse_max={:.2} hang_mean={:.2} hang_max={:.2} bound={:.2}",
            detect.len(),
            victims.len(),
            mean("refuse"),
            worst("refuse").as_secs_f64(),
            mean("hang"),
            worst("hang").as_secs_f64(),
            bound.as_secs_f64()
        );
        if let Some((_, (_, _, reason))) = detect.iter().find(|(_, d)| d.1 == "hang") {
            println!("REASON hang: {reason}");
        }
        if let Some((_, (_, _, reason))) = detect.iter().find(|(_, d)| d.1 == "refuse") {
            println!("REASON refuse: {reason}");
        }
    });
}

/// The simple loop: per server, connect, send GET, read the response, sleep 1 s.
async fn baseline_one(addr: SocketAddr, checks: Arc<AtomicU64>) {
    let req =
        format!("GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {addr}\r\n\r\n");
    let mut buf = vec![0u8; 4096];
    loop {
        let r = tokio::time::timeout(Duration::from_secs(1), async {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(req.as_bytes()).await?;
            while s.read(&mut buf).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        // Count successful checks only, as on the lvsd side (where none fail).
        if let Ok(Ok(())) = r {
            checks.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn baseline_side(n: usize, secs: u64) {
    raise_nofile();
    let _server = ServerProc::start(n);
    let rt = runtime();
    rt.block_on(async move {
        let checks = Arc::new(AtomicU64::new(0));
        for i in 0..n {
            tokio::spawn(baseline_one(target(i), checks.clone()));
        }
        let (cpu, rate) = measure(secs, &checks).await;
        let (_, rss) = usage();
        println!("RESULT side=baseline cpu={cpu:.3} rss_kib={rss} checks_per_s={rate:.0}");
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("serve") => return servers(num(2, 10_000)),
        Some("lvsd") => return lvsd_side(num(2, 10_000), num(3, 20) as u64),
        Some("baseline") => return baseline_side(num(2, 10_000), num(3, 20) as u64),
        _ => {}
    }
    let (n, secs) = (num(1, 10_000), num(2, 20));
    println!(
        "{n} real servers, HTTP_GET status + digest, delay_loop 1 s, measured over {secs} s per side"
    );
    let exe = std::env::current_exe().unwrap();
    for side in ["baseline", "lvsd"] {
        let out = Command::new(&exe)
            .args([side, &n.to_string(), &secs.to_string()])
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
