//! `vrrp_instance NAME { … }`: its keyword table and one small handler per keyword.
//!
//! Adding a keyword: one [`kw`] entry in [`TABLE`] (name, what it takes, one line of doc,
//! handler) and the handler below, which sets the field of [`Instance`] or [`VrrpInstance`]
//! it models. The dispatch ([`super::dispatch`]) has already checked the arity, noted a
//! not-acting keyword and reported unknown ones with a did-you-mean.

use std::time::Duration;

use super::Ctx;
use super::values::parse_seconds;
use super::vrrp::{self, Owner, Pending, Seen};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, ignored, kw};
use crate::config::model::{Config, Family, GarpTimers, InitialState, Span, VrrpInstance};
use crate::config::parser::Node;

/// What the handlers fill in while the instance's lines are read.
pub(in crate::config) struct Instance<'b> {
    config: &'b mut Config,
    pending: &'b mut Pending,
    idx: usize,
    vi: VrrpInstance,
    vrid: Option<(u8, Span)>,
    /// An invalid `virtual_router_id` was reported (no second "missing" warning).
    vrid_reported: bool,
    version: Option<u8>,
    strict: Option<bool>,
    accept: Option<bool>,
    smtp_alert: Option<bool>,
    nopreempt_span: Option<Span>,
    seen: Seen,
    vmac_mac: Option<Vec<u8>>,
    /// The `use_ipvlan` line, for the checks at the end of the block.
    ipvlan_span: Option<Span>,
    /// From the global timers; an instance's `garp_master_*` leaves the lower-priority ones.
    garp: GarpTimers,
}

const ABSENT: &str = "the instance behaves as if this line were absent";

use Arity::{Block, One, Rest};

type E<'b> = Entry<Instance<'b>>;

impl<'b> Instance<'b> {
    /// Every keyword of a vrrp_instance, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &'b [E<'b>] = &[
        kw("state", One("MASTER or BACKUP"), "initial state", state),
        kw("track_bfd", Block, "bfd_instance sessions that move the priority or fault the instance", track_bfd),
        kw("interface", One("an interface name"), "the interface VRRP runs on", interface),
        kw("use_vmac", Arity::None, "send and receive on a macvlan with the virtual MAC (optional name, MAC)", use_vmac),
        kw("vmac_xmit_base", Arity::None, "send adverts from the base interface, not the vmac", vmac_xmit_base),
        kw("dont_track_primary", Arity::None, "a fault of the interface does not fault the instance", dont_track_primary),
        kw("virtual_router_id", One("a number 1..255"), "the VRID (1..255)", virtual_router_id),
        kw("priority", One("a number 1..255"), "the priority (1..255; 255 owns the addresses)", priority),
        kw("advert_int", One("seconds"), "seconds between adverts (0.01..255)", advert_int),
        kw("version", One("a number"), "VRRP version 2 or 3", version),
        kw("authentication", Block, "VRRPv2 `auth_type` (PASS or AH) and `auth_pass`", authentication),
        kw("virtual_ipaddress", Block, "the addresses the master holds", virtual_ipaddress),
        kw("virtual_ipaddress_excluded", Block, "addresses the master holds that adverts do not carry", virtual_ipaddress_excluded),
        kw("virtual_routes", Block, "routes the master installs", virtual_routes),
        kw("virtual_rules", Block, "policy rules the master installs", virtual_rules),
        kw("nopreempt", Arity::None, "a higher priority does not take over from a running master", nopreempt),
        kw("preempt", Arity::None, "cancels `nopreempt`", preempt),
        kw("preempt_delay", Rest, "seconds after start-up before preempting (0..1000)", preempt_delay),
        kw("unicast_src_ip", Rest, "source address of unicast adverts", unicast_src_ip),
        kw("unicast_peer", Rest, "`{ ADDR [min_ttl N] [max_ttl N] … }`: send adverts to these peers", unicast_peer),
        kw("unicast_ttl", Rest, "TTL of unicast adverts", unicast_ttl),
        kw("unicast_fault_no_peer", Arity::None, "without a unicast_peer the instance stays in FAULT", unicast_fault_no_peer),
        kw("mcast_src_ip", One("an IP address"), "source address of multicast adverts", mcast_src_ip),
        kw("mcast_dst_ip", One("an IP address"), "multicast group of the adverts", mcast_dst_ip),
        kw("track_src_ip", Arity::None, "FAULT while the configured source address is not on the host", track_src_ip),
        kw("check_unicast_src", Arity::None, "drop unicast adverts whose source is not a unicast_peer", check_unicast_src),
        kw("track_interface", Block, "interfaces whose state moves the priority or faults the instance", track),
        kw("track_script", Block, "vrrp_scripts whose result moves the priority or faults the instance", track),
        kw("track_file", Block, "track_files whose value moves the priority or faults the instance", track),
        kw("track_process", Block, "vrrp_track_process blocks that move the priority or fault the instance", track_process),
        kw("linkbeat_use_polling", Arity::None, "deprecated: poll the interface's link state", linkbeat_use_polling),
        kw("notify_master", One("a script path"), "script run on becoming master", notify_master),
        kw("notify_backup", One("a script path"), "script run on becoming backup", notify_backup),
        kw("notify_fault", One("a script path"), "script run on entering fault", notify_fault),
        kw("notify_stop", One("a script path"), "script run when the instance stops", notify_stop),
        kw("notify_deleted", Arity::None, "script (optional) run when a reload removes the instance", notify_deleted),
        kw("notify", One("a script path"), "script run on every state change, with the state as argument", notify),
        kw("notify_master_rx_lower_pri", One("a script path"), "script run when the master receives a lower-priority advert", notify_master_rx_lower_pri),
        kw("notify_priority_changes", Arity::None, "its priority changes go to the notify FIFOs (`MASTER_PRIORITY N`)", notify_priority_changes),
        kw("smtp_alert", Arity::None, "", smtp_alert).not_acting(ABSENT),
        kw("garp_master_delay", One("a number"), "seconds after becoming master before the second gratuitous ARPs", garp_master_delay),
        kw("garp_master_repeat", One("a number"), "gratuitous ARPs sent per address on becoming master", garp_master_repeat),
        kw("garp_lower_prio_delay", One("a number"), "seconds before gratuitous ARPs after a lower-priority advert", garp_lower_prio_delay),
        kw("garp_lower_prio_repeat", One("a number"), "gratuitous ARPs sent after a lower-priority advert", garp_lower_prio_repeat),
        kw("garp_master_refresh", One("a number"), "seconds between repeated gratuitous ARPs while master (0: off)", garp_master_refresh),
        kw("garp_master_refresh_repeat", One("a number"), "gratuitous ARPs per refresh", garp_master_refresh_repeat),
        kw("down_timer_adverts", One("a number"), "adverts missed before Master_Down (default 3)", down_timer_adverts),
        kw("lower_prio_no_advert", Arity::None, "a master does not answer a lower-priority advert", lower_prio_no_advert),
        kw("higher_prio_send_advert", Arity::None, "a master sends one advert before yielding to a higher priority", higher_prio_send_advert),
        kw("accept", Arity::None, "the master accepts packets to the virtual addresses", accept),
        kw("no_accept", Arity::None, "the master drops packets to the virtual addresses", no_accept),
        kw("strict_mode", Arity::None, "RFC-strict checks of adverts and configuration", strict_mode),
        kw("skip_check_adv_addr", Arity::None, "adverts from the current master skip the address-list check", skip_check_adv_addr),
        kw("old_unicast_checksum", Arity::None, "VRRPv3 unicast checksum as keepalived < 1.3.6 computed it", old_unicast_checksum),
        kw("promote_secondaries", Arity::None, "set promote_secondaries on the interface (restored at stop)", promote_secondaries),
        kw("lvs_sync_daemon_interface", One("an interface"), "deprecated: global_defs' `lvs_sync_daemon` for this instance", lvs_sync_daemon_interface),
        kw("native_ipv6", Arity::None, "deprecated: the instance is IPv6", native_ipv6),
        kw("kernel_rx_buf_size", One("a number"), "receive buffer of the instance's socket", kernel_rx_buf_size),
        kw("vrf", One("a VRF device"), "without `interface`: the VRF whose routing table the unicast adverts use", vrf),
        kw("use_vmac_addr", Arity::None, "VMACs hold the VIPs on other interfaces and the eVIPs of the other address family", use_vmac_addr),
        kw("use_ipvlan", Rest, "`[NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]`: adverts go over an ipvlan the instance creates", use_ipvlan),
        kw("garp_extra_if", Rest, "`[all] SECS`: repeat gratuitous ARPs for VIPs on other interfaces while master (0: off)", garp_extra_if),
        ignored("debug", "the setting has no effect"),
    ];
}

/// `vrrp_instance NAME { … }`.
pub(super) fn instance(cx: &mut Ctx, node: &Node, config: &mut Config, pending: &mut Pending) {
    let Some(name_w) = cx.arg(node, 1, "a name") else {
        return;
    };
    let name = name_w.text.to_string();
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let gl = &config.global;
    let mut st = Instance {
        idx: config.vrrp_instances.len(),
        vi: vrrp::new_instance(&name, node.span(), gl),
        garp: gl.garp.clone(),
        config,
        pending,
        vrid: None,
        vrid_reported: false,
        version: None,
        strict: None,
        accept: None,
        smtp_alert: None,
        nopreempt_span: None,
        seen: Seen::default(),
        vmac_mac: None,
        ipvlan_span: None,
    };
    for n in children {
        super::dispatch(cx, Context::VrrpInstance, Instance::TABLE, n, &mut st);
    }
    finish(cx, node, st);
}

/// keepalived's end-of-instance checks and defaults; the instance is kept if it has a VRID.
fn finish(cx: &mut Ctx, node: &Node, st: Instance) {
    let Instance { config, mut vi, .. } = st;
    let name = vi.name.clone();
    let strict_now = st.strict.unwrap_or(vi.strict_mode);
    no_interface_checks(cx, node, &mut vi);
    // keepalived applies strict mode's "MASTER must be the address owner" first.
    let master = vi.state == InitialState::Master && !(strict_now && vi.priority != 255);
    st.seen.check(cx, &mut vi, master, vrrp::close_span(node));
    if vi.nopreempt && master {
        cx.warn(
            st.nopreempt_span.unwrap_or(node.span()),
            format!(
                "({name}) nopreempt will not work with initial state MASTER; nopreempt cleared"
            ),
        );
        vi.nopreempt = false;
    }
    let Some((id, span)) = st.vrid else {
        if !st.vrid_reported {
            cx.skip(
                node.span(),
                format!("vrrp_instance {name} has no `virtual_router_id` (1..255)"),
            );
        }
        return;
    };
    vi.virtual_router_id = id;
    vi.virtual_router_id_span = span;
    vi.garp = st.garp;
    vi.strict_mode = st.strict.unwrap_or(vi.strict_mode);
    vi.accept = st.accept.unwrap_or(!vi.strict_mode);
    let gl = &config.global;
    vi.smtp_alert = st
        .smtp_alert
        .or(gl.smtp_alert_vrrp)
        .or(gl.smtp_alert)
        .unwrap_or(false);
    // Family: from the first VIP, else a configured source address.
    if let Some(first) = vi
        .virtual_ipaddress
        .first()
        .map(|a| a.addr)
        .or(vi.unicast_src_ip)
        .or(vi.mcast_src_ip)
        .or(vi.unicast_peers.first().map(|p| p.addr))
    {
        vi.family = Family::of(&first);
    }
    vi.version = match (vi.family, st.version) {
        (Family::Inet6, _) => 3,
        (Family::Inet, Some(v)) => v,
        (Family::Inet, None) => gl.vrrp_version,
    };
    vi.use_vmac_mac = st.vmac_mac.map(|m| super::vmac_mac::complete(&m, id));
    if vi.use_vmac.as_deref() == Some("") {
        vi.use_vmac = Some(format!("vrrp.{id}"));
    }
    super::ipvlan::finish(cx, &mut vi, st.ipvlan_span);
    config.vrrp_instances.push(vi);
}

/// What keepalived clears at the end of an instance about `interface`: a `vrf` given before
/// it, a VMAC or ipvlan without it (they are made on the interface).
fn no_interface_checks(cx: &mut Ctx, node: &Node, vi: &mut VrrpInstance) {
    let name = vi.name.clone();
    if vi.interface.is_some()
        && let Some(v) = vi.vrf.take()
    {
        cx.warn(
            vi.vrf_span.take().unwrap_or(node.span()),
            format!("({name}) vrf {v} applies only to an instance without `interface`; cleared"),
        );
    }
    if vi.interface.is_none()
        && !vi.unicast_peers.is_empty()
        && (vi.use_vmac.is_some() || vi.use_ipvlan.is_some())
    {
        cx.warn(
            vrrp::close_span(node),
            format!("({name}) a VMAC or ipvlan needs `interface` (this instance has unicast peers and none); cleared"),
        );
        vi.use_vmac = None;
        vi.use_ipvlan = None;
    }
}

type S<'s, 'b> = &'s mut Instance<'b>;

fn state(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match w.text.to_ascii_uppercase().as_str() {
        "MASTER" => s.vi.state = InitialState::Master,
        "BACKUP" => s.vi.state = InitialState::Backup,
        _ => cx.warn(
            w.span,
            format!(
                "unknown state `{}` (MASTER or BACKUP); using BACKUP",
                w.text
            ),
        ),
    }
}

fn track_bfd(cx: &mut Ctx, n: &Node, s: S) {
    let t = super::bfd::track_bfd(cx, n, &s.vi.name, s.config);
    s.vi.track_bfds.extend(t);
}

fn interface(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    if w.text == "lo" {
        let name = &s.vi.name;
        cx.warn(
            w.span,
            format!("({name}) cannot use a loopback interface (lo) for vrrp; ignored"),
        );
    } else {
        s.vi.interface = Some(w.text.to_string());
        s.vi.interface_span = Some(w.span);
    }
}

/// keepalived.conf(5): only an instance without `interface` operates in a VRF; keepalived
/// ignores a `vrf` after `interface` (and clears one before it, see [`finish`]).
fn vrf(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    if s.vi.interface.is_some() {
        let name = &s.vi.name;
        cx.warn(
            w.span,
            format!(
                "({name}) vrf {} cannot be combined with `interface`; ignored",
                w.text
            ),
        );
    } else {
        s.vi.vrf = Some(w.text.to_string());
        s.vi.vrf_span = Some(w.span);
    }
}

fn use_vmac(cx: &mut Ctx, n: &Node, s: S) {
    let name = n
        .words
        .get(1)
        .filter(|w| !w.text.contains(':'))
        .map(|w| w.text.to_string());
    s.vi.use_vmac = Some(name.unwrap_or_default());
    if let Some(w) = n.words.iter().skip(1).find(|w| w.text.contains(':')) {
        match super::vmac_mac::parse(&w.text) {
            Some(m) => s.vmac_mac = Some(m),
            None => cx.warn(
                w.span,
                format!("use_vmac: invalid MAC address `{}`; ignored", w.text),
            ),
        }
    }
}

fn vmac_xmit_base(_: &mut Ctx, n: &Node, s: S) {
    s.vi.vmac_xmit_base = true;
    s.seen.vmac_xmit_base = Some(n.span());
}

fn dont_track_primary(_: &mut Ctx, _: &Node, s: S) {
    s.vi.dont_track_primary = true;
}

fn virtual_router_id(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match w.text.parse::<i64>() {
        Ok(v) if (1..=255).contains(&v) => s.vrid = Some((v as u8, w.span)),
        _ => {
            s.vrid_reported = true;
            cx.skip(
                w.span,
                format!(
                    "virtual_router_id `{}` is invalid: it must be 1..255",
                    w.text
                ),
            )
        }
    }
}

fn priority(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match w.text.parse::<i64>() {
        Ok(v) if (1..=255).contains(&v) => {
            s.vi.priority = v as u8;
            s.vi.priority_span = Some(w.span);
        }
        _ => cx.warn(
            w.span,
            format!(
                "priority `{}` is invalid: it must be 1..255; using 100",
                w.text
            ),
        ),
    }
}

fn advert_int(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1];
    match parse_seconds(&w.text) {
        Some(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(255) => {
            s.vi.advert_int = d
        }
        _ => cx.warn(
            w.span,
            format!(
                "advert_int `{}` is invalid (0.01..255 seconds); using 1",
                w.text
            ),
        ),
    }
}

fn version(cx: &mut Ctx, n: &Node, s: S) {
    s.version = cx.int(n, 2, 3).map(|v| v as u8);
}

fn authentication(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.authentication = vrrp::authentication(cx, n);
}

fn addresses(cx: &mut Ctx, n: &Node) -> Vec<crate::config::model::VirtualAddress> {
    n.children()
        .iter()
        .filter_map(|l| vrrp::virtual_address(cx, l))
        .collect()
}

fn virtual_ipaddress(cx: &mut Ctx, n: &Node, s: S) {
    let a = addresses(cx, n);
    s.vi.virtual_ipaddress.extend(a);
}

fn virtual_ipaddress_excluded(cx: &mut Ctx, n: &Node, s: S) {
    let a = addresses(cx, n);
    s.vi.virtual_ipaddress_excluded.extend(a);
}

fn virtual_routes(cx: &mut Ctx, n: &Node, s: S) {
    let r = n
        .children()
        .iter()
        .filter_map(|l| super::routes::route(cx, l));
    s.vi.virtual_routes.extend(r.collect::<Vec<_>>());
}

fn virtual_rules(cx: &mut Ctx, n: &Node, s: S) {
    let r = n
        .children()
        .iter()
        .filter_map(|l| super::routes::rule(cx, l));
    s.vi.virtual_rules.extend(r.collect::<Vec<_>>());
}

fn nopreempt(_: &mut Ctx, n: &Node, s: S) {
    s.vi.nopreempt = true;
    s.nopreempt_span = Some(n.span());
}

fn preempt(_: &mut Ctx, _: &Node, s: S) {
    s.vi.nopreempt = false;
}

fn preempt_delay(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.preempt_delay = Some(n.span());
    if let Some(w) = cx.arg(n, 1, "seconds") {
        match parse_seconds(&w.text) {
            Some(d) if d <= Duration::from_secs(1000) => s.vi.preempt_delay = d,
            _ => cx.warn(
                w.span,
                format!(
                    "preempt_delay `{}` is invalid (0..1000 seconds); ignored",
                    w.text
                ),
            ),
        }
    }
}

fn unicast_src_ip(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.unicast_keyword.get_or_insert(n.span());
    s.vi.unicast_src_ip = cx.ip(n);
}

fn unicast_peer(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.unicast_keyword.get_or_insert(n.span());
    let Some(lines) = cx.need_block(n) else {
        return;
    };
    for l in lines {
        if let Some(p) = vrrp::unicast_peer(cx, l) {
            if p.min_ttl.is_some() || p.max_ttl.is_some() {
                s.vi.check_unicast_src = true;
            }
            s.vi.unicast_peers.push(p);
        }
    }
}

fn unicast_ttl(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.unicast_ttl = Some(n.span());
    s.vi.unicast_ttl = cx.int(n, 0, 255).map(|v| v as u8);
}

fn unicast_fault_no_peer(_: &mut Ctx, _: &Node, s: S) {
    s.vi.unicast_fault_no_peer = true;
}

fn mcast_src_ip(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.mcast_src_ip = cx.ip(n);
}

fn mcast_dst_ip(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(a) = cx.ip(n) {
        if a.is_multicast() {
            s.vi.mcast_dst_ip = Some(a);
        } else {
            cx.warn(
                n.words[1].span,
                format!("mcast_dst_ip {a} is not a multicast address; ignored"),
            );
        }
    }
}

fn track_src_ip(_: &mut Ctx, _: &Node, s: S) {
    s.vi.track_src_ip = true;
}

fn check_unicast_src(_: &mut Ctx, n: &Node, s: S) {
    s.seen.unicast_keyword.get_or_insert(n.span());
    s.vi.check_unicast_src = true;
}

/// `track_interface`, `track_script`, `track_file`.
fn track(cx: &mut Ctx, n: &Node, s: S) {
    let owner = Owner::Instance(s.idx);
    vrrp::track(cx, n, owner, &mut s.vi.track_interfaces, s.pending);
}

fn track_process(cx: &mut Ctx, n: &Node, s: S) {
    let t = super::track_process::lines(cx, n, &s.vi.name);
    s.vi.track_processes.extend(t);
}

fn linkbeat_use_polling(cx: &mut Ctx, n: &Node, s: S) {
    let name = &s.vi.name;
    cx.warn(
        n.span(),
        format!("({name}) `linkbeat_use_polling` in a vrrp_instance is deprecated; use a linkbeat_interfaces block"),
    );
    s.vi.linkbeat_use_polling = true;
}

fn notify_master(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.master = cx.script(n);
}
fn notify_backup(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.backup = cx.script(n);
}
fn notify_fault(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.fault = cx.script(n);
}
fn notify_stop(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.stop = cx.script(n);
}
fn notify(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.any = cx.script(n);
}
fn notify_master_rx_lower_pri(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.master_rx_lower_pri = cx.script(n);
}
fn notify_deleted(cx: &mut Ctx, n: &Node, s: S) {
    let script = if n.words.len() > 1 {
        cx.script(n)
    } else {
        None
    };
    s.vi.notify.deleted = Some(script);
}
fn notify_priority_changes(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.notify.priority_changes = cx.flag(n);
    // Its own setting wins over its sync group's (vrrp::resolve).
    s.pending.own_priority_changes.push(s.vi.name.clone());
}

fn smtp_alert(cx: &mut Ctx, n: &Node, s: S) {
    s.smtp_alert = Some(cx.flag(n));
}

fn garp_master_delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 255) {
        s.garp.master_delay = d;
    }
}
fn garp_master_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.garp.master_repeat = v as u32;
    }
}
fn garp_lower_prio_delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, 255) {
        s.garp.lower_prio_delay = d;
    }
}
fn garp_lower_prio_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.garp.lower_prio_repeat = v as u32;
    }
}
fn garp_master_refresh(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.secs(n, u32::MAX as i64) {
        s.garp.master_refresh = (!d.is_zero()).then_some(d);
    }
}
fn garp_master_refresh_repeat(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.garp.master_refresh_repeat = v as u32;
    }
}

fn down_timer_adverts(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 100) {
        s.vi.down_timer_adverts = v as u32;
    }
}
fn lower_prio_no_advert(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.lower_prio_no_advert = cx.flag(n);
}
fn higher_prio_send_advert(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.higher_prio_send_advert = cx.flag(n);
}
fn accept(_: &mut Ctx, _: &Node, s: S) {
    s.accept = Some(true);
}
fn no_accept(_: &mut Ctx, _: &Node, s: S) {
    s.accept = Some(false);
}
fn strict_mode(cx: &mut Ctx, n: &Node, s: S) {
    s.strict = Some(cx.flag(n));
}
fn skip_check_adv_addr(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.skip_check_adv_addr = cx.flag(n);
}
fn old_unicast_checksum(_: &mut Ctx, n: &Node, s: S) {
    s.seen.unicast_keyword.get_or_insert(n.span());
    s.vi.v3_checksum_as_v2 = n.words.get(1).is_none_or(|w| w.text != "never");
}
fn use_ipvlan(cx: &mut Ctx, n: &Node, s: S) {
    s.ipvlan_span = Some(n.span());
    s.vi.use_ipvlan = Some(super::ipvlan::parse(cx, n, &s.vi.name));
}
fn use_vmac_addr(_: &mut Ctx, _: &Node, s: S) {
    s.vi.use_vmac_addr = true;
}
fn garp_extra_if(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = super::vrrp_extra::garp_extra_if(cx, n, 0) {
        s.garp.extra_if = v;
    }
}
fn promote_secondaries(_: &mut Ctx, _: &Node, s: S) {
    s.vi.promote_secondaries = true;
}
fn lvs_sync_daemon_interface(cx: &mut Ctx, n: &Node, s: S) {
    vrrp::lvs_sync_daemon_interface(cx, n, &mut s.vi, s.config);
}
fn native_ipv6(cx: &mut Ctx, n: &Node, s: S) {
    cx.warn(
        n.span(),
        "`native_ipv6` is deprecated: the addresses decide the family",
    );
    s.vi.family = Family::Inet6;
}
fn kernel_rx_buf_size(cx: &mut Ctx, n: &Node, s: S) {
    s.vi.kernel_rx_buf_size = cx.int(n, 1, i64::from(i32::MAX)).map(|v| v as u32);
}
