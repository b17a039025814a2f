//! The typed form of a `virtual_routes` / `static_routes` line and of a `virtual_rules` /
//! `static_rules` line: every option keepalived 2.2.7 accepts from `ip route add` /
//! `ip rule add`, with names (tables, protocols, realms, scopes) already resolved to numbers,
//! so the rtnetlink writer (`crate::routes`) only encodes.

use std::net::IpAddr;

use serde::Serialize;

use super::Prefix;

/// `proto keepalived` (RTPROT_KEEPALIVED): what keepalived marks its routes and rules with
/// when the line names no `proto`/`protocol`.
pub const PROTO_KEEPALIVED: u8 = 18;
/// RT_TABLE_MAIN.
pub const TABLE_MAIN: u32 = 254;

/// The route type word (`ip route add TYPE PREFIX`); unicast unless written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    #[default]
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
}

impl RouteKind {
    pub fn parse(w: &str) -> Option<RouteKind> {
        Some(match w {
            "unicast" => RouteKind::Unicast,
            "local" => RouteKind::Local,
            "broadcast" => RouteKind::Broadcast,
            "anycast" => RouteKind::Anycast,
            "multicast" => RouteKind::Multicast,
            "blackhole" => RouteKind::Blackhole,
            "unreachable" => RouteKind::Unreachable,
            "prohibit" => RouteKind::Prohibit,
            "throw" => RouteKind::Throw,
            "nat" => RouteKind::Nat,
            _ => return None,
        })
    }

    /// Types that send nowhere: no gateway, no interface.
    pub fn is_reject(self) -> bool {
        matches!(
            self,
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit | RouteKind::Throw
        )
    }
}

/// One RTAX_* metric: `mtu [lock] N`, `advmss N`, `congctl NAME`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RouteMetricValue {
    /// RTAX number, value in the kernel's unit (rtt ×8, rttvar ×4, as `ip` sends them).
    Number(u8, u32),
    /// RTAX_CC_ALGO.
    CongCtl(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteMetric {
    pub value: RouteMetricValue,
    /// `lock`: the kernel must not change it (RTAX_LOCK bit).
    pub lock: bool,
}

/// A `nexthop via ADDR dev IF weight N onlink` of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NextHop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1..=256 (`ip`'s default 1).
    pub weight: u16,
    pub onlink: bool,
    /// `realms` of this nexthop, (from << 16) | to.
    pub realms: Option<u32>,
}

/// Everything a route line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RouteSpec {
    pub kind: RouteKind,
    pub dst: Option<Prefix>,
    /// `from PREFIX` (IPv6 source routing).
    pub from: Option<Prefix>,
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    /// keepalived's `or ADDR`: a second gateway, installed as an equal multipath route.
    pub or_via: Option<IpAddr>,
    pub dev: Option<String>,
    pub onlink: bool,
    /// Resolved (`main` = 254 when absent).
    pub table: u32,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// Resolved scope number; None: the kernel's default for the type and gateway.
    pub scope: Option<u8>,
    pub protocol: u8,
    pub tos: Option<u8>,
    /// (from << 16) | to.
    pub realms: Option<u32>,
    pub metrics: Vec<RouteMetric>,
    pub nexthops: Vec<NextHop>,
    /// IPv6 `pref low|medium|high` (ICMPV6_ROUTER_PREF_*).
    pub pref: Option<u8>,
    pub expires: Option<u32>,
    /// `append` rather than the default prepend.
    pub append: bool,
    /// `inet6` forces IPv6 for a line that could be either.
    pub inet6: bool,
    pub track_group: Option<String>,
}

impl RouteSpec {
    pub fn is_ipv6(&self) -> bool {
        self.inet6
            || [self.dst.map(|p| p.addr), self.src, self.via]
                .into_iter()
                .flatten()
                .chain(self.nexthops.iter().filter_map(|n| n.via))
                .any(|a| a.is_ipv6())
    }

    /// The interfaces the route goes out of (its own and its nexthops').
    pub fn devices(&self) -> impl Iterator<Item = &String> {
        self.dev
            .iter()
            .chain(self.nexthops.iter().filter_map(|n| n.dev.as_ref()))
    }
}

/// The action of a rule (FR_ACT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// `table N` / `lookup N`.
    #[default]
    Table,
    /// `goto PREF`.
    Goto,
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// Everything a rule line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RuleSpec {
    pub action: RuleAction,
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    pub preference: u32,
    /// `table`/`lookup`, resolved.
    pub table: Option<u32>,
    pub goto: Option<u32>,
    pub not: bool,
    pub tos: Option<u8>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub realms: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub suppress_prefixlength: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    pub uidrange: Option<(u32, u32)>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub ipproto: Option<u8>,
    pub tun_id: Option<u64>,
    pub l3mdev: bool,
    pub protocol: u8,
    pub inet6: bool,
    pub track_group: Option<String>,
}

impl RuleSpec {
    pub fn is_ipv6(&self) -> bool {
        self.inet6
            || [self.from, self.to]
                .into_iter()
                .flatten()
                .any(|p| p.addr.is_ipv6())
    }
}
