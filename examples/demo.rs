//! See lvsd work in under a minute:
//!
//! ```sh
//! cargo run --release --example demo
//! ```
//!
//! **With the IPVS VM's requirements** (root, `qemu-system-x86`, `busybox-static`, `cpio`,
//! `xz-utils`, `ipvsadm`: see tests/vm/README.md) the demo boots Debian's kernel under QEMU and,
//! in private network namespaces inside it (the host's own IPVS table is never touched), runs a
//! client, an lvsd director (`examples/demo/balancer.conf`: a VRRP master holding the VIP, NAT
//! round robin over three web servers with HTTP_GET checks) and three web servers answering
//! with their names. It shows requests being balanced, one web server dying and the traffic
//! moving to the others, and the server coming back.
//!
//! **Elsewhere** it says why, then runs lvsd in health-check-only mode on
//! `examples/demo/director.conf` against a local web server it stops and starts (no IPVS, no
//! root needed): the checker's verdicts, quorum lost / gained, and the IPVS commands a director
//! would run.

#[path = "../tests/vm/harness.rs"]
mod vm;

#[path = "../tests/traffic/lab.rs"]
mod lab;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

const BACKEND: &str = "127.0.0.1:18080";
/// Set on the demo's own child that runs the director inside the lab's director namespace.
const DIRECTOR_ENV: &str = "LVSD_DEMO_DIRECTOR";

fn say(msg: &str) {
    eprintln!("\n==> demo: {msg}\n");
}

fn main() -> ExitCode {
    if let Some(conf) = std::env::var_os(DIRECTOR_ENV) {
        return run_lvsd(&["lvsd", "-n", "-f", &conf.to_string_lossy()]);
    }
    if vm::inside() {
        return balancing();
    }
    match vm_missing() {
        None => {
            say("booting the IPVS VM (Debian's kernel under QEMU; the first run downloads it)");
            let exe = std::env::current_exe().expect("current exe");
            match Command::new(vm::runner())
                .arg(exe)
                .env(vm::IN_VM_ENV, "1")
                .status()
            {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                Ok(s) => {
                    eprintln!("demo: the VM run failed ({s})");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("demo: cannot run tests/vm/ipvs-vm.sh: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(why) => {
            say(&format!(
                "no IPVS VM here ({why}): showing health checks only. \
                 For real traffic through IPVS: run as root with qemu-system-x86 busybox-static \
                 cpio xz-utils ipvsadm installed (tests/vm/README.md)"
            ));
            health_check_only()
        }
    }
}

/// Why the VM cannot run here, if it cannot.
fn vm_missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    let on_path = |t: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false)
    };
    let missing: Vec<&str> = [
        "qemu-system-x86_64",
        "busybox",
        "cpio",
        "xz",
        "ipvsadm",
        "apt-get",
        "dpkg",
    ]
    .into_iter()
    .filter(|t| !on_path(t))
    .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!("missing {}", missing.join(", ")))
    }
}

fn run_lvsd(args: &[&str]) -> ExitCode {
    if let Err(e) = lvsd::systemd::init_logging(lvsd::cli::LogFormat::Text, "info") {
        eprintln!("demo: {e:#}");
    }
    let cli = lvsd::cli::Cli::parse_from(args);
    match lvsd::daemon::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lvsd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------------------ in the VM

/// One line per second: which server answered each request (`.` = failed).
fn show(samples: &[lab::Sample], from: Duration, to: Duration) {
    let mut line = String::new();
    let mut sec = from.as_secs();
    for s in samples.iter().filter(|s| s.at >= from && s.at < to) {
        if s.at.as_secs() != sec {
            println!("  t+{sec:>2}s  {line}");
            line.clear();
            sec = s.at.as_secs();
        }
        line.push_str(match s.answer.as_deref() {
            Ok("r1") => "1",
            Ok("r2") => "2",
            Ok("r3") => "3",
            _ => ".",
        });
    }
    if !line.is_empty() {
        println!("  t+{sec:>2}s  {line}");
    }
}

fn balancing() -> ExitCode {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/balancer.conf");
    lab::up();
    let mut backends = lab::Backends::start();
    println!(
        "\nlab: client 10.1.0.10 -> VIP 10.1.0.100:80 (lvsd in namespace lab-d1, NAT rr) -> \
         web servers r1 r2 r3 (10.2.0.11-13)\n"
    );
    let exe = std::env::current_exe().expect("current exe");
    let mut child = match Command::new("ip")
        .args(["netns", "exec", "lab-d1"])
        .arg(exe)
        .env(DIRECTOR_ENV, conf)
        .env_remove(vm::IN_VM_ENV)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: cannot start the director: {e}");
            return ExitCode::FAILURE;
        }
    };
    let vip = lab::addr(lab::VIP_NAT, 80);
    let ready = lab::wait_serving(vip, &["r1", "r2", "r3"], Duration::from_secs(30));
    if let Err(e) = ready {
        eprintln!("demo: the director never served: {e}");
        let _ = child.kill();
        return ExitCode::FAILURE;
    }
    println!("\n==> demo: lvsd is master and serving. The client sends a request every 50 ms;");
    println!("    each digit is the web server that answered, '.' a failed request.\n");
    let load = lab::Load::start(
        vip,
        Duration::from_millis(50),
        10_000,
        Duration::from_secs(1),
    );
    thread::sleep(Duration::from_secs(3));
    let kill = load.t0.elapsed();
    backends.http[1].kill();
    println!(
        "\n==> demo: web server r2 killed at t+{}s\n",
        kill.as_secs()
    );
    thread::sleep(Duration::from_secs(5));
    let restart = load.t0.elapsed();
    backends.restart_http(1);
    println!(
        "\n==> demo: web server r2 started again at t+{}s\n",
        restart.as_secs()
    );
    thread::sleep(Duration::from_secs(4));
    let samples = load.finish();
    println!("\n==> demo: what the client saw\n");
    show(&samples, Duration::ZERO, Duration::from_secs(3600));
    let f = lab::rs_figures(&samples, "r2", kill, restart);
    println!(
        "\n  {} requests, {} failed (sent to r2 before lvsd's check took it out); failures \
         ended {} after the kill; r2 answered again {} after its restart.\n",
        f.requests,
        f.failed,
        lab::opt_ms(f.last_failure),
        lab::opt_ms(f.back)
    );
    say("done: SIGTERM to lvsd (it releases the VIP and its IPVS services)");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(backends);
    lab::down();
    ExitCode::SUCCESS
}

// ------------------------------------------------------------------------ fallback

/// Serves `200 ok` on /health until `stop` is set; the port then refuses connections.
fn serve(stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let l = match TcpListener::bind(BACKEND) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: cannot listen on {BACKEND}: {e}");
            std::process::exit(1);
        }
    };
    let _ = l.set_nonblocking(true);
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                    let mut buf = [0u8; 1024];
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    })
}

/// Health-check-only against a local web server (the same code path as
/// `lvsd --health-check-only -f FILE`).
fn health_check_only() -> ExitCode {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/director.conf");
    thread::spawn(|| {
        say(&format!(
            "web server up on {BACKEND}; lvsd checks it every 2 s"
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let server = serve(stop.clone());
        thread::sleep(Duration::from_secs(5));
        say("stopping the web server: expect DOWN, quorum lost, the sorry server in");
        stop.store(true, Ordering::Relaxed);
        let _ = server.join();
        thread::sleep(Duration::from_secs(8));
        say("starting the web server again: expect UP, quorum gained");
        let stop = Arc::new(AtomicBool::new(false));
        let _server = serve(stop.clone());
        thread::sleep(Duration::from_secs(6));
        say("done: SIGTERM (as systemd would send)");
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGTERM);
        // Keep the server up until the process exits.
        thread::sleep(Duration::from_secs(60));
    });
    // Pid files and the control socket of its own, so a keepalived or lvsd already running on
    // this host (which own /run/keepalived.pid) neither blocks the demo nor is disturbed.
    let run = std::env::temp_dir().join(format!("lvsd-demo-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&run);
    let file = |name: &str| run.join(name).to_string_lossy().into_owned();
    let (pid, checkers, sock) = (file("lvsd.pid"), file("checkers.pid"), file("lvsd.sock"));
    run_lvsd(&[
        "lvsd",
        "--health-check-only",
        "-n",
        "-f",
        conf,
        "-p",
        &pid,
        "-c",
        &checkers,
        "--ctl-socket",
        &sock,
    ])
}
