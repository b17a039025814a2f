//! `global_defs { … }` and the top-level `SSL { … }`.

use std::path::PathBuf;

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::model::{
    Config, GlobalDefs, LvsFlushOnStop, LvsSyncDaemon, NotifyFifo, SmtpServer, SslConfig,
};
use crate::config::parser::Node;

pub(super) fn global_defs(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(children) = cx.need_block(node) else {
        return;
    };
    config.global.span.get_or_insert(node.span());
    // The lower-prio GARP defaults follow the master ones unless set explicitly.
    let mut lower_delay_set = false;
    let mut lower_repeat_set = false;
    for n in children {
        cx.acting(n, Context::GlobalDefs);
        if super::anycast::global_keyword(cx, n, &mut config.anycast)
            || super::nft::global_keyword(cx, n, &mut config.nft)
            || super::process::global_keyword(cx, n, &mut config.process)
            || super::vrrp_extra::auto_priority_keyword(cx, n, &mut config.process)
        {
            continue;
        }
        let g = &mut config.global;
        let kw = n.keyword();
        match kw {
            "router_id" => g.router_id = cx.string(n),
            "notification_email" => {
                if let Some(lines) = cx.need_block(n) {
                    for l in lines {
                        g.notification_email
                            .extend(l.words.iter().map(|w| w.text.clone()));
                    }
                }
            }
            "notification_email_from" => g.notification_email_from = cx.string(n),
            "smtp_server" => {
                if let Some(h) = cx.arg(n, 1, "a server address") {
                    let host = h.text.clone();
                    let dotted = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                    if dotted && host.parse::<std::net::Ipv4Addr>().is_err() {
                        cx.warn(h.span, format!("invalid smtp server {host}; ignored"));
                        continue;
                    }
                    let port = match n.words.get(2) {
                        Some(p) => cx.port_word(p, "smtp_server").unwrap_or(25),
                        None => 25,
                    };
                    g.smtp_server = Some(SmtpServer { host, port });
                }
            }
            "smtp_helo_name" => g.smtp_helo_name = cx.string(n),
            "smtp_connect_timeout" => {
                if let Some(d) = cx.secs(n, 86_400) {
                    g.smtp_connect_timeout = d;
                }
            }
            "smtp_alert" => g.smtp_alert = Some(cx.flag(n)),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = Some(cx.flag(n)),
            "smtp_alert_checker" => g.smtp_alert_checker = Some(cx.flag(n)),
            "script_user" => g.script_user = cx.user(n),
            "enable_script_security" => g.enable_script_security = cx.flag(n),
            "default_interface" => g.default_interface = cx.string(n),
            "dynamic_interfaces" => g.dynamic_interfaces = true,
            "vrrp_version" => {
                if let Some(v) = cx.int(n, 2, 3) {
                    g.vrrp_version = v as u8;
                }
            }
            "vrrp_mcast_group4" => {
                if let Some(w) = cx.arg(n, 1, "an IPv4 multicast address") {
                    match w.text.parse::<std::net::Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => g.vrrp_mcast_group4 = a,
                        _ => cx.warn(
                            w.span,
                            format!("`{}` is not an IPv4 multicast address; ignored", w.text),
                        ),
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(w) = cx.arg(n, 1, "an IPv6 multicast address") {
                    match w.text.parse::<std::net::Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => g.vrrp_mcast_group6 = a,
                        _ => cx.warn(
                            w.span,
                            format!("`{}` is not an IPv6 multicast address; ignored", w.text),
                        ),
                    }
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(d) = cx.secs(n, 255) {
                    g.garp.master_delay = d;
                    if !lower_delay_set {
                        g.garp.lower_prio_delay = d;
                    }
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = cx.int(n, 1, 255) {
                    g.garp.master_repeat = v as u32;
                    if !lower_repeat_set {
                        g.garp.lower_prio_repeat = v as u32;
                    }
                }
            }
            "vrrp_garp_lower_prio_delay" => {
                if let Some(d) = cx.secs(n, 255) {
                    g.garp.lower_prio_delay = d;
                    lower_delay_set = true;
                }
            }
            "vrrp_garp_lower_prio_repeat" => {
                if let Some(v) = cx.int(n, 1, 255) {
                    g.garp.lower_prio_repeat = v as u32;
                    lower_repeat_set = true;
                }
            }
            "vrrp_garp_master_refresh" => {
                if let Some(d) = cx.secs(n, u32::MAX as i64) {
                    g.garp.master_refresh = (!d.is_zero()).then_some(d);
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = cx.int(n, 1, 255) {
                    g.garp.master_refresh_repeat = v as u32;
                }
            }
            "vrrp_garp_extra_if" => {
                if let Some(v) = super::vrrp_extra::garp_extra_if(cx, n, 1) {
                    g.garp.extra_if = v;
                }
            }
            "vrrp_garp_interval" | "vrrp_gna_interval" => {
                // keepalived rejects 0 here (its range starts at 1 µs) and keeps the default.
                if let Some(w) = cx.arg(n, 1, "a time in seconds")
                    && let Some(d) = cx.timer_word(w, kw, true)
                {
                    if kw == "vrrp_garp_interval" {
                        g.garp.interval = d;
                    } else {
                        g.garp.gna_interval = d;
                    }
                }
            }
            "vrrp_min_garp" => {
                if cx.flag(n) {
                    g.garp.master_repeat = 1;
                    g.garp.master_delay = std::time::Duration::ZERO;
                    g.garp.lower_prio_repeat = 1;
                    g.garp.lower_prio_delay = std::time::Duration::ZERO;
                }
            }
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = cx.flag(n),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = cx.flag(n),
            "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = cx.flag(n),
            "vrrp_down_timer_adverts" => {
                if let Some(v) = cx.int(n, 1, 100) {
                    g.vrrp_down_timer_adverts = v as u32;
                }
            }
            "vrrp_startup_delay" => {
                if let Some(d) = cx.timer(n) {
                    g.vrrp_startup_delay = d;
                }
            }
            "vrrp_notify_priority_changes" => g.vrrp_notify_priority_changes = cx.flag(n),
            "vrrp_iptables" => {
                cx.warn(
                    n.span(),
                    "iptables not supported, using nftables instead (as keepalived 2.2.7 built with nftables): replace `vrrp_iptables` with `nftables`",
                );
                g.vrrp_iptables = Some(n.args().iter().map(|w| w.text.clone()).collect());
                // keepalived then uses its nftables table, as with `nftables`.
                config
                    .nft
                    .table
                    .get_or_insert_with(|| crate::nft::vrrp::DEFAULT_TABLE.into());
            }
            "lvs_sync_daemon" => g.lvs_sync_daemon = lvs_sync_daemon(cx, n),
            "lvs_timeouts" => lvs_timeouts(cx, n, g),
            "lvs_flush" => g.lvs_flush = true,
            "lvs_flush_on_stop" => {
                g.lvs_flush_on_stop = match n.words.get(1).map(|w| w.text.as_str()) {
                    Some("VS") | Some("vs") => LvsFlushOnStop::VsOnly,
                    _ => LvsFlushOnStop::Yes,
                }
            }
            "notify_fifo"
            | "vrrp_notify_fifo"
            | "lvs_notify_fifo"
            | "notify_fifo_script"
            | "vrrp_notify_fifo_script"
            | "lvs_notify_fifo_script" => notify_fifo(cx, n, g),
            "checker_log_all_failures" => g.checker_log_all_failures = cx.flag(n),
            "startup_script" => g.startup_script = cx.script(n),
            "shutdown_script" => g.shutdown_script = cx.script(n),
            "startup_script_timeout" => {
                if let Some(d) = cx.secs(n, 1000) {
                    g.startup_script_timeout = d;
                }
            }
            "shutdown_script_timeout" => {
                if let Some(d) = cx.secs(n, 1000) {
                    g.shutdown_script_timeout = d;
                }
            }
            _ => cx.other(n, Context::GlobalDefs),
        }
    }
}

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`.
fn lvs_timeouts(cx: &mut Ctx, n: &Node, g: &mut GlobalDefs) {
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
fn notify_fifo(cx: &mut Ctx, n: &Node, g: &mut GlobalDefs) {
    let kw = n.keyword();
    if !kw.ends_with("_script") {
        if let Some(w) = cx.arg(n, 1, "a FIFO path") {
            let fifo = NotifyFifo {
                path: PathBuf::from(&w.text),
                user: n.words.get(2).map(|u| crate::config::model::ScriptUser {
                    user: u.text.clone(),
                    group: n.words.get(3).map(|g| g.text.clone()),
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
fn lvs_sync_daemon(cx: &mut Ctx, n: &Node) -> Option<LvsSyncDaemon> {
    let iface = cx.arg(n, 1, "an interface")?;
    let mut d = LvsSyncDaemon {
        interface: iface.text.clone(),
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
            ("inst", Some(v)) => d.instance = Some(v.text.clone()),
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
        match n.keyword() {
            "password" => s.password = cx.string(n),
            "ca" => s.ca = cx.string(n).map(PathBuf::from),
            "certificate" => s.certificate = cx.string(n).map(PathBuf::from),
            "key" => s.key = cx.string(n).map(PathBuf::from),
            _ => cx.other(n, Context::Ssl),
        }
    }
    config.ssl = Some(s);
}
