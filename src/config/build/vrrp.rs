//! VRRP blocks: `vrrp_script`, `track_file`, `vrrp_sync_group`, `vrrp_instance` and the address
//! and route lines they share with `static_ipaddress` / `static_routes`.

use std::net::IpAddr;
use std::time::Duration;

use super::Ctx;
use crate::config::model::{
    AuthType, Authentication, Config, Family, InitialState, LvsSyncDaemon, Notify, Span,
    TrackFileRef, TrackInterface, TrackScript, UnicastPeer, VirtualAddress, VrrpInstance,
};
use crate::config::parser::{Node, Word};

/// A track_script / track_file line before the script/file it names is known.
#[derive(Debug)]
pub(super) struct RawTrack {
    name: String,
    weight: Option<i32>,
    reverse: Option<bool>,
    span: Span,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Owner {
    Instance(usize),
    Group(usize),
}

/// References resolved once every top-level block has been read.
#[derive(Debug, Default)]
pub(super) struct Pending {
    scripts: Vec<(Owner, RawTrack)>,
    files: Vec<(Owner, RawTrack)>,
    /// Instances that set `notify_priority_changes` themselves: their sync group's does not
    /// override it.
    pub(super) own_priority_changes: Vec<String>,
    /// Each sync group's `notify_priority_changes` line: (group index, value).
    pub(super) group_priority_changes: Vec<(usize, bool)>,
}

/// `weight N [reverse]` as a node whose words start at `weight` (for [`Ctx::weight_at`]).
pub(super) fn reweight(n: &Node) -> Node {
    let mut words = vec![n.words[0].clone()];
    words.extend(n.words.iter().cloned());
    Node { words, block: None }
}

fn track_lines(cx: &mut Ctx, node: &Node, limit: i64) -> Vec<RawTrack> {
    let mut out = Vec::new();
    let Some(children) = cx.need_block(node) else {
        return out;
    };
    for l in children {
        if l.block.is_some() || l.words.is_empty() {
            cx.warn(
                l.span(),
                format!("unexpected block in `{}`; ignored", node.keyword()),
            );
            continue;
        }
        let (weight, reverse) = cx.weight_at(l, 1, limit);
        out.push(RawTrack {
            name: l.words[0].text.to_string(),
            weight,
            reverse,
            span: l.span(),
        });
    }
    out
}

pub(super) fn notify_keyword(cx: &mut Ctx, n: &Node, notify: &mut Notify) -> bool {
    match n.keyword() {
        "notify_master" => notify.master = cx.script(n),
        "notify_backup" => notify.backup = cx.script(n),
        "notify_fault" => notify.fault = cx.script(n),
        "notify_stop" => notify.stop = cx.script(n),
        "notify" => notify.any = cx.script(n),
        "notify_master_rx_lower_pri" => notify.master_rx_lower_pri = cx.script(n),
        "notify_deleted" => {
            notify.deleted = Some(if n.words.len() > 1 {
                cx.script(n)
            } else {
                None
            });
        }
        "notify_priority_changes" => notify.priority_changes = cx.flag(n),
        _ => return false,
    }
    true
}

/// A sync group's `notify_priority_changes` applies to its instances that do not set their
/// own (keepalived: the instance's, else its sync group's, else global_defs'
/// `vrrp_notify_priority_changes`).
fn group_priority_changes(config: &mut Config, pending: &Pending) {
    for &(g, value) in &pending.group_priority_changes {
        let Some(group) = config.vrrp_sync_groups.get(g) else {
            continue;
        };
        for vi in config.vrrp_instances.iter_mut() {
            if group.group.contains(&vi.name) && !pending.own_priority_changes.contains(&vi.name) {
                vi.notify.priority_changes = value;
            }
        }
    }
}

/// The closing `}` of a block (the node itself if it has none): where keepalived reports what
/// a block lacks.
pub(super) fn close_span(node: &Node) -> Span {
    node.block.as_ref().map_or(node.span(), |b| b.close)
}

/// An instance with keepalived's defaults, those from global_defs applied.
pub(super) fn new_instance(
    name: &str,
    span: Span,
    gl: &crate::config::model::GlobalDefs,
) -> VrrpInstance {
    VrrpInstance {
        name: name.to_string(),
        span,
        state: InitialState::Backup,
        interface: None,
        interface_span: None,
        vrf: None,
        vrf_span: None,
        use_vmac: None,
        use_vmac_mac: None,
        vmac_xmit_base: false,
        use_vmac_addr: false,
        use_ipvlan: None,
        dont_track_primary: false,
        virtual_router_id: 0,
        virtual_router_id_span: span,
        priority: 100,
        priority_span: None,
        advert_int: Duration::from_secs(1),
        version: gl.vrrp_version,
        family: Family::Inet,
        authentication: None,
        virtual_ipaddress: Vec::new(),
        virtual_ipaddress_excluded: Vec::new(),
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        unicast_src_ip: None,
        unicast_peers: Vec::new(),
        unicast_ttl: None,
        kernel_rx_buf_size: None,
        unicast_fault_no_peer: false,
        mcast_src_ip: None,
        mcast_dst_ip: None,
        track_src_ip: false,
        check_unicast_src: gl.vrrp_check_unicast_src,
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        track_files: Vec::new(),
        track_bfds: Vec::new(),
        track_processes: Vec::new(),
        linkbeat_use_polling: false,
        notify: Notify {
            priority_changes: gl.vrrp_notify_priority_changes,
            ..Notify::default()
        },
        smtp_alert: false,
        garp: gl.garp.clone(),
        down_timer_adverts: gl.vrrp_down_timer_adverts,
        lower_prio_no_advert: gl.vrrp_lower_prio_no_advert,
        higher_prio_send_advert: gl.vrrp_higher_prio_send_advert,
        accept: true,
        strict_mode: gl.vrrp_strict,
        skip_check_adv_addr: gl.vrrp_skip_check_adv_addr,
        v3_checksum_as_v2: false,
        promote_secondaries: false,
        lvs_sync_daemon_interface: None,
    }
}

/// `lvs_sync_daemon_interface` (deprecated): becomes global_defs' `lvs_sync_daemon`.
pub(super) fn lvs_sync_daemon_interface(
    cx: &mut Ctx,
    n: &Node,
    vi: &mut VrrpInstance,
    config: &mut Config,
) {
    let name = vi.name.clone();
    if let Some(w) = cx.arg(n, 1, "an interface") {
        cx.warn_note(
            n.span(),
            format!("({name}) `lvs_sync_daemon_interface` in a vrrp_instance is deprecated"),
            format!(
                "help: use `lvs_sync_daemon {} {name}` in global_defs",
                w.text
            ),
        );
        match &config.global.lvs_sync_daemon {
            Some(d) => cx.warn(
                w.span,
                format!(
                    "({name}) lvs_sync_daemon_interface has already been specified as {}; ignored",
                    d.interface
                ),
            ),
            None => {
                vi.lvs_sync_daemon_interface = Some(w.text.to_string());
                config.global.lvs_sync_daemon = Some(LvsSyncDaemon {
                    interface: w.text.to_string(),
                    instance: Some(name.clone()),
                    id: 0,
                    maxlen: None,
                    port: None,
                    ttl: None,
                    group: None,
                    span: n.span(),
                });
            }
        }
    }
}

/// Where an instance set keywords whose meaning depends on the others (checked at its end).
#[derive(Default)]
pub(super) struct Seen {
    pub(super) preempt_delay: Option<Span>,
    /// The first of the keywords that only make sense with unicast peers.
    pub(super) unicast_keyword: Option<Span>,
    pub(super) unicast_ttl: Option<Span>,
    pub(super) vmac_xmit_base: Option<Span>,
}

impl Seen {
    /// keepalived's end-of-instance checks that clear a setting (`-t`: warnings).
    pub(super) fn check(&self, cx: &mut Ctx, vi: &mut VrrpInstance, master: bool, close: Span) {
        let name = vi.name.clone();
        if let Some(span) = self.preempt_delay
            && master
            && vi.preempt_delay > Duration::ZERO
        {
            cx.warn(
                span,
                format!("({name}) preempt delay will not work with initial state MASTER; cleared"),
            );
            vi.preempt_delay = Duration::ZERO;
        }
        if vi.unicast_peers.is_empty() {
            if self.unicast_ttl.is_some() {
                cx.warn(
                    close,
                    format!("({name}) cannot use unicast_ttl without unicast peers; reset"),
                );
                vi.unicast_ttl = None;
            }
            if let Some(span) = self.unicast_keyword {
                cx.warn(
                    span,
                    format!("({name}) a unicast keyword has been specified without any unicast peers; using multicast (deprecated usage)"),
                );
            }
        }
        if let Some(span) = self.vmac_xmit_base
            && vi.use_vmac.is_none()
        {
            cx.warn(
                span,
                format!("({name}) vmac_xmit_base is only valid with a vmac; ignored"),
            );
            vi.vmac_xmit_base = false;
        }
    }
}

pub(super) fn authentication(cx: &mut Ctx, n: &Node) -> Option<Authentication> {
    let lines = cx.need_block(n)?;
    let mut auth_type = None;
    let mut type_given = false;
    let mut pass: Option<String> = None;
    for l in lines {
        match l.keyword() {
            "auth_type" => {
                type_given = true;
                if let Some(w) = cx.arg(l, 1, "PASS or AH") {
                    match w.text.to_ascii_uppercase().as_str() {
                        "PASS" => auth_type = Some(AuthType::Pass),
                        "AH" => auth_type = Some(AuthType::Ah),
                        _ => cx.warn(
                            w.span,
                            format!("unknown auth_type `{}` (PASS or AH); ignored", w.text),
                        ),
                    }
                }
            }
            "auth_pass" => {
                if let Some(w) = cx.arg(l, 1, "a password") {
                    let mut p = w.text.to_string();
                    if p.len() > 8 {
                        cx.warn(w.span, "auth_pass is longer than 8 characters; truncated to 8, as keepalived does");
                        let mut end = 8;
                        while !p.is_char_boundary(end) {
                            end -= 1;
                        }
                        p.truncate(end);
                    }
                    pass = Some(p);
                }
            }
            _ => {
                let msg = format!("unknown keyword `{}` in authentication", l.keyword());
                match crate::config::keywords::suggest(
                    l.keyword(),
                    ["auth_type", "auth_pass"].into_iter(),
                ) {
                    Some(s) => cx.warn_note(l.span(), msg, format!("help: did you mean `{s}`?")),
                    None => cx.warn(l.span(), msg),
                }
            }
        }
    }
    match (auth_type, pass) {
        (Some(t), Some(p)) => Some(Authentication {
            auth_type: t,
            auth_pass: p,
            span: n.span(),
        }),
        (None, _) => {
            // An invalid auth_type was already reported.
            if !type_given {
                cx.warn(n.span(), "authentication without `auth_type`; ignored");
            }
            None
        }
        (Some(_), None) => {
            cx.warn(n.span(), "authentication without `auth_pass`; ignored");
            None
        }
    }
}

pub(super) fn unicast_peer(cx: &mut Ctx, l: &Node) -> Option<UnicastPeer> {
    let w = l.words.first()?;
    let addr = cx.ip_word(w, "unicast_peer")?;
    let mut p = UnicastPeer {
        addr,
        min_ttl: None,
        max_ttl: None,
        span: w.span,
    };
    let mut i = 1;
    while let Some(k) = l.words.get(i) {
        match (k.text.as_str(), l.words.get(i + 1)) {
            ("min_ttl", Some(v)) => p.min_ttl = cx.int_word(v, "min_ttl", 0, 255).map(|v| v as u8),
            ("max_ttl", Some(v)) => p.max_ttl = cx.int_word(v, "max_ttl", 0, 255).map(|v| v as u8),
            _ => cx.warn(
                k.span,
                format!(
                    "unexpected `{}` in unicast_peer (min_ttl N, max_ttl N)",
                    k.text
                ),
            ),
        }
        i += 2;
    }
    Some(p)
}

/// `IP[/LEN] [brd X] [dev IF] [scope S] [label L] [peer IP] [flags…] [preferred_lft N]`.
pub(super) fn virtual_address(cx: &mut Ctx, l: &Node) -> Option<VirtualAddress> {
    if l.block.is_some() {
        cx.warn(l.span(), "unexpected block in an address list; ignored");
        return None;
    }
    let first = l.words.first()?;
    let (addr, prefix_len) = address_and_prefix(cx, first)?;
    let mut a = VirtualAddress {
        addr,
        prefix_len,
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        no_track: false,
        use_vmac: false,
        flags: Vec::new(),
        preferred_lft: None,
        track_group: None,
        span: first.span,
    };
    let mut i = 1;
    while let Some(k) = l.words.get(i) {
        match address_option(cx, &mut a, k, l.words.get(i + 1)) {
            Some(words) => i += words,
            None => break,
        }
    }
    Some(a)
}

/// `IP[/LEN]` of an address line (a bad length is warned and the full length used).
fn address_and_prefix(cx: &mut Ctx, first: &Word) -> Option<(IpAddr, u8)> {
    let (ip_s, len_s) = match first.text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (first.text.as_str(), None),
    };
    let Ok(addr) = ip_s.parse::<IpAddr>() else {
        cx.warn(
            first.span,
            format!("`{}` is not an IP address; the line is ignored", first.text),
        );
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match len_s {
        None => max,
        Some(s) => match s.parse::<u8>() {
            Ok(v) if v <= max => v,
            _ => {
                cx.warn(
                    first.span,
                    format!("invalid address prefix len {s} for address {addr}; using {max}"),
                );
                max
            }
        },
    };
    Some((addr, prefix_len))
}

/// One option `k` (with the word after it, `val`) of an address line: how many words it
/// took, or None when the rest of the line is ignored (a value is missing).
fn address_option(
    cx: &mut Ctx,
    a: &mut VirtualAddress,
    k: &Word,
    val: Option<&Word>,
) -> Option<usize> {
    let takes_value = matches!(
        k.text.as_str(),
        "brd" | "broadcast" | "dev" | "scope" | "label" | "peer" | "preferred_lft" | "track_group"
    );
    if takes_value && val.is_none() {
        cx.warn(k.span, format!("`{}` needs a value", k.text));
        return None;
    }
    match (k.text.as_str(), val) {
        ("brd" | "broadcast", Some(v)) => a.broadcast = Some(v.text.to_string()),
        ("dev", Some(v)) => a.dev = Some(v.text.to_string()),
        ("scope", Some(v)) => {
            if !matches!(
                v.text.as_str(),
                "site" | "link" | "host" | "nowhere" | "global"
            ) && v.text.parse::<u8>().is_err()
            {
                cx.warn(
                    v.span,
                    format!(
                        "unknown scope `{}` (site, link, host, nowhere, global)",
                        v.text
                    ),
                );
            }
            a.scope = Some(v.text.to_string());
        }
        ("label", Some(v)) => a.label = Some(v.text.to_string()),
        ("peer", Some(v)) => a.peer = cx.ip_word(v, "peer"),
        ("preferred_lft", Some(v)) => a.preferred_lft = Some(v.text.to_string()),
        ("track_group", Some(v)) => a.track_group = Some(v.text.to_string()),
        ("no_track", _) => {
            a.no_track = true;
            return Some(1);
        }
        ("use_vmac", _) => {
            a.use_vmac = true;
            return Some(1);
        }
        ("home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin", _) => {
            a.flags.push(k.text.to_string());
            return Some(1);
        }
        _ => return Some(unknown_address_option(cx, k)),
    }
    Some(2)
}

/// An unknown option of an address line, warned with a suggestion: how many words to skip
/// (a misspelt `label X` still has its value after it: both).
fn unknown_address_option(cx: &mut Ctx, k: &Word) -> usize {
    let known = [
        "brd",
        "dev",
        "scope",
        "label",
        "peer",
        "no_track",
        "use_vmac",
        "home",
        "-nodad",
        "mngtmpaddr",
        "noprefixroute",
        "autojoin",
        "preferred_lft",
    ];
    let msg = format!("unknown address option `{}`", k.text);
    match crate::config::keywords::suggest(&k.text, known.into_iter()) {
        Some(s) => {
            cx.warn_note(k.span, msg, format!("help: did you mean `{s}`?"));
            if matches!(
                s,
                "brd" | "dev" | "scope" | "label" | "peer" | "preferred_lft"
            ) {
                return 2;
            }
            1
        }
        None => {
            cx.warn(k.span, msg);
            1
        }
    }
}

/// Resolves track_script / track_file lines against the defined scripts and files.
pub(super) fn resolve(cx: &mut Ctx, config: &mut Config, pending: Pending) {
    group_priority_changes(config, &pending);
    for (owner, t) in pending.scripts {
        let owner_name = match owner {
            Owner::Instance(i) => config.vrrp_instances.get(i).map(|v| v.name.clone()),
            Owner::Group(i) => config.vrrp_sync_groups.get(i).map(|g| g.name.clone()),
        };
        // The owner was dropped (e.g. no virtual_router_id): nothing to attach to.
        let Some(owner_name) = owner_name else {
            continue;
        };
        let Some(s) = config.vrrp_script(&t.name) else {
            let known: Vec<&str> = config
                .vrrp_scripts
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let msg = format!(
                "({owner_name}) track script `{}` is not defined; ignored",
                t.name
            );
            match crate::config::keywords::suggest(&t.name, known.into_iter()) {
                Some(s) => cx.warn_note(t.span, msg, format!("help: did you mean `{s}`?")),
                None => cx.warn(t.span, msg),
            }
            continue;
        };
        let ts = TrackScript {
            name: t.name,
            weight: t.weight.unwrap_or(s.weight),
            reverse: t.reverse.unwrap_or(s.weight_reverse),
            span: t.span,
        };
        match owner {
            Owner::Instance(i) => config.vrrp_instances[i].track_scripts.push(ts),
            Owner::Group(i) => config.vrrp_sync_groups[i].track_scripts.push(ts),
        }
    }
    for (owner, t) in pending.files {
        let owner_name = match owner {
            Owner::Instance(i) => config.vrrp_instances.get(i).map(|v| v.name.clone()),
            Owner::Group(i) => config.vrrp_sync_groups.get(i).map(|g| g.name.clone()),
        };
        let Some(owner_name) = owner_name else {
            continue;
        };
        let Some(f) = config.track_file(&t.name) else {
            cx.warn(
                t.span,
                format!(
                    "({owner_name}) track_file `{}` is not defined; ignored",
                    t.name
                ),
            );
            continue;
        };
        let tf = TrackFileRef {
            name: t.name,
            weight: t.weight.unwrap_or(f.weight),
            reverse: t.reverse.unwrap_or(f.weight_reverse),
            span: t.span,
        };
        match owner {
            Owner::Instance(i) => config.vrrp_instances[i].track_files.push(tf),
            Owner::Group(i) => config.vrrp_sync_groups[i].track_files.push(tf),
        }
    }
}

/// `track_interface` / `track_script` / `track_file` in an instance or a sync group: interfaces
/// are known now; scripts and files are resolved once every block has been read.
pub(super) fn track(
    cx: &mut Ctx,
    n: &Node,
    owner: Owner,
    interfaces: &mut Vec<TrackInterface>,
    pending: &mut Pending,
) {
    match n.keyword() {
        "track_interface" => {
            for t in track_lines(cx, n, 253) {
                interfaces.push(TrackInterface {
                    name: t.name,
                    weight: t.weight.unwrap_or(0),
                    reverse: t.reverse.unwrap_or(false),
                    span: t.span,
                });
            }
        }
        "track_script" => {
            for t in track_lines(cx, n, 253) {
                pending.scripts.push((owner, t));
            }
        }
        "track_file" => {
            for t in track_lines(cx, n, 254) {
                pending.files.push((owner, t));
            }
        }
        _ => {}
    }
}
