//! `use_vmac_addr` on the namespace LAN (tests/vrrp_lab): an IPv4 instance on eth0 with a VIP
//! on eth0, one on a second interface (`dev eth1`) and an IPv6 eVIP on eth0. Like keepalived
//! 2.2.7 (run with the same configuration in the same run), lvsd makes a VMAC `vrrp.51`
//! (macvlan, 00:00:5e:00:01:33) on eth1 for the eth1 VIP and a second VMAC with the IPv6
//! VRRP MAC (00:00:5e:00:02:33) on eth0 for the eVIP (keepalived names it `vrrpN.51`, N not a
//! rule we could find; lvsd `vrrp.51.2`), puts each address on its VMAC, stays
//! MASTER (the VIP is where it is expected), and removes the VMACs when it stops.

mod vrrp_lab;

use std::time::Duration;

use vrrp_lab::{Kind, Lab};

const N1: u8 = 1;
const VIP0: &str = "10.77.0.100";
const VIP1: &str = "10.88.0.100";
const EVIP6: &str = "fd00:77::100";

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
  virtual_ipaddress_excluded {{
    {EVIP6}/64
  }}
}}
"
    )
}

fn out(lab: &Lab, args: &[&str]) -> String {
    String::from_utf8_lossy(&lab.exec(N1, args).stdout).into_owned()
}

/// Returns the `ip -d link` lines of the two VMACs while running and whether both are gone
/// after stop.
fn run(lab: &Lab, kind: Kind) -> (String, String, bool) {
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
    let link6 = out(lab, &["ip", "-d", "-o", "link", "show"])
        .lines()
        .find(|l| l.contains("00:00:5e:00:02:33"))
        .unwrap_or_default()
        .to_string();
    // `N: NAME@PARENT: …`
    let name6 = link6
        .split(": ")
        .nth(1)
        .and_then(|n| n.split('@').next())
        .unwrap_or("none")
        .to_string();
    let addrs6 = out(lab, &["ip", "-o", "addr", "show", "dev", &name6]);
    let eth0 = out(lab, &["ip", "-o", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs6.contains(EVIP6) && !eth0.contains(EVIP6),
        "{kind:?}: eVIP not on its VMAC: {addrs6} / eth0: {eth0}\n{}",
        d.log_text()
    );
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
    let gone = ["vrrp.51", name6.as_str()]
        .iter()
        .all(|l| !lab.exec(N1, &["ip", "link", "show", l]).status.success());
    for l in ["vrrp.51", name6.as_str()] {
        let _ = lab.exec(N1, &["ip", "link", "del", l]);
    }
    let _ = lab.exec(
        N1,
        &["ip", "addr", "del", &format!("{VIP0}/24"), "dev", "eth0"],
    );
    (link, link6, gone)
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
        "lvsd:       {}\n            {}\nkeepalived: {}\n            {}",
        ours.0.trim(),
        ours.1.trim(),
        theirs.0.trim(),
        theirs.1.trim()
    );
    for (who, (link, link6, gone)) in [("lvsd", &ours), ("keepalived", &theirs)] {
        assert!(link.contains("vrrp.51@eth1"), "{who}: {link}");
        assert!(link.contains("00:00:5e:00:01:33"), "{who}: {link}");
        assert!(link.contains("macvlan"), "{who}: {link}");
        assert!(link6.contains("@eth0"), "{who}: {link6}");
        assert!(link6.contains("macvlan"), "{who}: {link6}");
        assert!(gone, "{who} left a VMAC behind");
    }
}
