//! `bfd_instance` blocks, `track_bfd` lines and `BFD_CHECK` (keepalived's checks and messages).

use std::time::Duration;

use super::Ctx;
use super::values::parse_seconds;
use crate::config::keywords::Context;
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

/// Reads one `bfd_instance` into `config.bfd_instances` (keepalived drops an instance without a
/// neighbor, a second one of the same name or neighbor, and mixed families).
pub(super) fn bfd_instance(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let (mut neighbor, mut source, mut bad_neighbor) = (None, None, false);
    let mut max_hops_set = false;
    let mut b = BfdInstance {
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
    };
    for n in children {
        match n.keyword() {
            "neighbor_ip" | "neighbour_ip" => {
                neighbor = cx.ip(n);
                bad_neighbor = neighbor.is_none();
            }
            "source_ip" => source = cx.ip(n).map(|a| (a, n.span())),
            "min_rx" => b.min_rx = millis(cx, n, &name, 1).unwrap_or(b.min_rx),
            "min_tx" => b.min_tx = millis(cx, n, &name, 1).unwrap_or(b.min_tx),
            "idle_tx" => b.idle_tx = millis(cx, n, &name, 1000).unwrap_or(b.idle_tx),
            "multiplier" => {
                if let Some(v) = cx.int(n, 1, 255) {
                    b.multiplier = v as u8;
                }
            }
            "passive" => b.passive = true,
            "ttl" | "hoplimit" => {
                if let Some(v) = cx.int(n, 1, 255) {
                    b.ttl = Some(v as u8);
                }
            }
            "max_hops" => {
                // keepalived accepts -1 as "no check" too.
                if let Some(v) = cx.int(n, -1, 255) {
                    b.max_hops = if v < 0 { 255 } else { v as u8 };
                    max_hops_set = true;
                }
            }
            "weight" => {
                let (w, r) = cx.weight_at(n, 0, 253);
                b.weight = w.unwrap_or(0);
                b.weight_reverse = r.unwrap_or(false);
            }
            "multihop" => b.multihop = true,
            "vrrp" => b.to_vrrp = true,
            "checker" => b.to_checker = true,
            _ => cx.other(n, Context::BfdInstance),
        }
    }
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

/// `BFD_CHECK { name NAME }` in a real server: the name of a known bfd_instance.
pub(super) fn bfd_check(cx: &mut Ctx, node: &Node, config: &Config) -> Option<String> {
    let lines = cx.need_block(node)?;
    let mut name: Option<(String, Span)> = None;
    for l in lines {
        match l.keyword() {
            "name" => name = cx.string(l).map(|s| (s, l.span())),
            _ => cx.other_in(l, Context::Checker, "BFD_CHECK"),
        }
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
