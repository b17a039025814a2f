//! `url { … }` of an HTTP_GET / SSL_GET: its keyword table and one small handler per keyword
//! (the `regex_*` options are read by `url_regex`).

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::UrlCheck;
use crate::config::parser::Node;

/// What the handlers of a url block fill in.
pub(in crate::config) struct Url {
    u: UrlCheck,
    has_path: bool,
}

use Arity::Rest;

impl Url {
    /// Every keyword of a url block, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Url>] = &[
        kw("path", Rest, "the path requested", path),
        kw("digest", Rest, "MD5 of the body expected (genhash prints it)", digest),
        kw("status_code", Rest, "status codes or ranges accepted (default 200-299)", status_code),
        kw("virtualhost", Rest, "Host header of this url", virtualhost),
        kw("regex", Rest, "pattern the body must match", regex),
        kw("regex_no_match", Rest, "the body must not match the pattern", regex_no_match),
        kw("regex_options", Rest, "options of the pattern (caseless, multiline…)", regex_option),
        kw("regex_stack", Rest, "START MAX bytes of match stack", regex_option),
        kw("regex_min_offset", Rest, "first offset of the body the match may start at", regex_option),
        kw("regex_max_offset", Rest, "last offset of the body the match may start at", regex_option),
    ];
}

/// One url of a checker; `vhost` is the checker's (or inherited) Host header.
pub(super) fn url(cx: &mut Ctx, node: &Node, vhost: &Option<String>) -> Option<UrlCheck> {
    let children = cx.need_block(node)?;
    let mut st = Url {
        u: UrlCheck {
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
        },
        has_path: false,
    };
    for n in children {
        super::dispatch(cx, Context::Url, Url::TABLE, n, &mut st);
    }
    let Url { mut u, has_path } = st;
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

type S<'s> = &'s mut Url;

fn path(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(p) = cx.string(n) {
        s.u.path = p;
        s.has_path = true;
    }
}
fn digest(cx: &mut Ctx, n: &Node, s: S) {
    let Some(w) = cx.arg(n, 1, "an MD5 digest") else {
        return;
    };
    if w.text.len() == 32 && w.text.bytes().all(|b| b.is_ascii_hexdigit()) {
        s.u.digest = Some(w.text.as_str().to_ascii_lowercase());
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
fn status_code(cx: &mut Ctx, n: &Node, s: S) {
    for w in n.args() {
        let parsed = match w.text.split_once('-') {
            Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
            None => w.text.parse::<u16>().ok().map(|v| (v, v)),
        };
        match parsed {
            Some((a, b)) if (100..=599).contains(&a) && (a..=599).contains(&b) => {
                s.u.status_codes.push((a, b))
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
fn virtualhost(cx: &mut Ctx, n: &Node, s: S) {
    s.u.virtualhost = cx.string(n);
}
fn regex(cx: &mut Ctx, n: &Node, s: S) {
    s.u.regex = cx.string(n);
}
fn regex_no_match(_: &mut Ctx, _: &Node, s: S) {
    s.u.regex_no_match = true;
}
fn regex_option(cx: &mut Ctx, n: &Node, s: S) {
    if !super::url_regex::option(cx, n, &mut s.u) {
        cx.other(n, Context::Url);
    }
}
