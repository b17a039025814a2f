//! Namespace lab helpers shared by tests/anycast_frr.rs (host) and tests/anycast_vm.rs (the
//! IPVS VM): namespaces, FRR instances driven through vtysh, lvsd processes, TCP listeners,
//! and readers of the router's routes.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const VIP: &str = "198.51.100.10";
pub const TABLE: u32 = 198;
pub const DELAY_LOOP: f64 = 1.0;

pub fn lvsd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lvsd"))
}

pub fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// A network namespace, deleted (with every process left in it) on drop.
pub struct Ns(pub String);

impl Ns {
    pub fn new(name: String) -> Ns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Ns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns.sysctl(&[
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ]);
        ns
    }
    /// Writes sysctls from a thread inside the namespace (no process: cheap in the VM).
    pub fn sysctl(&self, pairs: &[(&str, &str)]) {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (format!("/proc/sys/{}", k.replace('.', "/")), v.to_string()))
            .collect();
        self.spawn_in(move || {
            for (k, v) in pairs {
                std::fs::write(&k, &v).unwrap_or_else(|e| panic!("{k}: {e}"));
            }
        })
        .join()
        .unwrap();
    }
    /// `ip -n NS -batch -`: many `ip` commands (one a line) in one process.
    pub fn batch(&self, cmds: &str) {
        let mut c = Command::new("ip")
            .args(["-n", &self.0, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ip -batch");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(cmds.as_bytes())
            .expect("write batch");
        let o = c.wait_with_output().expect("ip -batch");
        assert!(
            o.status.success(),
            "ip -n {} -batch failed: {}\n{cmds}",
            self.0,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    pub fn sh(&self, script: &str) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.0, "sh", "-ec", script]))
    }
    pub fn out(&self, script: &str) -> String {
        String::from_utf8_lossy(&self.sh(script).stdout).into_owned()
    }
    /// Runs `f` on a thread inside the namespace.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("netns file");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        if let Ok(o) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// One FRR instance (zebra, bgpd, bfdd) in a namespace, configured through vtysh.
pub struct Frr {
    dir: PathBuf,
}

impl Frr {
    pub fn start(ns: &Ns, dir: &Path, config: &str) -> Frr {
        Frr::start_with(ns, dir, config, &["zebra", "bfdd", "bgpd"])
    }
    /// As [`Frr::start`] with a chosen set of daemons (zebra first).
    pub fn start_with(ns: &Ns, dir: &Path, config: &str, daemons: &[&str]) -> Frr {
        assert!(
            Path::new("/usr/lib/frr/zebra").exists(),
            "FRR is not installed (Debian package frr; .ci/run installs it)"
        );
        let run_dir = dir.join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        run(Command::new("chown").args(["-R", "frr:frr"]).arg(dir));
        let empty = dir.join("empty.conf");
        std::fs::write(&empty, "").unwrap();
        let sock = run_dir.to_str().unwrap().to_string();
        for d in daemons {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.0])
                .arg(format!("/usr/lib/frr/{d}"))
                .args(["-N", &ns.0, "-P", "0", "--vty_socket", &sock])
                .args(["-z", &format!("{sock}/zserv.api")])
                .arg("-f")
                .arg(&empty)
                .args(["-i", &format!("{sock}/{d}.pid"), "-d"]);
            run(&mut c);
            let vty = run_dir.join(format!("{d}.vty"));
            let t = Instant::now();
            while !vty.exists() {
                assert!(t.elapsed() < Duration::from_secs(10), "{d} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let conf = dir.join("frr.conf");
        std::fs::write(&conf, config).unwrap();
        let frr = Frr {
            dir: dir.to_path_buf(),
        };
        let o = Command::new("vtysh")
            .args(["--vty_socket", &sock, "-f"])
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "vtysh -f {}: {}{}",
            conf.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        frr
    }
    pub fn vtysh(&self, cmd: &str) -> String {
        let o = Command::new("vtysh")
            .args([
                "--vty_socket",
                self.dir.join("run").to_str().unwrap(),
                "-c",
                cmd,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for d in ["bgpd", "bfdd", "zebra"] {
            if let Ok(p) = std::fs::read_to_string(self.dir.join(format!("run/{d}.pid"))) {
                let _ = Command::new("kill").arg(p.trim()).output();
            }
        }
    }
}

/// A TCP listener in a namespace that writes `tag\n` to each connection and keeps it open
/// until the peer closes (so long-lived connections can be held), until dropped.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    pub fn start(ns: &Ns, addr: &str, tag: &str) -> Listener {
        let addr: SocketAddr = addr.parse().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, tag) = (stop.clone(), tag.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn_in(move || {
            let l = TcpListener::bind(addr).expect("bind listener");
            l.set_nonblocking(true).unwrap();
            let _ = ready_tx.send(());
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.write_all(format!("{tag}\n").as_bytes());
                        let stop = s.clone();
                        std::thread::spawn(move || {
                            // Echo until EOF or stop: a long-lived connection.
                            let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                            let mut buf = [0u8; 256];
                            while !stop.load(Ordering::Relaxed) {
                                match c.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => {
                                        let _ = c.write_all(&buf[..n]);
                                    }
                                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                                    Err(_) => break,
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("listener ready");
        Listener {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Lvsd {
    ns: String,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Lvsd {
    pub fn start(ns: &Ns, dir: &Path, conf: &str) -> Lvsd {
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).unwrap();
        let mut l = Lvsd {
            ns: ns.0.clone(),
            conf: path,
            log: dir.join("lvsd.log"),
            child: None,
        };
        l.restart();
        l
    }
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(lvsd_binary())
            .args(["-n", "-l", "-f"])
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start lvsd");
        self.child = Some(child);
    }
    pub fn signal(&mut self, sig: &str) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .output();
            let _ = c.wait();
        }
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        self.signal("-KILL");
    }
}

/// The router's kernel next hops for the VIP (`ip -j route show VIP`).
pub fn fib_nexthops(r: &Ns) -> Vec<String> {
    let o = Command::new("ip")
        .args(["-n", &r.0, "-j", "route", "show", &format!("{VIP}/32")])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let mut out = Vec::new();
    for route in v.as_array().into_iter().flatten() {
        if let Some(g) = route["gateway"].as_str() {
            out.push(g.to_string());
        }
        // Older iproute2 lists `multipath`, newer (nexthop objects) `nexthops`.
        let multi = [&route["multipath"], &route["nexthops"]];
        for nh in multi.iter().filter_map(|m| m.as_array()).flatten() {
            if let Some(g) = nh["gateway"].as_str() {
                out.push(g.to_string());
            }
        }
    }
    out.sort();
    out
}

/// The router's installed BGP next hops for the VIP, from `show ip route json`.
pub fn frr_nexthops(frr: &Frr) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&frr.vtysh("show ip route json")).unwrap_or_default();
    let mut out = Vec::new();
    for route in v[format!("{VIP}/32")].as_array().into_iter().flatten() {
        if route["protocol"] != "bgp" || route["installed"] != true {
            continue;
        }
        for nh in route["nexthops"].as_array().into_iter().flatten() {
            if nh["fib"] == true
                && let Some(ip) = nh["ip"].as_str()
            {
                out.push(ip.to_string());
            }
        }
    }
    out.sort();
    out
}

/// Polls every 10 ms until the router's FIB holds exactly `want`; the time it took.
pub fn wait_fib(r: &Ns, want: &[&str], limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if fib_nexthops(r) == want {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The FIB kept exactly `want` for all of `d` (polled every 10 ms).
pub fn fib_stays(r: &Ns, want: &[&str], d: Duration) -> Result<(), Vec<String>> {
    let t = Instant::now();
    while t.elapsed() < d {
        let now = fib_nexthops(r);
        if now != want {
            return Err(now);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

pub fn table_routes(d: &Ns) -> String {
    d.out(&format!("ip route show table {TABLE} proto 245"))
}

/// A file of examples/anycast/, used verbatim: the lab runs the documented deployment.
pub fn example(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/anycast")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
