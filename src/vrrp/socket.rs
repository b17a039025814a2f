//! Raw IP protocol 112 sockets for one instance: one receive socket (bound to the interface,
//! joined to 224.0.0.18 or ff02::12) and one send socket (bound to the source address, TTL /
//! hop limit 255, TOS / traffic class 0xc0, DF clear), as keepalived uses them.
//!
//! Receiving yields the facts validation needs (source, destination, TTL / hop limit) and the
//! VRRP payload; nothing is parsed here beyond the IPv4 header.
//!
//! With `auth_type AH` both sockets carry IP protocol 51 instead: the send socket writes the
//! whole datagram (`IP_HDRINCL`, the ICV covers the IP header) and the receive socket checks
//! the ICV and the sequence number of adverts for our VRID ([`super::ah`]). Sockets are non-blocking and
//! registered with tokio through [`AsyncFd::register`] (the `new` constructor is deprecated).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::ah::{self, AhKey, IPPROTO_AH, Replay};
use super::packet::{DecodeError, IPPROTO_VRRP, MCAST_V4, MCAST_V6, parse_ipv4};

/// What arrived, before VRRP decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6); None when the kernel did not report it.
    pub ttl: Option<u8>,
    /// Offset and length of the VRRP message within the receive buffer.
    pub payload: std::ops::Range<usize>,
    /// What the IP Authentication Header said about it.
    pub ah: AhCheck,
}

/// The AH verdict on a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AhCheck {
    /// No AH header (protocol 112), or not looked at (another VRID's advert).
    #[default]
    Absent,
    Valid,
    /// The ICV does not match our key (wrong `auth_pass`, or a forged / altered packet).
    BadIcv,
    /// A sequence number already seen from this sender.
    Replayed,
}

/// keepalived.conf(5) socket settings beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct SocketTuning {
    /// `unicast_ttl`: TTL / hop limit of unicast adverts (None: 255).
    pub unicast_ttl: Option<u8>,
    /// `kernel_rx_buf_size`: SO_RCVBUF of the receive socket (the kernel doubles it).
    pub rcvbuf: Option<u32>,
}

/// `auth_type AH` settings for an instance's sockets.
#[derive(Debug, Clone)]
pub struct AhOptions {
    pub key: AhKey,
    /// Only adverts for this VRID are checked (others are ignored by validation).
    pub vrid: u8,
    /// A sender silent this long may restart its sequence numbers.
    pub stale_after: Duration,
}

struct AhState {
    opts: AhOptions,
    seq: AtomicU32,
    ip_id: AtomicU16,
    replay: Mutex<Replay>,
}

/// Options for opening an instance's sockets.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// The device both sockets are bound to (SO_BINDTODEVICE): the instance's interface, or
    /// its `vrf` (adverts then use the VRF's routing table); None for a unicast instance
    /// without either (the main table routes its adverts).
    pub device: Option<String>,
    /// The interface's index (multicast, IPv6 link-local scope); 0 without one.
    pub ifindex: u32,
    /// Source address of adverts (mcast_src_ip / unicast_src_ip / primary address / link-local).
    pub src: IpAddr,
    /// Join the multicast group (false with unicast peers).
    pub multicast: bool,
    /// The group to join (`mcast_dst_ip`; default 224.0.0.18 / ff02::12).
    pub group: IpAddr,
    /// SO_PRIORITY for sent adverts.
    pub priority: Option<u32>,
    /// IP Authentication Header (VRRPv2 over IPv4 only).
    pub ah: Option<AhOptions>,
    pub tuning: SocketTuning,
}

pub struct VrrpSocket {
    rx: AsyncFd<Socket>,
    tx: Socket,
    ifindex: u32,
    v6: bool,
    ah: Option<AhState>,
    /// TTL of unicast adverts.
    ttl: u8,
}

fn register(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the fd belongs to `sock`, which the AsyncFd owns until it is dropped.
    unsafe { AsyncFd::register(sock) }.map_err(|e| io::Error::other(e.to_string()))
}

impl VrrpSocket {
    pub fn open(o: &SocketOptions) -> io::Result<VrrpSocket> {
        let v6 = o.src.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let ah = o.ah.clone().filter(|_| !v6);
        let proto_no = if ah.is_some() {
            IPPROTO_AH
        } else {
            IPPROTO_VRRP
        };
        let proto = Some(Protocol::from(i32::from(proto_no)));

        let rx = Socket::new(domain, Type::RAW, proto)?;
        rx.set_nonblocking(true)?;
        if let Some(n) = o.tuning.rcvbuf {
            rx.set_recv_buffer_size(n as usize)?;
        }
        rx.bind_device(o.device.as_deref().map(str::as_bytes))?;
        if v6 {
            rx.set_multicast_all_v6(false).ok();
            rx.set_recv_hoplimit_v6(true)?;
            setsockopt(&rx, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
            if o.multicast {
                let g = match o.group {
                    IpAddr::V6(g) => g,
                    IpAddr::V4(_) => MCAST_V6,
                };
                rx.join_multicast_v6(&g, o.ifindex)?;
            }
        } else {
            rx.set_multicast_all_v4(false).ok();
            if o.multicast {
                let g = match o.group {
                    IpAddr::V4(g) => g,
                    IpAddr::V6(_) => MCAST_V4,
                };
                rx.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(o.ifindex))?;
            }
        }

        let ttl = o.tuning.unicast_ttl.unwrap_or(255);
        let tx = Socket::new(domain, Type::RAW, proto)?;
        tx.set_nonblocking(true)?;
        tx.bind_device(o.device.as_deref().map(str::as_bytes))?;
        if let Some(p) = o.priority {
            tx.set_priority(p)?;
        }
        match o.src {
            IpAddr::V4(src) => {
                tx.bind(&SockAddr::from(SocketAddr::new(src.into(), 0)))?;
                // No IP_MULTICAST_IF: SO_BINDTODEVICE already picks the interface, and naming
                // an address that lives on another device (the VMAC case) is EINVAL.
                tx.set_multicast_ttl_v4(255)?;
                tx.set_multicast_loop_v4(false)?;
                tx.set_ttl_v4(ttl.into())?;
                tx.set_tos_v4(0xc0)?;
                if ah.is_some() {
                    // The ICV covers the IP header, so we write it (ah::build).
                    tx.set_header_included_v4(true)?;
                }
                // keepalived's adverts have DF clear.
                set_int(
                    &tx,
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DONT,
                )?;
            }
            IpAddr::V6(src) => {
                let scope = if is_link_local(&src) { o.ifindex } else { 0 };
                tx.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, scope)))?;
                tx.set_multicast_if_v6(o.ifindex)?;
                tx.set_multicast_hops_v6(255)?;
                tx.set_multicast_loop_v6(false)?;
                tx.set_unicast_hops_v6(ttl.into())?;
                tx.set_tclass_v6(0xc0)?;
            }
        }
        Ok(VrrpSocket {
            rx: register(rx)?,
            tx,
            ifindex: o.ifindex,
            v6,
            ttl,
            ah: ah.map(|opts| AhState {
                replay: Mutex::new(Replay::new(opts.stale_after)),
                opts,
                seq: AtomicU32::new(0),
                ip_id: AtomicU16::new(0),
            }),
        })
    }

    /// Sends one VRRP message to `dst` (the group or a unicast peer).
    pub fn send(&self, msg: &[u8], dst: IpAddr) -> io::Result<()> {
        if let (Some(a), IpAddr::V4(d)) = (&self.ah, dst) {
            return self.send_ah(a, msg, d);
        }
        let to = match dst {
            IpAddr::V4(a) => SockAddr::from(SocketAddr::new(a.into(), 0)),
            IpAddr::V6(a) => {
                let scope = if is_link_local(&a) || a.is_multicast() {
                    self.ifindex
                } else {
                    0
                };
                SockAddr::from(SocketAddrV6::new(a, 0, 0, scope))
            }
        };
        self.tx.send_to(msg, &to).map(|_| ())
    }

    fn send_ah(&self, a: &AhState, msg: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let src = match self.tx.local_addr()?.as_socket() {
            Some(SocketAddr::V4(s)) => *s.ip(),
            _ => return Err(io::Error::other("AH send socket has no IPv4 source")),
        };
        // The sequence number continues from the highest sent or accepted (see recv_ah).
        // IP ids count from 1; id 0 would be replaced by the kernel, breaking the ICV.
        let seq = a.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let mut id = a.ip_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if id == 0 {
            id = a.ip_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        }
        let ttl = if dst.is_multicast() { 255 } else { self.ttl };
        let pkt = ah::build(&a.opts.key, src, dst, ttl, id, seq, msg);
        let to = SockAddr::from(SocketAddr::new(dst.into(), 0));
        self.tx.send_to(&pkt, &to).map(|_| ())
    }

    /// Waits for the next datagram. Malformed IPv4 headers come back as `Ok(Err(..))` so the
    /// caller can count them; `Err` is a socket failure.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Result<Received, DecodeError>> {
        loop {
            let mut guard = self.rx.readable().await?;
            let res = guard.try_io(|fd| {
                if self.v6 {
                    recv_v6(fd.get_ref(), buf)
                } else if let Some(a) = &self.ah {
                    recv_ah(fd.get_ref(), buf, a)
                } else {
                    recv_v4(fd.get_ref(), buf)
                }
            });
            match res {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

fn set_int(sock: &Socket, level: i32, opt: i32, val: i32) -> io::Result<()> {
    // SAFETY: valid fd; the option value is a c_int of the stated size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn recv_raw(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv writes at most buf.len() initialised bytes into buf.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn recv_ah(
    sock: &Socket,
    buf: &mut [u8],
    a: &AhState,
) -> io::Result<Result<Received, DecodeError>> {
    let n = recv_raw(sock, buf)?;
    let pkt = &buf[..n];
    let p = match ah::parse(pkt) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let ours = pkt.get(p.payload.start + 1) == Some(&a.opts.vrid);
    let check = if !ours {
        AhCheck::Absent
    } else if !ah::verify(&a.opts.key, pkt, &p) {
        AhCheck::BadIcv
    } else {
        let mut r = a.replay.lock().unwrap_or_else(|e| e.into_inner());
        if r.accept(p.src, p.seq, Instant::now()) {
            // keepalived refuses a sequence number not above the last one it sent or
            // accepted; continuing from the highest seen keeps our adverts above it.
            a.seq.fetch_max(p.seq, Ordering::Relaxed);
            AhCheck::Valid
        } else {
            AhCheck::Replayed
        }
    };
    Ok(Ok(Received {
        src: IpAddr::V4(p.src),
        dst: IpAddr::V4(p.dst),
        ttl: Some(p.ttl),
        payload: p.payload,
        ah: check,
    }))
}

fn recv_v4(sock: &Socket, buf: &mut [u8]) -> io::Result<Result<Received, DecodeError>> {
    let n = recv_raw(sock, buf)?;
    let pkt = &buf[..n];
    Ok(parse_ipv4(pkt).map(|(meta, payload)| {
        let off = payload.as_ptr() as usize - pkt.as_ptr() as usize;
        Received {
            src: IpAddr::V4(meta.src),
            dst: IpAddr::V4(meta.dst),
            ttl: Some(meta.ttl),
            payload: off..off + payload.len(),
            ah: AhCheck::Absent,
        }
    }))
}

fn recv_v6(sock: &Socket, buf: &mut [u8]) -> io::Result<Result<Received, DecodeError>> {
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let n = msg.bytes;
    let src = msg.address.map(|a| IpAddr::V6(a.ip()));
    let mut ttl = None;
    let mut dst = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                ControlMessageOwned::Ipv6PacketInfo(pi) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)))
                }
                _ => {}
            }
        }
    }
    Ok(match src {
        Some(src) => Ok(Received {
            src,
            dst: dst.unwrap_or(IpAddr::V6(MCAST_V6)),
            ttl,
            payload: 0..n,
            ah: AhCheck::Absent,
        }),
        None => Err(DecodeError::IpHeader),
    })
}

/// The unspecified address of a family, for defaults.
pub fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}
