//! Checker blocks and the options they inherit: checker → real_server → virtual_server →
//! keepalived's per-checker default.

use std::time::Duration;

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::model::{
    CheckTarget, CheckTiming, Checker, CheckerKind, Config, DnsCheck, DnsType, FileCheck, Forward,
    GrpcCheck, HttpCheck, HttpProtocol, MiscCheck, RealServer, ReplyPattern, SmtpCheck,
    TlsVerifySetting, UdpCheck, UrlCheck,
};
use crate::config::parser::Node;

/// Options a level sets for the levels below it (None: inherit).
#[derive(Debug, Default, Clone)]
pub(super) struct Inherit {
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub delay_loop: Option<Duration>,
    pub alpha: Option<bool>,
    pub inhibit_on_failure: Option<bool>,
    pub virtualhost: Option<String>,
    /// `slow_start` (lvsd extension).
    pub slow_start: Option<Duration>,
}

impl Inherit {
    /// Handles an inheritable option; false if `n` is something else.
    pub(super) fn option(&mut self, cx: &mut Ctx, n: &Node) -> bool {
        match n.keyword() {
            "connect_timeout" => match cx.timer(n) {
                Some(d) if d.is_zero() => cx.warn(n.span(), "connect_timeout 0 invalid; ignored"),
                d => self.connect_timeout = d.or(self.connect_timeout),
            },
            "retry" => self.retry = cx.u32_arg(n).or(self.retry),
            "nb_get_retry" => {
                cx.warn_note(
                    n.span(),
                    "`nb_get_retry` is deprecated; use `retry`",
                    "note: the value is used as `retry`",
                );
                self.retry = cx.u32_arg(n).or(self.retry);
            }
            "delay_before_retry" => {
                self.delay_before_retry = cx.timer(n).or(self.delay_before_retry)
            }
            "warmup" => self.warmup = cx.timer(n).or(self.warmup),
            "delay_loop" => {
                if let Some(w) = cx.arg(n, 1, "a time in seconds") {
                    self.delay_loop = cx.timer_word(w, "delay_loop", true).or(self.delay_loop);
                }
            }
            "alpha" => self.alpha = Some(cx.flag(n)),
            "inhibit_on_failure" => self.inhibit_on_failure = Some(cx.flag(n)),
            "slow_start" => self.slow_start = cx.timer(n).or(self.slow_start),
            _ => return false,
        }
        true
    }

    /// Self over `parent`.
    pub(super) fn over(&self, parent: &Inherit) -> Inherit {
        Inherit {
            connect_timeout: self.connect_timeout.or(parent.connect_timeout),
            retry: self.retry.or(parent.retry),
            delay_before_retry: self.delay_before_retry.or(parent.delay_before_retry),
            warmup: self.warmup.or(parent.warmup),
            delay_loop: self.delay_loop.or(parent.delay_loop),
            alpha: self.alpha.or(parent.alpha),
            inhibit_on_failure: self.inhibit_on_failure.or(parent.inhibit_on_failure),
            virtualhost: self
                .virtualhost
                .clone()
                .or_else(|| parent.virtualhost.clone()),
            slow_start: self.slow_start.or(parent.slow_start),
        }
    }
}

/// What a virtual server hands down to its real servers' checkers.
pub(super) struct Parent<'a> {
    pub inherit: &'a Inherit,
    pub default_port: u16,
    pub forward: Forward,
    pub global_log_all_failures: bool,
    pub global_smtp_alert: Option<bool>,
    pub delay_loop: Duration,
}

/// `type A|NS|CNAME|SOA|MX|TXT|AAAA` of a DNS_CHECK (unknown: SOA, warned).
fn dns_type(cx: &mut Ctx, n: &Node) -> Option<DnsType> {
    let w = cx.arg(n, 1, "a query type")?;
    Some(match w.text.to_ascii_uppercase().as_str() {
        "A" => DnsType::A,
        "NS" => DnsType::Ns,
        "CNAME" => DnsType::Cname,
        "SOA" => DnsType::Soa,
        "MX" => DnsType::Mx,
        "TXT" => DnsType::Txt,
        "AAAA" => DnsType::Aaaa,
        _ => {
            cx.warn(
                w.span,
                format!(
                    "unknown DNS type `{}` (A NS CNAME SOA MX TXT AAAA); using SOA",
                    w.text
                ),
            );
            DnsType::Soa
        }
    })
}

/// `http_protocol 1.0|1.0C|1.1` of an HTTP_GET / SSL_GET.
fn http_protocol(cx: &mut Ctx, n: &Node) -> Option<HttpProtocol> {
    let w = cx.arg(n, 1, "1.0, 1.0C, 1.1 or 2")?;
    match w.text.as_str() {
        "1.0" => Some(HttpProtocol::Http10),
        "1.0C" | "1.0c" => Some(HttpProtocol::Http10Close),
        "1.1" => Some(HttpProtocol::Http11),
        // lvsd extension: HTTP/2 (prior knowledge on HTTP_GET, ALPN h2 on SSL_GET).
        "2" => Some(HttpProtocol::Http2),
        _ => {
            cx.warn(
                w.span,
                format!("unknown http_protocol `{}` (1.0, 1.0C, 1.1 or 2)", w.text),
            );
            None
        }
    }
}

/// UDP_CHECK's own options; false if `n` is not one of them.
fn udp_option(cx: &mut Ctx, n: &Node, udp: &mut UdpCheck) -> bool {
    match n.keyword() {
        "payload" => {
            let hex: Vec<&str> = n.args().iter().map(|w| w.text.as_str()).collect();
            match parse_hex(&hex, false) {
                Some(p) => udp.payload = Some(p.bytes),
                None => cx.warn(n.span(), "payload is not hexadecimal; ignored"),
            }
        }
        "require_reply" => {
            let hex: Vec<&str> = n.args().iter().map(|w| w.text.as_str()).collect();
            match parse_hex(&hex, true) {
                Some(p) => udp.require_reply = Some(p),
                None => cx.warn(n.span(), "require_reply is not hexadecimal; ignored"),
            }
        }
        "min_reply_length" => udp.min_reply_length = cx.int(n, 0, 65_535).map_or(0, |v| v as u32),
        "max_reply_length" => udp.max_reply_length = cx.int(n, 0, 65_535).map_or(255, |v| v as u32),
        _ => return false,
    }
    true
}

pub(super) fn checker(
    cx: &mut Ctx,
    node: &Node,
    rs: &RealServer,
    rs_inherit: &Inherit,
    parent: &Parent,
    config: &Config,
) -> Option<Checker> {
    let kw = node.keyword();
    let children: &[Node] = match &node.block {
        Some(b) => &b.children,
        None => {
            cx.warn(
                node.span(),
                format!("`{kw}` needs a `{{ … }}` block; ignored"),
            );
            return None;
        }
    };
    let mut own = Inherit::default();
    let mut target = CheckTarget {
        ip: rs.addr,
        port: rs.port,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
    };
    let mut log_all_failures = None;
    let mut http = HttpCheck {
        tls: kw == "SSL_GET",
        http_protocol: HttpProtocol::Http10,
        fast_recovery: false,
        enable_sni: false,
        sni_name: None,
        urls: Vec::new(),
        tls_verify: TlsVerifySetting::Off,
    };
    let mut grpc = GrpcCheck::default();
    let mut http_vhost: Option<String> = None;
    let mut url_nodes: Vec<&Node> = Vec::new();
    let mut smtp = SmtpCheck::default();
    let mut host_nodes: Vec<&Node> = Vec::new();
    let mut dns = DnsCheck {
        query_type: DnsType::Soa,
        name: ".".into(),
    };
    let mut misc_script = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let mut misc_user = None;
    let mut udp = UdpCheck {
        max_reply_length: 255,
        ..UdpCheck::default()
    };
    let mut file_name: Option<(String, crate::config::model::Span)> = None;
    // keepalived 2.2.7 has no `dynamic` in FILE_CHECK (it is an unknown keyword there).
    let file_dynamic = false;
    let (mut file_weight, mut file_reverse) = (None, None);
    let is_http = matches!(kw, "HTTP_GET" | "SSL_GET");
    let ctx = if is_http {
        Context::HttpChecker
    } else {
        Context::Checker
    };

    for n in children {
        cx.acting(n, ctx);
        let k = n.keyword();
        if !matches!(k, "inhibit_on_failure" | "slow_start") && own.option(cx, n) {
            continue;
        }
        match (kw, k) {
            ("FILE_CHECK", "weight") => {
                let mut words = vec![n.words[0].clone()];
                words.extend(n.words.iter().cloned());
                let (w, r) = cx.weight_at(&Node { words, block: None }, 1, 2_147_483_647);
                file_weight = w;
                file_reverse = r;
            }
            (_, _) if super::checker_target::target_option(cx, n, &mut target) => {}
            (_, "log_all_failures") => log_all_failures = Some(cx.flag(n)),
            ("HTTP_GET" | "SSL_GET", "url") => url_nodes.push(n),
            ("HTTP_GET" | "SSL_GET", "http_protocol") => {
                if let Some(p) = http_protocol(cx, n) {
                    http.http_protocol = p;
                }
            }
            ("HTTP_GET" | "SSL_GET", "fast_recovery") => http.fast_recovery = cx.flag(n),
            ("HTTP_GET" | "SSL_GET", "enable_sni") => http.enable_sni = cx.flag(n),
            ("SSL_GET", "sni_name") => http.sni_name = cx.string(n),
            // lvsd extensions: certificate verification, gRPC health checks.
            ("SSL_GET", "tls_verify") => http.tls_verify = tls_verify(n),
            ("GRPC_CHECK", "tls_verify") => grpc.tls_verify = tls_verify(n),
            ("GRPC_CHECK", "service") => grpc.service = cx.string(n).unwrap_or_default(),
            ("GRPC_CHECK", "tls") => grpc.tls = cx.flag(n),
            ("GRPC_CHECK", "authority") => grpc.authority = cx.string(n),
            ("HTTP_GET" | "SSL_GET", "virtualhost") => http_vhost = cx.string(n),
            ("SMTP_CHECK", "helo_name") => smtp.helo_name = cx.string(n),
            ("SMTP_CHECK", "host") => host_nodes.push(n),
            ("DNS_CHECK", "type") => {
                if let Some(t) = dns_type(cx, n) {
                    dns.query_type = t;
                }
            }
            ("DNS_CHECK", "name") => {
                if let Some(s) = cx.string(n) {
                    dns.name = s;
                }
            }
            ("MISC_CHECK", "misc_path") => misc_script = cx.script(n),
            ("MISC_CHECK", "misc_timeout") => misc_timeout = cx.timer(n),
            ("MISC_CHECK", "misc_dynamic") => misc_dynamic = cx.flag(n),
            ("MISC_CHECK", "user") => misc_user = cx.user(n),
            ("UDP_CHECK", _) if udp_option(cx, n, &mut udp) => {}
            ("FILE_CHECK", "track_file") => {
                file_name = cx
                    .arg(n, 1, "a track_file name")
                    .map(|w| (w.text.to_string(), w.span))
            }
            _ => cx.other_in(n, ctx, kw),
        }
    }

    let merged = own.over(rs_inherit);
    let delay_loop = merged.delay_loop.unwrap_or(parent.delay_loop);
    let (default_retry, default_dbr) = match kw {
        "DNS_CHECK" => (3, delay_loop),
        "MISC_CHECK" => (0, Duration::from_secs(1)),
        "HTTP_GET" | "SSL_GET" => (1, Duration::from_secs(3)),
        _ => (1, Duration::from_secs(1)),
    };
    let timing = CheckTiming {
        connect_timeout: merged.connect_timeout.unwrap_or(Duration::from_secs(5)),
        delay_loop,
        retry: merged.retry.unwrap_or(default_retry),
        delay_before_retry: merged.delay_before_retry.unwrap_or(default_dbr),
        warmup: merged.warmup.unwrap_or(delay_loop),
        alpha: merged.alpha.unwrap_or(false),
        log_all_failures: log_all_failures.unwrap_or(parent.global_log_all_failures),
    };

    let kind = match kw {
        "HTTP_GET" | "SSL_GET" => {
            let vhost = http_vhost.or_else(|| merged.virtualhost.clone());
            for u in url_nodes {
                if let Some(url) = url(cx, u, &vhost) {
                    http.urls.push(url);
                }
            }
            http.urls.shrink_to_fit();
            if http.urls.is_empty() {
                cx.warn(
                    node.span(),
                    format!("{kw} without any `url {{ path … }}`; the checker is ignored"),
                );
                return None;
            }
            CheckerKind::Http(http)
        }
        "TCP_CHECK" => CheckerKind::Tcp,
        "GRPC_CHECK" => CheckerKind::Grpc(grpc),
        "SMTP_CHECK" => {
            for h in host_nodes {
                smtp.hosts
                    .extend(super::checker_target::smtp_host(cx, h, &target, &timing));
            }
            CheckerKind::Smtp(smtp)
        }
        "DNS_CHECK" => CheckerKind::Dns(dns),
        "PING_CHECK" => CheckerKind::Ping,
        "UDP_CHECK" => CheckerKind::Udp(udp),
        "MISC_CHECK" => {
            let Some(mut script) = misc_script else {
                cx.warn(
                    super::vrrp::close_span(node),
                    "MISC_CHECK without `misc_path`; the checker is ignored",
                );
                return None;
            };
            if script.user.is_none() {
                script.user = misc_user;
            }
            CheckerKind::Misc(MiscCheck {
                script,
                timeout: misc_timeout.unwrap_or(delay_loop),
                dynamic: misc_dynamic,
            })
        }
        "FILE_CHECK" => {
            let Some((name, span)) = file_name else {
                cx.warn(
                    super::vrrp::close_span(node),
                    "FILE_CHECK without `track_file`; the checker is ignored",
                );
                return None;
            };
            let Some(tf) = config.track_file(&name) else {
                cx.warn(
                    span,
                    format!("FILE_CHECK names track_file `{name}`, which is not defined; ignored"),
                );
                cx.warn(
                    super::vrrp::close_span(node),
                    "FILE_CHECK has no track_file specified; the checker is ignored",
                );
                return None;
            };
            CheckerKind::File(FileCheck {
                weight: file_weight.unwrap_or(tf.weight),
                reverse: file_reverse.unwrap_or(tf.weight_reverse),
                track_file: name,
                dynamic: file_dynamic,
            })
        }
        _ => return None,
    };
    Some(Checker {
        kind,
        target,
        timing,
        span: node.span(),
    })
}

/// `tls_verify` alone: the system roots; `tls_verify FILE`: that CA file.
fn tls_verify(n: &Node) -> TlsVerifySetting {
    match n.args().first() {
        None => TlsVerifySetting::SystemRoots,
        Some(w) => TlsVerifySetting::CaFile(w.text.to_string().into()),
    }
}

fn url(cx: &mut Ctx, node: &Node, vhost: &Option<String>) -> Option<UrlCheck> {
    let children = cx.need_block(node)?;
    let mut u = UrlCheck {
        path: String::new(),
        digest: None,
        status_codes: Vec::new(),
        virtualhost: None,
        regex: None,
        regex_no_match: false,
        regex_options: Vec::new(),
        regex_min_offset: 0,
        regex_max_offset: None,
        regex_stack: None,
        span: node.span(),
    };
    let mut has_path = false;
    for n in children {
        match n.keyword() {
            "path" => {
                if let Some(p) = cx.string(n) {
                    u.path = p;
                    has_path = true;
                }
            }
            "digest" => {
                if let Some(w) = cx.arg(n, 1, "an MD5 digest") {
                    if w.text.len() == 32 && w.text.bytes().all(|b| b.is_ascii_hexdigit()) {
                        u.digest = Some(w.text.as_str().to_ascii_lowercase());
                    } else {
                        cx.skip(
                            w.span,
                            format!(
                                "digest `{}` is not an MD5 digest: expected 32 hexadecimal characters, found {}",
                                w.text,
                                w.text.chars().count()
                            ),
                        );
                    }
                }
            }
            "status_code" => {
                for w in n.args() {
                    let parsed = match w.text.split_once('-') {
                        Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
                        None => w.text.parse::<u16>().ok().map(|v| (v, v)),
                    };
                    match parsed {
                        Some((a, b)) if (100..=599).contains(&a) && (a..=599).contains(&b) => {
                            u.status_codes.push((a, b))
                        }
                        _ => cx.warn(
                            w.span,
                            format!(
                                "status_code `{}` is not a code or range within 100-599; ignored",
                                w.text
                            ),
                        ),
                    }
                }
                if n.args().is_empty() {
                    cx.warn(
                        n.span(),
                        "`status_code` needs codes or ranges (200 or 200-299)",
                    );
                }
            }
            "virtualhost" => u.virtualhost = cx.string(n),
            "regex" => u.regex = cx.string(n),
            "regex_no_match" => u.regex_no_match = true,
            k if k.starts_with("regex_") && super::url_regex::option(cx, n, &mut u) => {}
            _ => cx.other(n, Context::Url),
        }
    }
    super::url_regex::validate(cx, &mut u);
    if !has_path {
        cx.warn(node.span(), "url without `path`; ignored");
        return None;
    }
    if u.status_codes.is_empty() {
        u.status_codes.push((200, 299));
    }
    if u.virtualhost.is_none() {
        u.virtualhost = vhost.clone();
    }
    Some(u)
}

/// keepalived's free-form hex: each word is read in pairs of digits, a lone final digit is a
/// byte of its own (`Ab12f 3` → AB 12 0F 03). With `masks`, x/X digits match anything.
pub(crate) fn parse_hex(words: &[&str], masks: bool) -> Option<ReplyPattern> {
    let mut p = ReplyPattern::default();
    let nibble = |c: char| -> Option<(u8, u8)> {
        match c {
            'x' | 'X' if masks => Some((0, 0)),
            _ => c.to_digit(16).map(|d| (d as u8, 0xf)),
        }
    };
    for w in words {
        let chars: Vec<char> = w.chars().collect();
        for pair in chars.chunks(2) {
            let (v, m) = match pair {
                [a, b] => {
                    let (a, am) = nibble(*a)?;
                    let (b, bm) = nibble(*b)?;
                    ((a << 4) | b, (am << 4) | bm)
                }
                [a] => nibble(*a)?,
                _ => return None,
            };
            p.bytes.push(v);
            p.mask.push(m);
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_form_hex() {
        let p = parse_hex(&["Ab12f", "3", "456", "546443123"], false).unwrap();
        assert_eq!(
            p.bytes,
            [
                0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03
            ]
        );
        let m = parse_hex(&["1x"], true).unwrap();
        assert_eq!((m.bytes[0], m.mask[0]), (0x10, 0xf0));
        assert!(parse_hex(&["zz"], false).is_none());
    }
}
