//! The top-level `SSL { … }` and global_defs' multi-word values (`build/global_defs.rs` has
//! the global_defs table).

use std::path::PathBuf;

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity::Rest, Entry, kw};
use crate::config::model::{Config, GlobalDefs, LvsSyncDaemon, NotifyFifo, SslConfig};
use crate::config::parser::Node;

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`.
pub(super) fn lvs_timeouts(cx: &mut Ctx, n: &Node, g: &mut GlobalDefs) {
    let args = n.args();
    if args.is_empty() {
        cx.warn(
            n.span(),
            "`lvs_timeouts` needs at least one of tcp/tcpfin/udp SECS; ignored",
        );
    }
    let mut i = 0;
    while i < args.len() {
        let which = args[i].text.as_str();
        let val = args.get(i + 1);
        let slot = match which {
            "tcp" => &mut g.lvs_timeouts.tcp,
            "tcpfin" => &mut g.lvs_timeouts.tcpfin,
            "udp" => &mut g.lvs_timeouts.udp,
            _ => {
                cx.warn(
                    args[i].span,
                    format!("unknown lvs_timeouts field `{which}` (tcp, tcpfin, udp)"),
                );
                i += 1;
                continue;
            }
        };
        match val.map(|v| (v, v.text.parse::<u64>())) {
            Some((_, Ok(s))) => *slot = Some(std::time::Duration::from_secs(s)),
            Some((v, Err(_))) => {
                cx.warn(v.span, format!("`{}` is not a number of seconds", v.text))
            }
            None => cx.warn(args[i].span, format!("`{which}` needs a number of seconds")),
        }
        i += 2;
    }
}

/// `[vrrp_|lvs_]notify_fifo PATH [USER [GROUP]]` and `…_fifo_script SCRIPT`.
pub(super) fn notify_fifo(cx: &mut Ctx, n: &Node, g: &mut GlobalDefs) {
    let kw = n.keyword();
    if !kw.ends_with("_script") {
        if let Some(w) = cx.arg(n, 1, "a FIFO path") {
            let fifo = NotifyFifo {
                path: PathBuf::from(&w.text),
                user: n.words.get(2).map(|u| crate::config::model::ScriptUser {
                    user: u.text.to_string(),
                    group: n.words.get(3).map(|g| g.text.to_string()),
                    span: u.span,
                }),
                script: None,
            };
            let slot = match kw {
                "notify_fifo" => &mut g.notify_fifo,
                "vrrp_notify_fifo" => &mut g.vrrp_notify_fifo,
                _ => &mut g.lvs_notify_fifo,
            };
            let script = slot.take().and_then(|f| f.script);
            *slot = Some(NotifyFifo { script, ..fifo });
        }
        return;
    }
    let script = cx.script(n);
    let slot = match kw {
        "notify_fifo_script" => &mut g.notify_fifo,
        "vrrp_notify_fifo_script" => &mut g.vrrp_notify_fifo,
        _ => &mut g.lvs_notify_fifo,
    };
    match slot {
        Some(f) => f.script = script,
        // keepalived 2.2.7 says nothing: lvsd's own finding.
        None => cx.note(
            n.span(),
            format!("`{kw}` without its FIFO (set the FIFO first); ignored"),
        ),
    }
}

/// `lvs_sync_daemon IFACE [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
pub(super) fn lvs_sync_daemon(cx: &mut Ctx, n: &Node) -> Option<LvsSyncDaemon> {
    let iface = cx.arg(n, 1, "an interface")?;
    let mut d = LvsSyncDaemon {
        interface: iface.text.to_string(),
        instance: None,
        id: 0,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
        span: n.span(),
    };
    let args = &n.words[2..];
    let mut i = 0;
    while i < args.len() {
        let key = args[i].text.as_str();
        let val = args.get(i + 1);
        match (key, val) {
            ("inst", Some(v)) => d.instance = Some(v.text.to_string()),
            ("id", Some(v)) => d.id = cx.int_word(v, "id", 0, 255).unwrap_or(0) as u8,
            ("maxlen", Some(v)) => d.maxlen = cx.int_word(v, "maxlen", 1, 65_507).map(|v| v as u32),
            ("port", Some(v)) => d.port = cx.port_word(v, "lvs_sync_daemon"),
            ("ttl", Some(v)) => d.ttl = cx.int_word(v, "ttl", 1, 255).map(|v| v as u8),
            ("group", Some(v)) => d.group = cx.ip_word(v, "lvs_sync_daemon group"),
            ("inst" | "id" | "maxlen" | "port" | "ttl" | "group", None) => {
                cx.warn(args[i].span, format!("`{key}` needs a value"));
            }
            _ if i == 0 && d.instance.is_none() => {
                // The instance name may be given without `inst`.
                d.instance = Some(key.to_string());
                i += 1;
                continue;
            }
            _ => cx.warn(
                args[i].span,
                format!("unknown lvs_sync_daemon option `{key}`"),
            ),
        }
        i += 2;
    }
    Some(d)
}

pub(super) fn ssl(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut s = SslConfig::default();
    for n in children {
        super::dispatch(cx, Context::Ssl, SSL, n, &mut s);
    }
    config.ssl = Some(s);
}

/// Every keyword of the `SSL` block, in reference order.
#[rustfmt::skip]
pub(in crate::config) const SSL: &[Entry<SslConfig>] = &[
    kw("password", Rest, "password of the private key", ssl_password),
    kw("ca", Rest, "CA certificate file the checkers' servers are verified with", ssl_ca),
    kw("certificate", Rest, "client certificate file of the SSL_GET checkers", ssl_certificate),
    kw("key", Rest, "private key file of that certificate", ssl_key),
];

fn ssl_password(cx: &mut Ctx, n: &Node, s: &mut SslConfig) {
    s.password = cx.string(n);
}
fn ssl_ca(cx: &mut Ctx, n: &Node, s: &mut SslConfig) {
    s.ca = cx.string(n).map(PathBuf::from);
}
fn ssl_certificate(cx: &mut Ctx, n: &Node, s: &mut SslConfig) {
    s.certificate = cx.string(n).map(PathBuf::from);
}
fn ssl_key(cx: &mut Ctx, n: &Node, s: &mut SslConfig) {
    s.key = cx.string(n).map(PathBuf::from);
}
