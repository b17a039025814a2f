//! The "Global definitions" section of keepalived's data dumps (keepalived_parent.data,
//! keepalived.data, keepalived_check.data), in keepalived 2.2.7's layout and order.
//!
//! Each line comes from the running configuration's `global_defs` where lvsd models the
//! option; options lvsd has no counterpart for (SNMP, DBus, netlink buffer sizes, process
//! priorities it does not set) print keepalived's default, which is what keepalived prints for
//! a configuration that does not set them. The VRRP process prints `Default interface`, and
//! resolves unset lower-priority GARP settings to the master ones; the parent prints them
//! unset (4294967295), as keepalived does. Pure: the caller passes the host facts.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::model::{GlobalDefs, LvsFlushOnStop};

/// Which process's file the section is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Parent,
    Vrrp,
    Checker,
}

/// What the section prints that is not in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// Default `router_id`: the host name.
    pub hostname: String,
    /// `Default script uid:gid`.
    pub script_uid_gid: (u32, u32),
    /// The process umask, as `0177`.
    pub umask: String,
}

impl HostFacts {
    /// This host's facts for `g` (the default script user: `script_user`, else
    /// `keepalived_script` if that user exists, else root).
    pub fn read(g: &GlobalDefs) -> HostFacts {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let user = g
            .script_user
            .as_ref()
            .map_or("keepalived_script", |u| u.user.as_str());
        let uid_gid = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| {
                let gid = g
                    .script_user
                    .as_ref()
                    .and_then(|s| s.group.as_deref())
                    .and_then(|n| nix::unistd::Group::from_name(n).ok().flatten())
                    .map_or(u.gid.as_raw(), |gr| gr.gid.as_raw());
                (u.uid.as_raw(), gid)
            })
            .unwrap_or((0, 0));
        let umask = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string()))
            })
            .unwrap_or_else(|| "0177".to_string());
        HostFacts {
            hostname,
            script_uid_gid: uid_gid,
            umask,
        }
    }
}

fn opt_bool(b: Option<bool>) -> &'static str {
    match b {
        None => "unset",
        Some(true) => "on",
        Some(false) => "off",
    }
}

/// keepalived's `%f` of a duration in seconds.
fn secs_f(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// Writes the section, title included.
pub fn write(o: &mut String, g: &GlobalDefs, host: &HostFacts, p: Process) -> std::fmt::Result {
    writeln!(o, "------< Global definitions >------")?;
    writeln!(o, " Network namespace = (default)")?;
    writeln!(o, " Network namespace ipvs = (main namespace)")?;
    let rid = g.router_id.as_deref().unwrap_or(&host.hostname);
    writeln!(o, " Router ID = {rid}")?;
    writeln!(o, " Default smtp_alert = {}", opt_bool(g.smtp_alert))?;
    writeln!(
        o,
        " Default smtp_alert_vrrp = {}",
        opt_bool(g.smtp_alert_vrrp)
    )?;
    writeln!(
        o,
        " Default smtp_alert_checker = {}",
        opt_bool(g.smtp_alert_checker)
    )?;
    writeln!(
        o,
        " Checkers log all failures = {}",
        g.checker_log_all_failures
    )?;
    writeln!(o, " No test config before reload")?;
    writeln!(o, " Dynamic interfaces = {}", g.dynamic_interfaces)?;
    if g.dynamic_interfaces {
        // `dynamic_interfaces allow_if_changes` is not modelled: keepalived's default.
        writeln!(o, " Allow interface changes = false")?;
    }
    if p == Process::Vrrp {
        let dev = g.default_interface.as_deref().unwrap_or("eth0");
        writeln!(o, " Default interface = {dev}")?;
    }
    writeln!(o, " Disable local IGMP = no")?;
    writeln!(o, " LVS flush = {}", g.lvs_flush)?;
    let flush_on_stop = match g.lvs_flush_on_stop {
        LvsFlushOnStop::No => "disabled",
        LvsFlushOnStop::Yes => "enabled",
        LvsFlushOnStop::VsOnly => "VS only",
    };
    writeln!(o, " LVS flush on stop = {flush_on_stop}")?;
    writeln!(o, " FIFO write vrrp states on reload = false")?;
    writeln!(
        o,
        " VRRP notify priority changes = {}",
        g.vrrp_notify_priority_changes
    )?;
    writeln!(o, " VRRP IPv4 mcast group = {}", g.vrrp_mcast_group4)?;
    writeln!(o, " VRRP IPv6 mcast group = {}", g.vrrp_mcast_group6)?;
    write_garp(o, g, p)?;
    writeln!(o, " VRRP default protocol version = {}", g.vrrp_version)?;
    writeln!(o, " nftables without counters")?;
    writeln!(o, " libnftnl version 1.2.3")?;
    writeln!(o, " VRRP check unicast_src = {}", g.vrrp_check_unicast_src)?;
    writeln!(
        o,
        " VRRP skip check advert addresses = {}",
        g.vrrp_skip_check_adv_addr
    )?;
    writeln!(o, " VRRP strict mode = {}", g.vrrp_strict)?;
    write_constants(o, g, host)
}

fn write_garp(o: &mut String, g: &GlobalDefs, p: Process) -> std::fmt::Result {
    let t = &g.garp;
    writeln!(o, " Gratuitous ARP delay = {}", t.master_delay.as_secs())?;
    writeln!(o, " Gratuitous ARP repeat = {}", t.master_repeat)?;
    let refresh = t.master_refresh.map_or(0, |d| d.as_secs());
    writeln!(o, " Gratuitous ARP refresh timer = {refresh}")?;
    writeln!(
        o,
        " Gratuitous ARP refresh repeat = {}",
        t.master_refresh_repeat
    )?;
    // The model resolves unset lower-priority values to the master ones; the parent prints
    // such values as keepalived's "unset".
    let unset = |same: bool, v: String| {
        if p != Process::Vrrp && same {
            u32::MAX.to_string()
        } else {
            v
        }
    };
    writeln!(
        o,
        " Gratuitous ARP lower priority delay = {}",
        unset(
            t.lower_prio_delay == t.master_delay,
            t.lower_prio_delay.as_secs().to_string()
        )
    )?;
    writeln!(
        o,
        " Gratuitous ARP lower priority repeat = {}",
        unset(
            t.lower_prio_repeat == t.master_repeat,
            t.lower_prio_repeat.to_string()
        )
    )?;
    writeln!(
        o,
        " Num adverts before down = {}",
        g.vrrp_down_timer_adverts
    )?;
    writeln!(o, " Gratuitous ARP for each secondary VMAC = 0s")?;
    writeln!(
        o,
        " Send advert after receive lower priority advert = {}",
        !g.vrrp_lower_prio_no_advert
    )?;
    writeln!(
        o,
        " Send advert after receive higher priority advert = {}",
        g.vrrp_higher_prio_send_advert
    )?;
    writeln!(o, " Gratuitous ARP interval = {}", secs_f(t.interval))?;
    writeln!(o, " Gratuitous NA interval = {}", secs_f(t.gna_interval))
}

/// Lines for options lvsd does not model: keepalived's defaults.
fn write_constants(o: &mut String, g: &GlobalDefs, host: &HostFacts) -> std::fmt::Result {
    writeln!(o, " Max auto priority = 0")?;
    writeln!(o, " Min auto priority delay = 1000000 usecs")?;
    for p in ["VRRP", "Checker", "BFD"] {
        writeln!(o, " {p} process priority = 0")?;
        writeln!(o, " {p} don't swap = false")?;
        writeln!(o, " {p} realtime priority = 0")?;
        writeln!(o, " {p} realtime limit = 10000")?;
    }
    for s in ["vrrp", "checker", "RFCv2", "RFCv3", "traps"] {
        writeln!(o, " SNMP {s} disabled")?;
    }
    writeln!(o, " SNMP socket = default (unix:/var/agentx/master)")?;
    writeln!(o, " DBus disabled")?;
    writeln!(o, " DBus service name = ")?;
    let sec = if g.enable_script_security {
        "enabled"
    } else {
        "disabled"
    };
    writeln!(o, " Script security {sec}")?;
    let (uid, gid) = host.script_uid_gid;
    writeln!(o, " Default script uid:gid {uid}:{gid}")?;
    for b in [
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs",
        "process_monitor_rcv_bufs",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs",
    ] {
        writeln!(o, " {b} = 0")?;
        writeln!(o, " {b}_force = 0")?;
    }
    writeln!(o, " rs_init_notifies = 0")?;
    writeln!(o, " no_checker_emails = 0")?;
    writeln!(o, " rx_bufs_multiples = 3")?;
    writeln!(o, " umask = {}", host.umask)
}
