//! Sync-group level tracking on the namespace LAN (tests/vrrp_lab): a `vrrp_sync_group` of two
//! instances tracks an interface and a script at group level (nothing tracked on the
//! instances). Failing either takes both members to FAULT and both VIPs move to the peer;
//! restoring it brings them back. The same is run with lvsd as the tracked node (keepalived
//! 2.2.7 the peer) and with keepalived as the tracked node (lvsd the peer), in the same run,
//! and the failover times are printed side by side.

mod vrrp_lab;

use std::path::Path;
use std::time::{Duration, Instant};

use vrrp_lab::{Kind, Lab};

const N1: u8 = 1;
const N2: u8 = 2;
const VIPS: [&str; 2] = ["10.77.0.100", "10.77.0.101"];

fn instance(name: &str, vrid: u8, prio: u8, vip: &str) -> String {
    format!(
        "vrrp_instance {name} {{
  interface eth0
  state BACKUP
  virtual_router_id {vrid}
  priority {prio}
  advert_int 0.2
  version 3
  virtual_ipaddress {{
    {vip}/24
  }}
}}
"
    )
}

/// The tracked node: both trackers on the sync group only.
fn tracked_conf(flag: &Path) -> String {
    format!(
        "vrrp_script chk {{
  script \"/bin/test -e {}\"
  interval 1
  fall 1
  rise 1
}}
vrrp_sync_group G {{
  group {{
    A
    B
  }}
  track_interface {{
    eth1
  }}
  track_script {{
    chk
  }}
}}
{}{}",
        flag.display(),
        instance("A", 51, 150, VIPS[0]),
        instance("B", 52, 150, VIPS[1])
    )
}

fn peer_conf() -> String {
    instance("A", 51, 100, VIPS[0]) + &instance("B", 52, 100, VIPS[1])
}

/// Time until `node` holds both VIPs and `other` neither.
/// Runs the scenario with `kind` on n1 (tracking) and the other implementation on n2.
/// Returns (interface down → VIPs on peer, script fails → VIPs on peer).
fn scenario(lab: &Lab, kind: Kind) -> (Duration, Duration) {
    let flag = lab.dir.join(format!("chk-{kind:?}"));
    std::fs::write(&flag, "").expect("flag file");
    let ip = |args: &[&str]| {
        let o = lab.exec(N1, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let _ = lab.exec(N1, &["ip", "link", "del", "eth1"]);
    ip(&[
        "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
    ]);
    ip(&["ip", "link", "set", "eth1p", "up"]);
    ip(&["ip", "link", "set", "eth1", "up"]);
    let (tracked, _peer) = match kind {
        Kind::Lvsd => (
            lab.start_lvsd_text(N1, &tracked_conf(&flag), false),
            lab.start_keepalived_text(N2, &peer_conf()),
        ),
        Kind::Keepalived => (
            lab.start_keepalived_text(N1, &tracked_conf(&flag)),
            lab.start_lvsd_text(N2, &peer_conf(), false),
        ),
    };
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(8)).is_some(),
        "{kind:?} on n1 never master of both: {}",
        tracked.log_text()
    );
    if matches!(kind, Kind::Lvsd) {
        let log = tracked.log_text();
        assert!(!log.contains("does not implement"), "{log}");
        assert_eq!(tracked.instance_states(), ["A=MASTER", "B=MASTER"]);
    }

    // The group's interface goes down: both members FAULT, both VIPs on the peer.
    let t = Instant::now();
    ip(&["ip", "link", "set", "eth1", "down"]);
    assert!(
        lab.all_on(N2, N1, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: eth1 down did not move both VIPs: {}",
        tracked.log_text()
    );
    let if_down = t.elapsed();
    if matches!(kind, Kind::Lvsd) {
        assert_eq!(tracked.instance_states(), ["A=FAULT", "B=FAULT"]);
    }
    ip(&["ip", "link", "set", "eth1", "up"]);
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: eth1 up did not bring both VIPs back: {}",
        tracked.log_text()
    );

    // The group's script fails: the same.
    let t = Instant::now();
    std::fs::remove_file(&flag).expect("remove flag");
    assert!(
        lab.all_on(N2, N1, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: failing script did not move both VIPs: {}",
        tracked.log_text()
    );
    let script = t.elapsed();
    if matches!(kind, Kind::Lvsd) {
        assert_eq!(tracked.instance_states(), ["A=FAULT", "B=FAULT"]);
    }
    std::fs::write(&flag, "").expect("flag file");
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: script back did not bring both VIPs back: {}",
        tracked.log_text()
    );
    drop(tracked);
    drop(_peer);
    // Killed daemons leave their addresses: clear them for the next run.
    for n in [N1, N2] {
        for v in VIPS {
            let _ = lab.exec(n, &["ip", "addr", "del", &format!("{v}/24"), "dev", "eth0"]);
        }
    }
    (if_down, script)
}

#[test]
fn group_level_interface_and_script_take_every_member_to_fault_as_keepalived() {
    let lab = Lab::new("vxsg");
    let ours = scenario(&lab, Kind::Lvsd);
    let theirs = scenario(&lab, Kind::Keepalived);
    eprintln!(
        "sync-group track_interface down -> both VIPs on peer: lvsd {:?}, keepalived {:?}",
        ours.0, theirs.0
    );
    eprintln!(
        "sync-group track_script fails (interval 1 s) -> both VIPs on peer: lvsd {:?}, keepalived {:?}",
        ours.1, theirs.1
    );
    // Interface tracking is event driven in both: well under a second.
    assert!(ours.0 < Duration::from_millis(1000), "{ours:?}");
    // The script runs every second: at most one interval plus the run.
    assert!(ours.1 < Duration::from_millis(2500), "{ours:?}");
}
