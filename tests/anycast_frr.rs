//! Health-gated anycast through FRR on host network namespaces (docs/anycast.md).
//!
//! ```text
//!   client 10.90.0.10 ── r (zebra+bgpd+bfdd, AS 65000, maximum-paths, L4 hash) ──┬── d1 10.90.1.2
//!                                                                              └── d2 10.90.2.2
//!   d1, d2: lvsd (announce_route, table 198) + zebra (ip import-table 198) + bgpd
//!           (redistribute table 198) + bfdd; real servers 127.0.1.1/2:8080 in each director;
//!           the VIP 198.51.100.10 on lo with a listener on :80 naming the director.
//! ```
//!
//! The host has no IPVS: lvsd runs in full mode, its checkers and route writer work without
//! it; the client's connections are answered by a listener on the VIP in each director.
//! Traffic through IPVS (mh) is the VM test's part. Measured times are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const VIP: &str = "198.51.100.10";
const TABLE: u32 = 198;
const DELAY_LOOP: f64 = 1.0;

fn lvsd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lvsd"))
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// A network namespace, deleted (with every process left in it) on drop.
struct Ns(String);

impl Ns {
    fn new(name: String) -> Ns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Ns(name);
        ns.sh("ip link set lo up; sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0");
        ns
    }
    fn sh(&self, script: &str) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.0, "sh", "-ec", script]))
    }
    fn out(&self, script: &str) -> String {
        String::from_utf8_lossy(&self.sh(script).stdout).into_owned()
    }
    /// Runs `f` on a thread inside the namespace.
    fn spawn_in<T: Send + 'static>(
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
struct Frr {
    dir: PathBuf,
}

impl Frr {
    fn start(ns: &Ns, dir: &Path, config: &str) -> Frr {
        let run_dir = dir.join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        run(Command::new("chown").args(["-R", "frr:frr"]).arg(dir));
        let empty = dir.join("empty.conf");
        std::fs::write(&empty, "").unwrap();
        let sock = run_dir.to_str().unwrap().to_string();
        for d in ["zebra", "bfdd", "bgpd"] {
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
    fn vtysh(&self, cmd: &str) -> String {
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
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start(ns: &Ns, addr: &str, tag: &str) -> Listener {
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

struct Lvsd {
    ns: String,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Lvsd {
    fn start(ns: &Ns, dir: &Path, conf: &str) -> Lvsd {
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
    fn restart(&mut self) {
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
    fn signal(&mut self, sig: &str) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .output();
            let _ = c.wait();
        }
    }
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        self.signal("-KILL");
    }
}

/// The router's kernel next hops for the VIP (`ip -j route show VIP`).
fn fib_nexthops(r: &Ns) -> Vec<String> {
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
fn frr_nexthops(frr: &Frr) -> Vec<String> {
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
fn wait_fib(r: &Ns, want: &[&str], limit: Duration) -> Option<Duration> {
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
fn fib_stays(r: &Ns, want: &[&str], d: Duration) -> Result<(), Vec<String>> {
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

fn table_routes(d: &Ns) -> String {
    d.out(&format!("ip route show table {TABLE} proto 245"))
}

/// A file of examples/anycast/, used verbatim: the lab runs the documented deployment.
fn example(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/anycast")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn director_lvsd() -> String {
    format!(
        "global_defs {{\n    anycast_table {TABLE}\n    anycast_protocol 245\n}}\n\
         virtual_server {VIP} 80 {{\n    protocol TCP\n    delay_loop {DELAY_LOOP}\n    lvs_sched mh\n\
         \x20   announce_route\n\
         \x20   real_server 127.0.1.1 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
         \x20   real_server 127.0.1.2 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    )
}

/// The director names the client's connections landed on, one connection per source port.
fn spread(c: &Ns, n: usize) -> Vec<String> {
    c.spawn_in(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
            let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                seen.push("refused".to_string());
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let _ = BufReader::new(s).read_line(&mut line);
            seen.push(line.trim().to_string());
        }
        seen
    })
    .join()
    .unwrap()
}

struct Lab {
    r: Ns,
    c: Ns,
    d: [Ns; 2],
    dir: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let tag = std::process::id() % 100_000;
        let dir = std::env::temp_dir().join(format!("lvsd-anycast-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mk = |n: &str| Ns::new(format!("ac{tag}-{n}"));
        let lab = Lab {
            r: mk("r"),
            c: mk("c"),
            d: [mk("d1"), mk("d2")],
            dir,
        };
        lab.r
            .sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1");
        // Links created in the router's namespace, the far end moved to its node.
        let link = |far: &Ns, rname: &str, raddr: &str, faddr: &str, gw: &str| {
            lab.r.sh(&format!(
                "ip link add {rname} type veth peer name eth0 netns {far}\n\
                 ip addr add {raddr} dev {rname}\nip link set {rname} up",
                far = far.0
            ));
            far.sh(&format!(
                "ip addr add {faddr} dev eth0\nip link set eth0 up\nip route add default via {gw}"
            ));
        };
        link(&lab.c, "r-c", "10.90.0.1/24", "10.90.0.10/24", "10.90.0.1");
        link(
            &lab.d[0],
            "r-d1",
            "10.90.1.1/24",
            "10.90.1.2/24",
            "10.90.1.1",
        );
        link(
            &lab.d[1],
            "r-d2",
            "10.90.2.1/24",
            "10.90.2.2/24",
            "10.90.2.1",
        );
        lab
    }
}

const D1: &str = "10.90.1.2";
const D2: &str = "10.90.2.2";

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[test]
fn anycast_routes_follow_health_through_frr() {
    let lab = Lab::new();
    let (r, c) = (&lab.r, &lab.c);
    let frr_r = Frr::start(r, &lab.dir.join("r"), &example("router/frr.conf"));
    let mut frr_d = Vec::new();
    let mut lvsd = Vec::new();
    let mut real: Vec<Vec<Listener>> = Vec::new();
    let mut vip_listeners = Vec::new();
    for (i, d) in lab.d.iter().enumerate() {
        let name = format!("d{}", i + 1);
        let dir = lab.dir.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        d.sh(&format!("ip route add local {VIP}/32 dev lo table local\nip addr add 127.0.1.1/8 dev lo\nip addr add 127.0.1.2/8 dev lo"));
        frr_d.push(Frr::start(
            d,
            &dir,
            &example(&format!("director{}/frr.conf", i + 1)),
        ));
        real.push(vec![
            Listener::start(d, "127.0.1.1:8080", &format!("{name}-rs1")),
            Listener::start(d, "127.0.1.2:8080", &format!("{name}-rs2")),
        ]);
        vip_listeners.push(Listener::start(d, &format!("{VIP}:80"), &name));
        lvsd.push(Lvsd::start(d, &dir, &director_lvsd()));
    }
    let both = [D1, D2];
    let t = wait_fib(r, &both, Duration::from_secs(30));
    if t.is_none() && std::env::var_os("ANYCAST_HOLD").is_some() {
        eprintln!("holding the lab: {}", lab.dir.display());
        std::thread::sleep(Duration::from_secs(300));
    }
    assert!(
        t.is_some(),
        "router never learnt both paths: fib {:?}\n{}\nd1 table: {}\nd1 bgp: {}\nlvsd d1: {}",
        fib_nexthops(r),
        frr_r.vtysh("show bgp summary"),
        table_routes(&lab.d[0]),
        frr_d[0].vtysh("show bgp ipv4 unicast neighbors 10.90.1.1 advertised-routes")
            + &frr_r.vtysh("show bgp ipv4 unicast neighbors 10.90.1.2")
            + &frr_r.vtysh("show running-config"),
        lvsd[0].log_text()
    );
    println!("both paths after start: {}", secs(t.unwrap()));
    assert_eq!(frr_nexthops(&frr_r), both, "vtysh show ip route json");

    // New connections from one client are spread over both directors (L4 hash).
    let seen = spread(c, 40);
    let n1 = seen.iter().filter(|s| *s == "d1").count();
    let n2 = seen.iter().filter(|s| *s == "d2").count();
    println!("40 new connections: d1 {n1}, d2 {n2}");
    assert!(n1 >= 5 && n2 >= 5 && n1 + n2 == 40, "spread: {seen:?}");

    // All real servers behind d1 fail: its path goes within a check interval + BGP.
    real[0].clear();
    let took = wait_fib(r, &[D2], Duration::from_secs(10)).expect("d1 path not withdrawn");
    println!(
        "real servers down -> withdrawn after {} (delay_loop {DELAY_LOOP} s)",
        secs(took)
    );
    assert!(took.as_secs_f64() < DELAY_LOOP + 1.5 + 1.0, "took {took:?}");
    assert!(table_routes(&lab.d[0]).trim().is_empty());
    // They recover: it returns.
    real[0] = vec![
        Listener::start(&lab.d[0], "127.0.1.1:8080", "d1-rs1"),
        Listener::start(&lab.d[0], "127.0.1.2:8080", "d1-rs2"),
    ];
    let took = wait_fib(r, &both, Duration::from_secs(10)).expect("d1 path not back");
    println!("real servers up -> announced after {}", secs(took));
    assert!(took.as_secs_f64() < DELAY_LOOP + 1.5 + 1.0, "took {took:?}");

    // lvsd stopped (SIGTERM): withdrawn at once.
    let t0 = Instant::now();
    lvsd[0].signal("-TERM");
    let stopped = t0.elapsed();
    let took = wait_fib(r, &[D2], Duration::from_secs(5)).expect("not withdrawn on stop");
    println!(
        "lvsd SIGTERM -> withdrawn after {} (lvsd exited after {})",
        secs(t0.elapsed()),
        secs(stopped)
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "took {took:?}");
    lvsd[0].restart();
    let took = wait_fib(r, &both, Duration::from_secs(10)).expect("not back after restart");
    println!("lvsd start -> announced after {}", secs(took));

    // SIGKILL: the route stays (nothing can withdraw it) ...
    lvsd[0].signal("-KILL");
    let before = table_routes(&lab.d[0]);
    assert!(before.contains(VIP), "route gone after SIGKILL: {before:?}");
    if let Err(now) = fib_stays(r, &both, Duration::from_secs(2)) {
        panic!("path changed after SIGKILL: {now:?}");
    }
    // ... and the restart reconciles without a flap: the route is never withdrawn.
    let log_len = lvsd[0].log_text().len();
    lvsd[0].restart();
    if let Err(now) = fib_stays(r, &both, Duration::from_secs(3)) {
        panic!("restart after SIGKILL flapped the path: {now:?}");
    }
    let after = lvsd[0].log_text()[log_len..].to_string();
    assert!(
        !after.contains("anycast: withdrawing") && !after.contains("anycast: announcing"),
        "restart rewrote the route: {after}"
    );
    assert_eq!(table_routes(&lab.d[0]), before);
    println!("lvsd SIGKILL + restart: path kept for 5 s, no route written");

    // d2's link fails silently (no carrier change: a dead switch): BFD withdraws it.
    let t0 = Instant::now();
    lab.d[1].sh("nft add table inet cut\n\
                 nft 'add chain inet cut in { type filter hook input priority -300; policy drop; }'\n\
                 nft 'add chain inet cut out { type filter hook output priority -300; policy drop; }'\n\
                 nft add rule inet cut in iifname lo accept\nnft add rule inet cut out oifname lo accept");
    let took = wait_fib(r, &[D1], Duration::from_secs(5)).expect("BFD did not withdraw d2");
    println!(
        "d2 link cut -> withdrawn after {} (BFD 3 x 100 ms)",
        secs(t0.elapsed())
    );
    assert!(
        took < Duration::from_secs(1),
        "BFD withdrawal took {took:?}"
    );
    drop(vip_listeners);
}
