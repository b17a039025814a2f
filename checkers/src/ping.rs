//! `PING_CHECK`: one ICMP / ICMPv6 echo, answered within `connect_timeout`.
//!
//! An unprivileged ping socket (`SOCK_DGRAM`, allowed by `net.ipv4.ping_group_range`) is tried
//! first; otherwise a raw socket (needs CAP_NET_RAW). The sysctl is never changed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::outcome::{FailReason, Outcome};
use crate::spec::Spec;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

fn open(target: SocketAddr, spec: &Spec) -> io::Result<(UdpSocket, bool)> {
    let (domain, proto) = if target.is_ipv4() {
        (Domain::IPV4, Protocol::ICMPV4)
    } else {
        (Domain::IPV6, Protocol::ICMPV6)
    };
    let (sock, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(_) => (Socket::new(domain, Type::RAW, Some(proto))?, true),
    };
    sock.set_nonblocking(true)?;
    crate::tcp::apply_bind(&SockRef::from(&sock), &spec.bind)?;
    if let Some(ip) = spec.bind.addr {
        sock.bind(&SocketAddr::new(ip, 0).into())?;
    }
    // Ports mean nothing to ICMP; connect() filters replies by source address.
    sock.connect(&SocketAddr::new(target.ip(), 0).into())?;
    Ok((UdpSocket::from_std(sock.into())?, raw))
}

/// RFC 1071 checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request; for IPv6 the kernel fills the checksum in.
pub fn echo_request(v4: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v4 { ECHO_REQUEST_V4 } else { ECHO_REQUEST_V6 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"lvsd-ping-check!");
    if v4 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Whether `pkt` (ICMP, IPv4 header included for raw v4 sockets) is our echo reply.
pub fn is_reply(pkt: &[u8], v4: bool, raw: bool, id: u16, seq: u16) -> bool {
    let icmp = if v4 && raw {
        let ihl = usize::from(pkt.first().map_or(0, |b| b & 0x0f)) * 4;
        pkt.get(ihl..).unwrap_or(&[])
    } else {
        pkt
    };
    if icmp.len() < 8 || icmp[0] != if v4 { ECHO_REPLY_V4 } else { ECHO_REPLY_V6 } {
        return false;
    }
    // Ping sockets rewrite the id to their own: only the sequence is ours to check there.
    let id_ok = !raw || icmp[4..6] == id.to_be_bytes();
    id_ok && icmp[6..8] == seq.to_be_bytes()
}

async fn ping(spec: &Spec, timeout: Duration) -> Result<(), FailReason> {
    let target = spec.target;
    let v4 = target.is_ipv4();
    let (sock, raw) =
        open(target, spec).map_err(|e| FailReason::Ping(format!("socket setup: {e}")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let (id, seq) = (
        (nanos >> 16) as u16 ^ std::process::id() as u16,
        nanos as u16,
    );
    sock.send(&echo_request(v4, id, seq))
        .await
        .map_err(|e| FailReason::Ping(format!("echo request to {} failed: {e}", target.ip())))?;
    let mut buf = vec![0u8; 2048];
    let wait = async {
        loop {
            match sock.recv(&mut buf).await {
                Ok(n) if is_reply(&buf[..n], v4, raw, id, seq) => return Ok(()),
                Ok(_) => continue,
                Err(e) => {
                    return Err(FailReason::Ping(format!(
                        "{} unreachable: {e}",
                        target.ip()
                    )));
                }
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(FailReason::Ping(format!(
            "no echo reply from {} within {}",
            target.ip(),
            crate::outcome::Secs(timeout)
        ))),
    }
}

/// Sends one echo request and waits for the reply.
pub async fn check(spec: &Spec) -> Outcome {
    ping(spec, spec.timing.connect_timeout).await.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(true, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let mut reply = p.clone();
        reply[0] = ECHO_REPLY_V4;
        assert!(is_reply(&reply, true, false, 0x9999, 7));
        assert!(!is_reply(&reply, true, true, 0x9999, 7));
        let mut with_ip = vec![0x45; 1];
        with_ip.extend([0u8; 19]);
        with_ip.extend(&reply);
        assert!(is_reply(&with_ip, true, true, 0x1234, 7));
        assert!(
            !is_reply(&p, true, false, 0x1234, 7),
            "our own request is no reply"
        );
    }
}
