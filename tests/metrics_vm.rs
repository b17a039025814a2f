//! `/metrics` against a real IPVS kernel: the table is built with `ipvsadm` (independent of
//! lvsd's client), one TCP connection goes through it, and the scraped node_exporter-style series
//! must match what `ipvsadm -Ln --stats --exact` reports. `in_vm` boots the IPVS VM once
//! (tests/vm/ipvs-vm.sh) and runs the `metrics_vm_*` tests inside it.

#[path = "vm/harness.rs"]
mod vm;

mod ops_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use lvsd::api::{self, Api};
use lvsd::metrics::Metrics;
use lvsd::status::StatusHub;
use ops_support::{http_get, sample_value};

#[test]
fn in_vm() {
    vm::run_ignored_in_vm("metrics_vm_", 1);
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ipvsadm -Ln --stats --exact` row of destination `rs` under service `vs`: Conns InPkts OutPkts
/// InBytes OutBytes.
fn ipvsadm_stats(vs: &str, rs: &str) -> Vec<u64> {
    let text = sh("ipvsadm -Ln --stats --exact");
    let mut in_service = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 && f[0] != "->" {
            in_service = f[1] == vs;
        } else if in_service && f.first() == Some(&"->") && f.get(1) == Some(&rs) {
            return f[2..7].iter().map(|n| n.parse().unwrap()).collect();
        }
    }
    panic!("no {vs} -> {rs} in:\n{text}");
}

/// ActiveConn InActConn Weight of destination `rs` from `ipvsadm -Ln`.
fn ipvsadm_conns(vs: &str, rs: &str) -> (u64, u64, u64) {
    let text = sh("ipvsadm -Ln");
    let mut in_service = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 && f[0] != "->" {
            in_service = f[1] == vs;
        } else if in_service && f.first() == Some(&"->") && f.get(1) == Some(&rs) {
            return (
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
                f[3].parse().unwrap(),
            );
        }
    }
    panic!("no {vs} -> {rs} in:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an IPVS kernel: run by in_vm()"]
async fn metrics_vm_scrape_matches_ipvsadm() {
    sh("ipvsadm -C");
    sh(
        "ip link add lvsdm0 type dummy 2>/dev/null || true; ip link set lvsdm0 up; \
        ip addr replace 10.77.0.1/24 dev lvsdm0; ip addr replace 10.77.0.2/24 dev lvsdm0",
    );
    // A backend on the dummy address, a NAT service in front of it, a firewall-mark service.
    let backend = TcpListener::bind("10.77.0.2:8080").unwrap();
    sh(
        "ipvsadm -A -t 10.77.0.1:80 -s wrr && ipvsadm -a -t 10.77.0.1:80 -r 10.77.0.2:8080 -m -w 3 \
        && ipvsadm -A -f 7 -s rr && ipvsadm -a -f 7 -r 10.77.0.3:0 -g -w 2",
    );

    // One connection through IPVS (locally originated traffic is balanced on LOCAL_OUT).
    let through = std::thread::spawn(|| {
        let mut c = TcpStream::connect_timeout(
            &"10.77.0.1:80".parse::<SocketAddr>().unwrap(),
            Duration::from_secs(5),
        )?;
        c.write_all(b"ping")?;
        Ok::<_, std::io::Error>(c)
    });
    backend.set_nonblocking(false).unwrap();
    let (mut server_side, _) = backend.accept().expect("IPVS forwarded the connection");
    let mut buf = [0u8; 4];
    server_side.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let _client = through.join().unwrap().unwrap();
    // The kernel folds its per-CPU counters into the readable totals from its rate estimator,
    // every 2 s: wait until the connection shows (ipvsadm as the witness), at most 10 s.
    for _ in 0..40 {
        if ipvsadm_stats("10.77.0.1:80", "10.77.0.2:8080")[0] >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let client = ipvs::Client::connect().await.expect("IPVS netlink");
    let api = Api {
        status: StatusHub::new(),
        metrics: Metrics::new(),
        ipvs: Some(api::kernel_dumper(client)),
        reload: None,
    };
    let (addr, _task) = api::spawn("127.0.0.1:0".parse().unwrap(), api, std::future::pending())
        .await
        .unwrap();
    let body = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .unwrap()
        .1;

    let backend_labels = [
        ("local_address", "10.77.0.1"),
        ("local_port", "80"),
        ("local_mark", ""),
        ("proto", "TCP"),
        ("remote_address", "10.77.0.2"),
        ("remote_port", "8080"),
    ];
    let got = |name: &str| sample_value(&body, name, &backend_labels);
    assert_eq!(
        sample_value(&body, "lvsd_ipvs_scrape_success", &[]),
        Some(1.0)
    );
    let (active, inactive, weight) = ipvsadm_conns("10.77.0.1:80", "10.77.0.2:8080");
    assert_eq!(weight, 3);
    assert_eq!(active, 1, "the connection is established through IPVS");
    assert_eq!(got("node_ipvs_backend_weight"), Some(weight as f64));
    assert_eq!(
        got("node_ipvs_backend_connections_active"),
        Some(active as f64)
    );
    assert_eq!(
        got("node_ipvs_backend_connections_inactive"),
        Some(inactive as f64)
    );

    // Counters: the kernel updates them with every packet, and scrape and ipvsadm are two reads;
    // the connection is idle now, so they agree.
    let stats = ipvsadm_stats("10.77.0.1:80", "10.77.0.2:8080");
    let ours = [
        "lvsd_ipvs_backend_connections_total",
        "lvsd_ipvs_backend_incoming_packets_total",
        "lvsd_ipvs_backend_outgoing_packets_total",
        "lvsd_ipvs_backend_incoming_bytes_total",
        "lvsd_ipvs_backend_outgoing_bytes_total",
    ]
    .map(|n| got(n).unwrap_or_else(|| panic!("{n} missing:\n{body}")) as u64);
    assert_eq!(ours.to_vec(), stats);
    assert_eq!(stats[0], 1, "one connection counted");

    // The firewall-mark service: mark in local_mark, proto FWM.
    assert_eq!(
        sample_value(
            &body,
            "node_ipvs_backend_weight",
            &[
                ("local_mark", "7"),
                ("proto", "FWM"),
                ("remote_address", "10.77.0.3")
            ]
        ),
        Some(2.0)
    );
    // Whole-kernel totals from /proc/net/ip_vs_stats.
    let total = sample_value(&body, "node_ipvs_connections_total", &[]).unwrap();
    assert!(total >= 1.0, "{total}");
    sh("ipvsadm -C; ip link del lvsdm0");
}
