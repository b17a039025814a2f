//! `use_ipvlan [NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]` (vrrp_instance).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The ipvlan's mode flags (the ipvlan itself is always mode L2, as keepalived creates it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    #[default]
    Bridge,
    Private,
    Vepa,
}

/// What `use_ipvlan` asks for: an L2 ipvlan on the instance's interface, carrying the
/// adverts from `addr` (the VIPs stay on the instance's interface, as keepalived 2.2.7 puts
/// them); removed when the instance stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseIpvlan {
    /// The interface name; `vrrp.<VRID>` when not given.
    pub name: String,
    /// The ipvlan's own address (required for IPv4; IPv6 uses the link-local one without).
    pub addr: Option<IpAddr>,
    /// Its prefix length (default /32 or /128).
    pub prefix: u8,
    pub mode: IpvlanMode,
}
