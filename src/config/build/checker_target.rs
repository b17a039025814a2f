//! A checker's connection options (`connect_ip`, `connect_port`, `bindto`, `bind_port`,
//! `bind_if`, `fwmark`) and SMTP_CHECK's `host { … }` blocks, which repeat them per host.

use super::Ctx;
use super::checker::Inherit;
use crate::config::keywords::Context;
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
    let mut target = base_target.clone();
    let mut own = Inherit::default();
    let mut log_all_failures = None;
    for n in children {
        let k = n.keyword();
        if target_option(cx, n, &mut target) {
            continue;
        }
        if !matches!(k, "inhibit_on_failure" | "slow_start") && own.option(cx, n) {
            continue;
        }
        if k == "log_all_failures" {
            log_all_failures = Some(cx.flag(n));
            continue;
        }
        if Context::Checker.knows(k) {
            cx.warn(
                n.span(),
                format!("`{k}` cannot appear in an SMTP_CHECK `host` block; ignored"),
            );
            continue;
        }
        cx.other_in(n, Context::Checker, "host");
    }
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
