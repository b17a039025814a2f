//! TLS for `SSL_GET` (rustls with ring). As keepalived, certificates are not verified unless
//! asked ([`TlsVerify`]); handshake signatures are always checked, so the session is sound even
//! when the peer's identity is not. SNI is sent only with `enable_sni` and a virtual host.
//! A client certificate (keepalived's `SSL { certificate key }` block) is presented when set;
//! encrypted keys (`password`) are not supported.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::outcome::FailReason;
use crate::spec::{ClientCert, TlsVerify};

const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Accepts any certificate chain; still verifies handshake signatures.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(
    verify: &TlsVerify,
    sni: bool,
    client: Option<&ClientCert>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, String> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match verify {
        TlsVerify::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                p.signature_verification_algorithms,
            ))),
        TlsVerify::SystemRoots | TlsVerify::CaFile(_) => {
            let path = match verify {
                TlsVerify::CaFile(p) => p.as_path(),
                _ => std::path::Path::new(SYSTEM_ROOTS),
            };
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("reading {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA in {}: {e}", path.display()))?;
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut cfg = match client {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("reading certificate {}: {e}", c.cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&c.key)
                .map_err(|e| format!("reading key {}: {e}", c.key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate {}: {e}", c.cert.display()))?
        }
    };
    cfg.enable_sni = sni;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// Client configuration: the two unverified ones without a client certificate are built once;
/// the others per call (their files may change between reloads).
fn config(
    verify: &TlsVerify,
    sni: bool,
    client: Option<&ClientCert>,
) -> Result<Arc<ClientConfig>, String> {
    static PLAIN: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    static SNI: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    match (verify, sni, client) {
        (TlsVerify::None, false, None) => PLAIN
            .get_or_init(|| build(verify, false, None, &[]))
            .clone(),
        (TlsVerify::None, true, None) => SNI.get_or_init(|| build(verify, true, None, &[])).clone(),
        _ => build(verify, sni, client, &[]),
    }
}

/// Runs the TLS handshake over `tcp`. The virtual host, when set, is the name the certificate
/// is verified against (when verification is on) and, with `send_sni`, the SNI sent; otherwise
/// the target IP is used and no SNI is sent.
pub(crate) async fn handshake(
    tcp: TcpStream,
    ip: std::net::IpAddr,
    virtualhost: Option<&str>,
    send_sni: bool,
    verify: &TlsVerify,
    client: Option<&ClientCert>,
) -> Result<TlsStream<TcpStream>, FailReason> {
    handshake_alpn(tcp, ip, virtualhost, send_sni, verify, client, &[]).await
}

/// [`handshake`] offering these ALPN protocols (`h2` for HTTP/2 and gRPC); a server that does
/// not pick one of them fails the check.
pub(crate) async fn handshake_alpn(
    tcp: TcpStream,
    ip: std::net::IpAddr,
    virtualhost: Option<&str>,
    send_sni: bool,
    verify: &TlsVerify,
    client: Option<&ClientCert>,
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, FailReason> {
    let name = virtualhost
        .and_then(|h| ServerName::try_from(h.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(ip.into()));
    // rustls never sends an IP literal as SNI.
    let sni = send_sni && matches!(name, ServerName::DnsName(_));
    let cfg = if alpn.is_empty() {
        config(verify, sni, client)
    } else {
        build(verify, sni, client, alpn)
    }
    .map_err(FailReason::Setup)?;
    let tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| FailReason::Tls(e.to_string()))?;
    if !alpn.is_empty()
        && tls
            .get_ref()
            .1
            .alpn_protocol()
            .is_none_or(|p| !alpn.contains(&p))
    {
        return Err(FailReason::Tls(
            "the server did not agree to HTTP/2 (ALPN h2)".to_string(),
        ));
    }
    Ok(tls)
}

/// When the server's (leaf) certificate expires, if it was verified: an unverified
/// certificate's dates mean nothing, so they are not reported.
pub(crate) fn leaf_not_after(
    tls: &TlsStream<TcpStream>,
    verify: &TlsVerify,
) -> Option<std::time::SystemTime> {
    if *verify == TlsVerify::None {
        return None;
    }
    let leaf = tls.get_ref().1.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let secs = cert.validity().not_after.timestamp();
    let secs = u64::try_from(secs).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}
