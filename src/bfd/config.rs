//! What the service runs, from the configuration model.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::packet::{PORT_MULTI_HOP, PORT_SINGLE_HOP};
use super::session::SessionConfig;
use crate::config::model;

/// One `bfd_instance`, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub name: String,
    pub neighbor: IpAddr,
    pub source: Option<IpAddr>,
    pub session: SessionConfig,
    /// TTL / hop limit sent.
    pub ttl: u8,
    /// How far below 255 a received TTL may be (255: not checked).
    pub max_hops: u8,
    /// RFC 5883 (port 4784) rather than RFC 5881 (3784).
    pub multihop: bool,
    /// Events go to VRRP (`track_bfd`) / the checkers (`BFD_CHECK`).
    pub vrrp: bool,
    pub checker: bool,
}

impl SessionSpec {
    pub fn from_model(b: &model::BfdInstance) -> SessionSpec {
        // Neither `vrrp` nor `checker` (or both): both are told.
        let both = b.to_vrrp == b.to_checker;
        SessionSpec {
            name: b.name.clone(),
            neighbor: b.neighbor_ip,
            source: b.source_ip,
            session: SessionConfig {
                min_rx: b.min_rx,
                min_tx: b.min_tx,
                idle_tx: b.idle_tx.max(Duration::from_millis(1)),
                multiplier: b.multiplier,
                passive: b.passive,
            },
            // RFC 5881 §5: single-hop packets go out with TTL 255 (IPv6 too, unlike
            // keepalived's documented default of 64, which a single-hop peer must drop).
            ttl: b.ttl.unwrap_or(255),
            max_hops: b.max_hops,
            multihop: b.multihop,
            vrrp: both || b.to_vrrp,
            checker: both || b.to_checker,
        }
    }
    pub fn multihop(&self) -> bool {
        self.multihop
    }
    pub fn port(&self) -> u16 {
        if self.multihop() {
            PORT_MULTI_HOP
        } else {
            PORT_SINGLE_HOP
        }
    }
    pub fn dest(&self) -> SocketAddr {
        SocketAddr::new(self.neighbor, self.port())
    }
    /// The received TTL rule: at least 255 − max_hops (so exactly 255 by default, RFC 5881
    /// §5), anything with 255.
    pub fn ttl_ok(&self, ttl: Option<u8>) -> bool {
        self.max_hops == 255 || ttl.is_some_and(|t| u16::from(t) + u16::from(self.max_hops) >= 255)
    }
    /// Whether a change needs a new socket / session rather than new timers.
    pub fn same_endpoint(&self, o: &SessionSpec) -> bool {
        self.neighbor == o.neighbor
            && self.source == o.source
            && self.ttl == o.ttl
            && self.max_hops == o.max_hops
            && self.multihop == o.multihop
    }
}

/// Every bfd_instance of a configuration.
pub fn specs(c: &model::Config) -> Vec<SessionSpec> {
    c.bfd_instances
        .iter()
        .map(SessionSpec::from_model)
        .collect()
}
