//! Pure encoding: a [`RouteSpec`] / [`RuleSpec`] as the rtnetlink message `ip route add` /
//! `ip rule add` would send, and whether a message the kernel dumped is that route or rule.
//! Interface names are resolved by the caller (`ifindex`).

use std::net::IpAddr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop,
    RouteNextHopFlags, RoutePreference, RouteProtocol, RouteRealm, RouteScope, RouteType,
};
use netlink_packet_route::rule::{
    RuleAction as NlAction, RuleAttribute, RuleFlags, RuleHeader, RuleMessage, RulePortRange,
    RuleUidRange,
};

use crate::config::model::{RouteKind, RouteMetricValue, RouteSpec, RuleAction, RuleSpec};

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

fn kind(k: RouteKind) -> RouteType {
    match k {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Local => RouteType::Local,
        RouteKind::Broadcast => RouteType::Broadcast,
        RouteKind::Anycast => RouteType::Anycast,
        RouteKind::Multicast => RouteType::Multicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
        RouteKind::Nat => RouteType::Nat,
    }
}

fn realm(r: u32) -> RouteRealm {
    RouteRealm {
        source: (r >> 16) as u16,
        destination: (r & 0xffff) as u16,
    }
}

/// The scope `ip route add` picks when none is written: host for local, link for direct
/// unicast (no gateway, no nexthops) and broadcast/multicast, universe otherwise.
fn default_scope(s: &RouteSpec) -> u8 {
    match s.kind {
        RouteKind::Local | RouteKind::Nat => 254,
        RouteKind::Broadcast | RouteKind::Multicast | RouteKind::Anycast => 253,
        RouteKind::Unicast if s.via.is_none() && s.nexthops.is_empty() && s.or_via.is_none() => 253,
        _ => 0,
    }
}

/// Why a route cannot be encoded now (an interface that does not exist yet).
pub type Missing = String;

/// The RTM_NEWROUTE message for `s`; `ifindex` maps interface names.
pub fn route_message(
    s: &RouteSpec,
    ifindex: &dyn Fn(&str) -> Option<u32>,
) -> Result<RouteMessage, Missing> {
    let v6 = s.is_ipv6();
    let dev = |d: &String| ifindex(d).ok_or_else(|| format!("interface {d} does not exist"));
    let mut m = RouteMessage::default();
    m.header.address_family = family(v6);
    m.header.kind = kind(s.kind);
    m.header.protocol = RouteProtocol::from(s.protocol);
    m.header.scope = RouteScope::from(s.scope.unwrap_or_else(|| default_scope(s)));
    m.header.table = u8::try_from(s.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    m.header.tos = s.tos.unwrap_or(0);
    m.attributes.push(RouteAttribute::Table(s.table));
    if let Some(d) = s.dst {
        m.header.destination_prefix_length = d.len;
        if d.len > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(d.addr)));
        }
    }
    if let Some(f) = s.from {
        m.header.source_prefix_length = f.len;
        m.attributes
            .push(RouteAttribute::Source(RouteAddress::from(f.addr)));
    }
    if let Some(a) = s.src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(a)));
    }
    if s.onlink {
        m.header.flags |= RouteFlags::Onlink;
    }
    let mut hops = Vec::new();
    if let Some(or) = s.or_via {
        // `via A or B`: two equal nexthops through the route's interface.
        let ix = s.dev.as_ref().map(dev).transpose()?.unwrap_or(0);
        for g in s.via.into_iter().chain([or]) {
            hops.push(nexthop(g.into(), ix, 1, s.onlink, None));
        }
    } else {
        if let Some(g) = s.via {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if let Some(d) = &s.dev {
            m.attributes.push(RouteAttribute::Oif(dev(d)?));
        }
    }
    for n in &s.nexthops {
        let ix = n.dev.as_ref().map(dev).transpose()?.unwrap_or(0);
        hops.push(nexthop(n.via, ix, n.weight, n.onlink, n.realms));
    }
    if !hops.is_empty() {
        m.attributes.push(RouteAttribute::MultiPath(hops));
    }
    if let Some(p) = s.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    if let Some(r) = s.realms {
        m.attributes.push(RouteAttribute::Realm(realm(r)));
    }
    if let Some(p) = s.pref {
        m.attributes
            .push(RouteAttribute::Preference(RoutePreference::from(p)));
    }
    if let Some(e) = s.expires {
        m.attributes.push(RouteAttribute::Expires(e));
    }
    let metrics = metrics(s);
    if !metrics.is_empty() {
        m.attributes.push(RouteAttribute::Metrics(metrics));
    }
    Ok(m)
}

fn nexthop(
    via: Option<IpAddr>,
    ix: u32,
    weight: u16,
    onlink: bool,
    realms: Option<u32>,
) -> RouteNextHop {
    let mut attributes = Vec::new();
    if let Some(g) = via {
        attributes.push(RouteAttribute::Gateway(RouteAddress::from(g)));
    }
    if let Some(r) = realms {
        attributes.push(RouteAttribute::Realm(realm(r)));
    }
    let mut n = RouteNextHop::default();
    if onlink {
        n.flags = RouteNextHopFlags::Onlink;
    }
    n.hops = (weight.clamp(1, 256) - 1) as u8;
    n.interface_index = ix;
    n.attributes = attributes;
    n
}

fn metrics(s: &RouteSpec) -> Vec<RouteMetric> {
    let mut out = Vec::new();
    let mut lock = 0u32;
    for m in &s.metrics {
        let n = match &m.value {
            RouteMetricValue::CongCtl(c) => {
                out.push(RouteMetric::CcAlgo(c.clone()));
                16
            }
            RouteMetricValue::Number(n, v) => {
                let v = *v;
                out.push(match n {
                    2 => RouteMetric::Mtu(v),
                    3 => RouteMetric::Window(v),
                    4 => RouteMetric::Rtt(v),
                    5 => RouteMetric::RttVar(v),
                    6 => RouteMetric::SsThresh(v),
                    7 => RouteMetric::Cwnd(v),
                    8 => RouteMetric::Advmss(v),
                    9 => RouteMetric::Reordering(v),
                    10 => RouteMetric::Hoplimit(v),
                    11 => RouteMetric::InitCwnd(v),
                    12 => RouteMetric::Features(v),
                    13 => RouteMetric::RtoMin(v),
                    14 => RouteMetric::InitRwnd(v),
                    15 => RouteMetric::QuickAck(v),
                    _ => RouteMetric::FastopenNoCookie(v),
                });
                *n
            }
        };
        if m.lock {
            lock |= 1 << n;
        }
    }
    if lock != 0 {
        out.insert(0, RouteMetric::Lock(lock));
    }
    out
}

/// What identifies a route for the change filter: (table, destination, prefix length).
pub type RouteKey = (u32, Option<IpAddr>, u8);

/// The [`RouteKey`] of a route message (ours or the kernel's).
pub fn route_key(m: &RouteMessage) -> RouteKey {
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    });
    (table_of(m), dst, m.header.destination_prefix_length)
}

fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// Whether the dumped `have` is the route `want` describes: the kernel's key (family, table,
/// destination, tos, metric, type) and what the line fixes (gateway, interface, source,
/// protocol, nexthops). Metrics are not compared: the kernel may add its own.
pub fn route_matches(want: &RouteMessage, have: &RouteMessage) -> bool {
    let (w, h) = (&want.header, &have.header);
    if w.address_family != h.address_family
        || w.destination_prefix_length != h.destination_prefix_length
        || w.source_prefix_length != h.source_prefix_length
        || w.tos != h.tos
        || w.kind != h.kind
        || w.protocol != h.protocol
        || table_of(want) != table_of(have)
    {
        return false;
    }
    let key = |m: &RouteMessage, f: fn(&RouteAttribute) -> bool| -> Vec<RouteAttribute> {
        m.attributes.iter().filter(|a| f(a)).cloned().collect()
    };
    let compared = |a: &RouteAttribute| {
        matches!(
            a,
            RouteAttribute::Destination(_)
                | RouteAttribute::Source(_)
                | RouteAttribute::Gateway(_)
                | RouteAttribute::Oif(_)
                | RouteAttribute::PrefSource(_)
        )
    };
    let prio = |m: &RouteMessage| {
        m.attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Priority(p) => Some(*p),
                _ => None,
            })
            .unwrap_or(0)
    };
    if key(want, compared) != key(have, compared) {
        // IPv6 reports a default route's Destination as absent either way; the rest must agree.
        return false;
    }
    // IPv6 routes get metric 1024 when none is set.
    let wp = prio(want);
    let hp = prio(have);
    if wp != hp && !(wp == 0 && hp == 1024 && w.address_family == AddressFamily::Inet6) {
        return false;
    }
    hops(want) == hops(have)
}

/// Nexthops as (gateway, ifindex, weight), order kept.
fn hops(m: &RouteMessage) -> Vec<(Option<RouteAddress>, u32, u8)> {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::MultiPath(h) => Some(h),
            _ => None,
        })
        .map(|h| {
            h.iter()
                .map(|n| {
                    let g = n.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => Some(g.clone()),
                        _ => None,
                    });
                    (g, n.interface_index, n.hops)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The RTM_NEWRULE message for `r`.
pub fn rule_message(r: &RuleSpec) -> RuleMessage {
    let v6 = r.is_ipv6();
    let mut m = RuleMessage::default();
    m.header = RuleHeader {
        family: family(v6),
        dst_len: r.to.map_or(0, |p| p.len),
        src_len: r.from.map_or(0, |p| p.len),
        tos: r.tos.unwrap_or(0),
        table: r.table.and_then(|t| u8::try_from(t).ok()).unwrap_or(0),
        action: match r.action {
            RuleAction::Table => NlAction::ToTable,
            RuleAction::Goto => NlAction::Goto,
            RuleAction::Nop => NlAction::Nop,
            RuleAction::Blackhole => NlAction::Blackhole,
            RuleAction::Unreachable => NlAction::Unreachable,
            RuleAction::Prohibit => NlAction::Prohibit,
        },
        flags: if r.not {
            RuleFlags::Invert
        } else {
            RuleFlags::empty()
        },
    };
    let a = &mut m.attributes;
    if let Some(p) = r.to.filter(|p| p.len > 0) {
        a.push(RuleAttribute::Destination(p.addr));
    }
    if let Some(p) = r.from.filter(|p| p.len > 0) {
        a.push(RuleAttribute::Source(p.addr));
    }
    a.push(RuleAttribute::Priority(r.preference));
    if let Some(t) = r.table {
        a.push(RuleAttribute::Table(t));
    }
    if let Some(g) = r.goto {
        a.push(RuleAttribute::Goto(g));
    }
    if let Some(i) = &r.iif {
        a.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &r.oif {
        a.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(f) = r.fwmark {
        a.push(RuleAttribute::FwMark(f));
    }
    if let Some(f) = r.fwmask {
        a.push(RuleAttribute::FwMask(f));
    }
    if let Some(x) = r.realms {
        a.push(RuleAttribute::Realm(realm(x)));
    }
    if let Some(x) = r.suppress_prefixlength {
        a.push(RuleAttribute::SuppressPrefixLen(x));
    }
    if let Some(x) = r.suppress_ifgroup {
        a.push(RuleAttribute::SuppressIfGroup(x));
    }
    if let Some((start, end)) = r.uidrange {
        a.push(RuleAttribute::UidRange(RuleUidRange { start, end }));
    }
    if let Some((start, end)) = r.sport {
        a.push(RuleAttribute::SourcePortRange(RulePortRange { start, end }));
    }
    if let Some((start, end)) = r.dport {
        a.push(RuleAttribute::DestinationPortRange(RulePortRange {
            start,
            end,
        }));
    }
    if let Some(p) = r.ipproto {
        a.push(RuleAttribute::IpProtocol(p.into()));
    }
    if let Some(t) = r.tun_id {
        a.push(RuleAttribute::TunId(t));
    }
    if r.l3mdev {
        a.push(RuleAttribute::L3MDev(true));
    }
    if r.protocol != 0 {
        a.push(RuleAttribute::Protocol(RouteProtocol::from(r.protocol)));
    }
    m
}

/// Whether the dumped `have` is the rule `want` describes: same header (family, lengths,
/// tos, action, inversion) and every attribute of ours present with the same value.
pub fn rule_matches(want: &RuleMessage, have: &RuleMessage) -> bool {
    let (w, h) = (&want.header, &have.header);
    let inv = |f: RuleFlags| f.contains(RuleFlags::Invert);
    if w.family != h.family
        || w.dst_len != h.dst_len
        || w.src_len != h.src_len
        || w.tos != h.tos
        || w.action != h.action
        || inv(w.flags) != inv(h.flags)
    {
        return false;
    }
    want.attributes.iter().all(|a| match a {
        // Kernels before 4.17 report no protocol.
        RuleAttribute::Protocol(_) => {
            !have
                .attributes
                .iter()
                .any(|b| matches!(b, RuleAttribute::Protocol(_)))
                || have.attributes.contains(a)
        }
        _ => have.attributes.contains(a),
    }) && have.attributes.iter().all(|b| match b {
        // Selectors the kernel reports that we did not set make it another rule.
        RuleAttribute::Source(_)
        | RuleAttribute::Destination(_)
        | RuleAttribute::Iifname(_)
        | RuleAttribute::Oifname(_)
        | RuleAttribute::FwMark(_)
        | RuleAttribute::Goto(_) => want.attributes.contains(b),
        _ => true,
    })
}

#[cfg(test)]
mod tests;
