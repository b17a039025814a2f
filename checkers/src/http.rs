//! `HTTP_GET` / `SSL_GET`: one GET per `url`, over a connection to the exact target, checked for
//! status code and, when configured, keepalived's body digest (see digest.rs).
//!
//! The request is the one keepalived sends (request line, `User-Agent: KeepAliveClient`,
//! `Connection: close` for 1.0C / 1.1, `Host`), written by hand: the digest is over raw response
//! bytes, which an HTTP client library would decode. Each url attempt (connect, TLS, request,
//! headers, body) is bounded as a whole by `connect_timeout`, so a server trickling bytes
//! (slowloris) fails in time. The body is read only when a digest is configured.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::digest::{Head, Part, ResponseReader};
use crate::outcome::{FailReason, Observed, Outcome};
use crate::spec::{Bind, ClientCert, HttpProtocol, HttpSpec, Spec, TlsVerify, UrlSpec};

/// Everything one GET needs, independent of the config shape (genhash builds one too).
#[derive(Debug, Clone)]
pub struct Get<'a> {
    /// Where to connect.
    pub target: SocketAddr,
    /// Source binding.
    pub bind: &'a Bind,
    /// `Some` for TLS.
    pub tls: Option<TlsOptions<'a>>,
    /// Request path.
    pub path: &'a str,
    /// Host header; `None`: `ip:port` of the target.
    pub virtualhost: Option<&'a str>,
    /// Request line version and Connection header.
    pub protocol: HttpProtocol,
    /// Bound on the whole exchange.
    pub timeout: Duration,
    /// Whether the body is read (and digested) after the head.
    pub read_body: ReadBody<'a>,
    /// genhash's reading of a non-HTTP header block (status 0) instead of a failure.
    pub lenient: bool,
}

/// When a GET reads the body.
#[derive(Debug, Clone, Copy)]
pub enum ReadBody<'a> {
    /// Always (genhash).
    Always,
    /// Only when the url has a digest or a regex to check and accepts the status. Without
    /// either, the check ends with the head: a large page then costs no download, and a health
    /// page that streams forever still passes on its status, as a browser would see it. For a
    /// regex alone, reading stops at [`crate::body_regex::subject_cap`].
    IfDigestNeeded(&'a UrlSpec),
}

/// TLS settings of a GET.
#[derive(Debug, Clone, Copy)]
pub struct TlsOptions<'a> {
    /// Send the virtual host as SNI.
    pub sni: bool,
    /// `sni_name`: the SNI to send instead of the virtual host.
    pub sni_name: Option<&'a str>,
    /// Certificate verification.
    pub verify: &'a TlsVerify,
    /// Client certificate to present.
    pub client_cert: Option<&'a ClientCert>,
}

/// What a finished GET saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    /// Status line and Content-Length.
    pub head: Head,
    /// Body digest (of what was read; the empty digest when the body was not read).
    pub digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Tls = 0,
    Request = 1,
    Head = 2,
    Body = 3,
}

/// The phase a GET is in, readable after its future was dropped by the timeout.
struct PhaseCell(AtomicU8);

impl PhaseCell {
    fn new(p: Phase) -> Self {
        PhaseCell(AtomicU8::new(p as u8))
    }
    fn set(&self, p: Phase) {
        self.0.store(p as u8, Ordering::Relaxed);
    }
    fn get(&self) -> Phase {
        match self.0.load(Ordering::Relaxed) {
            0 => Phase::Tls,
            1 => Phase::Request,
            2 => Phase::Head,
            _ => Phase::Body,
        }
    }
}

impl Phase {
    fn describe(self, path: &str) -> String {
        match self {
            Phase::Tls => "the TLS handshake".to_string(),
            Phase::Request => format!("sending the request for {path}"),
            Phase::Head => format!("the response headers of {path}"),
            Phase::Body => format!("the body of {path}"),
        }
    }
}

/// The request bytes keepalived sends.
pub fn request(get: &Get<'_>) -> Vec<u8> {
    let version = match get.protocol {
        HttpProtocol::Http11 | HttpProtocol::Http2 => "1.1",
        HttpProtocol::Http10 | HttpProtocol::Http10Close => "1.0",
    };
    let close = match get.protocol {
        HttpProtocol::Http10 => "",
        HttpProtocol::Http10Close | HttpProtocol::Http11 | HttpProtocol::Http2 => {
            "Connection: close\r\n"
        }
    };
    let host = match get.virtualhost {
        Some(h) => h.to_string(),
        None => get.target.to_string(),
    };
    format!(
        "GET {} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n",
        get.path
    )
    .into_bytes()
}

/// Performs one GET; `sink` sees the header block and each body piece as they arrive.
pub async fn get(g: &Get<'_>, sink: &mut (dyn FnMut(Part<'_>) + Send)) -> Result<Got, FailReason> {
    let reader = if g.lenient {
        ResponseReader::lenient()
    } else {
        ResponseReader::new()
    };
    let (head, reader) = get_with(g, reader, sink, None).await?;
    Ok(Got {
        head,
        digest: reader.hex_digest(),
    })
}

/// [`get`] with a caller-made reader, handed back with the head at the end.
pub(crate) async fn get_with(
    g: &Get<'_>,
    reader: ResponseReader,
    sink: &mut (dyn FnMut(Part<'_>) + Send),
    cert_not_after: Option<&mut Option<std::time::SystemTime>>,
) -> Result<(Head, ResponseReader), FailReason> {
    let deadline = Instant::now() + g.timeout;
    let tcp = crate::tcp::connect(g.target, g.bind, g.timeout).await?;
    let phase = PhaseCell::new(Phase::Request);
    let run = async {
        match g.tls {
            None => exchange(tcp, g, reader, &phase, sink).await,
            Some(t) => {
                phase.set(Phase::Tls);
                let tls = crate::tls::handshake(
                    tcp,
                    g.target.ip(),
                    t.sni_name.or(g.virtualhost),
                    t.sni,
                    t.verify,
                    t.client_cert,
                )
                .await?;
                if let Some(out) = cert_not_after {
                    *out = crate::tls::leaf_not_after(&tls, t.verify);
                }
                phase.set(Phase::Request);
                exchange(tls, g, reader, &phase, sink).await
            }
        }
    };
    match tokio::time::timeout_at(deadline, run).await {
        Ok(r) => r,
        Err(_) => Err(FailReason::Timeout {
            during: phase.get().describe(g.path),
            after: g.timeout,
        }),
    }
}

async fn exchange<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    g: &Get<'_>,
    mut reader: ResponseReader,
    phase: &PhaseCell,
    sink: &mut (dyn FnMut(Part<'_>) + Send),
) -> Result<(Head, ResponseReader), FailReason> {
    let io_err = |phase: Phase, e: io::Error| FailReason::Io {
        during: phase.describe(g.path),
        detail: describe_io(&e),
    };
    io.write_all(&request(g))
        .await
        .map_err(|e| io_err(Phase::Request, e))?;
    io.flush().await.map_err(|e| io_err(Phase::Request, e))?;
    phase.set(Phase::Head);
    // genhash reads 4095 bytes at a time (a 4 KiB buffer keeping room for a NUL); its verbose
    // dump shows one piece per read, so the same size keeps the dumps alike.
    let mut buf = vec![0u8; 4095];
    loop {
        if reader.is_done() {
            break;
        }
        if let (Some(head), ReadBody::IfDigestNeeded(url)) = (reader.head(), g.read_body)
            && (!url.needs_body() || !url.accepts(head.status) || regex_has_enough(url, &reader))
        {
            break;
        }
        let n = match io.read(&mut buf).await {
            Ok(n) => n,
            // A TLS peer closing without close_notify ends the body as a TCP close would.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && phase.get() == Phase::Body => 0,
            Err(e) => return Err(io_err(phase.get(), e)),
        };
        if n == 0 {
            if reader.head().is_none() {
                return Err(FailReason::Io {
                    during: Phase::Head.describe(g.path),
                    detail: "connection closed".to_string(),
                });
            }
            break;
        }
        reader
            .feed(&buf[..n], sink)
            .map_err(|e| FailReason::Protocol {
                during: Phase::Head.describe(g.path),
                detail: e.to_string(),
            })?;
        if reader.head().is_some() {
            phase.set(Phase::Body);
        }
    }
    // The loop only leaves with a head (or returned an error above).
    let head = reader.head().cloned().ok_or_else(|| FailReason::Io {
        during: Phase::Head.describe(g.path),
        detail: "connection closed".to_string(),
    })?;
    Ok((head, reader))
}

/// A url checked by regex only has read as much body as the regex looks at.
fn regex_has_enough(url: &UrlSpec, reader: &ResponseReader) -> bool {
    match (&url.digest, &url.regex) {
        (None, Some(re)) => reader.body_len() >= crate::body_regex::subject_cap(re) as u64,
        _ => false,
    }
}

/// The body bytes a url's regex is matched against, kept up to its cap.
fn collect_subject(url: &UrlSpec) -> (Vec<u8>, usize) {
    let cap = url.regex.as_ref().map_or(0, crate::body_regex::subject_cap);
    (Vec::new(), cap)
}

/// Checks the body against the url's regex (none: passes).
fn check_regex(url: &UrlSpec, body: &[u8]) -> Result<(), FailReason> {
    let Some(spec) = &url.regex else {
        return Ok(());
    };
    let re = crate::body_regex::compile(spec)
        .map_err(|e| FailReason::Setup(format!("regex of {}: {e}", url.path)))?;
    match crate::body_regex::verdict(&re, spec, body) {
        None => Ok(()),
        Some(_) => Err(FailReason::Regex {
            path: url.path.clone(),
            pattern: spec.pattern.clone(),
            no_match: spec.no_match,
        }),
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed".to_string(),
        _ => e.to_string(),
    }
}

/// Checks one url: status first, then the digest when one is configured.
async fn check_url(
    spec: &Spec,
    http: &HttpSpec,
    url: &UrlSpec,
    tls: bool,
    observed: &mut Observed,
) -> Result<(), FailReason> {
    if http.protocol == HttpProtocol::Http2 {
        return check_url_h2(spec, http, url, tls, observed).await;
    }
    let g = Get {
        target: spec.target,
        bind: &spec.bind,
        tls: tls.then_some(TlsOptions {
            sni: http.enable_sni || http.sni_name.is_some(),
            sni_name: http.sni_name.as_deref(),
            verify: &http.verify,
            client_cert: http.client_cert.as_ref(),
        }),
        path: &url.path,
        virtualhost: url.virtualhost.as_deref().or(http.virtualhost.as_deref()),
        protocol: http.protocol,
        timeout: spec.timing.connect_timeout,
        read_body: ReadBody::IfDigestNeeded(url),
        lenient: false,
    };
    let reader = ResponseReader::new();
    let (mut subject, cap) = collect_subject(url);
    let mut sink = |p: Part<'_>| {
        if let Part::Body(b) = p {
            let room = cap.saturating_sub(subject.len());
            subject.extend_from_slice(&b[..b.len().min(room)]);
        }
    };
    let (head, reader) =
        get_with(&g, reader, &mut sink, Some(&mut observed.cert_not_after)).await?;
    let got = Got {
        head,
        digest: reader.hex_digest(),
    };
    if !url.accepts(got.head.status) {
        return Err(FailReason::HttpStatus {
            path: url.path.clone(),
            status: got.head.status,
            expected: url.expected_codes(),
        });
    }
    if let Some(want) = &url.digest
        && !want.eq_ignore_ascii_case(&got.digest)
    {
        return Err(FailReason::DigestMismatch {
            path: url.path.clone(),
            got: got.digest,
            want: want.clone(),
        });
    }
    check_regex(url, &subject)
}

/// The HTTP/2 form of [`check_url`]: one GET over a new connection, bounded as a whole by
/// `connect_timeout`; the body is read (up to 1 MiB) only for a digest.
async fn check_url_h2(
    spec: &Spec,
    http: &HttpSpec,
    url: &UrlSpec,
    tls: bool,
    observed: &mut Observed,
) -> Result<(), FailReason> {
    let timeout = spec.timing.connect_timeout;
    let run = async {
        let host = url.virtualhost.as_deref().or(http.virtualhost.as_deref());
        let authority = host.map_or_else(|| spec.target.to_string(), str::to_string);
        let scheme = if tls { "https" } else { "http" };
        let req = http::Request::get(format!("{scheme}://{authority}{}", url.path))
            .header(http::header::USER_AGENT, "KeepAliveClient")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .map_err(|e| FailReason::Setup(format!("request for {}: {e}", url.path)))?;
        let tcp = crate::tcp::connect(spec.target, &spec.bind, timeout).await?;
        let max = if url.needs_body() { 1 << 20 } else { 0 };
        let resp = if tls {
            let t = crate::tls::handshake_alpn(
                tcp,
                spec.target.ip(),
                http.sni_name.as_deref().or(host),
                http.enable_sni || http.sni_name.is_some(),
                &http.verify,
                http.client_cert.as_ref(),
                &[b"h2"],
            )
            .await?;
            observed.cert_not_after = crate::tls::leaf_not_after(&t, &http.verify);
            crate::h2::send(t, req, max).await
        } else {
            crate::h2::send(tcp, req, max).await
        }
        .map_err(|detail| FailReason::Protocol {
            during: format!("the HTTP/2 GET of {}", url.path),
            detail,
        })?;
        if !url.accepts(resp.status) {
            return Err(FailReason::HttpStatus {
                path: url.path.clone(),
                status: resp.status,
                expected: url.expected_codes(),
            });
        }
        if let Some(want) = &url.digest {
            let got = {
                use md5::Digest;
                crate::digest::hex(&md5::Md5::digest(&resp.body))
            };
            if !want.eq_ignore_ascii_case(&got) {
                return Err(FailReason::DigestMismatch {
                    path: url.path.clone(),
                    got,
                    want: want.clone(),
                });
            }
        }
        check_regex(url, &resp.body)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(FailReason::Timeout {
            during: format!("the HTTP/2 GET of {}", url.path),
            after: timeout,
        }),
    }
}

/// `HTTP_GET` (`tls` false) or `SSL_GET`: all urls must pass; the first failure is reported.
pub async fn check(spec: &Spec, http: &HttpSpec, tls: bool) -> Outcome {
    check_observed(spec, http, tls, &mut Observed::default()).await
}

/// [`check`], recording the verified certificate's expiry.
pub async fn check_observed(
    spec: &Spec,
    http: &HttpSpec,
    tls: bool,
    observed: &mut Observed,
) -> Outcome {
    check_urls(spec, http, tls, None, observed).await
}

/// All urls (`only: None`), or only url number `only` (a recovering checker without
/// `fast_recovery`, see recovery.rs).
pub(crate) async fn check_urls(
    spec: &Spec,
    http: &HttpSpec,
    tls: bool,
    only: Option<usize>,
    observed: &mut Observed,
) -> Outcome {
    if http.urls.is_empty() {
        return Outcome::Fail(FailReason::Setup("no url configured".to_string()));
    }
    let urls = match only {
        Some(i) => &http.urls[i.min(http.urls.len() - 1)..=i.min(http.urls.len() - 1)],
        None => &http.urls[..],
    };
    for url in urls {
        if let Err(e) = check_url(spec, http, url, tls, observed).await {
            return Outcome::Fail(e);
        }
    }
    Outcome::PASS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_keepalived() {
        let bind = Bind::default();
        let mut g = Get {
            target: "127.0.0.1:18082".parse().unwrap(),
            bind: &bind,
            tls: None,
            path: "/x",
            virtualhost: None,
            protocol: HttpProtocol::Http10,
            timeout: Duration::from_secs(1),
            read_body: ReadBody::Always,
            lenient: false,
        };
        // Captured from keepalived 2.2.7's genhash.
        assert_eq!(
            request(&g),
            b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:18082\r\n\r\n"
        );
        g.protocol = HttpProtocol::Http11;
        assert_eq!(
            request(&g),
            b"GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 127.0.0.1:18082\r\n\r\n"
        );
        g.target = "[::1]:18089".parse().unwrap();
        assert_eq!(
            request(&g),
            b"GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [::1]:18089\r\n\r\n"
        );
        g.protocol = HttpProtocol::Http10Close;
        g.virtualhost = Some("www.ex.com");
        assert_eq!(
            request(&g),
            b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.ex.com\r\n\r\n"
        );
    }
}
