//! The operations endpoint served on loopback: what Prometheus, `lvsd ctl` and curl see.

mod ops_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use lvsd::api::{self, Api, IpvsDumper, ReloadRequest};
use lvsd::ctl;
use lvsd::metrics::Metrics;
use lvsd::status::StatusHub;
use ops_support::{http_get, http_request, sample_ipvs, sample_status, sample_value};
use tokio::sync::mpsc;

/// Starts the endpoint on an ephemeral loopback port with the sample status published and a
/// reload handler that accepts the first reload and rejects the next ones.
async fn start(with_ipvs: bool) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let hub = StatusHub::new();
    let s = sample_status();
    hub.vrrp.send_replace(s.vrrp);
    hub.vrrp_scripts.send_replace(s.vrrp_scripts);
    hub.virtual_servers.send_replace(s.virtual_servers);
    hub.reload.send_replace(s.reload);
    let dump = sample_ipvs(3, 4);
    let ipvs: Option<IpvsDumper> = with_ipvs.then(|| {
        let f: IpvsDumper = Arc::new(move || {
            let d = dump.clone();
            Box::pin(async move { Ok(d) })
        });
        f
    });
    let (tx, mut rx) = mpsc::channel::<ReloadRequest>(4);
    tokio::spawn(async move {
        let mut n = 0;
        while let Some(req) = rx.recv().await {
            n += 1;
            let answer = if n == 1 {
                Ok(())
            } else {
                Err("keepalived.conf:12:3: unknown keyword 'virtual_srever'".to_string())
            };
            let _ = req.reply.send(answer);
        }
    });
    let api = Api {
        status: hub,
        metrics: Metrics::new(),
        ipvs,
        reload: Some(tx),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr, _task) = api::spawn("127.0.0.1:0".parse().unwrap(), api, async move {
        let _ = stop_rx.await;
    })
    .await
    .expect("bind loopback");
    (addr, stop_tx)
}

/// The std-socket helpers block; run them off the runtime's worker.
async fn get(addr: SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || http_get(addr, path))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_and_healthz_are_served() {
    let (addr, _stop) = start(true).await;

    let (code, body) = get(addr, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        !body.contains("# EOF"),
        "classic text for clients without Accept"
    );
    assert_eq!(
        sample_value(&body, "keepalived_vrrp_state", &[("iname", "VI_1")]),
        Some(2.0)
    );
    assert_eq!(
        sample_value(&body, "lvsd_ipvs_scrape_success", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &body,
            "node_ipvs_backend_weight",
            &[
                ("local_address", "10.0.0.3"),
                ("remote_address", "172.16.0.4")
            ]
        ),
        Some(4.0)
    );

    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let got: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
    assert_eq!(got, serde_json::to_value(sample_status()).unwrap());
    assert_eq!(got["vrrp"][0]["state"], "MASTER");
    assert_eq!(got["virtual_servers"][0]["real_servers"][1]["up"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gets_openmetrics_when_it_asks() {
    let (addr, _stop) = start(false).await;
    let body = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(body.contains("application/openmetrics-text"), "{body}");
    assert!(body.contains("# EOF"));
    // No IPVS source: no IPVS families at all.
    assert!(!body.contains("node_ipvs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reports_success_then_the_configuration_error() {
    let (addr, _stop) = start(false).await;
    let (code, body) = tokio::task::spawn_blocking(move || http_request(addr, "POST", "/reload"))
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "reloaded\n"));

    // Through the ctl client this time.
    let (code, body) = ctl::request(
        addr,
        http::Method::POST,
        "/reload",
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(code, http::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("unknown keyword 'virtual_srever'"), "{body}");

    let (code, _) = get(addr, "/reload").await;
    assert_eq!(code, 405, "reload needs POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_status_renders_tables_from_the_live_endpoint() {
    let (addr, _stop) = start(false).await;
    let (code, body) = ctl::request(
        addr,
        http::Method::GET,
        "/status",
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(code, http::StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    // 1_795_527_961_215 + 133 s
    let out = ctl::render_status(&v, 1_795_527_961_215 + 133_000);
    let line = |needle: &str| {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
            .to_string()
    };
    let vi1 = line("VI_1");
    for part in [
        "eth0",
        "51",
        "MASTER",
        "140/150",
        "192.0.2.10",
        "2m13s ago",
        "192.0.2.100/24",
    ] {
        assert!(vi1.contains(part), "{part:?} missing in {vi1:?}");
    }
    assert!(line("chk_disk").contains("BAD"));
    assert!(line("TCP 192.0.2.100:80").contains("quorum up (live weight 3 / quorum 2)"));
    assert!(line("FWM 7").contains("QUORUM DOWN"));
    assert!(line("FWM 7").contains("sorry server active"));
    let down = line("198.51.100.2:8080");
    assert!(
        down.contains("DOWN") && down.contains("connection refused"),
        "{down}"
    );
    assert!(line("[2001:db8::2]:443").contains("timeout after 3s"));
    assert!(line("config /etc/keepalived/keepalived.conf").contains("4 reloads ok, 1 failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_requests_do_not_hurt_the_endpoint() {
    let (addr, _stop) = start(true).await;
    tokio::task::spawn_blocking(move || {
        for junk in [
            &b"\x00\x01\x02garbage\r\n\r\n"[..],
            b"GET /metrics HTTP/9.9\r\n\r\n",
            b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
            &[b'A'; 70_000][..],
        ] {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let _ = s.write_all(junk);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let _ = s.read_to_end(&mut sink);
        }
        // Half-open connections beyond the limit only queue: the endpoint still answers once
        // they go away.
        let idle: Vec<_> = (0..40)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        drop(idle);
        let (code, _) = http_get(addr, "/nope");
        assert_eq!(code, 404);
        let (code, body) = http_get(addr, "/healthz");
        assert_eq!((code, body.as_str()), (200, "ok\n"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_follow_the_latest_snapshot() {
    // Level-triggered: what the producers publish is what the next scrape shows.
    let hub = StatusHub::new();
    let mut s = sample_status();
    hub.vrrp.send_replace(s.vrrp.clone());
    hub.virtual_servers.send_replace(s.virtual_servers.clone());
    let api = Api {
        status: hub.clone(),
        metrics: Metrics::new(),
        ipvs: None,
        reload: None,
    };
    let (addr, _task) = api::spawn("127.0.0.1:0".parse().unwrap(), api, std::future::pending())
        .await
        .unwrap();
    let up = [("real_server", "198.51.100.1:8080")];
    let vi1 = [("iname", "VI_1"), ("ip_address", "192.0.2.100/24")];
    let scrape = move |name: &'static str, labels: Vec<(&'static str, &'static str)>| {
        tokio::task::spawn_blocking(move || ops_support::scrape_value(addr, name, &labels))
    };
    assert_eq!(
        scrape("lvsd_real_server_up", up.to_vec()).await.unwrap(),
        Some(1.0)
    );
    assert_eq!(
        scrape("keepalived_vrrp_state", vi1.to_vec()).await.unwrap(),
        Some(2.0)
    );

    // The backend stops and this node loses mastership.
    s.virtual_servers[0].real_servers[0].up = false;
    s.virtual_servers[0].real_servers[0].transitions += 1;
    s.vrrp[0].state = lvsd::status::VrrpState::Backup;
    s.vrrp[0].counters.release_master += 1;
    hub.virtual_servers.send_replace(s.virtual_servers.clone());
    hub.vrrp.send_replace(s.vrrp.clone());

    assert_eq!(
        scrape("lvsd_real_server_up", up.to_vec()).await.unwrap(),
        Some(0.0)
    );
    assert_eq!(
        scrape("lvsd_real_server_transitions_total", up.to_vec())
            .await
            .unwrap(),
        Some(1.0)
    );
    assert_eq!(
        scrape("keepalived_vrrp_state", vi1.to_vec()).await.unwrap(),
        Some(1.0)
    );
    assert_eq!(
        scrape("keepalived_release_master_total", vec![("iname", "VI_1")])
            .await
            .unwrap(),
        Some(2.0)
    );
    // No reload handler: 503, the daemon keeps running.
    let (code, _) = tokio::task::spawn_blocking(move || http_request(addr, "POST", "/reload"))
        .await
        .unwrap();
    assert_eq!(code, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_exit_codes_tell_scripts_whether_the_reload_took() {
    let (addr, _stop) = start(false).await;
    let args = |command| ctl::CtlArgs { api: addr, command };
    let ok = ctl::run(args(ctl::CtlCommand::Reload)).await.unwrap();
    assert_eq!(ok, std::process::ExitCode::SUCCESS);
    let refused = ctl::run(args(ctl::CtlCommand::Reload)).await.unwrap();
    assert_eq!(refused, std::process::ExitCode::FAILURE);
    let status = ctl::run(args(ctl::CtlCommand::Status { json: false }))
        .await
        .unwrap();
    assert_eq!(status, std::process::ExitCode::SUCCESS);

    // Nobody listening: an error naming the address, not a hang.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = ctl::run(ctl::CtlArgs {
        api: closed,
        command: ctl::CtlCommand::Status { json: true },
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains(&closed.to_string()), "{err:#}");
}

#[test]
fn ctl_runs_from_a_synchronous_main() {
    // The endpoint on its own runtime thread; ctl from plain main-like code.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (addr, _stop) = start(false).await;
            addr_tx.send(addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr_rx.recv().unwrap();
    let code = ctl::run_blocking(ctl::CtlArgs {
        api: addr,
        command: ctl::CtlCommand::Status { json: true },
    })
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
}
