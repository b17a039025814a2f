//! Start-up with a tracked script that has not answered yet (tests/vrrp_lab): keepalived 2.2.7
//! holds the instance, with no state, advert, address or notify, until the script's first
//! result, which then decides FAULT or BACKUP. lvsd (n1) and keepalived (n2) run the same
//! configuration side by side, on their own VRIDs, for a script that succeeds and one that
//! fails after 2 s; each notify records whether the script had answered when it ran.

mod vrrp_lab;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use vrrp_lab::{Kind, Lab};

/// How long the tracked script takes to give its first result.
const SCRIPT_TAKES: Duration = Duration::from_secs(2);

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

struct Case {
    vrid: u8,
    vip: String,
    /// The notify script's lines: `STATE after|before` (the check had answered or not).
    notes: std::path::PathBuf,
}

fn conf(lab: &Lab, kind: Kind, exit: u8, vrid: u8) -> (String, Case) {
    let tag = format!("{kind:?}-{exit}");
    let done = lab.dir.join(format!("done-{tag}"));
    let notes = lab.dir.join(format!("notify-{tag}"));
    let chk = lab.dir.join(format!("chk-{tag}.sh"));
    let notify = lab.dir.join(format!("notify-{tag}.sh"));
    script(
        &chk,
        &format!(
            "sleep {}\ntouch {}\nexit {exit}",
            SCRIPT_TAKES.as_secs(),
            done.display()
        ),
    );
    script(
        &notify,
        &format!(
            "if [ -e {} ]; then w=after; else w=before; fi\necho \"$3 $w\" >> {}",
            done.display(),
            notes.display()
        ),
    );
    let vip = format!("10.77.0.{}", 100 + vrid);
    let text = format!(
        "vrrp_script chk {{
  script \"{}\"
  interval 30
  timeout 10
}}
vrrp_instance V1 {{
  interface eth0
  state MASTER
  virtual_router_id {vrid}
  priority 150
  advert_int 0.5
  version 3
  notify {}
  track_script {{
    chk
  }}
  virtual_ipaddress {{
    {vip}/24
  }}
}}
",
        chk.display(),
        notify.display()
    );
    (text, Case { vrid, vip, notes })
}

fn notes(c: &Case) -> Vec<String> {
    fs::read_to_string(&c.notes)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn an_instance_waits_for_its_tracked_scripts_first_result_like_keepalived() {
    let lab = Lab::new("ss");
    for (exit, want) in [
        (0u8, ["BACKUP after", "MASTER after"]),
        (1, ["FAULT after", ""]),
    ] {
        let (lconf, l) = conf(&lab, Kind::Lvsd, exit, 61 + exit * 2);
        let (kconf, k) = conf(&lab, Kind::Keepalived, exit, 62 + exit * 2);
        let mut ld = lab.start_lvsd_text(1, &lconf, false);
        let mut kd = lab.start_keepalived_text(2, &kconf);
        // Before the script's result: no address on either node (both sampled every 50 ms).
        let t0 = std::time::Instant::now();
        while t0.elapsed() < SCRIPT_TAKES - Duration::from_millis(300) {
            for (node, c) in [(1, &l), (2, &k)] {
                assert!(
                    !lab.has(node, &c.vip),
                    "n{node} took {} before the script answered (vrid {})",
                    c.vip,
                    c.vrid
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // After it: the success becomes master (master-down 1.5 s + skew), the failure FAULT.
        std::thread::sleep(Duration::from_secs(4));
        let want: Vec<String> = want
            .iter()
            .filter(|w| !w.is_empty())
            .map(|w| w.to_string())
            .collect();
        for (d, c) in [(&ld, &l), (&kd, &k)] {
            let seen = notes(c);
            assert_eq!(
                seen,
                want,
                "{:?}, script exit {exit}: notifies\n{}",
                d.kind,
                d.log_text()
            );
        }
        assert_eq!(lab.has(1, &l.vip), exit == 0, "lvsd VIP, exit {exit}");
        assert_eq!(lab.has(2, &k.vip), exit == 0, "keepalived VIP, exit {exit}");
        ld.term();
        kd.term();
        ld.wait();
        kd.wait();
    }
}
