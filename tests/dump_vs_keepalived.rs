//! lvsd's keepalived-compatible dump files against the files keepalived 2.2.7 itself writes for
//! the same keepalived.conf, both daemons running side by side, each alone in its own network
//! namespace (the same interfaces and addresses) and with a private /tmp (its own mount
//! namespace, read through /proc/PID/root). Both are signalled the same way (SIGUSR1, SIGUSR2,
//! `--signum=JSON`) and their files are parsed by one parser — the one keepalived-exporter uses
//! for keepalived.data, re-stated here — and compared field by field.
//!
//! The checker's file (keepalived_check.data) needs IPVS: that comparison runs in the IPVS VM
//! (tests/vm), where both daemons program the same virtual servers in turn.
//!
//! Needs root, iproute2 and keepalived, and for the VM part qemu (`bash .ci/run` installs them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "vm/harness.rs"]
mod vm;

const CONF: &str = r#"global_defs {
  router_id dumplab
  # Non-default globals: the "Global definitions" sections must follow them.
  vrrp_garp_master_refresh 60
  vrrp_garp_interval 0.01
  vrrp_gna_interval 0.02
  checker_log_all_failures
  lvs_flush
  smtp_alert_vrrp false
  dynamic_interfaces
}
vrrp_script chk_ok {
  script "/bin/true"
  interval 1
  weight 10
  rise 2
  fall 3
}
vrrp_instance VI_1 {
  state BACKUP
  interface o0
  virtual_router_id 51
  priority 150
  advert_int 1
  nopreempt
  garp_master_delay 3
  garp_master_repeat 2
  authentication {
    auth_type PASS
    auth_pass secret1
  }
  virtual_ipaddress {
    10.98.0.100/24
    10.98.0.101
    10.98.1.5/24 dev o2
  }
  virtual_ipaddress_excluded {
    10.98.0.200/32
    10.98.2.7/24 dev o2
  }
  track_script {
    chk_ok
  }
  track_interface {
    o2
  }
  notify_master "/bin/true master"
  notify_backup "/bin/true backup"
  notify_fault "/bin/true fault"
  notify_stop "/bin/true stop"
  notify "/bin/true any"
}
vrrp_instance VI_6 {
  state BACKUP
  interface o0
  virtual_router_id 52
  priority 90
  version 3
  advert_int 0.5
  virtual_ipaddress {
    fd00:98::100/64
    fd00:98::101
  }
}
"#;

fn must(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        ok.is_ok(),
        "this test needs `{tool}` (bash .ci/run installs it)"
    );
}

/// A namespace with the lab's links: o0 (10.98.0.1/24) and o2, each a veth with its peer up.
struct Ns(String);

impl Ns {
    fn new(name: String) -> Ns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        must(Command::new("ip").args(["netns", "add", &name]));
        let ip = |args: &[&str]| must(Command::new("ip").args(["-n", &name]).args(args));
        ip(&["link", "set", "lo", "up"]);
        for (a, b) in [("o0", "o1"), ("o2", "o3")] {
            ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
            ip(&["link", "set", a, "up"]);
            ip(&["link", "set", b, "up"]);
        }
        must(Command::new("ip").args([
            "netns",
            "exec",
            &name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]));
        ip(&["addr", "add", "10.98.0.1/24", "dev", "o0"]);
        ip(&["addr", "add", "fd00:98::1/64", "dev", "o0", "nodad"]);
        Ns(name)
    }

    fn has(&self, addr: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.0, "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.contains(&format!("inet {addr}/")) || out.contains(&format!("inet6 {addr}/"))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A daemon in `ns` with a private tmpfs on /tmp, where it writes its dumps.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(ns: &Ns, program: &[&str], log: &Path) -> Daemon {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.0]);
        Daemon::spawn(cmd, program, log)
    }

    /// In the current network namespace (the VM's).
    fn start_here(program: &[&str], log: &Path) -> Daemon {
        let mut cmd = Command::new("env");
        cmd.arg("--");
        Daemon::spawn(cmd, program, log)
    }

    fn spawn(mut cmd: Command, program: &[&str], log: &Path) -> Daemon {
        let logf = std::fs::File::create(log).expect("log file");
        // A checkout (or target dir) under /tmp must stay visible under the private /tmp:
        // the old /tmp is bound on /mnt and those top-level directories are bound back.
        let keep: BTreeSet<String> = [
            Path::new(env!("CARGO_MANIFEST_DIR")),
            Path::new(env!("CARGO_BIN_EXE_lvsd")),
        ]
        .iter()
        .filter_map(|p| p.strip_prefix("/tmp").ok()?.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
        let script = "set -e
            if [ -n \"$KEEP\" ]; then mount --rbind /tmp /mnt; fi
            mount -t tmpfs tmpfs /tmp
            for k in $KEEP; do mkdir -p \"/tmp/$k\"; mount --rbind \"/mnt/$k\" \"/tmp/$k\"; done
            exec \"$@\"";
        let child = cmd
            .args(["unshare", "-m", "--propagation", "private"])
            .args(["sh", "-c", script, "sh"])
            .env("KEEP", keep.into_iter().collect::<Vec<_>>().join(" "))
            .args(program)
            .env("TZ", "UTC")
            .env("RUST_LOG", "info")
            .stdout(logf.try_clone().expect("log fd"))
            .stderr(logf)
            .spawn()
            .expect("spawn daemon");
        Daemon { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A file in the daemon's private /tmp.
    fn tmp_file(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/tmp/{name}", self.pid()))
    }

    /// Sends `sig` and waits (up to 5 s) until every one of `files` exists and is not empty.
    fn dump(&self, sig: i32, files: &[&str]) -> Vec<String> {
        for f in files {
            let _ = std::fs::remove_file(self.tmp_file(f));
        }
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        files
            .iter()
            .map(|f| {
                // A daemon may still be writing the file when it appears (keepalived writes
                // it line by line): it is read once it has stopped growing.
                let mut seen = String::new();
                loop {
                    match std::fs::read_to_string(self.tmp_file(f)) {
                        Ok(t) if !t.is_empty() && t == seen => break t,
                        Ok(t) if !t.is_empty() => seen = t,
                        _ if Instant::now() > deadline => panic!("pid {} wrote no {f}", self.pid()),
                        _ => {}
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One VRRP instance as keepalived-exporter reads keepalived.data: the `key = value` (or
/// `key: value`) lines under ` VRRP Instance = NAME`, and the indented list items under
/// `Virtual IP (n):` and `Virtual IP Excluded :`, plus the other lists by their key.
#[derive(Debug, Default)]
struct DataInstance {
    fields: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
}

/// The exporter's parse of keepalived.data: instances by name and scripts by name.
fn parse_data(
    text: &str,
) -> (
    BTreeMap<String, DataInstance>,
    BTreeMap<String, DataInstance>,
) {
    let mut instances = BTreeMap::new();
    let mut scripts = BTreeMap::new();
    let mut current: Option<(bool, String)> = None;
    let mut key = String::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix(" VRRP Instance = ") {
            current = Some((true, rest.trim().to_string()));
            instances.insert(rest.trim().to_string(), DataInstance::default());
            continue;
        }
        if let Some(rest) = l.strip_prefix(" VRRP Script = ") {
            current = Some((false, rest.trim().to_string()));
            scripts.insert(rest.trim().to_string(), DataInstance::default());
            continue;
        }
        if !l.starts_with("   ") {
            current = None;
            continue;
        }
        let Some((is_inst, name)) = &current else {
            continue;
        };
        let map = if *is_inst {
            &mut instances
        } else {
            &mut scripts
        };
        let Some(entry) = map.get_mut(name) else {
            continue;
        };
        if l.starts_with("     ") {
            entry
                .lists
                .entry(key.clone())
                .or_default()
                .push(l.trim().to_string());
            continue;
        }
        let t = l.trim();
        let (k, v) = match t.split_once('=').or_else(|| t.split_once(':')) {
            Some((k, v)) => (k.trim(), v.trim()),
            None => continue,
        };
        // `Virtual IP (3):` is the list's header; the exporter keys it as "Virtual IP".
        key = if k.starts_with("Virtual IP (") {
            "Virtual IP".to_string()
        } else {
            k.to_string()
        };
        entry.fields.insert(key.clone(), v.to_string());
    }
    (instances, scripts)
}

/// keepalived.data fields lvsd does not write: keepalived internals lvsd has no counterpart for
/// (fault counters, timers, sockets, flags), and options lvsd does not act on (lower-priority
/// GARPs, advert-on-receive tweaks, notify_deleted, priority-change notifies). A field that
/// appears in keepalived's dump and is neither written by lvsd nor listed here fails the test.
const NOT_WRITTEN: [&str; 25] = [
    "Flags",
    "Number of config faults",
    "Number of interface and track script faults",
    "Number of track scripts init",
    "Multicast address ff02",
    "Gratuitous ARP lower priority delay",
    "Gratuitous ARP lower priority repeat",
    "Send advert after receive lower priority advert",
    "Send advert after receive higher priority advert",
    "Notify deleted",
    "Notify priority changes",
    // notify scripts with the uid:gid keepalived resolved (lvsd resolves them when it runs one):
    "Backup state transition script",
    "Master state transition script",
    "Fault state transition script",
    "Stop state transition script",
    "Generic state transition script",
    // vrrp_script fields:
    "Timeout",
    "Weight",
    "Result",
    "Insecure",
    "Init state",
    "Script uid:gid",
    "VRRP instances",
    "Tracking instances",
    "Tracked scripts",
];

/// Fields that hold a time or a kernel resource: they differ between any two runs.
const VOLATILE: [&str; 4] = [
    "Last transition",
    "Read timeout",
    "Master down timer",
    "Using src_ip",
];

fn wait_master(ns: &Ns, addrs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !addrs.iter().all(|a| ns.has(a)) {
        assert!(
            Instant::now() < deadline,
            "{}: no VIPs {addrs:?} after 15 s",
            ns.0
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dumps_match_keepalived_field_by_field() {
    require("ip");
    require("keepalived");
    // Not under /tmp: each daemon gets an empty /tmp of its own.
    let dir = PathBuf::from(format!("/var/tmp/lvsd-dumpcmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, CONF).unwrap();
    let conf_s = conf.to_str().unwrap();
    let tag = std::process::id() % 100_000;
    let ka_ns = Ns::new(format!("lvdk{tag}"));
    let lv_ns = Ns::new(format!("lvdl{tag}"));

    let ka_pid = dir.join("ka.pid");
    let ka = Daemon::start(
        &ka_ns,
        &[
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-G",
            "--vrrp",
            "-f",
            conf_s,
            "-p",
            ka_pid.to_str().unwrap(),
            "-r",
            dir.join("ka-vrrp.pid").to_str().unwrap(),
        ],
        &dir.join("keepalived.log"),
    );
    let lvsd = env!("CARGO_BIN_EXE_lvsd");
    let lv = Daemon::start(
        &lv_ns,
        &[lvsd, "-n", "-l", "-P", "-f", conf_s],
        &dir.join("lvsd.log"),
    );
    let vips = ["10.98.0.100", "10.98.0.101", "10.98.1.5", "fd00:98::100"];
    wait_master(&ka_ns, &vips);
    wait_master(&lv_ns, &vips);
    // The script's rise (2 runs) and a few adverts.
    std::thread::sleep(Duration::from_secs(3));

    let data_files = ["keepalived.data", "keepalived_parent.data"];
    let ka_data = ka.dump(libc::SIGUSR1, &data_files);
    let lv_data = lv.dump(
        libc::SIGUSR1,
        &[
            "keepalived.data",
            "keepalived_parent.data",
            "keepalived_check.data",
        ],
    );
    let json_sig = lvsd::dump::sigjson();
    let ka_json = ka.dump(json_sig, &["keepalived.json"]);
    let lv_json = lv.dump(json_sig, &["keepalived.json"]);
    let ka_stats = ka.dump(libc::SIGUSR2, &["keepalived.stats"]);
    let lv_stats = lv.dump(libc::SIGUSR2, &["keepalived.stats"]);
    for (name, text) in [
        ("ka.data", &ka_data[0]),
        ("lv.data", &lv_data[0]),
        ("ka.json", &ka_json[0]),
        ("lv.json", &lv_json[0]),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }

    compare_data(&ka_data[0], &lv_data[0]);
    // `umask` is each process's own: lvsd's must be what its process runs with.
    let lv_umask = std::fs::read_to_string(format!("/proc/{}/status", lv.pid()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string()))
        .expect("lvsd's umask");
    compare_global("keepalived.data", &ka_data[0], &lv_data[0], Some(&lv_umask));
    compare_global(
        "keepalived_parent.data",
        &ka_data[1],
        &lv_data[1],
        Some(&lv_umask),
    );
    compare_json(&ka_json[0], &lv_json[0]);

    // The parent's and the checker's files have keepalived's section titles.
    for t in [&ka_data[1], &lv_data[1], &lv_data[2]] {
        assert!(t.starts_with("------< Global definitions >------\n"), "{t}");
    }
    // Stats: the same instances and counter lines (the advert counts depend on timing).
    let shape = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(shape(&ka_stats[0]), shape(&lv_stats[0]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The "Global definitions" section: its lines in order, each `key = value` split (a line
/// without ` = ` is a key alone, e.g. `No test config before reload`).
fn global_section(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|l| !l.starts_with("------< Global definitions"))
        .skip(1)
        .take_while(|l| !l.starts_with("------<"))
        .map(|l| match l.trim().split_once(" = ") {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect()
}

/// Global fields that differ by build or host, not by configuration: keepalived's libnftnl.
const GLOBAL_BUILD: [&str; 1] = ["libnftnl version 1.2.3"];

/// Both daemons' "Global definitions" of `file`: the same keys in the same order, the same
/// values (the umask: each daemon's own, `lv_umask` for lvsd; `None`: not compared).
fn compare_global(file: &str, ka: &str, lv: &str, lv_umask: Option<&str>) {
    let (k, l) = (global_section(ka), global_section(lv));
    assert!(k.len() > 30, "keepalived's {file} global section:\n{ka}");
    let keys = |v: &[(String, String)]| -> Vec<String> {
        v.iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !GLOBAL_BUILD.contains(&k.as_str()))
            .collect()
    };
    assert_eq!(
        keys(&k),
        keys(&l),
        "{file}: global keys / order\nkeepalived:\n{ka}\nlvsd:\n{lv}"
    );
    let diffs: Vec<String> = k
        .iter()
        .zip(&l)
        .filter(|(a, b)| {
            if a.0 == "umask" {
                lv_umask.is_some_and(|u| b.1 != u)
            } else {
                a != b
            }
        })
        .map(|(a, b)| format!("{}: keepalived {:?}, lvsd {:?}", a.0, a.1, b.1))
        .collect();
    assert!(
        diffs.is_empty(),
        "{file}: global values differ:\n{}",
        diffs.join("\n")
    );
}

fn compare_data(ka: &str, lv: &str) {
    let (ka_i, ka_s) = parse_data(ka);
    let (lv_i, lv_s) = parse_data(lv);
    assert_eq!(
        ka_i.keys().collect::<Vec<_>>(),
        lv_i.keys().collect::<Vec<_>>(),
        "instances\nkeepalived:\n{ka}\nlvsd:\n{lv}"
    );
    let mut diffs = Vec::new();
    for (name, k) in &ka_i {
        let l = &lv_i[name];
        for (key, kv) in &k.fields {
            if VOLATILE.contains(&key.as_str())
                || (NOT_WRITTEN.contains(&key.as_str()) && !l.fields.contains_key(key))
            {
                continue;
            }
            match l.fields.get(key) {
                Some(lvv) if lvv == kv => {}
                other => diffs.push(format!("{name}: {key}: keepalived {kv:?}, lvsd {other:?}")),
            }
        }
        for (key, lvv) in &l.fields {
            if !k.fields.contains_key(key) {
                diffs.push(format!("{name}: {key}: only lvsd writes it ({lvv:?})"));
            }
        }
        for key in k.lists.keys().chain(l.lists.keys()) {
            if k.lists.get(key) != l.lists.get(key) {
                diffs.push(format!(
                    "{name}: list {key}: keepalived {:?}, lvsd {:?}",
                    k.lists.get(key),
                    l.lists.get(key)
                ));
            }
        }
    }
    for (name, k) in &ka_s {
        let Some(l) = lv_s.get(name) else {
            diffs.push(format!("script {name}: missing in lvsd"));
            continue;
        };
        for (key, kv) in &k.fields {
            if NOT_WRITTEN.contains(&key.as_str()) && !l.fields.contains_key(key) {
                continue;
            }
            match l.fields.get(key) {
                Some(lvv) if lvv == kv => {}
                other => diffs.push(format!(
                    "script {name}: {key}: keepalived {kv:?}, lvsd {other:?}"
                )),
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "keepalived.data differs:\n{}\n\nkeepalived:\n{ka}\nlvsd:\n{lv}",
        diffs.join("\n")
    );
}

fn compare_json(ka: &str, lv: &str) {
    let ka_v: Value = serde_json::from_str(ka).expect("keepalived's JSON");
    let lv_v: Value = serde_json::from_str(lv).expect("lvsd's JSON");
    // Key order as written (serde_json's Map sorts, so read the order from the text).
    let order = |t: &str| -> Vec<String> {
        let mut keys = Vec::new();
        let mut rest = t;
        while let Some(i) = rest.find("\":") {
            let head = &rest[..i];
            if let Some(q) = head.rfind('"') {
                keys.push(head[q + 1..].to_string());
            }
            rest = &rest[i + 2..];
        }
        keys
    };
    assert_eq!(order(ka), order(lv), "JSON keys and their order");
    // Transition times to the microsecond, as keepalived writes them.
    let stamps = |t: &str| -> Vec<String> {
        t.split("\"last_transition\":")
            .skip(1)
            .map(|r| r.split([',', '}']).next().unwrap_or("").to_string())
            .collect()
    };
    for s in stamps(lv) {
        let decimals = s.split_once('.').map_or(0, |(_, d)| d.len());
        assert_eq!(decimals, 6, "lvsd last_transition {s}");
    }
    let (ka_a, lv_a) = (ka_v.as_array().unwrap(), lv_v.as_array().unwrap());
    let mut diffs = Vec::new();
    for (k, l) in ka_a.iter().zip(lv_a) {
        let name = &k["data"]["iname"];
        for (key, kv) in k["data"].as_object().unwrap() {
            let lvv = &l["data"][key];
            let same = if key == "last_transition" {
                kv.is_f64() && lvv.is_number()
            } else {
                kv == lvv
            };
            if !same {
                diffs.push(format!("{name} data.{key}: keepalived {kv}, lvsd {lvv}"));
            }
        }
        for key in [
            "become_master",
            "release_master",
            "pri_zero_rcvd",
            "auth_failure",
        ] {
            if k["stats"][key] != l["stats"][key] {
                diffs.push(format!(
                    "{name} stats.{key}: keepalived {}, lvsd {}",
                    k["stats"][key], l["stats"][key]
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "keepalived.json differs:\n{}\n\nkeepalived:\n{ka}\nlvsd:\n{lv}",
        diffs.join("\n")
    );
}

const CHECK_CONF: &str = r#"global_defs {
  router_id checklab
}
virtual_server 10.96.0.10 80 {
  delay_loop 2
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  quorum 2
  real_server 127.0.0.1 18081 {
    weight 3
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 127.0.0.2 18082 {
    weight 1
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server fwmark 7 {
  lb_algo rr
  real_server 127.0.0.3 80 {
    weight 1
  }
}
"#;

/// keepalived_check.data as blocks: ` VS ...` headers with their `key = value` lines, and the
/// real servers under each by their `RIP = ...` line.
type CheckBlocks = BTreeMap<String, BTreeMap<String, String>>;

fn parse_check_data(text: &str) -> CheckBlocks {
    let mut out = CheckBlocks::new();
    let mut vs = String::new();
    let mut block = String::new();
    let mut in_lvs = false;
    for l in text.lines() {
        if l.starts_with("------<") {
            in_lvs = l.contains("LVS Topology");
            continue;
        }
        if !in_lvs || l.trim_start().starts_with("------<") {
            continue;
        }
        let t = l.trim();
        if let Some(v) = l.strip_prefix(" VS ") {
            vs = v.to_string();
            block = vs.clone();
            out.entry(block.clone()).or_default();
        } else if let Some(rip) = t.strip_prefix("RIP = ") {
            // `RIP = 127.0.0.1, RPORT = 18081, WEIGHT = 3 EFF WEIGHT = 3`
            block = format!("{vs} -> {}", rip.split(", WEIGHT").next().unwrap_or(rip));
            out.entry(block.clone()).or_default().insert(
                "WEIGHT".into(),
                rip.split("WEIGHT = ").nth(1).unwrap_or("").into(),
            );
        } else if let Some((k, v)) = t.split_once(" = ")
            && !block.is_empty()
        {
            out.entry(block.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// Lines lvsd adds to keepalived_check.data (keepalived has no such fields).
const LVSD_ONLY: [&str; 3] = ["live weight", "sorry server in use", "last failure"];

/// Runs one daemon on CHECK_CONF, waits for its checkers to settle, and returns its
/// keepalived_check.data.
fn check_data_of(program: &[&str], log: &Path) -> String {
    let d = Daemon::start_here(program, log);
    // delay_loop 2, connect_timeout 1, one retry: settled after a few rounds.
    std::thread::sleep(Duration::from_secs(8));
    let data = d.dump(libc::SIGUSR1, &["keepalived_check.data"]);
    drop(d);
    std::thread::sleep(Duration::from_millis(500));
    data.into_iter().next().unwrap_or_default()
}

#[test]
fn check_data_in_vm() {
    vm::run_ignored_in_vm("check_data_", 1);
}

#[test]
#[ignore = "needs an IPVS kernel: run by check_data_in_vm()"]
fn check_data_matches_keepalived_field_by_field() {
    // In the VM only the checkout and /tmp are writable; each daemon gets its own /tmp.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("dumpcmp-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, CHECK_CONF).unwrap();
    let conf_s = conf.to_str().unwrap();
    // 127.0.0.1:18081 answers, 127.0.0.2:18082 does not.
    let listener = std::net::TcpListener::bind("127.0.0.1:18081").unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            drop(c)
        }
    });
    let _ = Command::new("ipvsadm").arg("-C").status();

    let pid = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let ka = check_data_of(
        &[
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-G",
            "--check",
            "-f",
            conf_s,
            "-p",
            &pid("ka.pid"),
            "-c",
            &pid("ka-check.pid"),
        ],
        &dir.join("keepalived.log"),
    );
    let _ = Command::new("ipvsadm").arg("-C").status();
    let lv = check_data_of(
        &[env!("CARGO_BIN_EXE_lvsd"), "-n", "-l", "-C", "-f", conf_s],
        &dir.join("lvsd.log"),
    );
    compare_global("keepalived_check.data", &ka, &lv, None);
    let (k, l) = (parse_check_data(&ka), parse_check_data(&lv));
    assert_eq!(
        k.keys().collect::<Vec<_>>(),
        l.keys().collect::<Vec<_>>(),
        "virtual and real servers\nkeepalived:\n{ka}\nlvsd:\n{lv}"
    );
    let mut diffs = Vec::new();
    for (block, lf) in &l {
        for (key, lvv) in lf {
            if LVSD_ONLY.contains(&key.as_str()) {
                continue;
            }
            match k[block].get(key) {
                Some(kv) if kv == lvv => {}
                other => diffs.push(format!(
                    "{block}: {key}: keepalived {other:?}, lvsd {lvv:?}"
                )),
            }
        }
    }
    // The server that answers is alive in both files, the one that does not is not.
    let rs = |ip: &str, port: u16| format!("VIP = 10.96.0.10, VPORT = 80 -> {ip}, RPORT = {port}");
    for (f, who) in [(&k, "keepalived"), (&l, "lvsd")] {
        assert_eq!(
            f.get(&rs("127.0.0.1", 18081)).and_then(|b| b.get("alive")),
            Some(&"1".to_string()),
            "{who}\nkeepalived:\n{ka}\nlvsd:\n{lv}"
        );
        assert_eq!(
            f.get(&rs("127.0.0.2", 18082)).and_then(|b| b.get("alive")),
            Some(&"0".to_string()),
            "{who}\nkeepalived:\n{ka}\nlvsd:\n{lv}"
        );
    }
    // What a reader of the file needs is there: health, weights, quorum state, scheduler.
    for must in [
        "alive",
        "WEIGHT",
        "lvs_sched",
        "quorum_state_up",
        "protocol",
    ] {
        assert!(
            l.values().any(|f| f.contains_key(must)),
            "lvsd writes no {must}:\n{lv}"
        );
    }
    assert!(
        diffs.is_empty(),
        "keepalived_check.data differs:\n{}\n\nkeepalived:\n{ka}\nlvsd:\n{lv}",
        diffs.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
