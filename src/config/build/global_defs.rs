//! `global_defs { … }`: its keyword table and one small handler per keyword.
//!
//! Adding a keyword: one entry in [`Global::TABLE`] and its handler below (or, for a feature
//! with its own module, a handler that calls that module's function).

use std::time::Duration;

use super::Ctx;
use super::global::{lvs_sync_daemon, lvs_timeouts, notify_fifo};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, ignored, kw};
use crate::config::model::{Config, GlobalDefs, LvsFlushOnStop, SmtpServer};
use crate::config::parser::Node;

/// What the handlers fill in while global_defs is read.
pub(in crate::config) struct Global<'b> {
    config: &'b mut Config,
    /// The lower-prio GARP defaults follow the master ones unless set explicitly.
    lower_delay_set: bool,
    lower_repeat_set: bool,
}

impl Global<'_> {
    fn g(&mut self) -> &mut GlobalDefs {
        &mut self.config.global
    }
}

const EMAIL: &str = "lvsd sends no e-mail; follow state changes through notify scripts, /metrics or the event stream";
const DEFAULTS: &str =
    "the VRRP engine and checkers keep their defaults as if this line were absent";
const TUNING: &str =
    "lvsd is one process; its scheduling is set by its service manager (systemd unit)";
const SNMP: &str = "there is no SNMP agent or trap; use lvsd's Prometheus metrics (/metrics) and the /status API instead";
const DBUS: &str = "there is no DBus service; use lvsd's control API (lvsd ctl, /status) instead";
const BUFS: &str = "socket buffers keep lvsd's defaults";
const NO_EFFECT: &str = "the setting has no effect";

use Arity::{Block, One, Rest};

type E<'b> = Entry<Global<'b>>;

impl<'b> Global<'b> {
    /// Every keyword of global_defs, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &'b [E<'b>] = &[
        // lvsd extensions (docs/anycast.md).
        kw("anycast_table", Rest, "lvsd: routing table the anycast routes go to", anycast),
        kw("anycast_protocol", Rest, "lvsd: route protocol number of the anycast routes", anycast),
        kw("router_id", One("a value"), "", router_id).not_acting(EMAIL),
        kw("notification_email", Block, "", notification_email).not_acting(EMAIL),
        kw("notification_email_from", One("a value"), "", notification_email_from).not_acting(EMAIL),
        kw("smtp_server", One("a server address"), "", smtp_server).not_acting(EMAIL),
        kw("smtp_helo_name", One("a value"), "HELO name of SMTP_CHECK", smtp_helo_name),
        kw("smtp_connect_timeout", One("a number"), "", smtp_connect_timeout).not_acting(EMAIL),
        kw("smtp_alert", Arity::None, "", smtp_alert).not_acting(EMAIL),
        kw("smtp_alert_vrrp", Arity::None, "", smtp_alert_vrrp).not_acting(EMAIL),
        kw("smtp_alert_checker", Arity::None, "", smtp_alert_checker).not_acting(EMAIL),
        kw("script_user", One("a user name"), "user (and group) scripts run as by default", script_user),
        kw("enable_script_security", Arity::None, "refuse scripts writable by non-root users", enable_script_security),
        kw("default_interface", One("a value"), "interface of static addresses and routes that name none", default_interface),
        kw("dynamic_interfaces", Rest, "instances wait for interfaces that appear later", dynamic_interfaces),
        kw("vrrp_version", One("a number"), "default VRRP version (2 or 3)", vrrp_version),
        kw("vrrp_mcast_group4", One("an IPv4 multicast address"), "IPv4 multicast group of adverts", vrrp_mcast_group4),
        kw("vrrp_mcast_group6", One("an IPv6 multicast address"), "IPv6 multicast group of adverts", vrrp_mcast_group6),
        kw("vrrp_garp_master_delay", One("a number"), "default delay of the second gratuitous ARPs", vrrp_garp_master_delay),
        kw("vrrp_garp_master_repeat", One("a number"), "default gratuitous ARPs per address on becoming master", vrrp_garp_master_repeat),
        kw("vrrp_garp_lower_prio_delay", One("a number"), "default delay of gratuitous ARPs after a lower-priority advert", vrrp_garp_lower_prio_delay),
        kw("vrrp_garp_lower_prio_repeat", One("a number"), "default gratuitous ARPs after a lower-priority advert", vrrp_garp_lower_prio_repeat),
        kw("vrrp_garp_master_refresh", One("a number"), "default seconds between refresh gratuitous ARPs (0: off)", vrrp_garp_master_refresh),
        kw("vrrp_garp_master_refresh_repeat", One("a number"), "default gratuitous ARPs per refresh", vrrp_garp_master_refresh_repeat),
        kw("vrrp_garp_interval", One("a time in seconds"), "gap between gratuitous ARPs on one interface", vrrp_garp_interval),
        kw("vrrp_gna_interval", One("a time in seconds"), "gap between unsolicited neighbour adverts on one interface", vrrp_gna_interval),
        kw("vrrp_min_garp", Arity::None, "one gratuitous ARP on becoming master, no repeats or refreshes", vrrp_min_garp),
        kw("vrrp_strict", Arity::None, "strict RFC mode for every instance", vrrp_strict),
        kw("vrrp_skip_check_adv_addr", Arity::None, "default of `skip_check_adv_addr`", vrrp_skip_check_adv_addr),
        kw("vrrp_check_unicast_src", Arity::None, "default of `check_unicast_src`", vrrp_check_unicast_src),
        kw("vrrp_lower_prio_no_advert", Arity::None, "default of `lower_prio_no_advert`", vrrp_lower_prio_no_advert),
        kw("vrrp_higher_prio_send_advert", Arity::None, "default of `higher_prio_send_advert`", vrrp_higher_prio_send_advert),
        kw("vrrp_down_timer_adverts", One("a number"), "default of `down_timer_adverts`", vrrp_down_timer_adverts),
        kw("vrrp_startup_delay", One("a time in seconds"), "seconds instances wait after start-up", vrrp_startup_delay),
        kw("vrrp_notify_priority_changes", Arity::None, "instances' priority changes go to the notify FIFOs (`MASTER_PRIORITY N`)", vrrp_notify_priority_changes),
        kw("vrrp_iptables", Rest, "taken as `nftables` (as keepalived built with nftables)", vrrp_iptables),
        kw("lvs_sync_daemon", One("an interface"), "IPVS connection sync daemon", lvs_sync_daemon_kw),
        kw("lvs_timeouts", Rest, "IPVS tcp/tcpfin/udp timeouts", lvs_timeouts_kw),
        kw("lvs_flush", Arity::None, "flush IPVS at start-up", lvs_flush),
        kw("lvs_flush_on_stop", Arity::None, "flush IPVS (or only lvsd's services: VS) at stop", lvs_flush_on_stop),
        kw("notify_fifo", One("a FIFO path"), "FIFO every state change is written to", fifo),
        kw("notify_fifo_script", One("a script path"), "script reading notify_fifo", fifo),
        kw("vrrp_notify_fifo", One("a FIFO path"), "FIFO VRRP state changes are written to", fifo),
        kw("vrrp_notify_fifo_script", One("a script path"), "script reading vrrp_notify_fifo", fifo),
        kw("lvs_notify_fifo", One("a FIFO path"), "FIFO checker state changes are written to", fifo),
        kw("lvs_notify_fifo_script", One("a script path"), "script reading lvs_notify_fifo", fifo),
        kw("checker_log_all_failures", Arity::None, "", checker_log_all_failures).not_acting(DEFAULTS),
        kw("startup_script", One("a script path"), "script run before lvsd starts its instances", startup_script),
        kw("startup_script_timeout", One("a number"), "seconds startup_script may run", startup_script_timeout),
        kw("shutdown_script", One("a script path"), "script run when lvsd stops", shutdown_script),
        kw("shutdown_script_timeout", One("a number"), "seconds shutdown_script may run", shutdown_script_timeout),
        // keepalived's nftables firewall and IPVS fwmarks (build/nft.rs).
        kw("nftables", Rest, "nftables table for accept/no_accept filtering", nft),
        kw("nftables_priority", Rest, "priority of its chains", nft),
        kw("nftables_counters", Rest, "counters on its rules", nft),
        kw("nftables_ifindex", Rest, "match interfaces by index", nft),
        kw("nftables_ipvs", Rest, "nftables table for fwmark virtual servers", nft),
        kw("nftables_ipvs_priority", Rest, "priority of its chains", nft),
        kw("nftables_ipvs_start_fwmark", Rest, "first fwmark it allocates", nft),
        // Process keywords (build/process.rs).
        kw("checker_cpu_affinity", Rest, "CPUs of the checker threads", process),
        kw("checker_no_swap", Rest, "lock the checker's memory", process),
        kw("checker_priority", Rest, "nice value of the checker threads", process),
        kw("checker_process_name", Rest, "name of the checker threads", process),
        kw("checker_rlimit_rttime", Rest, "RLIMIT_RTTIME of the checker threads", process),
        kw("checker_rt_priority", Rest, "realtime priority of the checker threads", process),
        kw("fifo_write_vrrp_states_on_reload", Rest, "write every VRRP state to the FIFOs after a reload", process),
        kw("process_name", Rest, "process name", process),
        kw("process_names", Rest, "name the threads", process),
        kw("reload_time_file", Rest, "file a scheduled reload time is read from", process),
        kw("reload_repeat", Rest, "repeat the scheduled reload daily", process),
        kw("rs_init_notifies", Rest, "notify the initial state of real servers", process),
        kw("umask", Rest, "umask of files lvsd creates", process),
        kw("vrrp_cpu_affinity", Rest, "CPUs of the VRRP threads", process),
        kw("vrrp_no_swap", Rest, "lock the VRRP engine's memory", process),
        kw("vrrp_priority", Rest, "nice value of the VRRP threads", process),
        kw("vrrp_process_name", Rest, "name of the VRRP threads", process),
        kw("vrrp_rlimit_rttime", Rest, "RLIMIT_RTTIME of the VRRP threads", process),
        kw("vrrp_rt_priority", Rest, "realtime priority of the VRRP threads", process),
        ignored("bfd_cpu_affinity", TUNING),
        ignored("bfd_no_swap", TUNING),
        ignored("bfd_priority", TUNING),
        ignored("bfd_process_name", TUNING),
        ignored("bfd_rlimit_rttime", TUNING),
        ignored("bfd_rt_priority", TUNING),
        ignored("config_save_dir", NO_EFFECT),
        ignored("data_use_instance", NO_EFFECT),
        ignored("dbus_service_name", DBUS),
        ignored("disable_local_igmp", NO_EFFECT),
        ignored("enable_dbus", DBUS),
        ignored("enable_snmp_checker", SNMP),
        ignored("enable_snmp_keepalived", SNMP),
        ignored("enable_snmp_rfc", SNMP),
        ignored("enable_snmp_rfcv2", SNMP),
        ignored("enable_snmp_rfcv3", SNMP),
        ignored("enable_snmp_vrrp", SNMP),
        ignored("enable_traps", SNMP),
        ignored("include_check", NO_EFFECT),
        ignored("log_unknown_vrids", NO_EFFECT),
        ignored("lvs_netlink_cmd_rcv_bufs", BUFS),
        ignored("lvs_netlink_cmd_rcv_bufs_force", BUFS),
        ignored("lvs_netlink_monitor_rcv_bufs", BUFS),
        ignored("lvs_netlink_monitor_rcv_bufs_force", BUFS),
        kw("max_auto_priority", Rest, "highest realtime priority the VRRP thread is raised to when it runs late (-1..99)", auto_priority),
        kw("min_auto_priority_delay", One("microseconds"), "lateness (µs) that raises the VRRP thread's priority", auto_priority),
        ignored("no_checker_emails", "lvsd sends no e-mail"),
        ignored("no_email_faults", "lvsd sends no e-mail"),
        ignored("process_monitor_rcv_bufs", BUFS),
        ignored("process_monitor_rcv_bufs_force", BUFS),
        ignored("random_seed", NO_EFFECT),
        ignored("reload_check_config", NO_EFFECT),
        ignored("reload_file", NO_EFFECT),
        ignored("snmp_socket", SNMP),
        ignored("tmp_config_directory", NO_EFFECT),
        ignored("vmac_addr_prefix", NO_EFFECT),
        ignored("vmac_prefix", NO_EFFECT),
        kw("vrrp_garp_extra_if", Rest, "`[all] SECS`: repeat gratuitous ARPs for VIPs on other interfaces while master", vrrp_garp_extra_if),
        ignored("vrrp_netlink_cmd_rcv_bufs", BUFS),
        ignored("vrrp_netlink_cmd_rcv_bufs_force", BUFS),
        ignored("vrrp_netlink_monitor_rcv_bufs", BUFS),
        ignored("vrrp_netlink_monitor_rcv_bufs_force", BUFS),
        ignored("vrrp_rx_bufs_multiplier", BUFS),
        ignored("vrrp_rx_bufs_policy", BUFS),
    ];
}

/// `global_defs { … }`; several blocks (often one per included file) merge, as in keepalived.
pub(super) fn global_defs(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(children) = cx.need_block(node) else {
        return;
    };
    config.global.span.get_or_insert(node.span());
    let mut st = Global {
        config,
        lower_delay_set: false,
        lower_repeat_set: false,
    };
    for n in children {
        super::dispatch(cx, Context::GlobalDefs, Global::TABLE, n, &mut st);
    }
}

type S<'s, 'b> = &'s mut Global<'b>;

fn anycast(cx: &mut Ctx, n: &Node, s: S) {
    super::anycast::global_keyword(cx, n, &mut s.config.anycast);
}
fn nft(cx: &mut Ctx, n: &Node, s: S) {
    super::nft::global_keyword(cx, n, &mut s.config.nft);
}
fn process(cx: &mut Ctx, n: &Node, s: S) {
    super::process::global_keyword(cx, n, &mut s.config.process);
}
fn auto_priority(cx: &mut Ctx, n: &Node, s: S) {
    super::vrrp_extra::auto_priority_keyword(cx, n, &mut s.config.process);
}
fn vrrp_garp_extra_if(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = super::vrrp_extra::garp_extra_if(cx, n, 1) {
        s.g().garp.extra_if = v;
    }
}
fn router_id(cx: &mut Ctx, n: &Node, s: S) {
    s.g().router_id = cx.string(n);
}
fn notification_email(_: &mut Ctx, n: &Node, s: S) {
    for l in n.children() {
        let words = l.words.iter().map(|w| w.text.to_string());
        s.g().notification_email.extend(words);
    }
}
fn notification_email_from(cx: &mut Ctx, n: &Node, s: S) {
    s.g().notification_email_from = cx.string(n);
}
fn smtp_server(cx: &mut Ctx, n: &Node, s: S) {
    let h = &n.words[1];
    let host = h.text.to_string();
    let dotted = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if dotted && host.parse::<std::net::Ipv4Addr>().is_err() {
        return cx.warn(h.span, format!("invalid smtp server {host}; ignored"));
    }
    let port = match n.words.get(2) {
        Some(p) => cx.port_word(p, "smtp_server").unwrap_or(25),
        None => 25,
    };
    s.g().smtp_server = Some(SmtpServer { host, port });
}
fn smtp_helo_name(cx: &mut Ctx, n: &Node, s: S) {
    s.g().smtp_helo_name = cx.string(n);
}
fn smtp_connect_timeout(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 86_400) {
        s.g().smtp_connect_timeout = d;
    }
}
fn smtp_alert(cx: &mut Ctx, n: &Node, s: S) {
    s.g().smtp_alert = Some(cx.flag(n));
}
fn smtp_alert_vrrp(cx: &mut Ctx, n: &Node, s: S) {
    s.g().smtp_alert_vrrp = Some(cx.flag(n));
}
fn smtp_alert_checker(cx: &mut Ctx, n: &Node, s: S) {
    s.g().smtp_alert_checker = Some(cx.flag(n));
}
fn script_user(cx: &mut Ctx, n: &Node, s: S) {
    s.g().script_user = cx.user(n);
}
fn enable_script_security(cx: &mut Ctx, n: &Node, s: S) {
    s.g().enable_script_security = cx.flag(n);
}
fn default_interface(cx: &mut Ctx, n: &Node, s: S) {
    s.g().default_interface = cx.string(n);
}
fn dynamic_interfaces(_: &mut Ctx, _: &Node, s: S) {
    s.g().dynamic_interfaces = true;
}
fn vrrp_version(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 2, 3) {
        s.g().vrrp_version = v as u8;
    }
}
fn vrrp_mcast_group4(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match w.text.parse::<std::net::Ipv4Addr>() {
        Ok(a) if a.is_multicast() => s.g().vrrp_mcast_group4 = a,
        _ => cx.warn(
            w.span,
            format!("`{}` is not an IPv4 multicast address; ignored", w.text),
        ),
    }
}
fn vrrp_mcast_group6(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match w.text.parse::<std::net::Ipv6Addr>() {
        Ok(a) if a.is_multicast() => s.g().vrrp_mcast_group6 = a,
        _ => cx.warn(
            w.span,
            format!("`{}` is not an IPv6 multicast address; ignored", w.text),
        ),
    }
}
fn vrrp_garp_master_delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 255) {
        let lower = !s.lower_delay_set;
        let garp = &mut s.g().garp;
        garp.master_delay = d;
        if lower {
            garp.lower_prio_delay = d;
        }
    }
}
fn vrrp_garp_master_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        let lower = !s.lower_repeat_set;
        let garp = &mut s.g().garp;
        garp.master_repeat = v as u32;
        if lower {
            garp.lower_prio_repeat = v as u32;
        }
    }
}
fn vrrp_garp_lower_prio_delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 255) {
        s.g().garp.lower_prio_delay = d;
        s.lower_delay_set = true;
    }
}
fn vrrp_garp_lower_prio_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.g().garp.lower_prio_repeat = v as u32;
        s.lower_repeat_set = true;
    }
}
fn vrrp_garp_master_refresh(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, u32::MAX as i64) {
        s.g().garp.master_refresh = (!d.is_zero()).then_some(d);
    }
}
fn vrrp_garp_master_refresh_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.g().garp.master_refresh_repeat = v as u32;
    }
}
// keepalived rejects 0 for these two (its range starts at 1 µs) and keeps the default.
fn vrrp_garp_interval(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.timer_word(&n.words[1], n.keyword(), true) {
        s.g().garp.interval = d;
    }
}
fn vrrp_gna_interval(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.timer_word(&n.words[1], n.keyword(), true) {
        s.g().garp.gna_interval = d;
    }
}
fn vrrp_min_garp(cx: &mut Ctx, n: &Node, s: S) {
    if cx.flag(n) {
        let garp = &mut s.g().garp;
        garp.master_repeat = 1;
        garp.master_delay = Duration::ZERO;
        garp.lower_prio_repeat = 1;
        garp.lower_prio_delay = Duration::ZERO;
    }
}
fn vrrp_strict(_: &mut Ctx, _: &Node, s: S) {
    s.g().vrrp_strict = true;
}
fn vrrp_skip_check_adv_addr(cx: &mut Ctx, n: &Node, s: S) {
    s.g().vrrp_skip_check_adv_addr = cx.flag(n);
}
fn vrrp_check_unicast_src(_: &mut Ctx, _: &Node, s: S) {
    s.g().vrrp_check_unicast_src = true;
}
fn vrrp_lower_prio_no_advert(cx: &mut Ctx, n: &Node, s: S) {
    s.g().vrrp_lower_prio_no_advert = cx.flag(n);
}
fn vrrp_higher_prio_send_advert(cx: &mut Ctx, n: &Node, s: S) {
    s.g().vrrp_higher_prio_send_advert = cx.flag(n);
}
fn vrrp_down_timer_adverts(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 100) {
        s.g().vrrp_down_timer_adverts = v as u32;
    }
}
fn vrrp_startup_delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.timer(n) {
        s.g().vrrp_startup_delay = d;
    }
}
fn vrrp_notify_priority_changes(cx: &mut Ctx, n: &Node, s: S) {
    s.g().vrrp_notify_priority_changes = cx.flag(n);
}
fn vrrp_iptables(cx: &mut Ctx, n: &Node, s: S) {
    cx.warn(
        n.span(),
        "iptables not supported, using nftables instead (as keepalived 2.2.7 built with nftables): replace `vrrp_iptables` with `nftables`",
    );
    s.g().vrrp_iptables = Some(n.args().iter().map(|w| w.text.to_string()).collect());
    // keepalived then uses its nftables table, as with `nftables`.
    s.config
        .nft
        .table
        .get_or_insert_with(|| crate::nft::vrrp::DEFAULT_TABLE.into());
}
fn lvs_sync_daemon_kw(cx: &mut Ctx, n: &Node, s: S) {
    s.g().lvs_sync_daemon = lvs_sync_daemon(cx, n);
}
fn lvs_timeouts_kw(cx: &mut Ctx, n: &Node, s: S) {
    lvs_timeouts(cx, n, s.g());
}
fn lvs_flush(_: &mut Ctx, _: &Node, s: S) {
    s.g().lvs_flush = true;
}
fn lvs_flush_on_stop(_: &mut Ctx, n: &Node, s: S) {
    s.g().lvs_flush_on_stop = match n.words.get(1).map(|w| w.text.as_str()) {
        Some("VS") | Some("vs") => LvsFlushOnStop::VsOnly,
        _ => LvsFlushOnStop::Yes,
    }
}
fn fifo(cx: &mut Ctx, n: &Node, s: S) {
    notify_fifo(cx, n, s.g());
}
fn checker_log_all_failures(cx: &mut Ctx, n: &Node, s: S) {
    s.g().checker_log_all_failures = cx.flag(n);
}
fn startup_script(cx: &mut Ctx, n: &Node, s: S) {
    s.g().startup_script = cx.script(n);
}
fn shutdown_script(cx: &mut Ctx, n: &Node, s: S) {
    s.g().shutdown_script = cx.script(n);
}
fn startup_script_timeout(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 1000) {
        s.g().startup_script_timeout = d;
    }
}
fn shutdown_script_timeout(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 1000) {
        s.g().shutdown_script_timeout = d;
    }
}
