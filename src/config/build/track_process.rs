//! `vrrp_track_process` blocks and the `track_process` lines of instances and sync groups.

use super::Ctx;
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::{Config, ParamMatch, TrackProcess, TrackProcessRef};
use crate::config::parser::Node;

/// What the handlers of a vrrp_track_process fill in.
pub(in crate::config) struct Tp(TrackProcess);

use Arity::{One, Rest};

impl Tp {
    /// Every keyword of a vrrp_track_process, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Tp>] = &[
        kw("process", Rest, "`NAME [PARAM…]`: the process (and its arguments) watched", process),
        kw("param_match", Rest, "`[initial|partial]`: how the arguments are compared (default exact)", param_match),
        kw("full_command", Arity::None, "match the full command path, not the process name", full_command),
        kw("weight", Rest, "`N [reverse]` priority change while the process is down (or up)", weight),
        kw("quorum", One("a number"), "processes that must run (default 1)", quorum),
        kw("quorum_max", One("a number"), "most processes that may run", quorum_max),
        kw("fork_delay", One("a time in seconds"), "seconds before a new process counts", fork_delay),
        kw("terminate_delay", One("a time in seconds"), "seconds before an ended process counts", terminate_delay),
        kw("delay", One("a time in seconds"), "fork_delay and terminate_delay at once", delay),
    ];
}

pub(super) fn block(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut st = Tp(TrackProcess {
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
    });
    for n in children {
        super::dispatch(cx, Context::VrrpTrackProcess, Tp::TABLE, n, &mut st);
    }
    let tp = st.0;
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

type S<'s> = &'s mut Tp;

fn process(cx: &mut Ctx, n: &Node, s: S) {
    match n.args().split_first() {
        Some((p, params)) => {
            s.0.process = p.text.to_string();
            s.0.params = params.iter().map(|w| w.text.to_string()).collect();
        }
        None => cx.warn(n.span(), "`process` needs a command name; ignored"),
    }
}
fn param_match(cx: &mut Ctx, n: &Node, s: S) {
    s.0.param_match = match n.words.get(1).map(|w| w.text.as_str()) {
        None => Some(ParamMatch::Exact),
        Some("partial") => Some(ParamMatch::Partial),
        Some("initial") => Some(ParamMatch::Initial),
        Some(o) => {
            cx.warn(
                n.span(),
                format!("param_match `{o}`: expected `initial` or `partial`; ignored"),
            );
            s.0.param_match
        }
    }
}
fn full_command(_: &mut Ctx, _: &Node, s: S) {
    s.0.full_command = true;
}
fn weight(cx: &mut Ctx, n: &Node, s: S) {
    let (w, r) = cx.weight_at(&reweight(n), 1, 254);
    s.0.weight = w.unwrap_or(s.0.weight);
    s.0.weight_reverse = r.unwrap_or(false);
}
fn quorum(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 1, 65535) {
        s.0.quorum = v as u32;
    }
}
fn quorum_max(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(v) = cx.int(n, 0, 65535) {
        s.0.quorum_max = v as u32;
    }
}
fn fork_delay(cx: &mut Ctx, n: &Node, s: S) {
    s.0.fork_delay = cx.timer(n).unwrap_or(s.0.fork_delay);
}
fn terminate_delay(cx: &mut Ctx, n: &Node, s: S) {
    s.0.terminate_delay = cx.timer(n).unwrap_or(s.0.terminate_delay);
}
fn delay(cx: &mut Ctx, n: &Node, s: S) {
    if let Some(d) = cx.timer(n) {
        s.0.fork_delay = d;
        s.0.terminate_delay = d;
    }
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
