//! keepalived's keyword vocabulary, per block: what lvsd models, what it accepts without acting
//! on (so a valid keepalived.conf never gets an "unknown keyword"), the aliases keepalived
//! accepts and the deprecated spellings it warns about. Unknown keywords are matched against
//! the block's vocabulary for a did-you-mean suggestion.
//!
//! The build stage (`build/`) holds the handler of each modelled keyword; this module is the
//! single list of names and statuses ([`table`]: implemented, modelled but not acting
//! ([`NOT_ACTING`]), accepted without effect (`*_IGNORED`)), so suggestions, the
//! `lvsd does not implement X` notes and `docs/keywords.md` stay in one place.

/// A block kind, for vocabulary lookup and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    TopLevel,
    GlobalDefs,
    VrrpScript,
    TrackFile,
    VrrpTrackProcess,
    VrrpSyncGroup,
    VrrpInstance,
    VirtualServer,
    RealServer,
    Checker,
    HttpChecker,
    Url,
    Ssl,
    BfdInstance,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::TopLevel => "the top level",
            Context::GlobalDefs => "global_defs",
            Context::VrrpScript => "vrrp_script",
            Context::TrackFile => "track_file",
            Context::VrrpTrackProcess => "vrrp_track_process",
            Context::VrrpSyncGroup => "vrrp_sync_group",
            Context::VrrpInstance => "vrrp_instance",
            Context::VirtualServer => "virtual_server",
            Context::RealServer => "real_server",
            Context::Checker => "the checker",
            Context::HttpChecker => "HTTP_GET/SSL_GET",
            Context::Url => "url",
            Context::Ssl => "SSL",
            Context::BfdInstance => "bfd_instance",
        }
    }

    /// Keywords lvsd models in this block (spelled as keepalived, aliases included).
    pub fn modelled(self) -> &'static [&'static str] {
        match self {
            Context::TopLevel => TOP_LEVEL,
            Context::GlobalDefs => GLOBAL_DEFS,
            Context::VrrpScript => VRRP_SCRIPT,
            Context::TrackFile => TRACK_FILE,
            Context::VrrpTrackProcess => VRRP_TRACK_PROCESS,
            Context::VrrpSyncGroup => VRRP_SYNC_GROUP,
            Context::VrrpInstance => VRRP_INSTANCE,
            Context::VirtualServer => VIRTUAL_SERVER,
            Context::RealServer => REAL_SERVER,
            Context::Checker => CHECKER_COMMON,
            Context::HttpChecker => HTTP_CHECKER,
            Context::Url => URL,
            Context::Ssl => SSL,
            Context::BfdInstance => BFD_INSTANCE,
        }
    }

    /// keepalived keywords accepted here without effect in lvsd.
    pub fn ignored(self) -> &'static [&'static str] {
        match self {
            Context::TopLevel => TOP_LEVEL_IGNORED,
            Context::GlobalDefs => GLOBAL_DEFS_IGNORED,
            Context::VrrpInstance => VRRP_INSTANCE_IGNORED,
            Context::VirtualServer => VIRTUAL_SERVER_IGNORED,
            Context::RealServer => REAL_SERVER_IGNORED,
            Context::VrrpSyncGroup => &[],
            _ => &[],
        }
    }

    pub fn knows(self, kw: &str) -> bool {
        self.modelled().contains(&kw) || self.ignored().contains(&kw)
    }

    /// The closest known keyword to a misspelt one, if it is close enough to be a typo.
    pub fn suggest(self, kw: &str) -> Option<&'static str> {
        suggest(kw, self.modelled().iter().chain(self.ignored()).copied())
    }
}

/// Keywords lvsd reads into its model but does not act on yet (the VRRP engine, the director
/// or the daemon never use the value), per block, with what that means for a configuration.
/// Each is reported as `lvsd does not implement X: …` like the `*_IGNORED` ones.
pub const NOT_ACTING: &[(Context, &[&str], &str)] = &[
    (
        Context::GlobalDefs,
        &[
            "router_id",
            "notification_email",
            "notification_email_from",
            "smtp_server",
            "smtp_connect_timeout",
            "smtp_alert",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
        ],
        "lvsd sends no e-mail; follow state changes through notify scripts, /metrics or the event stream",
    ),
    (
        Context::GlobalDefs,
        &[
            "vrrp_min_garp",
            "vrrp_lower_prio_no_advert",
            "vrrp_higher_prio_send_advert",
            "vrrp_down_timer_adverts",
            "vrrp_skip_check_adv_addr",
            "vrrp_check_unicast_src",
            "default_interface",
            "checker_log_all_failures",
        ],
        "the VRRP engine and checkers keep their defaults as if this line were absent",
    ),
    (
        Context::VrrpInstance,
        &[
            "unicast_fault_no_peer",
            "track_src_ip",
            "check_unicast_src",
            "smtp_alert",
            "down_timer_adverts",
            "lower_prio_no_advert",
            "higher_prio_send_advert",
            "skip_check_adv_addr",
            "promote_secondaries",
            "notify_master_rx_lower_pri",
        ],
        "the instance behaves as if this line were absent",
    ),
    (
        Context::VrrpSyncGroup,
        &["track_interface", "track_script", "track_file"],
        "sync-group level tracking is not implemented: failover does not follow what is tracked here",
    ),
    (
        Context::VrrpSyncGroup,
        &[
            "smtp_alert",
            "global_tracking",
            "sync_group_tracking_weight",
            "notify_priority_changes",
        ],
        "the sync group behaves as if this line were absent",
    ),
    (
        Context::VrrpScript,
        &["init_fail"],
        "the script starts in the OK state",
    ),
    (
        Context::VirtualServer,
        &["smtp_alert"],
        "the virtual server behaves as if this line were absent",
    ),
    (Context::RealServer, &["smtp_alert"], "lvsd sends no e-mail"),
    (
        Context::Checker,
        &["log_all_failures"],
        "checker failures are logged as lvsd always does",
    ),
    (
        Context::HttpChecker,
        &["log_all_failures"],
        "checker failures are logged as lvsd always does",
    ),
];

/// If lvsd models `kw` in `ctx` without acting on it: what that means ([`NOT_ACTING`]).
pub fn not_acting(ctx: Context, kw: &str) -> Option<&'static str> {
    NOT_ACTING
        .iter()
        .find(|(c, kws, _)| *c == ctx && kws.contains(&kw))
        .map(|(_, _, effect)| *effect)
}

/// What it means for a configuration that lvsd accepts `kw` without acting on it: the text of
/// `lvsd does not implement X: …`.
pub fn unimplemented_effect(kw: &str) -> &'static str {
    match kw {
        k if k.starts_with("enable_snmp") || k == "enable_traps" || k == "snmp_socket" => {
            "there is no SNMP agent or trap; use lvsd's Prometheus metrics (/metrics) and the /status API instead"
        }
        "snmp_name" => "there is no SNMP agent; the name is not published",
        "enable_dbus" | "dbus_service_name" => {
            "there is no DBus service; use lvsd's control API (lvsd ctl, /status) instead"
        }
        "track_bfd" | "bfd_instance" | "BFD_CHECK" => {
            "there is no BFD: failover and real-server health do not follow the BFD session"
        }
        "track_group" => "the track group has no effect on any instance",
        "vrrp_garp_extra_if" | "garp_extra_if" => {
            "no extra gratuitous ARPs are sent on other interfaces"
        }
        "vrf" | "use_vmac_addr" | "use_ipvlan" => {
            "the instance runs on its interface as if this line were absent"
        }
        "net_namespace" | "net_namespace_ipvs" | "namespace_with_ipsets" | "instance" => {
            "lvsd runs in the namespace it is started in; run it under `ip netns exec` instead"
        }
        k if k.ends_with("_priority")
            || k.ends_with("_rt_priority")
            || k.ends_with("_cpu_affinity")
            || k.ends_with("_no_swap")
            || k.ends_with("_rlimit_rttime")
            || k.ends_with("process_name") =>
        {
            "lvsd is one process; its scheduling is set by its service manager (systemd unit)"
        }
        k if k.contains("rcv_bufs") || k.starts_with("vrrp_rx_bufs") => {
            "socket buffers keep lvsd's defaults"
        }
        "no_email_faults" | "no_checker_emails" => "lvsd sends no e-mail",
        "use_pid_dir" => "pid files are where lvsd's --pid options put them",
        _ => "the setting has no effect",
    }
}

/// Every block kind, in the order the keyword reference lists them.
pub const CONTEXTS: &[Context] = &[
    Context::TopLevel,
    Context::GlobalDefs,
    Context::VrrpScript,
    Context::TrackFile,
    Context::VrrpTrackProcess,
    Context::VrrpSyncGroup,
    Context::VrrpInstance,
    Context::VirtualServer,
    Context::RealServer,
    Context::Checker,
    Context::HttpChecker,
    Context::Url,
    Context::Ssl,
    Context::BfdInstance,
];

/// Other spellings keepalived accepts: (alias, the keyword it stands for).
pub const ALIASES: &[(&str, &str)] = &[
    ("lb_algo", "lvs_sched"),
    ("lb_kind", "lvs_method"),
    ("vrrp_track_file", "track_file"),
    ("sh-port", "flag-1"),
    ("mh-port", "flag-1"),
    ("sh-fallback", "flag-2"),
    ("mh-fallback", "flag-2"),
    ("nb_get_retry", "retry"),
];

/// What lvsd does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Read and acted on.
    Implemented,
    /// Read into the model but not acted on yet: warned (`lvsd does not implement X`).
    NotActing(&'static str),
    /// Accepted without effect (SNMP, DBus, process tuning…): warned, with the alternative.
    Ignored(&'static str),
}

/// One keyword of keepalived 2.2.7's grammar as lvsd knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub context: Context,
    /// The keyword this one is another spelling of.
    pub alias_of: Option<&'static str>,
    pub status: Status,
}

/// The keyword table: every keyword of every block, with its status. Drives did-you-mean
/// ([`Context::suggest`]), the `lvsd does not implement` notes and `docs/keywords.md`.
pub fn table() -> Vec<Keyword> {
    let mut out = Vec::new();
    for &ctx in CONTEXTS {
        for &name in ctx.modelled() {
            let status = match not_acting(ctx, name) {
                Some(e) => Status::NotActing(e),
                None => Status::Implemented,
            };
            let alias_of = ALIASES.iter().find(|(a, _)| *a == name).map(|(_, k)| *k);
            out.push(Keyword {
                name,
                context: ctx,
                alias_of,
                status,
            });
        }
        for &name in ctx.ignored() {
            out.push(Keyword {
                name,
                context: ctx,
                alias_of: None,
                status: Status::Ignored(unimplemented_effect(name)),
            });
        }
    }
    out
}

/// `docs/keywords.md`: the keyword reference, generated from [`table`] (a test keeps the
/// checked-in file equal to this).
pub fn reference_markdown() -> String {
    let t = table();
    let count = |f: fn(&Status) -> bool| t.iter().filter(|k| f(&k.status)).count();
    let mut s = String::from(
        "# keepalived.conf keywords in lvsd\n\n\
         Generated from `src/config/keywords.rs` (`keywords::reference_markdown`); \
         `cargo test -p lvsd --test keywords_doc` checks it is current \
         (`LVSD_UPDATE_DOCS=1` rewrites it).\n\n\
         Every keyword of keepalived 2.2.7's grammar that lvsd accepts. **implemented**: read and \
         acted on. **not implemented**: accepted, and reported by `lvsd -t` at `file:line:col` \
         and at start-up as `warning: lvsd does not implement X: …`, counted by the metric \
         `lvsd_config_unimplemented_keywords` and listed in `/status` (`reload.unimplemented`). \
         A keyword not listed is reported as unknown, with a did-you-mean.\n\n",
    );
    s += &format!(
        "{} keywords: {} implemented, {} not implemented ({} modelled but not acting, {} accepted without effect).\n",
        t.len(),
        count(|s| *s == Status::Implemented),
        t.len() - count(|s| *s == Status::Implemented),
        count(|s| matches!(s, Status::NotActing(_))),
        count(|s| matches!(s, Status::Ignored(_))),
    );
    for &ctx in CONTEXTS {
        s += &format!(
            "\n## {}\n\n| keyword | status | in lvsd |\n|---|---|---|\n",
            ctx.name()
        );
        for k in t.iter().filter(|k| k.context == ctx) {
            let (status, what) = match k.status {
                Status::Implemented => ("implemented", String::new()),
                Status::NotActing(e) | Status::Ignored(e) => ("not implemented", e.to_string()),
            };
            let what = match k.alias_of {
                Some(a) if what.is_empty() => format!("alias of `{a}`"),
                Some(a) => format!("alias of `{a}`; {what}"),
                None => what,
            };
            s += &format!("| `{}` | {status} | {what} |\n", k.name);
        }
    }
    s
}

/// Blocks that may start at the top level; a missing `{` after them is assumed.
pub fn is_top_level_block(kw: &str) -> bool {
    (TOP_LEVEL.contains(&kw) || TOP_LEVEL_IGNORED.contains(&kw)) && !TOP_LEVEL_LINES.contains(&kw)
}

/// Top-level keywords that are one line, not a block (`instance NAME`, `use_pid_dir`...).
pub const TOP_LEVEL_LINES: &[&str] = &[
    "instance",
    "use_pid_dir",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
];

/// Best match by normalised Damerau-Levenshtein similarity (≥ 0.7), or by prefix for
/// abbreviations (`virtual_router` → `virtual_router_id`).
///
/// Called for every unknown word, so it must be cheap: a candidate is scored only when a lower
/// bound on its distance (from character counts, see [`CharCounts`]) leaves it a chance to
/// beat the best so far. The result is the same as scoring every candidate.
pub fn suggest<'a>(kw: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // No keyword is this long; comparing a huge word would only cost time.
    if kw.len() > 64 {
        return None;
    }
    let lower = kw.to_ascii_lowercase();
    let counts = CharCounts::of(&lower);
    let len = lower.chars().count();
    let mut best: Option<(f64, &'a str)> = None;
    let mut buf = String::new();
    for c in candidates {
        let prefix = lower.len() >= 4 && c.starts_with(lower.as_str());
        let longest = len.max(c.chars().count());
        let bound = counts.distance_bound(c);
        let similarity = |d: usize| {
            if longest == 0 {
                1.0
            } else {
                1.0 - d as f64 / longest as f64
            }
        };
        let ceiling = if prefix { 0.95f64 } else { 0.0 }.max(similarity(bound));
        if best.is_some_and(|(s, _)| ceiling <= s) {
            continue;
        }
        buf.clear();
        buf.extend(c.chars().map(|ch| ch.to_ascii_lowercase()));
        let mut score = strsim::normalized_damerau_levenshtein(&lower, &buf);
        if prefix {
            score = score.max(0.95);
        }
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    // Short words: one edit is still a typo (`rrr` → `rr`).
    best.filter(|&(s, c)| {
        s >= 0.7 || strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()) <= 1
    })
    .map(|(_, c)| c)
}

/// Character counts of a word, folded into 128 buckets (ASCII exactly).
///
/// Every edit (insertion, deletion, substitution, transposition) lowers by at most one both
/// the number of characters one word has in excess of the other and the reverse, so the larger
/// of the two bounds the edit distance from below; folding characters together only lowers it.
struct CharCounts([i16; 128]);

impl CharCounts {
    fn of(word: &str) -> CharCounts {
        let mut n = [0i16; 128];
        for ch in word.chars() {
            let b = &mut n[(ch as u32 & 127) as usize];
            *b = b.saturating_add(1);
        }
        CharCounts(n)
    }

    /// A lower bound on the Damerau-Levenshtein distance to `other` (compared lower-cased).
    fn distance_bound(&self, other: &str) -> usize {
        let mut diff = self.0;
        for ch in other.chars() {
            let b = &mut diff[(ch.to_ascii_lowercase() as u32 & 127) as usize];
            *b = b.saturating_sub(1);
        }
        let (mut excess, mut missing) = (0usize, 0usize);
        for d in diff {
            if d > 0 {
                excess += d as usize;
            } else {
                missing += d.unsigned_abs() as usize;
            }
        }
        excess.max(missing)
    }
}

pub const TOP_LEVEL: &[&str] = &[
    "global_defs",
    "vrrp_script",
    "track_file",
    "vrrp_track_file",
    "vrrp_track_process",
    "linkbeat_interfaces",
    "vrrp_sync_group",
    "vrrp_instance",
    "virtual_server_group",
    "virtual_server",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "SSL",
    "instance",
    "use_pid_dir",
    "garp_group",
    "bfd_instance",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
];

pub const TOP_LEVEL_IGNORED: &[&str] = &["track_group"];

pub const GLOBAL_DEFS: &[&str] = &[
    // lvsd extensions (docs/anycast.md).
    "anycast_table",
    "anycast_protocol",
    "router_id",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "script_user",
    "enable_script_security",
    "default_interface",
    "dynamic_interfaces",
    "vrrp_version",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_min_garp",
    "vrrp_strict",
    "vrrp_skip_check_adv_addr",
    "vrrp_check_unicast_src",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_down_timer_adverts",
    "vrrp_startup_delay",
    "vrrp_notify_priority_changes",
    "vrrp_iptables",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_on_stop",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "checker_log_all_failures",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    // keepalived's nftables firewall and IPVS fwmarks (src/nft).
    "nftables",
    "nftables_priority",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    // Process keywords (build/process.rs).
    "checker_cpu_affinity",
    "checker_no_swap",
    "checker_priority",
    "checker_process_name",
    "checker_rlimit_rttime",
    "checker_rt_priority",
    "fifo_write_vrrp_states_on_reload",
    "process_name",
    "process_names",
    "reload_time_file",
    "reload_repeat",
    "rs_init_notifies",
    "umask",
    "vrrp_cpu_affinity",
    "vrrp_no_swap",
    "vrrp_priority",
    "vrrp_process_name",
    "vrrp_rlimit_rttime",
    "vrrp_rt_priority",
];

pub const GLOBAL_DEFS_IGNORED: &[&str] = &[
    "bfd_cpu_affinity",
    "bfd_no_swap",
    "bfd_priority",
    "bfd_process_name",
    "bfd_rlimit_rttime",
    "bfd_rt_priority",
    "config_save_dir",
    "data_use_instance",
    "dbus_service_name",
    "disable_local_igmp",
    "enable_dbus",
    "enable_snmp_checker",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_vrrp",
    "enable_traps",
    "include_check",
    "log_unknown_vrids",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "max_auto_priority",
    "min_auto_priority_delay",
    "no_checker_emails",
    "no_email_faults",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "random_seed",
    "reload_check_config",
    "reload_file",
    "snmp_socket",
    "tmp_config_directory",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vrrp_garp_extra_if",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_rx_bufs_multiplier",
    "vrrp_rx_bufs_policy",
];

pub const VRRP_SCRIPT: &[&str] = &[
    "script",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
];

pub const TRACK_FILE: &[&str] = &["file", "weight", "init_file"];

pub const VRRP_TRACK_PROCESS: &[&str] = &[
    "process",
    "param_match",
    "full_command",
    "weight",
    "quorum",
    "quorum_max",
    "fork_delay",
    "terminate_delay",
    "delay",
];

pub const VRRP_SYNC_GROUP: &[&str] = &[
    "group",
    "track_bfd",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "notify_priority_changes",
    "smtp_alert",
    "global_tracking",
    "sync_group_tracking_weight",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
];

pub const VRRP_INSTANCE: &[&str] = &[
    "state",
    "track_bfd",
    "interface",
    "use_vmac",
    "vmac_xmit_base",
    "use_ipvlan",
    "dont_track_primary",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "authentication",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "unicast_src_ip",
    "unicast_peer",
    "unicast_ttl",
    "unicast_fault_no_peer",
    "mcast_src_ip",
    "mcast_dst_ip",
    "track_src_ip",
    "check_unicast_src",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "linkbeat_use_polling",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "smtp_alert",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "down_timer_adverts",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "accept",
    "no_accept",
    "strict_mode",
    "skip_check_adv_addr",
    "old_unicast_checksum",
    "promote_secondaries",
    "lvs_sync_daemon_interface",
    "native_ipv6",
    "kernel_rx_buf_size",
];

pub const VRRP_INSTANCE_IGNORED: &[&str] = &["vrf", "use_vmac_addr", "garp_extra_if", "debug"];

pub const VIRTUAL_SERVER: &[&str] = &[
    "lvs_sched",
    "lb_algo",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "ops",
    "lvs_method",
    "lb_kind",
    "persistence_engine",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "ha_suspend",
    "smtp_alert",
    "virtualhost",
    "alpha",
    "omega",
    "quorum",
    "hysteresis",
    "quorum_up",
    "quorum_down",
    "ip_family",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "inhibit_on_failure",
    "slow_start",
    "real_server",
    // lvsd extensions (docs/anycast.md).
    "announce_route",
    "anycast_quiesce",
];

pub const VIRTUAL_SERVER_IGNORED: &[&str] = &["snmp_name"];

pub const REAL_SERVER: &[&str] = &[
    "weight",
    "BFD_CHECK",
    "lvs_method",
    "notify_up",
    "notify_down",
    "uthreshold",
    "lthreshold",
    "smtp_alert",
    "virtualhost",
    "alpha",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "inhibit_on_failure",
    "slow_start",
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "GRPC_CHECK",
];

/// `bfd_instance NAME { … }` (keepalived.conf(5) "BFD CONFIGURATION").
pub const BFD_INSTANCE: &[&str] = &[
    "neighbor_ip",
    "neighbour_ip",
    "source_ip",
    "min_rx",
    "min_tx",
    "idle_tx",
    "multiplier",
    "passive",
    "ttl",
    "hoplimit",
    "max_hops",
    "weight",
    "vrrp",
    "checker",
    // lvsd extension (docs/bfd.md): RFC 5883 multihop on port 4784.
    "multihop",
];

pub const REAL_SERVER_IGNORED: &[&str] = &["snmp_name"];

/// Options every checker accepts (MISC_CHECK and FILE_CHECK only some; see build/checker.rs).
pub const CHECKER_COMMON: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_if",
    "bind_port",
    "fwmark",
    "alpha",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "log_all_failures",
    // SMTP_CHECK
    "helo_name",
    "host",
    // DNS_CHECK
    "type",
    "name",
    // MISC_CHECK
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "user",
    // UDP_CHECK
    "payload",
    "require_reply",
    "min_reply_length",
    "max_reply_length",
    // FILE_CHECK
    "track_file",
    "weight",
    // GRPC_CHECK (lvsd extension)
    "service",
    "tls",
    "tls_verify",
    "authority",
];

pub const HTTP_CHECKER: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_if",
    "bind_port",
    "fwmark",
    "alpha",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "log_all_failures",
    "http_protocol",
    "fast_recovery",
    "enable_sni",
    "sni_name",
    "virtualhost",
    "url",
    "tls_verify",
];

pub const URL: &[&str] = &[
    "path",
    "digest",
    "status_code",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_stack",
    "regex_min_offset",
    "regex_max_offset",
];

pub const SSL: &[&str] = &["password", "ca", "certificate", "key"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_keyword_meant() {
        assert_eq!(Context::GlobalDefs.suggest("route_id"), Some("router_id"));
        assert_eq!(
            Context::VrrpInstance.suggest("virtual_router"),
            Some("virtual_router_id")
        );
        assert_eq!(Context::VrrpInstance.suggest("priorty"), Some("priority"));
        assert_eq!(Context::VirtualServer.suggest("lb_algoo"), Some("lb_algo"));
        assert_eq!(Context::GlobalDefs.suggest("zzzzzz"), None);
    }

    /// The pruned search returns what scoring every candidate returns.
    #[test]
    fn pruned_suggestion_matches_the_full_search() {
        fn full<'a>(kw: &str, cands: &[&'a str]) -> Option<&'a str> {
            let lower = kw.to_ascii_lowercase();
            let mut best: Option<(f64, &'a str)> = None;
            for &c in cands {
                let cl = c.to_ascii_lowercase();
                let mut score = strsim::normalized_damerau_levenshtein(&lower, &cl);
                if lower.len() >= 4 && c.starts_with(lower.as_str()) {
                    score = score.max(0.95);
                }
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, c));
                }
            }
            best.filter(|&(s, c)| {
                s >= 0.7 || strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()) <= 1
            })
            .map(|(_, c)| c)
        }
        let words = [
            "",
            "a",
            "rr",
            "rrr",
            "priorty",
            "PRIORITY",
            "virtual_router",
            "lb_algoo",
            "route_id",
            "intreface",
            "état",
            "HTTP_GETT",
            "real_serv",
            "zzzzzz",
            "delay",
            "wieght",
            "ssl_get",
            "notify_mastr",
            "track_scrpt",
            "v",
            "1",
            "__",
            "garp_master_dela",
            "smtp",
        ];
        for ctx in [
            Context::TopLevel,
            Context::GlobalDefs,
            Context::VrrpInstance,
            Context::VirtualServer,
            Context::RealServer,
            Context::Checker,
            Context::HttpChecker,
        ] {
            let cands: Vec<&str> = ctx
                .modelled()
                .iter()
                .chain(ctx.ignored())
                .copied()
                .collect();
            for w in words {
                assert_eq!(
                    suggest(w, cands.iter().copied()),
                    full(w, &cands),
                    "{w:?} in {}",
                    ctx.name()
                );
            }
            // Every keyword with one character dropped or doubled.
            for c in &cands {
                for w in [&c[1..], &format!("{c}{c}")[..c.len() + 1]] {
                    assert_eq!(suggest(w, cands.iter().copied()), full(w, &cands), "{w:?}");
                }
            }
        }
    }

    #[test]
    fn vocabularies_have_no_duplicates() {
        for ctx in [
            Context::TopLevel,
            Context::GlobalDefs,
            Context::VrrpInstance,
            Context::VirtualServer,
            Context::RealServer,
            Context::Checker,
            Context::HttpChecker,
        ] {
            let mut all: Vec<&str> = ctx
                .modelled()
                .iter()
                .chain(ctx.ignored())
                .copied()
                .collect();
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "{}", ctx.name());
        }
    }
}
