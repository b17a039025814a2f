//! `max_auto_priority` / `min_auto_priority_delay` on the namespace LAN (tests/vrrp_lab): the
//! VRRP process is stopped (SIGSTOP) for longer than `min_auto_priority_delay`, so its next
//! timer runs late, and its scheduling is read from /proc: lvsd's VRRP thread (SCHED_RR 10 by
//! default) goes to SCHED_RR 11, then 12 after a second stop; keepalived 2.2.7's VRRP process
//! (normal scheduling without `vrrp_rt_priority`), in the same run, switches to SCHED_RR.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::Lab;

const N1: u8 = 1;
const VIP: &str = "10.77.0.100";
const SCHED_RR: u32 = 2;

fn conf() -> String {
    format!(
        "global_defs {{
  max_auto_priority 20
  min_auto_priority_delay 200000
}}
vrrp_instance A {{
  interface eth0
  state BACKUP
  virtual_router_id 51
  priority 150
  advert_int 0.2
  version 3
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
"
    )
}

/// (policy, rt_priority) of a task from /proc/.../stat (fields 41 and 40).
fn sched(stat_path: &str) -> (u32, u32) {
    let s = std::fs::read_to_string(stat_path).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let get = |n: usize| {
        f.get(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    };
    (get(41), get(40))
}

fn vrrp_thread(pid: i32) -> String {
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
    {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == "lvsd-vrrp" {
            return e.path().join("stat").display().to_string();
        }
    }
    panic!("no lvsd-vrrp thread in {pid}");
}

/// keepalived's VRRP child: the process whose parent is `parent`.
fn child_of(parent: i32) -> i32 {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let s = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            if rest.split_whitespace().nth(1) == Some(&parent.to_string()) {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no child of {parent}");
}

/// Stops `pid` for 500 ms (beyond min_auto_priority_delay 200 ms), then waits until `stat`
/// shows a change from `before` (or 2 s).
fn stall(pid: i32, stat: &str, before: (u32, u32)) -> (u32, u32) {
    use nix::sys::signal::{Signal, kill};
    let p = nix::unistd::Pid::from_raw(pid);
    kill(p, Signal::SIGSTOP).expect("SIGSTOP");
    std::thread::sleep(Duration::from_millis(500));
    kill(p, Signal::SIGCONT).expect("SIGCONT");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        let now = sched(stat);
        if now != before {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sched(stat)
}

#[test]
fn a_late_vrrp_thread_raises_its_realtime_priority_as_keepalived() {
    let lab = Lab::new("vxap");
    let d = lab.start_lvsd_text(N1, &conf(), false);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "lvsd never master: {}",
        d.log_text()
    );
    let pid = d.pid().expect("lvsd pid");
    let stat = vrrp_thread(pid);
    let start = sched(&stat);
    assert_eq!(
        start,
        (SCHED_RR, 10),
        "lvsd's VRRP thread starts at SCHED_RR 10"
    );
    let first = stall(pid, &stat, start);
    let second = stall(pid, &stat, first);
    eprintln!("lvsd VRRP thread (policy, rt prio): {start:?} -> {first:?} -> {second:?}");
    assert_eq!(first, (SCHED_RR, 11), "{}", d.log_text());
    assert_eq!(second, (SCHED_RR, 12), "{}", d.log_text());
    assert!(
        d.log_text()
            .contains("raised to SCHED_RR priority 11 (max_auto_priority)"),
        "{}",
        d.log_text()
    );
    drop(d);
    let _ = lab.exec(
        N1,
        &["ip", "addr", "del", &format!("{VIP}/24"), "dev", "eth0"],
    );

    let k = lab.start_keepalived_text(N1, &conf());
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "keepalived never master: {}",
        k.log_text()
    );
    let child = child_of(k.pid().expect("keepalived pid"));
    let kstat = format!("/proc/{child}/stat");
    let kstart = sched(&kstat);
    let kafter = stall(child, &kstat, kstart);
    eprintln!("keepalived VRRP process (policy, rt prio): {kstart:?} -> {kafter:?}");
    assert_eq!(kafter.0, SCHED_RR, "keepalived: {}", k.log_text());
}
