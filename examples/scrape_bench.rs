//! How long a `/metrics` scrape takes with 10,000 IPVS destinations (the budget: 100 ms).
//!
//! `cargo run --release --example scrape_bench [services] [dests_per_service]`
//!
//! Prints, side by side in the same run:
//! - reference: writing the same per-destination sample lines with bare `write!` (the floor for
//!   any exposition of this many series);
//! - render: `metrics::render` (status snapshot + IPVS dump through prometheus-client);
//! - render + classic text conversion (what curl/promtool get);
//! - HTTP: a full GET /metrics over loopback against the real endpoint with an in-memory dump.
//!
//! The kernel dump itself is not included (it is `ipvs::Client::dump()`'s cost, measured there).

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvsd::api::{self, Api, IpvsDumper};
use lvsd::metrics::{self, IpvsDest, IpvsDump, IpvsScrape, IpvsService, IpvsStats, Metrics};
use lvsd::status::{RealServerStatus, Status, StatusHub, VirtualServerStatus};

fn dump(services: usize, dests: usize) -> IpvsDump {
    let st = |n: u64| IpvsStats {
        connections: n,
        incoming_packets: n * 10,
        outgoing_packets: n * 9,
        incoming_bytes: n * 1000,
        outgoing_bytes: n * 9000,
    };
    IpvsDump {
        totals: Some(st(1 << 40)),
        services: (0..services)
            .map(|s| IpvsService {
                proto: "TCP".into(),
                address: Some(IpAddr::V4(Ipv4Addr::new(
                    10,
                    0,
                    (s / 250) as u8,
                    (s % 250) as u8,
                ))),
                port: 443,
                fwmark: 0,
                stats: st(s as u64),
                dests: (0..dests)
                    .map(|d| IpvsDest {
                        address: IpAddr::V4(Ipv4Addr::new(
                            172,
                            16,
                            (d / 250) as u8,
                            (d % 250) as u8,
                        )),
                        port: 8443,
                        weight: 100,
                        active_connections: d as u32,
                        inactive_connections: 3,
                        stats: st(d as u64 * 7919),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The director's view of the same servers (health, weights), so the lvsd_* families are full too.
fn status(services: usize, dests: usize) -> Status {
    Status {
        virtual_servers: (0..services)
            .map(|s| VirtualServerStatus {
                key: format!("TCP 10.0.{}.{}:443", s / 250, s % 250),
                scheduler: "wrr".into(),
                quorum: 1,
                live_weight: 100 * dests as u64,
                quorum_up: true,
                sorry_server_active: false,
                operator: None,
                checks_suspended: None,
                real_servers: (0..dests)
                    .map(|d| RealServerStatus {
                        address: IpAddr::V4(Ipv4Addr::new(
                            172,
                            16,
                            (d / 250) as u8,
                            (d % 250) as u8,
                        )),
                        port: 8443,
                        up: d % 10 != 0,
                        weight: 100,
                        live_weight: Some(100),
                        last_failure: None,
                        last_check_unix_ms: Some(1_795_527_961_215),
                        transitions: d as u64 % 4,
                        runtime: Default::default(),
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    }
}

fn reference(d: &IpvsDump) -> String {
    let mut out = String::with_capacity(1 << 20);
    for s in &d.services {
        let la = s.address.map(|a| a.to_string()).unwrap_or_default();
        for dst in &s.dests {
            let ra = dst.address.to_string();
            for (name, v) in [
                (
                    "node_ipvs_backend_connections_active",
                    u64::from(dst.active_connections),
                ),
                (
                    "node_ipvs_backend_connections_inactive",
                    u64::from(dst.inactive_connections),
                ),
                ("node_ipvs_backend_weight", u64::from(dst.weight)),
                ("lvsd_ipvs_backend_connections_total", dst.stats.connections),
                (
                    "lvsd_ipvs_backend_incoming_packets_total",
                    dst.stats.incoming_packets,
                ),
                (
                    "lvsd_ipvs_backend_outgoing_packets_total",
                    dst.stats.outgoing_packets,
                ),
                (
                    "lvsd_ipvs_backend_incoming_bytes_total",
                    dst.stats.incoming_bytes,
                ),
                (
                    "lvsd_ipvs_backend_outgoing_bytes_total",
                    dst.stats.outgoing_bytes,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{local_address=\"{la}\",local_port=\"{}\",local_mark=\"\",proto=\"{}\",remote_address=\"{ra}\",remote_port=\"{}\"}} {v}",
                    s.port, s.proto, dst.port
                );
            }
        }
    }
    out
}

fn time<T>(runs: u32, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut best = Duration::MAX;
    let mut total = Duration::ZERO;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        let e = t.elapsed();
        best = best.min(e);
        total += e;
    }
    (best, total / runs, last.expect("runs > 0"))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let services = args.first().copied().unwrap_or(100);
    let per = args.get(1).copied().unwrap_or(100);
    let d = Arc::new(dump(services, per));
    let st = Arc::new(status(services, per));
    let m = Metrics::new();
    println!(
        "{services} services x {per} destinations = {} destinations (+ as many real-server statuses)",
        services * per
    );
    let runs = 20;
    let (b, a, out) = time(runs, || reference(&d));
    println!(
        "reference write!:      best {b:>9.2?}  mean {a:>9.2?}  {:>6} KiB",
        out.len() / 1024
    );
    let (b, a, out) = time(runs, || {
        metrics::render(&m, st.clone(), IpvsScrape::Dumped(d.clone()))
    });
    println!(
        "render (OpenMetrics):  best {b:>9.2?}  mean {a:>9.2?}  {:>6} KiB",
        out.len() / 1024
    );
    let (b, a, out) = time(runs, || {
        metrics::to_prometheus_text(&metrics::render(
            &m,
            st.clone(),
            IpvsScrape::Dumped(d.clone()),
        ))
    });
    println!(
        "render + text 0.0.4:   best {b:>9.2?}  mean {a:>9.2?}  {:>6} KiB",
        out.len() / 1024
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hub = StatusHub::new();
    hub.virtual_servers.send_replace(st.virtual_servers.clone());
    let dd = d.clone();
    let dumper: IpvsDumper = Arc::new(move || {
        let d = (*dd).clone();
        Box::pin(async move { Ok(d) })
    });
    let api = Api {
        status: hub,
        metrics: m.clone(),
        ipvs: Some(dumper),
        reload: None,
    };
    let addr = rt
        .block_on(api::spawn(
            "127.0.0.1:0".parse().expect("addr"),
            api,
            std::future::pending(),
        ))
        .expect("bind loopback")
        .0;
    let (b, a, n) = time(runs, || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: application/openmetrics-text; version=1.0.0\r\nConnection: close\r\n\r\n"
        );
        let mut body = Vec::new();
        let _ = s.read_to_end(&mut body);
        body.len()
    });
    println!(
        "HTTP GET /metrics:     best {b:>9.2?}  mean {a:>9.2?}  {:>6} KiB",
        n / 1024
    );
    println!("budget: 100 ms per scrape");
}
