//! The director's real job, end to end (issue 14), reduced for CI: real HTTP and stream traffic
//! from a client namespace through two directors' IPVS tables to three real servers, all in
//! the IPVS VM (tests/traffic/lab.rs draws the lab). Every assertion is on answers the client
//! saw. The heavy runs with both daemons' figures are `cargo run --release --example
//! traffic-bench`.

#[path = "vm/harness.rs"]
mod vm;

#[path = "traffic/lab.rs"]
mod lab;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use lab::{Backends, Conf, Daemon, Director, Load, Streams};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("traffic_vm_", 5);
}

fn counts(v: &[(&str, usize)]) -> BTreeMap<String, usize> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// One director (lab-d1) serving every forwarding method and scheduler of the lab config.
fn methods_and_schedulers(daemon: Daemon) {
    lab::up();
    let _backends = Backends::start();
    // A lone director: VRRPv3 at 0.1 s makes it master in ~0.4 s instead of ~4 s.
    let conf = Conf {
        advert_int: 0.1,
        ..Conf::default()
    };
    let d1 = Director::start(daemon, Path::new(LVSD), 0, &conf);
    lab::wait_director(&d1, true, Duration::from_secs(30)).unwrap();
    let all = ["r1", "r2", "r3"];
    lab::wait_serving(lab::addr(lab::VIP_NAT, 80), &all, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n--- log\n{}", d1.log()));

    // rr, in each forwarding method: 30 requests, 10 per real server.
    for (method, vip) in [
        ("NAT", lab::VIP_NAT),
        ("DR", lab::VIP_DR),
        ("TUN", lab::VIP_TUN),
    ] {
        let got = lab::requests(lab::addr(vip, 80), vec![(None, 30)]);
        let t = lab::tally(got.iter().map(|(_, a)| a));
        assert_eq!(
            t,
            counts(&[("r1", 10), ("r2", 10), ("r3", 10)]),
            "{method} rr via {vip}: {got:?}"
        );
    }
    // wrr 1/2/3: 60 requests, 10/20/30.
    let got = lab::requests(lab::addr(lab::VIP_NAT, 81), vec![(None, 60)]);
    assert_eq!(
        lab::tally(got.iter().map(|(_, a)| a)),
        counts(&[("r1", 10), ("r2", 20), ("r3", 30)]),
        "wrr"
    );
    // mh (source hash) and rr + persistence: each source always reaches the same server;
    // ten sources spread over more than one.
    for (what, port) in [("mh", 82), ("persistence", 83)] {
        let plan = lab::CLIENT_SOURCES
            .map(|i| (Some(lab::source(i)), 4))
            .collect();
        let got = lab::requests(lab::addr(lab::VIP_NAT, port), plan);
        let mut per_source: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (src, a) in &got {
            let name = a.clone().unwrap_or_else(|e| panic!("{what}: {e}"));
            *per_source
                .entry(format!("{src:?}"))
                .or_default()
                .entry(name)
                .or_default() += 1;
        }
        assert!(
            per_source.values().all(|m| m.len() == 1),
            "{what}: a source reached several servers: {per_source:?}"
        );
        let used: std::collections::BTreeSet<&String> =
            per_source.values().flat_map(|m| m.keys()).collect();
        let want = if what == "persistence" { 3 } else { 2 };
        assert!(
            used.len() >= want,
            "{what}: ten sources reached only {used:?}"
        );
        eprintln!("{} {what}: {per_source:?}", daemon.name());
    }
    drop(d1);
    lab::reset_directors();
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn traffic_vm_methods_and_schedulers_lvsd() {
    methods_and_schedulers(Daemon::Lvsd);
}

/// The same assertions pass with keepalived: the lab measures the directors, not itself.
#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn traffic_vm_methods_and_schedulers_keepalived() {
    methods_and_schedulers(Daemon::Keepalived);
}

/// A real server killed under load and restarted: with `retry 0` at `delay_loop 1`, failures
/// stop within about one check interval, and the server takes traffic again once it is back.
#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn traffic_vm_rs_failure_under_load_lvsd() {
    lab::up();
    let mut backends = Backends::start();
    let conf = Conf {
        retry: 0,
        advert_int: 0.1,
        ..Conf::default()
    };
    let d1 = Director::start(Daemon::Lvsd, Path::new(LVSD), 0, &conf);
    lab::wait_director(&d1, true, Duration::from_secs(30)).unwrap();
    let vip = lab::addr(lab::VIP_NAT, 80);
    lab::wait_serving(vip, &["r1", "r2", "r3"], Duration::from_secs(20)).unwrap();
    let load = Load::start(vip, Duration::from_millis(20), 2000, Duration::from_secs(1));
    thread::sleep(Duration::from_secs(1));
    let kill = load.t0.elapsed();
    backends.http[1].kill();
    thread::sleep(Duration::from_secs(4));
    let restart = load.t0.elapsed();
    backends.restart_http(1);
    thread::sleep(Duration::from_secs(4));
    let samples = load.finish();
    let f = lab::rs_figures(&samples, "r2", kill, restart);
    eprintln!("lvsd, real server killed under load: {f:?}");
    assert!(f.requests > 50, "too few requests: {f:?}");
    assert!(f.failed > 0, "the kill was not seen by the client: {f:?}");
    // One check interval (1 s) plus the check's own round and a TCG margin.
    let last = f.last_failure.expect("failures");
    assert!(
        last < Duration::from_millis(2500),
        "failures went on for {last:?}: {f:?}\n{}",
        d1.log()
    );
    let back = f
        .back
        .unwrap_or_else(|| panic!("r2 never answered again: {f:?}\n{}", d1.log()));
    assert!(back < Duration::from_secs(3), "{f:?}");
    // Every request that ended before the kill was answered (one in flight at the kill may
    // fail: the server died under it); the window's end is `last` by definition.
    let early: Vec<_> = samples
        .iter()
        .filter(|s| s.answer.is_err() && s.at + s.took < kill)
        .collect();
    assert!(early.is_empty(), "failures before the kill: {early:?}");
    drop(d1);
    lab::reset_directors();
}

/// Linux's minimum TCP retransmission timeout: a segment sent towards the dead director waits
/// at least this long (the connection's own, measured, when its round trips vary more).
const RTO_MIN: Duration = Duration::from_millis(200);
const STREAM_INTERVAL: Duration = Duration::from_millis(50);

/// The master director fails under load at VRRPv3 `advert` with the sync daemon on:
/// SIGKILL with its links down (a host failure) or a graceful SIGTERM. The new master's first
/// advert is on the wire within the protocol bound after the old master's last advert
/// (Master_Down_Interval; Skew_Time after a priority-0 resignation), plus what the VM adds to
/// any timer in this run (measured: the old master's own advert lateness before the kill);
/// every established stream survives, none stalls longer than that plus one retransmission
/// timeout; only requests in flight fail.
fn director_failover(advert: Duration, graceful: bool) {
    // The backup of a starved VM may take over for a moment before the failure (seen on the
    // wire): that attempt measures nothing and is run again.
    for attempt in 1..=5 {
        match failover_attempt(advert, graceful) {
            Ok(()) => return,
            Err(e) => eprintln!("attempt {attempt}: {e}; again"),
        }
    }
    panic!("the backup took over before the failure in 5 attempts: the VM is too starved");
}

fn failover_attempt(advert: Duration, graceful: bool) -> Result<(), String> {
    lab::up();
    let _backends = Backends::start();
    // Health checks that a starved VM does not fail by timeout (a real server taken out
    // ends its connections: expire_nodest_conn): this test is about the directors.
    let conf = Conf {
        advert_int: advert.as_secs_f64(),
        retry: 3,
        ..Conf::default()
    };
    // The backup's (priority 100) Skew_Time and Master_Down_Interval.
    let skew = advert * (256 - 100) / 256;
    let master_down = advert * 3 + skew;
    let lvsd = Path::new(LVSD);
    let mut d1 = Director::start(Daemon::Lvsd, lvsd, 0, &conf);
    lab::wait_director(&d1, true, Duration::from_secs(30)).unwrap();
    let d2 = Director::start(Daemon::Lvsd, lvsd, 1, &conf);
    lab::wait_director(&d2, false, Duration::from_secs(30)).unwrap();
    let vip = lab::addr(lab::VIP_NAT, 80);
    lab::wait_serving(vip, &["r1", "r2", "r3"], Duration::from_secs(20)).unwrap();
    assert!(d1.holds_vip() && !d2.holds_vip(), "d1 must be the master");
    let (d1_mac, d2_mac) = (lab::mac("lab-d1", "ext"), lab::mac("lab-d2", "ext"));
    let wire = lab::Wire::capture();
    let streams = Streams::open(lab::VIP_NAT, 10, STREAM_INTERVAL)?;
    // Let the sync daemon send the connections to the backup.
    thread::sleep(Duration::from_secs(2));
    let load = Load::start(vip, Duration::from_millis(20), 2000, Duration::from_secs(1));
    thread::sleep(Duration::from_secs(1));
    let kill = lab::wall();
    if graceful {
        d1.signal(nix::sys::signal::Signal::SIGTERM);
    } else {
        d1.crash();
        lab::director_links("lab-d1", false);
    }
    thread::sleep(Duration::from_secs(2));
    let samples = load.finish();
    let results = streams.finish();
    let wire = wire.finish();
    let f = lab::dir_figures(&samples, &results);
    let vip_ip = lab::VIP_NAT.parse().unwrap();
    let t = lab::takeover(&wire, kill, advert, 51, d1_mac, d2_mac, vip_ip);
    let how = if graceful { "SIGTERM" } else { "SIGKILL" };
    eprintln!("lvsd, master director {how} at advert_int {advert:?}: {f:?} {t:?}");
    if let Some(t) = lab::flap_before(&wire, kill, 51, d2_mac) {
        drop(d2);
        drop(d1);
        lab::reset_directors();
        let before = kill.saturating_sub(t);
        return Err(format!("lab-d2 advertised {before:?} before the failure"));
    }
    let logs = || format!("--- d1\n{}\n--- d2\n{}", d1.log(), d2.log());
    assert!(d2.holds_vip(), "backup did not take the VIP\n{}", logs());
    // What the VM adds to a deadline in this run (the master's own advert lateness), plus the
    // failure's own kernel work (links down, a daemon's teardown) on the same one vCPU: measured
    // 25-45 ms at a host load of 10.
    let vm_late = t.cadence_late.unwrap_or_default() + Duration::from_millis(50);
    let bound = if graceful {
        assert_eq!(t.last_priority, Some(0), "no priority-0 advert: {t:?}");
        skew
    } else {
        master_down
    } + vm_late;
    let took = t
        .advert
        .unwrap_or_else(|| panic!("no takeover on the wire: {t:?}\n{}", logs()));
    assert!(
        took <= bound,
        "new master's first advert {took:?} after the old one's last, bound {bound:?}: {t:?}"
    );
    assert_eq!(
        f.streams_alive,
        f.streams,
        "established connections lost: {results:?}\n{}",
        logs()
    );
    // The goal is one retransmission timeout (the stalled connection's own, at least Linux's
    // floor), which the benchmark shows on a quiet host (85-118 ms). Here a retransmission
    // sent before the new master's ARP reached its sender can be lost too (seen once on a
    // quiet host: 616 ms at an RTO of 216 ms), and the next waits twice as long: the test
    // allows that second loss, so it fails on a stream stalled past two.
    let rto = f.stall_rto.max(RTO_MIN);
    let stall = STREAM_INTERVAL + took + rto * 3 + vm_late;
    assert!(
        f.stream_max_stall <= stall,
        "a stream stalled {:?} (bound {stall:?}): {f:?} {t:?}",
        f.stream_max_stall
    );
    assert!(
        f.failed <= 2,
        "more than the requests in flight failed: {f:?}"
    );
    // A lost SYN is retransmitted after 1 s: at most that plus the takeover without answers.
    assert!(
        f.outage < Duration::from_secs(1) + stall,
        "client without service for {:?}: {f:?}",
        f.outage
    );
    drop(d2);
    drop(d1);
    lab::reset_directors();
    Ok(())
}

/// At 0.1 s: a takeover that the VM's timer lateness cannot blur.
#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn traffic_vm_director_failover_lvsd() {
    director_failover(Duration::from_millis(100), false);
}

/// At VRRPv3 0.01 s, the goal: a crashed master is replaced within 3 x 10 ms + skew plus this
/// run's measured VM lateness, and no stream is lost. The debug lvsd in this one-vCPU TCG
/// guest holds it while the host is otherwise quiet, as it is while cargo runs this binary
/// (at a host load of 10 the backup flapped before the failure: the retries above).
#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn traffic_vm_director_failover_fast_lvsd() {
    director_failover(Duration::from_millis(10), false);
}
