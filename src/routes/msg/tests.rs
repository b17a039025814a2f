use super::*;
use crate::config::model::{NextHop, Prefix, RouteMetric as M, RuleSpec};

fn dev(n: &str) -> Option<u32> {
    (n == "eth0").then_some(7)
}

fn spec() -> RouteSpec {
    RouteSpec {
        dst: Prefix::parse("10.1.0.0/16", false),
        via: "10.0.0.1".parse().ok(),
        dev: Some("eth0".into()),
        table: 6909,
        protocol: 18,
        ..RouteSpec::default()
    }
}

#[test]
fn a_route_encodes_as_ip_route_add_does() {
    let m = route_message(&spec(), &dev).unwrap();
    assert_eq!(m.header.destination_prefix_length, 16);
    assert_eq!(m.header.scope, RouteScope::Universe);
    assert_eq!(u8::from(m.header.protocol), 18);
    // Tables above 255 only fit the attribute.
    assert_eq!(m.header.table, 0);
    assert!(m.attributes.contains(&RouteAttribute::Table(6909)));
    assert!(m.attributes.contains(&RouteAttribute::Oif(7)));
    let direct = RouteSpec {
        via: None,
        ..spec()
    };
    let m = route_message(&direct, &dev).unwrap();
    assert_eq!(m.header.scope, RouteScope::Link);
    let missing = RouteSpec {
        dev: Some("eth9".into()),
        ..spec()
    };
    assert!(route_message(&missing, &dev).unwrap_err().contains("eth9"));
}

#[test]
fn metrics_locks_and_nexthops() {
    let s = RouteSpec {
        via: None,
        dev: None,
        metrics: vec![
            M {
                value: RouteMetricValue::Number(2, 1000),
                lock: true,
            },
            M {
                value: RouteMetricValue::CongCtl("cubic".into()),
                lock: false,
            },
        ],
        nexthops: vec![
            NextHop {
                via: "10.0.0.5".parse().ok(),
                dev: Some("eth0".into()),
                weight: 1,
                onlink: false,
                realms: None,
            },
            NextHop {
                via: "10.0.0.6".parse().ok(),
                dev: Some("eth0".into()),
                weight: 2,
                onlink: true,
                realms: None,
            },
        ],
        ..spec()
    };
    let m = route_message(&s, &dev).unwrap();
    let mx = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Metrics(v) => Some(v.clone()),
        _ => None,
    });
    assert_eq!(
        mx,
        Some(vec![
            RouteMetric::Lock(1 << 2),
            RouteMetric::Mtu(1000),
            RouteMetric::CcAlgo("cubic".into())
        ])
    );
    assert_eq!(
        hops(&m),
        vec![
            (
                Some(RouteAddress::from("10.0.0.5".parse::<IpAddr>().unwrap())),
                7,
                0
            ),
            (
                Some(RouteAddress::from("10.0.0.6".parse::<IpAddr>().unwrap())),
                7,
                1
            )
        ]
    );
}

#[test]
fn a_dumped_route_matches_only_when_its_key_and_hops_agree() {
    let want = route_message(&spec(), &dev).unwrap();
    let mut have = want.clone();
    have.attributes
        .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(1500)]));
    assert!(route_matches(&want, &have));
    let other_gw = route_message(
        &RouteSpec {
            via: "10.0.0.2".parse().ok(),
            ..spec()
        },
        &dev,
    )
    .unwrap();
    assert!(!route_matches(&want, &other_gw));
    let other_proto = route_message(
        &RouteSpec {
            protocol: 4,
            ..spec()
        },
        &dev,
    )
    .unwrap();
    assert!(!route_matches(&want, &other_proto));
    let other_table = route_message(
        &RouteSpec {
            table: 6910,
            ..spec()
        },
        &dev,
    )
    .unwrap();
    assert!(!route_matches(&want, &other_table));
}

#[test]
fn rules_encode_and_match() {
    let r = RuleSpec {
        from: Prefix::parse("192.168.28.0/24", false),
        to: Prefix::parse("192.168.29.0/26", false),
        table: Some(100),
        preference: 39,
        fwmark: Some(24),
        fwmask: Some(12),
        iif: Some("eth0".into()),
        protocol: 18,
        ..RuleSpec::default()
    };
    let want = rule_message(&r);
    assert_eq!((want.header.src_len, want.header.dst_len), (24, 26));
    assert_eq!(want.header.action, NlAction::ToTable);
    let mut have = want.clone();
    have.attributes
        .push(RuleAttribute::SuppressPrefixLen(u32::MAX));
    assert!(rule_matches(&want, &have));
    let mut narrower = want.clone();
    narrower
        .attributes
        .push(RuleAttribute::Oifname("eth1".into()));
    assert!(
        !rule_matches(&want, &narrower),
        "an extra selector is another rule"
    );
    let other_pref = rule_message(&RuleSpec {
        preference: 40,
        ..r.clone()
    });
    assert!(!rule_matches(&want, &other_pref));
    let inverted = rule_message(&RuleSpec { not: true, ..r });
    assert!(!rule_matches(&want, &inverted));
}
