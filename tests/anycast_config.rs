//! The anycast keywords (lvsd extensions, docs/anycast.md): what they parse to, what they
//! refuse, and the consistent-`mh` defaults an announced virtual server gets in the kernel
//! table the director writes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use lvsd::anycast::Target;
use lvsd::config::{LoadOptions, Loaded, load_str};
use lvsd::director::desired::{self, Health, QuorumState, RsId};
use lvsd::director::{build_table, from_config};

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

fn errors(text: &str) -> Vec<String> {
    match load_str(text, Path::new("test.conf"), &LoadOptions::default()) {
        Ok(l) => panic!("accepted: {:?}", l.diagnostics),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const MH: &str = "
global_defs {
    anycast_table 300
    anycast_protocol 240
}
virtual_server 198.51.100.10 80 {
    protocol TCP
    lvs_sched mh
    lb_kind DR
    announce_route
    real_server 10.0.0.2 80 { TCP_CHECK { } }
    real_server 10.0.0.1 80 { TCP_CHECK { } }
}
virtual_server fwmark 7 {
    lvs_sched mh
    lb_kind DR
    announce_route 198.51.100.20 2001:db8::20
    anycast_quiesce off
    real_server 10.0.0.1 0 { }
}
virtual_server 198.51.100.30 80 {
    protocol TCP
    lvs_sched wlc
    lb_kind DR
    real_server 10.0.0.1 80 { }
}
";

#[test]
fn keywords_parse_without_warnings() {
    let l = load(MH);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    let (t, warnings) = Target::from_config(&l.config);
    assert!(warnings.is_empty(), "{warnings:?}");
    let t = t.expect("anycast target");
    assert_eq!((t.table, t.protocol), (300, 240));
    assert_eq!(t.announce.len(), 2, "the wlc service is not announced");
    assert_eq!(t.announce[0].key, "TCP 198.51.100.10:80");
    assert_eq!(t.announce[0].addrs, vec![ip("198.51.100.10")]);
    assert_eq!(
        t.announce[1].addrs,
        vec![ip("198.51.100.20"), ip("2001:db8::20")]
    );
}

#[test]
fn a_config_without_the_keywords_has_no_target() {
    let l = load("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 80 { }\n}\n");
    assert_eq!(Target::from_config(&l.config).0, None);
    // Defaults when only announce_route is used.
    let l = load(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n announce_route\n real_server 10.0.0.1 80 { }\n}\n",
    );
    let t = Target::from_config(&l.config).0.unwrap();
    assert_eq!(
        (t.table, t.protocol),
        (
            lvsd::anycast::DEFAULT_TABLE,
            lvsd::anycast::DEFAULT_PROTOCOL
        )
    );
}

#[test]
fn reserved_tables_and_foreign_protocols_are_refused() {
    let e = errors("global_defs {\n anycast_table 254\n}\n");
    assert!(
        e[0].contains("test.conf:2:") && e[0].contains("kernel uses itself"),
        "{e:?}"
    );
    let e = errors("global_defs {\n anycast_protocol 186\n}\n");
    assert!(e[0].contains("belongs to the kernel or FRR"), "{e:?}");
}

#[test]
fn fwmark_without_addresses_is_reported() {
    let l = load("virtual_server fwmark 3 {\n announce_route\n real_server 10.0.0.1 0 { }\n}\n");
    let (t, warnings) = Target::from_config(&l.config);
    assert!(t.unwrap().announce[0].addrs.is_empty());
    assert!(warnings[0].contains("needs the addresses"), "{warnings:?}");
}

#[test]
fn an_announced_mh_service_quiesces_failed_servers_with_fallback() {
    let l = load(MH);
    let (spec, _) = from_config::director_spec(&l.config);
    let vs = &spec.virtual_servers[0];
    // mh-fallback = the kernel's SCHED1 bit.
    assert_eq!(
        vs.services[0].flags.0 & ipvs::ServiceFlags::SCHED1,
        ipvs::ServiceFlags::SCHED1
    );
    assert!(vs.core.real_servers.iter().all(|r| r.inhibit_on_failure));
    // `anycast_quiesce off` and unannounced services keep keepalived's behaviour.
    for other in &spec.virtual_servers[1..] {
        assert_eq!(other.services[0].flags.0 & ipvs::ServiceFlags::SCHED1, 0);
        assert!(
            other
                .core
                .real_servers
                .iter()
                .all(|r| !r.inhibit_on_failure)
        );
    }

    // 10.0.0.1 fails: it stays in the table at weight 0, so the destination list (and mh's
    // lookup table built from it) stays the same as on a director where it never failed.
    let health: HashMap<RsId, Health> = HashMap::from([(
        RsId {
            vs: vs.core.id.clone(),
            addr: "10.0.0.1:80".parse().unwrap(),
        },
        Health {
            up: false,
            weight: None,
        },
    )]);
    let table = build_table(
        &spec,
        &desired::compute(&spec.cores(), &health, &QuorumState::default()),
    );
    let all_up = build_table(
        &spec,
        &desired::compute(&spec.cores(), &HashMap::new(), &QuorumState::default()),
    );
    let key = vs.services[0].key;
    let dests = |t: &ipvs::Table| -> Vec<(String, u32)> {
        t.services[&key]
            .dests
            .values()
            .map(|d| (d.addr.to_string(), d.weight))
            .collect()
    };
    assert_eq!(
        dests(&table),
        vec![("10.0.0.1".to_string(), 0), ("10.0.0.2".to_string(), 1)]
    );
    assert_eq!(
        dests(&all_up).iter().map(|d| &d.0).collect::<Vec<_>>(),
        dests(&table).iter().map(|d| &d.0).collect::<Vec<_>>()
    );
}

#[test]
fn the_example_directors_load_cleanly() {
    for d in ["director1", "director2"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/anycast")
            .join(d)
            .join("keepalived.conf");
        let l = lvsd::config::load(&p, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        // Notes (lvsd-only remarks such as router_id being unused) are fine; nothing more.
        assert!(
            l.diagnostics.iter().all(|d| d.is_note()),
            "{}: {:?}",
            p.display(),
            l.diagnostics
        );
        let t = Target::from_config(&l.config).0.expect("announces");
        assert_eq!(t.announce[0].addrs, vec![ip("198.51.100.10")]);
    }
}
