//! A checker's connection options (`connect_ip`, `connect_port`, `bindto`, `bind_port`,
//! `bind_if`, `fwmark`) and SMTP_CHECK's `host { … }` blocks, which repeat them per host.

use super::Ctx;
use super::checker::Inherit;
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity::Rest, Entry, kw};
use crate::config::model::{CheckTarget, CheckTiming, SmtpHost};
use crate::config::parser::Node;

/// Handles a connection option into `target`; false if `n` is something else.
pub(super) fn target_option(cx: &mut Ctx, n: &Node, target: &mut CheckTarget) -> bool {
    match n.keyword() {
        "connect_ip" => {
            if let Some(a) = cx.ip(n) {
                target.ip = a;
            }
        }
        "connect_port" => {
            if let Some(w) = cx.arg(n, 1, "a port")
                && let Some(p) = cx.port_word(w, "connect_port")
            {
                target.port = p;
            }
        }
        "bindto" => target.bindto = cx.ip(n),
        "bind_port" => {
            if let Some(w) = cx.arg(n, 1, "a port") {
                target.bind_port = cx.port_word(w, "bind_port");
            }
        }
        "bind_if" => target.bind_if = cx.string(n),
        "fwmark" => target.fwmark = cx.int(n, 1, u32::MAX as i64).map(|v| v as u32),
        _ => return false,
    }
    true
}

/// What the handlers of an SMTP_CHECK `host` block fill in.
pub(super) struct Host {
    target: CheckTarget,
    own: Inherit,
    log_all_failures: Option<bool>,
}

/// The keywords of an SMTP_CHECK `host` block: the connection and timing options of a checker.
/// Other checker keywords cannot appear there; the block has no reference section of its own.
#[rustfmt::skip]
const HOST: &[Entry<Host>] = &[
    kw("connect_ip", Rest, "", host_target),
    kw("connect_port", Rest, "", host_target),
    kw("bindto", Rest, "", host_target),
    kw("bind_if", Rest, "", host_target),
    kw("bind_port", Rest, "", host_target),
    kw("fwmark", Rest, "", host_target),
    kw("alpha", Rest, "", host_inherit),
    kw("connect_timeout", Rest, "", host_inherit),
    kw("retry", Rest, "", host_inherit).aliases(&["nb_get_retry"]),
    kw("delay_before_retry", Rest, "", host_inherit),
    kw("warmup", Rest, "", host_inherit),
    kw("delay_loop", Rest, "", host_inherit),
    kw("log_all_failures", Rest, "", host_log_all_failures),
];

fn host_target(cx: &mut Ctx, n: &Node, s: &mut Host) {
    target_option(cx, n, &mut s.target);
}
fn host_inherit(cx: &mut Ctx, n: &Node, s: &mut Host) {
    s.own.option(cx, n);
}
fn host_log_all_failures(cx: &mut Ctx, n: &Node, s: &mut Host) {
    s.log_all_failures = Some(cx.flag(n));
}

/// One `host { … }` of an SMTP_CHECK. Each option it leaves out is the SMTP_CHECK's
/// (`base_target` / `base_timing`, already resolved against the real server), as keepalived
/// makes every host a checker of its own with the checker's settings.
pub(super) fn smtp_host(
    cx: &mut Ctx,
    node: &Node,
    base_target: &CheckTarget,
    base_timing: &CheckTiming,
) -> Option<SmtpHost> {
    let children = cx.need_block(node)?;
    let mut st = Host {
        target: base_target.clone(),
        own: Inherit::default(),
        log_all_failures: None,
    };
    for n in children {
        let k = n.keyword();
        if let Some(e) = HOST.iter().find(|e| e.spec.matches(k))
            && let Some(handler) = e.handler
        {
            handler(cx, n, &mut st);
        } else if Context::Checker.knows(k) {
            cx.warn(
                n.span(),
                format!("`{k}` cannot appear in an SMTP_CHECK `host` block; ignored"),
            );
        } else {
            cx.other_in(n, Context::Checker, "host");
        }
    }
    let Host {
        target,
        own,
        log_all_failures,
    } = st;
    let delay_loop = own.delay_loop.unwrap_or(base_timing.delay_loop);
    let timing = CheckTiming {
        connect_timeout: own.connect_timeout.unwrap_or(base_timing.connect_timeout),
        delay_loop,
        retry: own.retry.unwrap_or(base_timing.retry),
        delay_before_retry: own
            .delay_before_retry
            .unwrap_or(base_timing.delay_before_retry),
        warmup: own.warmup.unwrap_or(base_timing.warmup),
        alpha: own.alpha.unwrap_or(base_timing.alpha),
        log_all_failures: log_all_failures.unwrap_or(base_timing.log_all_failures),
    };
    Some(SmtpHost {
        target,
        timing,
        span: node.span(),
    })
}
