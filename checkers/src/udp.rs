//! `UDP_CHECK`, and the connected datagram socket DNS_CHECK shares.
//!
//! Without `require_reply` the probe passes unless an ICMP error (port/host unreachable)
//! comes back within `connect_timeout`; with it, a reply of the right length and leading bytes
//! must arrive in time.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::outcome::{FailReason, Outcome};
use crate::spec::{Bind, Spec, UdpSpec};

/// A UDP socket bound per `bind` and connected to `target` (so ICMP errors are reported).
pub(crate) fn socket(target: SocketAddr, bind: &Bind) -> io::Result<UdpSocket> {
    let domain = if target.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_nonblocking(true)?;
    crate::tcp::apply_bind(&SockRef::from(&sock), bind)?;
    if bind.addr.is_some() || bind.port.is_some() {
        let ip = bind.addr.unwrap_or(if target.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        });
        sock.bind(&SocketAddr::new(ip, bind.port.unwrap_or(0)).into())?;
    }
    sock.connect(&target.into())?;
    UdpSocket::from_std(sock.into())
}

/// Whether `reply` matches the `require_reply` pattern over their common length.
pub fn matches(pattern: &[(u8, u8)], reply: &[u8]) -> bool {
    pattern
        .iter()
        .zip(reply)
        .all(|((value, mask), got)| got & mask == value & mask)
}

fn unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Sends the probe and judges the answer (or silence).
pub async fn check(spec: &Spec, udp: &UdpSpec) -> Outcome {
    let sock = match socket(spec.target, &spec.bind) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(FailReason::Udp(format!("socket setup: {e}"))),
    };
    let payload: Vec<u8> = if udp.payload.is_empty() {
        // keepalived sends random bytes when no payload is configured.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.subsec_nanos().to_le_bytes().to_vec()
    } else {
        udp.payload.clone()
    };
    if let Err(e) = sock.send(&payload).await {
        return Outcome::Fail(FailReason::Udp(format!(
            "send to {} failed: {e}",
            spec.target
        )));
    }
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(spec.timing.connect_timeout, sock.recv(&mut buf)).await {
        Err(_) if udp.require_reply.is_none() => Outcome::PASS,
        Err(_) => Outcome::Fail(FailReason::Timeout {
            during: format!("a UDP reply from {}", spec.target),
            after: spec.timing.connect_timeout,
        }),
        Ok(Err(e)) if unreachable(&e) => {
            Outcome::Fail(FailReason::Udp(format!("{} unreachable: {e}", spec.target)))
        }
        Ok(Err(e)) => Outcome::Fail(FailReason::Udp(format!("receive failed: {e}"))),
        Ok(Ok(n)) => {
            let reply = &buf[..n];
            let Some(pattern) = &udp.require_reply else {
                return Outcome::PASS;
            };
            if n < udp.min_reply_length || n > udp.max_reply_length {
                return Outcome::Fail(FailReason::Udp(format!(
                    "reply of {n} bytes (expected {}-{})",
                    udp.min_reply_length, udp.max_reply_length
                )));
            }
            if !matches(pattern, reply) {
                return Outcome::Fail(FailReason::Udp(
                    "reply does not match require_reply".to_string(),
                ));
            }
            Outcome::PASS
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_with_wildcard_nibbles() {
        // "Ab1x" → AB with mask FF, 1x with mask F0.
        let p = [(0xAB, 0xFF), (0x10, 0xF0)];
        assert!(super::matches(&p, &[0xAB, 0x1F, 0x00]));
        assert!(!super::matches(&p, &[0xAB, 0x2F]));
        assert!(
            super::matches(&p, &[0xAB]),
            "compared up to the shorter length"
        );
    }
}
