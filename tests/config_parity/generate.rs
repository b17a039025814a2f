//! The generated half of the differential corpus: one small configuration per keyword of
//! [`lvsd::config::keywords`] (in a minimal valid skeleton for its block), plus the
//! validations and preprocessor forms issue 11 lists. Pure: `corpus()` returns
//! (file name, text); `config_parity.rs` compares it with `tests/config_corpus/gen/` and
//! rewrites that directory when `LVSD_UPDATE_CORPUS=1`.

use lvsd::config::keywords::Context;

/// A sample argument list for `kw` in `ctx`, as an operator would write it. `None`: the
/// keyword takes a block, written by [`block_sample`].
fn sample(ctx: Context, kw: &str) -> Option<&'static str> {
    use Context::*;
    Some(match (ctx, kw) {
        (BfdInstance, "neighbor_ip" | "neighbour_ip") => "192.168.200.2",
        (BfdInstance, "source_ip") => "192.168.200.1",
        (BfdInstance, "min_rx" | "min_tx") => "50",
        (BfdInstance, "idle_tx") => "2000",
        (BfdInstance, "multiplier" | "max_hops") => "3",
        (BfdInstance, "ttl" | "hoplimit") => "64",
        (BfdInstance, "weight") => "-20",
        (BfdInstance, "passive" | "vrrp" | "checker" | "multihop") => "",
        (GlobalDefs, "router_id") => "LVS_1",
        (GlobalDefs, "notification_email") => return None,
        (GlobalDefs, "notification_email_from") => "lvs@example.com",
        (GlobalDefs, "smtp_server") => "127.0.0.1",
        (GlobalDefs, "smtp_helo_name") => "director",
        (GlobalDefs, "script_user") => "nobody",
        (GlobalDefs, "default_interface") => "eth0",
        (GlobalDefs, "vrrp_version") => "3",
        (GlobalDefs, "vrrp_mcast_group4") => "224.0.0.18",
        (GlobalDefs, "vrrp_mcast_group6") => "ff02::12",
        (GlobalDefs, "vrrp_garp_interval" | "vrrp_gna_interval") => "0.001",
        (GlobalDefs, "vrrp_min_garp") => "true",
        (GlobalDefs, "lvs_sync_daemon") => "eth0 VI_1",
        (GlobalDefs, "lvs_timeouts") => "tcp 900 tcpfin 120 udp 300",
        (GlobalDefs, "notify_fifo" | "vrrp_notify_fifo" | "lvs_notify_fifo") => {
            "/run/lvsd-parity.fifo"
        }
        (GlobalDefs, k) if k.ends_with("_script") => "/bin/true",
        (GlobalDefs, k) if k.ends_with("process_name") => "kaname",
        (GlobalDefs, "process_names") => "",
        (GlobalDefs, k) if k.ends_with("_cpu_affinity") => "0",
        (GlobalDefs, k) if k.ends_with("_rt_priority") => "10",
        (GlobalDefs, k) if k.ends_with("_priority") && !k.starts_with("nftables") => "-5",
        (GlobalDefs, k) if k.ends_with("_rlimit_rttime") => "10000",
        (GlobalDefs, k) if k.ends_with("_rcv_bufs") => "1048576",
        (GlobalDefs, "config_save_dir" | "tmp_config_directory") => "/tmp",
        (GlobalDefs, "dbus_service_name") => "org.keepalived.Vrrp1",
        (GlobalDefs, "snmp_socket") => "udp:127.0.0.1:705",
        (GlobalDefs, "net_namespace" | "net_namespace_ipvs") => "parity",
        (GlobalDefs, "nftables") => "keepalived",
        (GlobalDefs, "nftables_ipvs_priority" | "nftables_priority") => "-1",
        (GlobalDefs, "nftables_ipvs_start_fwmark") => "1000",
        (GlobalDefs, "random_seed") => "12345",
        (GlobalDefs, "reload_file" | "reload_time_file") => "/run/lvsd-parity.reload",
        (GlobalDefs, "umask") => "0022",
        (GlobalDefs, "vmac_prefix") => "vrrp",
        (GlobalDefs, "vmac_addr_prefix") => "vrrp",
        (GlobalDefs, "vrrp_garp_extra_if") => "60",
        (GlobalDefs, "vrrp_ipsets") => "keepalived",
        (GlobalDefs, "vrrp_rx_bufs_multiplier") => "4",
        (GlobalDefs, "vrrp_rx_bufs_policy") => "MTU",
        (GlobalDefs, "child_wait_time") => "5",
        (GlobalDefs, "max_auto_priority") => "10",
        (GlobalDefs, "min_auto_priority_delay") => "1000",
        (GlobalDefs, "reload_repeat") => "",
        (GlobalDefs, "include_check") => "",
        (GlobalDefs, "smtp_connect_timeout") => "30",
        (
            GlobalDefs,
            "vrrp_garp_master_delay" | "vrrp_garp_lower_prio_delay" | "vrrp_startup_delay",
        ) => "5",
        (
            GlobalDefs,
            "vrrp_garp_master_repeat"
            | "vrrp_garp_lower_prio_repeat"
            | "vrrp_garp_master_refresh_repeat"
            | "vrrp_down_timer_adverts",
        ) => "3",
        (GlobalDefs, "vrrp_garp_master_refresh") => "60",
        (GlobalDefs, "startup_script_timeout" | "shutdown_script_timeout") => "10",
        (GlobalDefs, _) => "",

        (VrrpScript, "script") => "\"/bin/true\"",
        (VrrpScript, "interval") => "2",
        (VrrpScript, "timeout") => "1",
        (VrrpScript, "weight") => "-20",
        (VrrpScript, "rise" | "fall") => "2",
        (VrrpScript, "user") => "nobody",
        (VrrpScript, "init_fail") => "",

        (TrackFile, "file") => "\"/etc/hostname\"",
        (TrackFile, "weight") => "10",
        (TrackFile, "init_file") => "",

        (
            VrrpSyncGroup,
            "group" | "track_interface" | "track_script" | "track_file" | "track_process"
            | "track_bfd",
        ) => {
            return None;
        }
        (VrrpSyncGroup, k) if k.starts_with("notify") && k != "notify_priority_changes" => {
            "/bin/true"
        }
        (VrrpSyncGroup, "sync_group_tracking_weight" | "global_tracking") => "",
        (VrrpSyncGroup, _) => "",

        (VrrpInstance, "state") => "MASTER",
        (VrrpInstance, "interface") => "eth0",
        (VrrpInstance, "use_vmac") => "vrrp.51",
        (VrrpInstance, "virtual_router_id") => "51",
        (VrrpInstance, "priority") => "150",
        (VrrpInstance, "advert_int") => "1",
        (VrrpInstance, "version") => "2",
        (
            VrrpInstance,
            "authentication"
            | "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "virtual_routes"
            | "virtual_rules"
            | "unicast_peer"
            | "track_interface"
            | "track_script"
            | "track_file"
            | "track_process"
            | "track_bfd",
        ) => return None,
        (VrrpInstance, "preempt_delay") => "10",
        (VrrpTrackProcess, "process") => "sshd",
        (VrrpTrackProcess, "param_match") => "partial",
        (VrrpTrackProcess, "full_command") => "",
        (VrrpTrackProcess, "weight") => "10",
        (VrrpTrackProcess, "quorum") => "1",
        (VrrpTrackProcess, "quorum_max") => "2",
        (VrrpTrackProcess, "fork_delay" | "terminate_delay" | "delay") => "0.5",
        (VrrpInstance, "unicast_src_ip" | "mcast_src_ip") => "192.168.200.1",
        (VrrpInstance, "mcast_dst_ip") => "224.0.0.18",
        (VrrpInstance, "unicast_ttl" | "mcast_ttl") => "255",
        (VrrpInstance, "check_unicast_src") => "",
        (VrrpInstance, k) if k.starts_with("notify") && k != "notify_priority_changes" => {
            "/bin/true"
        }
        (VrrpInstance, "garp_master_delay" | "garp_lower_prio_delay") => "5",
        (VrrpInstance, "garp_master_repeat" | "garp_lower_prio_repeat") => "3",
        (VrrpInstance, "garp_master_refresh") => "60",
        (VrrpInstance, "garp_master_refresh_repeat" | "down_timer_adverts") => "2",
        (VrrpInstance, "lvs_sync_daemon_interface") => "eth0",
        (VrrpInstance, "vrf") => "vrf_parity",
        (VrrpInstance, "use_vmac_addr") => "",
        (VrrpInstance, "use_ipvlan") => "",
        (VrrpInstance, "garp_extra_if") => "60",
        (VrrpInstance, "garp_extra_if_vmac") => "60",
        (VrrpInstance, "debug") => "1",
        (VrrpInstance, "kernel_rx_buf_size") => "1048576",
        (VrrpInstance, _) => "",

        (VirtualServer, "lvs_sched" | "lb_algo") => "wrr",
        (VirtualServer, "lvs_method" | "lb_kind" | "sorry_server_lvs_method") => "DR",
        (VirtualServer, "persistence_engine") => "sip",
        (VirtualServer, "persistence_timeout") => "300",
        (VirtualServer, "persistence_granularity") => "255.255.255.0",
        (VirtualServer, "protocol") => "TCP",
        (VirtualServer, "virtualhost") => "www.example.com",
        (VirtualServer, "quorum") => "1",
        (VirtualServer, "hysteresis") => "0",
        (VirtualServer, "quorum_up" | "quorum_down") => "/bin/true",
        (VirtualServer, "ip_family") => "inet",
        (VirtualServer, "sorry_server") => "10.1.1.99 80",
        (VirtualServer, "connect_timeout") => "3",
        (VirtualServer, "retry") => "2",
        (VirtualServer, "delay_before_retry" | "warmup") => "2",
        (VirtualServer, "delay_loop") => "6",
        (VirtualServer, "real_server") => return None,
        (VirtualServer, "snmp_name") => "vs_parity",
        (VirtualServer, "nftables_ipvs_fwmark") => "",
        (VirtualServer, _) => "",

        (RealServer, "weight") => "2",
        (RealServer, "lvs_method" | "lb_kind") => "NAT",
        (RealServer, "notify_up" | "notify_down") => "/bin/true",
        (RealServer, "uthreshold") => "1000",
        (RealServer, "lthreshold") => "10",
        (RealServer, "virtualhost") => "www.example.com",
        (RealServer, "connect_timeout") => "3",
        (RealServer, "retry" | "nb_get_retry") => "2",
        (RealServer, "delay_before_retry" | "warmup") => "2",
        (RealServer, "delay_loop") => "6",
        (RealServer, "snmp_name") => "rs_parity",
        (RealServer, k) if k.ends_with("_CHECK") || k.ends_with("_GET") => return None,
        (RealServer, "track_file") => "tf",
        (RealServer, _) => "",

        (Checker | HttpChecker, "connect_ip") => "10.1.1.1",
        (Checker | HttpChecker, "connect_port") => "8080",
        (Checker | HttpChecker, "bindto") => "10.0.0.1",
        (Checker | HttpChecker, "bind_if") => "eth0",
        (Checker | HttpChecker, "bind_port") => "50000",
        (Checker | HttpChecker, "fwmark") => "7",
        (Checker | HttpChecker, "connect_timeout") => "3",
        (Checker | HttpChecker, "retry" | "nb_get_retry") => "2",
        (Checker | HttpChecker, "delay_before_retry" | "warmup") => "2",
        (Checker | HttpChecker, "delay_loop") => "6",
        (Checker | HttpChecker, "log_all_failures" | "alpha") => "",
        (Checker, "helo_name") => "director.example.com",
        (Checker, "host") => return None,
        (Checker, "type") => "A",
        (Checker, "name") => "www.example.com",
        (Checker, "misc_path") => "\"/bin/true\"",
        (Checker, "misc_timeout") => "5",
        (Checker, "misc_dynamic") => "",
        (Checker, "user") => "nobody",
        (Checker, "payload") => "00112233",
        (Checker, "require_reply") => "",
        (Checker, "min_reply_length" | "max_reply_length") => "4",
        (Checker, "track_file") => "tf",
        (Checker, "dynamic") => "",
        (Checker, "weight") => "2",
        (HttpChecker, "http_protocol") => "1.1",
        (HttpChecker, "fast_recovery") => "",
        (HttpChecker, "enable_sni") => "",
        (HttpChecker, "virtualhost") => "www.example.com",
        (HttpChecker, "url") => return None,
        (Url, "path") => "/health",
        (Url, "digest") => "9b3a0c85a887a256d6939da88aabd8cd",
        (Url, "status_code") => "200",
        (Url, "virtualhost") => "www.example.com",
        (Url, "regex") => "\"ok\"",
        (Url, "regex_no_match") => "",
        (Url, "regex_options") => "caseless",
        (Url, "regex_stack") => "10000 100000",
        (Url, "regex_min_offset" | "regex_max_offset") => "2",
        (Ssl, "password") => "secret",
        (Ssl, "ca" | "certificate" | "key") => "/etc/ssl/nonexistent.pem",
        _ => "",
    })
}

/// Block-valued keywords: the lines that replace `kw ARGS`.
fn block_sample(ctx: Context, kw: &str) -> String {
    use Context::*;
    match (ctx, kw) {
        (GlobalDefs, "notification_email") => {
            "notification_email {\n        ops@example.com\n    }".into()
        }
        (VrrpSyncGroup, "group") => "group {\n        VI_1\n        VI_2\n    }".into(),
        (VrrpSyncGroup | VrrpInstance, "track_interface") => {
            "track_interface {\n        eth1 weight 10\n    }".into()
        }
        (VrrpSyncGroup | VrrpInstance, "track_script") => {
            "track_script {\n        chk\n    }".into()
        }
        (VrrpSyncGroup | VrrpInstance, "track_file") => {
            "track_file {\n        tf weight 5\n    }".into()
        }
        (VrrpSyncGroup | VrrpInstance, "track_process") => {
            "track_process {\n        tp\n    }".into()
        }
        (VrrpInstance | VrrpSyncGroup, "track_bfd") => "track_bfd {\n        bfd1\n    }".into(),
        (VrrpInstance, "authentication") => {
            "authentication {\n        auth_type PASS\n        auth_pass secret\n    }".into()
        }
        (VrrpInstance, "virtual_ipaddress") => {
            "virtual_ipaddress {\n        192.168.200.17/24 dev eth0 label eth0:1\n    }".into()
        }
        (VrrpInstance, "virtual_ipaddress_excluded") => {
            "virtual_ipaddress_excluded {\n        192.168.201.17/24\n    }".into()
        }
        (VrrpInstance, "virtual_routes") => {
            "virtual_routes {\n        10.9.0.0/16 via 192.168.200.254 dev eth0\n    }".into()
        }
        (VrrpInstance, "virtual_rules") => {
            "virtual_rules {\n        from 192.168.200.0/24 table 100 priority 100\n    }".into()
        }
        (VrrpInstance, "unicast_peer") => "unicast_peer {\n        192.168.200.2\n    }".into(),
        (VirtualServer, "real_server") => {
            "real_server 10.1.1.3 80 {\n        weight 1\n    }".into()
        }
        (RealServer, k) => checker_block(k),
        (Checker, "host") => {
            "host {\n            connect_ip 10.1.1.2\n            connect_port 25\n        }".into()
        }
        (HttpChecker, "url") => {
            "url {\n            path /other\n            status_code 200\n        }".into()
        }
        _ => format!("{kw} {{\n    }}"),
    }
}

fn checker_block(kind: &str) -> String {
    let body = match kind {
        "HTTP_GET" | "SSL_GET" => {
            "            url {\n                path /\n                status_code 200\n            }\n            connect_timeout 3\n"
        }
        "MISC_CHECK" => "            misc_path \"/bin/true\"\n",
        "FILE_CHECK" => "            track_file tf\n",
        "DNS_CHECK" => "            name www.example.com\n",
        "UDP_CHECK" => "            connect_timeout 3\n",
        "BFD_CHECK" => "",
        _ => "            connect_timeout 3\n",
    };
    format!("{kind} {{\n{body}        }}")
}

fn line(ctx: Context, kw: &str) -> String {
    match sample(ctx, kw) {
        None => block_sample(ctx, kw),
        Some("") => kw.to_string(),
        Some(a) => format!("{kw} {a}"),
    }
}

/// The VRRP instance every VRRP skeleton uses, with `extra` lines and without the base lines
/// whose keyword `extra` sets itself.
pub fn instance(name: &str, vrid: u8, extra: &[String]) -> String {
    let base = [
        ("state", "state BACKUP".to_string()),
        ("interface", "interface eth0".to_string()),
        ("virtual_router_id", format!("virtual_router_id {vrid}")),
        ("priority", "priority 100".to_string()),
        ("advert_int", "advert_int 1".to_string()),
        (
            "virtual_ipaddress",
            format!("virtual_ipaddress {{\n        192.168.200.{vrid}/24\n    }}"),
        ),
    ];
    let mut s = format!("vrrp_instance {name} {{\n");
    for (k, l) in &base {
        if !extra
            .iter()
            .any(|e| e.split_whitespace().next() == Some(*k))
        {
            s += &format!("    {l}\n");
        }
    }
    for e in extra {
        s += &format!("    {e}\n");
    }
    s + "}\n"
}

pub const SCRIPT: &str = "vrrp_script chk {\n    script \"/bin/true\"\n    interval 2\n}\n";
pub const TRACK_FILE: &str = "track_file tf {\n    file \"/etc/hostname\"\n}\n";
pub const TRACK_PROCESS: &str = "vrrp_track_process tp {\n    process sshd\n    weight 0\n}\n";

pub fn virtual_server(vs_extra: &[String], rs_extra: &[String]) -> String {
    let mut s = String::from(
        "virtual_server 10.0.0.1 80 {\n    delay_loop 6\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
    );
    for e in vs_extra {
        s += &format!("    {e}\n");
    }
    s += "    real_server 10.1.1.1 80 {\n        weight 1\n";
    if rs_extra.is_empty() {
        s += "        TCP_CHECK {\n            connect_timeout 3\n        }\n";
    }
    for e in rs_extra {
        s += &format!("        {e}\n");
    }
    s + "    }\n}\n"
}

/// Which checker a common checker option belongs to.
fn checker_for(kw: &str) -> &'static str {
    match kw {
        "helo_name" | "host" => "SMTP_CHECK",
        "type" | "name" => "DNS_CHECK",
        "misc_path" | "misc_timeout" | "misc_dynamic" | "user" => "MISC_CHECK",
        "payload" | "require_reply" | "min_reply_length" | "max_reply_length" => "UDP_CHECK",
        "track_file" | "dynamic" | "weight" => "FILE_CHECK",
        _ => "TCP_CHECK",
    }
}

/// One config exercising `kw` in `ctx`.
fn keyword_case(ctx: Context, kw: &str) -> String {
    use Context::*;
    let l = line(ctx, kw);
    match ctx {
        TopLevel => top_level_case(kw),
        GlobalDefs => {
            let mut s = format!("global_defs {{\n    {l}\n}}\n");
            if kw == "lvs_sync_daemon" {
                s += &instance("VI_1", 51, &[]);
            }
            s
        }
        VrrpScript => {
            let body = if kw == "script" {
                l
            } else {
                format!("script \"/bin/true\"\n    {l}")
            };
            format!(
                "vrrp_script chk {{\n    {body}\n}}\n{}",
                instance("VI_1", 51, &["track_script {\n        chk\n    }".into()])
            )
        }
        TrackFile => {
            let body = if kw == "file" {
                l
            } else {
                format!("file \"/etc/hostname\"\n    {l}")
            };
            format!(
                "track_file tf {{\n    {body}\n}}\n{}",
                instance("VI_1", 51, &["track_file {\n        tf\n    }".into()])
            )
        }
        VrrpTrackProcess => {
            let body = if kw == "process" {
                l
            } else {
                format!("process sshd\n    {l}")
            };
            format!(
                "vrrp_track_process tp {{\n    {body}\n}}\n{}",
                instance("VI_1", 51, &["track_process {\n        tp\n    }".into()])
            )
        }
        VrrpSyncGroup => {
            let mut s = format!("{SCRIPT}{TRACK_FILE}");
            if kw == "track_process" {
                s += TRACK_PROCESS;
            }
            s += &instance("VI_1", 51, &[]);
            s += &instance("VI_2", 52, &[]);
            let group = if kw == "group" {
                l
            } else {
                format!("group {{\n        VI_1\n        VI_2\n    }}\n    {l}")
            };
            s + &format!("vrrp_sync_group G1 {{\n    {group}\n}}\n")
        }
        VrrpInstance => {
            let mut s = String::new();
            if kw == "track_script" {
                s += SCRIPT;
            }
            if kw == "track_file" {
                s += TRACK_FILE;
            }
            let extra = if kw == "state" {
                vec![l, "priority 150".into()]
            } else {
                vec![l]
            };
            s + &instance("VI_1", 51, &extra)
        }
        VirtualServer => virtual_server(&[l], &[]),
        RealServer => {
            let mut s = String::new();
            if kw == "track_file" || kw == "FILE_CHECK" {
                s += TRACK_FILE;
            }
            s + &virtual_server(&[], &[l])
        }
        BfdInstance => {
            let body = if kw.starts_with("neighbo") {
                l
            } else {
                format!("neighbor_ip 192.168.200.2\n    {l}")
            };
            format!("bfd_instance bfd1 {{\n    {body}\n}}\n")
        }
        Checker => {
            let kind = checker_for(kw);
            let mut s = String::new();
            if kind == "FILE_CHECK" {
                s += TRACK_FILE;
            }
            let mut body = String::new();
            if kind == "MISC_CHECK" && kw != "misc_path" {
                body += "            misc_path \"/bin/true\"\n";
            }
            if kind == "FILE_CHECK" && kw != "track_file" {
                body += "            track_file tf\n";
            }
            if kind == "DNS_CHECK" && kw != "name" {
                body += "            name www.example.com\n";
            }
            body += &format!("            {l}\n");
            s + &virtual_server(&[], &[format!("{kind} {{\n{body}        }}")])
        }
        HttpChecker => {
            let body = format!(
                "            url {{\n                path /\n                status_code 200\n            }}\n            {l}\n"
            );
            virtual_server(&[], &[format!("HTTP_GET {{\n{body}        }}")])
        }
        Url => {
            let mut body = String::new();
            if kw != "path" {
                body += "                path /\n";
            }
            body += &format!("                {l}\n");
            virtual_server(
                &[],
                &[format!(
                    "HTTP_GET {{\n            url {{\n{body}            }}\n        }}"
                )],
            )
        }
        Ssl => format!("SSL {{\n    {l}\n}}\n"),
    }
}

fn top_level_case(kw: &str) -> String {
    match kw {
        "global_defs" => "global_defs {\n    router_id LVS_1\n}\n".into(),
        "vrrp_script" => format!("{SCRIPT}{}", instance("VI_1", 51, &[])),
        "track_file" | "vrrp_track_file" => format!(
            "{kw} tf {{\n    file \"/etc/hostname\"\n}}\n{}",
            instance("VI_1", 51, &["track_file {\n        tf\n    }".into()])
        ),
        "vrrp_sync_group" => format!(
            "{}{}vrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n",
            instance("VI_1", 51, &[]),
            instance("VI_2", 52, &[])
        ),
        "vrrp_instance" => instance("VI_1", 51, &[]),
        "virtual_server_group" => {
            "virtual_server_group G {\n    10.0.0.1 80\n    10.0.0.2-5 80\n    fwmark 3\n}\nvirtual_server group G {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    real_server 10.1.1.1 80 {\n        weight 1\n    }\n}\n".into()
        }
        "virtual_server" => virtual_server(&[], &[]),
        "static_ipaddress" => "static_ipaddress {\n    192.168.50.1/24 dev eth0\n}\n".into(),
        "static_routes" => {
            "static_ipaddress {\n    192.168.50.1/24 dev eth0\n}\nstatic_routes {\n    10.20.0.0/16 via 192.168.50.254 dev eth0\n}\n".into()
        }
        "static_rules" => "static_rules {\n    from 192.168.50.0/24 table 100 priority 100\n}\n".into(),
        "SSL" => "SSL {\n    password secret\n}\n".into(),
        "linkbeat_interfaces" => "linkbeat_interfaces {\n    eth0\n}\n".into(),
        "track_group" => format!(
            "track_group TG {{\n    group {{\n        VI_1\n    }}\n}}\n{}",
            instance("VI_1", 51, &[])
        ),
        "vrrp_track_process" => {
            "vrrp_track_process tp {\n    process sshd\n    weight 10\n}\n".into()
        }
        "garp_group" => "garp_group {\n    garp_interval 1\n    interface eth0\n}\n".into(),
        "bfd_instance" => "bfd_instance bfd1 {\n    neighbor_ip 192.168.200.2\n}\n".into(),
        "net_namespace" => "net_namespace parity\n".into(),
        "net_namespace_ipvs" => "net_namespace_ipvs parity\n".into(),
        "namespace_with_ipsets" => "namespace_with_ipsets\n".into(),
        "instance" => "instance parity\n".into(),
        "use_pid_dir" => "use_pid_dir\n".into(),
        k => format!("{k} {{\n}}\n"),
    }
}

const CONTEXTS: &[(Context, &str)] = &[
    (Context::TopLevel, "top"),
    (Context::GlobalDefs, "global"),
    (Context::VrrpScript, "vrrp_script"),
    (Context::TrackFile, "track_file"),
    (Context::VrrpTrackProcess, "track_process"),
    (Context::VrrpSyncGroup, "sync_group"),
    (Context::VrrpInstance, "instance"),
    (Context::VirtualServer, "vs"),
    (Context::RealServer, "rs"),
    (Context::Checker, "checker"),
    (Context::HttpChecker, "http"),
    (Context::Url, "url"),
    (Context::Ssl, "ssl"),
    (Context::BfdInstance, "bfd"),
];

/// Keywords of keepalived's documentation that keepalived 2.2.7 as Debian builds it calls
/// unknown (features compiled out, or names of other versions): lvsd must say the same.
const NOT_IN_2_2_7: &[(Context, &str)] = &[
    (Context::GlobalDefs, "child_wait_time"),
    (Context::GlobalDefs, "linkbeat_use_polling"),
    (Context::GlobalDefs, "namespace_with_ipsets"),
    (Context::GlobalDefs, "net_namespace"),
    (Context::GlobalDefs, "net_namespace_ipvs"),
    (Context::GlobalDefs, "vrrp_ipsets"),
    (Context::VrrpInstance, "garp_extra_if_vmac"),
    (Context::VrrpInstance, "mcast_ttl"),
    (Context::VrrpInstance, "v3_checksum_as_v2"),
    (Context::VirtualServer, "nftables_ipvs_fwmark"),
    (Context::RealServer, "lb_kind"),
    (Context::RealServer, "track_file"),
    (Context::Checker, "dynamic"),
    (Context::VrrpSyncGroup, "notify_deleted"),
];

/// Every generated configuration: (file name, text).
pub fn corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for &(ctx, tag) in CONTEXTS {
        let extra = NOT_IN_2_2_7
            .iter()
            .filter(|(c, _)| *c == ctx)
            .map(|(_, k)| k);
        for kw in ctx.names().chain(extra.copied()) {
            let name = format!("kw-{tag}-{}.conf", kw.replace(['/', '-'], "_"));
            let text = format!(
                "# generated: keyword `{kw}` in {}\n{}",
                ctx.name(),
                keyword_case(ctx, kw)
            );
            out.push((name, text));
        }
    }
    for (name, text) in super::cases::cases() {
        out.push((format!("case-{name}.conf"), text));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}
