//! Options of the VRRP instance loop on the namespace LAN (tests/vrrp_lab), as a user sees
//! them: `vrrp_startup_delay` keeps the instances in INIT (no adverts, no VIP) for that long,
//! and `notify_priority_changes` publishes each change of the effective priority as an event
//! (`/events`, `/events.json`) with keepalived's FIFO words (`MASTER_PRIORITY 130`), while an
//! instance without it publishes none.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::{Lab, Observer};

const N1: u8 = 1;
const VIP: &str = "10.77.0.100";

fn instance(name: &str, vrid: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{
  interface eth0
  state BACKUP
  virtual_router_id {vrid}
  priority 150
  advert_int 0.2
  version 3
  virtual_ipaddress {{
    {vip}/24
  }}
{extra}}}
"
    )
}

#[test]
fn startup_delay_keeps_the_instance_in_init_without_adverts() {
    let lab = Lab::new("sd");
    let obs = Observer::start(&lab, vrrp_lab::CLIENT);
    let conf = format!(
        "global_defs {{\n  vrrp_startup_delay 2\n}}\n{}",
        instance("VI_1", 51, VIP, "")
    );
    let t0 = Instant::now();
    let a = lab.start_lvsd_text(N1, &conf, false);
    // Up and serving its status, still INIT.
    let t = Instant::now();
    while a.instance_status()["state"] != "INIT" && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.instance_status()["state"], "INIT", "{}", a.log_text());
    assert!(lab.never_holds(N1, VIP, Duration::from_millis(1200)));
    assert_eq!(a.instance_status()["state"], "INIT");
    // Then it starts: BACKUP, and MASTER after Master_Down_Interval (alone on the LAN).
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "never master: {}",
        a.log_text()
    );
    let master_after = t0.elapsed();
    eprintln!("vrrp_startup_delay 2: master {master_after:?} after start");
    assert!(
        master_after >= Duration::from_millis(2000 + 600),
        "master after {master_after:?}: the 2 s delay plus Master_Down_Interval did not pass"
    );
    let first_advert = obs
        .first_from_after("10.77.0.1", t0)
        .expect("adverts once started");
    let silent = first_advert - t0;
    assert!(
        silent >= Duration::from_millis(2000),
        "first advert {silent:?} after start, within vrrp_startup_delay"
    );
}

#[test]
fn priority_changes_are_published_only_where_configured() {
    let lab = Lab::new("pc");
    let file = lab.dir.join("prio");
    std::fs::write(&file, "0\n").expect("track file");
    let track = "  track_file {\n    tf\n  }\n";
    let conf = format!(
        "track_file tf {{\n  file {}\n  weight -10\n}}\n{}{}",
        file.display(),
        instance(
            "VI_1",
            51,
            VIP,
            &format!("  notify_priority_changes\n{track}")
        ),
        instance("VI_2", 52, "10.77.0.101", track),
    );
    let a = lab.start_lvsd_text(N1, &conf, false);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "never master: {}",
        a.log_text()
    );
    assert!(
        lab.wait_for(N1, "10.77.0.101", true, Duration::from_secs(5))
            .is_some()
    );
    // 150 + 2 × (-10) = 130.
    std::fs::write(&file, "2\n").expect("track file");
    let messages = |name: &str| -> Vec<String> {
        a.events_json()
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["subject"] == name)
            .filter_map(|e| e["message"].as_str().map(String::from))
            .collect()
    };
    let t = Instant::now();
    while !messages("VI_1").iter().any(|m| m == "MASTER_PRIORITY 130")
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        messages("VI_1").iter().any(|m| m == "MASTER_PRIORITY 130"),
        "{:?}",
        a.events_json()
    );
    let vi2 = a.status_json()["vrrp"][1]["effective_priority"].clone();
    assert_eq!(vi2, 130, "VI_2 tracks the file too");
    assert!(
        !messages("VI_2").iter().any(|m| m.contains("PRIORITY")),
        "VI_2 has no notify_priority_changes: {:?}",
        messages("VI_2")
    );
}
