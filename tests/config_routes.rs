//! `virtual_routes` / `static_routes` / `virtual_rules` / `static_rules` lines: the typed
//! model of the `ip route` / `ip rule` options keepalived 2.2.7 accepts, and the warnings
//! (file:line:col) for what it refuses or changes.

use std::path::Path;

use lvsd::config::model::*;
use lvsd::config::{LoadOptions, Loaded, Severity, load_str};

fn load(text: &str) -> Loaded {
    match load_str(text, Path::new("test.conf"), &LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => panic!(
            "refused: {:?}",
            e.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ),
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.to_string())
        .collect()
}

fn routes(lines: &str) -> (Vec<VirtualRoute>, Vec<String>) {
    let l = load(&format!("static_routes {{\n{lines}\n}}\n"));
    let w = warnings(&l);
    (l.config.static_routes, w)
}

fn rules(lines: &str) -> (Vec<VirtualRule>, Vec<String>) {
    let l = load(&format!("static_rules {{\n{lines}\n}}\n"));
    let w = warnings(&l);
    (l.config.static_rules, w)
}

#[test]
fn route_options_are_typed_with_names_resolved() {
    let (r, w) = routes(
        "  src 10.0.0.1 to 10.1.0.0/16 via 10.0.0.254 dev eth0 table main metric 5 scope link tos 0x10 realms 3/4 mtu lock 1400 advmss 1360 rtt 300ms congctl cubic features ecn onlink",
    );
    assert!(w.is_empty(), "{w:?}");
    let s = &r[0].spec;
    assert_eq!(s.dst, Prefix::parse("10.1.0.0/16", false));
    assert_eq!(s.src, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(s.via, Some("10.0.0.254".parse().unwrap()));
    assert_eq!(
        (s.table, s.metric, s.scope, s.tos),
        (254, Some(5), Some(253), Some(0x10))
    );
    assert_eq!(s.realms, Some((3 << 16) | 4));
    assert_eq!(s.protocol, PROTO_KEEPALIVED);
    assert!(s.onlink);
    assert_eq!(
        s.metrics,
        vec![
            RouteMetric {
                value: RouteMetricValue::Number(2, 1400),
                lock: true
            },
            RouteMetric {
                value: RouteMetricValue::Number(8, 1360),
                lock: false
            },
            RouteMetric {
                value: RouteMetricValue::Number(4, 300 * 8),
                lock: false
            },
            RouteMetric {
                value: RouteMetricValue::CongCtl("cubic".into()),
                lock: false
            },
            RouteMetric {
                value: RouteMetricValue::Number(12, 1),
                lock: false
            },
        ]
    );
    assert!(!r[0].no_track);
}

#[test]
fn types_nexthops_and_ipv6() {
    let (r, w) = routes(
        "  blackhole 10.2.0.0/16 table 100\n  10.3.0.0/16 table 6909 nexthop via 10.0.0.1 dev eth0 weight 1 nexthop via 10.0.0.2 dev eth1 onlink weight 2\n  2001:db8::/64 via fe80::1 dev eth0 pref high",
    );
    assert_eq!(r.len(), 3, "{w:?}");
    assert_eq!(r[0].spec.kind, RouteKind::Blackhole);
    assert_eq!(r[0].spec.table, 100);
    // keepalived cannot track a route without an interface.
    assert!(r[0].no_track);
    assert!(
        w[0].contains("test.conf:2:3") && w[0].contains("cannot track route 10.2.0.0/16"),
        "{w:?}"
    );
    let hops = &r[1].spec.nexthops;
    assert_eq!(hops.len(), 2);
    assert_eq!(
        (hops[1].weight, hops[1].onlink, hops[1].dev.as_deref()),
        (2, true, Some("eth1"))
    );
    // keepalived tracks a route by the line's own `dev` only.
    assert!(r[1].no_track);
    assert!(r[2].spec.is_ipv6());
    assert_eq!(r[2].spec.pref, Some(1));
}

#[test]
fn invalid_route_values_name_their_word_and_drop_the_line() {
    // (line, the word the warning points at, what it says)
    for (line, at, what) in [
        (
            "  10.1.0.0/16 via 10.0.0.300 dev eth0",
            "10.0.0.300",
            "invalid route gateway `10.0.0.300`",
        ),
        (
            "  10.1.0.0/16 dev eth0 table nosuchtable",
            "nosuchtable",
            "invalid routing table `nosuchtable`",
        ),
        (
            "  10.1.0.0/16 dev eth0 scope far",
            "far",
            "invalid scope `far`",
        ),
        (
            "  10.1.0.0/16 dev eth0 tos 3",
            "3",
            "the ECN bits must be 0",
        ),
        ("  10.1.0.0/16 dev eth0 mtu big", "big", "invalid mtu `big`"),
        (
            "  10.1.0.0/16 nexthop via 10.0.0.1 dev eth0 weight 300",
            "300",
            "outside 1..=256",
        ),
        (
            "  10.1.0.0/16 dev eth0 encap mpls 100",
            "encap",
            "lvsd does not install routes with `encap`",
        ),
        (
            "  blackhole 10.1.0.0/16 via 10.0.0.1",
            "blackhole",
            "takes no gateway",
        ),
    ] {
        let col = line.rfind(&format!(" {at}")).map_or(0, |i| i + 2);
        let (r, w) = routes(line);
        assert!(r.is_empty(), "{line}");
        assert!(
            w.iter()
                .any(|m| m.contains(&format!("test.conf:2:{col}")) && m.contains(what)),
            "{line}: {w:?}"
        );
    }
}

#[test]
fn keepalived_resets_the_protocol_of_tracked_routes_and_raises_small_rtts() {
    let (r, w) = routes(
        "  10.1.0.0/16 dev eth0 protocol bird rtt 102\n  10.2.0.0/16 dev eth0 protocol bird no_track",
    );
    assert_eq!(r[0].spec.protocol, PROTO_KEEPALIVED);
    assert_eq!(r[1].spec.protocol, 12);
    assert!(w.iter().any(|m| m.contains("resetting protocol")), "{w:?}");
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:2:42") && m.contains("200ms")),
        "{w:?}"
    );
    assert_eq!(
        r[0].spec.metrics[0].value,
        RouteMetricValue::Number(4, 200 * 8)
    );
}

#[test]
fn shortened_names_keepalived_refuses_drop_the_line() {
    let (r, w) = routes(
        "  10.1.0.0/16 dev eth0 proto static\n  10.2.0.0/16 dev eth0 pervasive\n  10.3.0.0/16 gw 10.0.0.1 dev eth0",
    );
    assert_eq!(r.len(), 1, "{w:?}");
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:2:24") && m.contains("`proto`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:3:24") && m.contains("`pervasive`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:4:15") && m.contains("deprecated")),
        "{w:?}"
    );
    let (r, w) = rules(
        "  from 10.0.0.0/8 table 1 pref 2\n  from 10.0.0.0/8 table 1 ip_proto udp preference 3\n  from 10.0.0.0/8 table 1 proto static preference 4\n  from 10.0.0.0/8 lookup 1 dev eth0 preference 5",
    );
    assert_eq!(r.len(), 1, "{w:?}");
    assert_eq!(r[0].spec.iif.as_deref(), Some("eth0"));
    assert_eq!(
        w.iter()
            .filter(|m| m.contains("unknown rule option"))
            .count(),
        3,
        "{w:?}"
    );
}

#[test]
fn rule_options_are_typed() {
    let (r, w) = rules(
        "  from 10.0.0.0/8 to 10.1.0.0/16 iif eth0 oif eth1 fwmark 0x10/0xff tos 0x10 table 100 preference 10\n  not from 10.2.0.0/16 goto 30 preference 20 no_track\n  to 2001:db8::/32 uidrange 100-200 ipproto udp sport 10-20 dport 30 blackhole preference 30\n  fwmark 7 table main suppress_prefixlength 0 priority 40",
    );
    assert!(w.is_empty(), "{w:?}");
    let a = &r[0].spec;
    assert_eq!(
        (a.from, a.to),
        (
            Prefix::parse("10.0.0.0/8", false),
            Prefix::parse("10.1.0.0/16", false)
        )
    );
    assert_eq!(
        (a.fwmark, a.fwmask, a.tos, a.table),
        (Some(16), Some(255), Some(16), Some(100))
    );
    assert_eq!(
        (a.iif.as_deref(), a.oif.as_deref()),
        (Some("eth0"), Some("eth1"))
    );
    assert_eq!(
        (a.action, a.preference, a.protocol),
        (RuleAction::Table, 10, PROTO_KEEPALIVED)
    );
    let b = &r[1].spec;
    assert!(b.not && r[1].no_track);
    assert_eq!(
        (b.action, b.goto, b.protocol),
        (RuleAction::Goto, Some(30), 0)
    );
    let c = &r[2].spec;
    assert!(c.is_ipv6());
    assert_eq!(
        (c.action, c.uidrange, c.ipproto),
        (RuleAction::Blackhole, Some((100, 200)), Some(17))
    );
    assert_eq!((c.sport, c.dport), (Some((10, 20)), Some((30, 30))));
    assert_eq!(
        (r[3].spec.table, r[3].spec.suppress_prefixlength),
        (Some(254), Some(0))
    );
}

#[test]
fn rule_warnings_as_keepalived() {
    let (r, w) = rules(
        "  from 10.0.0.0/8 table 100\n  from 10.0.0.0/8 preference 5\n  from 10.0.0.0/8 table 100 fwmark x preference 6\n  from 10.0.0.0/8 table 100 protocol bird preference 7",
    );
    assert_eq!(r.len(), 2, "{w:?}");
    assert_eq!(r[0].spec.preference, 16384);
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:2:3") && m.contains("no preference")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:3:3") && m.contains("no action")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:4:36") && m.contains("invalid fwmark `x`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("test.conf:5:3") && m.contains("resetting protocol")),
        "{w:?}"
    );
    assert_eq!(r[1].spec.protocol, PROTO_KEEPALIVED);
}

/// `-t` names a missing interface of any nexthop, not only the line's `dev`.
#[test]
fn host_check_names_missing_nexthop_interfaces() {
    struct OnlyEth0;
    impl lvsd::config::host::Probe for OnlyEth0 {
        fn interface_exists(&self, name: &str) -> bool {
            name == "eth0"
        }
        fn file(&self, _: &Path) -> Option<lvsd::config::host::FileInfo> {
            None
        }
        fn user_exists(&self, _: &str) -> bool {
            true
        }
        fn search_path(&self) -> Vec<std::path::PathBuf> {
            Vec::new()
        }
    }
    let l = load(
        "static_routes {\n  10.3.0.0/16 table 9 nexthop via 10.0.0.1 dev eth0 nexthop via 10.0.0.2 dev eth5\n}\n",
    );
    let mut d = Vec::new();
    lvsd::config::host::check(&l.config, &l.sources, &OnlyEth0, &mut d);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("interface eth5"), "{d:?}");
    assert_eq!(d[0].line(), Some(2));
}
