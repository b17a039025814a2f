//! `nftables_ipvs`: one fwmark per virtual_server_group.

/// keepalived's default table for `nftables_ipvs`.
pub const DEFAULT_TABLE: &str = "keepalived_ipvs";
