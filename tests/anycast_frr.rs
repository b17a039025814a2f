//! Health-gated anycast through FRR on host network namespaces (docs/anycast.md).
//!
//! ```text
//!   client 10.90.0.10 ── r (zebra+bgpd+bfdd, AS 65000, maximum-paths, L4 hash) ──┬── d1 10.90.1.2
//!                                                                              └── d2 10.90.2.2
//!   d1, d2: lvsd (announce_route, table 198) + zebra (ip import-table 198) + bgpd
//!           (redistribute table 198) + bfdd; real servers 127.0.1.1/2:8080 in each director;
//!           the VIP 198.51.100.10 on lo with a listener on :80 naming the director.
//! ```
//!
//! The host has no IPVS: lvsd runs in full mode, its checkers and route writer work without
//! it; the client's connections are answered by a listener on the VIP in each director.
//! Traffic through IPVS (mh) is the VM test's part. Measured times are printed.

mod anycast_lab;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anycast_lab::*;

fn director_lvsd() -> String {
    format!(
        "global_defs {{\n    anycast_table {TABLE}\n    anycast_protocol 245\n}}\n\
         virtual_server {VIP} 80 {{\n    protocol TCP\n    delay_loop {DELAY_LOOP}\n    lvs_sched mh\n\
         \x20   announce_route\n\
         \x20   real_server 127.0.1.1 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
         \x20   real_server 127.0.1.2 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    )
}

/// The director names the client's connections landed on, one connection per source port.
fn spread(c: &Ns, n: usize) -> Vec<String> {
    c.spawn_in(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
            let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                seen.push("refused".to_string());
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let _ = BufReader::new(s).read_line(&mut line);
            seen.push(line.trim().to_string());
        }
        seen
    })
    .join()
    .unwrap()
}

struct Lab {
    r: Ns,
    c: Ns,
    d: [Ns; 2],
    dir: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let tag = std::process::id() % 100_000;
        let dir = std::env::temp_dir().join(format!("lvsd-anycast-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mk = |n: &str| Ns::new(format!("ac{tag}-{n}"));
        let lab = Lab {
            r: mk("r"),
            c: mk("c"),
            d: [mk("d1"), mk("d2")],
            dir,
        };
        lab.r
            .sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1");
        // Links created in the router's namespace, the far end moved to its node.
        let link = |far: &Ns, rname: &str, raddr: &str, faddr: &str, gw: &str| {
            lab.r.sh(&format!(
                "ip link add {rname} type veth peer name eth0 netns {far}\n\
                 ip addr add {raddr} dev {rname}\nip link set {rname} up",
                far = far.0
            ));
            far.sh(&format!(
                "ip addr add {faddr} dev eth0\nip link set eth0 up\nip route add default via {gw}"
            ));
        };
        link(&lab.c, "r-c", "10.90.0.1/24", "10.90.0.10/24", "10.90.0.1");
        link(
            &lab.d[0],
            "r-d1",
            "10.90.1.1/24",
            "10.90.1.2/24",
            "10.90.1.1",
        );
        link(
            &lab.d[1],
            "r-d2",
            "10.90.2.1/24",
            "10.90.2.2/24",
            "10.90.2.1",
        );
        lab
    }
}

const D1: &str = "10.90.1.2";
const D2: &str = "10.90.2.2";

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[test]
fn anycast_routes_follow_health_through_frr() {
    let lab = Lab::new();
    let (r, c) = (&lab.r, &lab.c);
    let frr_r = Frr::start(r, &lab.dir.join("r"), &example("router/frr.conf"));
    let mut frr_d = Vec::new();
    let mut lvsd = Vec::new();
    let mut real: Vec<Vec<Listener>> = Vec::new();
    let mut vip_listeners = Vec::new();
    for (i, d) in lab.d.iter().enumerate() {
        let name = format!("d{}", i + 1);
        let dir = lab.dir.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        d.sh(&format!("ip route add local {VIP}/32 dev lo table local\nip addr add 127.0.1.1/8 dev lo\nip addr add 127.0.1.2/8 dev lo"));
        frr_d.push(Frr::start(
            d,
            &dir,
            &example(&format!("director{}/frr.conf", i + 1)),
        ));
        real.push(vec![
            Listener::start(d, "127.0.1.1:8080", &format!("{name}-rs1")),
            Listener::start(d, "127.0.1.2:8080", &format!("{name}-rs2")),
        ]);
        vip_listeners.push(Listener::start(d, &format!("{VIP}:80"), &name));
        lvsd.push(Lvsd::start(d, &dir, &director_lvsd()));
    }
    let both = [D1, D2];
    let t = wait_fib(r, &both, Duration::from_secs(30));
    if t.is_none() && std::env::var_os("ANYCAST_HOLD").is_some() {
        eprintln!("holding the lab: {}", lab.dir.display());
        std::thread::sleep(Duration::from_secs(300));
    }
    assert!(
        t.is_some(),
        "router never learnt both paths: fib {:?}\n{}\nd1 table: {}\nd1 bgp: {}\nlvsd d1: {}",
        fib_nexthops(r),
        frr_r.vtysh("show bgp summary"),
        table_routes(&lab.d[0]),
        frr_d[0].vtysh("show bgp ipv4 unicast neighbors 10.90.1.1 advertised-routes")
            + &frr_r.vtysh("show bgp ipv4 unicast neighbors 10.90.1.2")
            + &frr_r.vtysh("show running-config"),
        lvsd[0].log_text()
    );
    println!("both paths after start: {}", secs(t.unwrap()));
    assert_eq!(frr_nexthops(&frr_r), both, "vtysh show ip route json");

    // New connections from one client are spread over both directors (L4 hash).
    let seen = spread(c, 40);
    let n1 = seen.iter().filter(|s| *s == "d1").count();
    let n2 = seen.iter().filter(|s| *s == "d2").count();
    println!("40 new connections: d1 {n1}, d2 {n2}");
    assert!(n1 >= 5 && n2 >= 5 && n1 + n2 == 40, "spread: {seen:?}");

    // All real servers behind d1 fail: its path goes within a check interval + BGP.
    real[0].clear();
    let took = wait_fib(r, &[D2], Duration::from_secs(10)).expect("d1 path not withdrawn");
    println!(
        "real servers down -> withdrawn after {} (delay_loop {DELAY_LOOP} s)",
        secs(took)
    );
    assert!(took.as_secs_f64() < DELAY_LOOP + 1.5 + 1.0, "took {took:?}");
    assert!(table_routes(&lab.d[0]).trim().is_empty());
    // They recover: it returns.
    real[0] = vec![
        Listener::start(&lab.d[0], "127.0.1.1:8080", "d1-rs1"),
        Listener::start(&lab.d[0], "127.0.1.2:8080", "d1-rs2"),
    ];
    let took = wait_fib(r, &both, Duration::from_secs(10)).expect("d1 path not back");
    println!("real servers up -> announced after {}", secs(took));
    assert!(took.as_secs_f64() < DELAY_LOOP + 1.5 + 1.0, "took {took:?}");

    // lvsd stopped (SIGTERM): withdrawn at once.
    let t0 = Instant::now();
    lvsd[0].signal("-TERM");
    let stopped = t0.elapsed();
    let took = wait_fib(r, &[D2], Duration::from_secs(5)).expect("not withdrawn on stop");
    println!(
        "lvsd SIGTERM -> withdrawn after {} (lvsd exited after {})",
        secs(t0.elapsed()),
        secs(stopped)
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "took {took:?}");
    lvsd[0].restart();
    let took = wait_fib(r, &both, Duration::from_secs(10)).expect("not back after restart");
    println!("lvsd start -> announced after {}", secs(took));
    // Not on the start-up assumption ("every server up"): only once each check could have
    // given its first verdict (warmup 1 s + 2 attempts of 1 s + 1 s between them).
    assert!(
        took > Duration::from_millis(3500),
        "announced after {took:?}"
    );

    // SIGKILL: the route stays (nothing can withdraw it) ...
    lvsd[0].signal("-KILL");
    let before = table_routes(&lab.d[0]);
    assert!(before.contains(VIP), "route gone after SIGKILL: {before:?}");
    if let Err(now) = fib_stays(r, &both, Duration::from_secs(2)) {
        panic!("path changed after SIGKILL: {now:?}");
    }
    // ... and the restart reconciles without a flap: the route is never withdrawn.
    let log_len = lvsd[0].log_text().len();
    lvsd[0].restart();
    if let Err(now) = fib_stays(r, &both, Duration::from_secs(3)) {
        panic!("restart after SIGKILL flapped the path: {now:?}");
    }
    let after = lvsd[0].log_text()[log_len..].to_string();
    assert!(
        !after.contains("anycast: withdrawing") && !after.contains("anycast: announcing"),
        "restart rewrote the route: {after}"
    );
    assert_eq!(table_routes(&lab.d[0]), before);
    println!("lvsd SIGKILL + restart: path kept for 5 s, no route written");

    // d2's link fails silently (no carrier change: a dead switch): BFD withdraws it.
    let t0 = Instant::now();
    lab.d[1].sh("nft add table inet cut\n\
                 nft 'add chain inet cut in { type filter hook input priority -300; policy drop; }'\n\
                 nft 'add chain inet cut out { type filter hook output priority -300; policy drop; }'\n\
                 nft add rule inet cut in iifname lo accept\nnft add rule inet cut out oifname lo accept");
    let took = wait_fib(r, &[D1], Duration::from_secs(5)).expect("BFD did not withdraw d2");
    println!(
        "d2 link cut -> withdrawn after {} (BFD 3 x 100 ms)",
        secs(t0.elapsed())
    );
    assert!(
        took < Duration::from_secs(1),
        "BFD withdrawal took {took:?}"
    );
    drop(vip_listeners);
}

/// Without FRR: IPv6 /128 routes and a table above 255 (only the RTA_TABLE attribute holds
/// it), kept across a SIGKILL + restart without a rewrite, withdrawn on SIGTERM.
#[test]
fn ipv6_and_high_tables_reconcile_without_rewrites() {
    let tag = std::process::id() % 100_000;
    let ns = Ns::new(format!("ac{tag}-v6"));
    let dir = std::env::temp_dir().join(format!("lvsd-anycast-v6-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = "global_defs {\n    anycast_table 1000\n}\n\
                virtual_server 2001:db8::10 80 {\n    protocol TCP\n    announce_route\n    real_server 2001:db8::100 80 {\n    }\n}\n\
                virtual_server 198.51.100.20 80 {\n    protocol TCP\n    announce_route\n    real_server 10.0.0.1 80 {\n    }\n}\n";
    // A route of another protocol in the same table: not lvsd's, never touched.
    ns.sh("ip route add 192.0.2.99/32 dev lo table 1000 proto static");
    let show =
        || ns.out("ip route show table 1000; ip -6 route show table 1000 2>/dev/null || true");
    let mut l = Lvsd::start(&ns, &dir, conf);
    let t = std::time::Instant::now();
    while !(show().contains("2001:db8::10 dev lo proto 245")
        && show().contains("198.51.100.20 dev lo proto 245"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "routes missing: {}",
            show()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    l.signal("-KILL");
    let before = l.log_text().len();
    l.restart();
    std::thread::sleep(Duration::from_secs(2));
    let after = l.log_text()[before..].to_string();
    assert!(after.contains("lvsd started"), "{after}");
    assert!(
        !after.contains("anycast: announcing") && !after.contains("anycast: withdrawing"),
        "restart rewrote routes: {after}"
    );
    l.signal("-TERM");
    let left = show();
    assert!(!left.contains("proto 245"), "left behind: {left}");
    assert!(left.contains("192.0.2.99 dev lo proto static"), "{left}");
}
