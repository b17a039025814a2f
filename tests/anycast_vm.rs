//! Anycast through IPVS, in the IPVS VM (tests/vm): flows survive the router moving them to
//! the other director, and a client's new connections spread over both directors.
//!
//! ```text
//!  client ── r (zebra+bgpd, maximum-paths, L4 hash) ──┬── d1 (lvsd+FRR) ──┬── rs1 (10.20.0.11, VIP on lo)
//!                                                    ├── d2 (lvsd+FRR) ──┴── rs2 (10.20.0.12, VIP on lo)
//!                                                    └── rs1, rs2 (their replies to the client)
//! ```
//! The directors forward with DR and `mh` (lvsd adds mh-fallback, quiesces failed servers and
//! sets sloppy_tcp); the real servers answer the client through the router directly. A flow
//! moved to a director that has never seen it keeps working only if that director's IPVS
//! accepts a mid-stream segment (sloppy_tcp) and picks the same real server (mh with the same
//! destination list).

#[path = "vm/harness.rs"]
mod vm;

mod anycast_lab;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anycast_lab::*;

#[test]
fn in_vm() {
    // --nocapture: the inner test prints what it measured.
    vm::run_in_vm_args(
        &[
            "--ignored",
            "--test-threads=1",
            "--nocapture",
            "anycast_vm_",
        ],
        1,
    );
}

const D1: &str = "10.90.1.2";
const D2: &str = "10.90.2.2";

fn director_frr(id: &str, router: &str) -> String {
    format!(
        "ip import-table {TABLE}\n\
         router bgp 65010\n bgp router-id {id}\n no bgp ebgp-requires-policy\n timers bgp 3 9\n\
         \x20neighbor {router} remote-as 65000\n neighbor {router} timers connect 1\n\
         \x20neighbor {router} advertisement-interval 0\n\
         \x20address-family ipv4 unicast\n  redistribute table {TABLE}\n exit-address-family\n!\n"
    )
}

fn router_frr() -> String {
    let mut s = String::from(
        "router bgp 65000\n bgp router-id 10.90.0.1\n no bgp ebgp-requires-policy\n timers bgp 3 9\n",
    );
    for d in [D1, D2] {
        s += &format!(
            " neighbor {d} remote-as 65010\n neighbor {d} timers connect 1\n \
             neighbor {d} advertisement-interval 0\n"
        );
    }
    s += " address-family ipv4 unicast\n  maximum-paths 4\n exit-address-family\n!\n";
    s
}

fn director_lvsd() -> String {
    let rs = |a: &str| {
        format!(
            "    real_server {a} 80 {{\n        TCP_CHECK {{\n            connect_timeout 2\n        }}\n    }}\n"
        )
    };
    format!(
        "global_defs {{\n    anycast_table {TABLE}\n}}\n\
         virtual_server {VIP} 80 {{\n    protocol TCP\n    delay_loop 2\n    lvs_sched mh\n    mh-port\n\
         \x20   lvs_method DR\n    announce_route\n{}{}}}\n",
        rs("10.20.0.11"),
        rs("10.20.0.12")
    )
}

struct Lab {
    r: Ns,
    c: Ns,
    d: [Ns; 2],
    rs: [Ns; 2],
    dir: PathBuf,
}

impl Lab {
    /// The guest kernel has no bridge module: every link is a veth pair. Each director has a
    /// direct link to each real server (DR needs the real server on-link), over which it
    /// reaches the real server's address (10.20.0.1x on its lo, the same for both directors,
    /// as mh hashes it). Real servers answer clients through their own link to the router.
    /// Built with one `ip -batch` per namespace: every process costs in the emulated VM.
    fn new() -> Lab {
        // /run is the guest's own tmpfs: FRR's daemons (user frr) can own their files there.
        let dir = PathBuf::from("/run/lvsd-anycast-vm");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            r: Ns::new("avr".into()),
            c: Ns::new("avc".into()),
            d: [Ns::new("avd1".into()), Ns::new("avd2".into())],
            rs: [Ns::new("avrs1".into()), Ns::new("avrs2".into())],
            dir,
        };
        lab.r.sysctl(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.fib_multipath_hash_policy", "1"),
        ]);
        let mut r = String::from(
            "link add r-c type veth peer name eth0 netns avc\naddr add 10.90.0.1/24 dev r-c\nlink set dev r-c up\n",
        );
        for n in 1..=2 {
            r += &format!(
                "link add r-d{n} type veth peer name uplink netns avd{n}\n\
                 addr add 10.90.{n}.1/24 dev r-d{n}\nlink set dev r-d{n} up\n\
                 link add r-rs{n} type veth peer name uplink netns avrs{n}\n\
                 addr add 10.90.1{n}.1/24 dev r-rs{n}\nlink set dev r-rs{n} up\n"
            );
        }
        lab.r.batch(&r);
        lab.c.batch("addr add 10.90.0.10/24 dev eth0\nlink set dev eth0 up\nroute add default via 10.90.0.1\n");
        for (i, d) in lab.d.iter().enumerate() {
            let n = i + 1;
            let mut b = format!(
                "addr add 10.90.{n}.2/24 dev uplink\nlink set dev uplink up\n\
                 route add default via 10.90.{n}.1\nroute add local {VIP}/32 dev lo table local\n"
            );
            for m in 1..=2 {
                b += &format!(
                    "link add rs{m} type veth peer name d{n} netns avrs{m}\nlink set dev rs{m} up\n\
                     route add 10.20.0.1{m}/32 dev rs{m}\n"
                );
            }
            d.batch(&b);
        }
        for (j, rs) in lab.rs.iter().enumerate() {
            let m = j + 1;
            rs.batch(&format!(
                "addr add 10.90.1{m}.2/24 dev uplink\nlink set dev uplink up\nlink set dev d1 up\n\
                 link set dev d2 up\nroute add default via 10.90.1{m}.1\n\
                 addr add 10.20.0.1{m}/32 dev lo\naddr add {VIP}/32 dev lo\n"
            ));
        }
        lab.r.batch(
            "route add 10.20.0.11/32 via 10.90.11.2\nroute add 10.20.0.12/32 via 10.90.12.2\n",
        );
        lab
    }
}

/// How many of the client's source `ports` have a connection entry in the director's IPVS
/// table (`ipvsadm -Lnc`), i.e. went through it.
fn through(d: &Ns, ports: &[u16]) -> usize {
    let table = d.out("ipvsadm -Lnc");
    ports
        .iter()
        .filter(|p| table.contains(&format!("10.90.0.10:{p} ")))
        .count()
}

/// Connections the director's service has scheduled (`ipvsadm -Ln --stats`: Conns), a count
/// that starts at 0 when lvsd creates the service.
fn scheduled(d: &Ns) -> u64 {
    d.out("ipvsadm -Ln --stats --exact")
        .lines()
        .find(|l| l.starts_with("TCP") && l.contains(VIP))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A long-lived client connection: reads the real server's name, then echoes lines.
struct Flow {
    rs: String,
    port: u16,
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Flow {
    fn open() -> Flow {
        let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut rs = String::new();
        r.read_line(&mut rs).expect("banner");
        Flow {
            rs: rs.trim().to_string(),
            port: s.local_addr().map(|a| a.port()).unwrap_or(0),
            r,
            w: s,
        }
    }
    fn echo(&mut self, msg: &str) -> Result<(), String> {
        self.w
            .write_all(format!("{msg}\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) => Err("closed".into()),
            Ok(_) if line.trim() == msg => Ok(()),
            Ok(_) => Err(format!("got {line:?}")),
            Err(e) => Err(format!("read: {e}")),
        }
    }
}

/// Echo on every flow, from the client's namespace; the failures.
fn echo_all(c: &Ns, flows: Vec<Flow>, tag: &'static str) -> (Vec<Flow>, Vec<String>) {
    c.spawn_in(move || {
        let mut flows = flows;
        let mut bad = Vec::new();
        for (i, f) in flows.iter_mut().enumerate() {
            if let Err(e) = f.echo(&format!("{tag}-{i}")) {
                bad.push(format!("flow {i} ({}): {e}", f.rs));
            }
        }
        (flows, bad)
    })
    .join()
    .unwrap()
}

#[test]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
fn anycast_vm_flows_survive_a_path_change() {
    assert!(vm::inside(), "run through in_vm()");
    let t0 = std::time::Instant::now();
    let lab = Lab::new();
    println!("[{:.1} s] lab built", t0.elapsed().as_secs_f64());
    // The three FRR instances start in parallel (each takes seconds in the emulated VM).
    let daemons = ["zebra", "bgpd"];
    let (frr_r, _frr_d) = std::thread::scope(|s| {
        let r = s.spawn(|| Frr::start_with(&lab.r, &lab.dir.join("r"), &router_frr(), &daemons));
        let d: Vec<_> = lab
            .d
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let dir = lab.dir.join(format!("d{}", i + 1));
                let conf = director_frr([D1, D2][i], ["10.90.1.1", "10.90.2.1"][i]);
                s.spawn(move || Frr::start_with(d, &dir, &conf, &daemons))
            })
            .collect();
        (
            r.join().unwrap(),
            d.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>(),
        )
    });
    let _rs: Vec<Listener> = lab
        .rs
        .iter()
        .enumerate()
        .map(|(i, ns)| Listener::start(ns, "0.0.0.0:80", &format!("rs{}", i + 1)))
        .collect();
    let mut lvsd: Vec<Lvsd> = lab
        .d
        .iter()
        .enumerate()
        .map(|(i, d)| Lvsd::start(d, &lab.dir.join(format!("d{}", i + 1)), &director_lvsd()))
        .collect();
    println!("[{:.1} s] daemons started", t0.elapsed().as_secs_f64());
    let both = [D1, D2];
    let t = wait_fib(&lab.r, &both, Duration::from_secs(90));
    assert!(
        t.is_some(),
        "router never learnt both paths: {:?}\n{}\nd1: {}\n{}",
        fib_nexthops(&lab.r),
        frr_r.vtysh("show bgp summary"),
        lab.d[0].out("ipvsadm -Ln; ip route show table 198"),
        lvsd[0].log_text()
    );
    println!("both paths after {:.3} s", t.unwrap().as_secs_f64());
    for d in &lab.d {
        let sloppy = d.out("cat /proc/sys/net/ipv4/vs/sloppy_tcp");
        assert_eq!(sloppy.trim(), "1", "lvsd sets sloppy_tcp");
    }
    // The same service, flags and destination list, in the same order, on both directors:
    // mh then maps every flow to the same real server on either.
    let tables: Vec<String> = lab.d.iter().map(|d| d.out("ipvsadm -Ln")).collect();
    assert!(
        tables[0].contains("mh (mh-fallback,mh-port)"),
        "{}",
        tables[0]
    );
    assert_eq!(tables[0], tables[1], "directors disagree");

    // A client's new connections spread over both directors (and, mh-port, both servers).
    let seen: Vec<(String, u16)> = lab
        .c
        .spawn_in(|| {
            (0..40)
                .map(|_| {
                    let f = Flow::open();
                    (f.rs, f.port)
                })
                .collect()
        })
        .join()
        .unwrap();
    let ports: Vec<u16> = seen.iter().map(|s| s.1).collect();
    let (s1, s2) = (through(&lab.d[0], &ports), through(&lab.d[1], &ports));
    let on = |rs: &str| seen.iter().filter(|s| s.0 == rs).count();
    println!(
        "[{:.1} s] 40 new connections: director d1 {s1}, d2 {s2}; rs1 {}, rs2 {}",
        t0.elapsed().as_secs_f64(),
        on("rs1"),
        on("rs2")
    );
    // A flow counted on both was moved while routes settled (and kept working).
    assert!(s1 >= 5 && s2 >= 5 && s1 + s2 >= 40, "d1 {s1}, d2 {s2}");
    assert!(on("rs1") >= 5 && on("rs2") >= 5, "{seen:?}");

    // Long-lived connections, some through each director.
    let flows: Vec<Flow> = lab
        .c
        .spawn_in(|| (0..16).map(|_| Flow::open()).collect())
        .join()
        .unwrap();
    let ports: Vec<u16> = flows.iter().map(|f| f.port).collect();
    let (flows, bad) = echo_all(&lab.c, flows, "before");
    assert!(bad.is_empty(), "{bad:?}");
    let (e1, e2) = (through(&lab.d[0], &ports), through(&lab.d[1], &ports));
    println!(
        "[{:.1} s] 16 long-lived flows: d1 {e1}, d2 {e2}",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        e1 > 0 && e2 > 0 && e1 + e2 == 16,
        "flows not spread: d1 {e1}, d2 {e2}"
    );

    // d1 stops: the router moves its flows to d2, which never saw them.
    lvsd[0].signal("-TERM");
    let t = wait_fib(&lab.r, &[D2], Duration::from_secs(10)).expect("d1 not withdrawn");
    println!("d1 stopped: path gone after {:.3} s", t.as_secs_f64());
    let (flows, bad) = echo_all(&lab.c, flows, "moved");
    assert!(bad.is_empty(), "flows broken by the move to d2: {bad:?}");
    assert_eq!(through(&lab.d[1], &ports), 16, "d2 took every flow");
    // d2's new entries for d1's flows were made from mid-stream segments (sloppy_tcp) and
    // point at the same real servers (mh), or the echoes above would have been reset.
    println!(
        "[{:.1} s] all 16 flows work through d2",
        t0.elapsed().as_secs_f64()
    );

    // d1 returns: the rehash moves some flows back to a director with a fresh table.
    lvsd[0].restart();
    let t0r = std::time::Instant::now();
    while scheduled(&lab.d[0]) != 0 || !lab.d[0].out("ipvsadm -Ln").contains(VIP) {
        assert!(
            t0r.elapsed() < Duration::from_secs(20),
            "d1's service not recreated fresh"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = wait_fib(&lab.r, &both, Duration::from_secs(30)).expect("d1 not back");
    println!("d1 restarted: path back after {:.3} s", t.as_secs_f64());
    let (flows, bad) = echo_all(&lab.c, flows, "back");
    assert!(bad.is_empty(), "flows broken by the move back: {bad:?}");
    // The flows that return to d1 are the ones it carried before: its connection entries
    // outlived the released service (their destinations came back from IPVS's trash when lvsd
    // re-added them), so they continue there; the new service schedules none of them.
    println!(
        "after the return: all 16 flows still working; d1's new service scheduled {}",
        scheduled(&lab.d[0])
    );

    // Control: without sloppy_tcp, d1 drops d2's flows when the router moves them there (the
    // kernel answers their segments with a reset): what the settings above prevent.
    lab.d[0].sysctl(&[("net.ipv4.vs.sloppy_tcp", "0")]);
    lvsd[1].signal("-TERM");
    wait_fib(&lab.r, &[D1], Duration::from_secs(10)).expect("d2 not withdrawn");
    let (_flows, bad) = echo_all(&lab.c, flows, "control");
    println!(
        "control without sloppy_tcp: {} of 16 flows broken by the move",
        bad.len()
    );
    assert!(
        !bad.is_empty(),
        "the move cannot be what kept the flows alive"
    );
}
