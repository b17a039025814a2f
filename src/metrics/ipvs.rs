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
    pub proto: &'static str,
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
