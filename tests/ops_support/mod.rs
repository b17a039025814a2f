//! Shared by the observability tests (and meant for the VM / VRRP lab tests): a realistic status
//! snapshot with every family present, a synthetic IPVS dump, and helpers to scrape a running
//! lvsd and read one sample out of the exposition.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lvsd::metrics::{IpvsDest, IpvsDump, IpvsService, IpvsStats};
use lvsd::status::{
    RealServerStatus, ReloadStatus, Status, VirtualServerStatus, VrrpCounters, VrrpInstanceStatus,
    VrrpScriptStatus, VrrpState,
};
use lvsd::vrrp::{InstanceConfig, ScriptConfig, Tracked, Vip, VrrpConfig};

pub fn sample_status() -> Status {
    Status {
        vrrp: vec![
            VrrpInstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                version: 2,
                family: "inet",
                state: VrrpState::Master,
                base_priority: 150,
                effective_priority: 140,
                master_addr: Some("192.0.2.10".parse().unwrap()),
                since_unix_ms: 1_795_527_961_215,
                since_unix_us: 0,
                master_priority: 0,
                vips: vec!["192.0.2.100/24".into(), "192.0.2.101/32".into()],
                counters: VrrpCounters {
                    advert_rcvd: 7,
                    advert_sent: 1234,
                    become_master: 2,
                    release_master: 1,
                    auth_failure: 3,
                    split_brain: 1,
                    garp_delay: 4,
                    ..Default::default()
                },
            },
            VrrpInstanceStatus {
                name: "VI_6 \"quoted\" \\ new\nline ü".into(),
                interface: "eth1".into(),
                vrid: 52,
                version: 3,
                family: "inet6",
                state: VrrpState::Backup,
                base_priority: 90,
                effective_priority: 90,
                master_addr: Some("fe80::1".parse().unwrap()),
                since_unix_ms: 1_795_527_962_000,
                since_unix_us: 0,
                master_priority: 0,
                vips: vec!["2001:db8::100/64".into()],
                counters: VrrpCounters {
                    advert_rcvd: 99,
                    ..Default::default()
                },
            },
        ],
        vrrp_scripts: vec![
            VrrpScriptStatus {
                name: "chk_haproxy".into(),
                ok: true,
                running: false,
            },
            VrrpScriptStatus {
                name: "chk_disk".into(),
                ok: false,
                running: true,
            },
        ],
        virtual_servers: vec![
            VirtualServerStatus {
                key: "TCP 192.0.2.100:80".into(),
                scheduler: "wrr".into(),
                quorum: 2,
                live_weight: 3,
                quorum_up: true,
                sorry_server_active: false,
                operator: None,
                checks_suspended: None,
                real_servers: vec![
                    RealServerStatus {
                        address: "198.51.100.1".parse().unwrap(),
                        port: 8080,
                        up: true,
                        weight: 3,
                        live_weight: Some(3),
                        last_failure: None,
                        last_check_unix_ms: Some(1_795_527_970_000),
                        transitions: 0,
                        runtime: Default::default(),
                    },
                    RealServerStatus {
                        address: "198.51.100.2".parse().unwrap(),
                        port: 8080,
                        up: false,
                        weight: 2,
                        live_weight: Some(0),
                        last_failure: Some("connection refused".into()),
                        last_check_unix_ms: Some(1_795_527_971_000),
                        transitions: 3,
                        runtime: Default::default(),
                    },
                ],
            },
            VirtualServerStatus {
                key: "FWM 7".into(),
                scheduler: "rr".into(),
                quorum: 1,
                live_weight: 0,
                quorum_up: false,
                sorry_server_active: true,
                operator: None,
                checks_suspended: None,
                real_servers: vec![RealServerStatus {
                    address: "2001:db8::2".parse().unwrap(),
                    port: 443,
                    up: false,
                    weight: 1,
                    live_weight: None,
                    last_failure: Some("timeout after 3s".into()),
                    last_check_unix_ms: None,
                    transitions: 1,
                    runtime: Default::default(),
                }],
            },
        ],
        reload: ReloadStatus {
            config_file: "/etc/keepalived/keepalived.conf".into(),
            successes: 4,
            failures: 1,
            last_reload_unix_ms: Some(1_795_527_900_000),
            last_error: None,
            unimplemented: vec![
                "/etc/keepalived/keepalived.conf:31:5: lvsd does not implement track_process (in vrrp_instance): failover does not follow the tracked process".into(),
            ],
        },
        disabled_scripts: Vec::new(),
        bfd: sample_bfd(),
        bfd_dropped: lvsd::bfd::service::Dropped {
            malformed: 4,
            no_session: 5,
            bad_ttl: 6,
        },
        vrrp_config: std::sync::Arc::new(sample_vrrp_config()),
        global_defs: Default::default(),
    }
}

/// The configuration behind [`sample_status`]'s instances: VI_1 has a /32 VIP on another
/// device and two excluded VIPs, a 3 s garp delay and tracks chk_haproxy.
pub fn sample_vrrp_config() -> VrrpConfig {
    let vip = |s: &str, prefix: u8, dev: Option<&str>| Vip {
        prefix,
        dev: dev.map(Into::into),
        ..Vip::new(s.parse().unwrap())
    };
    VrrpConfig {
        instances: vec![
            InstanceConfig {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                priority: 150,
                garp_master_delay: std::time::Duration::from_secs(3),
                vips: vec![
                    vip("192.0.2.100", 24, None),
                    vip("192.0.2.101", 32, Some("eth2")),
                ],
                vips_excluded: vec![
                    vip("192.0.2.200", 32, None),
                    vip("198.51.100.7", 24, Some("eth3")),
                ],
                track_scripts: vec![Tracked {
                    name: "chk_haproxy".into(),
                    weight: Some(-10),
                    reverse: false,
                }],
                ..Default::default()
            },
            InstanceConfig {
                name: "VI_6 \"quoted\" \\ new\nline ü".into(),
                interface: "eth1".into(),
                vrid: 52,
                version: 3,
                priority: 90,
                vips: vec![vip("2001:db8::100", 64, None)],
                ..Default::default()
            },
        ],
        scripts: vec![ScriptConfig {
            name: "chk_haproxy".into(),
            script: lvsd::notify::Script::parse("/usr/local/bin/chk_haproxy --quiet").unwrap(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn stats(seed: u64) -> IpvsStats {
    IpvsStats {
        connections: seed,
        incoming_packets: seed * 10,
        outgoing_packets: seed * 9,
        incoming_bytes: seed * 1000,
        outgoing_bytes: seed * 9000,
    }
}

/// `services` TCP services on 10.0.x.y:80 with `dests` destinations each, plus one fwmark service.
pub fn sample_ipvs(services: usize, dests: usize) -> IpvsDump {
    let mut out = IpvsDump {
        totals: Some(stats(1_000_000)),
        services: Vec::new(),
    };
    for s in 0..services {
        out.services.push(IpvsService {
            proto: "TCP".into(),
            address: Some(IpAddr::V4(Ipv4Addr::new(
                10,
                0,
                (s / 250) as u8,
                (s % 250) as u8 + 1,
            ))),
            port: 80,
            fwmark: 0,
            stats: stats(s as u64 * 100),
            dests: (0..dests)
                .map(|d| IpvsDest {
                    address: IpAddr::V4(Ipv4Addr::new(
                        172,
                        16 + (d / 62500) as u8,
                        ((d / 250) % 250) as u8,
                        (d % 250) as u8 + 1,
                    )),
                    port: 8080,
                    weight: 1 + (d as u32 % 5),
                    active_connections: d as u32 % 17,
                    inactive_connections: d as u32 % 3,
                    stats: stats(d as u64),
                })
                .collect(),
        });
    }
    out.services.push(IpvsService {
        proto: "FWM".into(),
        address: None,
        port: 0,
        fwmark: 7,
        stats: stats(5),
        dests: vec![IpvsDest {
            address: "2001:db8::2".parse().unwrap(),
            port: 443,
            weight: 0,
            active_connections: 0,
            inactive_connections: 1,
            stats: stats(5),
        }],
    });
    out
}

/// The value of the sample `name{labels}` in an exposition: labels given must all match (others
/// on the sample are ignored). Label values are compared unescaped.
pub fn sample_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let (sname, sl) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if sname != name {
            return None;
        }
        let have = parse_labels(sl);
        let all = labels
            .iter()
            .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v));
        if all { value.parse().ok() } else { None }
    })
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return out;
        }
        if chars.next() != Some('"') {
            return out;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(other) => val.push(other),
                    None => break,
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key.trim_start_matches(',').to_string(), val));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// GET `path` from a running lvsd API (plain HTTP/1.1 on a std socket, no async runtime needed).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path)
}

pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .expect("connect to the lvsd API");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the API response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Scrape `/metrics` of a running lvsd and read one sample.
pub fn scrape_value(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200, "GET /metrics: {body}");
    sample_value(&body, name, labels)
}

/// One BFD session Up and one Down (never heard), by name as the status hub lists them.
pub fn sample_bfd() -> Vec<lvsd::bfd::SessionStatus> {
    use lvsd::bfd::packet::State;
    use lvsd::bfd::service::SessionDetail;
    let one = |name: &str, neighbor: &str, state, heard: bool| lvsd::bfd::SessionStatus {
        name: name.into(),
        neighbor: neighbor.parse().unwrap(),
        state,
        diag: if heard {
            "No Diagnostic"
        } else {
            "Control Detection Time Expired"
        }
        .into(),
        local_disc: 0x1111,
        remote_disc: if heard { 0x2222 } else { 0 },
        vrrp: true,
        checker: true,
        received: if heard { 1200 } else { 0 },
        sent: 1300,
        detail: SessionDetail {
            source: None,
            remote_state: heard.then_some(State::Up),
            tx_interval_us: 300_000,
            rx_interval_us: 300_000,
            detection_time_us: heard.then_some(900_000),
            since_unix_ms: 1_795_527_961_215,
            transitions: if heard { 3 } else { 0 },
        },
    };
    vec![
        one("bfd_down", "2001:db8::20", State::Down, false),
        one("bfd_up", "192.0.2.20", State::Up, true),
    ]
}
