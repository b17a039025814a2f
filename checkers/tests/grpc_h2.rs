//! lvsd's checks beyond keepalived, against real hyper HTTP/2 servers on loopback: the gRPC
//! health checker (h2c and TLS with ALPN h2), the HTTP/2 option of HTTP_GET / SSL_GET, and the
//! verified certificate's expiry reported for metrics.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use checkers::{
    CheckKind, FailReason, GrpcSpec, HttpProtocol, HttpSpec, Observed, Outcome, Spec, TlsVerify,
    UrlSpec, check_observed,
};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

/// A grpc.health.v1 server: "" SERVING, "db" NOT_SERVING, anything else NOT_FOUND (5).
async fn health(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if path != checkers::grpc::PATH {
        let mut r = Response::new(Full::new(Bytes::from_static(b"no")).boxed());
        *r.status_mut() = hyper::StatusCode::NOT_FOUND;
        return Ok(r);
    }
    // Decode the service name written by lvsd (field 1, one length byte for these tests).
    let service = if body.len() > 7 {
        String::from_utf8_lossy(&body[7..]).into_owned()
    } else {
        String::new()
    };
    let trailers = |code: &str, msg: &str| {
        let mut t = http::HeaderMap::new();
        t.insert("grpc-status", code.parse().unwrap());
        if !msg.is_empty() {
            t.insert("grpc-message", msg.parse().unwrap());
        }
        t
    };
    let status = match service.as_str() {
        "" => 1u8,
        "db" => 2,
        _ => {
            // Trailers-only: grpc-status in the headers.
            let mut r = Response::new(Full::new(Bytes::new()).boxed());
            r.headers_mut().extend(trailers("5", "unknown service"));
            r.headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
            return Ok(r);
        }
    };
    let msg = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
        vec![Ok(Frame::data(msg)), Ok(Frame::trailers(trailers("0", "")))];
    let mut r = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
    r.headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    Ok(r)
}

/// `/health` 200 "ok", anything else 503, over HTTP/2.
async fn web(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let ok = req.uri().path() == "/health";
    let mut r = Response::new(Full::new(Bytes::from_static(b"ok\n")).boxed());
    if !ok {
        *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    }
    Ok(r)
}

type Handler = fn(
    Request<Incoming>,
) -> futures_util::future::BoxFuture<'static, Result<Response<Body>, Infallible>>;

fn grpc_handler(
    r: Request<Incoming>,
) -> futures_util::future::BoxFuture<'static, Result<Response<Body>, Infallible>> {
    Box::pin(health(r))
}

fn web_handler(
    r: Request<Incoming>,
) -> futures_util::future::BoxFuture<'static, Result<Response<Body>, Infallible>> {
    Box::pin(web(r))
}

/// An HTTP/2 server (h2c, or TLS with ALPN h2 when `cert` is given).
async fn h2_server(handler: Handler, cert: Option<&support::Cert>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = cert.map(|c| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![c.der.clone()], c.key.clone_key())
            .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handler);
                let b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                match acceptor {
                    None => {
                        let _ = b.serve_connection(TokioIo::new(s), svc).await;
                    }
                    Some(a) => {
                        if let Ok(tls) = a.accept(s).await {
                            let _ = b.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn spec(addr: SocketAddr, kind: CheckKind) -> Spec {
    let mut s = Spec::new(addr, kind);
    s.timing.connect_timeout = Duration::from_secs(2);
    s
}

fn grpc(addr: SocketAddr, service: &str) -> Spec {
    spec(
        addr,
        CheckKind::Grpc(GrpcSpec {
            service: service.to_string(),
            ..Default::default()
        }),
    )
}

fn fail(o: Outcome) -> FailReason {
    match o {
        Outcome::Fail(r) => r,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn ca_file(cert: &support::Cert, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("checkers-h2-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    ca
}

#[tokio::test]
async fn grpc_health_over_h2c() {
    let addr = h2_server(grpc_handler, None).await;
    let (o, seen) = check_observed(&grpc(addr, "")).await;
    assert_eq!(o, Outcome::PASS);
    assert_eq!(seen, Observed::default());
    let r = fail(check_observed(&grpc(addr, "db")).await.0);
    assert!(r.to_string().contains("answered NOT_SERVING"), "{r}");
    assert!(r.to_string().contains("`db`"), "{r}");
    let r = fail(check_observed(&grpc(addr, "nope")).await.0);
    assert!(
        r.to_string().contains("grpc-status 5 unknown service"),
        "{r}"
    );
    // An HTTP/1-only server is not a gRPC server.
    let (h1, _) = support::hyper_plain(|_| (200, b"ok")).await;
    let r = fail(check_observed(&grpc(h1, "")).await.0);
    assert!(r.to_string().contains("HTTP/2"), "{r}");
    // Nothing listening: refused, as for any TCP check.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    assert!(matches!(
        fail(check_observed(&grpc(closed, "")).await.0),
        FailReason::ConnectRefused
    ));
}

#[tokio::test]
async fn grpc_over_tls_reports_the_verified_certificate_expiry() {
    let cert = support::cert();
    let addr = h2_server(grpc_handler, Some(&cert)).await;
    let mut s = grpc(addr, "");
    if let CheckKind::Grpc(g) = &mut s.kind {
        g.tls = true;
        g.authority = Some("localhost".into());
    }
    // Unverified: passes, no expiry reported (its dates mean nothing).
    let (o, seen) = check_observed(&s).await;
    assert_eq!(o, Outcome::PASS);
    assert_eq!(seen.cert_not_after, None);
    if let CheckKind::Grpc(g) = &mut s.kind {
        g.verify = TlsVerify::CaFile(ca_file(&cert, "grpc"));
    }
    let (o, seen) = check_observed(&s).await;
    assert_eq!(o, Outcome::PASS);
    let not_after = seen
        .cert_not_after
        .expect("expiry of a verified certificate");
    // rcgen's default validity ends in 4096.
    assert!(
        not_after > UNIX_EPOCH + Duration::from_secs(4_000_000_000),
        "{not_after:?}"
    );
}

#[tokio::test]
async fn http_get_over_http2() {
    let addr = h2_server(web_handler, None).await;
    let http = |path: &str, protocol| {
        spec(
            addr,
            CheckKind::Http(HttpSpec {
                urls: vec![UrlSpec::new(path)],
                protocol,
                ..Default::default()
            }),
        )
    };
    assert_eq!(
        check_observed(&http("/health", HttpProtocol::Http2))
            .await
            .0,
        Outcome::PASS
    );
    let r = fail(check_observed(&http("/down", HttpProtocol::Http2)).await.0);
    assert!(
        matches!(r, FailReason::HttpStatus { status: 503, .. }),
        "{r}"
    );
    // The same server spoken to in HTTP/1.1 fails: the option matters.
    assert!(
        !check_observed(&http("/health", HttpProtocol::Http11))
            .await
            .0
            .is_pass()
    );
    // A digest is checked over the HTTP/2 body.
    let mut s = http("/health", HttpProtocol::Http2);
    if let CheckKind::Http(h) = &mut s.kind {
        h.urls[0].digest = Some("0a2b4a1f6e1c1a8f1b4c8f2a0e4e6b1c".into());
    }
    assert!(matches!(
        fail(check_observed(&s).await.0),
        FailReason::DigestMismatch { .. }
    ));
    if let CheckKind::Http(h) = &mut s.kind {
        // md5("ok\n")
        h.urls[0].digest = Some("eff5bc1ef8ec9d03e640fc4370f5eacd".into());
    }
    assert_eq!(check_observed(&s).await.0, Outcome::PASS);
}

#[tokio::test]
async fn ssl_get_reports_certificate_expiry_when_verified() {
    let cert = support::cert();
    // HTTP/1.1 over TLS (the existing SSL_GET) and HTTP/2 over TLS (ALPN h2).
    let (h1, _) = support::hyper_tls(|_| (200, b"ok"), &cert).await;
    let h2 = h2_server(web_handler, Some(&cert)).await;
    for (addr, protocol) in [(h1, HttpProtocol::Http11), (h2, HttpProtocol::Http2)] {
        let mut s = spec(
            addr,
            CheckKind::Ssl(HttpSpec {
                urls: vec![UrlSpec::new("/health")],
                protocol,
                virtualhost: Some("localhost".into()),
                ..Default::default()
            }),
        );
        let (o, seen) = check_observed(&s).await;
        assert_eq!(o, Outcome::PASS, "{protocol:?}");
        assert_eq!(seen.cert_not_after, None, "{protocol:?}");
        if let CheckKind::Ssl(h) = &mut s.kind {
            h.verify = TlsVerify::CaFile(ca_file(&cert, "ssl"));
        }
        let (o, seen) = check_observed(&s).await;
        assert_eq!(o, Outcome::PASS, "{protocol:?}");
        let t = seen.cert_not_after.expect("expiry");
        assert!(t > SystemTime::now(), "{protocol:?} {t:?}");
    }
}
