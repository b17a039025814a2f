//! keepalived's nftables firewall for `no_accept` (global_defs `nftables TABLE`,
//! `nftables_priority`, `nftables_counters`), run side by side with keepalived 2.2.7 in the
//! same namespace LAN (tests/vrrp_lab): the same `ip`/`ip6` tables, sets, chains and rules
//! while master, while backup and after exit; a client's pings to the VIPs of a no_accept
//! master are dropped (and counted), the real addresses answer, and after failover the
//! new master (accept) answers on the VIPs.

mod vrrp_lab;

use std::time::Duration;

use lvsd::nft::ruleset::{Shape, comparable_text, observed_shape};
use vrrp_lab::{Kind, Lab};

const N1: u8 = 1;
const N2: u8 = 2;
const TABLE: &str = "lvnft";

/// Two instances (IPv4 vrid 51, IPv6 vrid 61 with a link-local VIP), advert 0.2 s.
fn conf(priority: u8, no_accept: bool) -> String {
    let mode = if no_accept { "no_accept" } else { "accept" };
    let inst = |name: &str, vrid: u8, vips: &[&str], excl: &[&str]| {
        // dont_track_primary: link-local VIPs matched by interface name (nftables_ifindex
        // not set).
        let by_name = if vrid == 62 {
            "\n  dont_track_primary"
        } else {
            ""
        };
        format!(
            "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0{by_name}\n  virtual_router_id {vrid}\n  \
             priority {priority}\n  advert_int 0.2\n  version 3\n  {mode}\n  \
             virtual_ipaddress {{\n{}  }}\n  virtual_ipaddress_excluded {{\n{}  }}\n}}\n",
            vips.iter()
                .map(|v| format!("    {v}\n"))
                .collect::<String>(),
            excl.iter()
                .map(|v| format!("    {v}\n"))
                .collect::<String>(),
        )
    };
    format!(
        "global_defs {{\n  router_id lab\n  nftables {TABLE}\n  nftables_priority -5\n  nftables_counters\n}}\n{}{}",
        inst("VI_4", 51, &["10.77.0.100/24"], &["10.77.0.101/24"]),
        inst(
            "VI_6",
            61,
            &["fe80::100/64", "fd00:77::100/64"],
            &["fd00:77::101/64"]
        ),
    ) + &inst("VI_7", 62, &["fe80::200/64", "fd00:77::200/64"], &[])
}

/// `nft list table` of one family with counter values and set elements left out (their
/// order is the kernel's hash order), and its shape (elements included, order-free).
#[derive(Debug, PartialEq)]
struct Listing {
    text: String,
    shape: Option<Shape>,
}

fn listing(lab: &Lab, family: &str) -> Listing {
    let o = lab.exec(N1, &["nft", "list", "table", family, TABLE]);
    if !o.status.success() {
        return Listing {
            text: String::new(),
            shape: None,
        };
    }
    let text = comparable_text(&String::from_utf8_lossy(&o.stdout));
    let j = lab.exec(N1, &["nft", "-j", "list", "table", family, TABLE]);
    let shape = serde_json::from_slice(&j.stdout)
        .ok()
        .map(|v| observed_shape(&v));
    Listing { text, shape }
}

/// Packets the `in` chain of `family` dropped (nftables_counters).
fn dropped(lab: &Lab, family: &str) -> u64 {
    let o = lab.exec(N1, &["nft", "list", "chain", family, TABLE, "in"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut total = 0;
    let mut it = text.split_whitespace();
    while let Some(w) = it.next() {
        if w == "packets" {
            total += it.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

#[derive(Debug, PartialEq)]
struct Run {
    master: [Listing; 2],
    backup: [Listing; 2],
    after_exit: [Listing; 2],
}

fn tables(lab: &Lab) -> [Listing; 2] {
    [listing(lab, "ip"), listing(lab, "ip6")]
}

/// `kind` on N1 (priority 150, no_accept) alone, then a keepalived with priority 200 and
/// `accept` on N2 takes over, then N1 stops.
fn run(lab: &Lab, kind: Kind) -> Run {
    let mut a = match kind {
        Kind::Lvsd => lab.start_lvsd_text(N1, &conf(150, true), false),
        Kind::Keepalived => lab.start_keepalived_text(N1, &conf(150, true)),
    };
    for vip in ["10.77.0.100", "10.77.0.101", "fd00:77::100", "fd00:77::200"] {
        assert!(
            lab.wait_for(N1, vip, true, Duration::from_secs(5))
                .is_some(),
            "{kind:?} did not become master with {vip}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let master = tables(lab);
    let before = dropped(lab, "ip") + dropped(lab, "ip6");
    for vip in ["10.77.0.100", "10.77.0.101", "fd00:77::100", "fd00:77::200"] {
        assert!(
            !lab.ping(vip),
            "{kind:?}: a no_accept master answered on {vip}"
        );
    }
    assert!(
        lab.ping("10.77.0.1"),
        "{kind:?}: the real address must answer"
    );
    assert!(
        lab.ping("fd00:77::1"),
        "{kind:?}: the real address must answer"
    );
    let after = dropped(lab, "ip") + dropped(lab, "ip6");
    assert!(
        after >= before + 3,
        "{kind:?}: the drops were not counted ({before} -> {after})"
    );
    let mut peer = lab.start_keepalived_text(N2, &conf(200, false));
    for vip in ["10.77.0.100", "fd00:77::100", "fd00:77::200"] {
        assert!(
            lab.wait_for(N1, vip, false, Duration::from_secs(5))
                .is_some(),
            "{kind:?} kept {vip} against a higher priority"
        );
        assert!(
            lab.wait_for(N2, vip, true, Duration::from_secs(5))
                .is_some(),
            "the peer did not take {vip}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let backup = tables(lab);
    assert!(
        lab.ping("10.77.0.100"),
        "the accept master (N2) must answer on the VIP"
    );
    a.term();
    a.wait();
    let after_exit = tables(lab);
    peer.term();
    peer.wait();
    Run {
        master,
        backup,
        after_exit,
    }
}

#[test]
fn no_accept_tables_match_keepalived_through_failover() {
    let lab = Lab::new("nf");
    let ka = run(&lab, Kind::Keepalived);
    let lv = run(&lab, Kind::Lvsd);
    // What keepalived wrote is what we expect lvsd to write: check it says what we think.
    let m4 = ka.master[0].shape.as_ref().expect("keepalived's ip table");
    assert_eq!(
        m4.sets["vips"],
        ["10.77.0.100", "10.77.0.101"].map(String::from).into()
    );
    assert!(
        ka.master[0]
            .text
            .contains("type filter hook input priority filter - 5")
    );
    assert!(
        ka.master[0]
            .text
            .contains("ip daddr @vips counter packets bytes drop"),
        "{}",
        ka.master[0].text
    );
    let m6 = ka.master[1].shape.as_ref().expect("keepalived's ip6 table");
    assert_eq!(
        m6.sets["vips"],
        ["fd00:77::100", "fd00:77::101", "fd00:77::200"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        m6.sets["vips_link_local"],
        ["fe80::100 . eth0".to_string()].into()
    );
    assert_eq!(
        m6.sets["vips_link_local_name"],
        ["fe80::200 . eth0".to_string()].into()
    );
    let b4 = ka.backup[0]
        .shape
        .as_ref()
        .expect("keepalived keeps its table as backup");
    assert!(b4.sets["vips"].is_empty());
    assert_eq!(
        ka.after_exit,
        [None, None].map(|s| Listing {
            text: String::new(),
            shape: s
        })
    );
    // lvsd: the same, side by side.
    assert_eq!(
        lv.master, ka.master,
        "master tables differ from keepalived's"
    );
    assert_eq!(
        lv.backup, ka.backup,
        "backup tables differ from keepalived's"
    );
    assert_eq!(lv.after_exit, ka.after_exit, "tables left after exit");
}

/// Level-triggered: a table something else removed (`systemctl restart nftables` flushes the
/// ruleset) is back within the resync period, and a table that is right is never rewritten
/// (its counters survive).
#[test]
fn removed_table_is_restored_and_a_right_one_left_alone() {
    let lab = Lab::new("nr");
    let a = lab.start_lvsd_text(N1, &conf(150, true), false);
    assert!(
        lab.wait_for(N1, "10.77.0.100", true, Duration::from_secs(5))
            .is_some()
    );
    let writes = || {
        a.log_text()
            .lines()
            .filter(|l| l.contains("VRRP firewall: table") && l.contains("Written"))
            .count()
    };
    // All three instances MASTER: each transition rewrites its family's table.
    let t0 = std::time::Instant::now();
    while a.log_text().matches("entering MASTER").count() < 3
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        a.log_text().matches("entering MASTER").count(),
        3,
        "{}",
        a.log_text()
    );
    assert!(!lab.ping("10.77.0.100"));
    let before = (writes(), dropped(&lab, "ip"));
    std::thread::sleep(lvsd::nft::vrrp::RESYNC + Duration::from_secs(1));
    assert_eq!(
        writes(),
        before.0,
        "a right table was rewritten:\n{}",
        a.log_text()
    );
    assert!(dropped(&lab, "ip") >= before.1, "counters were reset");
    let o = lab.exec(N1, &["nft", "flush", "ruleset"]);
    assert!(o.status.success());
    assert!(lab.ping("10.77.0.100"), "the flush did not open the VIP");
    let t0 = std::time::Instant::now();
    while listing(&lab, "ip").shape.is_none() && t0.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t0.elapsed() < lvsd::nft::vrrp::RESYNC + Duration::from_secs(1),
        "table not restored within the resync period ({:?})",
        t0.elapsed()
    );
    let shape = listing(&lab, "ip").shape.expect("ip table back");
    assert_eq!(
        shape.sets["vips"],
        ["10.77.0.100", "10.77.0.101"].map(String::from).into()
    );
    assert!(!lab.ping("10.77.0.100"), "the restored table does not drop");
    assert!(
        listing(&lab, "ip6").shape.is_some(),
        "ip6 table not restored"
    );
}
