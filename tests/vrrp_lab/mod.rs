//! A VRRP LAN of network namespaces (netlab.md recipe) for the interop tests and the failover
//! benchmark: a switch namespace with a bridge (STP off, multicast snooping off) and nodes
//! `n1`, `n2` (directors) and `n10` (client), each with `eth0` = 10.77.0.N/24, fd00:77::N/64,
//! MAC 02:77:00:00:00:NN, DAD off. No interface is ever created in the root namespace.
//!
//! Namespace names carry a per-test tag and the process id, so tests run in parallel.
//! Dropping the [`Lab`] kills every process left in its namespaces and deletes them.
#![allow(dead_code)]

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

pub const CLIENT: u8 = 10;

fn sh(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn must(cmd: &mut Command) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "the VRRP lab needs `{name}` (apt-get install keepalived iproute2 busybox-static)"
    );
}

/// Where lvsd serves `/status` inside each node's namespace (every namespace has its own
/// loopback, so all nodes use the same address).
pub const API_ADDR: &str = "127.0.0.1:9165";

/// The command line that runs lvsd's VRRP in `ns` with a keepalived.conf: the real daemon,
/// `ip netns exec NS lvsd -n -l -P -f CONF --metrics-listen 127.0.0.1:9165` (`-l`: the log on stderr); `full` drops `-P`
/// (VRRP beside the director).
pub fn lvsd_command(ns: &str, conf: &Path, full: bool) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(lvsd_binary())
        .args(["-n", "-l"]);
    if !full {
        c.arg("-P");
    }
    c.arg("-f").arg(conf).args(["--metrics-listen", API_ADDR]);
    c
}

/// The lvsd binary: cargo's for integration tests; beside the examples directory when this
/// module is compiled into an example (the benchmark), built there on first use.
pub fn lvsd_binary() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_lvsd") {
        return PathBuf::from(p);
    }
    let profile_dir = profile_dir();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    static BUILD: Once = Once::new();
    BUILD.call_once(|| cargo_build(&["--bin", "lvsd"], release));
    profile_dir.join("lvsd")
}

/// target/<profile>, from target/<profile>/{deps,examples}/<exe>.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn cargo_build(what: &[&str], release: bool) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet"])
        .args(what)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if release {
        cmd.arg("--release");
    }
    must(&mut cmd);
}

/// The `vrrp-node` example (built on first use), for the one thing keepalived.conf cannot
/// say: normal (not realtime) scheduling of the VRRP thread, which the benchmark compares.
/// `$LVSD_VRRP_NODE` overrides the path.
pub fn vrrp_node_program() -> PathBuf {
    if let Some(p) = std::env::var_os("LVSD_VRRP_NODE") {
        return PathBuf::from(p);
    }
    let profile_dir = profile_dir();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    static BUILD: Once = Once::new();
    BUILD.call_once(|| cargo_build(&["--example", "vrrp-node"], release));
    profile_dir.join("examples").join("vrrp-node")
}

/// One vrrp_instance, rendered both as keepalived.conf and as lvsd's configuration.
#[derive(Debug, Clone)]
pub struct Spec {
    pub vrid: u8,
    pub version: u8,
    pub priority: u8,
    pub advert_int: f64,
    /// "10.77.0.100/24", "fe80::100/64", ...
    pub vips: Vec<String>,
    pub auth_pass: Option<String>,
    /// `auth_type AH` instead of PASS (with `auth_pass`).
    pub auth_ah: bool,
    pub nopreempt: bool,
    pub state_master: bool,
    /// (name, command, weight, interval s)
    pub scripts: Vec<(String, String, i32, f64)>,
    pub notify: Option<String>,
    /// Realtime scheduling for the VRRP thread (lvsd `realtime_priority` + `socket_priority`,
    /// keepalived `vrrp_rt_priority`).
    pub rt: bool,
    /// `unicast_src_ip` and `unicast_peer` instead of multicast.
    pub unicast: Option<(String, String)>,
    /// `mcast_dst_ip`.
    pub mcast_dst: Option<String>,
}

impl Spec {
    pub fn v4(version: u8, priority: u8, advert_int: f64) -> Spec {
        Spec {
            vrid: 51,
            version,
            priority,
            advert_int,
            vips: vec!["10.77.0.100/24".into()],
            auth_pass: None,
            auth_ah: false,
            nopreempt: false,
            state_master: false,
            scripts: vec![],
            notify: None,
            rt: false,
            unicast: None,
            mcast_dst: None,
        }
    }

    pub fn v6(priority: u8, advert_int: f64) -> Spec {
        Spec {
            vrid: 61,
            vips: vec!["fe80::100/64".into(), "fd00:77::100/64".into()],
            ..Spec::v4(3, priority, advert_int)
        }
    }

    pub fn vip_addrs(&self) -> Vec<String> {
        self.vips
            .iter()
            .map(|v| v.split('/').next().unwrap_or(v).to_string())
            .collect()
    }

    pub fn keepalived_conf(&self) -> String {
        let mut s = String::from(
            "global_defs {\n  router_id lab\n  vrrp_garp_master_delay 5\n  vrrp_garp_master_repeat 5\n",
        );
        if self.rt {
            s += "  vrrp_rt_priority 10\n";
        }
        s += "}\n";
        for (name, cmd, weight, interval) in &self.scripts {
            s += &format!(
                "vrrp_script {name} {{\n  script \"{cmd}\"\n  interval {}\n  weight {weight}\n}}\n",
                interval.ceil().max(1.0)
            );
        }
        s += "vrrp_instance VI_1 {\n  interface eth0\n";
        s += &format!(
            "  state {}\n",
            if self.state_master {
                "MASTER"
            } else {
                "BACKUP"
            }
        );
        s += &format!(
            "  virtual_router_id {}\n  priority {}\n  advert_int {}\n  version {}\n",
            self.vrid, self.priority, self.advert_int, self.version
        );
        if self.nopreempt {
            s += "  nopreempt\n";
        }
        if let Some(p) = &self.auth_pass {
            let t = if self.auth_ah { "AH" } else { "PASS" };
            s += &format!("  authentication {{\n    auth_type {t}\n    auth_pass {p}\n  }}\n");
        }
        if let Some(g) = &self.mcast_dst {
            s += &format!("  mcast_dst_ip {g}\n");
        }
        if let Some(n) = &self.notify {
            s += &format!("  notify \"{n}\"\n");
        }
        if let Some((src, peer)) = &self.unicast {
            s += &format!("  unicast_src_ip {src}\n  unicast_peer {{\n    {peer}\n  }}\n");
        }
        s += "  virtual_ipaddress {\n";
        for v in &self.vips {
            s += &format!("    {v}\n");
        }
        s += "  }\n";
        if !self.scripts.is_empty() {
            s += "  track_script {\n";
            for (name, ..) in &self.scripts {
                s += &format!("    {name}\n");
            }
            s += "  }\n";
        }
        s += "}\n";
        s
    }

    pub fn lvsd_conf(&self) -> serde_json::Value {
        let vips: Vec<serde_json::Value> = self
            .vips
            .iter()
            .map(|v| {
                let (a, p) = v
                    .split_once('/')
                    .unwrap_or((v, if v.contains(':') { "128" } else { "32" }));
                serde_json::json!({"addr": a, "prefix": p.parse::<u8>().unwrap_or(32)})
            })
            .collect();
        let scripts: Vec<serde_json::Value> = self
            .scripts
            .iter()
            .map(|(n, c, w, i)| serde_json::json!({"name": n, "script": c, "weight": w, "interval": i, "timeout": 1.0}))
            .collect();
        let tracks: Vec<serde_json::Value> = self
            .scripts
            .iter()
            .map(|(n, ..)| serde_json::json!({"name": n}))
            .collect();
        serde_json::json!({
            "instances": [{
                "name": "VI_1",
                "interface": "eth0",
                "vrid": self.vrid,
                "version": self.version,
                "initial_master": self.state_master,
                "priority": self.priority,
                "advert_int": self.advert_int,
                "preempt": !self.nopreempt,
                "auth_type": match (&self.auth_pass, self.auth_ah) {
                    (None, _) => "None",
                    (Some(_), false) => "Pass",
                    (Some(_), true) => "Ah",
                },
                "auth_pass": self.auth_pass.clone().unwrap_or_default(),
                "vips": vips,
                "track_scripts": tracks,
                "notify": {"any": self.notify},
                "unicast_src_ip": self.unicast.as_ref().map(|u| u.0.clone()),
                "unicast_peers": self.unicast.as_ref().map(|u| vec![u.1.clone()]).unwrap_or_default(),
            }],
            "scripts": scripts,
            "realtime_priority": if self.rt { Some(10) } else { None },
            "socket_priority": if self.rt { Some(6) } else { None },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lvsd,
    Keepalived,
}

/// Where a daemon's status snapshot comes from.
enum Status {
    /// keepalived: none.
    None,
    /// The `vrrp-node` example mirrors it into this file.
    File(PathBuf),
    /// lvsd serves `/status` on [`API_ADDR`] in the namespace at this path.
    Api(String),
}

impl Status {
    fn read(&self) -> String {
        self.get("/status")
    }

    /// The body of `GET path` on lvsd's API (empty for keepalived or on error).
    fn get(&self, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        match self {
            Status::None => String::new(),
            Status::File(f) => fs::read_to_string(f).unwrap_or_default(),
            Status::Api(ns) => {
                let ns = ns.clone();
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let fd = fs::File::open(&ns).ok()?;
                    nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                    let addr = API_ADDR.parse().ok()?;
                    let mut s =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    s.write_all(request.as_bytes()).ok()?;
                    let mut body = String::new();
                    s.read_to_string(&mut body).ok()?;
                    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
                })
                .join()
                .ok()
                .flatten()
                .unwrap_or_default()
            }
        }
    }
}

/// A VRRP daemon running in a node.
pub struct Daemon {
    pub kind: Kind,
    pub node: u8,
    child: Option<Child>,
    pub log: PathBuf,
    status: Status,
    /// The last snapshot read, answered once the daemon has exited.
    last_status: Mutex<String>,
    /// keepalived's VRRP child pid file.
    vrrp_pid: PathBuf,
    /// The configuration file it was started with.
    pub conf: PathBuf,
}

impl Daemon {
    fn pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.child.iter().map(|c| c.id() as i32).collect();
        if let Ok(s) = fs::read_to_string(&self.vrrp_pid)
            && let Ok(p) = s.trim().parse()
        {
            v.push(p);
        }
        v
    }

    /// The process id of the daemon (lvsd; keepalived's parent).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// SIGKILL every process of the daemon (keepalived: parent and VRRP child), like a crash.
    pub fn kill9(&mut self) {
        for p in self.pids().into_iter().rev() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        let _ = fs::remove_file(&self.vrrp_pid);
    }

    /// SIGTERM (graceful: priority 0). The status just before stays readable.
    pub fn term(&mut self) {
        let _ = self.instance_status();
        if let Some(c) = &self.child {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    /// SIGHUP (reload).
    pub fn hup(&self) {
        if let Some(c) = &self.child {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
    }

    /// Waits for the process to exit after [`term`](Self::term).
    pub fn wait(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines that report an invalid or rejected packet.
    pub fn invalid_packet_lines(&self) -> Vec<String> {
        const WORDS: [&str; 10] = [
            // keepalived's AH errors ("IPSEC-AH : sequence number … already processed").
            "ipsec-ah",
            "invalid",
            "bogus",
            "mismatch",
            "not present",
            "wrong",
            "checksum",
            "ttl",
            "unknown",
            "authentication",
        ];
        self.log_text()
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                WORDS.iter().any(|w| l.contains(w)) && !l.contains("command line")
            })
            .map(str::to_string)
            .collect()
    }

    /// The whole lvsd `/status` snapshot (null when it cannot be read).
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.status.read()).unwrap_or_default()
    }

    /// `NAME=STATE` of every VRRP instance in lvsd's `/status`.
    pub fn instance_states(&self) -> Vec<String> {
        self.status_json()["vrrp"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        format!(
                            "{}={}",
                            i["name"].as_str().unwrap_or("?"),
                            i["state"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The lvsd status snapshot (first VRRP instance).
    /// `GET /events.json`: the recent events (lvsd only).
    pub fn events_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.status.get("/events.json")).unwrap_or_default()
    }

    pub fn instance_status(&self) -> serde_json::Value {
        let mut last = self.last_status.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = self.status.read();
        if !fresh.is_empty() {
            *last = fresh;
        }
        let v: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
        v["vrrp"][0].clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    nodes: Vec<u8>,
    seq: Mutex<u32>,
}

impl Lab {
    /// Builds the LAN with nodes 1, 2 and the client 10.
    pub fn new(tag: &str) -> Lab {
        Lab::with_prefix(format!("lv{tag}{}", std::process::id() % 100_000))
    }

    /// [`Lab::new`] with namespaces named `PREFIX-sw`, `PREFIX-n1`, ... (a branch's own
    /// prefix, so concurrent labs of other work never collide).
    pub fn with_prefix(prefix: String) -> Lab {
        for t in ["ip", "keepalived", "busybox"] {
            require_tool(t);
        }
        assert!(
            nix::unistd::geteuid().is_root(),
            "the VRRP lab needs root (network namespaces)"
        );
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("lab dir");
        let lab = Lab {
            prefix,
            dir,
            nodes: vec![1, 2, CLIENT],
            seq: Mutex::new(0),
        };
        lab.cleanup_namespaces();
        let sw = lab.sw();
        must(Command::new("ip").args(["netns", "add", &sw]));
        must(Command::new("ip").args([
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]));
        must(Command::new("ip").args(["-n", &sw, "link", "set", "br0", "up"]));
        for &n in &lab.nodes {
            let ns = lab.ns(n);
            must(Command::new("ip").args(["netns", "add", &ns]));
            must(Command::new("ip").args([
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.keep_addr_on_down=1",
                "net.ipv6.conf.default.keep_addr_on_down=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ]));
            let port = format!("p{n}");
            must(Command::new("ip").args([
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]));
            must(Command::new("ip").args(["-n", &sw, "link", "set", &port, "master", "br0", "up"]));
            must(Command::new("ip").args([
                "-n",
                &ns,
                "link",
                "set",
                "eth0",
                "address",
                &format!("02:77:00:00:00:{n:02x}"),
            ]));
            must(Command::new("ip").args([
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.0.{n}/24"),
                "dev",
                "eth0",
            ]));
            must(Command::new("ip").args([
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd00:77::{n:x}/64"),
                "dev",
                "eth0",
                "nodad",
            ]));
            must(Command::new("ip").args(["-n", &ns, "link", "set", "eth0", "up"]));
            must(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
        }
        lab
    }

    pub fn sw(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    pub fn ns(&self, node: u8) -> String {
        format!("{}-n{node}", self.prefix)
    }

    fn cleanup_namespaces(&self) {
        let mut all: Vec<String> = self.nodes.iter().map(|&n| self.ns(n)).collect();
        all.push(self.sw());
        for ns in all {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(p) = p.parse::<i32>() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }

    fn next(&self) -> u32 {
        let mut s = self.seq.lock().unwrap_or_else(|e| e.into_inner());
        *s += 1;
        *s
    }

    pub fn start(&self, kind: Kind, node: u8, spec: &Spec) -> Daemon {
        match kind {
            Kind::Lvsd => self.start_lvsd(node, spec),
            Kind::Keepalived => self.start_keepalived(node, spec),
        }
    }

    /// lvsd (`lvsd -n -P -f`) with the very keepalived.conf keepalived would get.
    pub fn start_lvsd(&self, node: u8, spec: &Spec) -> Daemon {
        self.start_lvsd_text(node, &spec.keepalived_conf(), false)
    }

    /// lvsd with a keepalived.conf text; `full` runs it without `-P` (VRRP beside the
    /// director).
    pub fn start_lvsd_text(&self, node: u8, conf: &str, full: bool) -> Daemon {
        let i = self.next();
        let conf_path = self.dir.join(format!("lvsd-n{node}-{i}.conf"));
        fs::write(&conf_path, conf).expect("write conf");
        let log = self.dir.join(format!("lvsd-n{node}-{i}.log"));
        let cmd = lvsd_command(&self.ns(node), &conf_path, full);
        self.spawn_lvsd(node, cmd, conf_path, log, None)
    }

    /// The `vrrp-node` example with the JSON form of lvsd's runtime configuration, for the
    /// one setting keepalived.conf cannot express: normal scheduling (the benchmark).
    pub fn start_lvsd_json(&self, node: u8, conf: &serde_json::Value) -> Daemon {
        let i = self.next();
        let conf_path = self.dir.join(format!("lvsd-n{node}-{i}.json"));
        fs::write(
            &conf_path,
            serde_json::to_vec_pretty(conf).unwrap_or_default(),
        )
        .expect("write conf");
        let log = self.dir.join(format!("lvsd-n{node}-{i}.log"));
        let status = self.dir.join(format!("lvsd-n{node}-{i}.status.json"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(node)])
            .arg(vrrp_node_program())
            .arg(&conf_path)
            .arg("--status")
            .arg(&status);
        self.spawn_lvsd(node, cmd, conf_path, log, Some(status))
    }

    fn spawn_lvsd(
        &self,
        node: u8,
        mut cmd: Command,
        conf: PathBuf,
        log: PathBuf,
        status_file: Option<PathBuf>,
    ) -> Daemon {
        let logf = fs::File::create(&log).expect("log file");
        let child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(logf.try_clone().expect("log fd"))
            .stderr(logf)
            .spawn()
            .expect("spawn lvsd");
        Daemon {
            kind: Kind::Lvsd,
            node,
            child: Some(child),
            log,
            status: match status_file {
                Some(f) => Status::File(f),
                None => Status::Api(format!("/run/netns/{}", self.ns(node))),
            },
            last_status: Mutex::default(),
            vrrp_pid: self.dir.join("none"),
            conf,
        }
    }

    pub fn start_keepalived(&self, node: u8, spec: &Spec) -> Daemon {
        self.start_keepalived_text(node, &spec.keepalived_conf())
    }

    /// keepalived (`--vrrp`) with a keepalived.conf text.
    pub fn start_keepalived_text(&self, node: u8, text: &str) -> Daemon {
        let i = self.next();
        let conf = self.dir.join(format!("ka-n{node}-{i}.conf"));
        fs::write(&conf, text).expect("write conf");
        let log = self.dir.join(format!("ka-n{node}-{i}.log"));
        let p = |s: &str| self.dir.join(format!("ka-n{node}-{i}.{s}.pid"));
        let vrrp_pid = p("vrrp");
        let logf = fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(node),
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-G",
                "--vrrp",
                "-f",
            ])
            .arg(&conf)
            .arg("-p")
            .arg(p("main"))
            .arg("-r")
            .arg(&vrrp_pid)
            .arg("-c")
            .arg(p("check"))
            .stdout(logf.try_clone().expect("log fd"))
            .stderr(logf)
            .spawn()
            .expect("spawn keepalived");
        Daemon {
            kind: Kind::Keepalived,
            node,
            child: Some(child),
            log,
            status: Status::None,
            last_status: Mutex::default(),
            vrrp_pid,
            conf,
        }
    }

    /// `ip netns exec NS cmd...`
    pub fn exec(&self, node: u8, args: &[&str]) -> Output {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.ns(node)])
            .args(args))
    }

    /// Addresses on eth0 of `node`.
    pub fn addrs(&self, node: u8) -> Vec<String> {
        let o = sh(Command::new("ip").args([
            "-n",
            &self.ns(node),
            "-br",
            "addr",
            "show",
            "dev",
            "eth0",
        ]));
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .skip(2)
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .collect()
    }

    pub fn has(&self, node: u8, addr: &str) -> bool {
        self.addrs(node).iter().any(|a| a == addr)
    }

    /// Polls every 10 ms until `node` holds every one of `vips` and `other` none; how long
    /// it took, or None after `timeout`.
    pub fn all_on(
        &self,
        node: u8,
        other: u8,
        vips: &[&str],
        timeout: Duration,
    ) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if vips.iter().all(|v| self.has(node, v)) && !vips.iter().any(|v| self.has(other, v)) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Polls every 20 ms until `node` has (or lacks) `addr`; returns how long it took.
    pub fn wait_for(
        &self,
        node: u8,
        addr: &str,
        present: bool,
        timeout: Duration,
    ) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.has(node, addr) == present {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Asserts `addr` stays on `node` only... for `d`.
    pub fn holds_for(&self, node: u8, other: u8, addr: &str, d: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            if !self.has(node, addr) || self.has(other, addr) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// True if `node` does not hold `addr` at any time during `d`.
    pub fn never_holds(&self, node: u8, addr: &str, d: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            if self.has(node, addr) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// The client's neighbour entry (MAC) for `addr`, if any.
    pub fn neighbour_mac(&self, addr: &str) -> Option<String> {
        let o = self.exec(CLIENT, &["ip", "neigh", "show", addr, "dev", "eth0"]);
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        let mut it = s.split_whitespace();
        while let Some(w) = it.next() {
            if w == "lladdr" {
                return it.next().map(str::to_string);
            }
        }
        None
    }

    /// Ping from the client once (fills its neighbour table).
    pub fn ping(&self, addr: &str) -> bool {
        let v6 = addr.contains(':');
        let mut args = vec!["busybox", "ping"];
        if v6 {
            args.push("-6");
        }
        args.extend(["-c", "1", "-W", "1", addr]);
        self.exec(CLIENT, &args).status.success()
    }

    /// Runs `f` on a thread that has entered `node`'s network namespace.
    pub fn in_ns<T: Send + 'static>(&self, node: u8, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.ns(node));
        std::thread::spawn(move || {
            let fd = fs::File::open(&path).expect("netns file");
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup_namespaces();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// One VRRP advert seen on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Instant,
    pub src: IpAddr,
    pub priority: u8,
}

/// Records every VRRP advert reaching `node` (IPv4 and IPv6), like a pcap on the client: the
/// failover gap is the time between the old master's last advert and the new one's first.
pub struct Observer {
    seen: std::sync::Arc<Mutex<Vec<Seen>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Observer {
    pub fn start(lab: &Lab, node: u8) -> Observer {
        use socket2::{Domain, Protocol, Socket, Type};
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let path = format!("/run/netns/{}", lab.ns(node));
        for v6 in [false, true] {
            let (seen, stop, path) = (seen.clone(), stop.clone(), path.clone());
            std::thread::spawn(move || {
                let fd = fs::File::open(&path).expect("netns file");
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                let dom = if v6 { Domain::IPV6 } else { Domain::IPV4 };
                let s = Socket::new(dom, Type::RAW, Some(Protocol::from(112))).expect("raw socket");
                s.bind_device(Some(b"eth0")).expect("bind eth0");
                if v6 {
                    s.join_multicast_v6(&"ff02::12".parse().expect("addr"), 0)
                        .ok();
                } else {
                    s.join_multicast_v4(
                        &"224.0.0.18".parse().expect("addr"),
                        &"10.77.0.10".parse().expect("addr"),
                    )
                    .ok();
                }
                s.set_read_timeout(Some(Duration::from_millis(100))).ok();
                let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok((n, from)) = s.recv_from(&mut buf) else {
                        continue;
                    };
                    let at = Instant::now();
                    // SAFETY: recv_from initialised the first n bytes.
                    let b: Vec<u8> = buf[..n]
                        .iter()
                        .map(|x| unsafe { x.assume_init() })
                        .collect();
                    let (src, vrrp) = if v6 {
                        (from.as_socket().map(|a| a.ip()), &b[..])
                    } else if b.len() >= 20 {
                        let ihl = usize::from(b[0] & 0xf) * 4;
                        (
                            Some(IpAddr::from([b[12], b[13], b[14], b[15]])),
                            b.get(ihl..).unwrap_or(&[]),
                        )
                    } else {
                        (None, &b[..0])
                    };
                    if let (Some(src), Some(&prio)) = (src, vrrp.get(2)) {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                            at,
                            src,
                            priority: prio,
                        });
                    }
                }
            });
        }
        Observer { seen, stop }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// First advert (nonzero priority) from `src` after `t`.
    pub fn first_from_after(&self, src: &str, t: Instant) -> Option<Instant> {
        let src: IpAddr = src.parse().ok()?;
        self.seen()
            .into_iter()
            .find(|s| s.src == src && s.at > t && s.priority > 0)
            .map(|s| s.at)
    }

    /// First priority-0 advert from `src` after `t`.
    pub fn zero_from_after(&self, src: &str, t: Instant) -> Option<Instant> {
        let src: IpAddr = src.parse().ok()?;
        self.seen()
            .into_iter()
            .find(|s| s.src == src && s.at > t && s.priority == 0)
            .map(|s| s.at)
    }

    /// Last advert from `src` before `t`.
    pub fn last_from_before(&self, src: &str, t: Instant) -> Option<Instant> {
        let src: IpAddr = src.parse().ok()?;
        self.seen()
            .into_iter()
            .filter(|s| s.src == src && s.at <= t)
            .map(|s| s.at)
            .next_back()
    }

    /// Whether anyone other than `src` sent an advert with nonzero priority in `[from, to]`.
    pub fn others_between(&self, src: &str, from: Instant, to: Instant) -> usize {
        let src: IpAddr = src.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        self.seen()
            .into_iter()
            .filter(|s| s.src != src && s.at >= from && s.at <= to && s.priority > 0)
            .count()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
