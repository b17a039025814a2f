//! Health checkers of a real server.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::*;

/// One checker block with its options resolved (checker → real_server → virtual_server →
/// keepalived default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checker {
    pub kind: CheckerKind,
    pub target: CheckTarget,
    pub timing: CheckTiming,
    pub span: Span,
}

/// Where a checker connects (`connect_ip`, `connect_port`, `bindto`, `bind_port`, `bind_if`,
/// `fwmark`), resolved against the real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckTarget {
    /// `connect_ip`. Default: the real server address.
    pub ip: IpAddr,
    /// `connect_port`. Default: the real server port (0 for PING/FILE/MISC, where unused).
    pub port: u16,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    /// `fwmark` on outgoing check packets.
    pub fwmark: Option<u32>,
}

/// Timing and retry policy of a checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckTiming {
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// Default: real server → virtual server → 60 s.
    pub delay_loop: Duration,
    /// Additional attempts before declaring failure (`retry`, alias `nb_get_retry`).
    /// Default 1; DNS_CHECK 3; MISC_CHECK 0.
    pub retry: u32,
    /// Default 3 s for HTTP_GET/SSL_GET, `delay_loop` for DNS_CHECK, else 1 s.
    pub delay_before_retry: Duration,
    /// Maximum random delay before the first check. Default `delay_loop`; 0 disables.
    pub warmup: Duration,
    /// Resolved alpha: the server starts down until its first success.
    pub alpha: bool,
    /// `log_all_failures`. Default: global `checker_log_all_failures`.
    pub log_all_failures: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum CheckerKind {
    /// HTTP_GET (tls false) or SSL_GET (tls true).
    #[serde(rename = "HTTP_GET")]
    Http(HttpCheck),
    #[serde(rename = "TCP_CHECK")]
    Tcp,
    #[serde(rename = "SMTP_CHECK")]
    Smtp(SmtpCheck),
    #[serde(rename = "DNS_CHECK")]
    Dns(DnsCheck),
    #[serde(rename = "MISC_CHECK")]
    Misc(MiscCheck),
    #[serde(rename = "UDP_CHECK")]
    Udp(UdpCheck),
    #[serde(rename = "PING_CHECK")]
    Ping,
    #[serde(rename = "FILE_CHECK")]
    File(FileCheck),
    /// lvsd extension.
    #[serde(rename = "GRPC_CHECK")]
    Grpc(GrpcCheck),
}

impl CheckerKind {
    /// The keepalived block name.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Http(h) if h.tls => "SSL_GET",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Grpc(_) => "GRPC_CHECK",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpCheck {
    /// SSL_GET.
    pub tls: bool,
    /// `http_protocol 1.0|1.0C|1.1`. Default 1.0.
    pub http_protocol: HttpProtocol,
    /// `fast_recovery`. Default false.
    pub fast_recovery: bool,
    /// `enable_sni` (SSL_GET). Default false.
    pub enable_sni: bool,
    /// `sni_name NAME` (SSL_GET): the SNI sent (implies `enable_sni`).
    pub sni_name: Option<String>,
    /// At least one; a checker without url is dropped with a warning.
    pub urls: Vec<UrlCheck>,
    /// `tls_verify` (SSL_GET, lvsd extension).
    pub tls_verify: TlsVerifySetting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum HttpProtocol {
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// 1.0 plus `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    #[serde(rename = "1.1")]
    Http11,
    /// `http_protocol 2` (lvsd extension): HTTP/2.
    #[serde(rename = "2")]
    Http2,
}

/// `tls_verify [CA_FILE]` (lvsd extension) in SSL_GET / GRPC_CHECK: verify the server
/// certificate against the system roots or the given CA file. Default: not verified
/// (keepalived's behaviour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum TlsVerifySetting {
    #[default]
    Off,
    SystemRoots,
    CaFile(std::path::PathBuf),
}

/// `GRPC_CHECK { service NAME; tls; tls_verify; authority HOST }` (lvsd extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GrpcCheck {
    pub service: String,
    pub tls: bool,
    pub tls_verify: TlsVerifySetting,
    pub authority: Option<String>,
}

/// `url { path; digest; status_code; virtualhost; regex… }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UrlCheck {
    pub path: String,
    /// `digest`: lower-case 32 hex chars (MD5 of the body, as genhash prints it).
    pub digest: Option<String>,
    /// Accepted status codes, inclusive ranges. Default [200, 299].
    pub status_codes: Vec<(u16, u16)>,
    /// Resolved: url → checker → real server → virtual server.
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    /// `regex_options` words (PCRE2 option names), checked at load.
    pub regex_options: Vec<String>,
    /// `regex_min_offset`. Default 0.
    pub regex_min_offset: usize,
    /// `regex_max_offset`. Default: none.
    pub regex_max_offset: Option<usize>,
    /// `regex_stack START MAX` (bytes).
    pub regex_stack: Option<(usize, usize)>,
    pub span: Span,
}

impl UrlCheck {
    pub fn status_ok(&self, code: u16) -> bool {
        self.status_codes
            .iter()
            .any(|&(a, b)| a <= code && code <= b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SmtpCheck {
    /// `helo_name`. Default: the global `smtp_helo_name`, else the host name.
    pub helo_name: Option<String>,
    /// `host { … }` blocks. Each is checked on its own; the real server is up only while all
    /// are. With hosts, only they are checked (the checker's own target is their default).
    pub hosts: Vec<SmtpHost>,
}

/// One `host { connect_ip … }` of an SMTP_CHECK: its target and timing, each option
/// defaulting to the SMTP_CHECK's (then the real server's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpHost {
    pub target: CheckTarget,
    pub timing: CheckTiming,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    /// `type`. Default SOA.
    pub query_type: DnsType,
    /// `name`. Default ".".
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiscCheck {
    /// `misc_path` (+ `user`).
    pub script: Script,
    /// `misc_timeout`. Default: `delay_loop`.
    pub timeout: Duration,
    /// `misc_dynamic`: exit status 2..255 sets the weight to status - 2.
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct UdpCheck {
    /// `payload HEX`. None: a random payload.
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`: None = no reply required.
    pub require_reply: Option<ReplyPattern>,
    /// Default 0.
    pub min_reply_length: u32,
    /// Default 255.
    pub max_reply_length: u32,
}

/// `require_reply` data: bytes with a per-nibble mask (x/X nibbles are "don't care").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReplyPattern {
    pub bytes: Vec<u8>,
    pub mask: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// `track_file NAME` (validated to exist).
    pub track_file: String,
    pub dynamic: bool,
    /// Default: the track_file's weight.
    pub weight: i32,
    pub reverse: bool,
}
