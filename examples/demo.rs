//! See lvsd work in 20 seconds, on any Linux machine (no IPVS, no root needed):
//!
//! ```sh
//! cargo run --example demo
//! ```
//!
//! Starts a small web server on 127.0.0.1:18080, runs lvsd in health-check-only mode on
//! `examples/demo/director.conf` (the same code path as `lvsd --health-check-only -f FILE`),
//! stops the web server, starts it again, then stops lvsd with SIGTERM. Watch the log: the
//! HTTP_GET checker's verdicts, quorum lost / gained, and the IPVS commands a director would
//! run (health-check-only applies none of them).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use clap::Parser;

const BACKEND: &str = "127.0.0.1:18080";

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

fn say(msg: &str) {
    eprintln!("\n==> demo: {msg}\n");
}

fn main() -> ExitCode {
    if let Err(e) = lvsd::systemd::init_logging(lvsd::cli::LogFormat::Text, "info") {
        eprintln!("demo: {e:#}");
    }
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

    let cli = lvsd::cli::Cli::parse_from(["lvsd", "--health-check-only", "-n", "-f", conf]);
    match lvsd::daemon::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lvsd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
