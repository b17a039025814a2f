//! lvsd's VRRP against real keepalived 2.2.7 on a namespace LAN (see tests/vrrp_lab): for
//! v2 with PASS, v3 IPv4 and v3 IPv6, in both roles. Each test checks that the right node holds
//! the VIP, crash (SIGKILL) and graceful (SIGTERM → priority 0) failover times, preemption on
//! restart, that the client's neighbour entry follows through GARP / unsolicited NA, and that
//! neither side logs an invalid packet.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::{Daemon, Kind, Lab, Observer, Spec};

const N1: u8 = 1;
const N2: u8 = 2;

fn mdi(advert: f64, prio: u8) -> f64 {
    3.0 * advert + (256.0 - f64::from(prio)) * advert / 256.0
}

/// n1 (priority 150) and n2 (priority 100); `lvsd_on` says which node runs lvsd, the other
/// runs keepalived. Timings are asserted with slack for a loaded 2-core CI machine.
fn interop(tag: &str, lvsd_on: u8, mk: impl Fn(u8) -> Spec) {
    let lab = Lab::new(tag);
    let kind = |n: u8| {
        if n == lvsd_on {
            Kind::Lvsd
        } else {
            Kind::Keepalived
        }
    };
    let (hi, lo) = (mk(150), mk(100));
    let vip = hi.vip_addrs().last().cloned().expect("a VIP");
    let adv = hi.advert_int;
    let obs = Observer::start(&lab, vrrp_lab::CLIENT);

    // Backup first, then the master: the master takes over after its Master_Down_Interval.
    let mut b: Daemon = lab.start(kind(N2), N2, &lo);
    std::thread::sleep(Duration::from_millis(300));
    let mut a: Daemon = lab.start(kind(N1), N1, &hi);
    let up = lab.wait_for(
        N1,
        &vip,
        true,
        Duration::from_secs_f64(mdi(adv, 150) * 2.0 + 3.0),
    );
    assert!(up.is_some(), "n1 ({:?}) never got {vip}", kind(N1));
    assert!(
        lab.holds_for(N1, N2, &vip, Duration::from_secs_f64(adv * 2.0)),
        "VIP not stable on n1 only"
    );
    for v in hi.vip_addrs() {
        assert!(lab.has(N1, &v), "n1 lacks {v}");
    }
    assert!(lab.ping(&vip), "client cannot reach {vip}");
    assert_eq!(
        lab.neighbour_mac(&vip).as_deref(),
        Some("02:77:00:00:00:01")
    );

    // Crash n1: n2 takes over after Master_Down_Interval (for prio 100).
    let t_kill = Instant::now();
    a.kill9();
    let took = lab
        .wait_for(N2, &vip, true, Duration::from_secs_f64(mdi(adv, 100) + 3.0))
        .expect("no crash failover");
    let want = mdi(adv, 100);
    assert!(
        took.as_secs_f64() > want - 0.3 && took.as_secs_f64() < want + 1.5,
        "crash failover took {took:?}, expected ~{want:.3}s"
    );
    // The client learnt the new MAC from the GARP / NA alone (no traffic since).
    let t = Instant::now();
    while lab.neighbour_mac(&vip).as_deref() != Some("02:77:00:00:00:02")
        && t.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        lab.neighbour_mac(&vip).as_deref(),
        Some("02:77:00:00:00:02"),
        "client neighbour not updated by GARP/NA"
    );
    let src2 = if vip.contains(':') {
        "fe80::77:ff:fe00:2"
    } else {
        "10.77.0.2"
    };
    let gap_start = obs.last_from_before(
        if vip.contains(':') {
            "fe80::77:ff:fe00:1"
        } else {
            "10.77.0.1"
        },
        t_kill,
    );
    let first_new = obs.first_from_after(src2, t_kill);
    if let (Some(s), Some(e)) = (gap_start, first_new) {
        eprintln!(
            "[{tag}] crash failover: VIP after {took:?}, advert gap {:?}",
            e - s
        );
    }

    // Restart n1: it preempts; n2 drops the VIP. (A SIGKILLed daemon leaves its VIP behind;
    // both implementations remove it when they start, so watch n2 rather than n1.)
    a = lab.start(kind(N1), N1, &hi);
    assert!(
        lab.wait_for(
            N2,
            &vip,
            false,
            Duration::from_secs_f64(mdi(adv, 150) * 2.0 + 3.0)
        )
        .is_some(),
        "n1 did not preempt"
    );
    assert!(
        lab.wait_for(N1, &vip, true, Duration::from_secs(2))
            .is_some(),
        "n1 does not hold the VIP after preempting"
    );

    // Graceful stop of n1: priority 0, n2 takes over after its skew time.
    std::thread::sleep(Duration::from_secs_f64(adv * 2.0));
    a.term();
    let took = lab
        .wait_for(N2, &vip, true, Duration::from_secs(5))
        .expect("no graceful failover");
    let skew = (256.0 - 100.0) * adv / 256.0;
    assert!(
        took.as_secs_f64() < skew + 1.0,
        "graceful failover took {took:?}, skew is {skew:.3}s"
    );
    eprintln!("[{tag}] graceful failover: VIP after {took:?}");
    a.wait();
    assert!(!lab.has(N1, &vip), "n1 kept the VIP after SIGTERM");
    b.term();
    b.wait();

    for d in [&a, &b] {
        let bad = d.invalid_packet_lines();
        assert!(
            bad.is_empty(),
            "{:?} on n{} logged invalid packets:\n{}",
            d.kind,
            d.node,
            bad.join("\n")
        );
    }
    let lv = if lvsd_on == N1 { &a } else { &b };
    let st = lv.instance_status();
    let c = &st["counters"];
    for k in [
        "packet_len_err",
        "advert_interval_err",
        "ip_ttl_err",
        "invalid_type_rcvd",
        "addr_list_err",
        "invalid_authtype",
        "authtype_mismatch",
        "auth_failure",
        "version_err",
        "checksum_err",
    ] {
        assert_eq!(c[k], 0, "lvsd counted {k}: {st}");
    }
    assert!(
        c["advert_rcvd"].as_u64().unwrap_or(0) > 0,
        "lvsd received nothing: {st}"
    );
}

fn v2_pass(prio: u8) -> Spec {
    Spec {
        auth_pass: Some("1111".into()),
        ..Spec::v4(2, prio, 1.0)
    }
}

#[test]
fn v2_pass_lvsd_master_keepalived_backup() {
    interop("a", N1, v2_pass);
}

#[test]
fn v2_pass_keepalived_master_lvsd_backup() {
    interop("b", N2, v2_pass);
}

#[test]
fn v3_ipv4_lvsd_master_keepalived_backup() {
    interop("c", N1, |p| Spec::v4(3, p, 0.5));
}

#[test]
fn v3_ipv4_keepalived_master_lvsd_backup() {
    interop("d", N2, |p| Spec::v4(3, p, 0.5));
}

#[test]
fn v3_ipv6_lvsd_master_keepalived_backup() {
    interop("e", N1, |p| Spec::v6(p, 0.5));
}

#[test]
fn v3_ipv6_keepalived_master_lvsd_backup() {
    interop("f", N2, |p| Spec::v6(p, 0.5));
}

fn v2_ah(prio: u8) -> Spec {
    Spec {
        auth_pass: Some("ahsecret".into()),
        auth_ah: true,
        ..Spec::v4(2, prio, 1.0)
    }
}

#[test]
fn v2_ah_lvsd_master_keepalived_backup() {
    interop("g", N1, v2_ah);
}

#[test]
fn v2_ah_keepalived_master_lvsd_backup() {
    interop("h", N2, v2_ah);
}

/// AH with different passwords: lvsd rejects keepalived's adverts as authentication failures
/// (counted), keepalived rejects lvsd's, so both end up MASTER. (keepalived 2.2.7 as master
/// re-arms its advert timer on each invalid packet it reads, so it then sends few adverts.)
#[test]
fn v2_ah_wrong_password_is_rejected_and_counted() {
    let lab = Lab::new("i");
    let ka = Spec {
        auth_pass: Some("right123".into()),
        ..v2_ah(150)
    };
    let lv = Spec {
        auth_pass: Some("wrong123".into()),
        ..v2_ah(100)
    };
    let vip = ka.vip_addrs()[0].clone();
    let mut k = lab.start(Kind::Keepalived, N1, &ka);
    let mut l = lab.start(Kind::Lvsd, N2, &lv);
    assert!(
        lab.wait_for(N1, &vip, true, Duration::from_secs(8))
            .is_some(),
        "keepalived never became MASTER"
    );
    assert!(
        lab.wait_for(N2, &vip, true, Duration::from_secs(8))
            .is_some(),
        "lvsd obeyed adverts with a wrong AH password"
    );
    std::thread::sleep(Duration::from_secs(2));
    let st = l.instance_status();
    let c = &st["counters"];
    let fails = c["auth_failure"].as_u64().unwrap_or(0);
    assert!(fails >= 1, "lvsd did not count auth failures: {st}");
    assert_eq!(c["advert_rcvd"], 0, "lvsd accepted a bad advert: {st}");
    assert_eq!(st["state"], "MASTER", "{st}");
    l.term();
    l.wait();
    k.term();
    k.wait();
    let klog = k.log_text().to_ascii_lowercase();
    assert!(
        klog.contains("invalid ipsec hmac-md5"),
        "keepalived did not reject lvsd's adverts:\n{klog}"
    );
}
