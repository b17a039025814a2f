//! Conversion from the shared configuration model (`lvsd::config::Config`, keepalived.conf
//! after defaults and inheritance) into what the VRRP runtime runs. Nothing is parsed here:
//! every keepalived rule (defaults, weight resolution, IPv6 → v3) is already applied by the
//! config layer; this only maps names and picks the runtime's representation. Scripts come
//! resolved from [`Scripts`] (users looked up and security checked at load, never here on the
//! VRRP thread): a disabled vrrp_script is dropped with its trackers, as keepalived removes
//! an unsafe track script from the instances; a disabled notify hook is absent.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::model as m;
use crate::scripts::Scripts;

use super::track_process::{ParamMatch, ProcessConfig};

use super::config::{
    AuthKind, InstanceConfig, Notify, ScriptConfig, SyncGroupConfig, Tracked, Vip, VrrpConfig,
};

/// SCHED_RR priority of the VRRP thread unless the daemon says otherwise (see `vrrp` docs).
pub const DEFAULT_RT_PRIORITY: u8 = 10;
/// SO_PRIORITY of adverts: TC_PRIO_INTERACTIVE, the high band of the default qdiscs.
pub const DEFAULT_SOCKET_PRIORITY: u32 = 6;

impl VrrpConfig {
    /// The VRRP part of a loaded configuration, its scripts resolved on this host.
    pub fn from_model(c: &m::Config) -> VrrpConfig {
        VrrpConfig::from_model_with(c, &Scripts::resolve(c))
    }

    /// The VRRP part of a loaded configuration with its scripts already resolved.
    pub fn from_model_with(c: &m::Config, scripts: &Scripts) -> VrrpConfig {
        VrrpConfig {
            keep_vips_on_stop: false,
            instances: c
                .vrrp_instances
                .iter()
                .map(|i| instance(c, scripts, i))
                .collect(),
            scripts: c
                .vrrp_scripts
                .iter()
                .filter_map(|s| script(scripts, s))
                .collect(),
            sync_groups: c
                .vrrp_sync_groups
                .iter()
                .map(|g| SyncGroupConfig {
                    name: g.name.clone(),
                    members: g.group.clone(),
                    notify: notify(scripts, &g.notify),
                })
                .collect(),
            // `vrrp_rt_priority` (the thread sets it itself; crate::tuning documents the rest).
            realtime_priority: Some(c.process.vrrp.rt_priority.unwrap_or(DEFAULT_RT_PRIORITY)),
            socket_priority: Some(DEFAULT_SOCKET_PRIORITY),
            max_auto_priority: c.process.max_auto_priority,
            min_auto_priority_delay: c.process.min_auto_priority_delay,
            startup_delay: c.global.vrrp_startup_delay,
            processes: c.track_processes.iter().map(process).collect(),
            linkbeat: c.linkbeat_interfaces.clone(),
            firewall: crate::nft::vrrp::FirewallConfig::from_model(&c.nft),
        }
    }
}

fn script(scripts: &Scripts, s: &m::VrrpScript) -> Option<ScriptConfig> {
    Some(ScriptConfig {
        name: s.name.clone(),
        script: scripts.get(&s.script)?.clone(),
        interval: s.interval,
        timeout: s.timeout,
        // Weights and reverse are resolved per tracking line by the config layer.
        weight: 0,
        reverse: false,
        rise: s.rise,
        fall: s.fall,
        init_fail: s.init_fail,
    })
}

fn notify(scripts: &Scripts, n: &m::Notify) -> Notify {
    let cmd = |s: &Option<m::Script>| scripts.get(s.as_ref()?).cloned();
    Notify {
        master: cmd(&n.master),
        backup: cmd(&n.backup),
        fault: cmd(&n.fault),
        stop: cmd(&n.stop),
        any: cmd(&n.any),
        master_rx_lower_pri: cmd(&n.master_rx_lower_pri),
    }
}

/// The instance's `track_bfd` lines and its sync group's: a group's unweighted tracker takes
/// every member to FAULT; its weights count only with `sync_group_tracking_weight`.
fn track_bfds(c: &m::Config, i: &m::VrrpInstance) -> Vec<Tracked> {
    let line = |t: &m::TrackBfd, weighted: bool| Tracked {
        name: t.name.clone(),
        weight: if weighted { weight(t.weight) } else { None },
        reverse: t.reverse,
    };
    let mut v: Vec<Tracked> = i.track_bfds.iter().map(|t| line(t, true)).collect();
    for g in c
        .vrrp_sync_groups
        .iter()
        .filter(|g| g.group.contains(&i.name))
    {
        v.extend(
            g.track_bfds
                .iter()
                .filter(|t| g.sync_group_tracking_weight || t.weight == 0)
                .map(|t| line(t, g.sync_group_tracking_weight)),
        );
    }
    v
}

fn weight(w: i32) -> Option<i32> {
    (w != 0).then_some(w)
}

/// `scope` words as `ip` knows them, or a number.
fn scope(s: &str) -> Option<u8> {
    match s {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// `brd` as written: an address, `+` (the subnet's broadcast) or `-` (none).
fn broadcast(v: &m::VirtualAddress) -> Option<Ipv4Addr> {
    let IpAddr::V4(a) = v.addr else { return None };
    match v.broadcast.as_deref()? {
        "+" => {
            let host_bits = 32u32.saturating_sub(u32::from(v.prefix_len));
            let mask = if host_bits >= 32 {
                u32::MAX
            } else {
                (1u32 << host_bits) - 1
            };
            Some(Ipv4Addr::from(u32::from(a) | mask))
        }
        "-" => None,
        s => s.parse().ok(),
    }
}

impl Vip {
    /// A `virtual_ipaddress`-style line (also `static_ipaddress`, see `crate::routes`).
    pub fn from_model(v: &m::VirtualAddress) -> Vip {
        vip(v)
    }
}

fn vip(v: &m::VirtualAddress) -> Vip {
    Vip {
        addr: v.addr,
        prefix: v.prefix_len,
        dev: v.dev.clone(),
        brd: broadcast(v),
        scope: v.scope.as_deref().and_then(scope),
        label: v.label.clone(),
        preferred_lft: v.preferred_lft.as_deref().and_then(|t| match t {
            "forever" => Some(u32::MAX),
            n => n.parse().ok(),
        }),
    }
}

/// An instance's VIP: keepalived.conf(5) puts one that names no device on the instance's
/// interface, or, in an instance without one, on `default_interface` (eth0).
fn own_vip(c: &m::Config, i: &m::VrrpInstance, v: &m::VirtualAddress) -> Vip {
    let mut out = vip(v);
    if i.interface.is_none() && out.dev.is_none() {
        out.dev = Some(
            c.global
                .default_interface
                .clone()
                .unwrap_or_else(|| "eth0".to_string()),
        );
    }
    out
}

fn instance(c: &m::Config, scripts: &Scripts, i: &m::VrrpInstance) -> InstanceConfig {
    let (auth_type, auth_pass) = match &i.authentication {
        Some(a) => (
            match a.auth_type {
                m::AuthType::Pass => AuthKind::Pass,
                m::AuthType::Ah => AuthKind::Ah,
            },
            a.auth_pass.clone(),
        ),
        None => (AuthKind::None, String::new()),
    };
    InstanceConfig {
        name: i.name.clone(),
        interface: i.interface.clone().unwrap_or_default(),
        vrf: i.vrf.clone().filter(|_| i.interface.is_none()),
        vrid: i.virtual_router_id,
        version: i.version,
        initial_master: i.state == m::InitialState::Master,
        priority: i.priority,
        advert_int: i.advert_int,
        preempt: !i.nopreempt,
        preempt_delay: i.preempt_delay,
        auth_type,
        auth_pass,
        vips: i
            .virtual_ipaddress
            .iter()
            .map(|v| own_vip(c, i, v))
            .collect(),
        vips_excluded: i
            .virtual_ipaddress_excluded
            .iter()
            .map(|v| own_vip(c, i, v))
            .collect(),
        mcast_src_ip: i.mcast_src_ip,
        mcast_dst_ip: Some(i.multicast_group(&c.global)),
        unicast_src_ip: i.unicast_src_ip,
        unicast_peers: i.unicast_peers.iter().map(|p| p.addr).collect(),
        checksum_as_v2: i.v3_checksum_as_v2,
        accept: i.accept,
        use_vmac: i.use_vmac.clone(),
        use_vmac_mac: i.use_vmac_mac,
        vmac_xmit_base: i.vmac_xmit_base && i.use_vmac.is_some(),
        use_vmac_addr: i.use_vmac_addr,
        use_ipvlan: i.use_ipvlan.clone(),
        unicast_ttl: i.unicast_ttl,
        kernel_rx_buf_size: i.kernel_rx_buf_size,
        garp_master_delay: i.garp.master_delay,
        garp_master_repeat: i.garp.master_repeat,
        garp_master_refresh: i.garp.master_refresh,
        garp_master_refresh_repeat: i.garp.master_refresh_repeat,
        garp_extra_if: i.garp.extra_if.map(|e| e.interval),
        garp_extra_if_all: i.garp.extra_if.is_some_and(|e| e.all),
        garp_lower_prio_delay: i.garp.lower_prio_delay,
        garp_lower_prio_repeat: i.garp.lower_prio_repeat,
        garp_interval: garp_group(c, i)
            .and_then(|(_, g)| g.garp_interval)
            .unwrap_or(i.garp.interval),
        gna_interval: garp_group(c, i)
            .and_then(|(_, g)| g.gna_interval)
            .unwrap_or(i.garp.gna_interval),
        garp_group: garp_group(c, i).map(|(n, _)| n.to_string()),
        track_scripts: super::sync_tracking::scripts(c, scripts, i),
        track_interfaces: super::sync_tracking::interfaces(c, i),
        track_files: super::sync_tracking::files(c, i),
        track_bfds: track_bfds(c, i),
        track_processes: track_processes(c, i),
        notify_priority_changes: i.notify.priority_changes,
        linkbeat_use_polling: i.linkbeat_use_polling,
        dont_track_primary: i.dont_track_primary,
        notify: notify(scripts, &i.notify),
        advert_rules: advert_rules(i),
        check_unicast_src: i.check_unicast_src,
        skip_check_adv_addr: i.skip_check_adv_addr,
        fault_no_peer: i.unicast_fault_no_peer && i.unicast_peers.is_empty(),
        promote_secondaries: i.promote_secondaries,
        track_src_ip: i.track_src_ip,
    }
}

/// keepalived.conf(5): strict mode cannot clear `lower_prio_no_advert` nor set
/// `higher_prio_send_advert`.
fn advert_rules(i: &m::VrrpInstance) -> super::fsm::AdvertRules {
    super::fsm::AdvertRules {
        lower_prio_no_advert: i.lower_prio_no_advert || i.strict_mode,
        higher_prio_send_advert: i.higher_prio_send_advert && !i.strict_mode,
        down_timer_adverts: i.down_timer_adverts,
    }
}

fn process(p: &m::TrackProcess) -> ProcessConfig {
    ProcessConfig {
        name: p.name.clone(),
        process: p.process.clone(),
        params: p.params.clone(),
        param_match: p.param_match.map(|m| match m {
            m::ParamMatch::Exact => ParamMatch::Exact,
            m::ParamMatch::Partial => ParamMatch::Partial,
            m::ParamMatch::Initial => ParamMatch::Initial,
        }),
        full_command: p.full_command,
        quorum: p.quorum,
        quorum_max: p.quorum_max,
        fork_delay: p.fork_delay,
        terminate_delay: p.terminate_delay,
    }
}

/// The instance's own `track_process` lines, then its sync group's.
fn track_processes(c: &m::Config, i: &m::VrrpInstance) -> Vec<Tracked> {
    let group = c
        .vrrp_sync_groups
        .iter()
        .filter(|g| g.group.contains(&i.name))
        .flat_map(|g| &g.track_processes);
    i.track_processes
        .iter()
        .chain(group)
        .map(|t| Tracked {
            name: t.name.clone(),
            weight: weight(t.weight),
            reverse: t.reverse,
        })
        .collect()
}

/// The `garp_group` holding the instance's interface (the first one, as listed).
fn garp_group<'c>(c: &'c m::Config, i: &m::VrrpInstance) -> Option<(usize, &'c m::GarpGroup)> {
    let ifname = i.interface.as_deref()?;
    c.garp_groups
        .iter()
        .enumerate()
        .find(|(_, g)| g.interfaces.iter().any(|x| x == ifname))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::{LoadOptions, load_str};
    use crate::vrrp::config::TrackFileRef;

    fn load(text: &str) -> VrrpConfig {
        match load_str(text, Path::new("test.conf"), &LoadOptions::default()) {
            Ok(l) => VrrpConfig::from_model(&l.config),
            Err(e) => panic!(
                "config refused: {:?}",
                e.diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
            ),
        }
    }

    #[test]
    fn keepalived_conf_to_runtime() {
        let c = load(
            r#"
vrrp_script chk {
    script "/usr/bin/test -e /tmp/ok"
    interval 2
    weight -60
    rise 2
    fall 3
}
vrrp_track_file tf {
    file /tmp/prio
    weight 5
}
vrrp_sync_group G {
    group {
        VI_1
        VI_6
    }
    notify "/bin/notify-group"
    # Without it keepalived (and lvsd) drop the members' weighted tracking.
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    nopreempt
    authentication {
        auth_type PASS
        auth_pass 11112222333
    }
    unicast_src_ip 10.77.0.1
    unicast_peer {
        10.77.0.2
    }
    garp_master_delay 2
    garp_master_repeat 3
    garp_master_refresh 30
    virtual_ipaddress {
        10.77.0.100/24 brd + dev eth0 scope link label eth0:vip
        10.77.0.101
    }
    track_script {
        chk
    }
    track_interface {
        eth1 weight -20
    }
    track_file {
        tf
    }
    notify_master "/bin/echo arg"
}
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 61
    priority 100
    version 3
    advert_int 0.05
    virtual_ipaddress {
        fe80::100/64
        fd00:77::100/64
    }
}
"#,
        );
        assert!(
            crate::vrrp::validate_config(&c).is_ok(),
            "{:?}",
            crate::vrrp::validate_config(&c)
        );
        let v4 = &c.instances[0];
        assert_eq!(
            (
                v4.name.as_str(),
                v4.interface.as_str(),
                v4.vrid,
                v4.version,
                v4.priority
            ),
            ("VI_1", "eth0", 51, 2, 150)
        );
        assert!(v4.initial_master);
        assert_eq!(v4.auth_type, AuthKind::Pass);
        assert_eq!(v4.auth(), crate::vrrp::packet::Auth::pass("11112222"));
        assert_eq!(v4.unicast_src_ip, Some("10.77.0.1".parse().unwrap()));
        assert_eq!(
            v4.unicast_peers,
            vec!["10.77.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            (v4.garp_master_delay, v4.garp_master_repeat),
            (Duration::from_secs(2), 3)
        );
        assert_eq!(v4.garp_master_refresh, Some(Duration::from_secs(30)));
        assert_eq!(
            v4.vips[0],
            Vip {
                addr: "10.77.0.100".parse().unwrap(),
                prefix: 24,
                dev: Some("eth0".into()),
                brd: Some(Ipv4Addr::new(10, 77, 0, 255)),
                scope: Some(253),
                label: Some("eth0:vip".into()),
                preferred_lft: None,
            }
        );
        assert_eq!(v4.vips[1], Vip::new("10.77.0.101".parse().unwrap()));
        assert_eq!(
            v4.track_scripts,
            vec![Tracked {
                name: "chk".into(),
                weight: Some(-60),
                reverse: false
            }]
        );
        assert_eq!(
            v4.track_interfaces,
            vec![Tracked {
                name: "eth1".into(),
                weight: Some(-20),
                reverse: false
            }]
        );
        assert_eq!(
            v4.track_files,
            vec![TrackFileRef {
                path: "/tmp/prio".into(),
                weight: Some(5)
            }]
        );
        assert_eq!(
            v4.notify.master.as_ref().map(|s| s.argv.clone()),
            Some(vec!["/bin/echo".to_string(), "arg".into()])
        );
        // nopreempt needs state BACKUP: with state MASTER keepalived (and the model) clear it.
        assert!(v4.preempt);

        let v6 = &c.instances[1];
        assert_eq!((v6.version, v6.vrid), (3, 61));
        assert!(v6.is_ipv6());
        assert_eq!(v6.advert_int, Duration::from_millis(50));
        assert_eq!(v6.interval_cs(), 5);

        let s = &c.scripts[0];
        assert_eq!(
            (s.name.as_str(), s.script.display().as_str()),
            ("chk", "/usr/bin/test -e /tmp/ok")
        );
        assert_eq!((s.interval, s.rise, s.fall), (Duration::from_secs(2), 2, 3));
        assert_eq!(
            c.sync_groups[0].members,
            vec!["VI_1".to_string(), "VI_6".to_string()]
        );
        assert_eq!(c.realtime_priority, Some(DEFAULT_RT_PRIORITY));
    }

    #[test]
    fn track_process_blocks_instances_and_sync_groups() {
        let l = load_str(
            r#"
global_defs {
    vrrp_startup_delay 2.5
}
vrrp_track_process nginx {
    process /usr/sbin/nginx -c /etc/nginx.conf
    param_match partial
    quorum 2
    quorum_max 4
    delay 1.5
    fork_delay 0.2
    weight 10 reverse
}
vrrp_track_process sshd {
    process sshd
}
vrrp_sync_group G {
    group {
        VI_1
    }
    track_process {
        sshd weight 0
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_process {
        nginx
        missing
    }
}
"#,
            Path::new("test.conf"),
            &LoadOptions::default(),
        )
        .unwrap();
        let text: Vec<String> = l.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("track process missing not found")),
            "{text:?}"
        );
        assert!(
            !text.iter().any(|d| d.contains("does not implement")),
            "{text:?}"
        );
        let c = VrrpConfig::from_model(&l.config);
        assert_eq!(c.startup_delay, Duration::from_millis(2500));
        let nginx = &c.processes[0];
        assert_eq!(
            (nginx.process.as_str(), nginx.params.clone()),
            (
                "/usr/sbin/nginx",
                vec!["-c".to_string(), "/etc/nginx.conf".into()]
            )
        );
        assert_eq!(nginx.param_match, Some(ParamMatch::Partial));
        assert_eq!((nginx.quorum, nginx.quorum_max), (2, 4));
        assert_eq!(nginx.fork_delay, Duration::from_millis(200));
        assert_eq!(nginx.terminate_delay, Duration::from_millis(1500));
        assert_eq!(c.processes[1].quorum_max, u32::MAX);
        assert_eq!(
            c.instances[0].track_processes,
            vec![
                Tracked {
                    name: "nginx".into(),
                    weight: Some(10),
                    reverse: true
                },
                Tracked {
                    name: "sshd".into(),
                    weight: None,
                    reverse: false
                }
            ]
        );
    }

    /// The global `vrrp_*` forms are the instances' defaults; an instance line overrides.
    #[test]
    fn advert_rules_follow_global_defs_and_the_instance() {
        let c = load(
            "global_defs {\n vrrp_lower_prio_no_advert\n vrrp_higher_prio_send_advert\n \
             vrrp_down_timer_adverts 2\n}\n\
             vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 2\n lower_prio_no_advert off\n \
             higher_prio_send_advert no\n down_timer_adverts 7\n virtual_ipaddress {\n  10.0.0.2\n }\n}\n",
        );
        let r = |i: usize| c.instances[i].advert_rules;
        assert!(r(0).lower_prio_no_advert && r(0).higher_prio_send_advert);
        assert_eq!(r(0).down_timer_adverts, 2);
        assert!(!r(1).lower_prio_no_advert && !r(1).higher_prio_send_advert);
        assert_eq!(r(1).down_timer_adverts, 7);
    }

    /// `unicast_fault_no_peer` faults the instance only while it has no peer.
    #[test]
    fn unicast_fault_no_peer_applies_without_peers() {
        let c = load(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n unicast_fault_no_peer\n \
             virtual_ipaddress {\n  10.0.0.1\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 2\n unicast_fault_no_peer\n \
             unicast_peer {\n  10.0.0.9\n }\n virtual_ipaddress {\n  10.0.0.2\n }\n}\n",
        );
        assert!(c.instances[0].fault_no_peer);
        assert!(!c.instances[1].fault_no_peer);
    }
}
