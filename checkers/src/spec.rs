//! What to check: the director's input, already resolved by the config layer (no config AST here).
//!
//! A [`Spec`] is compared by value: two real servers naming an identical spec share one running
//! check, and a reload keeps every spec that did not change (with its state) running untouched.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// One health check of one real server: where to connect, what to ask, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    /// Exact address checked (the real server's, or `connect_ip` / `connect_port` when set).
    pub target: SocketAddr,
    /// The checker and its own settings.
    pub kind: CheckKind,
    /// Scheduling and failure-tolerance settings.
    pub timing: Timing,
    /// Source address, port, interface and mark of the checker's packets.
    pub bind: Bind,
}

impl Spec {
    /// A spec with default timing and binding.
    pub fn new(target: SocketAddr, kind: CheckKind) -> Self {
        let timing = Timing::for_kind(&kind);
        Spec {
            target,
            kind,
            timing,
            bind: Bind::default(),
        }
    }

    /// How logs and reasons name the check: `HTTP_GET 10.0.0.1:80`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind.name(), self.target)
    }
}

/// The checker kinds of keepalived.conf, one variant per `*_GET` / `*_CHECK` block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckKind {
    /// `HTTP_GET`.
    Http(HttpSpec),
    /// `SSL_GET`: HTTP over TLS.
    Ssl(HttpSpec),
    /// `TCP_CHECK`: the connection is accepted.
    Tcp(TcpSpec),
    /// `MISC_CHECK`: a program's exit status.
    Misc(MiscSpec),
    /// `SMTP_CHECK`: greeting and HELO answered with 2xx.
    Smtp(SmtpSpec),
    /// `DNS_CHECK`: a query answered without error.
    Dns(DnsSpec),
    /// `UDP_CHECK`: a datagram not refused (or answered as required).
    Udp(UdpSpec),
    /// `PING_CHECK`: ICMP / ICMPv6 echo.
    Ping(PingSpec),
    /// `FILE_CHECK`: a number read from a file.
    File(FileSpec),
    /// `GRPC_CHECK` (lvsd extension): `grpc.health.v1.Health/Check` answers `SERVING`.
    Grpc(GrpcSpec),
}

/// A gRPC health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GrpcSpec {
    /// The service asked about; empty: the server as a whole.
    pub service: String,
    /// Over TLS (ALPN `h2`) instead of h2c.
    pub tls: bool,
    /// Certificate verification with `tls`.
    pub verify: TlsVerify,
    /// `:authority` (and the name verified / sent as SNI with `tls`); default `ip:port`.
    pub authority: Option<String>,
}

impl CheckKind {
    /// The keepalived name of the checker, as operators know it.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Ssl(_) => "SSL_GET",
            CheckKind::Tcp(_) => "TCP_CHECK",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Ping(_) => "PING_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
            CheckKind::Grpc(_) => "GRPC_CHECK",
        }
    }
}

/// Timing shared by all checkers (keepalived.conf(5) "real_server" options).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timing {
    /// Pause between two checks (`delay_loop`, default 60 s).
    pub delay_loop: Duration,
    /// Bound on one attempt: connect plus exchange (`connect_timeout`, default 5 s).
    pub connect_timeout: Duration,
    /// Extra attempts before an up server is declared down (`retry` / `nb_get_retry`).
    pub retry: u32,
    /// Pause before each extra attempt (`delay_before_retry`).
    pub delay_before_retry: Duration,
    /// The first check starts at a random point in `[0, warmup]` (`None`: `delay_loop`).
    pub warmup: Option<Duration>,
    /// Start down and wait for a first success (`alpha`); otherwise start up.
    pub alpha: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: None,
            alpha: false,
        }
    }
}

impl Timing {
    /// keepalived's per-checker defaults: HTTP/SSL retry after 3 s, DNS retries 3 times after
    /// `delay_loop`, MISC does not retry and its timeout defaults to `delay_loop`. The DNS retry
    /// delay is given for the default `delay_loop`: a config that sets `delay_loop` but not
    /// `delay_before_retry` must resolve it to its own `delay_loop`.
    ///
    /// FILE_CHECK takes no timing options in keepalived, which re-reads the file as soon as it
    /// changes; here it is polled every second, without retry: use these values as they are.
    pub fn for_kind(kind: &CheckKind) -> Self {
        let d = Timing::default();
        match kind {
            CheckKind::Http(_) | CheckKind::Ssl(_) => Timing {
                delay_before_retry: Duration::from_secs(3),
                ..d
            },
            CheckKind::Dns(_) => Timing {
                retry: 3,
                delay_before_retry: d.delay_loop,
                ..d
            },
            CheckKind::Misc(_) => Timing { retry: 0, ..d },
            CheckKind::File(_) => Timing {
                delay_loop: Duration::from_secs(1),
                retry: 0,
                warmup: Some(Duration::ZERO),
                ..d
            },
            _ => d,
        }
    }

    /// Worst-case time from a server failing to it being reported down:
    /// `delay_loop + connect_timeout × (retry + 1) + delay_before_retry × retry`.
    pub fn detection_bound(&self) -> Duration {
        self.delay_loop
            + self.connect_timeout * (self.retry + 1)
            + self.delay_before_retry * self.retry
    }

    /// The warmup window actually used for the first check.
    pub fn warmup_window(&self) -> Duration {
        self.warmup.unwrap_or(self.delay_loop)
    }
}

/// Where the checker's own packets come from (`bindto`, `bind_port`, `bind_if`, `fwmark`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bind {
    /// Source address (`bindto`).
    pub addr: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub port: Option<u16>,
    /// Outgoing interface (`bind_if`), needed for IPv6 link-local sources.
    pub interface: Option<String>,
    /// `SO_MARK` on the checker's socket (`fwmark`).
    pub fwmark: Option<u32>,
}

/// `TCP_CHECK` has no settings of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TcpSpec {}

/// `http_protocol`: what request line and connection header are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HttpProtocol {
    /// `1.0`: `HTTP/1.0`, no Connection header (keepalived's default).
    #[default]
    Http10,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    Http10Close,
    /// `1.1`: `HTTP/1.1` with `Connection: close`.
    Http11,
    /// `2` (lvsd extension): HTTP/2, prior knowledge over TCP, ALPN `h2` over TLS. The digest
    /// is over the body's bytes (HTTP/2 has no raw header block).
    Http2,
}

/// How `SSL_GET` treats the server certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum TlsVerify {
    /// Accept any certificate (keepalived's behaviour); the handshake signatures are still checked.
    #[default]
    None,
    /// Verify against the system trust store (`/etc/ssl/certs/ca-certificates.crt`).
    SystemRoots,
    /// Verify against the CA certificates in this PEM file.
    CaFile(PathBuf),
}

/// `HTTP_GET` / `SSL_GET` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HttpSpec {
    /// The `url` blocks; all must pass.
    pub urls: Vec<UrlSpec>,
    /// `http_protocol`.
    pub protocol: HttpProtocol,
    /// Default `virtualhost` (checker, real or virtual server level) for urls that set none.
    pub virtualhost: Option<String>,
    /// `enable_sni`: send the virtual host as TLS SNI.
    pub enable_sni: bool,
    /// `sni_name`: the SNI sent, whatever the virtual host (implies `enable_sni`).
    pub sni_name: Option<String>,
    /// `fast_recovery`: a down checker tries every url in one run; without it, one url per
    /// `delay_loop`, the server coming up once all passed in a row (keepalived).
    pub fast_recovery: bool,
    /// Certificate verification (lvsd extension; off by default like keepalived).
    pub verify: TlsVerify,
    /// Client certificate presented by `SSL_GET` (the global `SSL` block).
    pub client_cert: Option<ClientCert>,
}

/// A client certificate chain and its key, PEM files (keepalived `SSL { certificate key }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCert {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Unencrypted private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// One `url` block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlSpec {
    /// Request path, e.g. `/health`.
    pub path: String,
    /// Accepted status codes; empty means keepalived's default 200-299.
    pub status_codes: Vec<RangeInclusive<u16>>,
    /// Expected MD5 of the body as `genhash` prints it (32 lowercase hex digits).
    pub digest: Option<String>,
    /// Host header for this url (overrides [`HttpSpec::virtualhost`]).
    pub virtualhost: Option<String>,
    /// `regex` and its options: the body must match (or, with `no_match`, must not).
    pub regex: Option<RegexSpec>,
}

/// A url's `regex`, `regex_no_match`, `regex_options`, `regex_min_offset`,
/// `regex_max_offset` and `regex_stack` (see body_regex.rs for how they are applied).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RegexSpec {
    /// The pattern (Rust `regex` syntax, which PCRE2 patterns without look-around or
    /// back-references share).
    pub pattern: String,
    /// `regex_no_match`: a match fails the check.
    pub no_match: bool,
    /// `regex_options`, as the flags they set.
    pub options: RegexOptions,
    /// `regex_min_offset`: the match is searched from this byte of the body.
    pub min_offset: usize,
    /// `regex_max_offset`: a match must start at or before this byte.
    pub max_offset: Option<usize>,
    /// `regex_stack START MAX`: MAX bounds the matcher's memory (bytes).
    pub stack_max: Option<usize>,
}

/// The PCRE2 options of `regex_options` that change what matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RegexOptions {
    /// `caseless`.
    pub caseless: bool,
    /// `multiline`: `^` / `$` at line boundaries.
    pub multiline: bool,
    /// `dotall`: `.` matches a newline.
    pub dotall: bool,
    /// `extended`: whitespace and `#` comments in the pattern are ignored.
    pub extended: bool,
    /// `ungreedy`: quantifiers are lazy unless followed by `?`.
    pub ungreedy: bool,
    /// `utf` / `ucp` (Unicode) or `never_utf` / `never_ucp` (bytes and ASCII classes);
    /// `None`: PCRE2's default, bytes with ASCII classes.
    pub unicode: Option<bool>,
    /// `firstline`: the match must start before the first newline.
    pub firstline: bool,
    /// `dollar_endonly`: `$` does not match before a final newline.
    pub dollar_endonly: bool,
    /// `no_auto_capture`: plain groups do not capture (no effect on whether it matches).
    pub no_auto_capture: bool,
}

impl UrlSpec {
    /// A url with default status codes and no digest.
    pub fn new(path: impl Into<String>) -> Self {
        UrlSpec {
            path: path.into(),
            status_codes: Vec::new(),
            digest: None,
            virtualhost: None,
            regex: None,
        }
    }

    /// Whether the body must be read (a digest or a regex to check).
    pub fn needs_body(&self) -> bool {
        self.digest.is_some() || self.regex.is_some()
    }

    /// Whether `status` is accepted.
    pub fn accepts(&self, status: u16) -> bool {
        if self.status_codes.is_empty() {
            return (200..=299).contains(&status);
        }
        self.status_codes.iter().any(|r| r.contains(&status))
    }

    /// The accepted codes written as in the config (`200-299 503`).
    pub fn expected_codes(&self) -> String {
        if self.status_codes.is_empty() {
            return "200-299".to_string();
        }
        let parts: Vec<String> = self
            .status_codes
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        parts.join(" ")
    }
}

/// `MISC_CHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MiscSpec {
    /// Program, arguments (`misc_path`, already split honouring quotes) and the user and
    /// group it runs as (resolved at load: the check's `user`, else `script_user`).
    pub script: crate::Script,
    /// Kill the program's whole process group after this long (`misc_timeout`; `None`:
    /// `delay_loop`, as keepalived).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit status 2-255 sets the weight to `status - 2`.
    pub dynamic: bool,
}

impl MiscSpec {
    /// Splits a `misc_path` string into arguments ([`crate::split_command`]).
    pub fn split_command(cmd: &str) -> Vec<String> {
        crate::split_command(cmd)
    }
}

/// `SMTP_CHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmtpSpec {
    /// Name sent in `HELO` (`helo_name`, default `localhost`).
    pub helo_name: String,
}

impl Default for SmtpSpec {
    fn default() -> Self {
        SmtpSpec {
            helo_name: "localhost".to_string(),
        }
    }
}

/// `DNS_CHECK` query type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DnsType {
    /// A
    A,
    /// NS
    Ns,
    /// CNAME
    Cname,
    /// SOA (keepalived's default)
    #[default]
    Soa,
    /// MX
    Mx,
    /// TXT
    Txt,
    /// AAAA
    Aaaa,
}

impl DnsType {
    /// The RR type number.
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }
}

/// `DNS_CHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsSpec {
    /// Query type (`type`, default SOA).
    pub qtype: DnsType,
    /// Query name (`name`, default `.`).
    pub name: String,
}

impl Default for DnsSpec {
    fn default() -> Self {
        DnsSpec {
            qtype: DnsType::Soa,
            name: ".".to_string(),
        }
    }
}

/// `UDP_CHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdpSpec {
    /// Datagram payload (`payload`; empty: a few random bytes).
    pub payload: Vec<u8>,
    /// `require_reply`: `None` no reply needed; `Some(pattern)` a reply needed, whose leading
    /// bytes must match the pattern (each entry: value and mask of significant bits).
    pub require_reply: Option<Vec<(u8, u8)>>,
    /// `min_reply_length` (default 0).
    pub min_reply_length: usize,
    /// `max_reply_length` (default 255).
    pub max_reply_length: usize,
}

impl Default for UdpSpec {
    fn default() -> Self {
        UdpSpec {
            payload: Vec::new(),
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }
    }
}

/// `PING_CHECK` has no settings of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PingSpec {}

/// `FILE_CHECK` settings (the `track_file` block resolved by the config layer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileSpec {
    /// File holding an integer.
    pub path: PathBuf,
    /// Multiplier applied to the value (`weight`, default 1).
    pub weight: i64,
    /// `reverse`: a higher value means less healthy.
    pub reverse: bool,
    /// `dynamic`: report the weighted value as the server's dynamic weight.
    pub dynamic: bool,
}
