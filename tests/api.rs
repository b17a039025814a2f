//! The operations endpoint served on loopback: what Prometheus, `lvsd ctl` and curl see.

mod ops_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use lvsd::api::{self, Api, Bound, Endpoint, IpvsDumper, Limits, ReloadRequest};
use lvsd::ctl;
use lvsd::metrics::Metrics;
use lvsd::status::StatusHub;
use ops_support::{http_get, http_request, sample_ipvs, sample_status, sample_value};
use tokio::sync::mpsc;

/// Starts the endpoint on an ephemeral loopback port with the sample status published and a
/// reload handler that accepts the first reload and rejects the next ones.
async fn start(with_ipvs: bool) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (addr, _sock, stop) = start_all(with_ipvs, None, Limits::default()).await;
    (addr, stop)
}

/// The control socket's path for this test process.
fn socket_path(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("lvsd-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{tag}-{}.sock", N.fetch_add(1, Ordering::SeqCst)))
}

/// Both listeners: TCP (with `token`, if any) and the control socket, same API behind them.
async fn start_all(
    with_ipvs: bool,
    token: Option<api::Token>,
    limits: Limits,
) -> (SocketAddr, PathBuf, tokio::sync::oneshot::Sender<()>) {
    let hub = StatusHub::new();
    let s = sample_status();
    hub.vrrp.send_replace(s.vrrp);
    hub.vrrp_scripts.send_replace(s.vrrp_scripts);
    hub.virtual_servers.send_replace(s.virtual_servers);
    hub.reload.send_replace(s.reload);
    hub.bfd
        .send_replace(s.bfd.into_iter().map(|b| (b.name.clone(), b)).collect());
    hub.bfd_dropped.send_replace(s.bfd_dropped);
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
    let (stop2_tx, stop2_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = stop_rx.await;
        let _ = stop2_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tcp = Endpoint::Tcp {
        listen: "127.0.0.1:0".parse().unwrap(),
        token,
    };
    let (addr, _task) = api::spawn_endpoint(tcp, limits, api.clone(), stopped(stop2_rx.clone()))
        .await
        .expect("bind loopback");
    let Bound::Tcp(addr) = addr else {
        panic!("{addr:?}")
    };
    let path = socket_path("ctl");
    let unix = Endpoint::Unix {
        path: path.clone(),
        group: None,
    };
    api::spawn_endpoint(unix, limits, api, stopped(stop2_rx))
        .await
        .expect("bind the control socket");
    (addr, path, stop_tx)
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
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\nConnection: close\r\n\r\n"
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
    let (addr, sock, _stop) = start_all(false, None, Limits::default()).await;
    // Over TCP without a token: refused, and the reload never happens.
    let (code, body) = tokio::task::spawn_blocking(move || http_request(addr, "POST", "/reload"))
        .await
        .unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("control socket"), "{body}");

    let target = ctl::Target::Unix(sock);
    let (code, body) = ctl::request_to(
        &target,
        http::Method::POST,
        "/reload",
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!((code.as_u16(), body.as_str()), (200, "reloaded\n"));
    let (code, body) = ctl::request_to(
        &target,
        http::Method::POST,
        "/reload",
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(code, http::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("unknown keyword 'virtual_srever'"), "{body}");
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
            b"GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n",
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
    // A read-only listener: state changes refused, the daemon keeps running.
    let (code, _) = tokio::task::spawn_blocking(move || http_request(addr, "POST", "/reload"))
        .await
        .unwrap();
    assert_eq!(code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_exit_codes_tell_scripts_whether_the_reload_took() {
    let (_addr, sock, _stop) = start_all(false, None, Limits::default()).await;
    let args = |command| ctl::CtlArgs {
        socket: Some(sock.clone()),
        api: None,
        token_file: None,
        command,
    };
    let ok = ctl::run(args(ctl::CtlCommand::Reload)).await.unwrap();
    assert_eq!(ok, std::process::ExitCode::SUCCESS);
    let refused = ctl::run(args(ctl::CtlCommand::Reload)).await.unwrap();
    assert_eq!(refused, std::process::ExitCode::FAILURE);
    let status = ctl::run(args(ctl::CtlCommand::Status { json: false }))
        .await
        .unwrap();
    assert_eq!(status, std::process::ExitCode::SUCCESS);

    // Nobody listening: an error naming the socket / address, not a hang.
    let gone = socket_path("gone");
    let err = ctl::run(ctl::CtlArgs {
        socket: Some(gone.clone()),
        api: None,
        token_file: None,
        command: ctl::CtlCommand::Status { json: true },
    })
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains(&gone.display().to_string()),
        "{err:#}"
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = ctl::run(ctl::CtlArgs {
        socket: None,
        api: Some(closed),
        token_file: None,
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
        socket: None,
        api: Some(addr),
        token_file: None,
        command: ctl::CtlCommand::Status { json: true },
    })
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_control_needs_the_operators_token() {
    let token = "s3cret-token-0123456789";
    let (addr, _sock, _stop) =
        start_all(false, Some(api::Token::new(token)), Limits::default()).await;
    let dir = std::env::temp_dir().join(format!("lvsd-api-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good");
    std::fs::write(&good, format!("{token}\n")).unwrap();
    let bad = dir.join("bad");
    std::fs::write(&bad, "wrong-token-0123456789\n").unwrap();
    let args = |f: &PathBuf| ctl::CtlArgs {
        socket: None,
        api: Some(addr),
        token_file: Some(f.clone()),
        command: ctl::CtlCommand::Reload,
    };
    let code = ctl::run(args(&bad)).await.unwrap();
    assert_eq!(code, std::process::ExitCode::FAILURE, "wrong token refused");
    let code = ctl::run(args(&good)).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "right token reloads");
    // A token file others can read is refused by the daemon side.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = api::Token::from_file(&good).unwrap_err();
    assert!(format!("{err}").contains("chmod 600"), "{err}");
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(api::Token::from_file(&good).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// One raw request; the status code.
fn raw(addr: SocketAddr, head: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_and_cross_origin_requests_are_refused() {
    let (addr, _sock, _stop) = start_all(false, None, Limits::default()).await;
    tokio::task::spawn_blocking(move || {
        let get = |extra: &str| {
            raw(
                addr,
                &format!("GET /status HTTP/1.1\r\n{extra}Connection: close\r\n\r\n"),
            )
        };
        assert_eq!(get(&format!("Host: {addr}\r\n")), 200);
        assert_eq!(get(&format!("Host: localhost:{}\r\n", addr.port())), 200);
        assert_eq!(get(""), 200, "HTTP/1.1 without Host is not a browser");
        // DNS rebinding: the attacker's name resolved to 127.0.0.1.
        assert_eq!(get(&format!("Host: evil.example:{}\r\n", addr.port())), 421);
        assert_eq!(get("Host: 127.0.0.1:1\r\n"), 421, "another port");
        // CSRF: a page elsewhere posting or reading.
        assert_eq!(
            get(&format!("Host: {addr}\r\nOrigin: http://evil.example\r\n")),
            403
        );
        assert_eq!(
            get(&format!("Host: {addr}\r\nOrigin: http://{addr}\r\n")),
            200,
            "same origin"
        );
        let post = raw(
            addr,
            &format!(
                "POST /reload HTTP/1.1\r\nHost: {addr}\r\nOrigin: null\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(post, 403);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_socket_is_private() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (_addr, sock, _stop) = start_all(false, None, Limits::default()).await;
    let m = std::fs::symlink_metadata(&sock).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.mode() & 0o777, 0o600, "only root may connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_budget_evict_the_oldest() {
    let limits = Limits {
        budget: 16,
        ..Limits::default()
    };
    let (addr, _sock, _stop) = start_all(false, None, limits).await;
    tokio::task::spawn_blocking(move || {
        // Twice the budget, all idle, kept open.
        let idle: Vec<_> = (0..32)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let t = std::time::Instant::now();
        let (code, body) = http_get(addr, "/healthz");
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
        // The first ones were closed by the server (EOF), the newest are still open.
        let mut first = idle[0].try_clone().unwrap();
        first
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(first.read(&mut buf).unwrap_or(0), 0, "oldest idle evicted");
        drop(idle);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_socket_group_gets_0660() {
    use std::os::unix::fs::MetadataExt;
    let path = socket_path("grp");
    let gid = 65534; // nogroup
    let api = Api {
        status: StatusHub::new(),
        metrics: Metrics::new(),
        ipvs: None,
        reload: None,
    };
    let unix = Endpoint::Unix {
        path: path.clone(),
        group: Some(gid),
    };
    let (_bound, task) = api::spawn_endpoint(unix, Limits::default(), api, std::future::pending())
        .await
        .unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.mode() & 0o777, m.gid()), (0o660, gid));
    // A second daemon cannot take over a live socket.
    let again = api::bind_unix(&path, None).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse, "{again}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off() {
    let limits = Limits {
        header_timeout: std::time::Duration::from_millis(500),
        ..Limits::default()
    };
    let (addr, _sock, _stop) = start_all(false, None, limits).await;
    tokio::task::spawn_blocking(move || {
        // Slowloris: a head that never ends.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let took = t.elapsed();
        assert!(
            took < std::time::Duration::from_secs(3),
            "closed after {took:?}"
        );
        // Meanwhile and after, the endpoint answers.
        let (code, _) = http_get(addr, "/healthz");
        assert_eq!(code, 200);
    })
    .await
    .unwrap();
}
