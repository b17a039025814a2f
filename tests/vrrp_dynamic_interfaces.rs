//! `dynamic_interfaces` on the namespace LAN (tests/vrrp_lab), as a user sees it: the master's
//! interface is deleted and created again under the same name (a new veth, a new ifindex);
//! the instance comes back on the new interface — the VIP is on it and the client sees its
//! adverts again — as keepalived 2.2.7 does.

mod vrrp_lab;

use std::process::Command;
use std::time::{Duration, Instant};

use vrrp_lab::{Daemon, Kind, Lab, Observer};

const N1: u8 = 1;
const N2: u8 = 2;
const VIP: &str = "10.77.0.100";

fn conf(priority: u8) -> String {
    "global_defs {
  dynamic_interfaces
}
vrrp_instance VI_1 {
  interface eth0
  state BACKUP
  virtual_router_id 51
  priority PRIO
  advert_int 0.2
  version 3
  virtual_ipaddress {
    10.77.0.100/24
  }
}
"
    .replace("PRIO", &priority.to_string())
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Deletes node 1's veth (both ends) and creates it again as the lab did: same name, MAC and
/// address, up, on the switch.
fn recreate_eth0(lab: &Lab) {
    let (sw, ns) = (lab.sw(), lab.ns(N1));
    ip(&["-n", &sw, "link", "del", "p1"]);
    std::thread::sleep(Duration::from_millis(800));
    ip(&[
        "-n", &sw, "link", "add", "p1", "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ]);
    ip(&["-n", &sw, "link", "set", "p1", "master", "br0", "up"]);
    ip(&[
        "-n",
        &ns,
        "link",
        "set",
        "eth0",
        "address",
        "02:77:00:00:00:01",
    ]);
    ip(&["-n", &ns, "addr", "add", "10.77.0.1/24", "dev", "eth0"]);
    ip(&["-n", &ns, "link", "set", "eth0", "up"]);
}

fn start(lab: &Lab, kind: Kind) -> Daemon {
    match kind {
        Kind::Lvsd => lab.start_lvsd_text(N1, &conf(150), false),
        Kind::Keepalived => lab.start_keepalived_text(N1, &conf(150)),
    }
}

fn comes_back_on_recreated_interface(kind: Kind, tag: &str) {
    let lab = Lab::new(tag);
    let obs = Observer::start(&lab, vrrp_lab::CLIENT);
    let d = start(&lab, kind);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(5))
            .is_some(),
        "never master: {}",
        d.log_text()
    );
    // A keepalived backup (priority 100) on node 2: it takes over while eth0 is gone and
    // must give way to the master's adverts on the re-created eth0.
    let peer = lab.start_keepalived_text(N2, &conf(100));
    assert!(lab.holds_for(N1, N2, VIP, Duration::from_millis(1000)));
    recreate_eth0(&lab);
    let t0 = Instant::now();
    let back = lab.wait_for(N1, VIP, true, Duration::from_secs(6));
    assert!(
        back.is_some(),
        "{kind:?}: VIP not on the re-created eth0: {}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(600));
    let first = obs.first_from_after("10.77.0.1", t0);
    eprintln!(
        "{kind:?}: VIP back {back:?}, first advert {:?} after re-creation",
        first.map(|f| f - t0)
    );
    assert!(
        first.is_some(),
        "{kind:?}: no advert on the re-created eth0: {}",
        d.log_text()
    );
    // Still master and advertising a second later; the backup gave way.
    assert!(
        lab.wait_for(N2, VIP, false, Duration::from_secs(2))
            .is_some(),
        "{kind:?}: the backup kept the VIP: {}",
        peer.log_text()
    );
    if matches!(kind, Kind::Lvsd) {
        assert!(
            d.log_text().contains("interface re-created"),
            "the restart is logged: {}",
            d.log_text()
        );
    }
    let t1 = Instant::now();
    assert!(
        lab.holds_for(N1, N2, VIP, Duration::from_millis(1000)),
        "{kind:?}: VIP not held by the re-created master alone"
    );
    assert!(
        obs.first_from_after("10.77.0.1", t1).is_some(),
        "{kind:?}: adverts stopped"
    );
}

#[test]
fn lvsd_comes_back_on_a_recreated_interface() {
    comes_back_on_recreated_interface(Kind::Lvsd, "dynif");
}

#[test]
fn keepalived_comes_back_on_a_recreated_interface() {
    comes_back_on_recreated_interface(Kind::Keepalived, "dynik");
}
