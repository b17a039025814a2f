//! `IPVS_SVC_ATTR_*`: the service nest, and [`Service`] ↔ attributes.
//!
//! Wire notes (linux/ip_vs.h, net/netfilter/ipvs/ip_vs_ctl.c):
//! - ADDR is a 16-byte `nf_inet_addr`; PORT is big-endian; FWMARK, TIMEOUT are host order.
//! - FLAGS is `struct ip_vs_flags { u32 flags; u32 mask; }`: the kernel replaces the bits in
//!   `mask`; we always send mask = all ones, as ipvsadm does.
//! - NETMASK: for IPv4 the mask in network order (`255.255.255.0` = `ff ff ff 00`); for IPv6 the
//!   prefix length as a host-order u32 (the kernel compares it with 1..=128).
//! - A full service (NEW/SET) must carry SCHED_NAME, FLAGS, TIMEOUT and NETMASK; DEL and the
//!   service nest of a destination request carry the key only.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    emit_u16, emit_u16_be, emit_u32, parse_string, parse_u16, parse_u16_be, parse_u32,
};

use super::addr::{addr_bytes, af_from_kernel, af_to_kernel, parse_addr};
use super::stats::parse_stats;
use crate::model::{Af, Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Stats};

const IPVS_SVC_ATTR_AF: u16 = 1;
const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
const IPVS_SVC_ATTR_ADDR: u16 = 3;
const IPVS_SVC_ATTR_PORT: u16 = 4;
const IPVS_SVC_ATTR_FWMARK: u16 = 5;
const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
const IPVS_SVC_ATTR_FLAGS: u16 = 7;
const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
const IPVS_SVC_ATTR_NETMASK: u16 = 9;
const IPVS_SVC_ATTR_STATS: u16 = 10;
const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
const IPVS_SVC_ATTR_STATS64: u16 = 12;

/// One attribute of the service nest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvcAttr {
    /// `AF_INET` / `AF_INET6`.
    Af(u16),
    /// IP protocol number.
    Protocol(u16),
    /// 16-byte `nf_inet_addr`.
    Addr([u8; 16]),
    /// Port (big-endian on the wire).
    Port(u16),
    /// Firewall mark.
    Fwmark(u32),
    /// Scheduler name.
    SchedName(String),
    /// `{flags, mask}`.
    Flags {
        /// The flag bits.
        flags: u32,
        /// Which bits to replace.
        mask: u32,
    },
    /// Persistence timeout, seconds.
    Timeout(u32),
    /// Raw netmask word, as on the wire (see the module doc).
    Netmask([u8; 4]),
    /// Legacy 32-bit counters.
    Stats(Stats),
    /// Persistence engine name.
    PeName(String),
    /// 64-bit counters.
    Stats64(Stats),
    /// Anything else.
    Other(DefaultNla),
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        match self {
            SvcAttr::Af(_) | SvcAttr::Protocol(_) | SvcAttr::Port(_) => 2,
            SvcAttr::Fwmark(_) | SvcAttr::Timeout(_) | SvcAttr::Netmask(_) => 4,
            SvcAttr::Addr(_) => 16,
            SvcAttr::Flags { .. } => 8,
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => s.len() + 1,
            // Counters are only ever received; emitting them is not a kernel request.
            SvcAttr::Stats(_) | SvcAttr::Stats64(_) => 0,
            SvcAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            SvcAttr::Af(_) => IPVS_SVC_ATTR_AF,
            SvcAttr::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            SvcAttr::Addr(_) => IPVS_SVC_ATTR_ADDR,
            SvcAttr::Port(_) => IPVS_SVC_ATTR_PORT,
            SvcAttr::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SvcAttr::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            SvcAttr::Flags { .. } => IPVS_SVC_ATTR_FLAGS,
            SvcAttr::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            SvcAttr::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            SvcAttr::Stats(_) => IPVS_SVC_ATTR_STATS | netlink_packet_core::NLA_F_NESTED,
            SvcAttr::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            SvcAttr::Stats64(_) => IPVS_SVC_ATTR_STATS64 | netlink_packet_core::NLA_F_NESTED,
            SvcAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        // emit_* only fail on a short buffer; Emitable sized it from value_len().
        match self {
            SvcAttr::Af(v) | SvcAttr::Protocol(v) => {
                let _ = emit_u16(buf, *v);
            }
            SvcAttr::Port(v) => {
                let _ = emit_u16_be(buf, *v);
            }
            SvcAttr::Fwmark(v) | SvcAttr::Timeout(v) => {
                let _ = emit_u32(buf, *v);
            }
            SvcAttr::Addr(a) => buf.copy_from_slice(a),
            SvcAttr::Netmask(m) => buf.copy_from_slice(m),
            SvcAttr::Flags { flags, mask } => {
                let _ = emit_u32(&mut buf[..4], *flags);
                let _ = emit_u32(&mut buf[4..], *mask);
            }
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            SvcAttr::Stats(_) | SvcAttr::Stats64(_) => {}
            SvcAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for SvcAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => SvcAttr::Af(parse_u16(v).context("invalid IPVS_SVC_ATTR_AF")?),
            IPVS_SVC_ATTR_PROTOCOL => {
                SvcAttr::Protocol(parse_u16(v).context("invalid IPVS_SVC_ATTR_PROTOCOL")?)
            }
            IPVS_SVC_ATTR_ADDR => {
                let mut a = [0u8; 16];
                if v.len() != 4 && v.len() != 16 {
                    return Err(format!("IPVS_SVC_ATTR_ADDR of {} bytes", v.len()).into());
                }
                a[..v.len()].copy_from_slice(v);
                SvcAttr::Addr(a)
            }
            IPVS_SVC_ATTR_PORT => {
                SvcAttr::Port(parse_u16_be(v).context("invalid IPVS_SVC_ATTR_PORT")?)
            }
            IPVS_SVC_ATTR_FWMARK => {
                SvcAttr::Fwmark(parse_u32(v).context("invalid IPVS_SVC_ATTR_FWMARK")?)
            }
            IPVS_SVC_ATTR_SCHED_NAME => {
                SvcAttr::SchedName(parse_string(v).context("invalid IPVS_SVC_ATTR_SCHED_NAME")?)
            }
            IPVS_SVC_ATTR_FLAGS => {
                if v.len() < 8 {
                    return Err("IPVS_SVC_ATTR_FLAGS shorter than 8 bytes".into());
                }
                SvcAttr::Flags {
                    flags: parse_u32(&v[..4]).context("invalid IPVS_SVC_ATTR_FLAGS")?,
                    mask: parse_u32(&v[4..8]).context("invalid IPVS_SVC_ATTR_FLAGS")?,
                }
            }
            IPVS_SVC_ATTR_TIMEOUT => {
                SvcAttr::Timeout(parse_u32(v).context("invalid IPVS_SVC_ATTR_TIMEOUT")?)
            }
            IPVS_SVC_ATTR_NETMASK => {
                let m: [u8; 4] = v
                    .try_into()
                    .map_err(|_| DecodeError::invalid_number(4, v.len()))?;
                SvcAttr::Netmask(m)
            }
            IPVS_SVC_ATTR_STATS => {
                SvcAttr::Stats(parse_stats(v).context("invalid IPVS_SVC_ATTR_STATS")?)
            }
            IPVS_SVC_ATTR_PE_NAME => {
                SvcAttr::PeName(parse_string(v).context("invalid IPVS_SVC_ATTR_PE_NAME")?)
            }
            IPVS_SVC_ATTR_STATS64 => {
                SvcAttr::Stats64(parse_stats(v).context("invalid IPVS_SVC_ATTR_STATS64")?)
            }
            _ => SvcAttr::Other(DefaultNla::parse(buf).context("invalid IPVS_SVC_ATTR")?),
        })
    }
}

/// Parses the payload of an `IPVS_CMD_ATTR_SERVICE` nest into attributes.
pub(crate) fn parse_svc_attrs(payload: &[u8]) -> Result<Vec<SvcAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| SvcAttr::parse(&nla)))
        .collect()
}

/// Total emitted length of a list of attributes (for nests).
pub(crate) fn attrs_len<T: Nla>(attrs: &[T]) -> usize {
    attrs.iter().map(Emitable::buffer_len).sum()
}

/// The netmask word for a prefix length (see the module doc).
fn netmask_word(af: Af, prefix: u8) -> [u8; 4] {
    match af {
        Af::Inet => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            mask.to_be_bytes()
        }
        Af::Inet6 => u32::from(prefix).to_ne_bytes(),
    }
}

fn prefix_of_word(af: Af, word: [u8; 4]) -> u8 {
    match af {
        // Leading ones of the mask; a non-contiguous mask (never set by ipvsadm) rounds down.
        Af::Inet => u32::from_be_bytes(word).leading_ones() as u8,
        Af::Inet6 => u32::from_ne_bytes(word).min(128) as u8,
    }
}

/// The key attributes of a service.
pub fn key_attrs(key: &ServiceKey) -> Vec<SvcAttr> {
    let mut out = vec![SvcAttr::Af(af_to_kernel(key.af()))];
    match key {
        ServiceKey::Inet {
            addr,
            protocol,
            port,
        } => {
            out.push(SvcAttr::Protocol(protocol.number()));
            out.push(SvcAttr::Addr(addr_bytes(addr)));
            out.push(SvcAttr::Port(*port));
        }
        ServiceKey::Fwmark { mark, .. } => out.push(SvcAttr::Fwmark(*mark)),
    }
    out
}

/// A name for a string attribute, cut to at most 64 bytes (at a character boundary). The
/// kernel accepts at most 15 and rejects longer ones with EINVAL; the cut only keeps a
/// malformed config from overflowing the 16-bit attribute length.
pub(crate) fn capped(name: &str) -> String {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// The attributes of a full service (NEW_SERVICE / SET_SERVICE).
pub fn service_attrs(s: &Service) -> Vec<SvcAttr> {
    let mut out = key_attrs(&s.key);
    out.push(SvcAttr::SchedName(capped(s.scheduler.name())));
    if let Some(pe) = &s.pe_name {
        out.push(SvcAttr::PeName(capped(pe)));
    }
    out.push(SvcAttr::Flags {
        flags: s.flags.configured().0,
        mask: u32::MAX,
    });
    out.push(SvcAttr::Timeout(s.timeout));
    out.push(SvcAttr::Netmask(netmask_word(s.key.af(), s.netmask)));
    out
}

/// Accumulates service attributes into a [`Service`] (shared by the slice and nest readers).
#[derive(Default)]
struct ServiceBuilder {
    af: Option<Af>,
    protocol: Option<u16>,
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    fwmark: Option<u32>,
    sched: Option<String>,
    flags: u32,
    timeout: u32,
    netmask: Option<[u8; 4]>,
    pe: Option<String>,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl ServiceBuilder {
    fn add(&mut self, a: &SvcAttr) -> Result<(), DecodeError> {
        match a {
            SvcAttr::Af(v) => self.af = Some(af_from_kernel(*v)?),
            SvcAttr::Protocol(v) => self.protocol = Some(*v),
            SvcAttr::Addr(v) => self.addr = Some(*v),
            SvcAttr::Port(v) => self.port = Some(*v),
            SvcAttr::Fwmark(v) => self.fwmark = Some(*v),
            SvcAttr::SchedName(v) => self.sched = Some(v.clone()),
            SvcAttr::Flags { flags, .. } => self.flags = *flags,
            SvcAttr::Timeout(v) => self.timeout = *v,
            SvcAttr::Netmask(v) => self.netmask = Some(*v),
            SvcAttr::Stats(v) => self.stats = Some(*v),
            SvcAttr::Stats64(v) => self.stats64 = Some(*v),
            SvcAttr::PeName(v) => self.pe = Some(v.clone()),
            SvcAttr::Other(_) => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Service, DecodeError> {
        let af = self.af.ok_or("service without IPVS_SVC_ATTR_AF")?;
        let key = match (self.fwmark, self.protocol, self.addr, self.port) {
            (Some(mark), _, _, _) if mark != 0 => ServiceKey::Fwmark { af, mark },
            (_, Some(p), Some(a), Some(port)) => ServiceKey::Inet {
                addr: parse_addr(af, &a)?,
                protocol: Protocol::from_number(p),
                port,
            },
            _ => return Err("service without a fwmark or protocol/address/port".into()),
        };
        let sched = self
            .sched
            .ok_or("service without IPVS_SVC_ATTR_SCHED_NAME")?;
        Ok(Service {
            key,
            scheduler: Scheduler::from_name(&sched),
            flags: ServiceFlags(self.flags),
            timeout: self.timeout,
            netmask: self
                .netmask
                .map_or(af.max_prefix(), |w| prefix_of_word(af, w)),
            pe_name: self.pe.filter(|p| !p.is_empty()),
            stats: self.stats64.or(self.stats),
        })
    }
}

/// Builds a [`Service`] from the attributes of a dump.
pub fn service_from_attrs(attrs: &[SvcAttr]) -> Result<Service, DecodeError> {
    let mut b = ServiceBuilder::default();
    for a in attrs {
        b.add(a)?;
    }
    b.finish()
}

/// Builds a [`Service`] straight from the bytes of an `IPVS_CMD_ATTR_SERVICE` nest (the dump
/// hot path; legacy STATS read only without STATS64).
pub(crate) fn service_from_nest(payload: &[u8]) -> Result<Service, DecodeError> {
    let mut b = ServiceBuilder::default();
    let mut legacy = None;
    for nla in NlasIterator::new(payload) {
        let nla = nla.context("invalid IPVS_CMD_ATTR_SERVICE")?;
        if nla.kind() == IPVS_SVC_ATTR_STATS {
            // Keep the value's bytes (the buffer borrows the payload, not the iterator).
            let len = usize::from(nla.length());
            legacy = nla.into_inner().get(4..len);
            continue;
        }
        b.add(&SvcAttr::parse(&nla)?)?;
    }
    if b.stats64.is_none()
        && let Some(v) = legacy
    {
        b.stats = Some(parse_stats(v).context("invalid IPVS_SVC_ATTR_STATS")?);
    }
    b.finish()
}
