//! BFD (RFC 5880 asynchronous mode) as keepalived's `bfd_instance` runs it: over UDP, RFC 5881
//! single-hop (port 3784, TTL 255 sent and required) and RFC 5883 multihop (port 4784, the
//! received TTL checked against `max_hops`), IPv4 and IPv6.
//!
//! - [`packet`]: the Control packet codec and its reception checks;
//! - [`session`]: one session's state machine and timers, pure (a fake clock in its tests);
//!
//! Session states feed VRRP (`track_bfd`, through the instance trackers) and the director
//! (`BFD_CHECK`) as one level-triggered map of name → up.

pub mod packet;
pub mod session;
