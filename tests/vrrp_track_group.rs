//! Static track groups on the namespace LAN (tests/vrrp_lab): n1 holds a `static_routes` route
//! and a `static_ipaddress` on a second interface, both `track_group TG`, which lists two
//! instances. While the route cannot be put back (its interface is down) and while the address
//! cannot (its interface is gone), both instances are FAULT and their VIPs are on the peer;
//! once the item is back they return. Run with lvsd as n1 (keepalived 2.2.7 the peer) and with
//! keepalived as n1 (lvsd the peer) in the same run; the times are printed side by side.

mod vrrp_lab;

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

fn tracked_conf() -> String {
    format!(
        "track_group TG {{
  group {{
    A
    B
  }}
}}
static_ipaddress {{
  10.88.0.1/24 dev eth1 track_group TG
}}
static_routes {{
  10.99.0.0/24 via 10.88.0.254 dev eth1 track_group TG
}}
{}{}",
        instance("A", 51, 150, VIPS[0]),
        instance("B", 52, 150, VIPS[1])
    )
}

fn peer_conf() -> String {
    instance("A", 51, 100, VIPS[0]) + &instance("B", 52, 100, VIPS[1])
}

/// Time until `node` holds both VIPs and `other` neither.
fn run(lab: &Lab, args: &[&str]) {
    let o = lab.exec(N1, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn add_eth1(lab: &Lab) {
    run(
        lab,
        &[
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
        ],
    );
    run(lab, &["ip", "link", "set", "eth1p", "up"]);
    run(lab, &["ip", "link", "set", "eth1", "up"]);
}

fn route_present(lab: &Lab) -> bool {
    let o = lab.exec(N1, &["ip", "route", "show", "10.99.0.0/24"]);
    String::from_utf8_lossy(&o.stdout).contains("via 10.88.0.254")
}

/// Runs the scenario with `kind` on n1; returns (route lost → VIPs on peer, address lost →
/// VIPs on peer).
fn scenario(lab: &Lab, kind: Kind) -> (Duration, Duration) {
    let _ = lab.exec(N1, &["ip", "link", "del", "eth1"]);
    add_eth1(lab);
    let (tracked, peer) = match kind {
        Kind::Lvsd => (
            lab.start_lvsd_text(N1, &tracked_conf(), false),
            lab.start_keepalived_text(N2, &peer_conf()),
        ),
        Kind::Keepalived => (
            lab.start_keepalived_text(N1, &tracked_conf()),
            lab.start_lvsd_text(N2, &peer_conf(), false),
        ),
    };
    let lvsd = matches!(kind, Kind::Lvsd);
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(8)).is_some(),
        "{kind:?} on n1 never master of both: {}",
        tracked.log_text()
    );
    assert!(
        route_present(lab),
        "{kind:?} did not install the static route"
    );
    assert!(
        lab.exec(N1, &["ip", "-o", "addr", "show", "dev", "eth1"])
            .stdout
            .windows(9)
            .any(|w| w == b"10.88.0.1")
    );
    if lvsd {
        let log = tracked.log_text();
        assert!(!log.contains("does not implement"), "{log}");
        assert_eq!(tracked.instance_states(), ["A=MASTER", "B=MASTER"]);
    }

    // eth1 down: the kernel drops the route and it cannot be added back (no carrier).
    let t = Instant::now();
    run(lab, &["ip", "link", "set", "eth1", "down"]);
    assert!(
        lab.all_on(N2, N1, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: lost static route did not move both VIPs: {}",
        tracked.log_text()
    );
    let route = t.elapsed();
    if lvsd {
        assert_eq!(tracked.instance_states(), ["A=FAULT", "B=FAULT"]);
        let log = tracked.log_text();
        assert!(
            log.contains("(track_group TG) is deleted and cannot be restored: A, B in FAULT"),
            "{log}"
        );
    }
    run(lab, &["ip", "link", "set", "eth1", "up"]);
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(8)).is_some(),
        "{kind:?}: route back did not bring both VIPs back: {}",
        tracked.log_text()
    );
    assert!(route_present(lab));

    // eth1 deleted: the address (and the route) cannot be put back.
    let t = Instant::now();
    run(lab, &["ip", "link", "del", "eth1"]);
    assert!(
        lab.all_on(N2, N1, &VIPS, Duration::from_secs(5)).is_some(),
        "{kind:?}: lost static address did not move both VIPs: {}",
        tracked.log_text()
    );
    let addr = t.elapsed();
    if lvsd {
        assert_eq!(tracked.instance_states(), ["A=FAULT", "B=FAULT"]);
    }
    add_eth1(lab);
    assert!(
        lab.all_on(N1, N2, &VIPS, Duration::from_secs(8)).is_some(),
        "{kind:?}: eth1 back did not bring both VIPs back: {}",
        tracked.log_text()
    );
    drop(tracked);
    drop(peer);
    // Killed daemons leave their addresses: clear them for the next run.
    for n in [N1, N2] {
        for v in VIPS {
            let _ = lab.exec(n, &["ip", "addr", "del", &format!("{v}/24"), "dev", "eth0"]);
        }
    }
    (route, addr)
}

#[test]
fn lost_static_route_or_address_of_a_track_group_faults_its_instances_as_keepalived() {
    let lab = Lab::new("vxtg");
    let ours = scenario(&lab, Kind::Lvsd);
    let theirs = scenario(&lab, Kind::Keepalived);
    eprintln!(
        "track_group static route lost -> both VIPs on peer: lvsd {:?}, keepalived {:?}",
        ours.0, theirs.0
    );
    eprintln!(
        "track_group static address lost -> both VIPs on peer: lvsd {:?}, keepalived {:?}",
        ours.1, theirs.1
    );
    // Both are driven by kernel events in lvsd: well under a second.
    assert!(ours.0 < Duration::from_millis(1000), "{ours:?}");
    assert!(ours.1 < Duration::from_millis(1000), "{ours:?}");
}
