//! `lvs_notify_fifo` with its `lvs_notify_fifo_script`, run by lvsd in `--health-check-only`
//! mode on loopback (this host's kernel has no IPVS; the checkers and their events do not need
//! it): the script is started with the FIFO's name as its last parameter and reads the FIFO;
//! what it reads is keepalived's `RS …` / `VS …` lines, in order, as a real server goes down
//! and comes back. A world-writable FIFO script under `enable_script_security` is never run,
//! while its FIFO still receives the lines.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// Accepts TCP connections until dropped (then the port refuses them).
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
                if l.accept().is_err() {
                    thread::sleep(Duration::from_millis(10));
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
    fn start(conf: &Path, dir: &Path) -> Lvsd {
        let log = dir.join("lvsd.log");
        let child = Command::new(LVSD)
            .args(["--health-check-only", "-n", "-l", "-f"])
            .arg(conf)
            .arg("--ctl-socket")
            .arg(dir.join("ctl.sock"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start lvsd");
        Lvsd { child, log }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
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

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsd-fifo-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A FIFO script that copies what it reads from its last parameter to `out`.
fn reader_script(dir: &Path, out: &Path, mode: u32) -> PathBuf {
    let script = dir.join("reader.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"args: $*\" >> {out}\nwhile read -r l; do echo \"$l\" >> {out}; done < \"$2\"\n",
            out = out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(mode)).unwrap();
    script
}

fn conf(global: &str, port: u16) -> String {
    format!(
        "global_defs {{\n{global}}}\nvirtual_server 192.0.2.10 80 {{\n  delay_loop 1\n  lb_algo rr\n  \
         lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 {port} {{\n    TCP_CHECK {{\n      \
         connect_timeout 1\n      retry 0\n      delay_before_retry 1\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn fifo_script_reads_rs_and_vs_lines() {
    let dir = tmpdir("lvs");
    let (backend, addr) = Backend::start("127.0.0.1:0".parse().unwrap());
    let out = dir.join("read");
    let script = reader_script(&dir, &out, 0o755);
    let fifo = dir.join("lvs.fifo");
    let c = dir.join("keepalived.conf");
    let global = format!(
        "  lvs_notify_fifo {}\n  lvs_notify_fifo_script \"{} first\"\n",
        fifo.display(),
        script.display()
    );
    std::fs::write(&c, conf(&global, addr.port())).unwrap();
    let mut lvsd = Lvsd::start(&c, &dir);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let rs = format!("RS [127.0.0.1]:tcp:{} [192.0.2.10]:tcp:80", addr.port());
    wait_until("the script", Duration::from_secs(10), &lvsd, || {
        read().contains("args:")
    });
    drop(backend);
    wait_until("RS DOWN", Duration::from_secs(8), &lvsd, || {
        read().contains("VS [192.0.2.10]:tcp:80 DOWN")
    });
    let (_backend, _) = Backend::start(addr);
    wait_until("RS UP", Duration::from_secs(8), &lvsd, || {
        read().matches("VS [192.0.2.10]:tcp:80 UP").count() == 2
    });
    lvsd.stop();
    let text = read();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("args: first {}", fifo.display()).as_str(),
            // keepalived announces every virtual server as it starts.
            "VS [192.0.2.10]:tcp:80 UP",
            &format!("{rs} DOWN"),
            "VS [192.0.2.10]:tcp:80 DOWN",
            &format!("{rs} UP"),
            "VS [192.0.2.10]:tcp:80 UP",
        ],
        "{}",
        lvsd.log()
    );
    assert!(!fifo.exists(), "the FIFO lvsd created is still there");
}

#[test]
fn unsafe_fifo_script_is_not_run_but_the_fifo_is_written() {
    let dir = tmpdir("unsafe");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (backend, addr) = Backend::start("127.0.0.1:0".parse().unwrap());
    let out = dir.join("read");
    // World-writable: keepalived's enable_script_security refuses it.
    let script = reader_script(&dir, &out, 0o777);
    let fifo = dir.join("lvs.fifo");
    let c = dir.join("keepalived.conf");
    let global = format!(
        "  enable_script_security\n  script_user root\n  lvs_notify_fifo {}\n  lvs_notify_fifo_script {}\n",
        fifo.display(),
        script.display()
    );
    std::fs::write(&c, conf(&global, addr.port())).unwrap();
    let mut lvsd = Lvsd::start(&c, &dir);
    wait_until("the FIFO", Duration::from_secs(10), &lvsd, || fifo.exists());
    // Our own reader on the FIFO: the RS DOWN line arrives there.
    let f = std::fs::OpenOptions::new().read(true).open(&fifo).unwrap();
    drop(backend);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(8));
    let second = rx.recv_timeout(Duration::from_secs(8));
    lvsd.stop();
    assert_eq!(
        (first.ok(), second.ok()),
        (
            Some("VS [192.0.2.10]:tcp:80 UP".to_string()),
            Some(format!(
                "RS [127.0.0.1]:tcp:{} [192.0.2.10]:tcp:80 DOWN",
                addr.port()
            ))
        ),
        "{}",
        lvsd.log()
    );
    assert!(!out.exists(), "the unsafe FIFO script ran");
    assert!(lvsd.log().contains("unsafe"), "{}", lvsd.log());
}

/// `rs_init_notifies`: a real server that is up from the start is announced once (its
/// notify_up script runs, the FIFO gets `RS … UP`) although it never changed state; without
/// the keyword nothing is written at start-up (the first test's exact line list).
#[test]
fn rs_init_notifies_announces_the_start_up_state() {
    let dir = tmpdir("init");
    let (_backend, addr) = Backend::start("127.0.0.1:0".parse().unwrap());
    let out = dir.join("read");
    let script = reader_script(&dir, &out, 0o755);
    let fifo = dir.join("lvs.fifo");
    let up = dir.join("up");
    let c = dir.join("keepalived.conf");
    let global = format!(
        "  rs_init_notifies\n  lvs_notify_fifo {}\n  lvs_notify_fifo_script \"{} x\"\n",
        fifo.display(),
        script.display()
    );
    let text = conf(&global, addr.port()).replace(
        "    TCP_CHECK {",
        &format!(
            "    notify_up \"/bin/sh -c 'echo up >> {}'\"\n    TCP_CHECK {{",
            up.display()
        ),
    );
    std::fs::write(&c, text).unwrap();
    let mut lvsd = Lvsd::start(&c, &dir);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let rs = format!("RS [127.0.0.1]:tcp:{} [192.0.2.10]:tcp:80 UP", addr.port());
    wait_until("RS UP", Duration::from_secs(8), &lvsd, || {
        read().contains(&rs)
    });
    wait_until("notify_up", Duration::from_secs(5), &lvsd, || up.exists());
    // Once: further passing checks announce nothing.
    thread::sleep(Duration::from_millis(2500));
    lvsd.stop();
    assert_eq!(read().matches(&rs).count(), 1, "{}", read());
    assert_eq!(std::fs::read_to_string(&up).unwrap(), "up\n");
}
