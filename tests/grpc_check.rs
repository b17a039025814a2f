//! `GRPC_CHECK` end to end: `lvsd --health-check-only` with a keepalived.conf using it, against a
//! real gRPC health server (hyper HTTP/2, h2c) started by the test; the server flips between
//! SERVING and NOT_SERVING and `/status` follows, with the reason.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

async fn grpc_server(serving: Arc<AtomicBool>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let serving = serving.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let serving = serving.load(Ordering::SeqCst);
                    async move {
                        let _ = req.into_body().collect().await;
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        let status = if serving { 1 } else { 2 };
                        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                            Ok(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body: BoxBody<Bytes, Infallible> =
                            StreamBody::new(futures_util::stream::iter(frames)).boxed();
                        let mut r = Response::new(body);
                        r.headers_mut()
                            .insert("content-type", "application/grpc".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

struct Lvsd(Child, std::path::PathBuf);

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(api: SocketAddr, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(api) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn real_server(api: SocketAddr) -> serde_json::Value {
    let text = get(api, "/status");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["virtual_servers"][0]["real_servers"][0].clone()
}

async fn until(what: &str, lvsd: &Lvsd, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what}\n--- lvsd log ---\n{}",
            std::fs::read_to_string(&lvsd.1).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_check_follows_the_serving_status() {
    let serving = Arc::new(AtomicBool::new(true));
    let backend = grpc_server(serving.clone()).await;
    let dir = std::env::temp_dir().join(format!("lvsd-grpc-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "virtual_server 192.0.2.20 50051 {{\n    protocol TCP\n    lb_kind NAT\n    real_server 127.0.0.1 {} {{\n        delay_loop 1\n        GRPC_CHECK {{\n            service web\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n",
            backend.port()
        ),
    )
    .unwrap();
    let api: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let log = dir.join("lvsd.log");
    let child = Command::new(LVSD)
        .args(["--health-check-only", "-n", "-l", "-f"])
        .arg(&conf)
        .args(["--metrics-listen", &api.to_string(), "--state-dir"])
        .arg(dir.join("state"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let lvsd = Lvsd(child, log);
    until("status served", &lvsd, || real_server(api)["up"] == true).await;
    // A check has run and passed (the metric counts runs by checker).
    until("a GRPC_CHECK run in the metrics", &lvsd, || {
        get(api, "/metrics").contains("checker=\"GRPC_CHECK\",result=\"success\"")
    })
    .await;
    serving.store(false, Ordering::SeqCst);
    until("down on NOT_SERVING", &lvsd, || {
        real_server(api)["up"] == false
    })
    .await;
    let rs = real_server(api);
    let why = rs["last_failure"].as_str().unwrap_or("");
    assert!(
        why.contains("gRPC health check of `web`") && why.contains("NOT_SERVING"),
        "{rs}"
    );
    serving.store(true, Ordering::SeqCst);
    until("up again on SERVING", &lvsd, || {
        real_server(api)["up"] == true
    })
    .await;
    drop(lvsd);
    let _ = std::fs::remove_dir_all(&dir);
}
