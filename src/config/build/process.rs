//! Process keywords: thread scheduling and limits (`vrrp_*` / `checker_*`), names, `umask`,
//! `reload_time_file`, `rs_init_notifies`, `fifo_write_vrrp_states_on_reload` in global_defs,
//! and the top-level `net_namespace*` lines. Each handler returns true when it consumed the
//! line.

use super::Ctx;
use crate::config::model::{ProcessDefs, ThreadTuning};
use crate::config::parser::Node;

/// A global_defs keyword of [`ProcessDefs`].
pub(super) fn global_keyword(cx: &mut Ctx, n: &Node, p: &mut ProcessDefs) -> bool {
    let kw = n.keyword();
    if let Some((who, what)) = kw.split_once('_')
        && let Some(t) = match who {
            "vrrp" => Some(&mut p.vrrp),
            "checker" => Some(&mut p.checker),
            _ => None,
        }
        && tuning(cx, n, what, t)
    {
        return true;
    }
    match kw {
        "process_name" => p.process_name = cx.string(n),
        "process_names" => p.process_names = true,
        "umask" => p.umask = umask(cx, n),
        "reload_time_file" => p.reload_time_file = cx.string(n).map(Into::into),
        "rs_init_notifies" => p.rs_init_notifies = true,
        "reload_repeat" => p.reload_repeat = true,
        "fifo_write_vrrp_states_on_reload" => p.fifo_write_vrrp_states_on_reload = true,
        _ => return false,
    }
    true
}

/// `net_namespace NAME`, `net_namespace_ipvs [NAME]`, `namespace_with_ipsets`.
pub(super) fn top_level(cx: &mut Ctx, n: &Node, p: &mut ProcessDefs) {
    match n.keyword() {
        "net_namespace" => {
            if let Some(name) = cx.string(n) {
                if valid_netns(&name) {
                    p.net_namespace = Some(name);
                } else {
                    cx.error(
                        n.span(),
                        format!("`net_namespace {name}`: not a namespace name"),
                    );
                }
            }
        }
        "net_namespace_ipvs" => {
            let name = n
                .words
                .get(1)
                .map(|w| w.text.to_string())
                .unwrap_or_default();
            if name.is_empty() || valid_netns(&name) {
                p.net_namespace_ipvs = Some(name);
            } else {
                cx.error(
                    n.span(),
                    format!("`net_namespace_ipvs {name}`: not a namespace name"),
                );
            }
        }
        _ => p.namespace_with_ipsets = true,
    }
}

/// A name `ip netns` could have made (a file under /run/netns).
fn valid_netns(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && name.len() < 256
}

/// `priority`, `rt_priority`, `no_swap`, `cpu_affinity`, `rlimit_rttime`, `process_name`
/// after `vrrp_` / `checker_`.
fn tuning(cx: &mut Ctx, n: &Node, what: &str, t: &mut ThreadTuning) -> bool {
    match what {
        "priority" => t.nice = cx.int(n, -20, 19).map(|v| v as i32),
        "rt_priority" => t.rt_priority = cx.int(n, 1, 99).map(|v| v as u8),
        "no_swap" => t.no_swap = true,
        "rlimit_rttime" => t.rlimit_rttime = cx.int(n, 2, i64::from(u32::MAX)).map(|v| v as u64),
        "process_name" => t.process_name = cx.string(n),
        "cpu_affinity" => {
            let mut cpus = Vec::new();
            for w in n.args() {
                let range = w.text.split_once('-');
                let (a, b) = range.unwrap_or((w.text.as_str(), w.text.as_str()));
                match (a.parse::<usize>(), b.parse::<usize>()) {
                    (Ok(a), Ok(b)) if a <= b && b < 4096 => cpus.extend(a..=b),
                    _ => cx.warn(w.span, format!("`{}` is not a CPU number; ignored", w.text)),
                }
            }
            t.cpu_affinity = cpus;
        }
        _ => return false,
    }
    true
}

/// `umask NUMBER` (hex `0x…`, octal `0…` or decimal) or `umask BITS` (`IWGRP|IWOTH`).
fn umask(cx: &mut Ctx, n: &Node) -> Option<u32> {
    let text: String = n.args().iter().map(|w| w.text.as_str()).collect();
    let v = parse_umask(&text);
    if v.is_none() {
        cx.warn(
            n.span(),
            format!("`umask {text}`: expected a number or bits such as IWGRP|IWOTH; ignored"),
        );
    }
    v
}

pub(crate) fn parse_umask(text: &str) -> Option<u32> {
    let num = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse::<u32>().ok()
    };
    if let Some(v) = num {
        return (v <= 0o777).then_some(v);
    }
    let mut v = 0;
    for bit in text.split('|').map(str::trim) {
        let class = match bit.get(..2) {
            Some("IR") => 0o4,
            Some("IW") => 0o2,
            Some("IX") => 0o1,
            _ => return None,
        };
        let who = match bit.get(2..) {
            Some("USR") => 6,
            Some("GRP") => 3,
            Some("OTH") => 0,
            _ => return None,
        };
        v |= class << who;
    }
    (!text.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::parse_umask;

    #[test]
    fn umask_forms() {
        assert_eq!(parse_umask("022"), Some(0o22));
        assert_eq!(parse_umask("0x12"), Some(0o22));
        assert_eq!(parse_umask("18"), Some(0o22));
        assert_eq!(parse_umask("IWGRP|IWOTH"), Some(0o22));
        assert_eq!(parse_umask("IRWXO"), None);
        assert_eq!(parse_umask("0777"), Some(0o777));
        assert_eq!(parse_umask("01000"), None);
    }
}
