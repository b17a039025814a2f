//! LVS: `virtual_server_group`, `virtual_server`, `real_server`, `sorry_server`.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::*;

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
/// sh/mh flags are the same kernel bits: `*-fallback` is flag-1, `*-port` flag-2.
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
    /// lvsd extension `announce_route [ADDR…]`: hold a host route for the virtual server's
    /// addresses (or the ones listed) while it has quorum. None: not announced.
    pub announce_route: Option<Vec<IpAddr>>,
    /// lvsd extension `anycast_quiesce on|off` (default on): an announced `mh` virtual server
    /// keeps a failed real server at weight 0 (`inhibit_on_failure`) and sets `mh-fallback`,
    /// so every director keeps the same destination list and so the same choice.
    pub anycast_quiesce: bool,
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
    /// Boxed: most real servers have none, and a `Script` inline would double the size of
    /// every real server of a large configuration.
    pub notify_up: Option<Box<Script>>,
    pub notify_down: Option<Box<Script>>,
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
    /// `BFD_CHECK { name NAME }`: the server is down while that BFD session is not Up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bfd_checks: Vec<String>,
    /// `slow_start SECONDS` (lvsd extension, inherited from the virtual server): after coming
    /// back, the weight ramps up over this time.
    pub slow_start: Option<Duration>,
}
