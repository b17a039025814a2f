//! `vrrp_track_process` blocks and the `track_process` lines of instances and sync groups.

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::model::{Config, ParamMatch, TrackProcess, TrackProcessRef};
use crate::config::parser::Node;

pub(super) fn block(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut tp = TrackProcess {
        name,
        process: String::new(),
        params: Vec::new(),
        param_match: None,
        full_command: false,
        weight: 1,
        weight_reverse: false,
        quorum: 1,
        quorum_max: u32::MAX,
        fork_delay: Default::default(),
        terminate_delay: Default::default(),
        span: node.span(),
    };
    for n in children {
        match n.keyword() {
            "process" => match n.args().split_first() {
                Some((p, params)) => {
                    tp.process = p.text.to_string();
                    tp.params = params.iter().map(|w| w.text.to_string()).collect();
                }
                None => cx.warn(n.span(), "`process` needs a command name; ignored"),
            },
            "param_match" => {
                tp.param_match = match n.words.get(1).map(|w| w.text.as_str()) {
                    None => Some(ParamMatch::Exact),
                    Some("partial") => Some(ParamMatch::Partial),
                    Some("initial") => Some(ParamMatch::Initial),
                    Some(o) => {
                        cx.warn(
                            n.span(),
                            format!("param_match `{o}`: expected `initial` or `partial`; ignored"),
                        );
                        tp.param_match
                    }
                }
            }
            "full_command" => tp.full_command = true,
            "weight" => {
                let (w, r) = cx.weight_at(&reweight(n), 1, 254);
                tp.weight = w.unwrap_or(tp.weight);
                tp.weight_reverse = r.unwrap_or(false);
            }
            "quorum" => {
                if let Some(v) = cx.int(n, 1, 65535) {
                    tp.quorum = v as u32;
                }
            }
            "quorum_max" => {
                if let Some(v) = cx.int(n, 0, 65535) {
                    tp.quorum_max = v as u32;
                }
            }
            "fork_delay" => tp.fork_delay = cx.timer(n).unwrap_or(tp.fork_delay),
            "terminate_delay" => tp.terminate_delay = cx.timer(n).unwrap_or(tp.terminate_delay),
            "delay" => {
                if let Some(d) = cx.timer(n) {
                    tp.fork_delay = d;
                    tp.terminate_delay = d;
                }
            }
            _ => cx.other(n, Context::VrrpTrackProcess),
        }
    }
    if tp.process.is_empty() {
        cx.warn(
            node.span(),
            format!("vrrp_track_process {} has no `process`; ignored", tp.name),
        );
        return;
    }
    if tp.quorum_max < tp.quorum {
        cx.warn(
            node.span(),
            format!(
                "vrrp_track_process {}: quorum_max {} is below quorum {}; the process can never be up",
                tp.name, tp.quorum_max, tp.quorum
            ),
        );
    }
    config.track_processes.push(tp);
}

/// `weight N [reverse]` as track lines spell it (`NAME weight N`).
fn reweight(n: &Node) -> Node {
    let mut words = vec![n.words[0].clone()];
    words.extend(n.words.iter().cloned());
    Node { words, block: None }
}

/// `track_process { NAME [weight N [reverse]] … }` in `owner`: names must be those of
/// `vrrp_track_process` blocks; a missing weight is the block's, filled in by [`resolve`].
pub(super) fn lines(cx: &mut Ctx, node: &Node, owner: &str) -> Vec<TrackProcessRef> {
    let mut out = Vec::new();
    let Some(children) = cx.need_block(node) else {
        return out;
    };
    for l in children {
        let Some(first) = l.words.first().filter(|_| l.block.is_none()) else {
            cx.warn(l.span(), "unexpected block in `track_process`; ignored");
            continue;
        };
        let name = first.text.to_string();
        if !cx.processes.contains(&name) {
            cx.warn(
                l.span(),
                format!("({owner}) track process {name} not found; ignored"),
            );
            continue;
        }
        let (weight, reverse) = cx.weight_at(l, 1, 254);
        out.push(TrackProcessRef {
            name,
            // i32::MIN: "the block's", filled in by `resolve`.
            weight: weight.unwrap_or(i32::MIN),
            reverse: reverse.unwrap_or(false),
            span: l.span(),
        });
    }
    out
}

/// Fills in the defaults of `track_process` lines from their blocks (every block is known now).
pub(super) fn resolve(config: &mut Config) {
    let blocks = config.track_processes.clone();
    let fill = |t: &mut TrackProcessRef| {
        if let Some(b) = blocks.iter().find(|b| b.name == t.name)
            && t.weight == i32::MIN
        {
            t.weight = b.weight;
            t.reverse = t.reverse || b.weight_reverse;
        }
    };
    for i in &mut config.vrrp_instances {
        i.track_processes.iter_mut().for_each(fill);
        // A block that was ignored (no `process`) cannot be tracked.
        i.track_processes
            .retain(|t| blocks.iter().any(|b| b.name == t.name));
    }
    for g in &mut config.vrrp_sync_groups {
        g.track_processes.iter_mut().for_each(fill);
        g.track_processes
            .retain(|t| blocks.iter().any(|b| b.name == t.name));
    }
}
