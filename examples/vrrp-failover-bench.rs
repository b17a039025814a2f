//! Failover figures of lvsd's VRRP next to keepalived 2.2.7, measured in the same run on the
//! namespace LAN of tests/vrrp_lab (needs root, keepalived, iproute2, busybox).
//!
//! ```text
//! cargo run --release --example vrrp-failover-bench [-- --soak SECS]
//! ```
//!
//! For each pair (n1 priority 150 master, n2 priority 100 backup) it measures:
//! - crash: SIGKILL n1 → n2 holds the VIP (polled every 20 ms) and the advert gap seen by the
//!   client (last advert of n1 → first advert of n2, like a pcap);
//! - graceful: SIGTERM n1 (priority 0) → n2 holds the VIP, and the gap from n1's priority-0
//!   advert to n2's first advert.
//!
//! Then the soak: an lvsd pair at v3 `advert_int 0.01` while busy loops saturate every core,
//! counting false failovers (adverts from the backup) for `--soak` seconds (default 60; the
//! issue's figure is 600), with the VRRP thread at SCHED_RR 10 and adverts at SO_PRIORITY 6.

//! Measured 2026-11-24 (release build, 2 shared cores, kernel 6.18), advert gaps seen by the
//! client: crash / graceful
//!   v2 1 s:        keepalived 3609.5 / 611.6 ms   lvsd 3609.8 / 612.0 ms
//!   v3 IPv6 1 s:   keepalived 3609.6 / 609.8 ms   lvsd 3611.4 / 609.9 ms
//!   v3 0.01 s:     keepalived   36.4 /   6.3 ms   lvsd   36.4 /   6.3 ms
//! Soak at 0.01 s with every core busy: lvsd SCHED_RR 0 backup adverts in 600 s (and 0 in
//! 120 s); lvsd without realtime 28 in 120 s; keepalived with vrrp_rt_priority 0 in 120 s.

#[path = "../tests/vrrp_lab/mod.rs"]
mod vrrp_lab;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vrrp_lab::{Kind, Lab, Observer, Spec};

struct Figures {
    crash_vip: Option<Duration>,
    crash_gap: Option<Duration>,
    grace_vip: Option<Duration>,
    grace_gap: Option<Duration>,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("   -    ".into(), |d| {
        format!("{:8.1}", d.as_secs_f64() * 1000.0)
    })
}

fn src(spec: &Spec, node: u8) -> String {
    if spec.vips[0].contains(':') {
        format!("fe80::77:ff:fe00:{node}")
    } else {
        format!("10.77.0.{node}")
    }
}

/// lvsd gets the JSON form so `Spec::rt` decides its scheduling (its keepalived.conf path
/// turns realtime on by default); keepalived gets its keepalived.conf.
fn start(lab: &Lab, kind: Kind, node: u8, spec: &Spec) -> vrrp_lab::Daemon {
    match kind {
        Kind::Lvsd => lab.start_lvsd_json(node, &spec.lvsd_conf()),
        Kind::Keepalived => lab.start_keepalived(node, spec),
    }
}

fn measure(tag: &str, kind: Kind, mk: impl Fn(u8) -> Spec) -> Figures {
    let lab = Lab::new(tag);
    let obs = Observer::start(&lab, vrrp_lab::CLIENT);
    let (hi, lo) = (mk(150), mk(100));
    let vip = hi.vip_addrs()[0].clone();
    let adv = Duration::from_secs_f64(hi.advert_int);
    let (s1, s2) = (src(&hi, 1), src(&hi, 2));
    let _b = start(&lab, kind, 2, &lo);
    std::thread::sleep(Duration::from_millis(200));
    let mut a = start(&lab, kind, 1, &hi);
    let wait = adv * 10 + Duration::from_secs(5);
    if lab.wait_for(1, &vip, true, wait).is_none() || lab.wait_for(2, &vip, false, wait).is_none() {
        eprintln!("[{tag}] n1 never became the only master");
        return Figures {
            crash_vip: None,
            crash_gap: None,
            grace_vip: None,
            grace_gap: None,
        };
    }
    std::thread::sleep(adv * 3 + Duration::from_millis(300));

    let t = Instant::now();
    a.kill9();
    let crash_vip = lab.wait_for(2, &vip, true, wait);
    std::thread::sleep(Duration::from_millis(100));
    let crash_gap = obs
        .first_from_after(&s2, t)
        .zip(obs.last_from_before(&s1, t))
        .map(|(e, s)| e - s);

    a = start(&lab, kind, 1, &hi);
    lab.wait_for(2, &vip, false, wait);
    std::thread::sleep(adv * 3 + Duration::from_millis(500));
    let t = Instant::now();
    a.term();
    let grace_vip = lab.wait_for(2, &vip, true, wait);
    std::thread::sleep(Duration::from_millis(100));
    let grace_gap = obs
        .first_from_after(&s2, t)
        .zip(obs.zero_from_after(&s1, t))
        .map(|(e, s)| e - s);
    if std::env::var_os("BENCH_DEBUG").is_some() {
        for x in obs.seen().iter().filter(|x| {
            x.at + Duration::from_millis(60) > t && x.at < t + Duration::from_millis(100)
        }) {
            eprintln!(
                "{:>9.3} ms {} prio {}",
                (x.at.max(t) - t).as_secs_f64() * 1e3 - (t.max(x.at) - x.at).as_secs_f64() * 1e3,
                x.src,
                x.priority
            );
        }
    }
    a.wait();
    Figures {
        crash_vip,
        crash_gap,
        grace_vip,
        grace_gap,
    }
}

fn burners() -> Vec<Child> {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    (0..n)
        .filter_map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdout(Stdio::null())
                .spawn()
                .ok()
        })
        .collect()
}

/// Runs an lvsd (or keepalived) pair at v3 advert_int 0.01 under full CPU load for `secs`;
/// returns (false failovers = adverts from the backup, adverts seen from the master).
fn soak(tag: &str, kind: Kind, rt: bool, secs: u64) -> Option<(usize, usize)> {
    let lab = Lab::new(tag);
    let obs = Observer::start(&lab, vrrp_lab::CLIENT);
    let mk = |p| Spec {
        rt,
        ..Spec::v4(3, p, 0.01)
    };
    let _b = start(&lab, kind, 2, &mk(100));
    std::thread::sleep(Duration::from_millis(200));
    let _a = start(&lab, kind, 1, &mk(150));
    lab.wait_for(1, "10.77.0.100", true, Duration::from_secs(5))?;
    lab.wait_for(2, "10.77.0.100", false, Duration::from_secs(5))?;
    std::thread::sleep(Duration::from_millis(500));
    let mut burn = burners();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let t1 = Instant::now();
    for b in &mut burn {
        let _ = b.kill();
        let _ = b.wait();
    }
    let false_failovers = obs.others_between("10.77.0.1", t0, t1);
    let from_master = obs
        .seen()
        .iter()
        .filter(|s| s.at >= t0 && s.at <= t1 && s.src.to_string() == "10.77.0.1")
        .count();
    Some((false_failovers, from_master))
}

fn main() {
    let mut soak_secs = 60u64;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--soak") {
        soak_secs = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(60);
    }
    println!(
        "VRRP failover, n1 prio 150 → n2 prio 100 (ms). Expected: crash = Master_Down_Interval, graceful = skew."
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}",
        "pair", "crashVIP", "crashGap", "gracVIP", "gracGap"
    );
    type MakeSpec = Box<dyn Fn(u8) -> Spec>;
    let rows: Vec<(&str, &str, Kind, MakeSpec)> = vec![
        (
            "keepalived v2 advert 1 s",
            "ba",
            Kind::Keepalived,
            Box::new(|p| Spec::v4(2, p, 1.0)),
        ),
        (
            "lvsd       v2 advert 1 s",
            "bb",
            Kind::Lvsd,
            Box::new(|p| Spec::v4(2, p, 1.0)),
        ),
        (
            "keepalived v3 IPv6 advert 1 s",
            "bc",
            Kind::Keepalived,
            Box::new(|p| Spec::v6(p, 1.0)),
        ),
        (
            "lvsd       v3 IPv6 advert 1 s",
            "bd",
            Kind::Lvsd,
            Box::new(|p| Spec::v6(p, 1.0)),
        ),
        (
            "keepalived v3 advert 0.01 s",
            "be",
            Kind::Keepalived,
            Box::new(|p| Spec::v4(3, p, 0.01)),
        ),
        (
            "lvsd       v3 advert 0.01 s",
            "bf",
            Kind::Lvsd,
            Box::new(|p| Spec::v4(3, p, 0.01)),
        ),
    ];
    let only = std::env::var("BENCH_ONLY").ok();
    for (name, tag, kind, mk) in rows {
        if only.as_deref().is_some_and(|o| o != tag) {
            continue;
        }
        let f = measure(tag, kind, mk);
        println!(
            "{name:<34} {} {} {} {}",
            ms(f.crash_vip),
            ms(f.crash_gap),
            ms(f.grace_vip),
            ms(f.grace_gap)
        );
    }
    println!(
        "(advert 1 s: Master_Down_Interval 3609.4 ms, skew 609.4 ms; advert 0.01 s: 36.1 ms, 6.1 ms)"
    );
    println!();
    if soak_secs == 0 {
        return;
    }
    println!("Soak: v3 advert 0.01 s pair, every core busy, {soak_secs} s");
    for (name, tag, kind, rt) in [
        ("lvsd, SCHED_RR 10 + SO_PRIORITY 6", "bg", Kind::Lvsd, true),
        ("lvsd, normal scheduling", "bh", Kind::Lvsd, false),
        (
            "keepalived, vrrp_rt_priority 10",
            "bi",
            Kind::Keepalived,
            true,
        ),
    ] {
        if only.as_deref().is_some_and(|o| o != tag) {
            continue;
        }
        match soak(tag, kind, rt, soak_secs) {
            Some((f, m)) => println!(
                "{name:<36} false failovers (backup adverts): {f:>5}   master adverts seen: {m}"
            ),
            None => println!("{name:<36} pair did not converge"),
        }
    }
}
