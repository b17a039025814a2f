//! keepalived.conf text → the director's spec → the desired IPVS table (as `ipvsadm -R` lines):
//! groups (ranges, CIDR, fwmark), fwmark services, persistence, tunnels, sorry servers,
//! inhibit_on_failure and alpha, through the real config loader.

use std::path::Path;

use lvsd::config::{LoadOptions, load_str};
use lvsd::director::from_config::director_spec;
use lvsd::director::run::initial_table;

fn spec(text: &str) -> lvsd::director::DirectorSpec {
    let loaded = load_str(text, Path::new("test.conf"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.diagnostics));
    let (spec, warnings) = director_spec(&loaded.config);
    assert!(warnings.is_empty(), "{warnings:?}");
    spec
}

/// The initial desired table as `ipvsadm -R` lines.
fn plan(text: &str) -> String {
    let s = spec(text);
    ipvs::reconcile::plan(
        &ipvs::Table::new(),
        &initial_table(&s),
        &ipvs::Ownership::desired_only(),
    )
    .to_string()
}

#[test]
fn group_ranges_and_fwmarks_expand_to_one_service_each() {
    let out = plan(
        r#"
virtual_server_group web {
    10.0.0.1-3 80
    10.0.1.0/31 8080
    fwmark 7
}
virtual_server group web {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 192.168.1.1 80 {
        weight 4
    }
}
"#,
    );
    let want = [
        "-A -t 10.0.0.1:80 -s wrr",
        "-A -t 10.0.0.2:80 -s wrr",
        "-A -t 10.0.0.3:80 -s wrr",
        "-A -t 10.0.1.0:8080 -s wrr",
        "-A -t 10.0.1.1:8080 -s wrr",
        "-A -f 7 -s wrr",
    ];
    for w in want {
        assert!(out.contains(w), "missing {w:?} in\n{out}");
    }
    assert_eq!(out.matches("-r 192.168.1.1:80 -g -w 4").count(), 6, "{out}");
}

#[test]
fn fwmark_persistence_and_tunnel() {
    let out = plan(
        r#"
virtual_server fwmark 5 {
    lb_algo sh
    lb_kind TUN
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 192.168.1.1 0 {
        weight 2
        uthreshold 100
    }
}
"#,
    );
    assert!(
        out.contains("-A -f 5 -s sh -p 600 -M 255.255.255.0"),
        "{out}"
    );
    assert!(out.contains("-a -f 5 -r 192.168.1.1"), "{out}");
    assert!(out.contains("-i"), "{out}");
    assert!(out.contains("-x 100"), "{out}");
}

#[test]
fn alpha_servers_start_out_and_sorry_server_covers_them() {
    let text = r#"
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    sorry_server 127.0.0.9 8080
    real_server 192.168.1.1 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 192.168.1.2 80 {
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"#;
    let s = spec(text);
    let vs = &s.virtual_servers[0];
    assert_eq!(vs.core.id, "TCP 10.0.0.1:80");
    assert!(vs.core.real_servers.iter().all(|r| r.alpha && r.checked));
    assert_eq!(vs.real_servers[0].checks.len(), 1);
    assert!(vs.real_servers[0].checks[0].timing.alpha);
    let out = plan(text);
    // Nobody proven up yet: quorum is down, the sorry server serves, the inhibited server
    // waits at weight 0, the other is absent.
    assert_eq!(
        out,
        "-A -t 10.0.0.1:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 127.0.0.9:8080 -m -w 1\n\
         -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 0\n"
    );
}

#[test]
fn globals_and_scripts() {
    let s = spec(
        r#"
global_defs {
    lvs_flush
    lvs_timeouts tcp 900 tcpfin 30 udp 60
    script_user nobody
}
virtual_server 10.0.0.1 53 {
    protocol UDP
    quorum 3
    hysteresis 1
    quorum_up "/bin/echo UP 'two words'"
    real_server 192.168.1.1 53 {
        # keepalived lowers a quorum above the total weight to that weight.
        weight 3
        notify_down "/bin/echo DOWN" root
        MISC_CHECK {
            misc_path "/bin/echo --port 53"
            misc_dynamic
        }
    }
}
"#,
    );
    assert!(s.globals.lvs_flush);
    assert_eq!(
        s.globals.timeouts,
        Some(ipvs::Timeouts {
            tcp: 900,
            tcp_fin: 30,
            udp: 60
        })
    );
    let vs = &s.virtual_servers[0];
    assert_eq!((vs.core.quorum, vs.core.hysteresis), (3, 1));
    assert_eq!(
        vs.quorum_up.as_ref().unwrap().argv,
        ["/bin/echo", "UP", "two words"]
    );
    // Users are resolved at load: the script's own, else `script_user`.
    let nobody = checkers::resolve_user(Some("nobody"), None)
        .unwrap()
        .unwrap();
    assert_eq!(vs.quorum_up.as_ref().unwrap().user, nobody.uid);
    let down = vs.real_servers[0].notify_down.as_ref().unwrap();
    assert_eq!(down.argv, ["/bin/echo", "DOWN"]);
    assert_eq!((down.user.as_raw(), down.group.as_raw()), (0, 0));
    match &vs.real_servers[0].checks[0].kind {
        checkers::CheckKind::Misc(m) => {
            assert_eq!(m.script.argv, ["/bin/echo", "--port", "53"]);
            assert!(m.dynamic);
            assert_eq!((m.script.user, m.script.group), (nobody.uid, nobody.gid));
        }
        other => panic!("{other:?}"),
    }
}

/// `slow_start` (lvsd extension): set on a virtual server it is inherited, a real server's
/// own wins; absent, nothing ramps.
#[test]
fn slow_start_is_inherited_and_overridden() {
    let s = spec(
        r#"
virtual_server 10.0.0.1 80 {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    slow_start 30
    real_server 192.168.1.1 80 {
        weight 4
    }
    real_server 192.168.1.2 80 {
        slow_start 5
    }
}
virtual_server 10.0.0.2 80 {
    protocol TCP
    real_server 192.168.1.3 80 {
    }
}
"#,
    );
    let ramps: Vec<Option<u64>> = s
        .virtual_servers
        .iter()
        .flat_map(|v| v.core.real_servers.iter())
        .map(|r| r.slow_start.map(|d| d.as_secs()))
        .collect();
    assert_eq!(ramps, vec![Some(30), Some(5), None]);
}

/// lvsd checks beyond keepalived: GRPC_CHECK, `http_protocol 2`, `tls_verify`.
#[test]
fn grpc_check_http2_and_tls_verify_reach_the_checkers() {
    let s = spec(
        r#"
virtual_server 10.0.0.1 443 {
    protocol TCP
    real_server 192.168.1.1 50051 {
        GRPC_CHECK {
            service payments
            tls
            tls_verify /etc/lvsd/ca.pem
            authority api.example.test
        }
    }
    real_server 192.168.1.2 443 {
        SSL_GET {
            url {
                path /health
            }
            http_protocol 2
            tls_verify
        }
    }
}
"#,
    );
    let checks: Vec<&checkers::CheckKind> = s.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| &r.checks[0].kind)
        .collect();
    assert_eq!(
        checks[0],
        &checkers::CheckKind::Grpc(checkers::GrpcSpec {
            service: "payments".into(),
            tls: true,
            verify: checkers::TlsVerify::CaFile("/etc/lvsd/ca.pem".into()),
            authority: Some("api.example.test".into()),
        })
    );
    let checkers::CheckKind::Ssl(h) = checks[1] else {
        panic!("{:?}", checks[1]);
    };
    assert_eq!(h.protocol, checkers::HttpProtocol::Http2);
    assert_eq!(h.verify, checkers::TlsVerify::SystemRoots);
}

#[test]
fn smtp_hosts_inherit_the_checker_and_ha_suspend_waits_for_the_vip() {
    let s = spec(
        r#"
virtual_server 10.0.0.1 25 {
    lb_kind NAT
    ha_suspend
    real_server 10.1.1.1 25 {
        SMTP_CHECK {
            connect_timeout 3
            retry 2
            helo_name mx.test
            bindto 10.9.9.9
            host {
                connect_ip 10.1.1.1
            }
            host {
                connect_ip 10.2.2.2
                connect_port 587
                connect_timeout 7
                bindto 10.8.8.8
                fwmark 5
            }
        }
    }
}
"#,
    );
    let vs = &s.virtual_servers[0];
    assert_eq!(
        vs.ha_suspend,
        vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    let checks = &vs.real_servers[0].checks;
    let got: Vec<(String, u64, u32, String, Option<u32>)> = checks
        .iter()
        .map(|c| {
            let helo = match &c.kind {
                checkers::CheckKind::Smtp(m) => m.helo_name.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(helo, "mx.test");
            (
                c.target.to_string(),
                c.timing.connect_timeout.as_secs(),
                c.timing.retry,
                c.bind.addr.unwrap().to_string(),
                c.bind.fwmark,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("10.1.1.1:25".into(), 3, 2, "10.9.9.9".into(), None),
            ("10.2.2.2:587".into(), 7, 2, "10.8.8.8".into(), Some(5)),
        ]
    );
}
