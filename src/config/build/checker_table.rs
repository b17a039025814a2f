//! The keyword tables of the checker blocks (`TCP_CHECK`, `HTTP_GET`, `MISC_CHECK`…) and one
//! small handler per keyword. Every checker type shares one table (`the checker`) but
//! HTTP_GET/SSL_GET, which have their own; a keyword of another checker type (`helo_name` in a
//! TCP_CHECK) is accepted and ignored, as keepalived does.
//!
//! `url { … }` and SMTP_CHECK `host { … }` blocks are kept and built once the checker's own
//! options are known (a `virtualhost` after the urls still applies to them).

use std::time::Duration;

use super::Ctx;
use super::checker::{Inherit, http_protocol};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::{
    CheckTarget, DnsCheck, DnsType, GrpcCheck, HttpCheck, HttpProtocol, Script, ScriptUser,
    SmtpCheck, Span, TlsVerifySetting, UdpCheck,
};
use crate::config::parser::Node;

/// The checker types a real server may hold.
pub(super) const KINDS: [&str; 10] = [
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "GRPC_CHECK",
];

/// What the handlers of a checker block fill in.
pub(in crate::config) struct Chk {
    /// The checker's keyword (one of [`KINDS`]).
    pub(super) kind: &'static str,
    pub(super) ctx: Context,
    pub(super) own: Inherit,
    pub(super) target: CheckTarget,
    pub(super) log_all_failures: Option<bool>,
    pub(super) http: HttpCheck,
    pub(super) grpc: GrpcCheck,
    pub(super) http_vhost: Option<String>,
    pub(super) urls: Vec<Node>,
    pub(super) smtp: SmtpCheck,
    pub(super) hosts: Vec<Node>,
    pub(super) dns: DnsCheck,
    pub(super) misc_script: Option<Script>,
    pub(super) misc_timeout: Option<Duration>,
    pub(super) misc_dynamic: bool,
    pub(super) misc_user: Option<ScriptUser>,
    pub(super) udp: UdpCheck,
    pub(super) file_name: Option<(String, Span)>,
    pub(super) file_weight: Option<i32>,
    pub(super) file_reverse: Option<bool>,
}

use Arity::Rest;

/// A checker table: the connection and timing options every checker type has, then `$own`.
macro_rules! with_common {
    ($($own:expr),* $(,)?) => {
        &[
            kw("connect_ip", Rest, "address probed (default: the real server's)", target),
            kw("connect_port", Rest, "port probed (default: the real server's)", target),
            kw("bindto", Rest, "source address of the probes", target),
            kw("bind_if", Rest, "interface of an IPv6 link-local source address", target),
            kw("bind_port", Rest, "source port of the probes", target),
            kw("fwmark", Rest, "firewall mark set on the probes", target),
            kw("alpha", Rest, "the real server starts down until the checker passes", inherit),
            kw("connect_timeout", Rest, "seconds a probe may take (default 5)", inherit),
            kw("retry", Rest, "failed probes before the real server is down", inherit)
                .aliases(&["nb_get_retry"]),
            kw("delay_before_retry", Rest, "seconds between retries", inherit),
            kw("warmup", Rest, "random delay before the first probe", inherit),
            kw("delay_loop", Rest, "seconds between probes", inherit),
            kw("log_all_failures", Rest, "", log_all_failures)
                .not_acting("checker failures are logged as lvsd always does"),
            $($own),*
        ]
    };
}

impl Chk {
    /// The state of a `kind` checker probing `target` (the real server) until told otherwise.
    pub(super) fn new(kind: &'static str, target: CheckTarget) -> Chk {
        let is_http = matches!(kind, "HTTP_GET" | "SSL_GET");
        Chk {
            kind,
            ctx: if is_http {
                Context::HttpChecker
            } else {
                Context::Checker
            },
            own: Inherit::default(),
            target,
            log_all_failures: None,
            http: HttpCheck {
                tls: kind == "SSL_GET",
                http_protocol: HttpProtocol::Http10,
                fast_recovery: false,
                enable_sni: false,
                sni_name: None,
                urls: Vec::new(),
                tls_verify: TlsVerifySetting::Off,
            },
            grpc: GrpcCheck::default(),
            http_vhost: None,
            urls: Vec::new(),
            smtp: SmtpCheck::default(),
            hosts: Vec::new(),
            dns: DnsCheck {
                query_type: DnsType::Soa,
                name: ".".into(),
            },
            misc_script: None,
            misc_timeout: None,
            misc_dynamic: false,
            misc_user: None,
            udp: UdpCheck {
                max_reply_length: 255,
                ..UdpCheck::default()
            },
            file_name: None,
            file_weight: None,
            file_reverse: None,
        }
    }

    /// The lines of the checker block, through its table.
    pub(super) fn read(&mut self, cx: &mut Ctx, children: &[Node]) {
        let table = match self.ctx {
            Context::HttpChecker => Chk::HTTP_TABLE,
            _ => Chk::TABLE,
        };
        for n in children {
            super::dispatch_in(cx, self.ctx, self.kind, table, n, self);
        }
    }

    /// Every keyword of the non-HTTP checkers, in reference order (the common ones first).
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Chk>] = with_common![
        // SMTP_CHECK
        kw("helo_name", Rest, "SMTP_CHECK: name sent in HELO", helo_name),
        kw("host", Rest, "SMTP_CHECK: `{ … }` another server to probe", host),
        // DNS_CHECK
        kw("type", Rest, "DNS_CHECK: query type (A, NS, CNAME, SOA, MX, TXT, AAAA)", dns_type),
        kw("name", Rest, "DNS_CHECK: name queried (default `.`)", dns_name),
        // MISC_CHECK
        kw("misc_path", Rest, "MISC_CHECK: the script run as the probe", misc_path),
        kw("misc_timeout", Rest, "MISC_CHECK: seconds the script may run", misc_timeout),
        kw("misc_dynamic", Rest, "MISC_CHECK: the script's exit status sets the weight", misc_dynamic),
        kw("user", Rest, "MISC_CHECK: user (and group) the script runs as", misc_user),
        // UDP_CHECK
        kw("payload", Rest, "UDP_CHECK: hexadecimal datagram sent", payload),
        kw("require_reply", Rest, "UDP_CHECK: hexadecimal reply required (x: any digit)", require_reply),
        kw("min_reply_length", Rest, "UDP_CHECK: shortest reply accepted", min_reply_length),
        kw("max_reply_length", Rest, "UDP_CHECK: longest reply accepted", max_reply_length),
        // FILE_CHECK
        kw("track_file", Rest, "FILE_CHECK: the track_file followed", file_track_file),
        kw("weight", Rest, "FILE_CHECK: `N [reverse]` weight of the file's value", file_weight),
        // GRPC_CHECK (lvsd extension)
        kw("service", Rest, "GRPC_CHECK: service name asked about", grpc_service),
        kw("tls", Rest, "GRPC_CHECK: probe over TLS", grpc_tls),
        kw("tls_verify", Rest, "GRPC_CHECK: verify the certificate (system roots or a CA file)", tls_verify),
        kw("authority", Rest, "GRPC_CHECK: :authority sent", grpc_authority),
    ];

    /// Every keyword of HTTP_GET and SSL_GET, in reference order (the common ones first).
    #[rustfmt::skip]
    pub(in crate::config) const HTTP_TABLE: &[Entry<Chk>] = with_common![
        kw("http_protocol", Rest, "1.0, 1.0C, 1.1 or 2 (lvsd)", http_protocol_kw),
        kw("fast_recovery", Rest, "one success brings the real server up", fast_recovery),
        kw("enable_sni", Rest, "SSL_GET: send the server name", enable_sni),
        kw("sni_name", Rest, "SSL_GET: server name sent", sni_name),
        kw("virtualhost", Rest, "Host header of the urls", virtualhost),
        kw("url", Rest, "`{ path … }`: a url requested", url),
        kw("tls_verify", Rest, "SSL_GET: verify the certificate (system roots or a CA file)", tls_verify),
    ];

    /// A keyword of the table that this checker type does not take: ignored, as keepalived does.
    fn other(&self, cx: &mut Ctx, n: &Node) {
        cx.other_in(n, self.ctx, self.kind);
    }
}

type S<'s> = &'s mut Chk;

fn target(cx: &mut Ctx, n: &Node, s: S) {
    super::checker_target::target_option(cx, n, &mut s.target);
}
fn inherit(cx: &mut Ctx, n: &Node, s: S) {
    s.own.option(cx, n);
}
fn log_all_failures(cx: &mut Ctx, n: &Node, s: S) {
    s.log_all_failures = Some(cx.flag(n));
}
fn helo_name(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "SMTP_CHECK" => s.smtp.helo_name = cx.string(n),
        _ => s.other(cx, n),
    }
}
fn host(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "SMTP_CHECK" => s.hosts.push(n.clone()),
        _ => s.other(cx, n),
    }
}
fn dns_type(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "DNS_CHECK" {
        return s.other(cx, n);
    }
    if let Some(t) = super::checker::dns_type(cx, n) {
        s.dns.query_type = t;
    }
}
fn dns_name(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "DNS_CHECK" {
        return s.other(cx, n);
    }
    if let Some(name) = cx.string(n) {
        s.dns.name = name;
    }
}
fn misc_path(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "MISC_CHECK" => s.misc_script = cx.script(n),
        _ => s.other(cx, n),
    }
}
fn misc_timeout(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "MISC_CHECK" => s.misc_timeout = cx.timer(n),
        _ => s.other(cx, n),
    }
}
fn misc_dynamic(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "MISC_CHECK" => s.misc_dynamic = cx.flag(n),
        _ => s.other(cx, n),
    }
}
fn misc_user(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "MISC_CHECK" => s.misc_user = cx.user(n),
        _ => s.other(cx, n),
    }
}
/// The hexadecimal words of `payload` / `require_reply`.
fn hex_args(n: &Node) -> Vec<&str> {
    n.args().iter().map(|w| w.text.as_str()).collect()
}
fn payload(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "UDP_CHECK" {
        return s.other(cx, n);
    }
    match super::checker::parse_hex(&hex_args(n), false) {
        Some(p) => s.udp.payload = Some(p.bytes),
        None => cx.warn(n.span(), "payload is not hexadecimal; ignored"),
    }
}
fn require_reply(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "UDP_CHECK" {
        return s.other(cx, n);
    }
    match super::checker::parse_hex(&hex_args(n), true) {
        Some(p) => s.udp.require_reply = Some(p),
        None => cx.warn(n.span(), "require_reply is not hexadecimal; ignored"),
    }
}
fn min_reply_length(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "UDP_CHECK" => s.udp.min_reply_length = cx.int(n, 0, 65_535).map_or(0, |v| v as u32),
        _ => s.other(cx, n),
    }
}
fn max_reply_length(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "UDP_CHECK" => s.udp.max_reply_length = cx.int(n, 0, 65_535).map_or(255, |v| v as u32),
        _ => s.other(cx, n),
    }
}
fn file_track_file(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "FILE_CHECK" {
        return s.other(cx, n);
    }
    s.file_name = cx
        .arg(n, 1, "a track_file name")
        .map(|w| (w.text.to_string(), w.span));
}
fn file_weight(cx: &mut Ctx, n: &Node, s: S) {
    if s.kind != "FILE_CHECK" {
        return s.other(cx, n);
    }
    // `weight N [reverse]` read as the words after a `weight` of its own.
    let mut words = vec![n.words[0].clone()];
    words.extend(n.words.iter().cloned());
    let (w, r) = cx.weight_at(&Node { words, block: None }, 1, 2_147_483_647);
    s.file_weight = w;
    s.file_reverse = r;
}
fn grpc_service(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "GRPC_CHECK" => s.grpc.service = cx.string(n).unwrap_or_default(),
        _ => s.other(cx, n),
    }
}
fn grpc_tls(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "GRPC_CHECK" => s.grpc.tls = cx.flag(n),
        _ => s.other(cx, n),
    }
}
fn grpc_authority(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "GRPC_CHECK" => s.grpc.authority = cx.string(n),
        _ => s.other(cx, n),
    }
}
/// `tls_verify` alone: the system roots; `tls_verify FILE`: that CA file (SSL_GET and
/// GRPC_CHECK, lvsd extensions).
fn tls_verify(cx: &mut Ctx, n: &Node, s: S) {
    let v = match n.args().first() {
        None => TlsVerifySetting::SystemRoots,
        Some(w) => TlsVerifySetting::CaFile(w.text.to_string().into()),
    };
    match s.kind {
        "SSL_GET" => s.http.tls_verify = v,
        "GRPC_CHECK" => s.grpc.tls_verify = v,
        _ => s.other(cx, n),
    }
}
fn http_protocol_kw(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(p) = http_protocol(cx, n) {
        s.http.http_protocol = p;
    }
}
fn fast_recovery(cx: &mut Ctx, n: &Node, s: S) {
    s.http.fast_recovery = cx.flag(n);
}
fn enable_sni(cx: &mut Ctx, n: &Node, s: S) {
    s.http.enable_sni = cx.flag(n);
}
fn sni_name(cx: &mut Ctx, n: &Node, s: S) {
    match s.kind {
        "SSL_GET" => s.http.sni_name = cx.string(n),
        _ => s.other(cx, n),
    }
}
fn virtualhost(cx: &mut Ctx, n: &Node, s: S) {
    s.http_vhost = cx.string(n);
}
fn url(_: &mut Ctx, n: &Node, s: S) {
    s.urls.push(n.clone());
}
