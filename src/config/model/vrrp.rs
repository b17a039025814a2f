//! VRRP: `vrrp_script`, `track_file`, `vrrp_sync_group`, `vrrp_instance`, addresses, routes and rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::*;

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
    /// `track_bfd { NAME [weight N [reverse]] }`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_bfds: Vec<super::TrackBfd>,
    /// `track_process { … }`.
    pub track_processes: Vec<super::TrackProcessRef>,
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
    /// `vrf NAME` (only without `interface`): the VRF device the VRRP sockets are bound to, so
    /// adverts are routed by its table and received from its enslaved interfaces.
    pub vrf: Option<String>,
    pub vrf_span: Option<Span>,
    /// `use_vmac [NAME] [MAC]`: None = no VMAC; Some(name) with default name `vrrp.<VRID>`.
    pub use_vmac: Option<String>,
    /// The MAC of `use_vmac` (5 octets given: the VRID is the 6th). None: 00:00:5e:00:01:VRID.
    pub use_vmac_mac: Option<[u8; 6]>,
    pub vmac_xmit_base: bool,
    /// `use_vmac_addr`: a VMAC on each other interface a VIP/eVIP names (`dev`), holding it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub use_vmac_addr: bool,
    /// `use_ipvlan [NAME] [ADDRESS[/PREFIX]] [MODE]`.
    pub use_ipvlan: Option<UseIpvlan>,
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
    /// `virtual_rules`, held while MASTER (`crate::routes`).
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
    /// `kernel_rx_buf_size BYTES`: SO_RCVBUF of the instance's receive socket.
    pub kernel_rx_buf_size: Option<u32>,
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
    /// `track_bfd { NAME [weight N [reverse]] }`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_bfds: Vec<super::TrackBfd>,
    /// `track_process { … }`.
    pub track_processes: Vec<super::TrackProcessRef>,
    /// `linkbeat_use_polling` (deprecated): poll this instance's interface's link state.
    pub linkbeat_use_polling: bool,
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
    /// `track_group NAME` (static addresses only): see [`super::TrackGroup`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_group: Option<String>,
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

/// A `virtual_routes` / `static_routes` line: the common parts, the whole line typed in `spec`.
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
    /// Every option, typed (`crate::routes` installs this).
    #[serde(skip)]
    pub spec: super::RouteSpec,
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
    /// Every option, typed (`crate::routes` installs this).
    #[serde(skip)]
    pub spec: super::RuleSpec,
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
