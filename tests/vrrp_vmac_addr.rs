//! `use_vmac_addr` on the namespace LAN (tests/vrrp_lab): an instance on eth0 with a VIP on
//! eth0 and one on a second interface (`dev eth1`). Like keepalived 2.2.7 (run with the same
//! configuration in the same run), lvsd makes a VMAC `vrrp.51` (macvlan, 00:00:5e:00:01:33) on
//! eth1, puts the eth1 VIP on it, stays MASTER (the VIP is where it is expected), and removes
//! the VMAC when it stops.

mod vrrp_lab;

use std::time::Duration;

use vrrp_lab::{Kind, Lab};

const N1: u8 = 1;
const VIP0: &str = "10.77.0.100";
const VIP1: &str = "10.88.0.100";

fn conf() -> String {
    format!(
        "vrrp_instance A {{
  interface eth0
  state BACKUP
  virtual_router_id 51
  priority 150
  advert_int 0.2
  version 3
  use_vmac_addr
  virtual_ipaddress {{
    {VIP0}/24
    {VIP1}/24 dev eth1
  }}
}}
"
    )
}

fn out(lab: &Lab, args: &[&str]) -> String {
    String::from_utf8_lossy(&lab.exec(N1, args).stdout).into_owned()
}

/// Returns the `ip -d link` line of the VMAC while running and whether it is gone after stop.
fn run(lab: &Lab, kind: Kind) -> (String, bool) {
    let mut d = match kind {
        Kind::Lvsd => lab.start_lvsd_text(N1, &conf(), false),
        Kind::Keepalived => lab.start_keepalived_text(N1, &conf()),
    };
    assert!(
        lab.wait_for(N1, VIP0, true, Duration::from_secs(5))
            .is_some(),
        "{kind:?} never master: {}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let link = out(lab, &["ip", "-d", "-o", "link", "show", "vrrp.51"]);
    let addrs = out(lab, &["ip", "-o", "addr", "show", "dev", "vrrp.51"]);
    let eth1 = out(lab, &["ip", "-o", "addr", "show", "dev", "eth1"]);
    assert!(
        addrs.contains(VIP1),
        "{kind:?}: VIP not on the VMAC: {addrs} {}",
        d.log_text()
    );
    assert!(!eth1.contains(VIP1), "{kind:?}: VIP on eth1 itself: {eth1}");
    assert!(lab.has(N1, VIP0), "{kind:?} left MASTER: {}", d.log_text());
    if kind == Kind::Lvsd {
        assert_eq!(d.instance_status()["state"], "MASTER", "{}", d.log_text());
    }
    d.term();
    d.wait();
    std::thread::sleep(Duration::from_millis(300));
    let gone = !lab
        .exec(N1, &["ip", "link", "show", "vrrp.51"])
        .status
        .success();
    let _ = lab.exec(N1, &["ip", "link", "del", "vrrp.51"]);
    let _ = lab.exec(
        N1,
        &["ip", "addr", "del", &format!("{VIP0}/24"), "dev", "eth0"],
    );
    (link, gone)
}

#[test]
fn use_vmac_addr_puts_the_other_interfaces_vip_on_a_vmac_as_keepalived() {
    let lab = Lab::new("vxva");
    for args in [
        vec![
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
        ],
        vec!["ip", "link", "set", "eth1p", "up"],
        vec!["ip", "link", "set", "eth1", "up"],
        vec!["ip", "addr", "add", "10.88.0.1/24", "dev", "eth1"],
    ] {
        assert!(lab.exec(N1, &args).status.success(), "{args:?}");
    }
    let ours = run(&lab, Kind::Lvsd);
    let theirs = run(&lab, Kind::Keepalived);
    eprintln!(
        "lvsd:       {}\nkeepalived: {}",
        ours.0.trim(),
        theirs.0.trim()
    );
    for (who, (link, gone)) in [("lvsd", &ours), ("keepalived", &theirs)] {
        assert!(link.contains("vrrp.51@eth1"), "{who}: {link}");
        assert!(link.contains("00:00:5e:00:01:33"), "{who}: {link}");
        assert!(link.contains("macvlan"), "{who}: {link}");
        assert!(gone, "{who} left its VMAC behind");
    }
}
