//! The top level of keepalived.conf: its keyword table and one small handler per block.
//!
//! `global_defs` and the blocks others refer to by name (`vrrp_script`, `track_file`,
//! `bfd_instance`, `vrrp_track_process`) are read in passes of their own before the rest
//! (`build::build`), so their handlers here do nothing.

use super::{Ctx, vrrp};
use crate::config::keywords::table::{Arity, Entry, kw};
use crate::config::model::Config;
use crate::config::parser::Node;

/// What the top-level handlers fill in.
pub(in crate::config) struct Top {
    pub(super) config: Config,
    pub(super) pending: vrrp::Pending,
}

use Arity::{Block, Rest};

impl Top {
    /// Every top-level keyword, in reference order.
    #[rustfmt::skip]
    pub(in crate::config) const TABLE: &[Entry<Top>] = &[
        kw("global_defs", Rest, "`{ … }`: global settings", read_before),
        kw("vrrp_script", Rest, "`NAME { … }`: a script VRRP instances track", read_before),
        kw("track_file", Rest, "`NAME { … }`: a file whose number instances and checkers track", read_before).aliases(&["vrrp_track_file"]),
        kw("vrrp_track_process", Rest, "`NAME { … }`: a process VRRP instances track", read_before),
        kw("linkbeat_interfaces", Block, "interfaces whose carrier is polled", linkbeat_interfaces),
        kw("vrrp_sync_group", Rest, "`NAME { … }`: instances that change state together", vrrp_sync_group),
        kw("vrrp_instance", Rest, "`NAME { … }`: a VRRP instance", vrrp_instance),
        kw("virtual_server_group", Rest, "`NAME { … }`: addresses served as one virtual server", virtual_server_group),
        kw("virtual_server", Rest, "`IP PORT | fwmark N | group NAME { … }`: an IPVS service", virtual_server),
        kw("static_ipaddress", Block, "addresses configured at start-up, outside VRRP", static_ipaddress),
        kw("static_routes", Block, "routes configured at start-up", static_routes),
        kw("static_rules", Block, "policy rules configured at start-up", static_rules),
        kw("SSL", Rest, "`{ … }`: client certificate and CA of the SSL_GET checkers", ssl),
        kw("instance", Rest, "instance name (pid files and the control socket)", instance),
        kw("use_pid_dir", Arity::None, "pid files under /run/keepalived", use_pid_dir),
        kw("garp_group", Rest, "`{ … }`: gratuitous ARP timing of a set of interfaces", garp_group),
        kw("track_group", Rest, "`NAME { … }`: instances that follow each other's faults", track_group),
        kw("bfd_instance", Rest, "`NAME { … }`: a BFD session", read_before),
        kw("net_namespace", Rest, "network namespace to run in", namespace),
        kw("net_namespace_ipvs", Rest, "network namespace of IPVS", namespace),
        kw("namespace_with_ipsets", Rest, "ipsets are per namespace", namespace),
    ];
}

type S<'s> = &'s mut Top;

/// Read in an earlier pass (others refer to it by name, or take defaults from it).
fn read_before(_: &mut Ctx, _: &Node, _: S) {}
fn linkbeat_interfaces(cx: &mut Ctx, n: &Node, s: S) {
    super::linkbeat_interfaces(cx, n, &mut s.config);
}
fn vrrp_sync_group(cx: &mut Ctx, n: &Node, s: S) {
    super::sync_group::sync_group(cx, n, &mut s.config, &mut s.pending);
}
fn vrrp_instance(cx: &mut Ctx, n: &Node, s: S) {
    super::vrrp_instance::instance(cx, n, &mut s.config, &mut s.pending);
}
fn virtual_server_group(cx: &mut Ctx, n: &Node, s: S) {
    super::lvs::virtual_server_group(cx, n, &mut s.config);
}
fn virtual_server(cx: &mut Ctx, n: &Node, s: S) {
    super::lvs::virtual_server(cx, n, &mut s.config);
}
fn static_ipaddress(cx: &mut Ctx, n: &Node, s: S) {
    for c in n.children() {
        if let Some(a) = vrrp::virtual_address(cx, c) {
            s.config.static_ipaddresses.push(a);
        }
    }
}
fn static_routes(cx: &mut Ctx, n: &Node, s: S) {
    let routes = n
        .children()
        .iter()
        .filter_map(|c| super::routes::route(cx, c));
    s.config.static_routes.extend(routes.collect::<Vec<_>>());
}
fn static_rules(cx: &mut Ctx, n: &Node, s: S) {
    let rules = n
        .children()
        .iter()
        .filter_map(|c| super::routes::rule(cx, c));
    s.config.static_rules.extend(rules.collect::<Vec<_>>());
}
fn ssl(cx: &mut Ctx, n: &Node, s: S) {
    super::global::ssl(cx, n, &mut s.config);
}
/// Placement of the pid files and the control socket (read at start-up only).
fn instance(cx: &mut Ctx, n: &Node, s: S) {
    s.config.instance = cx.string(n);
}
fn use_pid_dir(_: &mut Ctx, _: &Node, s: S) {
    s.config.use_pid_dir = true;
}
fn garp_group(cx: &mut Ctx, n: &Node, s: S) {
    super::garp_group::garp_group(cx, n, &mut s.config);
}
fn track_group(cx: &mut Ctx, n: &Node, s: S) {
    super::track_group::block(cx, n, &mut s.config);
}
fn namespace(cx: &mut Ctx, n: &Node, s: S) {
    super::process::top_level(cx, n, &mut s.config.process);
}
