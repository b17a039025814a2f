//! `global_defs` and the top-level `SSL` block.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::*;

/// `global_defs { … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    /// Identifies this node in notifications. None: keepalived uses the host name.
    pub router_id: Option<String>,
    /// `notification_email { addr… }`.
    pub notification_email: Vec<String>,
    /// Default `keepalived@<hostname>` when None.
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    /// Default: the host name.
    pub smtp_helo_name: Option<String>,
    /// Default 30 s.
    pub smtp_connect_timeout: Duration,
    /// Global default for every `smtp_alert` (None: not set; per-item defaults apply).
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    /// `script_user USER [GROUP]`. None: `keepalived_script` if it exists, else root (with
    /// `enable_script_security`: no default, scripts naming no user are disabled).
    pub script_user: Option<ScriptUser>,
    /// `enable_script_security`: refuse scripts writable by non-root users. Default false.
    pub enable_script_security: bool,
    /// `default_interface` for VIPs without a device. Default eth0.
    pub default_interface: Option<String>,
    /// `dynamic_interfaces`: allow interfaces that do not exist yet. Default false.
    pub dynamic_interfaces: bool,
    /// `vrrp_version 2|3`. Default 2.
    pub vrrp_version: u8,
    /// Default 224.0.0.18.
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12.
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Instance defaults (`vrrp_garp_*`, `vrrp_gna_interval`, `vrrp_min_garp`).
    pub garp: GarpTimers,
    /// `vrrp_strict`: RFC compliance (no auth, no unicast, no_accept…). Default false.
    pub vrrp_strict: bool,
    /// `vrrp_skip_check_adv_addr`. Default false.
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`. Default false.
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_lower_prio_no_advert`. Default false.
    pub vrrp_lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`. Default false.
    pub vrrp_higher_prio_send_advert: bool,
    /// `vrrp_down_timer_adverts`. Default 3 (RFC).
    pub vrrp_down_timer_adverts: u32,
    /// `vrrp_startup_delay` seconds. Default 0.
    pub vrrp_startup_delay: Duration,
    /// `vrrp_notify_priority_changes`. Default false.
    pub vrrp_notify_priority_changes: bool,
    /// `vrrp_iptables [IN [OUT]]` chain names, when set. Not applied by lvsd.
    pub vrrp_iptables: Option<Vec<String>>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_timeouts: LvsTimeouts,
    /// `lvs_flush`: flush all IPVS services at startup. Default false.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop [VS]`. Default: remove each real and virtual server individually.
    pub lvs_flush_on_stop: LvsFlushOnStop,
    /// `notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo`.
    pub notify_fifo: Option<NotifyFifo>,
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    pub lvs_notify_fifo: Option<NotifyFifo>,
    /// `checker_log_all_failures`. Default false.
    pub checker_log_all_failures: bool,
    /// `startup_script` / `shutdown_script`, run by the parent process.
    pub startup_script: Option<Script>,
    pub startup_script_timeout: Duration,
    pub shutdown_script: Option<Script>,
    pub shutdown_script_timeout: Duration,
    pub span: Option<Span>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            script_user: None,
            enable_script_security: false,
            default_interface: None,
            dynamic_interfaces: false,
            vrrp_version: 2,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            garp: GarpTimers::default(),
            vrrp_strict: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_check_unicast_src: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_down_timer_adverts: 3,
            vrrp_startup_delay: Duration::ZERO,
            vrrp_notify_priority_changes: false,
            vrrp_iptables: None,
            lvs_sync_daemon: None,
            lvs_timeouts: LvsTimeouts::default(),
            lvs_flush: false,
            lvs_flush_on_stop: LvsFlushOnStop::No,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            checker_log_all_failures: false,
            startup_script: None,
            startup_script_timeout: Duration::from_secs(10),
            shutdown_script: None,
            shutdown_script_timeout: Duration::from_secs(10),
            span: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpServer {
    /// IP address or host name as written.
    pub host: String,
    /// Default 25.
    pub port: u16,
}

/// Gratuitous ARP / unsolicited NA timing. Globally `vrrp_garp_*`, per instance `garp_*`
/// (instance values default to the global ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpTimers {
    /// Delay of the second burst after becoming master. Default 5 s; zero: no second burst.
    pub master_delay: Duration,
    /// GARPs per burst after becoming master. Default 5.
    pub master_repeat: u32,
    /// Delay after a lower-priority advert while master. Default: `master_delay`.
    pub lower_prio_delay: Duration,
    /// Default: `master_repeat`.
    pub lower_prio_repeat: u32,
    /// Periodic refresh while master; None (default): no refresh.
    pub master_refresh: Option<Duration>,
    /// GARPs per refresh. Default 1.
    pub master_refresh_repeat: u32,
    /// Delay between GARPs on one interface. Default 0.
    pub interval: Duration,
    /// Delay between unsolicited NAs on one interface. Default 0.
    pub gna_interval: Duration,
    /// `garp_extra_if` / `vrrp_garp_extra_if`; None (default): off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_if: Option<GarpExtraIf>,
}

/// `[vrrp_]garp_extra_if [all] SECS`: periodic GARP/NA for VIPs on other interfaces than the
/// instance's (only VMAC ones unless `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GarpExtraIf {
    pub interval: Duration,
    pub all: bool,
}

impl Default for GarpTimers {
    fn default() -> Self {
        GarpTimers {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            extra_if: None,
        }
    }
}

/// `lvs_sync_daemon IFACE [[inst] VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`,
/// or the deprecated per-instance `lvs_sync_daemon_interface IFACE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state selects master/backup sync daemon.
    pub instance: Option<String>,
    /// Sync id. Default 0.
    pub id: u8,
    pub maxlen: Option<u32>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
    pub span: Span,
}

/// `lvs_timeouts [tcp S] [tcpfin S] [udp S]`. None leaves the kernel value unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    pub tcp: Option<Duration>,
    pub tcpfin: Option<Duration>,
    pub udp: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LvsFlushOnStop {
    /// Remove each real and virtual server lvsd installed (default).
    #[default]
    No,
    /// `lvs_flush_on_stop`: flush the whole IPVS table.
    Yes,
    /// `lvs_flush_on_stop VS`: remove each virtual server, let the kernel drop the reals.
    VsOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyFifo {
    pub path: PathBuf,
    pub user: Option<ScriptUser>,
    /// `*_notify_fifo_script`.
    pub script: Option<Script>,
}

/// Top-level `SSL { … }` for SSL_GET.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SslConfig {
    pub password: Option<String>,
    pub ca: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}
