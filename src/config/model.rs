//! The resolved, typed configuration: what the director, the checkers, VRRP and metrics consume.
//!
//! Everything here is plain data with keepalived's defaults already applied and inheritance
//! already resolved (global → instance for GARP timers and VRRP version; virtual_server →
//! real_server → checker for checker timers, alpha, virtualhost). Consumers never need the AST.
//! Items a later diagnostic may point at (reload, host checks, runtime faults) keep their
//! [`Span`]; render one with [`crate::config::SourceMap::diagnostic`].
//!
//! Names mirror keepalived's keywords so that `lvsd config dump --json` reads like the file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use super::diag::{FileId, Span};

/// A whole keepalived.conf after preprocessing, parsing, defaults and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Config {
    /// The files read, in include order (index = [`FileId`]).
    pub files: Vec<PathBuf>,
    pub global: GlobalDefs,
    /// `vrrp_script NAME { … }` blocks, in file order.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file NAME { … }` (alias `vrrp_track_file`) blocks.
    pub track_files: Vec<TrackFile>,
    pub vrrp_sync_groups: Vec<VrrpSyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `static_ipaddress { … }`: addresses configured at startup whatever the VRRP state.
    pub static_ipaddresses: Vec<VirtualAddress>,
    /// `static_routes { … }`.
    pub static_routes: Vec<VirtualRoute>,
    /// `static_rules { … }` (typed and validated; lvsd does not program rules yet).
    pub static_rules: Vec<VirtualRule>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// Top-level `SSL { … }` block used by SSL_GET checkers (None: auto-generated context).
    pub ssl: Option<SslConfig>,
    /// Keywords keepalived knows and lvsd accepts but does not act on (SNMP, DBus, nftables,
    /// process priorities…). Kept so `-d` and `config dump` can show what was not applied.
    pub ignored: Vec<IgnoredKeyword>,
}

impl Config {
    pub fn vrrp_script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }
    pub fn track_file(&self, name: &str) -> Option<&TrackFile> {
        self.track_files.iter().find(|s| s.name == name)
    }
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|s| s.name == name)
    }
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|s| s.name == name)
    }
    /// Every keyword of this configuration that lvsd accepts but does not implement, in file
    /// order: for the start-up warnings, the metric and `/status`.
    pub fn unimplemented(&self) -> impl Iterator<Item = &IgnoredKeyword> {
        self.ignored.iter().filter(|k| k.unimplemented.is_some())
    }
    /// [`Config::unimplemented`] as the lines lvsd logs at start-up and lists in `/status`:
    /// `FILE:LINE:COL: lvsd does not implement X (in BLOCK): what that means`.
    pub fn unimplemented_lines(&self) -> Vec<String> {
        self.unimplemented()
            .map(|k| {
                let file = self
                    .files
                    .get(k.span.file.0 as usize)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                format!(
                    "{file}:{}:{}: lvsd does not implement {} (in {}): {}",
                    k.span.line,
                    k.span.col,
                    k.keyword,
                    k.context,
                    k.unimplemented.as_deref().unwrap_or("")
                )
            })
            .collect()
    }
}

/// A keyword accepted for compatibility but without effect in lvsd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredKeyword {
    pub keyword: String,
    /// Enclosing block keyword ("global_defs", "vrrp_instance", …).
    pub context: String,
    pub span: Span,
    /// For a keyword lvsd does not implement: what that means for this configuration (the
    /// text of `lvsd does not implement X: …`). None: a keyword keepalived itself ignores in
    /// this position.
    pub unimplemented: Option<String>,
}

/// A script or program to run, as keepalived takes it: `PATH ARGS…` (quoted when it has
/// arguments) optionally followed by `username [groupname]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The command line as written (after parameter substitution).
    pub command: String,
    /// `command` split into words the way keepalived does (quotes and backslashes honoured).
    /// Never empty: a script with no words is rejected at load time.
    pub argv: Vec<String>,
    /// Run as this user/group; None: the global `script_user` (default root, or
    /// `keepalived_script` when script security is on).
    pub user: Option<ScriptUser>,
    pub span: Span,
}

#[derive(Debug, Clone, Eq, Serialize)]
pub struct ScriptUser {
    pub user: String,
    /// None: the user's primary group.
    pub group: Option<String>,
    /// Where the user is named (host checks point here).
    #[serde(skip)]
    pub span: Span,
}

/// Equal when they name the same user and group, wherever written.
impl PartialEq for ScriptUser {
    fn eq(&self, o: &Self) -> bool {
        self.user == o.user && self.group == o.group
    }
}

// ---------------------------------------------------------------------------------------------
// global_defs
// ---------------------------------------------------------------------------------------------

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
    /// `script_user USER [GROUP]`. None: root (or `keepalived_script` if it exists and
    /// script security is enabled).
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

// ---------------------------------------------------------------------------------------------
// VRRP
// ---------------------------------------------------------------------------------------------

/// `vrrp_script NAME { … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    pub name: String,
    /// `script`. A block without one is dropped at load with a warning.
    pub script: Script,
    /// `interval`. Default 1 s.
    pub interval: Duration,
    /// `timeout`. Default: `interval`.
    pub timeout: Duration,
    /// `weight -253..253`. Default 0 (failure → FAULT).
    pub weight: i32,
    /// `weight N reverse`.
    pub weight_reverse: bool,
    /// Successes needed for OK. Default 1.
    pub rise: u32,
    /// Failures needed for KO. Default 1.
    pub fall: u32,
    /// `init_fail`: start in the failed state. Default false.
    pub init_fail: bool,
    pub span: Span,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [V] [overwrite] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    pub name: String,
    pub file: PathBuf,
    /// Default 1.
    pub weight: i32,
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: value to write at startup.
    pub init_value: Option<i64>,
    pub init_overwrite: bool,
    pub span: Span,
}

/// `vrrp_sync_group NAME { group { INSTANCE… } … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpSyncGroup {
    pub name: String,
    /// Member instance names (each validated to exist).
    pub group: Vec<String>,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScript>,
    pub track_files: Vec<TrackFileRef>,
    pub span: Span,
}

/// Notification scripts of an instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notify {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    /// `notify_deleted [SCRIPT]`: present means send DELETED instead of FAULT on removal.
    pub deleted: Option<Option<Script>>,
    /// `notify`: run on every transition with GROUP|INSTANCE, name, state, priority appended.
    pub any: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
    /// `notify_priority_changes`. Default: global `vrrp_notify_priority_changes`.
    pub priority_changes: bool,
}

/// Initial VRRP state (`state MASTER|BACKUP`). Default Backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    Master,
    #[default]
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
}

/// `vrrp_instance NAME { … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstance {
    pub name: String,
    pub span: Span,
    /// `state`. Default BACKUP.
    pub state: InitialState,
    /// `interface`. None only with unicast peers (keepalived allows that).
    pub interface: Option<String>,
    pub interface_span: Option<Span>,
    /// `use_vmac [NAME] [MAC]`: None = no VMAC; Some(name) with default name `vrrp.<VRID>`.
    pub use_vmac: Option<String>,
    pub vmac_xmit_base: bool,
    /// `dont_track_primary`. Default false.
    pub dont_track_primary: bool,
    /// `virtual_router_id 1..255` (required).
    pub virtual_router_id: u8,
    pub virtual_router_id_span: Span,
    /// `priority 1..255`. Default 100.
    pub priority: u8,
    pub priority_span: Option<Span>,
    /// `advert_int`. Default 1 s (centisecond resolution for VRRPv3).
    pub advert_int: Duration,
    /// `version 2|3`. Default: global `vrrp_version`; IPv6 instances are always 3.
    pub version: u8,
    /// Address family of the instance, from its VIPs (or unicast/mcast source).
    pub family: Family,
    /// `authentication { auth_type PASS|AH; auth_pass … }`. None when absent, or dropped in
    /// strict mode / VRRPv3.
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress` (all of the instance's family).
    pub virtual_ipaddress: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded` (any family; not sent in adverts).
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    pub virtual_routes: Vec<VirtualRoute>,
    /// `virtual_rules` (typed and validated; lvsd does not program rules yet).
    pub virtual_rules: Vec<VirtualRule>,
    /// `nopreempt`. Cleared (with a warning) when state is MASTER, as keepalived does.
    pub nopreempt: bool,
    /// `preempt_delay` 0..1000 s. Default 0.
    pub preempt_delay: Duration,
    /// `unicast_src_ip`.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { IP [min_ttl N] [max_ttl N] … }`; empty: multicast.
    pub unicast_peers: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    /// `mcast_src_ip`.
    pub mcast_src_ip: Option<IpAddr>,
    /// `mcast_dst_ip`. Default: global `vrrp_mcast_group4/6`.
    pub mcast_dst_ip: Option<IpAddr>,
    pub track_src_ip: bool,
    /// `check_unicast_src`. Default: global `vrrp_check_unicast_src` (or on with min/max_ttl).
    pub check_unicast_src: bool,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScript>,
    pub track_files: Vec<TrackFileRef>,
    pub notify: Notify,
    /// `smtp_alert`. Default: global `smtp_alert_vrrp` / `smtp_alert`, else false.
    pub smtp_alert: bool,
    /// GARP timers (instance `garp_*` over global `vrrp_garp_*`).
    pub garp: GarpTimers,
    /// `down_timer_adverts 1..100`. Default: global (3).
    pub down_timer_adverts: u32,
    /// `lower_prio_no_advert`. Default: global.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`. Default: global.
    pub higher_prio_send_advert: bool,
    /// Accept mode: `accept` / `no_accept`. Default: accept unless strict mode.
    pub accept: bool,
    /// `strict_mode`. Default: global `vrrp_strict`.
    pub strict_mode: bool,
    /// `skip_check_adv_addr`. Default: global `vrrp_skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// `old_unicast_checksum` / `v3_checksum_as_v2`: compute VRRPv3 checksums as ≤1.3.6 did.
    pub v3_checksum_as_v2: bool,
    /// `promote_secondaries`.
    pub promote_secondaries: bool,
    /// Deprecated `lvs_sync_daemon_interface` (also folded into global `lvs_sync_daemon`).
    pub lvs_sync_daemon_interface: Option<String>,
}

impl VrrpInstance {
    /// The instance is the address owner (priority 255).
    pub fn is_address_owner(&self) -> bool {
        self.priority == 255
    }
    /// Multicast destination: `mcast_dst_ip` or the global group of the instance's family.
    pub fn multicast_group(&self, global: &GlobalDefs) -> IpAddr {
        self.mcast_dst_ip.unwrap_or(match self.family {
            Family::Inet => IpAddr::V4(global.vrrp_mcast_group4),
            Family::Inet6 => IpAddr::V6(global.vrrp_mcast_group6),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// At most 8 bytes (longer values are truncated with a warning, as keepalived does).
    pub auth_pass: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    Pass,
    Ah,
}

/// One line of `virtual_ipaddress` / `virtual_ipaddress_excluded` / `static_ipaddress`:
/// `IP[/MASK] [brd IP] [dev IF] [scope S] [label L] [peer IP] [home] [-nodad] [mngtmpaddr]
/// [noprefixroute] [autojoin] [no_track] [use_vmac] [preferred_lft N|forever]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    /// Default /32 (IPv4) or /128 (IPv6).
    pub prefix_len: u8,
    /// `brd`; `brd +`/`-` is resolved by the VIP installer, kept as written here.
    pub broadcast: Option<String>,
    /// `dev`. None: the instance's interface.
    pub dev: Option<String>,
    /// `scope`. Default global.
    pub scope: Option<String>,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    pub no_track: bool,
    pub use_vmac: bool,
    /// Flags kept verbatim: home, -nodad, mngtmpaddr, noprefixroute, autojoin.
    pub flags: Vec<String>,
    pub preferred_lft: Option<String>,
    pub span: Span,
}

/// An address with a prefix length (`10.0.0.0/8`; a bare address is a host prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `ADDR[/LEN]`, LEN within the family's width; `default`/`all`/`any` is the zero prefix
    /// of `family` (IPv4 unless told).
    pub fn parse(s: &str, v6: bool) -> Option<Prefix> {
        if matches!(s, "default" | "all" | "any") {
            let addr = if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            return Some(Prefix { addr, len: 0 });
        }
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max)?,
        };
        Some(Prefix { addr, len })
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A `virtual_routes` / `static_routes` line; the common parts typed, the line kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualRoute {
    /// Destination (`192.168.1.0/24`; `default` is the zero prefix).
    pub to: Option<Prefix>,
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: Option<String>,
    pub metric: Option<u32>,
    pub scope: Option<String>,
    /// `blackhole`, `unreachable`, `prohibit`, `throw` route types.
    pub route_type: Option<String>,
    pub no_track: bool,
    pub words: Vec<String>,
    pub span: Span,
}

/// A `virtual_rules` / `static_rules` line, as `ip rule` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualRule {
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    /// `priority` / `preference` / `pref`; keepalived's default 16384 when absent (warned).
    pub preference: u32,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// `fwmark MARK[/MASK]` as written.
    pub fwmark: Option<String>,
    /// `table N|NAME`.
    pub table: Option<String>,
    /// The other actions: `goto N`, `nop`, `blackhole`, `prohibit`, `unreachable`, `l3mdev`.
    pub action: Option<String>,
    pub not: bool,
    pub no_track: bool,
    pub words: Vec<String>,
    pub span: Span,
}

/// A block line stored verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawLine {
    pub words: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
    pub span: Span,
}

/// A `track_interface` line: `IFACE [weight -253..253 [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInterface {
    pub name: String,
    /// 0 (default): interface down → FAULT.
    pub weight: i32,
    pub reverse: bool,
    pub span: Span,
}

/// A `track_script` line: `NAME [weight -253..253 [reverse|no_reverse]]`. Only scripts that
/// exist are kept (an unknown name is warned about and ignored, as keepalived does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackScript {
    pub name: String,
    /// Resolved: the line's weight, else the script's `weight`.
    pub weight: i32,
    /// Resolved: the line's reverse flag, else the script's.
    pub reverse: bool,
    pub span: Span,
}

/// A `track_file` line inside an instance / sync group: `NAME [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFileRef {
    pub name: String,
    /// Resolved: the line's weight, else the track_file's.
    pub weight: i32,
    pub reverse: bool,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// LVS
// ---------------------------------------------------------------------------------------------

/// `virtual_server_group NAME { … }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VsgEntry {
    /// `IP [PORT]`, `A.B.C.D-E [PORT]`, `A-B [PORT]` or `NET/LEN [PORT]`: first..=last.
    /// A port of 0 (or absent) means "the virtual server's persistence without port".
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        span: Span,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        mark: u32,
        family: Option<Family>,
        span: Span,
    },
}

/// How a virtual server is addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VsAddress {
    /// `virtual_server IP [PORT]` (port 0 only for persistent services).
    Inet { addr: IpAddr, port: u16 },
    /// `virtual_server fwmark N`.
    Fwmark { mark: u32 },
    /// `virtual_server group NAME` (the group is validated to exist).
    Group { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

/// IPVS scheduler (`lvs_sched` / `lb_algo`). Default wlc; unknown names fall back to wlc with
/// a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    #[default]
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    /// The kernel's scheduler name (`ip_vs_<name>`), as ipvsadm prints it.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }
    pub fn from_name(s: &str) -> Option<Scheduler> {
        const ALL: [Scheduler; 14] = [
            Scheduler::Rr,
            Scheduler::Wrr,
            Scheduler::Lc,
            Scheduler::Wlc,
            Scheduler::Lblc,
            Scheduler::Lblcr,
            Scheduler::Dh,
            Scheduler::Sh,
            Scheduler::Sed,
            Scheduler::Nq,
            Scheduler::Fo,
            Scheduler::Ovf,
            Scheduler::Mh,
            Scheduler::Twos,
        ];
        ALL.into_iter().find(|x| x.name().eq_ignore_ascii_case(s))
    }
}

/// Scheduler flags (`flag-1..3`, `sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`).
/// sh/mh flags are the same kernel bits as flag-1/flag-2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SchedFlags {
    pub flag_1: bool,
    pub flag_2: bool,
    pub flag_3: bool,
}

/// LVS forwarding method (`lvs_method` / `lb_kind`). Default NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "method", rename_all = "UPPERCASE")]
pub enum Forward {
    #[default]
    Nat,
    Dr,
    Tun {
        tunnel: TunnelType,
        checksum: TunnelChecksum,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue {
        port: u16,
    },
    Gre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    #[default]
    Nocsum,
    Csum,
    Remcsum,
}

/// `persistence_timeout [N]` plus granularity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persistence {
    /// Default 360 s when the keyword has no value.
    pub timeout: Duration,
    /// `persistence_granularity` netmask (IPv4 dotted mask or IPv6 prefix length).
    pub granularity: Option<String>,
}

/// `virtual_server … { … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    pub address: VsAddress,
    pub span: Span,
    /// `protocol`. Default TCP.
    pub protocol: Protocol,
    /// Address family: from the address, or `ip_family`, or the real servers; default inet.
    pub family: Family,
    /// `lvs_sched` / `lb_algo`. Default wlc.
    pub scheduler: Scheduler,
    pub sched_flags: SchedFlags,
    /// `ops`: one-packet scheduling (UDP).
    pub ops: bool,
    /// `lvs_method` / `lb_kind`. Default NAT.
    pub forward: Forward,
    /// None: not persistent.
    pub persistence: Option<Persistence>,
    pub persistence_engine: Option<String>,
    /// `delay_loop`. Default 60 s (inherited by real servers and checkers).
    pub delay_loop: Duration,
    /// `quorum`. Default 1.
    pub quorum: u32,
    /// `hysteresis`. Default 0.
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    /// `alpha` (default false): real servers start down.
    pub alpha: bool,
    /// `omega` (default false): run down notifiers at shutdown.
    pub omega: bool,
    /// `inhibit_on_failure` (default false): weight 0 instead of removal.
    pub inhibit_on_failure: bool,
    /// `ha_suspend`: suspend checkers while the VIP is absent.
    pub ha_suspend: bool,
    /// `smtp_alert`. Default: global, else false.
    pub smtp_alert: bool,
    /// `virtualhost` default for HTTP/SSL checkers.
    pub virtualhost: Option<String>,
    pub sorry_server: Option<SorryServer>,
    pub real_servers: Vec<RealServer>,
}

/// `sorry_server IP [PORT]`, with `sorry_server_inhibit` and `sorry_server_lvs_method`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    /// Default: the virtual server's port.
    pub port: u16,
    /// Default: the virtual server's method.
    pub forward: Forward,
    pub inhibit: bool,
    pub span: Span,
}

/// `real_server IP [PORT] { … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    pub addr: IpAddr,
    /// Default: the virtual server's port (0 for fwmark services without one).
    pub port: u16,
    pub span: Span,
    /// `weight`. Default 1.
    pub weight: i32,
    /// `lvs_method`. Default: the virtual server's.
    pub forward: Forward,
    /// Resolved from the virtual server when not set.
    pub inhibit_on_failure: bool,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    /// `uthreshold` / `lthreshold`: connection limits (0: none).
    pub uthreshold: u32,
    pub lthreshold: u32,
    /// `smtp_alert`. Default: global, else true (keepalived mails per real server).
    pub smtp_alert: bool,
    /// Resolved: real server's, else the virtual server's.
    pub virtualhost: Option<String>,
    /// Resolved: real server's, else virtual server's.
    pub alpha: bool,
    /// Resolved: real server's, else virtual server's.
    pub delay_loop: Duration,
    /// Health checks; empty: the server is always considered up.
    pub checkers: Vec<Checker>,
}

// ---------------------------------------------------------------------------------------------
// Checkers
// ---------------------------------------------------------------------------------------------

/// One checker block with its options resolved (checker → real_server → virtual_server →
/// keepalived default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checker {
    pub kind: CheckerKind,
    pub target: CheckTarget,
    pub timing: CheckTiming,
    pub span: Span,
}

/// Where a checker connects (`connect_ip`, `connect_port`, `bindto`, `bind_port`, `bind_if`,
/// `fwmark`), resolved against the real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckTarget {
    /// `connect_ip`. Default: the real server address.
    pub ip: IpAddr,
    /// `connect_port`. Default: the real server port (0 for PING/FILE/MISC, where unused).
    pub port: u16,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    /// `fwmark` on outgoing check packets.
    pub fwmark: Option<u32>,
}

/// Timing and retry policy of a checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckTiming {
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// Default: real server → virtual server → 60 s.
    pub delay_loop: Duration,
    /// Additional attempts before declaring failure (`retry`, alias `nb_get_retry`).
    /// Default 1; DNS_CHECK 3; MISC_CHECK 0.
    pub retry: u32,
    /// Default 3 s for HTTP_GET/SSL_GET, `delay_loop` for DNS_CHECK, else 1 s.
    pub delay_before_retry: Duration,
    /// Maximum random delay before the first check. Default `delay_loop`; 0 disables.
    pub warmup: Duration,
    /// Resolved alpha: the server starts down until its first success.
    pub alpha: bool,
    /// `log_all_failures`. Default: global `checker_log_all_failures`.
    pub log_all_failures: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum CheckerKind {
    /// HTTP_GET (tls false) or SSL_GET (tls true).
    #[serde(rename = "HTTP_GET")]
    Http(HttpCheck),
    #[serde(rename = "TCP_CHECK")]
    Tcp,
    #[serde(rename = "SMTP_CHECK")]
    Smtp(SmtpCheck),
    #[serde(rename = "DNS_CHECK")]
    Dns(DnsCheck),
    #[serde(rename = "MISC_CHECK")]
    Misc(MiscCheck),
    #[serde(rename = "UDP_CHECK")]
    Udp(UdpCheck),
    #[serde(rename = "PING_CHECK")]
    Ping,
    #[serde(rename = "FILE_CHECK")]
    File(FileCheck),
}

impl CheckerKind {
    /// The keepalived block name.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Http(h) if h.tls => "SSL_GET",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpCheck {
    /// SSL_GET.
    pub tls: bool,
    /// `http_protocol 1.0|1.0C|1.1`. Default 1.0.
    pub http_protocol: HttpProtocol,
    /// `fast_recovery`. Default false.
    pub fast_recovery: bool,
    /// `enable_sni` (SSL_GET). Default false.
    pub enable_sni: bool,
    /// At least one; a checker without url is dropped with a warning.
    pub urls: Vec<UrlCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum HttpProtocol {
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// 1.0 plus `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    #[serde(rename = "1.1")]
    Http11,
}

/// `url { path; digest; status_code; virtualhost; regex… }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UrlCheck {
    pub path: String,
    /// `digest`: lower-case 32 hex chars (MD5 of the body, as genhash prints it).
    pub digest: Option<String>,
    /// Accepted status codes, inclusive ranges. Default [200, 299].
    pub status_codes: Vec<(u16, u16)>,
    /// Resolved: url → checker → real server → virtual server.
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    pub span: Span,
}

impl UrlCheck {
    pub fn status_ok(&self, code: u16) -> bool {
        self.status_codes
            .iter()
            .any(|&(a, b)| a <= code && code <= b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SmtpCheck {
    /// `helo_name`. Default: the global `smtp_helo_name`, else the host name.
    pub helo_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    /// `type`. Default SOA.
    pub query_type: DnsType,
    /// `name`. Default ".".
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiscCheck {
    /// `misc_path` (+ `user`).
    pub script: Script,
    /// `misc_timeout`. Default: `delay_loop`.
    pub timeout: Duration,
    /// `misc_dynamic`: exit status 2..255 sets the weight to status - 2.
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct UdpCheck {
    /// `payload HEX`. None: a random payload.
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`: None = no reply required.
    pub require_reply: Option<ReplyPattern>,
    /// Default 0.
    pub min_reply_length: u32,
    /// Default 255.
    pub max_reply_length: u32,
}

/// `require_reply` data: bytes with a per-nibble mask (x/X nibbles are "don't care").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReplyPattern {
    pub bytes: Vec<u8>,
    pub mask: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// `track_file NAME` (validated to exist).
    pub track_file: String,
    pub dynamic: bool,
    /// Default: the track_file's weight.
    pub weight: i32,
    pub reverse: bool,
}
