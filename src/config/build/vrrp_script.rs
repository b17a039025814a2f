//! `vrrp_script NAME { … }` and `track_file NAME { … }` (alias `vrrp_track_file`): their keyword
//! tables and one small handler per keyword.

use std::path::PathBuf;
use std::time::Duration;

use super::Ctx;
use super::vrrp::{close_span, reweight};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::{Config, Script, ScriptUser, TrackFile, VrrpScript};
use crate::config::parser::Node;

/// What the handlers of a vrrp_script fill in.
pub(in crate::config) struct Vs {
    name: String,
    script: Option<Script>,
    interval: Duration,
    timeout: Option<Duration>,
    weight: i32,
    weight_reverse: bool,
    rise: u32,
    fall: u32,
    user: Option<ScriptUser>,
    init_fail: bool,
}

use Arity::{One, Rest};

impl Vs {
    /// Every keyword of a vrrp_script, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Vs>] = &[
        kw("script", Rest, "the command run; exit status 0 is success", script),
        kw("interval", One("a time in seconds"), "seconds between runs (default 1)", interval),
        kw("timeout", Rest, "seconds a run may take (default: the interval)", timeout),
        kw("weight", One("a number"), "`N [reverse]` priority change while it fails (or succeeds)", weight),
        kw("rise", One("a number"), "successes before it counts as up", rise),
        kw("fall", One("a number"), "failures before it counts as down", fall),
        kw("user", Rest, "user (and group) the script runs as", user),
        kw("init_fail", Arity::None, "the script starts failed", init_fail),
    ];
}

pub(super) fn vrrp_script(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut st = Vs {
        name,
        script: None,
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
    };
    for n in children {
        super::dispatch(cx, Context::VrrpScript, Vs::TABLE, n, &mut st);
    }
    let Some(mut script) = st.script else {
        // keepalived reports it at the block's closing `}`.
        cx.warn(
            close_span(node),
            format!("vrrp_script {} has no `script`; ignored", st.name),
        );
        return;
    };
    if script.user.is_none() {
        script.user = st.user;
    }
    if config.vrrp_script(&st.name).is_some() {
        cx.warn(
            node.words[1].span,
            format!(
                "vrrp_script {} is defined twice; the later one is ignored",
                st.name
            ),
        );
        return;
    }
    config.vrrp_scripts.push(VrrpScript {
        name: st.name,
        script,
        interval: st.interval,
        timeout: st.timeout.unwrap_or(st.interval),
        weight: st.weight,
        weight_reverse: st.weight_reverse,
        rise: st.rise,
        fall: st.fall,
        init_fail: st.init_fail,
        span: node.span(),
    });
}

type S<'s> = &'s mut Vs;

fn script(cx: &mut Ctx, n: &Node, s: S) {
    s.script = cx.script(n);
}
fn interval(cx: &mut Ctx, n: &Node, s: S) {
    let Some(d) = cx.timer(n) else {
        return;
    };
    if d.is_zero() {
        cx.warn(
            n.span(),
            format!(
                "({}) vrrp script interval must be greater than 0, setting to 1",
                s.name
            ),
        );
    } else {
        s.interval = d;
    }
}
fn timeout(cx: &mut Ctx, n: &Node, s: S) {
    s.timeout = cx.timer(n);
}
fn weight(cx: &mut Ctx, n: &Node, s: S) {
    let w = &n.words[1]; // arity One
    if let Some(v) = cx.int_word(w, "weight", -253, 253) {
        s.weight = v as i32;
    }
    match n.words.get(2).map(|w| w.text.as_str()) {
        Some("reverse") => s.weight_reverse = true,
        Some("no_reverse" | "noreverse") | None => {}
        Some(other) => cx.warn(
            n.words[2].span,
            format!("unexpected `{other}` after weight"),
        ),
    }
}
fn rise(cx: &mut Ctx, n: &Node, s: S) {
    s.rise = cx.int(n, 1, u32::MAX as i64).map_or(s.rise, |v| v as u32);
}
fn fall(cx: &mut Ctx, n: &Node, s: S) {
    s.fall = cx.int(n, 1, u32::MAX as i64).map_or(s.fall, |v| v as u32);
}
fn user(cx: &mut Ctx, n: &Node, s: S) {
    s.user = cx.user(n);
}
fn init_fail(_: &mut Ctx, _: &Node, s: S) {
    s.init_fail = true;
}

/// What the handlers of a track_file fill in.
pub(in crate::config) struct Tf {
    file: Option<PathBuf>,
    weight: i32,
    weight_reverse: bool,
    init_value: Option<i64>,
    init_overwrite: bool,
}

impl Tf {
    /// Every keyword of a track_file, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Tf>] = &[
        kw("file", Rest, "the file whose number is read", file),
        kw("weight", Rest, "`N [reverse]` multiplier of the file's number (default 1)", tf_weight),
        kw("init_file", Rest, "`[VALUE] [overwrite]`: create the file at start-up", init_file),
    ];
}

pub(super) fn track_file(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut st = Tf {
        file: None,
        weight: 1,
        weight_reverse: false,
        init_value: None,
        init_overwrite: false,
    };
    for n in children {
        super::dispatch(cx, Context::TrackFile, Tf::TABLE, n, &mut st);
    }
    let Some(file) = st.file else {
        cx.warn(
            close_span(node),
            format!("track_file {name} has no `file`; ignored"),
        );
        return;
    };
    config.track_files.push(TrackFile {
        name,
        file,
        weight: st.weight,
        weight_reverse: st.weight_reverse,
        init_value: st.init_value,
        init_overwrite: st.init_overwrite,
        span: node.span(),
    });
}

type T<'s> = &'s mut Tf;

fn file(cx: &mut Ctx, n: &Node, s: T) {
    s.file = cx.string(n).map(PathBuf::from);
}
fn tf_weight(cx: &mut Ctx, n: &Node, s: T) {
    let (w, r) = cx.weight_at(&reweight(n), 1, 2_147_483_647);
    s.weight = w.unwrap_or(s.weight);
    s.weight_reverse = r.unwrap_or(false);
}
fn init_file(cx: &mut Ctx, n: &Node, s: T) {
    s.init_value = Some(0);
    for w in n.args() {
        if w.text == "overwrite" {
            s.init_overwrite = true;
        } else if let Ok(v) = w.text.parse::<i64>() {
            s.init_value = Some(v);
        } else {
            cx.warn(w.span, format!("unexpected `{}` in init_file", w.text));
        }
    }
}
