//! `vrrp_sync_group NAME { … }`: its keyword table and one small handler per keyword.

use super::Ctx;
use super::vrrp::{Owner, Pending};
use crate::config::keywords::Context;
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::{Config, Notify, VrrpSyncGroup};
use crate::config::parser::Node;

/// What the handlers of a sync group fill in.
pub(in crate::config) struct Group<'b> {
    g: VrrpSyncGroup,
    /// Its index among the sync groups (tracking references resolve to it).
    idx: usize,
    config: &'b Config,
    pending: &'b mut Pending,
}

type G<'b> = Entry<Group<'b>>;

use Arity::{Block, Rest};

impl<'b> Group<'b> {
    /// Every keyword of a vrrp_sync_group, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &'b [G<'b>] = &[
        kw("group", Block, "`{ INSTANCE … }`: the instances that change state together", group),
        kw("track_bfd", Block, "`{ NAME [weight N] … }`: bfd_instances the group follows", track_bfd),
        kw("notify_master", Rest, "script run when the group becomes master", notify),
        kw("notify_backup", Rest, "script run when the group becomes backup", notify),
        kw("notify_fault", Rest, "script run when the group enters fault", notify),
        kw("notify_stop", Rest, "script run when the group stops", notify),
        kw("notify", Rest, "script run on every state change of the group", notify),
        kw("notify_priority_changes", Rest, "its instances' priority changes go to the notify FIFOs (unless an instance sets its own)", priority_changes),
        kw("smtp_alert", Rest, "", smtp_alert).not_acting("the sync group behaves as if this line were absent"),
        kw("global_tracking", Rest, "deprecated: every member follows every member's trackers", global_tracking),
        kw("sync_group_tracking_weight", Rest, "the group's trackers' weights count (else they take it to fault)", tracking_weight),
        kw("track_interface", Block, "`{ IF [weight N] … }`: interfaces the group follows", track),
        kw("track_script", Block, "`{ NAME [weight N] … }`: vrrp_scripts the group follows", track),
        kw("track_file", Block, "`{ NAME [weight N] … }`: track_files the group follows", track),
        kw("track_process", Block, "`{ NAME [weight N] … }`: vrrp_track_processes the group follows", track_process),
    ];
}

/// `vrrp_sync_group NAME { … }`.
pub(super) fn sync_group(cx: &mut Ctx, node: &Node, config: &mut Config, pending: &mut Pending) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.to_string()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut st = Group {
        g: VrrpSyncGroup {
            name,
            group: Vec::new(),
            notify: Notify {
                priority_changes: config.global.vrrp_notify_priority_changes,
                ..Notify::default()
            },
            smtp_alert: None,
            global_tracking: false,
            sync_group_tracking_weight: false,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_bfds: Vec::new(),
            track_processes: Vec::new(),
            span: node.span(),
        },
        idx: config.vrrp_sync_groups.len(),
        config,
        pending,
    };
    for n in children {
        super::dispatch(cx, Context::VrrpSyncGroup, Group::TABLE, n, &mut st);
    }
    let g = st.g;
    config.vrrp_sync_groups.push(g);
}

type S<'s, 'b> = &'s mut Group<'b>;

fn group(cx: &mut Ctx, n: &Node, s: S) {
    let lines = n.children();
    for l in lines {
        s.g.group.extend(l.words.iter().map(|w| w.text.to_string()));
    }
    if lines.is_empty()
        && let Some(b) = &n.block
    {
        cx.warn(
            b.close,
            format!("sync group {} has an empty group block", s.g.name),
        );
    }
}
fn track_bfd(cx: &mut Ctx, n: &Node, s: S) {
    let t = super::bfd::track_bfd(cx, n, &s.g.name, s.config);
    s.g.track_bfds.extend(t);
}
/// The notify scripts (keepalived 2.2.7 has no
/// `notify_deleted` nor `notify_master_rx_lower_pri` in a sync group).
fn notify(cx: &mut Ctx, n: &Node, s: S) {
    super::vrrp::notify_keyword(cx, n, &mut s.g.notify);
}
/// Applied to the member instances once every block is read (`vrrp::resolve`).
fn priority_changes(cx: &mut Ctx, n: &Node, s: S) {
    let value = cx.flag(n);
    s.g.notify.priority_changes = value;
    s.pending.group_priority_changes.push((s.idx, value));
}
fn smtp_alert(cx: &mut Ctx, n: &Node, s: S) {
    s.g.smtp_alert = Some(cx.flag(n));
}
fn global_tracking(cx: &mut Ctx, n: &Node, s: S) {
    cx.warn(
        n.span(),
        "`global_tracking` is deprecated; track on the sync group instead",
    );
    s.g.global_tracking = true;
}
fn tracking_weight(_: &mut Ctx, _: &Node, s: S) {
    s.g.sync_group_tracking_weight = true;
}
fn track(cx: &mut Ctx, n: &Node, s: S) {
    let owner = Owner::Group(s.idx);
    super::vrrp::track(cx, n, owner, &mut s.g.track_interfaces, s.pending);
}
fn track_process(cx: &mut Ctx, n: &Node, s: S) {
    let t = super::track_process::lines(cx, n, &s.g.name);
    s.g.track_processes.extend(t);
}
