//! `bfd_instance` blocks and the references to them (`track_bfd`, `BFD_CHECK`).

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::Span;

/// `bfd_instance NAME { … }` with keepalived's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdInstance {
    pub name: String,
    /// `neighbor_ip` (alias `neighbour_ip`): required.
    pub neighbor_ip: IpAddr,
    /// `source_ip`: None lets the kernel pick the source.
    pub source_ip: Option<IpAddr>,
    /// `min_rx` (ms, µs resolution). Default 10 ms.
    pub min_rx: Duration,
    /// `min_tx`. Default 10 ms.
    pub min_tx: Duration,
    /// `idle_tx`. Default 1000 ms.
    pub idle_tx: Duration,
    /// `multiplier`. Default 5.
    pub multiplier: u8,
    pub passive: bool,
    /// `ttl` (IPv4) / `hoplimit` (IPv6): the last one given. Default 255 for both (RFC 5881;
    /// keepalived documents 64 for IPv6, which a single-hop peer must drop).
    pub ttl: Option<u8>,
    /// `max_hops`: how far below 255 a received TTL may be; 255 disables the check. Default 0
    /// (RFC 5881: exactly 255); 255 with `multihop` unless given.
    pub max_hops: u8,
    /// `multihop` (lvsd extension): RFC 5883, port 4784. keepalived 2.2.7 has no multihop
    /// port: its `max_hops` only relaxes the TTL check on 3784, and so does lvsd's without this.
    pub multihop: bool,
    /// `weight N [reverse]`: the default for `track_bfd` lines naming this instance.
    pub weight: i32,
    pub weight_reverse: bool,
    /// `vrrp` / `checker`: events go only to that side; neither (or both): to both.
    pub to_vrrp: bool,
    pub to_checker: bool,
    pub span: Span,
}

impl BfdInstance {
    /// Multihop (RFC 5883) rather than single hop (RFC 5881).
    pub fn multihop(&self) -> bool {
        self.multihop
    }
}

/// A `track_bfd` line in an instance / sync group: `NAME [weight N [reverse]]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackBfd {
    pub name: String,
    /// The line's weight, else the bfd_instance's.
    pub weight: i32,
    pub reverse: bool,
    pub span: Span,
}
