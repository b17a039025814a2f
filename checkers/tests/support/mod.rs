//! Loopback servers for the checker tests: hyper (plain and TLS, self-signed via rcgen) and
//! hostile raw-TCP servers. Every server binds 127.0.0.1:0 and lives as long as its task.
#![allow(dead_code)] // each test binary uses a different subset

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A canned answer of the hyper server: status and body for any path.
pub type Route = fn(&str) -> (u16, &'static [u8]);

fn service(
    route: Route,
    seen: mpsc::UnboundedSender<String>,
) -> impl Fn(Request<Incoming>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> + Clone
{
    move |req: Request<Incoming>| {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let _ = seen.send(format!("{} {} host={host}", req.method(), req.uri()));
        let (status, body) = route(req.uri().path());
        let mut resp = Response::new(Full::new(Bytes::from_static(body)));
        *resp.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        std::future::ready(Ok(resp))
    }
}

/// hyper HTTP/1 server; returns its address and a log of "METHOD uri host=..." lines.
pub async fn hyper_plain(route: Route) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let svc = hyper::service::service_fn(service(route, tx.clone()));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc),
            );
        }
    });
    (addr, rx)
}

/// A self-signed certificate for `localhost` and `www.example.test`, with its PEM.
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub pem: String,
}

pub fn cert() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "www.example.test".to_string(),
    ])
    .unwrap();
    Cert {
        der: ck.cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
        pem: ck.cert.pem(),
    }
}

/// hyper over TLS; the log also gets "sni=<name>" per handshake.
pub async fn hyper_tls(route: Route, cert: &Cert) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    hyper_tls_with(route, cert, None).await
}

/// hyper over TLS requiring a client certificate issued by `client_ca`.
pub async fn hyper_tls_with(
    route: Route,
    cert: &Cert,
    client_ca: Option<CertificateDer<'static>>,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let cfg = builder
        .with_single_cert(vec![cert.der.clone()], cert.key.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                let _ = tx.send(format!("sni={sni}"));
                let svc = hyper::service::service_fn(service(route, tx));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, rx)
}

/// Raw server behaviours, hostile ones included.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Reads the request and writes these bytes, then closes.
    Reply(&'static [u8]),
    /// Reads the request and never answers.
    Silent,
    /// Answers one byte of a status line every 100 ms, forever.
    Slowloris,
    /// Closes with a TCP reset right after the request.
    Reset,
    /// Sends a header block then body bytes forever; counts bytes sent.
    Endless(Arc<AtomicU64>),
    /// Accepts and closes at once, before anything is read.
    CloseAtOnce,
    /// A status line, then header lines forever.
    EndlessHeaders,
    /// Waits for the first bytes from the client (whatever they are), answers garbage, closes.
    GarbageOnFirstRead,
}

/// A raw TCP server on 127.0.0.1 applying `b` to every connection.
pub async fn raw(b: Behaviour) -> SocketAddr {
    raw_at("127.0.0.1:0", b).await
}

/// A raw TCP server at `bind` (e.g. `[::1]:0`) applying `b` to every connection.
pub async fn raw_at(bind: &str, b: Behaviour) -> SocketAddr {
    let l = TcpListener::bind(bind).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(serve(s, b.clone()));
        }
    });
    addr
}

async fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

async fn serve(mut s: TcpStream, b: Behaviour) {
    if let Behaviour::CloseAtOnce = b {
        return;
    }
    if let Behaviour::GarbageOnFirstRead = b {
        let mut buf = [0u8; 4096];
        if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
            let _ = s.write_all(b"this is not TLS\r\n\r\n").await;
        }
        return;
    }
    if !read_request(&mut s).await {
        return;
    }
    match b {
        Behaviour::Reply(bytes) => {
            let _ = s.write_all(bytes).await;
        }
        Behaviour::Silent => {
            let mut sink = [0u8; 64];
            while let Ok(n) = s.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
        Behaviour::Slowloris => {
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: "
                .iter()
                .chain(std::iter::repeat(&b'a'))
            {
                if s.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Behaviour::Reset => {
            // SO_LINGER 0: close sends RST (never blocks, the linger time being zero).
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
        }
        Behaviour::Endless(sent) => {
            if s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            while s.write_all(&chunk).await.is_ok() {
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        Behaviour::EndlessHeaders => {
            if s.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
                return;
            }
            let line = [b"X-Filler: ".as_slice(), &[b'a'; 1000], b"\r\n"].concat();
            while s.write_all(&line).await.is_ok() {}
        }
        Behaviour::CloseAtOnce | Behaviour::GarbageOnFirstRead => {}
    }
}

/// Resident set size of this process, in bytes.
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A CA and a client certificate it issued, written as PEM files into `dir`:
/// returns (CA certificate, client cert path, client key path).
pub fn client_pki(
    dir: &std::path::Path,
) -> (
    CertificateDer<'static>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["lvsd-checker.example.test".to_string()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = params.signed_by(&client_key, &ca).unwrap();
    let (cert_path, key_path) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert_path, client.pem()).unwrap();
    std::fs::write(&key_path, client_key.serialize_pem()).unwrap();
    (ca.der().clone(), cert_path, key_path)
}
