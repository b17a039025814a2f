//! The kernel IPVS table as the metrics need it: services, destinations and their counters, read
//! at scrape time. Plain data so the renderer is testable without a kernel; the daemon fills it
//! from `ipvs::Client::dump()` (per service/destination) and `/proc/net/ip_vs_stats` (totals).

use std::net::IpAddr;

/// Kernel traffic counters (`struct ip_vs_stats_user` / `IPVS_STATS_ATTR_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpvsStats {
    pub connections: u64,
    pub incoming_packets: u64,
    pub outgoing_packets: u64,
    pub incoming_bytes: u64,
    pub outgoing_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsDest {
    pub address: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub active_connections: u32,
    pub inactive_connections: u32,
    pub stats: IpvsStats,
}

/// A virtual service: either address/port/protocol or a firewall mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsService {
    /// `TCP`, `UDP`, `SCTP`, or `FWM` for a firewall-mark service (node_exporter's spelling).
    pub proto: String,
    /// None for a firewall-mark service.
    pub address: Option<IpAddr>,
    pub port: u16,
    /// 0 unless this is a firewall-mark service.
    pub fwmark: u32,
    pub stats: IpvsStats,
    pub dests: Vec<IpvsDest>,
}

/// One read of the kernel table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsDump {
    /// Whole-kernel totals (`/proc/net/ip_vs_stats`), None when unreadable.
    pub totals: Option<IpvsStats>,
    pub services: Vec<IpvsService>,
}

impl IpvsDump {
    /// From a kernel dump (`ipvs::Client::dump()`); counters the dump lacks count as 0.
    pub fn from_table(table: &ipvs::Table, totals: Option<IpvsStats>) -> Self {
        let stats = |s: Option<&ipvs::Stats>| {
            s.map(|s| IpvsStats {
                connections: s.conns,
                incoming_packets: s.inpkts,
                outgoing_packets: s.outpkts,
                incoming_bytes: s.inbytes,
                outgoing_bytes: s.outbytes,
            })
            .unwrap_or_default()
        };
        let services = table
            .services
            .values()
            .map(|entry| {
                let (proto, address, port, fwmark) = match entry.service.key {
                    ipvs::ServiceKey::Inet {
                        addr,
                        protocol,
                        port,
                    } => (protocol.to_string(), Some(addr), port, 0),
                    ipvs::ServiceKey::Fwmark { mark, .. } => ("FWM".to_string(), None, 0, mark),
                };
                IpvsService {
                    proto,
                    address,
                    port,
                    fwmark,
                    stats: stats(entry.service.stats.as_ref()),
                    dests: entry
                        .dests
                        .values()
                        .map(|d| IpvsDest {
                            address: d.addr,
                            port: d.port,
                            weight: d.weight,
                            active_connections: d.conns.map_or(0, |c| c.active),
                            inactive_connections: d.conns.map_or(0, |c| c.inactive),
                            stats: stats(d.stats.as_ref()),
                        })
                        .collect(),
                }
            })
            .collect();
        IpvsDump { totals, services }
    }
}

/// Reads the whole-kernel totals; None when IPVS is not loaded or the file is unreadable.
pub fn read_proc_totals() -> Option<IpvsStats> {
    parse_proc_ip_vs_stats(&std::fs::read_to_string("/proc/net/ip_vs_stats").ok()?)
}

/// Parses `/proc/net/ip_vs_stats`: a header of two lines, then one line of five hexadecimal totals
/// (connections, packets in, packets out, bytes in, bytes out). None when the layout is not that.
pub fn parse_proc_ip_vs_stats(text: &str) -> Option<IpvsStats> {
    let line = text.lines().nth(2)?;
    let mut fields = line.split_whitespace().map(|f| u64::from_str_radix(f, 16));
    let mut next = || fields.next()?.ok();
    Some(IpvsStats {
        connections: next()?,
        incoming_packets: next()?,
        outgoing_packets: next()?,
        incoming_bytes: next()?,
        outgoing_bytes: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Layout of /proc/net/ip_vs_stats as printed by net/netfilter/ipvs/ip_vs_ctl.c.
    const PROC: &str = "   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
      1F      3E8        0            1D4C0                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       0        0        0                0                0
";

    #[test]
    fn from_kernel_table() {
        let vip = ipvs::ServiceKey::tcp("192.0.2.1".parse().unwrap(), 80);
        let mut t = ipvs::Table::new();
        let mut svc = ipvs::Service::new(vip, ipvs::Scheduler::Rr);
        svc.stats = Some(ipvs::Stats {
            conns: 5,
            ..Default::default()
        });
        t.add_service(svc);
        let mut d = ipvs::Dest::new(
            "10.0.0.2".parse().unwrap(),
            8080,
            ipvs::Forward::DirectRoute,
        );
        d.weight = 3;
        d.conns = Some(ipvs::DestConns {
            active: 2,
            inactive: 1,
            persistent: 0,
        });
        t.add_dest(&vip, d);
        t.add_service(ipvs::Service::new(
            ipvs::ServiceKey::Fwmark {
                af: ipvs::Af::Inet,
                mark: 7,
            },
            ipvs::Scheduler::Rr,
        ));
        let dump = IpvsDump::from_table(&t, None);
        let tcp = dump.services.iter().find(|s| s.proto == "TCP").unwrap();
        assert_eq!(tcp.stats.connections, 5);
        assert_eq!(tcp.dests[0].weight, 3);
        assert_eq!(tcp.dests[0].active_connections, 2);
        assert_eq!(
            tcp.dests[0].stats,
            IpvsStats::default(),
            "no stats in the dump: zeros"
        );
        let fwm = dump.services.iter().find(|s| s.proto == "FWM").unwrap();
        assert_eq!((fwm.fwmark, fwm.address), (7, None));
    }

    #[test]
    fn proc_totals_are_hex() {
        let s = parse_proc_ip_vs_stats(PROC).unwrap();
        assert_eq!(s.connections, 31);
        assert_eq!(s.incoming_packets, 1000);
        assert_eq!(s.outgoing_packets, 0);
        assert_eq!(s.incoming_bytes, 120_000);
    }

    #[test]
    fn proc_garbage_is_none() {
        assert_eq!(parse_proc_ip_vs_stats(""), None);
        assert_eq!(parse_proc_ip_vs_stats("a\nb\nzz 1 2 3 4\n"), None);
        assert_eq!(parse_proc_ip_vs_stats("a\nb\n1 2\n"), None);
    }
}
