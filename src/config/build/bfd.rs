//! `bfd_instance` blocks, `track_bfd` lines and `BFD_CHECK` (keepalived's checks and messages).

use std::time::Duration;

use super::Ctx;
use super::values::parse_seconds;
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::{BfdInstance, Config, Span, TrackBfd};
use crate::config::parser::Node;

/// `min_rx` / `min_tx` / `idle_tx`: milliseconds with µs resolution in `min..=4294967`.
fn millis(cx: &mut Ctx, n: &Node, name: &str, min_ms: u64) -> Option<Duration> {
    let w = cx.arg(n, 1, "milliseconds")?;
    let d = parse_seconds(&w.text).map(|s| s / 1000);
    match d {
        Some(d) if d >= Duration::from_millis(min_ms) && d <= Duration::from_secs(4_294_967) => {
            Some(d)
        }
        _ => {
            cx.warn(
                w.span,
                format!(
                    "BFD instance {name} {} value {} is not valid (must be in range [{min_ms}-4294967] ms); ignored",
                    n.keyword(),
                    w.text
                ),
            );
            None
        }
    }
}

/// What the handlers of a bfd_instance fill in.
pub(in crate::config) struct Bfd {
    b: BfdInstance,
    neighbor: Option<std::net::IpAddr>,
    /// A neighbor address was given but not valid (already reported).
    bad_neighbor: bool,
    source: Option<(std::net::IpAddr, Span)>,
    max_hops_set: bool,
}

use Arity::{One, Rest};

impl Bfd {
    /// Every keyword of a bfd_instance, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Bfd>] = &[
        kw("neighbor_ip", Rest, "address of the BFD peer", neighbor_ip),
        kw("neighbour_ip", Rest, "address of the BFD peer", neighbor_ip),
        kw("source_ip", Rest, "source address of the session", source_ip),
        kw("min_rx", One("milliseconds"), "fastest rate packets are wanted at (ms, default 10)", min_rx),
        kw("min_tx", One("milliseconds"), "fastest rate packets are sent at (ms, default 10)", min_tx),
        kw("idle_tx", One("milliseconds"), "rate while the session is down (ms, default 1000)", idle_tx),
        kw("multiplier", One("a number"), "packets missed before the session is down (default 5)", multiplier),
        kw("passive", Arity::None, "wait for the peer to start the session", passive),
        kw("ttl", One("a number"), "TTL of the packets sent", ttl),
        kw("hoplimit", One("a number"), "hop limit of the packets sent (IPv6)", ttl),
        kw("max_hops", One("a number"), "hops a received packet may have crossed (-1: no check)", max_hops),
        kw("weight", Rest, "`N [reverse]` default weight of the trackers", weight),
        kw("vrrp", Arity::None, "the session is for VRRP instances", to_vrrp),
        kw("checker", Arity::None, "the session is for real servers (BFD_CHECK)", to_checker),
        // lvsd extension (docs/bfd.md): RFC 5883 multihop on port 4784.
        kw("multihop", Arity::None, "lvsd: RFC 5883 multihop session (port 4784)", multihop),
    ];
}

type S<'s> = &'s mut Bfd;

fn neighbor_ip(cx: &mut Ctx, n: &Node, s: S) {
    s.neighbor = cx.ip(n);
    s.bad_neighbor = s.neighbor.is_none();
}
fn source_ip(cx: &mut Ctx, n: &Node, s: S) {
    s.source = cx.ip(n).map(|a| (a, n.span()));
}
fn min_rx(cx: &mut Ctx, n: &Node, s: S) {
    s.b.min_rx = millis(cx, n, &s.b.name, 1).unwrap_or(s.b.min_rx);
}
fn min_tx(cx: &mut Ctx, n: &Node, s: S) {
    s.b.min_tx = millis(cx, n, &s.b.name, 1).unwrap_or(s.b.min_tx);
}
fn idle_tx(cx: &mut Ctx, n: &Node, s: S) {
    s.b.idle_tx = millis(cx, n, &s.b.name, 1000).unwrap_or(s.b.idle_tx);
}
fn multiplier(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.b.multiplier = v as u8;
    }
}
fn passive(_: &mut Ctx, _: &Node, s: S) {
    s.b.passive = true;
}
fn ttl(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 255) {
        s.b.ttl = Some(v as u8);
    }
}
fn max_hops(cx: &mut Ctx, n: &Node, s: S) {
    // keepalived accepts -1 as "no check" too.
    if let Some(v) = cx.int(n, -1, 255) {
        s.b.max_hops = if v < 0 { 255 } else { v as u8 };
        s.max_hops_set = true;
    }
}
fn weight(cx: &mut Ctx, n: &Node, s: S) {
    let (w, r) = cx.weight_at(n, 0, 253);
    s.b.weight = w.unwrap_or(0);
    s.b.weight_reverse = r.unwrap_or(false);
}
fn to_vrrp(_: &mut Ctx, _: &Node, s: S) {
    s.b.to_vrrp = true;
}
fn to_checker(_: &mut Ctx, _: &Node, s: S) {
    s.b.to_checker = true;
}
fn multihop(_: &mut Ctx, _: &Node, s: S) {
    s.b.multihop = true;
}

/// Reads one `bfd_instance` into `config.bfd_instances` (keepalived drops an instance without a
/// neighbor, a second one of the same name or neighbor, and mixed families).
pub(super) fn bfd_instance(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut st = Bfd {
        b: BfdInstance {
            name: name.clone(),
            neighbor_ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
            source_ip: None,
            min_rx: Duration::from_millis(10),
            min_tx: Duration::from_millis(10),
            idle_tx: Duration::from_secs(1),
            multiplier: 5,
            passive: false,
            ttl: None,
            max_hops: 0,
            multihop: false,
            weight: 0,
            weight_reverse: false,
            to_vrrp: false,
            to_checker: false,
            span: node.span(),
        },
        neighbor: None,
        bad_neighbor: false,
        source: None,
        max_hops_set: false,
    };
    for n in children {
        super::dispatch(cx, Context::BfdInstance, Bfd::TABLE, n, &mut st);
    }
    let Bfd {
        mut b,
        neighbor,
        bad_neighbor,
        source,
        max_hops_set,
    } = st;
    let Some(neighbor) = neighbor else {
        if !bad_neighbor {
            cx.skip(
                node.span(),
                format!("BFD instance {name} has no neighbor address set; instance disabled"),
            );
        }
        return;
    };
    b.neighbor_ip = neighbor;
    if b.multihop && !max_hops_set {
        // RFC 5883 §5: the TTL of a multihop packet says nothing unless the operator knows
        // the path length.
        b.max_hops = 255;
    }
    if let Some((s, span)) = source {
        if s.is_ipv6() != neighbor.is_ipv6() {
            cx.skip(
                span,
                format!("BFD instance {name} source address {s} and neighbor address {neighbor} are not of the same family; instance disabled"),
            );
            return;
        }
        b.source_ip = Some(s);
    }
    if config.bfd_instance(&name).is_some() {
        cx.skip(
            node.span(),
            format!("BFD instance {name} already configured; ignored"),
        );
        return;
    }
    if config
        .bfd_instances
        .iter()
        .any(|o| o.neighbor_ip == neighbor)
    {
        cx.skip(
            node.span(),
            format!("BFD instance {name} has duplicate neighbor address {neighbor}; ignored"),
        );
        return;
    }
    config.bfd_instances.push(b);
}

/// `track_bfd { NAME [weight N [reverse]] … }` in `owner` (an instance or sync group name).
pub(super) fn track_bfd(cx: &mut Ctx, node: &Node, owner: &str, config: &Config) -> Vec<TrackBfd> {
    let mut out = Vec::new();
    let Some(lines) = cx.need_block(node) else {
        return out;
    };
    for l in lines {
        let Some(name) = l.words.first().map(|w| w.text.to_string()) else {
            continue;
        };
        let Some(b) = config.bfd_instance(&name) else {
            cx.warn(
                l.span(),
                format!("({owner}) track bfd {name} not found; ignored"),
            );
            continue;
        };
        let (weight, reverse) = cx.weight_at(l, 1, 253);
        out.push(TrackBfd {
            name,
            weight: weight.unwrap_or(b.weight),
            reverse: reverse.unwrap_or(b.weight_reverse),
            span: l.span(),
        });
    }
    out
}

/// The keyword of a `BFD_CHECK` block (anything else is reported as a checker keyword would
/// be; the block is not in the reference of its own).
#[rustfmt::skip]
const BFD_CHECK: &[Entry<Option<(String, Span)>>] = &[
    kw("name", Rest, "the bfd_instance followed", bfd_check_name),
];

fn bfd_check_name(cx: &mut Ctx, l: &Node, name: &mut Option<(String, Span)>) {
    *name = cx.string(l).map(|s| (s, l.span()));
}

/// `BFD_CHECK { name NAME }` in a real server: the name of a known bfd_instance.
pub(super) fn bfd_check(cx: &mut Ctx, node: &Node, config: &Config) -> Option<String> {
    let lines = cx.need_block(node)?;
    let mut name: Option<(String, Span)> = None;
    for l in lines {
        super::dispatch_in(cx, Context::Checker, "BFD_CHECK", BFD_CHECK, l, &mut name);
    }
    let Some((name, span)) = name else {
        cx.warn(node.span(), "BFD_CHECK has no `name`; ignored");
        return None;
    };
    if config.bfd_instance(&name).is_none() {
        cx.warn(
            span,
            format!("BFD_CHECK: unknown bfd_instance {name}; ignored"),
        );
        return None;
    }
    Some(name)
}
