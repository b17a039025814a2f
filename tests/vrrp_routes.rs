//! Routes, rules and addresses that follow VRRP state, on the namespace LAN (tests/vrrp_lab):
//! `static_ipaddress` / `static_routes` / `static_rules` held on both directors from the start
//! (and put back when deleted by hand), `virtual_routes` / `virtual_rules` on the MASTER only,
//! moving on failover; a tracked virtual route deleted on the master makes it leave MASTER
//! and the peer take over, a `no_track` one is left missing; everything goes at exit. The
//! last test runs keepalived 2.2.7 and lvsd on the same configuration and compares what
//! `ip route` / `ip rule` show.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::{Lab, Spec};

const N1: u8 = 1;
const N2: u8 = 2;

/// The route and rule blocks both directors get (node `n` owns 10.77.5.n).
fn statics(n: u8) -> String {
    format!(
        "static_ipaddress {{\n  10.77.5.{n}/24 dev eth0\n}}\n\
         static_routes {{\n  10.77.50.0/24 via 10.77.0.254 dev eth0 table 200\n  \
         2001:db8:50::/64 via fd00:77::fe dev eth0 table 200 metric 7\n}}\n\
         static_rules {{\n  from 10.77.50.0/24 table 200 preference 200\n}}\n"
    )
}

const VIRTUAL: &str = "  virtual_routes {
    10.77.60.0/24 via 10.77.0.254 dev eth0 table 201
    10.77.61.0/24 via 10.77.0.254 dev eth0 table 201 no_track
    blackhole 10.77.62.0/24 table 201
    10.77.63.0/24 table 201 nexthop via 10.77.0.253 dev eth0 weight 1 nexthop via 10.77.0.254 dev eth0 weight 2
    src 10.77.0.100 10.77.64.0/24 via 10.77.0.254 dev eth0 table 201 metric 5 mtu 1400 advmss 1360
  }
  virtual_rules {
    from 10.77.60.0/24 table 201 preference 201
    to 10.77.61.0/24 fwmark 0x10/0xff iif eth0 table 201 preference 202 no_track
  }
";

/// A whole keepalived.conf: the lab's instance plus our blocks.
fn conf(n: u8, spec: &Spec) -> String {
    let base = spec.keepalived_conf();
    let body = base.strip_suffix("}\n").unwrap_or(&base);
    format!("{}{body}{VIRTUAL}}}\n", statics(n))
}

fn ip(lab: &Lab, node: u8, args: &[&str]) -> String {
    let mut a = vec!["ip"];
    a.extend_from_slice(args);
    let o = lab.exec(node, &a);
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ip route show table T` (empty when the table does not exist yet).
fn table(lab: &Lab, node: u8, t: &str) -> String {
    let o = lab.exec(node, &["ip", "route", "show", "table", t]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rules(lab: &Lab, node: u8) -> String {
    ip(lab, node, &["rule", "show"])
}

/// Polls `f` until true or `timeout`; the time it took.
fn wait(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn has_virtual(lab: &Lab, node: u8) -> bool {
    let t = table(lab, node, "201");
    t.contains("10.77.60.0/24 via 10.77.0.254 dev eth0 proto keepalived")
        && t.contains("blackhole 10.77.62.0/24 proto keepalived")
        && t.contains("nexthop via 10.77.0.254 dev eth0 weight 2")
        && t.contains("10.77.64.0/24 via 10.77.0.254 dev eth0 proto keepalived src 10.77.0.100 metric 5 mtu 1400 advmss 1360")
        && rules(lab, node).contains("201:\tfrom 10.77.60.0/24 lookup 201 proto keepalived")
        && rules(lab, node).contains("202:\tfrom all to 10.77.61.0/24 fwmark 0x10/0xff iif eth0 lookup 201\n")
}

fn has_none_virtual(lab: &Lab, node: u8) -> bool {
    table(lab, node, "201").trim().is_empty() && !rules(lab, node).contains("lookup 201")
}

fn has_static(lab: &Lab, node: u8) -> bool {
    table(lab, node, "200").contains("10.77.50.0/24 via 10.77.0.254 dev eth0 proto keepalived")
        && String::from_utf8_lossy(
            &lab.exec(node, &["ip", "-6", "route", "show", "table", "200"])
                .stdout,
        )
        .contains("2001:db8:50::/64 via fd00:77::fe dev eth0 proto keepalived metric 7")
        && rules(lab, node).contains("200:\tfrom 10.77.50.0/24 lookup 200 proto keepalived")
        && lab.has(node, &format!("10.77.5.{node}"))
}

fn state(d: &vrrp_lab::Daemon) -> String {
    d.instance_status()["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn routes_and_rules_follow_the_master_and_tracked_ones_fail_over() {
    let lab = Lab::new("rt");
    // nopreempt: after the tracked route goes, the peer keeps MASTER (no flap back).
    let spec = |p| Spec {
        nopreempt: true,
        ..Spec::v4(3, p, 0.1)
    };
    // n1 first: with nopreempt, whichever starts first stays MASTER.
    let mut a = lab.start_lvsd_text(N1, &conf(N1, &spec(150)), false);
    assert!(
        wait(Duration::from_secs(5), || has_virtual(&lab, N1)).is_some(),
        "n1 (master) lacks its virtual routes/rules:\n{}\n{}\n{}",
        table(&lab, N1, "201"),
        rules(&lab, N1),
        a.log_text()
    );
    let mut b = lab.start_lvsd_text(N2, &conf(N2, &spec(100)), false);
    assert_eq!(state(&a), "MASTER");
    // Static ones on both, virtual ones on the master only.
    for n in [N1, N2] {
        assert!(
            wait(Duration::from_secs(2), || has_static(&lab, n)).is_some(),
            "n{n} lacks its static address/routes/rules:\n{}\n{}",
            table(&lab, n, "200"),
            rules(&lab, n)
        );
    }
    assert!(
        has_none_virtual(&lab, N2),
        "backup holds virtual routes:\n{}",
        table(&lab, N2, "201")
    );

    // A static route and rule deleted by hand come back.
    ip(&lab, N2, &["route", "del", "10.77.50.0/24", "table", "200"]);
    ip(&lab, N2, &["rule", "del", "pref", "200"]);
    let t = wait(Duration::from_secs(2), || has_static(&lab, N2));
    assert!(
        t.is_some(),
        "static route/rule not restored:\n{}",
        table(&lab, N2, "200")
    );
    eprintln!(
        "static route and rule restored after {:?}",
        t.unwrap_or_default()
    );

    // A no_track virtual route deleted on the master: left missing, still MASTER.
    ip(&lab, N1, &["route", "del", "10.77.61.0/24", "table", "201"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&a), "MASTER");
    assert!(
        !table(&lab, N1, "201").contains("10.77.61.0/24"),
        "no_track route reinstated"
    );

    // A tracked one: n1 leaves MASTER, its routes/rules go, n2 takes over with them.
    let t0 = Instant::now();
    ip(&lab, N1, &["route", "del", "10.77.60.0/24", "table", "201"]);
    assert!(
        wait(Duration::from_secs(3), || has_virtual(&lab, N2)).is_some(),
        "n2 did not take over the virtual routes:\n{}\n{}",
        table(&lab, N2, "201"),
        b.log_text()
    );
    eprintln!(
        "tracked route deleted → routes on the peer after {:?}",
        t0.elapsed()
    );
    assert!(
        wait(Duration::from_secs(2), || has_none_virtual(&lab, N1)).is_some(),
        "n1 kept virtual routes after leaving MASTER:\n{}",
        table(&lab, N1, "201")
    );
    assert_eq!(state(&a), "BACKUP");
    assert_eq!(state(&b), "MASTER");
    assert!(!lab.has(N1, "10.77.0.100") && lab.has(N2, "10.77.0.100"));
    assert!(
        a.log_text().contains("was deleted: leaving MASTER"),
        "{}",
        a.log_text()
    );

    // n2 stops: n1 becomes MASTER again with every virtual route (the no_track one too);
    // n2 leaves nothing behind, static ones included (as keepalived).
    b.term();
    b.wait();
    assert!(
        wait(Duration::from_secs(3), || has_virtual(&lab, N1)
            && table(&lab, N1, "201").contains("10.77.61.0/24"))
        .is_some(),
        "n1 did not reinstall its routes on becoming MASTER again:\n{}",
        table(&lab, N1, "201")
    );
    assert!(has_none_virtual(&lab, N2));
    assert!(
        table(&lab, N2, "200").trim().is_empty(),
        "{}",
        table(&lab, N2, "200")
    );
    assert!(!rules(&lab, N2).contains("lookup 200"));
    assert!(!lab.has(N2, "10.77.5.2"));

    // A virtual address deleted by hand counts as a tracked one (as keepalived): n1 resigns,
    // and, alone now, becomes MASTER again with its VIP and routes.
    ip(&lab, N1, &["addr", "del", "10.77.0.100/24", "dev", "eth0"]);
    assert!(
        wait(Duration::from_secs(2), || a.log_text().contains(
            "tracked address 10.77.0.100/24 dev eth0 was deleted: leaving MASTER"
        ))
        .is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait(Duration::from_secs(3), || lab.has(N1, "10.77.0.100")
            && has_virtual(&lab, N1))
        .is_some(),
        "n1 did not come back as MASTER:\n{}",
        a.log_text()
    );
    a.term();
    a.wait();
    // Exactly the two deletions above; none when n1 dropped its own VIPs (leaving MASTER,
    // stopping).
    assert_eq!(
        a.log_text().matches("was deleted: leaving MASTER").count(),
        2,
        "{}",
        a.log_text()
    );
}

/// The `ip route` / `ip rule` option set, as keepalived.conf(5)'s examples use it.
const RICH: &str = "static_routes {
  10.77.70.0/24 dev eth0 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 realms 30/20 rto_min 108 initcwnd 109 initrwnd 110 features ecn quickack 1 congctl cubic
  2001:db8:70::4 dev eth0 table 6909 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 pref high
  10.77.71.0/24 via 10.77.0.253 dev eth0 table 6909 onlink
  unreachable 10.77.72.0/24 table 6909
  prohibit 10.77.73.0/24 table 6909 metric 3
  throw 10.77.74.0/24 table 6909
  default via 10.77.0.254 dev eth0 table 6910
  10.77.77.0/24 via 10.77.0.250 dev eth0 table 6909 metric 20
  10.77.77.0/24 via 10.77.0.251 dev eth0 table 6909 metric 20 append
  10.77.76.0/24 table 6909 protocol static metric 9 nexthop via 10.77.0.250 dev eth0 nexthop via 10.77.0.251 dev eth0 weight 3 onlink
}
static_rules {
  from 10.77.28.0/24 to 10.77.29.0/26 table 6908 iif eth0 oif eth0 tos 0x10 fwmark 8/12 preference 39 realms 30/20
  from 10.77.30.0/24 goto 47 preference 40
  to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 table 6908 uidrange 10000-19999 preference 45
  to 1:2:3:4:6:6:7:0/112 from 8:6:5:4:3:2::/96 l3mdev protocol 12 ipproto udp sport 10-20 dport 20-30 preference 46
  not from 10.77.31.0/24 table 6908 suppress_prefixlength 0 preference 47
  fwmark 0x20 blackhole preference 48
  from 10.77.32.0/24 prohibit preference 49
}
";

/// Everything `ip` shows of our tables and rules on `node`, one block per command.
fn snapshot(lab: &Lab, node: u8) -> String {
    let mut out = String::new();
    for args in [
        &["ip", "-d", "route", "show", "table", "6909"][..],
        &["ip", "-d", "-6", "route", "show", "table", "6909"],
        &["ip", "route", "show", "table", "6910"],
        &["ip", "route", "show", "table", "200"],
        &["ip", "-6", "route", "show", "table", "200"],
        &["ip", "route", "show", "table", "201"],
        &["ip", "rule", "show"],
        &["ip", "-6", "rule", "show"],
        &["ip", "-br", "addr", "show", "dev", "eth0"],
    ] {
        let o = lab.exec(node, args);
        out += &format!(
            "$ {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stdout)
        );
    }
    out
}

#[test]
fn lvsd_installs_what_keepalived_installs() {
    let lab = Lab::new("rk");
    let text = format!("{RICH}{}", conf(N1, &Spec::v4(3, 150, 0.1)));
    let empty = snapshot(&lab, N1);

    let mut ka = lab.start_keepalived_text(N1, &text);
    assert!(
        wait(Duration::from_secs(6), || has_virtual(&lab, N1)).is_some(),
        "keepalived did not become MASTER with its routes:\n{}\n{}",
        snapshot(&lab, N1),
        ka.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let theirs = snapshot(&lab, N1);
    // `append`: a second route with the same key; the nexthop and `or`-free option set.
    assert_eq!(theirs.matches("10.77.77.0/24 via").count(), 2, "{theirs}");
    assert!(
        theirs.contains("nexthop via 10.77.0.251 dev eth0 weight 3 onlink"),
        "{theirs}"
    );
    ka.term();
    ka.wait();
    assert!(
        wait(Duration::from_secs(3), || snapshot(&lab, N1) == empty).is_some(),
        "keepalived left state behind:\n{}",
        snapshot(&lab, N1)
    );

    let mut ours = lab.start_lvsd_text(N1, &text, false);
    assert!(
        wait(Duration::from_secs(6), || has_virtual(&lab, N1)).is_some(),
        "lvsd did not become MASTER with its routes:\n{}\n{}",
        snapshot(&lab, N1),
        ours.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let mine = snapshot(&lab, N1);
    assert_eq!(mine, theirs, "lvsd (left) and keepalived (right) differ");
    ours.term();
    ours.wait();
    assert!(
        wait(Duration::from_secs(3), || snapshot(&lab, N1) == empty).is_some(),
        "lvsd left state behind:\n{}",
        snapshot(&lab, N1)
    );
}

/// lvsd and keepalived as peers on one configuration: a tracked virtual route deleted on
/// either master moves the VIP and the virtual routes/rules to the other, both ways.
#[test]
fn tracked_route_failover_interoperates_with_keepalived() {
    let lab = Lab::new("ri");
    let spec = |p| Spec {
        nopreempt: true,
        ..Spec::v4(3, p, 0.1)
    };
    let mut ours = lab.start_lvsd_text(N1, &conf(N1, &spec(150)), false);
    assert!(
        wait(Duration::from_secs(5), || has_virtual(&lab, N1)).is_some(),
        "lvsd not MASTER with its routes:\n{}",
        ours.log_text()
    );
    let mut ka = lab.start_keepalived_text(N2, &conf(N2, &spec(100)));
    assert!(
        wait(Duration::from_secs(5), || has_static(&lab, N2)).is_some(),
        "keepalived did not install its static routes:\n{}",
        ka.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(has_none_virtual(&lab, N2) && has_virtual(&lab, N1));

    // lvsd's tracked route goes: keepalived takes over.
    ip(&lab, N1, &["route", "del", "10.77.60.0/24", "table", "201"]);
    let t = wait(Duration::from_secs(3), || has_virtual(&lab, N2));
    eprintln!("lvsd's tracked route deleted → keepalived holds the routes after {t:?}");
    assert!(
        t.is_some(),
        "keepalived did not take over:\n{}\n{}",
        table(&lab, N2, "201"),
        ka.log_text()
    );
    assert!(wait(Duration::from_secs(2), || has_none_virtual(&lab, N1)).is_some());
    assert_eq!(state(&ours), "BACKUP");

    // keepalived's tracked rule goes: lvsd takes over again.
    ip(&lab, N2, &["rule", "del", "pref", "201"]);
    let t = wait(Duration::from_secs(3), || has_virtual(&lab, N1));
    eprintln!("keepalived's tracked rule deleted → lvsd holds the routes after {t:?}");
    assert!(
        t.is_some(),
        "lvsd did not take over from keepalived:\n{}\n{}",
        table(&lab, N1, "201"),
        ours.log_text()
    );
    assert_eq!(state(&ours), "MASTER");
    assert!(wait(Duration::from_secs(2), || has_none_virtual(&lab, N2)).is_some());
    ka.term();
    ka.wait();
    ours.term();
    ours.wait();
}

/// A reload (SIGHUP) converges: a route the new file drops goes, a new one appears, on the
/// master and for the static set, without a failover.
#[test]
fn reload_adds_and_removes_routes_in_place() {
    let lab = Lab::new("rr");
    let spec = Spec::v4(3, 150, 0.1);
    let mut a = lab.start_lvsd_text(N1, &conf(N1, &spec), false);
    assert!(
        wait(Duration::from_secs(5), || has_virtual(&lab, N1)).is_some(),
        "{}",
        a.log_text()
    );
    let next = conf(N1, &spec)
        .replace(
            "    blackhole 10.77.62.0/24 table 201\n",
            "    unreachable 10.77.65.0/24 table 201\n",
        )
        .replace(
            "  10.77.50.0/24 via 10.77.0.254 dev eth0 table 200\n",
            "  10.77.51.0/24 via 10.77.0.254 dev eth0 table 200\n",
        );
    std::fs::write(&a.conf, next).expect("rewrite conf");
    a.hup();
    let done = wait(Duration::from_secs(3), || {
        let v = table(&lab, N1, "201");
        let s = table(&lab, N1, "200");
        v.contains("unreachable 10.77.65.0/24")
            && !v.contains("10.77.62.0/24")
            && s.contains("10.77.51.0/24")
            && !s.contains("10.77.50.0/24")
    });
    assert!(
        done.is_some(),
        "reload not converged:\n{}\n{}\n{}",
        table(&lab, N1, "201"),
        table(&lab, N1, "200"),
        a.log_text()
    );
    assert_eq!(state(&a), "MASTER");
    assert_eq!(
        a.log_text().matches("entering MASTER state").count(),
        1,
        "the reload caused a failover:\n{}",
        a.log_text()
    );
    a.term();
    a.wait();
}

/// `-V` (keepalived: keep VIPs and VROUTEs at stop): the virtual routes and rules stay after
/// SIGTERM; the static ones go as always.
#[test]
fn dont_release_vrrp_keeps_virtual_routes() {
    let lab = Lab::new("rv");
    let path = lab.dir.join("v.conf");
    std::fs::write(&path, conf(N1, &Spec::v4(3, 150, 0.1))).expect("conf");
    let log = std::fs::File::create(lab.dir.join("v.log")).expect("log");
    let mut child = vrrp_lab::lvsd_command(&lab.ns(N1), &path, false)
        .arg("-V")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn lvsd");
    let up = wait(Duration::from_secs(5), || {
        has_virtual(&lab, N1) && has_static(&lab, N1)
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
    let log = std::fs::read_to_string(lab.dir.join("v.log")).unwrap_or_default();
    assert!(up.is_some(), "{log}");
    assert!(
        has_virtual(&lab, N1),
        "-V: virtual routes removed:\n{}\n{log}",
        table(&lab, N1, "201")
    );
    assert!(
        table(&lab, N1, "200").trim().is_empty(),
        "static route kept:\n{log}"
    );
}
