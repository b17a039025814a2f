//! `vrrp_track_process` on the namespace LAN (tests/vrrp_lab): lvsd on n1 tracks a process
//! on this host, keepalived 2.2.7 on n2 is the peer. What a user sees is checked: the VIP
//! moves to the peer when the process dies (after `terminate_delay`, not before), comes back
//! when it is restarted (after `fork_delay`), a restart within `terminate_delay` does not move
//! it at all, and with `weight 0` a quorum failure (here: one process too many for
//! `quorum_max`) puts the instance in FAULT.
//!
//! The tracked processes are copies of `sleep` under a name unique to this test run, so no
//! other process on the host matches them.

mod vrrp_lab;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use vrrp_lab::{Kind, Lab, Spec};

const N1: u8 = 1;
const N2: u8 = 2;
const VIP: &str = "10.77.0.100";

/// A running copy of `sleep` named `path`'s file name; killed when dropped.
struct Tracked(Child);

impl Tracked {
    fn start(path: &PathBuf, arg: &str) -> Tracked {
        Tracked(
            Command::new(path)
                .arg(arg)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display())),
        )
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A copy of `sleep` whose process name is unique to this test run (at most 15 bytes).
fn program(lab: &Lab, tag: &str) -> PathBuf {
    let name = format!("vl{tag}{}", std::process::id() % 1_000_000);
    let path = lab.dir.join(&name);
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("the test needs sleep (coreutils)");
    std::fs::copy(sleep, &path).expect("copy sleep");
    path
}

fn conf(tracker: &str) -> String {
    format!(
        "{tracker}
vrrp_instance VI_1 {{
  interface eth0
  state BACKUP
  virtual_router_id 51
  priority 150
  advert_int 0.2
  version 3
  virtual_ipaddress {{
    10.77.0.100/24
  }}
  track_process {{
    tp
  }}
}}
"
    )
}

fn wait_state(d: &vrrp_lab::Daemon, state: &str, timeout: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if d.instance_status()["state"] == state {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn killed_process_moves_the_vip_after_terminate_delay_and_back_after_fork_delay() {
    let lab = Lab::new("tp");
    let prog = program(&lab, "a");
    let name = prog.file_name().unwrap().to_string_lossy().into_owned();
    let mut p = Some(Tracked::start(&prog, "600"));
    let tracker = format!(
        "vrrp_track_process tp {{\n  process {name}\n  weight -60\n  terminate_delay 1\n  fork_delay 0.5\n}}"
    );
    let _k = lab.start(Kind::Keepalived, N2, &Spec::v4(3, 100, 0.2));
    let a = lab.start_lvsd_text(N1, &conf(&tracker), false);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "lvsd never master: {}",
        a.log_text()
    );
    assert!(lab.holds_for(N1, N2, VIP, Duration::from_millis(600)));
    assert_eq!(a.instance_status()["effective_priority"], 150);
    // Event-driven: the connector, not the /proc polling fallback.
    let log = a.log_text();
    assert!(
        log.contains("following process events from the kernel's process connector")
            && !log.contains("polling /proc"),
        "{log}"
    );

    // A restart well within terminate_delay (1 s): nothing moves.
    drop(p.take());
    std::thread::sleep(Duration::from_millis(200));
    p = Some(Tracked::start(&prog, "600"));
    assert!(
        lab.holds_for(N1, N2, VIP, Duration::from_millis(2000)),
        "a quick restart moved the VIP"
    );
    assert_eq!(a.instance_status()["effective_priority"], 150);

    // Killed for good: 150 - 60 = 90 < 100 after terminate_delay; keepalived takes over.
    let t = Instant::now();
    drop(p.take());
    assert!(
        lab.wait_for(N2, VIP, true, Duration::from_secs(5))
            .is_some(),
        "VIP did not move to keepalived: {}",
        a.log_text()
    );
    let moved = t.elapsed();
    eprintln!("process killed -> VIP on keepalived after {moved:?} (terminate_delay 1 s)");
    assert!(
        moved >= Duration::from_millis(1000),
        "moved after {moved:?}, before terminate_delay"
    );
    assert!(
        moved < Duration::from_millis(2000),
        "moved after {moved:?}: more than 1 s past terminate_delay"
    );
    assert!(
        lab.wait_for(N1, VIP, false, Duration::from_secs(1))
            .is_some()
    );
    let st = a.instance_status();
    assert_eq!(st["effective_priority"], 90, "{st}");
    assert_eq!(st["state"], "BACKUP");

    // Started again: back to 150 after fork_delay; lvsd preempts.
    let t = Instant::now();
    let _p = Tracked::start(&prog, "600");
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "VIP did not come back: {}",
        a.log_text()
    );
    let back = t.elapsed();
    eprintln!("process restarted -> VIP back on lvsd after {back:?} (fork_delay 0.5 s)");
    assert!(
        back >= Duration::from_millis(500),
        "back after {back:?}, before fork_delay"
    );
    assert!(back < Duration::from_millis(2000), "back after {back:?}");
    assert!(
        lab.wait_for(N2, VIP, false, Duration::from_secs(2))
            .is_some()
    );
}

#[test]
fn weight_zero_quorum_failure_is_fault_and_parameters_are_matched() {
    let lab = Lab::new("tq");
    let prog = program(&lab, "b");
    let path = prog.display().to_string();
    // Only `PROG 600` counts (parameters given: the command line is compared); at most one.
    let tracker = format!(
        "vrrp_track_process tp {{\n  process {path} 600\n  quorum 1\n  quorum_max 1\n  weight 0\n}}"
    );
    let _k = lab.start(Kind::Keepalived, N2, &Spec::v4(3, 100, 0.2));
    let a = lab.start_lvsd_text(N1, &conf(&tracker), false);
    // No process yet: FAULT from the start.
    assert!(
        wait_state(&a, "FAULT", Duration::from_secs(5)).is_some(),
        "not FAULT without the process: {}",
        a.log_text()
    );
    assert!(
        lab.wait_for(N2, VIP, true, Duration::from_secs(5))
            .is_some()
    );
    assert!(!lab.has(N1, VIP));

    let first = Tracked::start(&prog, "600");
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "quorum met but lvsd not master: {}",
        a.log_text()
    );
    // Other parameters: not a match, nothing changes.
    let _other = Tracked::start(&prog, "601");
    assert!(lab.holds_for(N1, N2, VIP, Duration::from_millis(800)));
    // A second match: above quorum_max 1, FAULT; keepalived takes the VIP.
    let second = Tracked::start(&prog, "600");
    assert!(
        wait_state(&a, "FAULT", Duration::from_secs(2)).is_some(),
        "two matching processes with quorum_max 1 did not FAULT"
    );
    assert!(
        lab.wait_for(N2, VIP, true, Duration::from_secs(3))
            .is_some()
    );
    assert!(!lab.has(N1, VIP));
    drop(second);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "back to one process but lvsd not master"
    );
    drop(first);
    assert!(
        wait_state(&a, "FAULT", Duration::from_secs(2)).is_some(),
        "process gone but no FAULT"
    );
}
