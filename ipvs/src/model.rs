//! The IPVS table as plain data: what `ipvsadm -Ln` shows, with no netlink types.
//!
//! A [`Table`] maps each [`ServiceKey`] to a [`ServiceEntry`] (the [`Service`] and its
//! destinations keyed by [`DestKey`]). Everything is `Ord`, so tables diff deterministically and
//! print in a stable order. Counters ([`Stats`], [`DestConns`]) are filled by dumps only; the
//! reconciler ignores them ([`Service::same_config`], [`Dest::same_config`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Af {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
}

impl Af {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Inet,
            IpAddr::V6(_) => Af::Inet6,
        }
    }

    /// The longest prefix for this family (32 or 128): the default persistence netmask.
    pub fn max_prefix(self) -> u8 {
        match self {
            Af::Inet => 32,
            Af::Inet6 => 128,
        }
    }
}

/// Transport protocol of an address/port service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (`-t`).
    Tcp,
    /// UDP (`-u`).
    Udp,
    /// SCTP (`--sctp-service`).
    Sctp,
    /// Any other IP protocol number the kernel reports.
    Other(u16),
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// From an IP protocol number.
    pub fn from_number(n: u16) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Other(n) => write!(f, "proto-{n}"),
        }
    }
}

/// What identifies a virtual service: an address/protocol/port triple or a firewall mark.
/// The address family of an `Inet` key is the family of `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ServiceKey {
    /// `-t/-u/--sctp-service addr:port`.
    Inet {
        /// Virtual address.
        addr: IpAddr,
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual port (0 = all ports, with persistence).
        port: u16,
    },
    /// `-f mark` (with `-6` for IPv6).
    Fwmark {
        /// Family of the packets the mark selects.
        af: Af,
        /// Firewall mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// TCP service on `addr:port`.
    pub fn tcp(addr: IpAddr, port: u16) -> Self {
        ServiceKey::Inet {
            addr,
            protocol: Protocol::Tcp,
            port,
        }
    }
    /// UDP service on `addr:port`.
    pub fn udp(addr: IpAddr, port: u16) -> Self {
        ServiceKey::Inet {
            addr,
            protocol: Protocol::Udp,
            port,
        }
    }
    /// SCTP service on `addr:port`.
    pub fn sctp(addr: IpAddr, port: u16) -> Self {
        ServiceKey::Inet {
            addr,
            protocol: Protocol::Sctp,
            port,
        }
    }
    /// Firewall-mark service.
    pub fn fwmark(af: Af, mark: u32) -> Self {
        ServiceKey::Fwmark { af, mark }
    }
    /// Address family.
    pub fn af(&self) -> Af {
        match self {
            ServiceKey::Inet { addr, .. } => Af::of(addr),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }
}

/// Formats like ipvsadm's arguments: `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, `-f 7`, `-f 7 -6`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet {
                addr,
                protocol,
                port,
            } => {
                let flag = match protocol {
                    Protocol::Tcp => "-t".to_string(),
                    Protocol::Udp => "-u".to_string(),
                    Protocol::Sctp => "--sctp-service".to_string(),
                    Protocol::Other(n) => format!("--proto-{n}"),
                };
                write!(f, "{flag} {}", SockAddr(*addr, *port))
            }
            ServiceKey::Fwmark { af: Af::Inet, mark } => write!(f, "-f {mark}"),
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark,
            } => write!(f, "-f {mark} -6"),
        }
    }
}

/// `addr:port` with IPv6 in brackets, as ipvsadm prints and parses it.
struct SockAddr(IpAddr, u16);

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// A scheduling algorithm, by its kernel module name (`ip_vs_<name>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[non_exhaustive]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (ipvsadm's default).
    #[default]
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice (kernel 6.2+).
    Twos,
    /// Any other name; the kernel decides whether it exists.
    Other(String),
}

impl Scheduler {
    /// Every scheduler this crate names, in ipvsadm's order.
    pub const KNOWN: [Scheduler; 14] = [
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

    /// The kernel name (`"wlc"`).
    pub fn name(&self) -> &str {
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
            Scheduler::Other(s) => s,
        }
    }

    /// From a kernel name; unknown names become `Other` (never fails).
    pub fn from_name(name: &str) -> Scheduler {
        Scheduler::KNOWN
            .iter()
            .find(|s| s.name() == name)
            .cloned()
            .unwrap_or_else(|| Scheduler::Other(name.to_string()))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scheduler::from_name(s))
    }
}

/// Service flags (`IP_VS_SVC_F_*`), as the kernel stores them.
///
/// The scheduler flags share bits: `SCHED1` is sh-fallback for `sh` and mh-fallback for `mh`,
/// `SCHED2` is sh-port / mh-port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// Persistent port (`-p`). Set together with [`Service::timeout`].
    pub const PERSISTENT: u32 = 0x0001;
    /// Set by the kernel on every hashed (i.e. installed) service; ignored when diffing.
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling (`-o`, UDP).
    pub const ONEPACKET: u32 = 0x0004;
    /// Scheduler flag 1: sh-fallback / mh-fallback.
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2: sh-port / mh-port.
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;
    /// `sh-fallback`.
    pub const SH_FALLBACK: u32 = Self::SCHED1;
    /// `sh-port`.
    pub const SH_PORT: u32 = Self::SCHED2;
    /// `mh-fallback`.
    pub const MH_FALLBACK: u32 = Self::SCHED1;
    /// `mh-port`.
    pub const MH_PORT: u32 = Self::SCHED2;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
    /// The flags a user sets (without `HASHED`, which the kernel adds).
    pub fn configured(self) -> ServiceFlags {
        ServiceFlags(self.0 & !Self::HASHED)
    }
}

/// A virtual service (`ipvsadm -A`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Identity; cannot be edited in place.
    pub key: ServiceKey,
    /// Scheduling algorithm.
    pub scheduler: Scheduler,
    /// Flags; set [`ServiceFlags::PERSISTENT`] together with `timeout`.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (0 when not persistent).
    pub timeout: u32,
    /// Persistence granularity as a prefix length (32/128 = per client address).
    pub netmask: u8,
    /// Persistence engine (`--pe sip`), if any.
    pub pe_name: Option<String>,
    /// Counters from a dump; `None` in a desired table.
    pub stats: Option<Stats>,
}

impl Service {
    /// A non-persistent service with the given scheduler and default netmask.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Service {
            key,
            scheduler,
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: key.af().max_prefix(),
            pe_name: None,
            stats: None,
        }
    }

    /// Makes the service persistent for `timeout` seconds (`-p timeout`).
    pub fn persistent(mut self, timeout: u32) -> Self {
        self.flags.0 |= ServiceFlags::PERSISTENT;
        self.timeout = timeout;
        self
    }

    /// Whether the configurable parts equal (ignores stats and the kernel's `HASHED` bit).
    pub fn same_config(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && self.flags.configured() == other.flags.configured()
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe_name == other.pe_name
    }
}

/// Forwarding method of a destination (`IP_VS_CONN_F_*` in the low 3 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Forward {
    /// Masquerading / NAT (`-m`).
    Masq,
    /// Local node.
    Local,
    /// IP-IP / GUE / GRE tunnelling (`-i`).
    Tunnel,
    /// Direct routing (`-g`).
    DirectRoute,
    /// Cache bypass.
    Bypass,
    /// Any other value the kernel reports.
    Other(u32),
}

impl Forward {
    /// The `IP_VS_CONN_F_*` value.
    pub fn to_kernel(self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel => 2,
            Forward::DirectRoute => 3,
            Forward::Bypass => 4,
            Forward::Other(n) => n,
        }
    }
    /// From the kernel's connection flags (only the forwarding bits count).
    pub fn from_kernel(flags: u32) -> Forward {
        match flags & 0x7 {
            0 => Forward::Masq,
            1 => Forward::Local,
            2 => Forward::Tunnel,
            3 => Forward::DirectRoute,
            4 => Forward::Bypass,
            n => Forward::Other(n),
        }
    }
    /// The name ipvsadm prints in its `Forward` column.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            Forward::Masq => "Masq",
            Forward::Local => "Local",
            Forward::Tunnel => "Tunnel",
            Forward::DirectRoute => "Route",
            Forward::Bypass => "Bypass",
            Forward::Other(_) => "Unknown",
        }
    }
}

/// Tunnel encapsulation of a [`Forward::Tunnel`] destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[non_exhaustive]
pub enum TunnelType {
    /// IP in IP (default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation (needs `tun_port`).
    Gue,
    /// GRE.
    Gre,
    /// Any other value.
    Other(u8),
}

impl TunnelType {
    /// The `IP_VS_CONN_F_TUNNEL_TYPE_*` value.
    pub fn to_kernel(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
            TunnelType::Other(n) => n,
        }
    }
    /// From the kernel value.
    pub fn from_kernel(n: u8) -> TunnelType {
        match n {
            0 => TunnelType::Ipip,
            1 => TunnelType::Gue,
            2 => TunnelType::Gre,
            n => TunnelType::Other(n),
        }
    }
}

/// Identity of a destination within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DestKey {
    /// Real server address (its family may differ from the service's for tunnels).
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SockAddr(self.addr, self.port).fmt(f)
    }
}

/// A real server of a service (`ipvsadm -a`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dest {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight (0 = quiesced: no new connections).
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub l_threshold: u32,
    /// Tunnel encapsulation (meaningful with [`Forward::Tunnel`]).
    pub tun_type: TunnelType,
    /// GUE destination port (0 = none).
    pub tun_port: u16,
    /// Tunnel flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`: 1 = csum, 2 = remcsum).
    pub tun_flags: u16,
    /// Connection counters from a dump; `None` in a desired table.
    pub conns: Option<DestConns>,
    /// Traffic counters from a dump; `None` in a desired table.
    pub stats: Option<Stats>,
}

impl Dest {
    /// A destination with weight 1, no thresholds.
    pub fn new(addr: IpAddr, port: u16, forward: Forward) -> Self {
        Dest {
            addr,
            port,
            forward,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunnelType::Ipip,
            tun_port: 0,
            tun_flags: 0,
            conns: None,
            stats: None,
        }
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// The key of this destination.
    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }

    /// Whether the configurable parts equal (ignores counters, and tunnel settings of a
    /// destination that is not a tunnel: the kernel does not keep them).
    pub fn same_config(&self, other: &Dest) -> bool {
        self.addr == other.addr
            && self.port == other.port
            && self.forward == other.forward
            && self.weight == other.weight
            && self.u_threshold == other.u_threshold
            && self.l_threshold == other.l_threshold
            && (self.forward != Forward::Tunnel
                || (self.tun_type == other.tun_type
                    && self.tun_port == other.tun_port
                    && self.tun_flags == other.tun_flags))
    }
}

/// Connection counts of a destination (`ipvsadm -Ln` ActiveConn / InActConn, persistent templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DestConns {
    /// Active connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// Persistent templates.
    pub persistent: u32,
}

/// Traffic counters (64-bit totals and current rates), as `ipvsadm -Ln --stats/--rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// Global connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`); 0 = unchanged on set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Timeouts {
    /// Established TCP sessions.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Role of a connection-sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DaemonState {
    /// Sends the connection table (`--start-daemon master`).
    Master,
    /// Receives it (`--start-daemon backup`).
    Backup,
}

/// A connection-sync daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonConfig {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface.
    pub mcast_ifn: String,
    /// Sync id.
    pub sync_id: u32,
    /// UDP payload size (0 = kernel default).
    pub sync_maxlen: u16,
    /// Multicast group (None = kernel default 224.0.0.81).
    pub mcast_group: Option<IpAddr>,
    /// Multicast port (0 = kernel default 8848).
    pub mcast_port: u16,
    /// Multicast TTL (0 = kernel default 1).
    pub mcast_ttl: u8,
}

impl DaemonConfig {
    /// A daemon with kernel defaults for everything but state, interface and id.
    pub fn new(state: DaemonState, mcast_ifn: &str, sync_id: u32) -> Self {
        DaemonConfig {
            state,
            mcast_ifn: mcast_ifn.to_string(),
            sync_id,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }
}

/// General IPVS information (`ipvsadm -Ln` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Info {
    /// Version code, e.g. 0x010201 = 1.2.1.
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

impl Info {
    /// `"1.2.1"`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// A service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations.
    pub dests: BTreeMap<DestKey, Dest>,
}

/// The whole IPVS table: services and their destinations, ordered by key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Table {
    /// Services by key.
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    /// Inserts (or replaces, keeping its destinations) a service; returns its entry.
    pub fn add_service(&mut self, service: Service) -> &mut ServiceEntry {
        let entry = self
            .services
            .entry(service.key)
            .or_insert_with(|| ServiceEntry {
                service: service.clone(),
                dests: BTreeMap::new(),
            });
        entry.service = service;
        entry
    }

    /// Inserts (or replaces) a destination of an existing service; false if the service is absent.
    pub fn add_dest(&mut self, key: &ServiceKey, dest: Dest) -> bool {
        match self.services.get_mut(key) {
            Some(entry) => {
                entry.dests.insert(dest.key(), dest);
                true
            }
            None => false,
        }
    }

    /// The service and destinations for `key`.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.get(key)
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|e| e.dests.len()).sum()
    }

    /// Whether both tables hold the same configuration (ignores counters and `HASHED`).
    pub fn same_config(&self, other: &Table) -> bool {
        self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .zip(other.services.iter())
                .all(|((ka, a), (kb, b))| ka == kb && a.same_config(b))
    }

    /// The services of `keys` that this table holds, with their destinations (a copy).
    pub fn subset(&self, keys: &BTreeSet<ServiceKey>) -> Table {
        Table {
            services: keys
                .iter()
                .filter_map(|k| self.services.get(k).map(|e| (*k, e.clone())))
                .collect(),
        }
    }

    /// The services whose configuration differs between two tables: added, removed, or with a
    /// changed service or destination (counters ignored). Pure; meant for two *desired* tables
    /// (the director's previous and new one), giving the scope of
    /// [`Ipvs::reconcile_scoped`](crate::Ipvs::reconcile_scoped).
    pub fn changed_services(old: &Table, new: &Table) -> BTreeSet<ServiceKey> {
        let mut changed: BTreeSet<ServiceKey> = old
            .services
            .iter()
            .filter(|(k, e)| !new.services.get(k).is_some_and(|n| n.same_config(e)))
            .map(|(k, _)| *k)
            .collect();
        changed.extend(
            new.services
                .keys()
                .filter(|k| !old.services.contains_key(k)),
        );
        changed
    }
}

impl ServiceEntry {
    /// Whether both entries hold the same service and destinations (ignores counters and
    /// `HASHED`).
    pub fn same_config(&self, other: &ServiceEntry) -> bool {
        self.service.same_config(&other.service)
            && self.dests.len() == other.dests.len()
            && self
                .dests
                .iter()
                .zip(other.dests.iter())
                .all(|((ka, a), (kb, b))| ka == kb && a.same_config(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const EXAMPLE_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const EXAMPLE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

    #[test]
    fn scheduler_names_round_trip() {
        for s in Scheduler::KNOWN {
            assert_eq!(Scheduler::from_name(s.name()), s);
        }
        assert_eq!(
            Scheduler::from_name("bogus"),
            Scheduler::Other("bogus".into())
        );
    }

    #[test]
    fn keys_print_like_ipvsadm_arguments() {
        assert_eq!(
            ServiceKey::tcp(EXAMPLE_V4, 80).to_string(),
            "-t 192.0.2.1:80"
        );
        assert_eq!(
            ServiceKey::udp(EXAMPLE_V6, 53).to_string(),
            "-u [2001:db8::1]:53"
        );
        assert_eq!(ServiceKey::fwmark(Af::Inet6, 7).to_string(), "-f 7 -6");
    }

    #[test]
    fn same_config_ignores_counters_and_hashed() {
        let mut a = Service::new(ServiceKey::tcp(EXAMPLE_V4, 80), Scheduler::Rr);
        let mut b = a.clone();
        b.flags.0 |= ServiceFlags::HASHED;
        b.stats = Some(Stats {
            conns: 3,
            ..Stats::default()
        });
        assert!(a.same_config(&b));
        a.timeout = 1;
        assert!(!a.same_config(&b));
    }

    #[test]
    fn changed_services_names_added_removed_and_edited_services_only() {
        let key = |port| ServiceKey::tcp(EXAMPLE_V4, port);
        let dest = |w| Dest::new(EXAMPLE_V6, 80, Forward::Masq).weight(w);
        let mut old = Table::new();
        for port in [80, 81, 82, 83] {
            old.add_service(Service::new(key(port), Scheduler::Rr));
            old.add_dest(&key(port), dest(1));
        }
        let mut new = old.clone();
        new.services.remove(&key(80)); // removed
        new.add_dest(&key(81), dest(2)); // weight changed
        new.add_service(Service::new(key(82), Scheduler::Wrr)); // scheduler changed
        new.add_service(Service::new(key(90), Scheduler::Rr)); // added
        // Counters are not configuration.
        new.services.get_mut(&key(83)).unwrap().service.stats = Some(Stats::default());
        let want: BTreeSet<_> = [key(80), key(81), key(82), key(90)].into();
        assert_eq!(Table::changed_services(&old, &new), want);
        assert_eq!(Table::changed_services(&new, &old), want);
        assert!(Table::changed_services(&old, &old.clone()).is_empty());
        let sub = new.subset(&[key(81), key(80)].into());
        assert_eq!(sub.services.keys().collect::<Vec<_>>(), [&key(81)]);
        assert_eq!(sub.get(&key(81)), new.get(&key(81)));
    }
}
