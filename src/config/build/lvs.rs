//! `virtual_server_group`, `virtual_server`, `real_server`, `sorry_server`.
//!
//! Block-level options are read before nested blocks whatever their order in the file, so a
//! `delay_loop` written after the real servers still reaches their checkers, as in keepalived.

use std::net::IpAddr;
use std::time::Duration;

use super::Ctx;
use super::checker::{self, Inherit};
use super::virtual_server::{Rs, Vs};
use crate::config::model::{
    Config, Family, Forward, Protocol, RealServer, Scheduler, SorryServer, Span, TunnelChecksum,
    TunnelType, VirtualServer, VirtualServerGroup, VsAddress, VsgEntry,
};
use crate::config::parser::{Node, Word};

pub(super) fn virtual_server_group(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut entries = Vec::new();
    for l in children {
        let Some(first) = l.words.first() else {
            cx.warn(
                l.span(),
                "unexpected block in virtual_server_group; ignored",
            );
            continue;
        };
        if first.text == "fwmark" {
            let Some(m) = cx.arg(l, 1, "a mark") else {
                continue;
            };
            let Some(mark) = cx.int_word(m, "fwmark", 1, u32::MAX as i64) else {
                continue;
            };
            let family = match l.words.get(2).map(|w| w.text.as_str()) {
                Some("inet") => Some(Family::Inet),
                Some("inet6") => Some(Family::Inet6),
                None => None,
                Some(other) => {
                    cx.warn(
                        l.words[2].span,
                        format!("unknown family `{other}` (inet or inet6)"),
                    );
                    None
                }
            };
            entries.push(VsgEntry::Fwmark {
                mark: mark as u32,
                family,
                span: l.span(),
            });
            continue;
        }
        let Some((first_ip, last_ip)) = ip_range(cx, first) else {
            continue;
        };
        let port = match l.words.get(1) {
            Some(p) => match cx.port_word(p, "virtual_server_group") {
                Some(p) => p,
                None => continue,
            },
            None => 0,
        };
        entries.push(VsgEntry::Range {
            first: first_ip,
            last: last_ip,
            port,
            span: l.span(),
        });
    }
    if config.virtual_server_group(&name).is_some() {
        cx.warn(
            node.words[1].span,
            format!("virtual_server_group {name} is defined twice; the later one is ignored"),
        );
        return;
    }
    if entries.is_empty() {
        // keepalived removes it (its services then say nothing); at the block's `}`.
        cx.warn(
            super::vrrp::close_span(node),
            format!("virtual server group {name} has no entries - removing"),
        );
        return;
    }
    config.virtual_server_groups.push(VirtualServerGroup {
        name,
        entries,
        span: node.span(),
    });
}

/// `IP`, `A.B.C.D-E`, `IP-IP` or `NET/LEN` → first..=last.
fn ip_range(cx: &mut Ctx, w: &Word) -> Option<(IpAddr, IpAddr)> {
    let t = w.text.as_str();
    let bad = |cx: &mut Ctx| {
        cx.warn(
            w.span,
            format!("`{t}` is not an address, range (a.b.c.d-e) or network (a.b.c.d/n); ignored"),
        );
        None
    };
    if let Ok(a) = t.parse::<IpAddr>() {
        return Some((a, a));
    }
    if let Some((net, len)) = t.split_once('/') {
        let (Ok(a), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
            return bad(cx);
        };
        return match a {
            IpAddr::V4(v4) if len <= 32 => {
                let base = u32::from(v4) & (u32::MAX.checked_shl(32 - len).unwrap_or(0));
                let last = base | (u32::MAX.checked_shr(len).unwrap_or(0));
                Some((IpAddr::V4(base.into()), IpAddr::V4(last.into())))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let base = u128::from(v6) & (u128::MAX.checked_shl(128 - len).unwrap_or(0));
                let last = base | (u128::MAX.checked_shr(len).unwrap_or(0));
                Some((IpAddr::V6(base.into()), IpAddr::V6(last.into())))
            }
            _ => bad(cx),
        };
    }
    if let Some((a, b)) = t.split_once('-') {
        let Ok(first) = a.parse::<IpAddr>() else {
            return bad(cx);
        };
        let last = if let Ok(full) = b.parse::<IpAddr>() {
            full
        } else {
            // Only the last part changes: 192.168.200.1-10, 2001:db8::1-ff.
            match first {
                IpAddr::V4(v4) => match b.parse::<u8>() {
                    Ok(x) => {
                        let o = v4.octets();
                        IpAddr::V4([o[0], o[1], o[2], x].into())
                    }
                    Err(_) => return bad(cx),
                },
                IpAddr::V6(v6) => match u16::from_str_radix(b, 16) {
                    Ok(x) => {
                        let mut s = v6.segments();
                        s[7] = x;
                        IpAddr::V6(s.into())
                    }
                    Err(_) => return bad(cx),
                },
            }
        };
        if first.is_ipv4() != last.is_ipv4() || last < first {
            cx.warn(
                w.span,
                format!("range `{t}` ends before it starts or mixes families; ignored"),
            );
            return None;
        }
        return Some((first, last));
    }
    bad(cx)
}

/// `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
pub(super) fn forward(cx: &mut Ctx, n: &Node) -> Option<Forward> {
    let w = cx.arg(n, 1, "NAT, DR or TUN")?;
    match w.text.to_ascii_uppercase().as_str() {
        "NAT" => Some(Forward::Nat),
        "DR" => Some(Forward::Dr),
        "TUN" => {
            let mut tunnel = TunnelType::Ipip;
            let mut checksum = TunnelChecksum::Nocsum;
            let mut i = 2;
            while let Some(k) = n.words.get(i) {
                match k.text.as_str() {
                    "type" => {
                        match n.words.get(i + 1).map(|w| w.text.as_str()) {
                            Some("ipip") => tunnel = TunnelType::Ipip,
                            Some("gre") => tunnel = TunnelType::Gre,
                            Some("gue") => {
                                let port = match (n.words.get(i + 2), n.words.get(i + 3)) {
                                    (Some(p), Some(v)) if p.text == "port" => {
                                        i += 2;
                                        cx.port_word(v, "gue tunnel").unwrap_or(0)
                                    }
                                    _ => {
                                        cx.warn(k.span, "GUE tunnels need `port N`");
                                        0
                                    }
                                };
                                tunnel = TunnelType::Gue { port };
                            }
                            _ => cx.warn(k.span, "`type` needs ipip, gue or gre"),
                        }
                        i += 1;
                    }
                    "nocsum" => checksum = TunnelChecksum::Nocsum,
                    "csum" => checksum = TunnelChecksum::Csum,
                    "remcsum" => checksum = TunnelChecksum::Remcsum,
                    other => cx.warn(k.span, format!("unexpected `{other}` after TUN")),
                }
                i += 1;
            }
            Some(Forward::Tun { tunnel, checksum })
        }
        _ => {
            cx.warn(
                w.span,
                format!(
                    "unknown forwarding method `{}` (NAT, DR or TUN); using NAT",
                    w.text
                ),
            );
            None
        }
    }
}

fn address(cx: &mut Ctx, node: &Node) -> Option<VsAddress> {
    let first = cx.arg(node, 1, "an address and port, `fwmark N` or `group NAME`")?;
    match first.text.as_str() {
        "fwmark" => {
            let w = node.words.get(2);
            let Some(w) = w else {
                cx.skip(first.span, "`virtual_server fwmark` needs a mark");
                return None;
            };
            match w.text.parse::<u32>() {
                Ok(m) if m > 0 => Some(VsAddress::Fwmark { mark: m }),
                _ => {
                    cx.skip(
                        w.span,
                        format!("fwmark `{}` is invalid (1..4294967295)", w.text),
                    );
                    None
                }
            }
        }
        "group" => match node.words.get(2) {
            Some(w) => Some(VsAddress::Group {
                name: w.text.to_string(),
            }),
            None => {
                cx.skip(first.span, "`virtual_server group` needs a group name");
                None
            }
        },
        t => {
            let Ok(addr) = t.parse::<IpAddr>() else {
                let mut msg = format!("`{t}` is not an IP address, `fwmark N` or `group NAME`");
                if t.contains(':') && t.contains('.') {
                    msg.push_str(" (write the port as a separate word: `IP PORT`)");
                }
                cx.skip(first.span, msg);
                return None;
            };
            let port = match node.words.get(2) {
                Some(p) => match p.text.parse::<u16>() {
                    Ok(p) => p,
                    Err(_) => {
                        cx.skip(
                            p.span,
                            format!("`{}` is not a valid port (0..=65535)", p.text),
                        );
                        return None;
                    }
                },
                None => 0,
            };
            Some(VsAddress::Inet { addr, port })
        }
    }
}

/// `persistence_granularity` into the persistence, and lvsd's own notes (keepalived 2.2.7 says
/// nothing) on persistence options that cannot work.
fn persistence(cx: &mut Ctx, node: &Node, vs: &mut VirtualServer, granularity: Option<String>) {
    if let (Some(p), Some(g)) = (vs.persistence.as_mut(), granularity.clone()) {
        p.granularity = Some(g);
    } else if granularity.is_some() {
        cx.note(
            node.span(),
            "persistence_granularity without persistence_timeout has no effect",
        );
    }
    if let VsAddress::Inet { port: 0, .. } = vs.address
        && vs.persistence.is_none()
    {
        cx.note(
            node.span(),
            "a virtual server without a port must be persistent (set persistence_timeout)",
        );
    }
}

pub(super) fn virtual_server(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(address) = address(cx, node) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let vs = new_virtual_server(address, node.span());
    let mut st = Vs {
        vs,
        inherit: Inherit::default(),
        smtp_alert: None,
        granularity: None,
        ip_family: None,
        sorry: None,
        sorry_forward: None,
        sorry_inhibit: false,
        reals: Vec::new(),
        at: 0,
        seen: VsSeen::default(),
    };
    super::virtual_server::read(cx, children, &mut st);
    let reals: Vec<&Node> = st.reals.iter().map(|&i| &children[i]).collect();
    let Vs {
        mut vs,
        mut inherit,
        smtp_alert,
        granularity,
        ip_family,
        sorry,
        sorry_forward,
        sorry_inhibit,
        mut seen,
        ..
    } = st;
    persistence(cx, node, &mut vs, granularity);
    let gl = &config.global;
    vs.smtp_alert = smtp_alert
        .or(gl.smtp_alert_checker)
        .or(gl.smtp_alert)
        .unwrap_or(false);
    vs.alpha = inherit.alpha.unwrap_or(false);
    vs.inhibit_on_failure = inherit.inhibit_on_failure.unwrap_or(false);
    if let Some(d) = inherit.delay_loop {
        vs.delay_loop = d;
    }
    inherit.virtualhost = vs.virtualhost.clone();
    let vs_port = match vs.address {
        VsAddress::Inet { port, .. } => port,
        _ => 0,
    };
    let ctx = checker::Parent {
        inherit: &inherit,
        default_port: vs_port,
        forward: vs.forward,
        global_log_all_failures: gl.checker_log_all_failures,
        global_smtp_alert: gl.smtp_alert_checker.or(gl.smtp_alert),
        delay_loop: vs.delay_loop,
    };
    vs.real_servers = real_servers(cx, &reals, &vs.address, &ctx, config);
    super::anycast::finish_virtual_server(&mut vs);
    vs.family = match (&vs.address, ip_family) {
        (VsAddress::Inet { addr, .. }, _) => Family::of(addr),
        (_, Some(f)) => f,
        _ => vs
            .real_servers
            .first()
            .map(|r| Family::of(&r.addr))
            .unwrap_or(Family::Inet),
    };
    if let Some((addr, port, span)) = sorry {
        vs.sorry_server = Some(SorryServer {
            addr,
            port: port.unwrap_or(vs_port),
            forward: sorry_forward.unwrap_or(vs.forward),
            inhibit: sorry_inhibit,
            span,
        });
    }
    seen.family_wanted = ip_family;
    // keepalived says nothing about a service whose group is not defined (and drops it).
    let unknown_group =
        matches!(&vs.address, VsAddress::Group { name } if !cx.vs_groups.contains(name));
    if unknown_group || seen.check(cx, &mut vs) {
        config.virtual_servers.push(vs);
    }
}

/// A virtual server with keepalived's defaults.
fn new_virtual_server(address: VsAddress, span: Span) -> VirtualServer {
    VirtualServer {
        family: match &address {
            VsAddress::Inet { addr, .. } => Family::of(addr),
            _ => Family::Inet,
        },
        address,
        span,
        protocol: Protocol::Tcp,
        scheduler: Scheduler::Wlc,
        sched_flags: Default::default(),
        ops: false,
        forward: Forward::Nat,
        persistence: None,
        persistence_engine: None,
        delay_loop: Duration::from_secs(60),
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        smtp_alert: false,
        virtualhost: None,
        sorry_server: None,
        real_servers: Vec::new(),
        announce_route: None,
        anycast_quiesce: true,
    }
}

/// The real servers of a virtual server, built once its options are known.
fn real_servers(
    cx: &mut Ctx,
    reals: &[&Node],
    address: &VsAddress,
    parent: &checker::Parent,
    config: &Config,
) -> Vec<RealServer> {
    let mut rss = Vec::with_capacity(reals.len());
    for &r in reals {
        let Some(rs) = real_server(cx, r, parent, config) else {
            continue;
        };
        // keepalived skips a real server of the other family (at its closing `}`), unless it
        // is tunnelled (IPIP carries either family).
        if let VsAddress::Inet { addr, .. } = address
            && Family::of(addr) != Family::of(&rs.addr)
            && !matches!(rs.forward, Forward::Tun { .. })
        {
            cx.warn(
                super::vrrp::close_span(r),
                format!(
                    "address family of virtual server and real server {} don't match - skipping real server",
                    rs.addr
                ),
            );
            continue;
        }
        rss.push(rs);
    }
    rss.shrink_to_fit();
    rss
}

/// What a virtual_server block set, for keepalived's end-of-block checks.
#[derive(Default)]
pub(super) struct VsSeen {
    pub(super) scheduler: bool,
    pub(super) forward: bool,
    pub(super) protocol: Option<Span>,
    pub(super) quorum: Option<Span>,
    pub(super) hysteresis: Option<Span>,
    pub(super) ip_family: Option<Span>,
    /// The family `ip_family` asked for.
    pub(super) family_wanted: Option<Family>,
    /// `sh-port`, `mh-fallback`… with where they are.
    pub(super) sched_flags: Vec<(String, Span)>,
    /// sorry_server options written before (or without) `sorry_server`.
    pub(super) sorry_before: Vec<(&'static str, Span)>,
}

impl VsSeen {
    /// keepalived 2.2.7's checks of a finished virtual server, with its fallbacks (each a
    /// warning; `-t` exits 5). False: keepalived drops the virtual server.
    fn check(&self, cx: &mut Ctx, vs: &mut VirtualServer) -> bool {
        let span = vs.span;
        let name = vs_name(vs);
        let fwmark = matches!(vs.address, VsAddress::Fwmark { .. });
        if vs.real_servers.is_empty() {
            cx.warn(
                span,
                format!("virtual server {name} has no real servers - ignoring"),
            );
            return false;
        }
        // keepalived 2.2.7 builds a *UDP* service here ("no protocol set - defaulting to
        // UDP"); lvsd keeps TCP, the usual intent, and says so. A fwmark service has none.
        if self.protocol.is_none() && !fwmark {
            cx.warn(
                span,
                "virtual_server without `protocol`: lvsd uses TCP (keepalived 2.2.7 uses UDP); \
                 set `protocol TCP` or `protocol UDP` explicitly",
            );
        }
        if !self.scheduler {
            cx.warn(
                span,
                format!("virtual server {name}: no scheduler set, setting default 'wlc'"),
            );
        }
        if !self.forward {
            cx.warn(
                span,
                format!("virtual server {name}: no forwarding method set, setting default NAT"),
            );
        }
        if let (true, Some(p)) = (fwmark, self.protocol) {
            cx.warn(p, format!("virtual server {name}: protocol specified for fwmark - protocol will be ignored"));
        }
        for (kw, at) in &self.sched_flags {
            let flag = kw.split('-').next().unwrap_or("");
            let wants = match flag {
                "sh" => Scheduler::Sh,
                "mh" => Scheduler::Mh,
                _ => continue,
            };
            if vs.scheduler != wants {
                cx.warn(
                    *at,
                    format!("{kw} only applies to the {flag} scheduler; ignored"),
                );
            }
        }
        for (kw, at) in &self.sorry_before {
            cx.warn(
                *at,
                format!("`{kw}` used before or without sorry_server; ignored"),
            );
        }
        if let (Some(at), Some(want), VsAddress::Inet { addr, .. }) =
            (self.ip_family, self.family_wanted, &vs.address)
            && want != Family::of(addr)
        {
            cx.warn(
                at,
                format!(
                    "virtual server {name}: ip_family conflicts with the server's family; ignored"
                ),
            );
        }
        if vs.ops && vs.protocol != Protocol::Udp {
            cx.warn(
                span,
                format!("virtual server {name}: one packet scheduling requires UDP - resetting"),
            );
            vs.ops = false;
        }
        let vs_port = match vs.address {
            VsAddress::Inet { port, .. } => port,
            _ => 0,
        };
        for rs in &mut vs.real_servers {
            if fwmark && rs.port != 0 {
                // keepalived 2.2.7 words it so, yet keeps the port: its check data still shows
                // `RPORT = 80` and its checkers connect there (tests/dump_vs_keepalived.rs).
                cx.warn(rs.span, format!("fwmark virtual server {name}, real server {} has port {} specified - clearing", rs.addr, rs.port));
            } else if !fwmark
                && vs_port != 0
                && rs.port != vs_port
                && matches!(rs.forward, Forward::Dr | Forward::Tun { .. })
            {
                cx.warn(rs.span, format!("virtual server {name} and real server {} {}: ports don't match - resetting to {vs_port} (DR and TUN cannot change the port)", rs.addr, rs.port));
                rs.port = vs_port;
            }
        }
        let total: u64 = vs.real_servers.iter().map(|r| r.weight.max(0) as u64).sum();
        if u64::from(vs.quorum) > total {
            let t = total.max(1) as u32;
            cx.warn(
                self.quorum.unwrap_or(span),
                format!("quorum {} for virtual server {name} exceeds total weight of real servers {total}, reducing quorum to {t}", vs.quorum),
            );
            vs.quorum = t;
        }
        if vs.hysteresis >= vs.quorum && vs.hysteresis > 0 {
            cx.warn(
                self.hysteresis.unwrap_or(span),
                format!(
                    "virtual server {name}: hysteresis {} >= quorum {}; setting hysteresis to 0",
                    vs.hysteresis, vs.quorum
                ),
            );
            vs.hysteresis = 0;
        }
        true
    }
}

/// A virtual server as messages name it.
fn vs_name(vs: &VirtualServer) -> String {
    match &vs.address {
        VsAddress::Inet { addr, port } => std::net::SocketAddr::new(*addr, *port).to_string(),
        VsAddress::Fwmark { mark } => format!("FWM {mark}"),
        VsAddress::Group { name } => format!("group {name}"),
    }
}

fn real_server(
    cx: &mut Ctx,
    node: &Node,
    parent: &checker::Parent,
    config: &Config,
) -> Option<RealServer> {
    let w = cx.arg(node, 1, "an address")?;
    let Ok(addr) = w.text.parse::<IpAddr>() else {
        cx.skip(
            w.span,
            format!("real_server `{}` is not an IP address", w.text),
        );
        return None;
    };
    let port = match node.words.get(2) {
        Some(p) => match p.text.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                cx.skip(
                    p.span,
                    format!("`{}` is not a valid port (0..=65535)", p.text),
                );
                return None;
            }
        },
        None => parent.default_port,
    };
    let rs = RealServer {
        addr,
        port,
        span: node.span(),
        weight: 1,
        forward: parent.forward,
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        uthreshold: 0,
        lthreshold: 0,
        smtp_alert: true,
        virtualhost: None,
        alpha: false,
        delay_loop: parent.delay_loop,
        checkers: Vec::new(),
        bfd_checks: Vec::new(),
        slow_start: None,
    };
    let mut st = Rs {
        rs,
        inherit: Inherit::default(),
        smtp_alert: None,
        checks: Vec::new(),
        at: 0,
        config,
    };
    // `real_server IP PORT` with no block is valid: no checker, always up.
    let children: &[Node] = node.children();
    super::virtual_server::read_rs(cx, children, &mut st);
    let Rs {
        mut rs,
        inherit,
        smtp_alert,
        checks,
        ..
    } = st;
    let checks: Vec<&Node> = checks.iter().map(|&i| &children[i]).collect();
    let merged = inherit.over(parent.inherit);
    rs.inhibit_on_failure = merged.inhibit_on_failure.unwrap_or(false);
    rs.alpha = merged.alpha.unwrap_or(false);
    rs.slow_start = merged.slow_start;
    rs.virtualhost = merged.virtualhost.clone();
    rs.delay_loop = merged.delay_loop.unwrap_or(parent.delay_loop);
    rs.smtp_alert = smtp_alert.or(parent.global_smtp_alert).unwrap_or(true);
    for c in checks {
        if let Some(ch) = checker::checker(cx, c, &rs, &merged, parent, config) {
            rs.checkers.push(ch);
        }
    }
    // Exact capacity: the model of a large configuration holds tens of thousands of these.
    rs.checkers.shrink_to_fit();
    Some(rs)
}
