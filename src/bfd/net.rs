//! The UDP edge: one listening socket per (family, port) in use and one sending socket per
//! session, as RFC 5881 §4 and RFC 5883 §5 ask.
//!
//! - listeners bind the wildcard on 3784 (single hop) / 4784 (multihop) and report each
//!   datagram's source, local destination address and TTL / hop limit (IP_RECVTTL,
//!   IPV6_RECVHOPLIMIT, *_PKTINFO), so the service can apply the TTL rule per session;
//! - senders bind `source_ip` (or the wildcard) to a port in 49152–65535, picked at random and
//!   probed upwards, and send with TTL / hop limit 255 unless `ttl` / `hoplimit` say otherwise.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet::SOURCE_PORTS;

/// One received datagram's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddr,
    /// The local address it was sent to (None if the kernel did not say).
    pub dst: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub len: usize,
}

pub struct Listener {
    sock: AsyncFd<Socket>,
}

fn register(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the fd belongs to `sock`, which the AsyncFd owns until it is dropped.
    unsafe { AsyncFd::register(sock) }.map_err(|e| io::Error::other(e.to_string()))
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    }
}

impl Listener {
    pub fn bind(v6: bool, port: u16) -> io::Result<Listener> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        s.set_reuse_address(true)?;
        if v6 {
            s.set_only_v6(true)?;
            s.set_recv_hoplimit_v6(true)?;
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
        } else {
            setsockopt(&s, sockopt::Ipv4RecvTtl, &true).map_err(io::Error::from)?;
            setsockopt(&s, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        }
        s.bind(&SockAddr::from(SocketAddr::new(unspecified(v6), port)))?;
        Ok(Listener { sock: register(s)? })
    }

    /// Waits for the next datagram into `buf` (longer ones are truncated: a BFD packet with
    /// no authentication is 24 bytes, the buffer is bigger than any valid one).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        loop {
            let mut guard = self.sock.readable().await?;
            match guard.try_io(|fd| recv_one(fd.get_ref(), buf)) {
                Ok(Ok(Some(d))) => return Ok(d),
                // No source address: nothing to answer; wait for the next one.
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_one(sock: &Socket, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo, libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let len = msg.bytes;
    let src = msg.address.and_then(|a| {
        if let Some(v4) = a.as_sockaddr_in() {
            Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()))
        } else {
            a.as_sockaddr_in6()
                .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
        }
    });
    let (mut ttl, mut dst) = (None, None);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) => ttl = u8::try_from(t).ok(),
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                ControlMessageOwned::Ipv4PacketInfo(pi) => {
                    dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))))
                }
                ControlMessageOwned::Ipv6PacketInfo(pi) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)))
                }
                _ => {}
            }
        }
    }
    Ok(src.map(|src| Datagram { src, dst, ttl, len }))
}

/// A session's sending socket.
pub struct Sender {
    sock: Socket,
    pub local: SocketAddr,
}

impl Sender {
    /// Binds `source` (or the wildcard of `v6`'s family) to a free port of 49152–65535,
    /// starting at `start` (random per session) and probing upwards, wrapping once.
    pub fn open(source: Option<IpAddr>, v6: bool, ttl: u8, start: u16) -> io::Result<Sender> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_nonblocking(true)?;
        if v6 {
            sock.set_only_v6(true)?;
            sock.set_unicast_hops_v6(u32::from(ttl))?;
            sock.set_tclass_v6(0xc0)?;
        } else {
            sock.set_ttl_v4(u32::from(ttl))?;
            // Network control precedence, as routers send BFD.
            sock.set_tos_v4(0xc0)?;
        }
        let addr = source.unwrap_or_else(|| unspecified(v6));
        let (lo, hi) = (*SOURCE_PORTS.start(), *SOURCE_PORTS.end());
        let span = u32::from(hi - lo) + 1;
        let first = u32::from(start) % span;
        let mut last = None;
        for i in 0..span {
            let port = lo + ((first + i) % span) as u16;
            match sock.bind(&SockAddr::from(SocketAddr::new(addr, port))) {
                Ok(()) => {
                    return Ok(Sender {
                        sock,
                        local: SocketAddr::new(addr, port),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free BFD source port")))
    }

    /// Sends one packet; a full socket buffer drops it (the next one follows soon).
    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        match self.sock.send_to(bytes, &SockAddr::from(to)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}
