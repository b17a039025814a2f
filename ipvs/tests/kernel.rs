//! The client and reconciler against a real IPVS kernel, witnessed by `ipvsadm`.
//!
//! `in_vm` boots the IPVS VM once (tests/vm/ipvs-vm.sh) and runs every `kernel_*` test of this
//! binary inside it, one at a time; on the host they show as ignored and run only through it.
//! Each inner test starts from an empty table (`ipvsadm -C`) and checks the kernel through
//! `ipvsadm -Ln --exact` / `-Sn` / `--stats` / `--thresholds` / `--tun-info`, not only through our
//! own dump.

#[path = "../../tests/vm/harness.rs"]
mod vm;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use ipvs::{
    Af, Client, DaemonConfig, DaemonState, Dest, DestKey, Forward, Ipvs, Op, Ownership, Plan,
    Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Table, Timeouts, TunnelType, reconcile,
};

const INNER: usize = 14;

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("kernel_", INNER);
}

/// Runs ipvsadm with whitespace-separated args; panics on failure; returns stdout.
fn ipvsadm(args: &str) -> String {
    let out = Command::new("ipvsadm")
        .args(args.split_whitespace())
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lines with runs of blanks collapsed.
fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Asserts that ipvsadm's listing contains every expected line.
fn assert_listing(args: &str, expected: &[&str]) {
    let got = lines(&ipvsadm(args));
    for want in expected {
        assert!(
            got.iter().any(|l| l == want),
            "`ipvsadm {args}` lacks {want:?}; it printed:\n{}",
            got.join("\n")
        );
    }
}

/// `ipvsadm -Sn` as a set of lines: the kernel table in rule form.
fn saved_rules() -> BTreeSet<String> {
    lines(&ipvsadm("-Sn"))
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}

async fn fresh() -> Client {
    ipvsadm("-C");
    Client::connect().await.expect("connect to IPVS in the VM")
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Kernel release as (major, minor).
fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A table of `n` TCP services on 10.1.x.y:80 with `m` masq destinations each.
fn big_table(n: usize, m: usize) -> Table {
    let mut t = Table::new();
    for i in 0..n {
        let key = ServiceKey::tcp(v4(10, 1, (i / 250) as u8, (i % 250 + 1) as u8), 80);
        t.add_service(Service::new(key, Scheduler::Wrr));
        for j in 0..m {
            let d = Dest::new(
                v4(10, 2, (i % 250) as u8, (j + 1) as u8),
                8080,
                Forward::Masq,
            );
            t.add_dest(&key, d.weight(j as u32 + 1));
        }
    }
    t
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_every_scheduler() {
    let c = fresh().await;
    let has_twos = kernel_version() >= (6, 2);
    for (i, sched) in Scheduler::KNOWN.iter().enumerate() {
        let svc = Service::new(
            ServiceKey::tcp(v4(10, 0, 0, 1), 1000 + i as u16),
            sched.clone(),
        );
        let r = c.add_service(&svc).await;
        if *sched == Scheduler::Twos && !has_twos {
            let e = r.expect_err("twos does not exist before Linux 6.2");
            assert!(
                e.to_string()
                    .contains("scheduler or persistence engine not found"),
                "{e}"
            );
            continue;
        }
        r.unwrap_or_else(|e| panic!("{sched}: {e}"));
        assert_listing(
            "-Ln --exact",
            &[&format!("TCP 10.0.0.1:{} {sched}", 1000 + i)],
        );
    }
    let dumped = c.services().await.expect("dump");
    let names: BTreeSet<String> = dumped.iter().map(|s| s.scheduler.to_string()).collect();
    let want = if has_twos { 14 } else { 13 };
    assert_eq!(names.len(), want, "{names:?}");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_every_forwarding_method_thresholds_and_tunnels() {
    let c = fresh().await;
    let key = ServiceKey::tcp(v4(10, 0, 0, 1), 80);
    c.add_service(&Service::new(key, Scheduler::Wlc))
        .await
        .expect("add service");
    let mut masq = Dest::new(v4(10, 0, 1, 1), 8080, Forward::Masq).weight(3);
    masq.u_threshold = 100;
    masq.l_threshold = 10;
    let dr = Dest::new(v4(10, 0, 1, 2), 80, Forward::DirectRoute).weight(0);
    let ipip = Dest::new(v4(10, 0, 1, 3), 80, Forward::Tunnel);
    let mut gue = Dest::new(v4(10, 0, 1, 4), 80, Forward::Tunnel);
    gue.tun_type = TunnelType::Gue;
    gue.tun_port = 6080;
    gue.tun_flags = 1;
    let mut gre = Dest::new(v4(10, 0, 1, 5), 80, Forward::Tunnel);
    gre.tun_type = TunnelType::Gre;
    gre.tun_flags = 1;
    let local = Dest::new(v4(10, 0, 1, 6), 80, Forward::Local);
    let bypass = Dest::new(v4(10, 0, 1, 7), 80, Forward::Bypass);
    // Mixed families: an IPv6 real server behind an IPv4 service, through a tunnel.
    let mixed = Dest::new(ip("2001:db8::7"), 80, Forward::Tunnel);
    for d in [&masq, &dr, &ipip, &gue, &gre, &local, &bypass, &mixed] {
        c.add_dest(&key, d)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", d.forward));
    }
    assert_listing(
        "-Ln --exact",
        &[
            "-> 10.0.1.1:8080 Masq 3 0 0",
            "-> 10.0.1.2:80 Route 0 0 0",
            "-> 10.0.1.3:80 Tunnel 1 0 0",
            "-> 10.0.1.4:80 Tunnel 1 0 0",
            "-> 10.0.1.5:80 Tunnel 1 0 0",
            "-> 10.0.1.6:80 Local 1 0 0",
            // ipvsadm has no name for bypass and prints "(null)"; /proc/net/ip_vs says Masq.
            "-> 10.0.1.7:80 (null) 1 0 0",
            "-> [2001:db8::7]:80 Tunnel 1 0 0",
        ],
    );
    assert_listing(
        "-Ln --thresholds",
        &["-> 10.0.1.1:8080 100 10 0 0", "-> 10.0.1.2:80 0 0 0 0"],
    );
    assert_listing(
        "-Ln --tun-info",
        &[
            "-> 10.0.1.3:80 Tunnel ipip 1 0 0",
            "-> 10.0.1.4:80 Tunnel gue:6080:+c 1 0 0",
            "-> 10.0.1.5:80 Tunnel gre:+c 1 0 0",
        ],
    );
    // Our dump reads back exactly what we wrote.
    let got: Vec<Dest> = c.dests(&key).await.expect("dump dests");
    for want in [&masq, &dr, &ipip, &gue, &gre, &local, &bypass, &mixed] {
        let d = got
            .iter()
            .find(|d| d.key() == want.key())
            .expect("dest dumped");
        assert!(d.same_config(want), "dumped {d:?}\nwanted {want:?}");
        assert_eq!(d.conns.map(|c| c.active), Some(0));
    }
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_fwmark_ipv6_sctp_persistence_and_flags() {
    let c = fresh().await;
    let mut want = Table::new();
    let fw4 = ServiceKey::fwmark(Af::Inet, 5);
    want.add_service(Service::new(fw4, Scheduler::Rr).persistent(120));
    want.add_dest(
        &fw4,
        Dest::new(v4(10, 0, 1, 1), 0, Forward::DirectRoute).weight(2),
    );
    let fw6 = ServiceKey::fwmark(Af::Inet6, 6);
    let mut s = Service::new(fw6, Scheduler::Sh);
    s.flags.0 |= ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT;
    want.add_service(s);
    want.add_dest(&fw6, Dest::new(ip("2001:db8::10"), 0, Forward::DirectRoute));
    let udp6 = ServiceKey::udp(ip("2001:db8::1"), 53);
    let mut s = Service::new(udp6, Scheduler::Mh).persistent(30);
    s.netmask = 64;
    s.flags.0 |= ServiceFlags::ONEPACKET;
    want.add_service(s);
    want.add_dest(
        &udp6,
        Dest::new(ip("2001:db8::5"), 53, Forward::Masq).weight(7),
    );
    let tcp4 = ServiceKey::tcp(v4(10, 0, 0, 1), 443);
    let mut s = Service::new(tcp4, Scheduler::Lblcr).persistent(300);
    s.netmask = 24;
    want.add_service(s);
    let sip = ServiceKey::udp(v4(10, 0, 0, 2), 5060);
    let mut s = Service::new(sip, Scheduler::Rr).persistent(10);
    s.pe_name = Some("sip".into());
    want.add_service(s);
    let sctp = ServiceKey::sctp(v4(10, 0, 0, 3), 9);
    let mut s = Service::new(sctp, Scheduler::Fo);
    s.flags.0 |= ServiceFlags::SCHED1;
    want.add_service(s);

    let plan = reconcile::plan(&Table::new(), &want, &Ownership::All);
    let report = c.apply(&plan).await.expect("apply");
    assert!(report.is_success(), "{report}");
    // ipvsadm -Sn prints the same rules our plan printed.
    let ours: BTreeSet<String> = plan.to_string().lines().map(str::to_string).collect();
    assert_eq!(saved_rules(), ours);
    assert_listing(
        "-Ln --exact",
        &[
            "FWM 5 rr persistent 120",
            "FWM 6 IPv6 sh (sh-fallback,sh-port)",
            "UDP [2001:db8::1]:53 mh persistent 30 mask 64 ops",
            "-> [2001:db8::5]:53 Masq 7 0 0",
            "TCP 10.0.0.1:443 lblcr persistent 300 mask 255.255.255.0",
            "UDP 10.0.0.2:5060 rr persistent 10 pe sip",
            "SCTP 10.0.0.3:9 fo (flag-1)",
        ],
    );
    let dumped = c.dump().await.expect("dump");
    assert!(dumped.same_config(&want), "dump differs:\n{dumped:#?}");
    assert!(reconcile::plan(&dumped, &want, &Ownership::All).is_empty());
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_edit_in_place() {
    let c = fresh().await;
    let key = ServiceKey::tcp(v4(10, 0, 0, 1), 80);
    let mut want = Table::new();
    want.add_service(Service::new(key, Scheduler::Rr));
    want.add_dest(&key, Dest::new(v4(10, 0, 1, 1), 80, Forward::Masq));
    want.add_dest(&key, Dest::new(v4(10, 0, 1, 2), 80, Forward::Masq));
    let (_, r) = c
        .reconcile(&want, &Ownership::All)
        .await
        .expect("first pass");
    assert!(r.is_success(), "{r}");
    ipvsadm("-Z");

    // Scheduler + persistence, weight + method + thresholds + tunnel: all edits, no delete.
    want.add_service(Service::new(key, Scheduler::Wlc).persistent(60));
    let mut d = Dest::new(v4(10, 0, 1, 1), 80, Forward::Tunnel).weight(9);
    d.u_threshold = 50;
    d.tun_type = TunnelType::Gue;
    d.tun_port = 5555;
    want.add_dest(&key, d);
    let (plan, r) = c
        .reconcile(&want, &Ownership::All)
        .await
        .expect("second pass");
    assert!(r.is_success(), "{r}");
    assert_eq!(plan.len(), 2, "{plan}");
    assert!(matches!(plan.ops[0], Op::EditService(_)), "{plan}");
    assert!(matches!(plan.ops[1], Op::EditDest(..)), "{plan}");
    assert_listing(
        "-Ln --tun-info",
        &[
            "TCP 10.0.0.1:80 wlc persistent 60",
            "-> 10.0.1.1:80 Tunnel gue:5555:-c 9 0 0",
            "-> 10.0.1.2:80 Masq n/a 1 0 0",
        ],
    );
    assert_listing("-Ln --thresholds", &["-> 10.0.1.1:80 50 0 0 0"]);
    // Back to masquerade: the kernel drops the tunnel settings, and the diff agrees.
    want.add_dest(
        &key,
        Dest::new(v4(10, 0, 1, 1), 80, Forward::Masq).weight(9),
    );
    let (plan, r) = c
        .reconcile(&want, &Ownership::All)
        .await
        .expect("third pass");
    assert!(r.is_success() && plan.len() == 1, "{plan}{r}");
    let (plan, _) = c
        .reconcile(&want, &Ownership::All)
        .await
        .expect("fourth pass");
    assert!(plan.is_empty(), "converged, yet: {plan}");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_error_paths() {
    let c = fresh().await;
    let key = ServiceKey::tcp(v4(10, 0, 0, 1), 80);
    let svc = Service::new(key, Scheduler::Rr);
    c.add_service(&svc).await.expect("first add");
    let e = c.add_service(&svc).await.expect_err("second add");
    assert!(e.is_exists(), "{e}");
    assert_eq!(
        e.to_string(),
        "add service -t 10.0.0.1:80: service already exists (File exists (os error 17))"
    );

    let missing = ServiceKey::udp(v4(10, 0, 0, 9), 9);
    let e = c
        .del_service(&missing)
        .await
        .expect_err("delete missing service");
    assert!(e.is_not_found(), "{e}");
    assert!(
        e.to_string()
            .starts_with("delete service -u 10.0.0.9:9: no such service"),
        "{e}"
    );

    let nobody = DestKey {
        addr: v4(1, 1, 1, 1),
        port: 80,
    };
    let e = c
        .del_dest(&key, &nobody)
        .await
        .expect_err("delete missing dest");
    assert!(
        e.to_string()
            .starts_with("delete destination -t 10.0.0.1:80 -r 1.1.1.1:80: no such destination"),
        "{e}"
    );

    // A name far beyond the kernel's 15 bytes is refused cleanly, not a crash.
    let long = Service::new(
        ServiceKey::tcp(v4(10, 0, 0, 1), 83),
        Scheduler::Other("é".repeat(40000)),
    );
    let e = c
        .add_service(&long)
        .await
        .expect_err("overlong scheduler name");
    assert!(e.errno().is_some(), "{e}");

    let bogus = Service::new(
        ServiceKey::tcp(v4(10, 0, 0, 1), 81),
        Scheduler::Other("bogus".into()),
    );
    let e = c.add_service(&bogus).await.expect_err("unknown scheduler");
    assert!(
        e.to_string()
            .contains("scheduler or persistence engine not found"),
        "{e}"
    );

    let d = Dest::new(v4(10, 0, 1, 1), 80, Forward::Masq);
    c.add_dest(&key, &d).await.expect("add dest");
    let e = c.add_dest(&key, &d).await.expect_err("add dest twice");
    assert!(e.is_exists(), "{e}");

    // A plan with failing ops: every op gets its outcome, the good ones still happen.
    let plan = Plan {
        ops: vec![
            Op::AddService(bogus.clone()),
            Op::AddDest(bogus.key, d.clone()),
            Op::AddService(svc.clone()),
            Op::AddService(Service::new(
                ServiceKey::tcp(v4(10, 0, 0, 1), 82),
                Scheduler::Rr,
            )),
            Op::AddDest(ServiceKey::tcp(v4(10, 0, 0, 1), 82), d.clone()),
        ],
    };
    let r = c.apply(&plan).await.expect("apply");
    let ok: Vec<bool> = r.outcomes.iter().map(|o| o.result.is_ok()).collect();
    assert_eq!(ok, [false, false, false, true, true], "{r}");
    let text = r.to_string();
    assert!(text.starts_with("2 ops applied, 3 failed"), "{text}");
    assert!(
        text.contains("add destination -t 10.0.0.1:81 -r 10.0.1.1:80: no such service"),
        "{text}"
    );
    assert_listing(
        "-Ln --exact",
        &["TCP 10.0.0.1:82 rr", "-> 10.0.1.1:80 Masq 1 0 0"],
    );
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_reconcile_idempotent_and_restores_hand_deleted_service() {
    let c = fresh().await;
    let want = big_table(40, 5);
    let (plan, r) = c
        .reconcile(&want, &Ownership::desired_only())
        .await
        .expect("first pass");
    assert!(r.is_success(), "{r}");
    assert_eq!(r.writes(), 240);
    assert_eq!(
        saved_rules(),
        plan.to_string().lines().map(str::to_string).collect()
    );

    let (plan, r) = c
        .reconcile(&want, &Ownership::desired_only())
        .await
        .expect("second pass");
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(
        r.writes(),
        0,
        "second apply of the same table writes nothing"
    );

    // Someone deletes a service by hand and adds one of their own.
    ipvsadm("-D -t 10.1.0.7:80");
    ipvsadm("-A -t 192.0.2.1:25 -s rr");
    let (plan, r) = c
        .reconcile(&want, &Ownership::desired_only())
        .await
        .expect("third pass");
    assert!(r.is_success(), "{r}");
    assert_eq!(plan.len(), 6, "service + 5 dests come back:\n{plan}");
    assert!(
        plan.to_string().starts_with("-A -t 10.1.0.7:80 -s wrr\n"),
        "{plan}"
    );
    assert_listing(
        "-Ln --exact",
        &[
            "TCP 10.1.0.7:80 wrr",
            "-> 10.2.6.5:8080 Masq 5 0 0",
            "TCP 192.0.2.1:25 rr",
        ],
    );

    // Owning everything removes the foreign service.
    let (plan, _) = c
        .reconcile(&want, &Ownership::All)
        .await
        .expect("fourth pass");
    assert_eq!(plan.to_string(), "-D -t 192.0.2.1:25\n");
    assert!(!ipvsadm("-Ln").contains("192.0.2.1:25"));
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_one_weight_change_is_one_write() {
    let c = fresh().await;
    let mut want = big_table(100, 10);
    let (_, r) = c.reconcile(&want, &Ownership::All).await.expect("fill");
    assert!(r.is_success() && r.writes() == 1100, "{r}");
    let key = ServiceKey::tcp(v4(10, 1, 0, 50), 80);
    let mut d = want
        .get(&key)
        .expect("service")
        .dests
        .values()
        .nth(3)
        .cloned()
        .expect("dest");
    d.weight = 77;
    want.add_dest(&key, d.clone());
    let (plan, r) = c.reconcile(&want, &Ownership::All).await.expect("edit");
    assert_eq!(r.writes(), 1, "{plan}");
    assert_eq!(
        plan.to_string(),
        format!("-e -t 10.1.0.50:80 -r {} -m -w 77\n", d.key())
    );
    assert_listing("-Ln --exact", &[&format!("-> {} Masq 77 0 0", d.key())]);

    // The same change back, reconciled with only the changed service in scope.
    let mut back = want.clone();
    back.add_dest(&key, d.clone().weight(4));
    let scope = Table::changed_services(&want, &back);
    assert_eq!(scope, [key].into());
    let (plan, r) = c
        .reconcile_scoped(&back, &scope, &Ownership::All)
        .await
        .expect("scoped edit");
    assert!(r.is_success() && r.writes() == 1, "{plan}{r}");
    assert_eq!(
        plan.to_string(),
        format!("-e -t 10.1.0.50:80 -r {} -m -w 4\n", d.key())
    );
    assert_listing("-Ln --exact", &[&format!("-> {} Masq 4 0 0", d.key())]);
    assert!(c.dump().await.expect("dump").same_config(&back));
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_stats_match_ipvsadm_and_zero() {
    use std::io::{Read, Write};
    let c = fresh().await;
    // A local client through a NAT service to a local server: IPVS counts it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let key = ServiceKey::tcp(v4(127, 0, 0, 1), 7000);
    c.add_service(&Service::new(key, Scheduler::Rr))
        .await
        .expect("add");
    c.add_dest(&key, &Dest::new(v4(127, 0, 0, 1), port, Forward::Masq))
        .await
        .expect("add dest");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut b = [0u8; 5];
        s.read_exact(&mut b).expect("read");
        s.write_all(b"world").expect("write");
    });
    let mut cl = std::net::TcpStream::connect("127.0.0.1:7000").expect("connect through IPVS");
    cl.write_all(b"hello").expect("send");
    let mut b = [0u8; 5];
    cl.read_exact(&mut b).expect("recv");
    assert_eq!(&b, b"world");
    drop(cl);
    server.join().expect("server");

    // The kernel folds per-CPU counters into the reported ones every 2 s (estimator).
    let mut t = c.dump().await.expect("dump");
    for _ in 0..30 {
        if t.get(&key)
            .and_then(|e| e.service.stats)
            .is_some_and(|s| s.conns > 0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        t = c.dump().await.expect("dump");
    }
    let e = t.get(&key).expect("service");
    let st = e.service.stats.expect("service stats");
    assert_eq!(st.conns, 1);
    assert!(st.inpkts >= 3 && st.inbytes > 0, "{st:?}");
    let witness = lines(&ipvsadm("-Ln --stats --exact"));
    let row = format!(
        "TCP 127.0.0.1:7000 {} {} {} {} {}",
        st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes
    );
    assert!(
        witness.contains(&row),
        "{row:?} not in\n{}",
        witness.join("\n")
    );
    let d = e.dests.values().next().expect("dest");
    assert_eq!(d.stats.map(|s| s.conns), Some(1));

    c.zero(Some(&key)).await.expect("zero one service");
    let st = c
        .dump()
        .await
        .expect("dump")
        .get(&key)
        .and_then(|e| e.service.stats)
        .expect("stats");
    assert_eq!((st.conns, st.inpkts, st.inbytes), (0, 0, 0));
    assert_listing("-Ln --stats --exact", &["TCP 127.0.0.1:7000 0 0 0 0 0"]);
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_info_timeouts_daemons_flush() {
    let c = fresh().await;
    let info = c.info().await.expect("info");
    let header = format!(
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_tab_size
    );
    assert_eq!(lines(&ipvsadm("-Ln"))[0], header);

    c.set_timeouts(&Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    })
    .await
    .expect("set timeouts");
    assert_eq!(
        c.timeouts().await.expect("timeouts"),
        Timeouts {
            tcp: 901,
            tcp_fin: 121,
            udp: 301
        }
    );
    assert_listing("-L --timeout", &["Timeout (tcp tcpfin udp): 901 121 301"]);
    // Zero leaves a value unchanged.
    c.set_timeouts(&Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 60,
    })
    .await
    .expect("set udp only");
    assert_listing("-L --timeout", &["Timeout (tcp tcpfin udp): 901 121 60"]);

    let mut d = DaemonConfig::new(DaemonState::Master, "lo", 5);
    d.mcast_port = 8849;
    c.add_daemon(&d).await.expect("start daemon");
    assert_listing(
        "-L --daemon",
        &[
            "master sync daemon (mcast=lo, syncid=5, maxlen=1472, group=224.0.0.81, port=8849, ttl=1)",
        ],
    );
    let ds = c.daemons().await.expect("daemons");
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (
            ds[0].state,
            ds[0].mcast_ifn.as_str(),
            ds[0].sync_id,
            ds[0].mcast_port
        ),
        (DaemonState::Master, "lo", 5, 8849)
    );
    let e = c.add_daemon(&d).await.expect_err("second master");
    assert!(e.is_exists(), "{e}");
    c.del_daemon(DaemonState::Master)
        .await
        .expect("stop daemon");
    assert!(c.daemons().await.expect("daemons").is_empty());
    assert_eq!(ipvsadm("-L --daemon").trim(), "");

    c.add_service(&Service::new(
        ServiceKey::tcp(v4(10, 0, 0, 1), 80),
        Scheduler::Rr,
    ))
    .await
    .expect("add");
    c.zero(None).await.expect("zero everything");
    c.flush().await.expect("flush");
    assert_eq!(ipvsadm("-Sn").trim(), "");
    assert!(c.dump().await.expect("dump").services.is_empty());
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_dump_reads_what_ipvsadm_wrote() {
    let c = fresh().await;
    let rules = "-A -t 10.0.0.1:80 -s wrr -p 60 -M 255.255.0.0\n\
                 -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3\n\
                 -a -t 10.0.0.1:80 -r 10.0.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n\
                 -A -f 9 -6 -s mh -b mh-fallback,mh-port\n\
                 -a -f 9 -6 -r [2001:db8::9]:0 -g -w 2\n";
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ipvsadm -R");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), rules.as_bytes())
        .expect("feed");
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
    let t = c.dump().await.expect("dump");
    let empty = Table::new();
    let replay = reconcile::plan(&empty, &t, &Ownership::All).to_string();
    assert_eq!(replay, rules);
    let fw = t
        .get(&ServiceKey::fwmark(Af::Inet6, 9))
        .expect("fwmark service");
    assert_eq!(
        fw.service.flags.configured(),
        ServiceFlags(ServiceFlags::MH_FALLBACK | ServiceFlags::MH_PORT)
    );
    let k = ServiceKey::Inet {
        addr: v4(10, 0, 0, 1),
        protocol: Protocol::Tcp,
        port: 80,
    };
    assert_eq!(t.get(&k).map(|e| e.service.netmask), Some(16));
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_many_ops_in_one_apply_cross_batches() {
    // More ops than one batch, with failures spread over batches: outcomes line up with ops.
    let c = fresh().await;
    let want = big_table(60, 9); // 600 ops = 3 batches
    let mut plan = reconcile::plan(&Table::new(), &want, &Ownership::All);
    // Duplicate every 50th add: the kernel must refuse exactly those.
    let mut ops = Vec::new();
    for (i, op) in plan.ops.drain(..).enumerate() {
        ops.push(op.clone());
        if i % 50 == 0 {
            ops.push(op);
        }
    }
    let plan = Plan { ops };
    let r = c.apply(&plan).await.expect("apply");
    let failed: Vec<usize> = r
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.result.is_err())
        .map(|(i, _)| i)
        .collect();
    let expect: Vec<usize> = (0..12).map(|k| k * 51 + 1).collect();
    assert_eq!(failed, expect);
    assert!(r.failures().all(|(_, e)| e.is_exists()));
    assert!(c.dump().await.expect("dump").same_config(&want));
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_edits_keep_established_connections() {
    use std::io::{Read, Write};
    let c = fresh().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    // Echo server: one connection, 5-byte messages.
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut b = [0u8; 5];
        while s.read_exact(&mut b).is_ok() {
            if s.write_all(&b).is_err() {
                break;
            }
        }
    });
    let key = ServiceKey::tcp(v4(127, 0, 0, 1), 7001);
    let mut want = Table::new();
    want.add_service(Service::new(key, Scheduler::Rr));
    want.add_dest(&key, Dest::new(v4(127, 0, 0, 1), port, Forward::Masq));
    let (_, r) = c.reconcile(&want, &Ownership::All).await.expect("install");
    assert!(r.is_success(), "{r}");

    let mut conn = std::net::TcpStream::connect("127.0.0.1:7001").expect("connect through IPVS");
    let mut echo = |msg: &[u8; 5]| {
        conn.write_all(msg).expect("send");
        let mut b = [0u8; 5];
        conn.read_exact(&mut b).expect("echo");
        assert_eq!(&b, msg);
    };
    echo(b"ping1");

    want.add_service(Service::new(key, Scheduler::Wlc).persistent(30));
    want.add_dest(
        &key,
        Dest::new(v4(127, 0, 0, 1), port, Forward::Masq).weight(5),
    );
    let (plan, r) = c.reconcile(&want, &Ownership::All).await.expect("edit");
    assert!(r.is_success(), "{r}");
    assert!(
        plan.ops
            .iter()
            .all(|op| matches!(op, Op::EditService(_) | Op::EditDest(..))),
        "{plan}"
    );
    // The same TCP connection still goes through the edited service.
    echo(b"ping2");
    assert_listing(
        "-Ln --exact",
        &[
            "TCP 127.0.0.1:7001 wlc persistent 30",
            &format!("-> 127.0.0.1:{port} Masq 5 1 0"),
        ],
    );
    let conns = lines(&ipvsadm("-Lnc"));
    assert!(
        conns
            .iter()
            .any(|l| l.contains("ESTABLISHED") && l.contains("127.0.0.1:7001")),
        "{}",
        conns.join("\n")
    );
    drop(conn); // EOF ends the echo server
    server.join().expect("server");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_scoped_read_matches_the_full_dump() {
    let c = fresh().await;
    // More services than one GET batch, plus fwmark, IPv6, UDP, SCTP and dest-less services.
    let mut want = big_table(300, 1);
    let exotic = [
        ServiceKey::fwmark(Af::Inet, 5),
        ServiceKey::fwmark(Af::Inet6, 9),
        ServiceKey::udp(ip("2001:db8::1"), 53),
        ServiceKey::sctp(v4(10, 0, 0, 1), 3868),
        ServiceKey::tcp(v4(10, 0, 0, 1), 443),
    ];
    for (i, k) in exotic.iter().enumerate() {
        want.add_service(Service::new(*k, Scheduler::Wlc).persistent(60));
        let rip = match k.af() {
            Af::Inet => v4(10, 3, 0, i as u8 + 1),
            Af::Inet6 => ip("2001:db8::2"),
        };
        if i < 4 {
            let port = match k {
                ServiceKey::Inet { port, .. } => *port,
                ServiceKey::Fwmark { .. } => 0,
            };
            want.add_dest(k, Dest::new(rip, port, Forward::DirectRoute).weight(7));
        }
    }
    let (_, r) = c.reconcile(&want, &Ownership::All).await.expect("fill");
    assert!(r.is_success(), "{r}");
    let full = c.dump().await.expect("dump");
    assert!(full.same_config(&want));

    let missing = ServiceKey::tcp(v4(10, 9, 9, 9), 80);
    let mut keys: BTreeSet<ServiceKey> = want.services.keys().copied().collect();
    keys.insert(missing);
    let read = c.read_services(&keys).await.expect("scoped read");
    assert_eq!(
        read.service_count(),
        305,
        "every service but the missing one"
    );
    assert!(read.same_config(&full.subset(&keys)));
    assert!(read.get(&missing).is_none());

    let few: BTreeSet<ServiceKey> = [exotic[1], exotic[4], missing].into();
    let read = c.read_services(&few).await.expect("scoped read");
    assert_eq!(
        read.services.keys().copied().collect::<BTreeSet<_>>(),
        [exotic[1], exotic[4]].into()
    );
    assert!(read.same_config(&want.subset(&few)));
    assert!(
        c.read_services(&BTreeSet::new())
            .await
            .expect("empty read")
            .services
            .is_empty()
    );
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn kernel_scoped_reconcile_fixes_its_services_and_touches_no_other() {
    let c = fresh().await;
    let old = big_table(20, 3); // 10.1.0.(i+1):80 -> 10.2.i.(j+1):8080 weight j+1
    let owned = Ownership::Declared(old.services.keys().copied().collect());
    let (_, r) = c.reconcile(&old, &owned).await.expect("fill");
    assert!(r.is_success(), "{r}");
    let svc = |i: u8| ServiceKey::tcp(v4(10, 1, 0, i + 1), 80);
    let rip = |i: u8, j: u8| v4(10, 2, i, j + 1);

    // The new desired table: a weight change in service 2, a dest dropped from service 5,
    // service 7 dropped, a new service.
    let mut new = old.clone();
    new.add_dest(&svc(2), Dest::new(rip(2, 0), 8080, Forward::Masq).weight(7));
    new.services
        .get_mut(&svc(5))
        .expect("service 5")
        .dests
        .remove(&DestKey {
            addr: rip(5, 2),
            port: 8080,
        });
    new.services.remove(&svc(7));
    let added = ServiceKey::tcp(v4(10, 9, 0, 1), 443);
    new.add_service(Service::new(added, Scheduler::Wrr));
    new.add_dest(&added, Dest::new(v4(10, 9, 1, 1), 443, Forward::Masq));
    let scope = Table::changed_services(&old, &new);
    assert_eq!(scope, [svc(2), svc(5), svc(7), added].into());

    // Meanwhile, by hand: service 2 (in scope) is deleted, service 4 (out of scope) gets
    // another weight, and a foreign service appears.
    ipvsadm("-D -t 10.1.0.3:80");
    ipvsadm("-e -t 10.1.0.5:80 -r 10.2.4.2:8080 -m -w 60");
    ipvsadm("-A -t 192.0.2.1:25 -s rr");
    let before = saved_rules();

    let (plan, r) = c
        .reconcile_scoped(&new, &scope, &owned)
        .await
        .expect("scoped pass");
    assert!(r.is_success(), "{r}");
    assert_eq!(
        plan.to_string(),
        "-D -t 10.1.0.8:80\n\
         -d -t 10.1.0.6:80 -r 10.2.5.3:8080\n\
         -A -t 10.1.0.3:80 -s wrr\n\
         -a -t 10.1.0.3:80 -r 10.2.2.1:8080 -m -w 7\n\
         -a -t 10.1.0.3:80 -r 10.2.2.2:8080 -m -w 2\n\
         -a -t 10.1.0.3:80 -r 10.2.2.3:8080 -m -w 3\n\
         -A -t 10.9.0.1:443 -s wrr\n\
         -a -t 10.9.0.1:443 -r 10.9.1.1:443 -m -w 1\n"
    );
    assert_eq!(r.writes(), 8);
    assert_listing(
        "-Ln --exact",
        &[
            "TCP 10.1.0.3:80 wrr",
            "-> 10.2.2.1:8080 Masq 7 0 0",
            "TCP 10.9.0.1:443 wrr",
            "-> 10.2.4.2:8080 Masq 60 0 0", // out of scope: the hand edit stays
            "TCP 192.0.2.1:25 rr",
        ],
    );
    let listing = ipvsadm("-Ln --exact");
    assert!(!listing.contains("10.1.0.8:80"), "{listing}");
    assert!(!listing.contains("10.2.5.3:8080"), "{listing}");
    // Every rule outside the scope is exactly as before.
    let in_scope = |l: &String| scope.iter().any(|k| l.contains(&format!("{k} ")));
    let after = saved_rules();
    let outside = |rules: &BTreeSet<String>| -> BTreeSet<String> {
        rules.iter().filter(|l| !in_scope(l)).cloned().collect()
    };
    assert_eq!(outside(&before), outside(&after));

    // Level-triggered and idempotent: the same scope again writes nothing.
    let (plan, r) = c
        .reconcile_scoped(&new, &scope, &owned)
        .await
        .expect("second scoped pass");
    assert!(plan.is_empty() && r.writes() == 0, "{plan}");

    // The periodic full pass repairs the hand edit outside the scope, and nothing else.
    let (plan, r) = c.reconcile(&new, &owned).await.expect("full pass");
    assert!(r.is_success(), "{r}");
    assert_eq!(
        plan.to_string(),
        "-e -t 10.1.0.5:80 -r 10.2.4.2:8080 -m -w 2\n"
    );
    assert_listing("-Ln --exact", &["TCP 192.0.2.1:25 rr"]);
    let mut foreign = new.clone();
    foreign.add_service(Service::new(
        ServiceKey::tcp(v4(192, 0, 2, 1), 25),
        Scheduler::Rr,
    ));
    assert!(c.dump().await.expect("dump").same_config(&foreign));
}
