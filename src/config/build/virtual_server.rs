//! `virtual_server … { … }` and its `real_server … { … }`: their keyword tables and one small
//! handler per keyword.
//!
//! Block-level options are read before nested blocks whatever their order in the file (a
//! `delay_loop` after the real servers still reaches their checkers, as in keepalived): the
//! `real_server` and checker handlers only note where their block is, and the driver builds
//! those once the options are known.

use std::net::IpAddr;
use std::time::Duration;

use super::Ctx;
use super::checker::Inherit;
use super::lvs::{VsSeen, forward};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, ignored, kw};
use crate::config::model::{
    Config, Family, Persistence, Protocol, RealServer, Scheduler, Span, VirtualServer,
};
use crate::config::parser::Node;

/// What the handlers of a virtual_server fill in.
pub(in crate::config) struct Vs {
    pub(super) vs: VirtualServer,
    pub(super) inherit: Inherit,
    pub(super) smtp_alert: Option<bool>,
    pub(super) granularity: Option<String>,
    pub(super) ip_family: Option<Family>,
    pub(super) sorry: Option<(IpAddr, Option<u16>, Span)>,
    pub(super) sorry_forward: Option<crate::config::model::Forward>,
    pub(super) sorry_inhibit: bool,
    /// Positions of the `real_server` blocks among the children.
    pub(super) reals: Vec<usize>,
    /// Position of the line being handled.
    pub(super) at: usize,
    pub(super) seen: VsSeen,
}

use Arity::{One, Rest};

const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

impl Vs {
    /// Every keyword of a virtual_server, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Vs>] = &[
        kw("lvs_sched", Rest, "IPVS scheduler (rr, wrr, lc, wlc, sh, mh…)", lvs_sched).aliases(&["lb_algo"]),
        // The kernel's bits: fallback is SCHED1, port is SCHED2 (linux/ip_vs.h).
        kw("flag-1", Arity::None, "scheduler flag 1 (sh/mh fallback)", flag_1).aliases(&["sh-fallback", "mh-fallback"]),
        kw("flag-2", Arity::None, "scheduler flag 2 (sh/mh port)", flag_2).aliases(&["sh-port", "mh-port"]),
        kw("flag-3", Arity::None, "scheduler flag 3", flag_3),
        kw("ops", Arity::None, "one-packet scheduling (UDP)", ops),
        kw("lvs_method", Rest, "forwarding method: NAT, DR or TUN", lvs_method).aliases(&["lb_kind"]),
        kw("persistence_engine", One("a value"), "IPVS persistence engine (sip)", persistence_engine),
        kw("persistence_timeout", Arity::None, "seconds a client sticks to its real server (default 360)", persistence_timeout),
        kw("persistence_granularity", One("a value"), "netmask clients are grouped by for persistence", persistence_granularity),
        kw("protocol", Rest, "TCP, UDP or SCTP", protocol),
        kw("ha_suspend", Arity::None, "the service exists only while its address is local", ha_suspend),
        kw("smtp_alert", Arity::None, "", smtp_alert).not_acting("the virtual server behaves as if this line were absent"),
        kw("virtualhost", One("a value"), "Host header of the HTTP checkers", virtualhost),
        kw("alpha", Rest, "real servers start down until their checkers pass", inherit),
        kw("omega", Arity::None, "quorum_down also runs at shutdown", omega),
        kw("quorum", Rest, "total weight of healthy real servers the service needs", quorum),
        kw("hysteresis", Rest, "weight margin around the quorum", hysteresis),
        kw("quorum_up", One("a script path"), "script run when the quorum is gained", quorum_up),
        kw("quorum_down", One("a script path"), "script run when the quorum is lost", quorum_down),
        kw("ip_family", Rest, "inet or inet6 (fwmark and group services)", ip_family),
        kw("sorry_server", One("an address"), "server used while no real server is up", sorry_server),
        kw("sorry_server_inhibit", Rest, "the sorry server is set to weight 0 rather than removed", sorry_server_inhibit),
        kw("sorry_server_lvs_method", Rest, "forwarding method of the sorry server", sorry_server_lvs_method),
        kw("connect_timeout", Rest, "default connect timeout of the checkers", inherit),
        kw("retry", Rest, "default retries of the checkers", inherit).aliases(&["nb_get_retry"]),
        kw("delay_before_retry", Rest, "default delay between retries", inherit),
        kw("warmup", Rest, "default random delay before a checker's first check", inherit),
        kw("delay_loop", Rest, "default seconds between checks", inherit),
        kw("inhibit_on_failure", Rest, "a failed real server is set to weight 0 rather than removed", inherit),
        kw("slow_start", Rest, "lvsd: seconds over which a recovered real server's weight ramps up", inherit),
        kw("real_server", Rest, "`IP [PORT] { … }`: a real server", real_server),
        // lvsd extensions (docs/anycast.md).
        kw("announce_route", Rest, "lvsd: announce the service's address while it has quorum", anycast),
        kw("anycast_quiesce", Rest, "lvsd: mh services quiesce rather than delete real servers", anycast),
        ignored("snmp_name", "there is no SNMP agent; the name is not published"),
    ];
}

/// The lines of a virtual_server block, through its table.
pub(super) fn read(cx: &mut Ctx, children: &[Node], st: &mut Vs) {
    for (i, n) in children.iter().enumerate() {
        st.at = i;
        super::dispatch(cx, Context::VirtualServer, Vs::TABLE, n, st);
    }
}

type S<'s> = &'s mut Vs;

fn inherit(cx: &mut Ctx, n: &Node, s: S) {
    s.inherit.option(cx, n);
}
fn anycast(cx: &mut Ctx, n: &Node, s: S) {
    super::anycast::virtual_server_keyword(cx, n, &mut s.vs);
}
fn real_server(_: &mut Ctx, _: &Node, s: S) {
    s.reals.push(s.at);
}
fn lvs_sched(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.scheduler = true;
    let Some(w) = cx.arg(n, 1, "a scheduler name") else {
        return;
    };
    match Scheduler::from_name(&w.text) {
        Some(sched) => s.vs.scheduler = sched,
        None => {
            let msg = format!(
                "unknown scheduler `{}`; using wlc, as keepalived does",
                w.text
            );
            match crate::config::keywords::suggest(&w.text, SCHEDULERS.into_iter()) {
                Some(m) => cx.warn_note(w.span, msg, format!("help: did you mean `{m}`?")),
                None => cx.warn_note(
                    w.span,
                    msg,
                    "note: schedulers are rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos",
                ),
            }
        }
    }
}
fn flag_1(_: &mut Ctx, n: &Node, s: S) {
    s.seen.sched_flags.push((n.keyword().to_string(), n.span()));
    s.vs.sched_flags.flag_1 = true;
}
fn flag_2(_: &mut Ctx, n: &Node, s: S) {
    s.seen.sched_flags.push((n.keyword().to_string(), n.span()));
    s.vs.sched_flags.flag_2 = true;
}
fn flag_3(_: &mut Ctx, _: &Node, s: S) {
    s.vs.sched_flags.flag_3 = true;
}
fn ops(_: &mut Ctx, _: &Node, s: S) {
    s.vs.ops = true;
}
fn lvs_method(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.forward = true;
    if let Some(f) = forward(cx, n) {
        s.vs.forward = f;
    }
}
fn persistence_engine(cx: &mut Ctx, n: &Node, s: S) {
    s.vs.persistence_engine = cx.string(n);
}
fn persistence_timeout(cx: &mut Ctx, n: &Node, s: S) {
    let timeout = match n.words.get(1) {
        None => Some(Duration::from_secs(360)),
        Some(w) => cx
            .int_word(w, n.keyword(), 1, u32::MAX as i64)
            .map(|v| Duration::from_secs(v as u64)),
    };
    if let Some(timeout) = timeout {
        s.vs.persistence = Some(Persistence {
            timeout,
            granularity: None,
        });
    }
}
fn persistence_granularity(cx: &mut Ctx, n: &Node, s: S) {
    s.granularity = cx.string(n);
}
fn protocol(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.protocol = Some(n.span());
    let Some(w) = cx.arg(n, 1, "TCP, UDP or SCTP") else {
        return;
    };
    match w.text.to_ascii_uppercase().as_str() {
        "TCP" => s.vs.protocol = Protocol::Tcp,
        "UDP" => s.vs.protocol = Protocol::Udp,
        "SCTP" => s.vs.protocol = Protocol::Sctp,
        _ => cx.warn(
            w.span,
            format!(
                "unknown protocol `{}` (TCP, UDP or SCTP); using TCP",
                w.text
            ),
        ),
    }
}
fn ha_suspend(cx: &mut Ctx, n: &Node, s: S) {
    match s.vs.address {
        // keepalived clears it too: a fwmark service has no address to wait for.
        crate::config::model::VsAddress::Fwmark { .. } => cx.warn(
            n.span(),
            "cannot use ha_suspend with fwmarks - clearing ha_suspend",
        ),
        _ => s.vs.ha_suspend = true,
    }
}
fn smtp_alert(cx: &mut Ctx, n: &Node, s: S) {
    s.smtp_alert = Some(cx.flag(n));
}
fn virtualhost(cx: &mut Ctx, n: &Node, s: S) {
    s.vs.virtualhost = cx.string(n);
}
fn omega(_: &mut Ctx, _: &Node, s: S) {
    s.vs.omega = true;
}
fn quorum(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.quorum = Some(n.span());
    s.vs.quorum = cx.u32_arg(n).unwrap_or(s.vs.quorum);
}
fn hysteresis(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.hysteresis = Some(n.span());
    s.vs.hysteresis = cx.u32_arg(n).unwrap_or(s.vs.hysteresis);
}
fn quorum_up(cx: &mut Ctx, n: &Node, s: S) {
    s.vs.quorum_up = cx.script(n);
}
fn quorum_down(cx: &mut Ctx, n: &Node, s: S) {
    s.vs.quorum_down = cx.script(n);
}
fn ip_family(cx: &mut Ctx, n: &Node, s: S) {
    s.seen.ip_family = Some(n.span());
    match cx.string(n).as_deref() {
        Some("inet") => s.ip_family = Some(Family::Inet),
        Some("inet6") => s.ip_family = Some(Family::Inet6),
        Some(other) => cx.warn(
            n.words[1].span,
            format!("unknown ip_family `{other}` (inet or inet6)"),
        ),
        None => {}
    }
}
fn sorry_server(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(a) = cx.ip_word(&n.words[1], "sorry_server") {
        let port = n.words.get(2).and_then(|p| cx.port_word(p, "sorry_server"));
        s.sorry = Some((a, port, n.span()));
    }
}
fn sorry_server_inhibit(cx: &mut Ctx, n: &Node, s: S) {
    if s.sorry.is_none() {
        s.seen.sorry_before.push(("sorry_server_inhibit", n.span()));
    }
    s.sorry_inhibit = cx.flag(n);
}
fn sorry_server_lvs_method(cx: &mut Ctx, n: &Node, s: S) {
    if s.sorry.is_none() {
        s.seen
            .sorry_before
            .push(("sorry_server_lvs_method", n.span()));
    }
    s.sorry_forward = forward(cx, n);
}

/// What the handlers of a real_server fill in.
pub(in crate::config) struct Rs<'b> {
    pub(super) rs: RealServer,
    pub(super) inherit: Inherit,
    pub(super) smtp_alert: Option<bool>,
    /// Positions of the checker blocks among the children.
    pub(super) checks: Vec<usize>,
    pub(super) at: usize,
    pub(super) config: &'b Config,
}

type R<'b> = Entry<Rs<'b>>;

impl<'b> Rs<'b> {
    /// Every keyword of a real_server, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &'b [R<'b>] = &[
        kw("weight", One("a number"), "IPVS weight (0..65535)", weight),
        kw("BFD_CHECK", Rest, "`{ name NAME }`: the real server follows a bfd_instance", bfd_check),
        kw("lvs_method", Rest, "forwarding method of this real server", rs_lvs_method),
        kw("notify_up", One("a script path"), "script run when the real server comes up", notify_up),
        kw("notify_down", One("a script path"), "script run when the real server goes down", notify_down),
        kw("uthreshold", One("a number"), "IPVS upper connection threshold", uthreshold),
        kw("lthreshold", One("a number"), "IPVS lower connection threshold", lthreshold),
        kw("smtp_alert", Arity::None, "", rs_smtp_alert).not_acting("lvsd sends no e-mail"),
        kw("virtualhost", One("a value"), "Host header of its HTTP checkers", rs_virtualhost),
        kw("alpha", Rest, "starts down until its checkers pass", rs_inherit),
        kw("connect_timeout", Rest, "default connect timeout of its checkers", rs_inherit),
        kw("retry", Rest, "default retries of its checkers", rs_inherit).aliases(&["nb_get_retry"]),
        kw("delay_before_retry", Rest, "default delay between retries", rs_inherit),
        kw("warmup", Rest, "default random delay before a checker's first check", rs_inherit),
        kw("delay_loop", Rest, "default seconds between checks", rs_inherit),
        kw("inhibit_on_failure", Rest, "set to weight 0 rather than removed when it fails", rs_inherit),
        kw("slow_start", Rest, "lvsd: seconds over which its weight ramps up after recovery", rs_inherit),
        kw("HTTP_GET", Rest, "HTTP checker", check),
        kw("SSL_GET", Rest, "HTTPS checker", check),
        kw("TCP_CHECK", Rest, "TCP connect checker", check),
        kw("SMTP_CHECK", Rest, "SMTP checker", check),
        kw("DNS_CHECK", Rest, "DNS query checker", check),
        kw("MISC_CHECK", Rest, "script checker", check),
        kw("UDP_CHECK", Rest, "UDP checker", check),
        kw("PING_CHECK", Rest, "ICMP echo checker", check),
        kw("FILE_CHECK", Rest, "track_file checker", check),
        kw("GRPC_CHECK", Rest, "lvsd: gRPC health checker", check),
        ignored("snmp_name", "there is no SNMP agent; the name is not published"),
    ];
}

/// The lines of a real_server block, through its table.
pub(super) fn read_rs(cx: &mut Ctx, children: &[Node], st: &mut Rs) {
    for (i, n) in children.iter().enumerate() {
        st.at = i;
        super::dispatch(cx, Context::RealServer, Rs::TABLE, n, st);
    }
}

type T<'s, 'b> = &'s mut Rs<'b>;

fn weight(cx: &mut Ctx, n: &Node, s: T) {
    if let Some(v) = cx.int(n, 0, 65_535) {
        s.rs.weight = v as i32;
    }
}
fn bfd_check(cx: &mut Ctx, n: &Node, s: T) {
    let b = super::bfd::bfd_check(cx, n, s.config);
    s.rs.bfd_checks.extend(b);
}
fn rs_lvs_method(cx: &mut Ctx, n: &Node, s: T) {
    if let Some(f) = forward(cx, n) {
        s.rs.forward = f;
    }
}
fn notify_up(cx: &mut Ctx, n: &Node, s: T) {
    s.rs.notify_up = cx.script(n).map(Box::new);
}
fn notify_down(cx: &mut Ctx, n: &Node, s: T) {
    s.rs.notify_down = cx.script(n).map(Box::new);
}
fn uthreshold(cx: &mut Ctx, n: &Node, s: T) {
    s.rs.uthreshold = cx.u32_arg(n).unwrap_or(0);
}
fn lthreshold(cx: &mut Ctx, n: &Node, s: T) {
    s.rs.lthreshold = cx.u32_arg(n).unwrap_or(0);
}
fn rs_smtp_alert(cx: &mut Ctx, n: &Node, s: T) {
    s.smtp_alert = Some(cx.flag(n));
}
fn rs_virtualhost(cx: &mut Ctx, n: &Node, s: T) {
    s.inherit.virtualhost = cx.string(n);
}
fn rs_inherit(cx: &mut Ctx, n: &Node, s: T) {
    s.inherit.option(cx, n);
}
fn check(_: &mut Ctx, _: &Node, s: T) {
    s.checks.push(s.at);
}
