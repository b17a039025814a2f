//! Checker blocks and the options they inherit: checker → real_server → virtual_server →
//! keepalived's per-checker default.

use std::time::Duration;

use super::Ctx;
use super::checker_table::{Chk, KINDS};
use crate::config::model::{
    CheckTarget, CheckTiming, Checker, CheckerKind, Config, DnsType, FileCheck, Forward,
    HttpProtocol, MiscCheck, RealServer, ReplyPattern,
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
pub(super) fn dns_type(cx: &mut Ctx, n: &Node) -> Option<DnsType> {
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
pub(super) fn http_protocol(cx: &mut Ctx, n: &Node) -> Option<HttpProtocol> {
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

/// A checker block of a real server: its options through the checker table, then the
/// checker, or None (with a warning) when it lacks what it needs.
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
    let &kind = KINDS.iter().find(|k| **k == kw)?;
    let target = CheckTarget {
        ip: rs.addr,
        port: rs.port,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
    };
    let mut st = Chk::new(kind, target);
    st.read(cx, children);

    let merged = st.own.over(rs_inherit);
    let delay_loop = merged.delay_loop.unwrap_or(parent.delay_loop);
    let (default_retry, default_dbr) = match kind {
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
        log_all_failures: st
            .log_all_failures
            .unwrap_or(parent.global_log_all_failures),
    };
    let vhost = st.http_vhost.take().or_else(|| merged.virtualhost.clone());
    let (kind, target) = checker_kind(cx, node, st, vhost, &timing, config)?;
    Some(Checker {
        kind,
        target,
        timing,
        span: node.span(),
    })
}

/// What the checker probes, from what its handlers read.
fn checker_kind(
    cx: &mut Ctx,
    node: &Node,
    mut st: Chk,
    vhost: Option<String>,
    timing: &CheckTiming,
    config: &Config,
) -> Option<(CheckerKind, CheckTarget)> {
    let kind = match st.kind {
        "HTTP_GET" | "SSL_GET" => {
            let mut http = st.http;
            for u in &st.urls {
                if let Some(url) = super::url::url(cx, u, &vhost) {
                    http.urls.push(url);
                }
            }
            http.urls.shrink_to_fit();
            if http.urls.is_empty() {
                cx.warn(
                    node.span(),
                    format!(
                        "{} without any `url {{ path … }}`; the checker is ignored",
                        st.kind
                    ),
                );
                return None;
            }
            CheckerKind::Http(http)
        }
        "TCP_CHECK" => CheckerKind::Tcp,
        "GRPC_CHECK" => CheckerKind::Grpc(st.grpc),
        "SMTP_CHECK" => {
            let mut smtp = st.smtp;
            for h in &st.hosts {
                smtp.hosts
                    .extend(super::checker_target::smtp_host(cx, h, &st.target, timing));
            }
            CheckerKind::Smtp(smtp)
        }
        "DNS_CHECK" => CheckerKind::Dns(st.dns),
        "PING_CHECK" => CheckerKind::Ping,
        "UDP_CHECK" => CheckerKind::Udp(st.udp),
        "MISC_CHECK" => {
            let Some(mut script) = st.misc_script.take() else {
                cx.warn(
                    super::vrrp::close_span(node),
                    "MISC_CHECK without `misc_path`; the checker is ignored",
                );
                return None;
            };
            if script.user.is_none() {
                script.user = st.misc_user.take();
            }
            CheckerKind::Misc(MiscCheck {
                script,
                timeout: st.misc_timeout.unwrap_or(timing.delay_loop),
                dynamic: st.misc_dynamic,
            })
        }
        "FILE_CHECK" => CheckerKind::File(file_check(cx, node, &mut st, config)?),
        _ => return None,
    };
    Some((kind, st.target))
}

/// A FILE_CHECK's track_file, which must be defined.
fn file_check(cx: &mut Ctx, node: &Node, st: &mut Chk, config: &Config) -> Option<FileCheck> {
    let Some((name, span)) = st.file_name.take() else {
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
    Some(FileCheck {
        weight: st.file_weight.unwrap_or(tf.weight),
        reverse: st.file_reverse.unwrap_or(tf.weight_reverse),
        track_file: name,
        // keepalived 2.2.7 has no `dynamic` in FILE_CHECK (it is an unknown keyword there).
        dynamic: false,
    })
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
