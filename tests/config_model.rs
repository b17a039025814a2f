//! The resolved model: keepalived's defaults, inheritance (virtual_server → real_server →
//! checker), aliases, and the values a director / VRRP engine reads.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use lvsd::config::model::*;
use lvsd::config::{LoadOptions, Loaded, Severity, load_str};

fn load(text: &str) -> Loaded {
    match load_str(text, Path::new("test.conf"), &LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => panic!(
            "refused: {:#?}",
            e.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ),
    }
}

/// The warnings of a config keepalived 2.2.7 runs despite them (`-t` exits 5): lvsd loads it
/// too, without the offending object.
fn skipped(text: &str) -> (Config, Vec<String>) {
    let l = load(text);
    let w = l
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.message.clone())
        .collect();
    (l.config, w)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn empty_config_has_keepalived_defaults() {
    let l = load("");
    let g = &l.config.global;
    assert_eq!(g.vrrp_version, 2);
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.18");
    assert_eq!(g.vrrp_mcast_group6.to_string(), "ff02::12");
    assert_eq!(g.garp.master_delay, Duration::from_secs(5));
    assert_eq!(g.garp.master_repeat, 5);
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(30));
    assert!(!g.enable_script_security && !g.vrrp_strict && !g.lvs_flush);
    assert!(l.diagnostics.is_empty());
}

const INSTANCE: &str = r#"
global_defs {
    router_id lb1
    vrrp_garp_master_delay 2
    vrrp_version 3
    script_user nobody nogroup
}
vrrp_script chk {
    script "/usr/bin/pgrep -x nginx"
    interval 2
    weight -20 reverse
    fall 3
    rise 2
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    nopreempt
    garp_master_repeat 2
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
        10.0.0.3 min_ttl 250 max_ttl 255
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 brd 10.0.0.255 scope global label eth0:1
        10.0.0.101
    }
    virtual_ipaddress_excluded {
        2001:db8::1/64 dev eth0 no_track
    }
    virtual_routes {
        src 10.0.0.1 to 192.168.0.0/16 via 10.0.0.254 dev eth0 table 100 metric 5
        blackhole 172.16.0.0/12
    }
    track_interface {
        eth1 weight -10
    }
    track_script {
        chk
        chk weight 7
    }
    notify_master "/etc/keepalived/master.sh arg1" root
    notify /etc/keepalived/notify.sh
}
"#;

#[test]
fn vrrp_instance_is_resolved() {
    let l = load(INSTANCE);
    let c = &l.config;
    assert_eq!(c.global.router_id.as_deref(), Some("lb1"));
    assert_eq!(
        c.global.script_user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into()),
            span: Default::default(),
        })
    );
    let s = c.vrrp_script("chk").unwrap();
    assert_eq!(s.script.argv, ["/usr/bin/pgrep", "-x", "nginx"]);
    assert_eq!(
        (s.interval, s.timeout),
        (Duration::from_secs(2), Duration::from_secs(2))
    );
    assert_eq!(
        (s.weight, s.weight_reverse, s.fall, s.rise),
        (-20, true, 3, 2)
    );

    let vi = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(vi.state, InitialState::Master);
    assert_eq!(vi.interface.as_deref(), Some("eth0"));
    assert_eq!((vi.virtual_router_id, vi.priority), (51, 150));
    assert_eq!(vi.advert_int, Duration::from_millis(500));
    assert_eq!(vi.version, 3, "global vrrp_version");
    assert_eq!(vi.family, Family::Inet);
    // nopreempt with MASTER is cleared (keepalived does the same) and warned about.
    assert!(!vi.nopreempt);
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("nopreempt") && d.line() == Some(21))
    );
    // GARP: instance over global.
    assert_eq!(vi.garp.master_delay, Duration::from_secs(2));
    assert_eq!(vi.garp.master_repeat, 2);
    // The lower-priority timers keep the global ones (which follow the global master ones):
    // keepalived 2.2.7 dumps them so (tests/dump_vs_keepalived.rs).
    assert_eq!(vi.garp.lower_prio_repeat, 5);
    assert_eq!(vi.garp.lower_prio_delay, Duration::from_secs(2));
    assert_eq!(vi.unicast_src_ip, Some(ip("10.0.0.1")));
    assert_eq!(vi.unicast_peers.len(), 2);
    assert_eq!(
        (vi.unicast_peers[1].min_ttl, vi.unicast_peers[1].max_ttl),
        (Some(250), Some(255))
    );
    assert!(vi.check_unicast_src, "min_ttl turns on check_unicast_src");
    let v0 = &vi.virtual_ipaddress[0];
    assert_eq!((v0.addr, v0.prefix_len), (ip("10.0.0.100"), 24));
    assert_eq!(v0.dev.as_deref(), Some("eth0"));
    assert_eq!(v0.broadcast.as_deref(), Some("10.0.0.255"));
    assert_eq!(v0.label.as_deref(), Some("eth0:1"));
    assert_eq!(vi.virtual_ipaddress[1].prefix_len, 32);
    assert!(vi.virtual_ipaddress_excluded[0].no_track);
    let r = &vi.virtual_routes[0];
    assert_eq!(
        r.to.map(|p| p.to_string()).as_deref(),
        Some("192.168.0.0/16")
    );
    assert_eq!(
        (r.src, r.via, r.metric),
        (Some(ip("10.0.0.1")), Some(ip("10.0.0.254")), Some(5))
    );
    assert_eq!(
        vi.virtual_routes[1].route_type.as_deref(),
        Some("blackhole")
    );
    assert_eq!(vi.track_interfaces[0].weight, -10);
    // track_script weight: the script's unless the line overrides it.
    assert_eq!(
        vi.track_scripts
            .iter()
            .map(|t| (t.weight, t.reverse))
            .collect::<Vec<_>>(),
        [(-20, true), (7, true)]
    );
    let m = vi.notify.master.as_ref().unwrap();
    assert_eq!(m.argv, ["/etc/keepalived/master.sh", "arg1"]);
    assert_eq!(m.user.as_ref().map(|u| u.user.as_str()), Some("root"));
    assert!(vi.notify.any.is_some());
    assert!(vi.accept, "accept is the default outside strict mode");
}

#[test]
fn strict_mode_and_ipv6_instances() {
    let l = load(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n \
         priority 255\n state MASTER\n virtual_ipaddress {\n  2001:db8::10/64\n }\n}\n",
    );
    let vi = &l.config.vrrp_instances[0];
    assert_eq!((vi.family, vi.version), (Family::Inet6, 3));
    assert!(vi.strict_mode && !vi.accept, "strict implies no_accept");
    assert_eq!(
        vi.state,
        InitialState::Master,
        "address owner may start as MASTER in strict mode"
    );
    assert_eq!(vi.multicast_group(&l.config.global).to_string(), "ff02::12");
}

const LVS: &str = r#"
virtual_server_group web {
    192.168.1.1-3 80
    10.1.0.0/30 443
    fwmark 7 inet
}
virtual_server 192.168.200.100 443 {
    delay_loop 10
    lb_algo wrr
    lb_kind DR
    persistence_timeout
    protocol TCP
    retry 4
    connect_timeout 2
    alpha
    inhibit_on_failure
    virtualhost www.example.com
    quorum 2
    sorry_server 192.168.200.200 8443
    real_server 192.168.201.1 443 {
        weight 3
        delay_before_retry 7
        SSL_GET {
            url {
                path /health
                digest FF20AD2481F97B1754EF3E12ECD3A9CC
                status_code 200-299 301 404
            }
            connect_timeout 1
            nb_get_retry 9
        }
        TCP_CHECK {
            connect_port 8443
            bindto 10.0.0.1
        }
    }
    real_server 192.168.201.2 {
        DNS_CHECK {
            type A
            name example.com
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh 192.168.201.2"
            misc_dynamic
        }
        UDP_CHECK {
            payload 01 02 ab
            require_reply 0x
        }
    }
}
virtual_server fwmark 12 {
    lvs_sched sh
    sh-port
    lvs_method TUN type gue port 6080 csum
    real_server 10.2.0.1 80 {
    }
}
virtual_server group web {
    real_server 192.168.202.1 80 {
        PING_CHECK {
        }
    }
}
"#;

#[test]
fn virtual_servers_inherit_down_to_checkers() {
    let l = load(LVS);
    let c = &l.config;
    assert_eq!(c.virtual_servers.len(), 3);
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.address,
        VsAddress::Inet {
            addr: ip("192.168.200.100"),
            port: 443
        }
    );
    assert_eq!(
        (vs.scheduler, vs.forward, vs.protocol),
        (Scheduler::Wrr, Forward::Dr, Protocol::Tcp)
    );
    assert_eq!(
        vs.persistence.as_ref().map(|p| p.timeout),
        Some(Duration::from_secs(360))
    );
    assert_eq!(vs.delay_loop, Duration::from_secs(10));
    assert_eq!(vs.quorum, 2);
    let sorry = vs.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.addr, sorry.port, sorry.forward),
        (ip("192.168.200.200"), 8443, Forward::Dr)
    );

    let rs = &vs.real_servers[0];
    assert_eq!(
        (rs.weight, rs.forward, rs.inhibit_on_failure, rs.alpha),
        (3, Forward::Dr, true, true)
    );
    let ssl = &rs.checkers[0];
    let CheckerKind::Http(h) = &ssl.kind else {
        panic!("{ssl:?}")
    };
    assert!(h.tls);
    assert_eq!(ssl.kind.keyword(), "SSL_GET");
    let u = &h.urls[0];
    assert_eq!(
        u.digest.as_deref(),
        Some("ff20ad2481f97b1754ef3e12ecd3a9cc")
    );
    assert_eq!(u.status_codes, [(200, 299), (301, 301), (404, 404)]);
    assert!(u.status_ok(250) && u.status_ok(404) && !u.status_ok(302));
    assert_eq!(
        u.virtualhost.as_deref(),
        Some("www.example.com"),
        "virtualhost from the virtual server"
    );
    // Checker timers: checker > real_server > virtual_server > default.
    assert_eq!(ssl.timing.connect_timeout, Duration::from_secs(1));
    assert_eq!(ssl.timing.retry, 9, "nb_get_retry is an alias of retry");
    assert_eq!(ssl.timing.delay_before_retry, Duration::from_secs(7));
    assert_eq!(ssl.timing.delay_loop, Duration::from_secs(10));
    assert_eq!(
        ssl.timing.warmup,
        Duration::from_secs(10),
        "warmup defaults to delay_loop"
    );
    assert!(ssl.timing.alpha);
    assert_eq!((ssl.target.ip, ssl.target.port), (ip("192.168.201.1"), 443));
    let tcp = &rs.checkers[1];
    assert_eq!(tcp.kind, CheckerKind::Tcp);
    assert_eq!(tcp.target.port, 8443);
    assert_eq!(tcp.target.bindto, Some(ip("10.0.0.1")));
    assert_eq!(
        tcp.timing.connect_timeout,
        Duration::from_secs(2),
        "from the virtual server"
    );
    assert_eq!(tcp.timing.retry, 4);

    let rs2 = &vs.real_servers[1];
    assert_eq!(
        rs2.port, 443,
        "real server port defaults to the virtual server's"
    );
    let dns = &rs2.checkers[0];
    assert_eq!(
        dns.kind,
        CheckerKind::Dns(DnsCheck {
            query_type: DnsType::A,
            name: "example.com".into()
        })
    );
    assert_eq!(dns.timing.retry, 4);
    let CheckerKind::Misc(m) = &rs2.checkers[1].kind else {
        panic!()
    };
    assert_eq!(m.script.argv, ["/usr/local/bin/check.sh", "192.168.201.2"]);
    assert!(m.dynamic);
    assert_eq!(m.timeout, Duration::from_secs(10));
    let CheckerKind::Udp(u) = &rs2.checkers[2].kind else {
        panic!()
    };
    assert_eq!(u.payload.as_deref(), Some(&[1u8, 2, 0xab][..]));
    assert_eq!(
        u.require_reply.as_ref().map(|r| r.mask.clone()),
        Some(vec![0xf0])
    );

    let fw = &c.virtual_servers[1];
    assert_eq!(fw.address, VsAddress::Fwmark { mark: 12 });
    assert_eq!(fw.scheduler, Scheduler::Sh);
    // sh-port is the kernel's SCHED2 bit (IP_VS_SVC_F_SCHED_SH_PORT).
    assert!(fw.sched_flags.flag_2 && !fw.sched_flags.flag_1);
    assert_eq!(
        fw.forward,
        Forward::Tun {
            tunnel: TunnelType::Gue { port: 6080 },
            checksum: TunnelChecksum::Csum
        }
    );
    assert_eq!(fw.delay_loop, Duration::from_secs(60));
    assert!(fw.real_servers[0].checkers.is_empty());

    let g = c.virtual_server_group("web").unwrap();
    assert_eq!(
        g.entries
            .iter()
            .map(|e| match e {
                VsgEntry::Range {
                    first, last, port, ..
                } => format!("{first}-{last}:{port}"),
                VsgEntry::Fwmark { mark, family, .. } => format!("fwmark {mark} {family:?}"),
            })
            .collect::<Vec<_>>(),
        [
            "192.168.1.1-192.168.1.3:80",
            "10.1.0.0-10.1.0.3:443",
            "fwmark 7 Some(Inet)"
        ]
    );
    let gv = &c.virtual_servers[2];
    assert_eq!(gv.address, VsAddress::Group { name: "web".into() });
    assert_eq!(gv.real_servers[0].checkers[0].kind, CheckerKind::Ping);
    // nb_get_retry is deprecated: one warning, at its line.
    let dep: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("nb_get_retry"))
        .collect();
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0].line(), Some(30));
}

#[test]
fn http_defaults_per_checker_kind() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  \
         DNS_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n",
    );
    let rs = &l.config.virtual_servers[0].real_servers[0];
    let t: Vec<_> = rs
        .checkers
        .iter()
        .map(|c| (c.timing.retry, c.timing.delay_before_retry))
        .collect();
    assert_eq!(
        t,
        [
            (1, Duration::from_secs(3)),
            (3, Duration::from_secs(60)),
            (0, Duration::from_secs(1))
        ]
    );
    let CheckerKind::Http(h) = &rs.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.urls[0].status_codes, [(200, 299)]);
    assert_eq!(h.http_protocol, HttpProtocol::Http10);
    assert_eq!(
        rs.checkers[0].timing.connect_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(l.config.virtual_servers[0].scheduler, Scheduler::Wlc);
}

#[test]
fn unknown_scheduler_falls_back_to_wlc_with_a_warning() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rrr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(l.config.virtual_servers[0].scheduler, Scheduler::Wlc);
    assert_eq!(l.diagnostics.len(), 1);
    assert_eq!(l.diagnostics[0].severity, Severity::Warning);
    assert!(l.diagnostics[0].notes.iter().any(|n| n.contains("`rr`")));
}

#[test]
fn auth_pass_is_truncated_like_keepalived() {
    let l = load(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type PASS\n  \
         auth_pass 0123456789\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    let a = l.config.vrrp_instances[0].authentication.as_ref().unwrap();
    assert_eq!(
        (a.auth_type, a.auth_pass.as_str()),
        (AuthType::Pass, "01234567")
    );
    assert_eq!(l.diagnostics[0].line(), Some(6));
}

#[test]
fn problems_keepalived_skips_are_warnings_and_drop_the_object() {
    let (c, e) = skipped("vrrp_instance V {\n interface eth0\n virtual_router_id 256\n}\n");
    assert!(e[0].contains("1..255"), "{e:?}");
    assert!(c.vrrp_instances.is_empty());
    let (c, e) = skipped("vrrp_instance V {\n interface eth0\n}\n");
    assert!(
        e.iter().any(|e| e.contains("no `virtual_router_id`")),
        "{e:?}"
    );
    assert!(c.vrrp_instances.is_empty());
    let (c, e) = skipped(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 5\n}\nvrrp_instance B {\n interface eth0\n \
         virtual_router_id 5\n}\n",
    );
    assert!(e.iter().any(|e| e.contains("already used by A")), "{e:?}");
    assert_eq!(c.vrrp_instances.len(), 1);
    let (c, e) = skipped(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    \
         digest 123\n   }\n  }\n }\n}\n",
    );
    assert!(e[0].contains("32 hexadecimal"), "{e:?}");
    assert_eq!(c.virtual_servers.len(), 1);
    // keepalived says nothing about an undefined group: a note, and no service.
    let l = load("virtual_server group nope {\n}\n");
    assert!(
        l.diagnostics.iter().all(|d| d.is_note()),
        "{:?}",
        l.diagnostics
    );
    assert!(l.config.virtual_servers.is_empty());
    // An unclosed block is closed at the end of the file, as keepalived does.
    let (c, e) = skipped("global_defs {\n router_id x\n");
    assert!(e[0].contains("never closed"), "{e:?}");
    assert_eq!(c.global.router_id.as_deref(), Some("x"));
}

#[test]
fn same_vrid_on_other_interface_or_family_is_fine() {
    let l = load(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
         vrrp_instance B {\n interface eth1\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n\
         vrrp_instance C {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 2001:db8::2\n }\n}\n",
    );
    assert_eq!(l.config.vrrp_instances.len(), 3);
}

#[test]
fn mixed_families_in_one_instance_are_dropped_with_a_warning() {
    let l = load(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 5\n priority 300\n virtual_ipaddress {\n  10.0.0.1\n  \
         2001:db8::1\n }\n}\n",
    );
    let vi = &l.config.vrrp_instances[0];
    assert_eq!(vi.virtual_ipaddress.len(), 1);
    assert_eq!(vi.priority, 100, "out-of-range priority keeps the default");
    let lines: Vec<_> = l.diagnostics.iter().map(|d| d.line()).collect();
    assert_eq!(lines, [Some(4), Some(7)]);
}

#[test]
fn strict_turns_warnings_into_errors() {
    let opts = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let e = load_str(
        "global_defs {\n route_id x\n}\n",
        Path::new("t.conf"),
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    assert!(e.diagnostics[0].is_error());
}

#[test]
fn config_id_selects_lines_and_parameters_substitute() {
    let text = "$PRIO=150\n@lb1 $PRIO=200\nvrrp_instance V {\n @lb1 interface eth1\n @^lb1 interface eth2\n \
                virtual_router_id 3\n priority $PRIO\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n";
    let opts = LoadOptions {
        config_id: Some("lb1".into()),
        ..LoadOptions::default()
    };
    let l = load_str(text, Path::new("t.conf"), &opts).unwrap();
    let vi = &l.config.vrrp_instances[0];
    assert_eq!((vi.interface.as_deref(), vi.priority), (Some("eth1"), 200));
    let opts = LoadOptions {
        config_id: Some("lb2".into()),
        ..LoadOptions::default()
    };
    let l = load_str(text, Path::new("t.conf"), &opts).unwrap();
    let vi = &l.config.vrrp_instances[0];
    assert_eq!((vi.interface.as_deref(), vi.priority), (Some("eth2"), 150));
}

#[test]
fn model_serializes_to_json() {
    let l = load(LVS);
    let v = serde_json::to_value(&l.config).unwrap();
    assert_eq!(v["virtual_servers"][0]["scheduler"], "wrr");
    assert_eq!(
        v["virtual_servers"][0]["real_servers"][0]["checkers"][0]["kind"]["type"],
        "HTTP_GET"
    );
    assert_eq!(v["virtual_servers"][0]["delay_loop"]["secs"], 10);
}

#[test]
fn file_check_finds_a_track_file_defined_later() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file tf\n  }\n }\n}\n\
         track_file tf {\n file /run/weight\n weight 3\n}\nglobal_defs {\n router_id late\n}\n",
    );
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(
        c.kind,
        CheckerKind::File(FileCheck {
            track_file: "tf".into(),
            dynamic: false,
            weight: 3,
            reverse: false
        })
    );
    assert_eq!(l.config.global.router_id.as_deref(), Some("late"));
    // Only the note that router_id has no effect in lvsd (it names the sender of e-mails).
    assert!(
        l.diagnostics.iter().all(|d| d.is_note()),
        "{:?}",
        l.diagnostics
    );
}

#[test]
fn missing_protocol_is_tcp_with_a_warning_naming_keepalived_s_udp() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(l.config.virtual_servers[0].protocol, Protocol::Tcp);
    assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
    assert!(l.diagnostics[0].message.contains("UDP"));
    // A fwmark service has no protocol to set.
    let l = load(
        "virtual_server fwmark 7 {\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.2 {\n }\n}\n",
    );
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
}

#[test]
fn unimplemented_keywords_are_noted_and_listed() {
    let l = load(
        "global_defs {\n enable_snmp_vrrp\n enable_dbus\n}\nvrrp_track_process p {\n process sshd\n}\n\
         vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n \
         track_process {\n  p\n }\n smtp_alert\n unicast_peer {\n  10.0.0.2\n }\n}\n",
    );
    let lines = l.config.unimplemented_lines();
    for (kw, line, effect) in [
        ("enable_snmp_vrrp", 2, "Prometheus"),
        ("enable_dbus", 3, "control API"),
        ("smtp_alert", 17, "as if this line were absent"),
    ] {
        assert!(
            lines
                .iter()
                .any(|s| s.starts_with(&format!("test.conf:{line}:"))
                    && s.contains(&format!("does not implement {kw} "))
                    && s.contains(effect)),
            "{kw}: {lines:#?}"
        );
    }
    // track_process is implemented (issue 12): not listed.
    assert!(
        !lines.iter().any(|s| s.contains("track_process")),
        "{lines:#?}"
    );
    // -t: notes at file:line:col, which leave keepalived's verdict (clean) alone.
    assert!(
        l.diagnostics.iter().all(|d| d.is_note()),
        "{:?}",
        l.diagnostics
    );
    assert_eq!(lvsd::cli::config_test_exit_code(&l.diagnostics, false), 0);
    let strict = load_str(
        "global_defs {\n enable_traps\n}\n",
        Path::new("test.conf"),
        &LoadOptions {
            strict: true,
            ..LoadOptions::default()
        },
    );
    assert!(strict.is_err(), "--strict makes notes errors");
}

/// A sync group's `notify_priority_changes` reaches its instances that do not set their own,
/// defined before or after the group (keepalived: the instance's, else the group's, else
/// global_defs' `vrrp_notify_priority_changes`).
#[test]
fn sync_group_notify_priority_changes_reaches_its_instances() {
    let vi = |name: &str, vrid: u8, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n  interface eth0\n  virtual_router_id {vrid}\n  \
             priority 100\n{extra}  virtual_ipaddress {{\n    10.0.0.{vrid}/24\n  }}\n}}\n"
        )
    };
    let conf = |global: &str, group: &str| {
        format!(
            "global_defs {{\n{global}}}\n{}vrrp_sync_group G {{\n  group {{\n    A\n    B\n    C\n  }}\n{group}}}\n{}{}{}",
            vi("A", 1, ""),
            vi("B", 2, "  notify_priority_changes false\n"),
            vi("C", 3, "  notify_priority_changes\n"),
            vi("OUT", 4, ""),
        )
    };
    let flags = |c: &Config| -> Vec<(String, bool)> {
        c.vrrp_instances
            .iter()
            .map(|i| (i.name.clone(), i.notify.priority_changes))
            .collect()
    };
    let want = |a, b, c, out| {
        vec![
            ("A".to_string(), a),
            ("B".to_string(), b),
            ("C".to_string(), c),
            ("OUT".to_string(), out),
        ]
    };
    let l = load(&conf("", "  notify_priority_changes\n"));
    assert_eq!(flags(&l.config), want(true, false, true, false));
    assert_eq!(l.config.unimplemented_lines(), Vec::<String>::new());
    let l = load(&conf("", ""));
    assert_eq!(flags(&l.config), want(false, false, true, false));
    // The group's `false` wins over global_defs for the instances without their own.
    let l = load(&conf(
        "  vrrp_notify_priority_changes\n",
        "  notify_priority_changes false\n",
    ));
    assert_eq!(flags(&l.config), want(false, false, true, true));
}
