//! lvsd against lvsd (and keepalived 2.2.7's bfd process) in the BFD lab (tests/bfd_lab):
//! sessions over IPv4, IPv6 and multihop with a passive side, detection of a silent peer on
//! the wire, a weighted `track_bfd` moving the VRRP master, and `-B` turning BFD off.

mod bfd_lab;

use std::time::Duration;

use bfd_lab::{Lab, Lvsd, Observer, detection_ms, wait_until};
use lvsd::bfd::packet::{Diag, State};

fn side(me: u8, peer: u8, passive: bool) -> String {
    let p = if passive { "    passive\n" } else { "" };
    format!(
        "bfd_instance peer {{
    neighbor_ip 10.77.0.{peer}
    source_ip 10.77.0.{me}
    min_rx 50
    min_tx 50
    multiplier 3
{p}}}
bfd_instance peer6 {{
    neighbor_ip fd77::{peer}
    source_ip fd77::{me}
    min_rx 100
    min_tx 100
    multiplier 3
}}
bfd_instance peer_mh {{
    neighbor_ip 10.77.0.{}
    source_ip 10.77.0.{}
    multihop
    max_hops 2
    min_rx 100
    min_tx 100
    multiplier 3
}}
",
        peer + 10,
        me + 10
    )
}

fn vrrp(state: &str, prio: u8, track: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 78
    priority {prio}
    advert_int 1
    virtual_ipaddress {{
        10.77.0.100/24
    }}
{track}}}
"
    )
}

const DROP_BFD_OUT: &str = "nft -f - <<'EOF'\ntable inet bfdlab {\n chain out {\n  type filter hook output priority 0;\n  udp dport { 3784, 4784 } drop\n }\n}\nEOF";

/// The session `name` as `/status` shows it, and its `lvsd_bfd_session_state` sample.
fn bfd_seen(d: &Lvsd, name: &str) -> (serde_json::Value, Option<String>) {
    let status: serde_json::Value = serde_json::from_str(&d.get("/status")).unwrap();
    let s = status["bfd"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == name).cloned())
        .unwrap_or(serde_json::Value::Null);
    let metrics = d.get("/metrics");
    let prefix = format!("lvsd_bfd_session_state{{name=\"{name}\",");
    let sample = metrics
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string);
    (s, sample)
}

#[test]
fn status_and_metrics_show_sessions_up_then_down_when_the_peer_is_cut() {
    let lab = Lab::new("s");
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &side(2, 3, false), &[]);
    let b = Lvsd::start(&lab.b, &lab.dir, "b", &side(3, 2, true), &[]);
    assert!(
        a.wait_log(Duration::from_secs(10), &["BFD instance peer ", "-> Up"]),
        "peer not up:\n{}\n{}",
        a.log_text(),
        b.log_text()
    );
    // Past the Poll Sequence that moves both sides from the idle to the configured rate.
    std::thread::sleep(Duration::from_secs(1));
    let (s, sample) = bfd_seen(&a, "peer");
    assert_eq!(s["state"], "Up", "{s}");
    assert_eq!(s["remote_state"], "Up", "{s}");
    assert_eq!(s["neighbor"], "10.77.0.3", "{s}");
    assert_eq!(s["source"], "10.77.0.2", "{s}");
    // Both sides ask for 50 ms; detection is 3 × 50 ms.
    assert_eq!(s["tx_interval_us"], 50_000, "{s}");
    assert_eq!(s["rx_interval_us"], 50_000, "{s}");
    assert_eq!(s["detection_time_us"], 150_000, "{s}");
    assert!(s["transitions"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert!(s["received"].as_u64().unwrap_or(0) > 0, "{s}");
    assert_eq!(sample.as_deref(), Some("1"), "{s}");

    // b's BFD goes silent: a's session goes Down and both views follow.
    lab.b.sh(DROP_BFD_OUT);
    let down = wait_until(Duration::from_secs(5), || {
        let (s, sample) = bfd_seen(&a, "peer");
        s["state"] == "Down" && sample.as_deref() == Some("0")
    });
    let (s, _) = bfd_seen(&a, "peer");
    assert!(down.is_some(), "still {s}\n{}", a.log_text());
    assert_eq!(s["diag"], Diag::DetectionTimeExpired.to_string(), "{s}");
    let m = a.get("/metrics");
    assert!(
        m.contains("# HELP lvsd_bfd_session_transitions_total ")
            && m.contains(
                "lvsd_bfd_session_transitions_total{name=\"peer\",neighbor=\"10.77.0.3\"}"
            ),
        "{m}"
    );
    drop(b);
}

#[test]
fn lvsd_pair_weighted_track_bfd_moves_the_master_and_no_bfd_turns_it_off() {
    let lab = Lab::new("p");
    let obs = Observer::start(&lab.a, "eth0");
    let a_conf = side(2, 3, false)
        + &vrrp(
            "MASTER",
            150,
            "    track_bfd {\n        peer weight -60\n    }\n",
        );
    let b_conf = side(3, 2, true) + &vrrp("BACKUP", 100, "");
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &a_conf, &[]);
    let b = Lvsd::start(&lab.b, &lab.dir, "b", &b_conf, &[]);
    for d in [&a, &b] {
        for s in ["peer", "peer6", "peer_mh"] {
            assert!(
                d.wait_log(
                    Duration::from_secs(10),
                    &[&format!("BFD instance {s} "), "-> Up"]
                ),
                "{s} not up:\n{}",
                d.log_text()
            );
        }
    }
    // The passive side (b's `peer`) never spoke first.
    let seen = obs.seen();
    let first_b = seen
        .iter()
        .find(|s| s.src.to_string() == "10.77.0.3")
        .unwrap();
    let first_a = seen
        .iter()
        .find(|s| s.src.to_string() == "10.77.0.2")
        .unwrap();
    assert!(
        first_a.at < first_b.at && first_b.c.your_disc != 0,
        "{first_b:?}"
    );
    assert!(seen.iter().any(|s| s.dport == 4784 && s.ttl == 255));
    assert!(seen.iter().any(|s| s.src.is_ipv6() && s.ttl == 255));
    let t = wait_until(Duration::from_secs(15), || Lab::has(&lab.a, "10.77.0.100"));
    assert!(t.is_some(), "a never master:\n{}", a.log_text());

    // b's BFD goes silent (VRRP still flows): a detects after 3 × 50 ms, its priority drops
    // to 150 - 60 = 90 and b (100) preempts.
    std::thread::sleep(Duration::from_millis(500));
    obs.clear();
    std::thread::sleep(Duration::from_millis(300));
    lab.b.sh(DROP_BFD_OUT);
    let took = wait_until(Duration::from_secs(5), || Lab::has(&lab.b, "10.77.0.100"))
        .unwrap_or_else(|| panic!("b never took over:\n{}\n{}", a.log_text(), b.log_text()));
    let seen = obs.seen();
    let down = seen
        .iter()
        .find(|s| {
            s.src.to_string() == "10.77.0.2"
                && s.c.state == State::Down
                && s.c.diag == Diag::DetectionTimeExpired
        })
        .expect("a's Down packet");
    let last = seen
        .iter()
        .filter(|s| s.src.to_string() == "10.77.0.3" && s.at < down.at)
        .map(|s| s.at)
        .fold(f64::NAN, f64::max);
    let d = (down.at - last) * 1000.0;
    eprintln!(
        "lvsd detected lvsd's silence after {d:.1} ms (3 x 50 = 150 ms); b master after {took:?}"
    );
    assert!((149.0..=190.0).contains(&d), "detection {d} ms");
    assert!(wait_until(Duration::from_secs(2), || !Lab::has(&lab.a, "10.77.0.100")).is_some());

    // b restarted with -B: no BFD at all (nothing sent to 3784/4784), a's sessions stay down.
    drop(b);
    lab.b.sh("nft delete table inet bfdlab");
    obs.clear();
    let b = Lvsd::start(&lab.b, &lab.dir, "b2", &side(3, 2, true), &["-B"]);
    std::thread::sleep(Duration::from_secs(2));
    let from_b: Vec<_> = obs
        .seen()
        .into_iter()
        .filter(|s| s.src.to_string() == "10.77.0.3")
        .collect();
    assert!(from_b.is_empty(), "-B still sent BFD: {from_b:?}");
    assert!(!b.log_text().contains("BFD instance"), "{}", b.log_text());
    assert!(!b.log_text().is_empty());
}

/// keepalived 2.2.7 in `b` with `conf`, its own pid files; killed with the namespace.
fn keepalived(lab: &Lab, conf: &str) -> std::process::Child {
    let d = lab.dir.join("keepalived");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("keepalived.conf"), conf).unwrap();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.b.0,
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-f",
        ])
        .arg(d.join("keepalived.conf"))
        .args([
            "-p",
            &p("k.pid"),
            "-r",
            &p("v.pid"),
            "-c",
            &p("c.pid"),
            "-b",
            &p("b.pid"),
        ])
        .stdout(std::fs::File::create(d.join("log")).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("keepalived (Debian package keepalived) must be installed")
}

#[test]
fn lvsd_and_keepalived_bring_a_session_up_and_detect_each_other() {
    let lab = Lab::new("k");
    let obs = Observer::start(&lab.a, "eth0");
    // max_hops on both sides: keepalived's meaning (TTL check relaxed, still port 3784).
    let conf = |me: u8, peer: u8| {
        format!(
            "bfd_instance s {{\n    neighbor_ip 10.77.0.{peer}\n    source_ip 10.77.0.{me}\n    min_rx 100\n    min_tx 100\n    multiplier 3\n    max_hops 5\n}}\n"
        )
    };
    let mut k = keepalived(&lab, &conf(3, 2));
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &conf(2, 3), &[]);
    assert!(
        a.wait_log(Duration::from_secs(10), &["BFD instance s ", "-> Up"]),
        "{}",
        a.log_text()
    );
    let up = wait_until(Duration::from_secs(5), || {
        obs.seen()
            .iter()
            .any(|s| s.src.to_string() == "10.77.0.3" && s.c.state == State::Up)
    });
    assert!(up.is_some(), "keepalived never said Up: {:#?}", obs.seen());
    assert!(
        obs.seen().iter().all(|s| s.dport == 3784),
        "max_hops alone stays on 3784"
    );

    // keepalived silent: lvsd detects after 3 × 100 ms.
    std::thread::sleep(Duration::from_millis(500));
    obs.clear();
    std::thread::sleep(Duration::from_millis(300));
    lab.b.sh(DROP_BFD_OUT);
    assert!(a.wait_log(Duration::from_secs(3), &["BFD instance s ", "Up -> Down"]));
    std::thread::sleep(Duration::from_millis(100));
    let d = detection_ms(&obs.seen(), "10.77.0.2", "10.77.0.3");
    eprintln!("lvsd detected keepalived's silence after {d:.1} ms (3 x 100 = 300 ms)");
    assert!((299.0..=340.0).contains(&d), "lvsd detection {d} ms");
    lab.b.sh("nft delete table inet bfdlab");
    let again = wait_until(Duration::from_secs(10), || {
        a.log_text().matches("-> Up").count() >= 2
    });
    assert!(again.is_some(), "no second Up:\n{}", a.log_text());

    // lvsd silent: keepalived detects (its Down packet, diagnostic 1).
    std::thread::sleep(Duration::from_secs(1));
    obs.clear();
    std::thread::sleep(Duration::from_millis(300));
    lab.a.sh(DROP_BFD_OUT);
    let seen_down = wait_until(Duration::from_secs(3), || {
        obs.seen()
            .iter()
            .any(|s| s.src.to_string() == "10.77.0.3" && s.c.diag == Diag::DetectionTimeExpired)
    });
    assert!(
        seen_down.is_some(),
        "keepalived never timed out: {:#?}",
        obs.seen()
    );
    let d = detection_ms(&obs.seen(), "10.77.0.3", "10.77.0.2");
    eprintln!("keepalived detected lvsd's silence after {d:.1} ms (3 x 100 = 300 ms)");
    // keepalived sends its Down with its next periodic packet (up to one interval later).
    assert!((299.0..=450.0).contains(&d), "keepalived detection {d} ms");
    let _ = k.kill();
    let _ = k.wait();
}

#[test]
fn bfd_check_takes_the_real_server_down_with_its_session() {
    let lab = Lab::new("c");
    let events = lab.dir.join("events");
    let notify = |w: &str| format!("\"/bin/sh -c 'echo {w} >> {}'\"", events.display());
    let a_conf = format!(
        "bfd_instance rs {{
    neighbor_ip 10.77.0.3
    source_ip 10.77.0.2
    min_rx 50
    min_tx 50
    multiplier 3
    checker
}}
virtual_server 192.0.2.10 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.77.0.3 80 {{
        notify_up {}
        notify_down {}
        BFD_CHECK {{
            name rs
        }}
    }}
}}
",
        notify("RS_UP"),
        notify("RS_DOWN")
    );
    let b_conf = "bfd_instance d {\n    neighbor_ip 10.77.0.2\n    source_ip 10.77.0.3\n    min_rx 50\n    min_tx 50\n    multiplier 3\n}\n";
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &a_conf, &["--health-check-only"]);
    let _b = Lvsd::start(&lab.b, &lab.dir, "b", b_conf, &[]);
    let text = || std::fs::read_to_string(&events).unwrap_or_default();
    // The real server is in the (dry-run) table with its session Up. Whether it got there by
    // a notified transition depends on which came first, the checker or the session (an
    // initial state is not notified without `rs_init_notifies`).
    assert!(
        a.wait_log(Duration::from_secs(10), &["BFD instance rs ", "-> Up"])
            && a.wait_log(
                Duration::from_secs(10),
                &["not applied: ipvsadm -a -t 192.0.2.10:80 -r 10.77.0.3:80"]
            ),
        "{}",
        a.log_text()
    );
    let ups = text().matches("RS_UP").count();
    // The session drops (b's BFD silenced): the real server goes down with it, after the
    // session's detection time (3 × 50 ms), and leaves the (dry-run) IPVS table.
    let downs = text().matches("RS_DOWN").count();
    lab.b.sh(DROP_BFD_OUT);
    let took = wait_until(Duration::from_secs(3), || {
        text().matches("RS_DOWN").count() > downs
    })
    .unwrap_or_else(|| panic!("no RS_DOWN:\n{}", a.log_text()));
    eprintln!("BFD silence -> notify_down after {took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert!(
        a.log_text()
            .contains("real server 10.77.0.3:80 DOWN: BFD_CHECK rs: session Down"),
        "{}",
        a.log_text()
    );
    assert!(
        a.wait_log(
            Duration::from_secs(2),
            &["not applied: ipvsadm -d -t 192.0.2.10:80 -r 10.77.0.3:80"]
        ),
        "{}",
        a.log_text()
    );
    // Back up when the session is.
    lab.b.sh("nft delete table inet bfdlab");
    assert!(
        wait_until(Duration::from_secs(10), || text().matches("RS_UP").count()
            > ups)
        .is_some(),
        "{}",
        a.log_text()
    );
}

#[test]
fn hostile_datagrams_are_counted_and_dropped_without_touching_the_session() {
    let lab = Lab::new("h");
    let one = |me: u8, peer: u8| {
        format!(
            "bfd_instance s {{\n    neighbor_ip 10.77.0.{peer}\n    source_ip 10.77.0.{me}\n    min_rx 100\n    min_tx 100\n    multiplier 3\n}}\n"
        )
    };
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &one(2, 3), &[]);
    let _b = Lvsd::start(&lab.b, &lab.dir, "b", &one(3, 2), &[]);
    assert!(
        a.wait_log(Duration::from_secs(10), &["BFD instance s ", "-> Up"]),
        "{}",
        a.log_text()
    );
    // From b's address: garbage, a truncated packet, a valid Down packet with TTL 64 (must
    // be 255 single hop), one claiming authentication, and a valid-looking packet for a
    // discriminator nobody has.
    lab.b
        .spawn_in(|| {
            let s = std::net::UdpSocket::bind("10.77.0.3:50000").unwrap();
            let to = "10.77.0.2:3784";
            let mut down = [0u8; 24];
            down[0] = 0x20;
            down[1] = 0x40;
            down[2] = 3;
            down[3] = 24;
            down[7] = 9;
            for _ in 0..50 {
                s.send_to(b"\xff\xff\xff\xff not bfd at all", to).unwrap();
                s.send_to(&down[..10], to).unwrap();
                let mut auth = down;
                auth[1] |= 0x04;
                s.send_to(&auth, to).unwrap();
            }
            s.set_ttl(64).unwrap();
            for _ in 0..50 {
                s.send_to(&down, to).unwrap();
            }
            s.set_ttl(255).unwrap();
            let mut stray = down;
            stray[1] = 0xc0; // Up
            stray[11] = 0x77; // your discriminator 0x77
            for _ in 0..50 {
                s.send_to(&stray, to).unwrap();
            }
        })
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let log = a.log_text();
    assert!(
        log.contains("BFD: dropped a packet from 10.77.0.3:50000"),
        "{log}"
    );
    assert!(
        !log.contains("Up -> Down"),
        "the session was disturbed:\n{log}"
    );
    assert_eq!(log.matches("-> Up").count(), 1);
    // /status and /metrics count them by reason.
    let st: serde_json::Value = serde_json::from_str(&a.get("/status")).unwrap();
    let d = &st["bfd_dropped"];
    assert!(d["malformed"].as_u64().unwrap_or(0) >= 100, "{d}");
    assert_eq!(d["bad_ttl"], 50, "{d}");
    assert_eq!(d["no_session"], 50, "{d}");
    let m = a.get("/metrics");
    for (reason, v) in [("bad_ttl", "50"), ("no_session", "50")] {
        let line = format!("lvsd_bfd_dropped_datagrams_total{{reason=\"{reason}\"}} {v}\n");
        assert!(m.contains(&line), "{line} not in\n{m}");
    }
}

/// Two instances in a sync group that tracks a BFD session at group level: unweighted, the
/// session's loss takes every member to FAULT; weighted (`sync_group_tracking_weight`), it
/// lowers every member's priority. Either way both VIPs move to the peer, and come back
/// when the session does.
#[test]
fn a_sync_groups_track_bfd_moves_all_its_members() {
    let pair = |prio: u8, vrid: u8, vip: u8| {
        vrrp("BACKUP", prio, "")
            .replace("VI_1", &format!("VI_{vrid}"))
            .replace("virtual_router_id 78", &format!("virtual_router_id {vrid}"))
            .replace("10.77.0.100/24", &format!("10.77.0.{vip}/24"))
    };
    let instances = |prio: u8| pair(prio, 78, 100) + &pair(prio, 79, 101);
    for (track, want) in [
        ("    track_bfd {\n        peer\n    }\n", "FAULT"),
        (
            "    sync_group_tracking_weight\n    track_bfd {\n        peer weight -60\n    }\n",
            "BACKUP",
        ),
    ] {
        let lab = Lab::new("g");
        let group = |t: &str| {
            format!(
                "vrrp_sync_group G {{\n    group {{\n        VI_78\n        VI_79\n    }}\n{t}}}\n"
            )
        };
        let a_conf = side(2, 3, false) + &group(track) + &instances(150);
        let b_conf = side(3, 2, true) + &group("") + &instances(100);
        let a = Lvsd::start(&lab.a, &lab.dir, "a", &a_conf, &[]);
        let b = Lvsd::start(&lab.b, &lab.dir, "b", &b_conf, &[]);
        let on = |ns: &_| Lab::has(ns, "10.77.0.100") && Lab::has(ns, "10.77.0.101");
        assert!(
            wait_until(Duration::from_secs(15), || on(&lab.a)).is_some(),
            "a never master of both ({want}):\n{}",
            a.log_text()
        );
        lab.b.sh(DROP_BFD_OUT);
        assert!(
            wait_until(Duration::from_secs(5), || on(&lab.b)
                && !Lab::has(&lab.a, "10.77.0.100"))
            .is_some(),
            "b never took both ({want}):\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        let states: serde_json::Value = serde_json::from_str(&a.get("/status")).unwrap();
        let a_states: Vec<&str> = states["vrrp"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["state"].as_str())
            .collect();
        assert_eq!(
            a_states,
            [want, want],
            "a's members after the session's loss"
        );
        lab.b.sh("nft delete table inet bfdlab");
        assert!(
            wait_until(Duration::from_secs(10), || on(&lab.a)).is_some(),
            "a never took both back ({want}):\n{}",
            a.log_text()
        );
    }
}
