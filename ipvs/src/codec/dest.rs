//! `IPVS_DEST_ATTR_*`: the destination nest, and [`Dest`] ↔ attributes.
//!
//! Wire notes: ADDR is a 16-byte `nf_inet_addr`, PORT and TUN_PORT are big-endian, the rest host
//! order. FWD_METHOD carries `IP_VS_CONN_F_*` (only the low 3 bits are the method). A full
//! destination (NEW/SET) must carry FWD_METHOD, WEIGHT, U_THRESH and L_THRESH; ADDR_FAMILY is
//! needed when the destination's family differs from the service's (tunnels).

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable, emit_u16,
    emit_u16_be, emit_u32, parse_u8, parse_u16, parse_u16_be, parse_u32,
};

use super::addr::{addr_bytes, af_from_kernel, af_to_kernel, parse_addr};
use super::stats::parse_stats;
use crate::model::{Af, Dest, DestConns, DestKey, Forward, Stats, TunnelType};

const IPVS_DEST_ATTR_ADDR: u16 = 1;
const IPVS_DEST_ATTR_PORT: u16 = 2;
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
const IPVS_DEST_ATTR_STATS: u16 = 10;
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
const IPVS_DEST_ATTR_STATS64: u16 = 12;
const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

/// One attribute of the destination nest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    /// 16-byte `nf_inet_addr`.
    Addr([u8; 16]),
    /// Port (big-endian on the wire).
    Port(u16),
    /// `IP_VS_CONN_F_*`.
    FwdMethod(u32),
    /// Weight.
    Weight(u32),
    /// Upper threshold.
    UThresh(u32),
    /// Lower threshold.
    LThresh(u32),
    /// Active connections (dump only).
    ActiveConns(u32),
    /// Inactive connections (dump only).
    InactConns(u32),
    /// Persistent templates (dump only).
    PersistConns(u32),
    /// Legacy counters (dump only).
    Stats(Stats),
    /// `AF_INET` / `AF_INET6` of the address.
    AddrFamily(u16),
    /// 64-bit counters (dump only).
    Stats64(Stats),
    /// Tunnel type.
    TunType(u8),
    /// Tunnel port (big-endian on the wire).
    TunPort(u16),
    /// Tunnel flags.
    TunFlags(u16),
    /// Anything else.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_)
            | DestAttr::AddrFamily(_)
            | DestAttr::TunPort(_)
            | DestAttr::TunFlags(_) => 2,
            DestAttr::TunType(_) => 1,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UThresh(_)
            | DestAttr::LThresh(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            // Counters are only ever received.
            DestAttr::Stats(_) | DestAttr::Stats64(_) => 0,
            DestAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => IPVS_DEST_ATTR_ADDR,
            DestAttr::Port(_) => IPVS_DEST_ATTR_PORT,
            DestAttr::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            DestAttr::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            DestAttr::UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            DestAttr::LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            DestAttr::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            DestAttr::InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            DestAttr::PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            DestAttr::Stats(_) => IPVS_DEST_ATTR_STATS | netlink_packet_core::NLA_F_NESTED,
            DestAttr::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            DestAttr::Stats64(_) => IPVS_DEST_ATTR_STATS64 | netlink_packet_core::NLA_F_NESTED,
            DestAttr::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            DestAttr::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            DestAttr::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            DestAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        // emit_* only fail on a short buffer; Emitable sized it from value_len().
        match self {
            DestAttr::Addr(a) => buf.copy_from_slice(a),
            DestAttr::Port(v) | DestAttr::TunPort(v) => {
                let _ = emit_u16_be(buf, *v);
            }
            DestAttr::AddrFamily(v) | DestAttr::TunFlags(v) => {
                let _ = emit_u16(buf, *v);
            }
            DestAttr::TunType(v) => buf[0] = *v,
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UThresh(v)
            | DestAttr::LThresh(v)
            | DestAttr::ActiveConns(v)
            | DestAttr::InactConns(v)
            | DestAttr::PersistConns(v) => {
                let _ = emit_u32(buf, *v);
            }
            DestAttr::Stats(_) | DestAttr::Stats64(_) => {}
            DestAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        // Lazy context: this runs for every attribute of every destination in a dump.
        let u32_of = |what: &str| {
            parse_u32(v).map_err(|e| DecodeError::from(format!("invalid {what}: {e}")))
        };
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => {
                let mut a = [0u8; 16];
                if v.len() != 4 && v.len() != 16 {
                    return Err(format!("IPVS_DEST_ATTR_ADDR of {} bytes", v.len()).into());
                }
                a[..v.len()].copy_from_slice(v);
                DestAttr::Addr(a)
            }
            IPVS_DEST_ATTR_PORT => {
                DestAttr::Port(parse_u16_be(v).context("invalid IPVS_DEST_ATTR_PORT")?)
            }
            IPVS_DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(u32_of("IPVS_DEST_ATTR_FWD_METHOD")?),
            IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(u32_of("IPVS_DEST_ATTR_WEIGHT")?),
            IPVS_DEST_ATTR_U_THRESH => DestAttr::UThresh(u32_of("IPVS_DEST_ATTR_U_THRESH")?),
            IPVS_DEST_ATTR_L_THRESH => DestAttr::LThresh(u32_of("IPVS_DEST_ATTR_L_THRESH")?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => {
                DestAttr::ActiveConns(u32_of("IPVS_DEST_ATTR_ACTIVE_CONNS")?)
            }
            IPVS_DEST_ATTR_INACT_CONNS => {
                DestAttr::InactConns(u32_of("IPVS_DEST_ATTR_INACT_CONNS")?)
            }
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                DestAttr::PersistConns(u32_of("IPVS_DEST_ATTR_PERSIST_CONNS")?)
            }
            IPVS_DEST_ATTR_STATS => {
                DestAttr::Stats(parse_stats(v).context("invalid IPVS_DEST_ATTR_STATS")?)
            }
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                DestAttr::AddrFamily(parse_u16(v).context("invalid IPVS_DEST_ATTR_ADDR_FAMILY")?)
            }
            IPVS_DEST_ATTR_STATS64 => {
                DestAttr::Stats64(parse_stats(v).context("invalid IPVS_DEST_ATTR_STATS64")?)
            }
            IPVS_DEST_ATTR_TUN_TYPE => {
                DestAttr::TunType(parse_u8(v).context("invalid IPVS_DEST_ATTR_TUN_TYPE")?)
            }
            IPVS_DEST_ATTR_TUN_PORT => {
                DestAttr::TunPort(parse_u16_be(v).context("invalid IPVS_DEST_ATTR_TUN_PORT")?)
            }
            IPVS_DEST_ATTR_TUN_FLAGS => {
                DestAttr::TunFlags(parse_u16(v).context("invalid IPVS_DEST_ATTR_TUN_FLAGS")?)
            }
            _ => DestAttr::Other(DefaultNla::parse(buf).context("invalid IPVS_DEST_ATTR")?),
        })
    }
}

/// Parses the payload of an `IPVS_CMD_ATTR_DEST` nest into attributes.
pub(crate) fn parse_dest_attrs(payload: &[u8]) -> Result<Vec<DestAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DestAttr::parse(&nla)))
        .collect()
}

/// The key attributes of a destination (DEL_DEST).
pub fn dest_key_attrs(key: &DestKey) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(af_to_kernel(Af::of(&key.addr))),
        DestAttr::Addr(addr_bytes(&key.addr)),
        DestAttr::Port(key.port),
    ]
}

/// The attributes of a full destination (NEW_DEST / SET_DEST), in libipvs's order (so the
/// bytes equal ipvsadm's for the same destination).
pub fn dest_attrs(d: &Dest) -> Vec<DestAttr> {
    let mut out = dest_key_attrs(&d.key());
    out.extend([
        DestAttr::FwdMethod(d.forward.to_kernel()),
        DestAttr::Weight(d.weight),
    ]);
    // Tunnel settings only for tunnels: kernels before 5.3 do not know these attributes, and
    // the kernel resets them to zero when absent.
    if d.forward == Forward::Tunnel {
        out.extend([
            DestAttr::TunType(d.tun_type.to_kernel()),
            DestAttr::TunPort(d.tun_port),
            DestAttr::TunFlags(d.tun_flags),
        ]);
    }
    out.extend([
        DestAttr::UThresh(d.u_threshold),
        DestAttr::LThresh(d.l_threshold),
    ]);
    out
}

/// Accumulates destination attributes into a [`Dest`] (shared by the slice and nest readers).
struct DestBuilder {
    af: Af,
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    d: Dest,
    conns: DestConns,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl DestBuilder {
    fn new(svc_af: Af) -> Self {
        DestBuilder {
            af: svc_af,
            addr: None,
            port: None,
            d: Dest::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0, Forward::Masq),
            conns: DestConns::default(),
            stats: None,
            stats64: None,
        }
    }

    fn add(&mut self, a: &DestAttr) -> Result<(), DecodeError> {
        let d = &mut self.d;
        match a {
            DestAttr::Addr(v) => self.addr = Some(*v),
            DestAttr::Port(v) => self.port = Some(*v),
            DestAttr::AddrFamily(v) => self.af = af_from_kernel(*v)?,
            DestAttr::FwdMethod(v) => d.forward = Forward::from_kernel(*v),
            DestAttr::Weight(v) => d.weight = *v,
            DestAttr::UThresh(v) => d.u_threshold = *v,
            DestAttr::LThresh(v) => d.l_threshold = *v,
            DestAttr::ActiveConns(v) => self.conns.active = *v,
            DestAttr::InactConns(v) => self.conns.inactive = *v,
            DestAttr::PersistConns(v) => self.conns.persistent = *v,
            DestAttr::Stats(v) => self.stats = Some(*v),
            DestAttr::Stats64(v) => self.stats64 = Some(*v),
            DestAttr::TunType(v) => d.tun_type = TunnelType::from_kernel(*v),
            DestAttr::TunPort(v) => d.tun_port = *v,
            DestAttr::TunFlags(v) => d.tun_flags = *v,
            DestAttr::Other(_) => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Dest, DecodeError> {
        let mut d = self.d;
        d.addr = parse_addr(
            self.af,
            &self.addr.ok_or("destination without IPVS_DEST_ATTR_ADDR")?,
        )?;
        d.port = self.port.ok_or("destination without IPVS_DEST_ATTR_PORT")?;
        d.conns = Some(self.conns);
        d.stats = self.stats64.or(self.stats);
        Ok(d)
    }
}

/// Builds a [`Dest`] from the attributes of a dump; `svc_af` is the service's family (used when
/// the kernel sends no ADDR_FAMILY).
pub fn dest_from_attrs(attrs: &[DestAttr], svc_af: Af) -> Result<Dest, DecodeError> {
    let mut b = DestBuilder::new(svc_af);
    for a in attrs {
        b.add(a)?;
    }
    b.finish()
}

/// Builds a [`Dest`] straight from the bytes of an `IPVS_CMD_ATTR_DEST` nest, without the
/// intermediate attribute list, and reading the legacy 32-bit STATS only when STATS64 is
/// absent: the dump hot path (10,000 destinations per pass on big directors).
pub(crate) fn dest_from_nest(payload: &[u8], svc_af: Af) -> Result<Dest, DecodeError> {
    let mut b = DestBuilder::new(svc_af);
    let mut legacy = None;
    for nla in NlasIterator::new(payload) {
        let nla = nla.context("invalid IPVS_CMD_ATTR_DEST")?;
        if nla.kind() == IPVS_DEST_ATTR_STATS {
            // Keep the value's bytes (the buffer borrows the payload, not the iterator).
            let len = usize::from(nla.length());
            legacy = nla.into_inner().get(4..len);
            continue;
        }
        b.add(&DestAttr::parse(&nla)?)?;
    }
    if b.stats64.is_none()
        && let Some(v) = legacy
    {
        b.stats = Some(parse_stats(v).context("invalid IPVS_DEST_ATTR_STATS")?);
    }
    b.finish()
}
