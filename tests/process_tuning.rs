//! keepalived's process tuning keywords on lvsd's threads (see `src/tuning.rs` for the
//! mapping): the daemon runs in a namespace of its own with a VRRP instance, and the test
//! reads what the kernel reports for each thread in /proc/PID/task/*/{stat,status} and for
//! the process in /proc/PID/{status,limits}.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().expect("ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(Path::new("/run/keepalived").join(&self.0));
    }
}

struct Lvsd(Child);

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (comm, nice, rt_priority, policy, Cpus_allowed_list) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, i64, i64, i64, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        // Fields after the command start at field 3 (state).
        let f: Vec<i64> = stat[close + 2..]
            .split_whitespace()
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string();
        out.push((comm, f[16], f[37], f[38], cpus));
    }
    out
}

#[test]
fn vrrp_and_checker_threads_get_their_scheduling() {
    let ns = Ns(format!("proc-tu{}", std::process::id() % 100_000));
    let _ = Command::new("ip")
        .args(["netns", "del", &ns.0])
        .stderr(Stdio::null())
        .status();
    ip(&["netns", "add", &ns.0]);
    ip(&[
        "-n", &ns.0, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    for l in ["v0", "v1", "lo"] {
        ip(&["-n", &ns.0, "link", "set", l, "up"]);
    }
    ip(&["-n", &ns.0, "addr", "add", "10.204.0.1/24", "dev", "v0"]);
    let two = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let (vcpu, ccpu) = if two { ("0", "1") } else { ("0", "0") };
    let dir = std::env::temp_dir().join(format!("lvsd-tuning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "net_namespace {ns}\nglobal_defs {{\n  vrrp_priority -5\n  vrrp_rt_priority 20\n  \
             vrrp_cpu_affinity {vcpu}\n  vrrp_no_swap\n  vrrp_rlimit_rttime 200000\n  \
             vrrp_process_name lvsd_vr\n  checker_priority 7\n  checker_cpu_affinity {ccpu}\n  \
             checker_process_name lvsd_ck\n  process_name lvsd_main\n  umask 0077\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface v0\n  virtual_router_id 7\n  \
             priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    10.204.0.100/24\n  }}\n}}\n",
            ns = ns.0
        ),
    )
    .unwrap();
    let log = dir.join("lvsd.log");
    let lvsd = Lvsd(
        Command::new(LVSD)
            .args(["-n", "-l", "-P", "-f"])
            .arg(&conf)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lvsd"),
    );
    let pid = lvsd.0.id();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let t0 = Instant::now();
    loop {
        let names: Vec<String> = threads(pid).into_iter().map(|t| t.0).collect();
        if names.iter().any(|n| n == "lvsd_vr") && names.iter().any(|n| n == "lvsd_ck") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "threads not renamed: {names:?}\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let all = threads(pid);
    eprintln!("{all:#?}");
    let vrrp: Vec<_> = all.iter().filter(|t| t.0 == "lvsd_vr").collect();
    assert_eq!(vrrp.len(), 1);
    // nice -5, SCHED_RR (2) at 20, on its CPU.
    assert_eq!((vrrp[0].1, vrrp[0].2, vrrp[0].3), (-5, 20, 2), "{}", text());
    assert_eq!(vrrp[0].4, vcpu);
    let workers: Vec<_> = all.iter().filter(|t| t.0 == "lvsd_ck").collect();
    assert!(!workers.is_empty());
    for w in &workers {
        // nice 7, SCHED_OTHER (0), on the checker CPU.
        assert_eq!((w.1, w.2, w.3), (7, 0, 0), "{w:?}");
        assert_eq!(w.4, ccpu);
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "lvsd_main"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(locked > 0, "vrrp_no_swap: nothing locked\n{status}");
    assert!(status.contains("Umask:\t0077"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let rt = limits
        .lines()
        .find(|l| l.starts_with("Max realtime timeout"))
        .unwrap_or("");
    assert!(
        rt.split_whitespace().filter(|w| *w == "200000").count() == 2,
        "{rt}"
    );
    // umask 0077: the pid file is private.
    let pidfile = Path::new("/run/keepalived")
        .join(&ns.0)
        .join("keepalived.pid");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&pidfile).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{}", pidfile.display());
    // And the VRRP thread, so tuned, does its job in the namespace.
    let t0 = Instant::now();
    while !ip(&["-n", &ns.0, "addr"]).contains("10.204.0.100") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never master\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
