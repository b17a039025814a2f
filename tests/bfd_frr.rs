//! lvsd's BFD against FRR 8.4's bfdd, in namespaces (tests/bfd_lab): sessions come up single
//! hop (IPv4, IPv6) and multihop; the negotiated intervals are the ones on the wire; each side
//! detects the other's silence at detect-mult × the negotiated interval, measured to the
//! millisecond from kernel timestamps; and a VRRP master tracking the session fails over when
//! it drops. FRR is required: without it these tests fail.

mod bfd_lab;

use std::time::Duration;

use bfd_lab::{Lab, Lvsd, Observer, detection_ms, frr_peer, median_gap_ms, wait_until};
use lvsd::bfd::packet::State;

/// FRR: receive 100 ms, transmit 120 ms, multiplier 3 on the single-hop IPv4 peer.
const FRR_CONF: &str = "\
bfd
 peer 10.77.0.2 local-address 10.77.0.1
  receive-interval 100
  transmit-interval 120
  detect-multiplier 3
 !
 peer fd77::2 local-address fd77::1
  receive-interval 100
  transmit-interval 100
 !
 peer 10.77.0.12 multihop local-address 10.77.0.11
  receive-interval 100
  transmit-interval 100
 !
!
";

/// lvsd: min_rx 150, min_tx 50, multiplier 4 towards FRR, so that every negotiated figure
/// differs: lvsd sends every max(50, 100) = 100 ms, FRR every max(120, 150) = 150 ms; lvsd
/// detects after 3 × max(150, 120) = 450 ms, FRR after 4 × max(100, 50) = 400 ms.
const LVSD_BFD: &str = "\
bfd_instance frr {
    neighbor_ip 10.77.0.1
    source_ip 10.77.0.2
    min_rx 150
    min_tx 50
    multiplier 4
}
bfd_instance frr6 {
    neighbor_ip fd77::1
    source_ip fd77::2
    min_rx 100
    min_tx 100
    multiplier 3
}
bfd_instance frr_mh {
    neighbor_ip 10.77.0.11
    source_ip 10.77.0.12
    multihop
    max_hops 5
    min_rx 100
    min_tx 100
    multiplier 3
}
";

fn nft(ns: &bfd_lab::Ns, rules: &str) {
    ns.sh(&format!("nft -f - <<'EOF'\n{rules}\nEOF"));
}

const DROP_BFD_OUT: &str = "table inet bfdlab {\n chain out {\n  type filter hook output priority 0;\n  udp dport 3784 drop\n }\n}";

#[test]
fn frr_sessions_come_up_negotiate_and_detect_silence_to_the_millisecond() {
    let lab = Lab::new("n");
    let frr = lab.frr(FRR_CONF);
    let obs = Observer::start(&lab.a, "eth0");
    let lvsd = Lvsd::start(&lab.a, &lab.dir, "a", LVSD_BFD, &[]);

    // All three sessions Up on both sides.
    for (name, peer) in [
        ("frr", "10.77.0.2"),
        ("frr6", "fd77::2"),
        ("frr_mh", "10.77.0.12"),
    ] {
        assert!(
            lvsd.wait_log(
                Duration::from_secs(10),
                &[&format!("BFD instance {name} "), "-> Up"]
            ),
            "lvsd session {name} not up:\n{}",
            lvsd.log_text()
        );
        let up = wait_until(Duration::from_secs(5), || {
            frr_peer(&frr, peer)["status"] == "up"
        });
        assert!(up.is_some(), "FRR peer {peer}: {}", frr_peer(&frr, peer));
    }
    // FRR learned lvsd's timers; it transmits at the negotiated 150 ms.
    let p = frr_peer(&frr, "10.77.0.2");
    assert_eq!(p["remote-receive-interval"], 150, "{p}");
    assert_eq!(p["remote-transmit-interval"], 50, "{p}");
    assert_eq!(p["remote-detect-multiplier"], 4, "{p}");
    assert_eq!(p["multihop"], false, "{p}");
    assert_eq!(frr_peer(&frr, "10.77.0.12")["multihop"], true);

    // On the wire (after the Poll Sequences): TTL 255, source ports 49152-65535, lvsd every
    // 75-100 ms (jitter of 100 ms), FRR every ~150 ms.
    std::thread::sleep(Duration::from_secs(2));
    let seen = obs.seen();
    let settled: Vec<_> = seen
        .iter()
        .filter(|s| s.at > seen[0].at + 2.0)
        .copied()
        .collect();
    let lv = |s: &bfd_lab::Seen| s.outgoing && s.src.to_string() == "10.77.0.2";
    let fr = |s: &bfd_lab::Seen| !s.outgoing && s.src.to_string() == "10.77.0.1";
    for s in settled.iter().filter(|s| s.outgoing) {
        assert_eq!(s.ttl, 255, "{s:?}");
        assert!(s.sport >= 49152, "{s:?}");
    }
    assert!(
        settled.iter().any(|s| s.outgoing && s.dport == 4784),
        "multihop goes to 4784"
    );
    let (g_lvsd, g_frr) = (median_gap_ms(&settled, lv), median_gap_ms(&settled, fr));
    eprintln!("median gaps: lvsd {g_lvsd:.1} ms (want 75-100), FRR {g_frr:.1} ms (want ~150)");
    assert!((74.0..=101.0).contains(&g_lvsd), "lvsd gap {g_lvsd}");
    assert!((110.0..=151.0).contains(&g_frr), "FRR gap {g_frr}");

    // FRR goes silent (its BFD output dropped): lvsd detects after 3 × 150 = 450 ms.
    obs.clear();
    std::thread::sleep(Duration::from_millis(500));
    nft(&lab.f, DROP_BFD_OUT);
    assert!(lvsd.wait_log(Duration::from_secs(3), &["BFD instance frr ", "Up -> Down"]));
    std::thread::sleep(Duration::from_millis(200));
    let d = detection_ms(&obs.seen(), "10.77.0.2", "10.77.0.1");
    eprintln!("lvsd detected FRR's silence after {d:.1} ms (3 x 150 = 450 ms)");
    // The slack above is scheduling on a shared CI machine; the figure is printed.
    assert!((449.0..=490.0).contains(&d), "lvsd detection {d} ms");
    assert!(lvsd.log_text().contains("control detection time expired"));
    lab.f.sh("nft delete table inet bfdlab");
    assert!(
        wait_until(
            Duration::from_secs(10),
            || frr_peer(&frr, "10.77.0.2")["status"] == "up"
        )
        .is_some()
    );

    // lvsd goes silent: FRR detects after 4 × 100 = 400 ms.
    std::thread::sleep(Duration::from_secs(2));
    obs.clear();
    // lvsd's own packets are seen up to the cut (the rule drops them before the capture point).
    std::thread::sleep(Duration::from_millis(500));
    nft(&lab.a, DROP_BFD_OUT);
    assert!(
        wait_until(
            Duration::from_secs(3),
            || frr_peer(&frr, "10.77.0.2")["status"] == "down"
        )
        .is_some()
    );
    std::thread::sleep(Duration::from_millis(300));
    let d = detection_ms(&obs.seen(), "10.77.0.1", "10.77.0.2");
    eprintln!("FRR detected lvsd's silence after {d:.1} ms (4 x 100 = 400 ms)");
    assert!((399.0..=450.0).contains(&d), "FRR detection {d} ms");
    lab.a.sh("nft delete table inet bfdlab");
    assert!(
        wait_until(
            Duration::from_secs(10),
            || frr_peer(&frr, "10.77.0.2")["status"] == "up"
        )
        .is_some()
    );

    // lvsd stops: FRR hears AdminDown at once (no detection wait).
    lvsd.signal(nix::sys::signal::Signal::SIGTERM);
    let t = wait_until(Duration::from_secs(2), || {
        frr_peer(&frr, "10.77.0.2")["remote-diagnostic"] == "administratively down"
    });
    assert!(t.is_some(), "{}", frr_peer(&frr, "10.77.0.2"));
}

fn vrrp(name: &str, state: &str, prio: u8, track: &str) -> String {
    format!(
        "vrrp_instance {name} {{
    state {state}
    interface eth0
    virtual_router_id 77
    priority {prio}
    advert_int 1
    virtual_ipaddress {{
        10.77.0.100/24
    }}
{track}}}
"
    )
}

#[test]
fn vrrp_master_tracking_frr_bfd_fails_over_when_the_session_drops() {
    let lab = Lab::new("v");
    let frr = lab.frr("bfd\n peer 10.77.0.2 local-address 10.77.0.1\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n");
    let a_conf = format!(
        "bfd_instance frr {{\n    neighbor_ip 10.77.0.1\n    source_ip 10.77.0.2\n    min_rx 100\n    min_tx 100\n    multiplier 3\n}}\n{}",
        vrrp(
            "VI_1",
            "MASTER",
            150,
            "    track_bfd {\n        frr\n    }\n"
        )
    );
    let a = Lvsd::start(&lab.a, &lab.dir, "a", &a_conf, &[]);
    let b = Lvsd::start(&lab.b, &lab.dir, "b", &vrrp("VI_1", "BACKUP", 100, ""), &[]);
    let t = wait_until(Duration::from_secs(15), || Lab::has(&lab.a, "10.77.0.100"));
    assert!(t.is_some(), "a never became master:\n{}", a.log_text());
    assert!(wait_until(Duration::from_secs(5), || !Lab::has(&lab.b, "10.77.0.100")).is_some());

    // bfdd dies: a's session times out (3 × 100 ms), a goes FAULT, b takes the VIP.
    let pid = std::fs::read_to_string(lab.dir.join("frr/run/bfdd.pid")).unwrap();
    bfd_lab::run(std::process::Command::new("kill").args(["-9", pid.trim()]));
    let took = wait_until(Duration::from_secs(5), || Lab::has(&lab.b, "10.77.0.100"))
        .unwrap_or_else(|| panic!("b never took the VIP:\n{}\n{}", a.log_text(), b.log_text()));
    let gone = wait_until(Duration::from_secs(2), || !Lab::has(&lab.a, "10.77.0.100"));
    eprintln!(
        "bfdd killed -> b holds the VIP after {:?} (detection 300 ms + takeover); a released it: {gone:?}",
        took
    );
    assert!(gone.is_some(), "a kept the VIP");
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    assert!(
        a.log_text().contains("FAULT") || a.log_text().contains("Fault"),
        "{}",
        a.log_text()
    );
    drop(frr);
}

#[test]
fn a_reload_changes_timers_through_a_poll_sequence_without_a_flap() {
    let lab = Lab::new("r");
    let frr = lab.frr("bfd\n peer 10.77.0.2 local-address 10.77.0.1\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n");
    let obs = Observer::start(&lab.a, "eth0");
    let conf = |tx: u32| {
        format!(
            "bfd_instance frr {{\n    neighbor_ip 10.77.0.1\n    source_ip 10.77.0.2\n    min_rx 100\n    min_tx {tx}\n    multiplier 3\n}}\n"
        )
    };
    let lvsd = Lvsd::start(&lab.a, &lab.dir, "a", &conf(100), &[]);
    assert!(
        wait_until(
            Duration::from_secs(10),
            || frr_peer(&frr, "10.77.0.2")["status"] == "up"
        )
        .is_some()
    );
    std::thread::sleep(Duration::from_millis(500));
    obs.clear();
    lvsd.reload(&conf(300));
    let learned = wait_until(Duration::from_secs(5), || {
        frr_peer(&frr, "10.77.0.2")["remote-transmit-interval"] == 300
    });
    assert!(learned.is_some(), "{}", frr_peer(&frr, "10.77.0.2"));
    std::thread::sleep(Duration::from_secs(2));
    let seen = obs.seen();
    let ours = |s: &&bfd_lab::Seen| s.src.to_string() == "10.77.0.2";
    let poll = seen
        .iter()
        .filter(ours)
        .find(|s| s.c.poll)
        .expect("a Poll went out");
    assert_eq!(poll.c.desired_min_tx, 300_000);
    let fin = seen
        .iter()
        .find(|s| s.src.to_string() == "10.77.0.1" && s.c.final_ && s.at >= poll.at)
        .expect("FRR answered with a Final");
    // After the Final, lvsd sends every 225-300 ms and the session never left Up.
    let after: Vec<_> = seen
        .iter()
        .filter(ours)
        .filter(|s| s.at > fin.at + 0.35)
        .copied()
        .collect();
    let g = median_gap_ms(&after, |_| true);
    eprintln!(
        "after the reload: Poll -> Final in {:.1} ms, lvsd gap {g:.1} ms",
        (fin.at - poll.at) * 1000.0
    );
    assert!((224.0..=301.0).contains(&g), "gap {g}");
    assert!(
        seen.iter().all(|s| s.c.state == State::Up),
        "the session flapped"
    );
    assert_eq!(
        lvsd.log_text().matches("-> Up").count(),
        1,
        "{}",
        lvsd.log_text()
    );
}
