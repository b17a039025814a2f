//! global_defs `nftables*` (keepalived's firewall for `no_accept`) and `nftables_ipvs*`
//! (fwmarks for virtual server groups).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NftDefs {
    /// `nftables [TABLE]` (or `vrrp_iptables`, which keepalived 2.2.7 turns into nftables):
    /// the table name; None: not given (keepalived's default table `keepalived`).
    pub table: Option<String>,
    /// `nftables_priority N`; None: -1.
    pub priority: Option<i32>,
    /// `nftables_counters`.
    pub counters: bool,
    /// `nftables_ifindex`.
    pub ifindex: bool,
    /// `nftables_ipvs [TABLE]`: one fwmark per virtual_server_group; the table name
    /// (default `keepalived_ipvs`).
    pub ipvs: Option<String>,
    /// `nftables_ipvs_priority N`; None: -1 (keepalived's default).
    pub ipvs_priority: Option<i32>,
    /// `nftables_ipvs_start_fwmark N`; None: 1000.
    pub ipvs_start_fwmark: Option<u32>,
}
