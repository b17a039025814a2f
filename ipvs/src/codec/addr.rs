//! Addresses on the wire: `union nf_inet_addr` (16 bytes; IPv4 in the first 4) and `AF_*`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use crate::model::Af;

pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;

pub(crate) fn af_to_kernel(af: Af) -> u16 {
    match af {
        Af::Inet => AF_INET,
        Af::Inet6 => AF_INET6,
    }
}

pub(crate) fn af_from_kernel(n: u16) -> Result<Af, DecodeError> {
    match n {
        AF_INET => Ok(Af::Inet),
        AF_INET6 => Ok(Af::Inet6),
        n => Err(DecodeError::from(format!("unknown address family {n}"))),
    }
}

/// The 16-byte `nf_inet_addr` the kernel expects (ipvsadm sends all 16 bytes too).
pub(crate) fn addr_bytes(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

/// Reads an address of family `af` from 4 or 16 bytes.
pub(crate) fn parse_addr(af: Af, v: &[u8]) -> Result<IpAddr, DecodeError> {
    match af {
        Af::Inet if v.len() >= 4 => Ok(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        Af::Inet6 if v.len() >= 16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&v[..16]);
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => Err(DecodeError::from(format!(
            "address of {} bytes for {af:?}",
            v.len()
        ))),
    }
}
