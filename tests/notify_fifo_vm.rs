//! `lvs_notify_fifo` side by side with keepalived 2.2.7 on a real IPVS kernel (tests/vm): the
//! same keepalived.conf (an address service, a fwmark service and an IPv6 UDP service, each
//! with one TCP-checked real server on loopback) runs first in keepalived, then in lvsd; a
//! reader on the FIFO collects the lines while the backend goes down and comes back. Each
//! virtual server's lines (its `VS …` and its real server's `RS …`) must be keepalived's, in
//! the same order. The checkers of different services run independently in both daemons, so
//! lines of different services may interleave differently.

#[path = "vm/harness.rs"]
mod vm;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("fifo_vm_", 1);
}

const PORT: u16 = 18_080;
const FIFO: &str = "/run/lvsd-test-lvs.fifo";

/// Accepts on [::]:PORT (IPv4 too) until dropped.
struct Backend(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Backend {
    fn start() -> Backend {
        let l = TcpListener::bind(("::", PORT)).expect("bind backend");
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if l.accept().is_err() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        Backend(stop, Some(t))
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn conf() -> String {
    let check = "    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n      delay_before_retry 1\n    }\n";
    format!(
        "global_defs {{\n  lvs_notify_fifo {FIFO}\n}}\n\
         virtual_server 192.0.2.10 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  \
         real_server 127.0.0.1 {PORT} {{\n{check}  }}\n}}\n\
         virtual_server fwmark 7 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  \
         real_server 127.0.0.1 {PORT} {{\n{check}  }}\n}}\n\
         virtual_server fd00::10 443 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n  \
         real_server ::1 {PORT} {{\n{check}  }}\n}}\n"
    )
}

/// Reads the FIFO (re-opening it when its writers close it) until `stop`.
fn reader(out: Arc<Mutex<String>>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut f) = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(FIFO)
            else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

fn wait(what: &str, text: &Mutex<String>, f: impl Fn(&str) -> bool) {
    let t0 = Instant::now();
    while !f(&text.lock().unwrap()) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what}: {}",
            text.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One daemon through up → backend down → backend up → stop; the FIFO's lines.
fn lines_of(cmd: &mut Command, dir: &Path) -> Vec<String> {
    let _ = Command::new("ipvsadm").arg("-C").status();
    let _ = std::fs::remove_file(FIFO);
    let backend = Backend::start();
    let d = Daemon(cmd.spawn().expect("daemon"));
    let text = Arc::new(Mutex::new(String::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let r = reader(text.clone(), stop.clone());
    let count = |w: &'static str| move |t: &str| t.matches(w).count() >= 3;
    wait("3 VS UP", &text, count(" UP\n"));
    std::thread::sleep(Duration::from_millis(1500));
    drop(backend);
    wait("3 VS DOWN", &text, |t| t.matches("VS ").count() >= 6);
    let backend = Backend::start();
    wait("3 VS UP again", &text, |t| t.matches("VS ").count() >= 9);
    std::thread::sleep(Duration::from_millis(500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let mut d = d;
    let _ = d.0.wait();
    drop(backend);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let _ = r.join();
    let _ = dir;
    let t = text.lock().unwrap().clone();
    t.lines().map(str::to_string).collect()
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn fifo_vm_lvs_lines_match_keepalived() {
    let dir = std::env::temp_dir().join(format!("lvsd-fifo-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("keepalived.conf");
    std::fs::write(&c, conf()).unwrap();
    let p = |s: &str| -> PathBuf { dir.join(format!("{s}.pid")) };
    let log = |s: &str| std::fs::File::create(dir.join(s)).unwrap();
    let mut ka = Command::new("keepalived");
    ka.args(["-n", "-l", "-D", "-C", "-f"])
        .arg(&c)
        .arg("-p")
        .arg(p("ka"))
        .arg("-c")
        .arg(p("kc"))
        .stdout(Stdio::null())
        .stderr(log("ka.log"));
    let k = lines_of(&mut ka, &dir);
    let mut lv = Command::new(env!("CARGO_BIN_EXE_lvsd"));
    lv.args(["-n", "-l", "-C", "-f"])
        .arg(&c)
        .arg("-p")
        .arg(p("lv"))
        .arg("-c")
        .arg(p("lc"))
        .arg("--ctl-socket")
        .arg("/run/lvsd-test-ctl.sock")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log("lvsd.log"));
    let l = lines_of(&mut lv, &dir);
    eprintln!("keepalived: {k:#?}\nlvsd: {l:#?}");
    for vs in ["[192.0.2.10]:tcp:80", "FWM 7", "[fd00::10]:udp:443"] {
        let of = |v: &[String]| -> Vec<String> {
            v.iter()
                .filter(|x| x.ends_with(&format!("{vs} UP")) || x.ends_with(&format!("{vs} DOWN")))
                .cloned()
                .collect()
        };
        assert!(
            of(&k).len() >= 5,
            "keepalived wrote too little for {vs}: {k:#?}"
        );
        assert_eq!(
            of(&l),
            of(&k),
            "{vs}\nlvsd log:\n{}",
            std::fs::read_to_string(dir.join("lvsd.log")).unwrap_or_default()
        );
    }
    assert_eq!(l.len(), k.len());
}
