//! HTTP_GET / SSL_GET against real loopback servers: hyper (plain, TLS) and hostile raw ones.
//! Every failure must carry the right reason and end within its timeout.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use checkers::{
    CheckKind, ClientCert, FailReason, HttpProtocol, HttpSpec, Outcome, Spec, Timing, TlsVerify,
    UrlSpec, check,
};
use support::Behaviour;

const TIMEOUT: Duration = Duration::from_secs(1);

fn route(path: &str) -> (u16, &'static [u8]) {
    match path {
        "/health" => (200, b"ok\n"),
        "/down" => (503, b"maintenance"),
        _ => (404, b"nope"),
    }
}

fn http_spec(target: SocketAddr, url: UrlSpec, tls: bool) -> Spec {
    let http = HttpSpec {
        urls: vec![url],
        ..Default::default()
    };
    let kind = if tls {
        CheckKind::Ssl(http)
    } else {
        CheckKind::Http(http)
    };
    Spec {
        timing: Timing {
            connect_timeout: TIMEOUT,
            ..Timing::default()
        },
        ..Spec::new(target, kind)
    }
}

/// Runs the check, asserting it ends within the timeout (plus scheduling slack).
async fn run(spec: &Spec) -> Outcome {
    let t = Instant::now();
    let out = check(spec).await;
    let took = t.elapsed();
    assert!(
        took < spec.timing.connect_timeout + Duration::from_millis(300),
        "took {took:?}: {out}"
    );
    out
}

fn fail(o: Outcome) -> FailReason {
    match o {
        Outcome::Fail(r) => r,
        Outcome::Pass { .. } => panic!("expected a failure"),
    }
}

#[tokio::test]
async fn plain_status_and_digest() {
    let (addr, mut log) = support::hyper_plain(route).await;
    assert_eq!(
        run(&http_spec(addr, UrlSpec::new("/health"), false)).await,
        Outcome::PASS
    );
    assert_eq!(
        log.recv().await.unwrap(),
        format!("GET /health host={addr}")
    );

    let r = fail(run(&http_spec(addr, UrlSpec::new("/down"), false)).await);
    assert_eq!(r.to_string(), "HTTP 503 on /down (expected 200-299)");

    // 503 accepted when configured; the body digest must still match.
    let mut url = UrlSpec::new("/down");
    url.status_codes = vec![200..=299, 503..=503];
    url.digest = Some("0123456789abcdef0123456789abcdef".to_string());
    let r = fail(run(&http_spec(addr, url.clone(), false)).await);
    // md5("maintenance")
    assert_eq!(
        r.to_string(),
        format!(
            "digest mismatch on /down: got {}, want 0123456789abcdef0123456789abcdef",
            md5_hex(b"maintenance")
        )
    );
    url.digest = Some(md5_hex(b"maintenance").to_uppercase());
    assert_eq!(run(&http_spec(addr, url, false)).await, Outcome::PASS);
}

#[tokio::test]
async fn virtualhost_and_protocol_reach_the_server() {
    let (addr, mut log) = support::hyper_plain(route).await;
    let mut spec = http_spec(addr, UrlSpec::new("/health"), false);
    if let CheckKind::Http(h) = &mut spec.kind {
        h.virtualhost = Some("www.example.test".to_string());
        h.protocol = HttpProtocol::Http11;
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    assert_eq!(
        log.recv().await.unwrap(),
        "GET /health host=www.example.test"
    );
}

#[tokio::test]
async fn tls_unverified_by_default_sni_and_ca_verification() {
    let cert = support::cert();
    let (addr, mut log) = support::hyper_tls(route, &cert).await;
    assert_eq!(
        run(&http_spec(addr, UrlSpec::new("/health"), true)).await,
        Outcome::PASS
    );
    assert_eq!(
        log.recv().await.unwrap(),
        "sni=-",
        "no SNI without enable_sni"
    );
    assert_eq!(
        log.recv().await.unwrap(),
        format!("GET /health host={addr}")
    );

    let mut spec = http_spec(addr, UrlSpec::new("/health"), true);
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.virtualhost = Some("www.example.test".to_string());
        h.enable_sni = true;
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    assert_eq!(log.recv().await.unwrap(), "sni=www.example.test");
    assert_eq!(
        log.recv().await.unwrap(),
        "GET /health host=www.example.test"
    );

    // Verification against the system roots rejects the self-signed certificate ...
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.verify = TlsVerify::SystemRoots;
    }
    let r = fail(run(&spec).await);
    assert!(matches!(r, FailReason::Tls(_)), "{r}");
    assert!(r.to_string().starts_with("TLS handshake failed: "), "{r}");
    // ... and accepts it with the right CA file.
    let dir = std::env::temp_dir().join(format!("checkers-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.verify = TlsVerify::CaFile(ca);
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    // Without SNI the certificate is still verified against the virtual host.
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.enable_sni = false;
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    // ... and not against a name it does not carry.
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.virtualhost = Some("other.example.test".to_string());
    }
    let r = fail(run(&spec).await);
    assert!(r.to_string().contains("certificate"), "{r}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tls_client_certificate() {
    let dir = std::env::temp_dir().join(format!("checkers-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = support::client_pki(&dir);
    let (addr, _log) = support::hyper_tls_with(route, &support::cert(), Some(ca)).await;
    let mut spec = http_spec(addr, UrlSpec::new("/health"), true);
    // Without a client certificate the server refuses the handshake.
    assert!(matches!(
        fail(run(&spec).await),
        FailReason::Tls(_) | FailReason::Io { .. }
    ));
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.client_cert = Some(ClientCert { cert, key });
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    // A missing key file is a setup problem named as such.
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.client_cert = Some(ClientCert {
            cert: dir.join("client.pem"),
            key: dir.join("missing.key"),
        });
    }
    let r = fail(run(&spec).await);
    assert!(r.to_string().contains("missing.key"), "{r}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tls_against_a_plain_server_times_out_in_the_handshake() {
    let (addr, _log) = support::hyper_plain(route).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/health"), true)).await);
    // hyper answers the ClientHello with a 400 page, which is no TLS record.
    assert!(
        matches!(r, FailReason::Tls(_) | FailReason::Timeout { .. }),
        "{r}"
    );
}

#[tokio::test]
async fn connection_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(r.to_string(), "connection refused");
}

#[tokio::test]
async fn never_answers() {
    let addr = support::raw(Behaviour::Silent).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(
        r.to_string(),
        "timeout after 1 s waiting for the response headers of /"
    );
}

#[tokio::test]
async fn slowloris_headers() {
    let addr = support::raw(Behaviour::Slowloris).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(
        r.to_string(),
        "timeout after 1 s waiting for the response headers of /"
    );
}

#[tokio::test]
async fn reset_after_request() {
    let addr = support::raw(Behaviour::Reset).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(
        r.to_string(),
        "connection reset while reading the response headers of /"
    );
}

#[tokio::test]
async fn garbage() {
    let addr = support::raw(Behaviour::Reply(b"\x00\x01\x02garbage\r\n\r\nzzz")).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert!(matches!(r, FailReason::Protocol { .. }), "{r}");
    assert!(
        r.to_string()
            .starts_with("invalid response headers of /: not an HTTP response"),
        "{r}"
    );
}

#[tokio::test]
async fn closes_mid_headers() {
    let addr = support::raw(Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Le")).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(
        r.to_string(),
        "connection closed while reading the response headers of /"
    );
    let addr = support::raw(Behaviour::CloseAtOnce).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert!(matches!(r, FailReason::Io { .. }), "{r}");
}

#[tokio::test]
async fn without_digest_the_body_is_not_downloaded() {
    let sent = Arc::new(AtomicU64::new(0));
    let addr = support::raw(Behaviour::Endless(sent)).await;
    let t = Instant::now();
    assert_eq!(
        run(&http_spec(addr, UrlSpec::new("/stream"), false)).await,
        Outcome::PASS
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn endless_headers_are_cut_at_64_kib() {
    let addr = support::raw(Behaviour::EndlessHeaders).await;
    let r = fail(run(&http_spec(addr, UrlSpec::new("/"), false)).await);
    assert_eq!(
        r.to_string(),
        "invalid response headers of /: header block larger than 64 KiB"
    );
}

#[tokio::test]
async fn chunked_body_digest_includes_framing() {
    let addr = support::raw(Behaviour::Reply(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ))
    .await;
    let mut url = UrlSpec::new("/");
    url.digest = Some(md5_hex(b"5\r\nhello\r\n0\r\n\r\n"));
    assert_eq!(run(&http_spec(addr, url, false)).await, Outcome::PASS);
}

fn md5_hex(data: &[u8]) -> String {
    let mut r = checkers::digest::ResponseReader::new();
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len());
    r.feed(head.as_bytes(), &mut |_| {}).unwrap();
    r.feed(data, &mut |_| {}).unwrap();
    r.hex_digest()
}

#[tokio::test]
async fn sni_name_is_what_the_tls_server_sees() {
    let cert = support::cert();
    let (addr, mut log) = support::hyper_tls(route, &cert).await;
    let mut spec = http_spec(addr, UrlSpec::new("/health"), true);
    if let CheckKind::Ssl(h) = &mut spec.kind {
        h.virtualhost = Some("www.example.test".to_string());
        h.sni_name = Some("localhost".to_string());
    }
    assert_eq!(run(&spec).await, Outcome::PASS);
    assert_eq!(log.recv().await.unwrap(), "sni=localhost");
    // The Host header stays the virtual host.
    assert_eq!(
        log.recv().await.unwrap(),
        "GET /health host=www.example.test"
    );
}

#[tokio::test]
async fn regex_on_the_body_over_tls_and_plain() {
    let cert = support::cert();
    let (tls_addr, _log) = support::hyper_tls(route, &cert).await;
    let (addr, _log2) = support::hyper_plain(route).await;
    let url = |pattern: &str, no_match: bool| {
        let mut u = UrlSpec::new("/health");
        u.regex = Some(checkers::RegexSpec {
            pattern: pattern.to_string(),
            no_match,
            ..Default::default()
        });
        u
    };
    for (target, tls) in [(addr, false), (tls_addr, true)] {
        assert_eq!(
            run(&http_spec(target, url("^ok$", false), tls)).await,
            Outcome::PASS
        );
        let r = fail(run(&http_spec(target, url("^fine", false), tls)).await);
        assert_eq!(
            r.to_string(),
            "body of /health does not match regex \"^fine\""
        );
        let r = fail(run(&http_spec(target, url("o.", true), tls)).await);
        assert!(matches!(r, FailReason::Regex { no_match: true, .. }), "{r}");
        assert_eq!(
            run(&http_spec(target, url("error", true), tls)).await,
            Outcome::PASS
        );
    }
}
