//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5), IPv4 and IPv6.
//!
//! Pure: bytes in, [`Advert`] out, and back. The IP header is not part of the advert (the kernel
//! writes it on send); [`parse_ipv4`] splits a raw IPv4 receive into header facts and payload.
//!
//! ```text
//! VRRPv2                                   VRRPv3
//!  0       4       8              16              24            31
//! +-------+-------+---------------+---------------+---------------+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-------+-------+---------------+---------------+---------------+
//! v2: | Auth Type | Adver Int (s) |          Checksum             |
//! v3: |(rsvd4)| Max Adver Int (12 bits, centiseconds)| Checksum   |
//! +---------------------------------------------------------------+
//! |               IPvX Address(es) (count × 4 or 16)              |
//! +---------------------------------------------------------------+
//! v2 only: Authentication Data (8 bytes; "PASS" zero-padded)      |
//! ```
//!
//! Checksums: v2 covers the VRRP message only. v3 adds the IPv4/IPv6 pseudo-header
//! (RFC 5798 §5.2.8) as keepalived 2.2.7 does; `v3_checksum_as_v2` leaves it out for IPv4
//! (the RFC 9568 erratum some peers follow).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP.
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP.
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

const VRRP_TYPE_ADVERTISEMENT: u8 = 1;
const V2_AUTH_LEN: usize = 8;
const HDR_LEN: usize = 8;

/// Protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// v2 authentication (RFC 3768 §5.3.6; AH from RFC 2338 §5.3.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Simple text password, at most 8 bytes (zero-padded on the wire).
    Pass([u8; 8]),
    /// IP Authentication Header: type 2; the ICV lives in the AH header ([`super::ah`]).
    Ah,
}

impl Auth {
    /// A PASS authentication from the configured string, truncated to 8 bytes as keepalived does.
    pub fn pass(s: &str) -> Auth {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(s.as_bytes()) {
            *d = *s;
        }
        Auth::Pass(b)
    }

    fn type_byte(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Ah => 2,
        }
    }
}

/// One advertisement, version-independent. `interval_cs` is in centiseconds for both versions
/// (v2 carries whole seconds on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// Always `Auth::None` for v3.
    pub auth: Auth,
}

/// Why a received message was rejected; each kind maps to one keepalived counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("packet too short or length does not match the address count")]
    Length,
    #[error("unsupported VRRP version {0}")]
    Version(u8),
    #[error("unknown VRRP message type {0}")]
    Type(u8),
    #[error("bad checksum")]
    Checksum,
    #[error("unknown authentication type {0}")]
    AuthType(u8),
    #[error("malformed IP header")]
    IpHeader,
    #[error("not a VRRP packet (IP protocol {0})")]
    Protocol(u8),
}

/// How the v3 IPv4 checksum is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// RFC 5798: include the pseudo-header (keepalived's default).
    #[default]
    PseudoHeader,
    /// `v3_checksum_as_v2`: VRRP message only, for IPv4 v3 peers that follow RFC 9568.
    MessageOnly,
}

/// The RFC 1071 internet checksum of `parts` (concatenated), as it appears on the wire.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, IPPROTO_VRRP]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            p.extend_from_slice(&to_v6(src).octets());
            p.extend_from_slice(&to_v6(dst).octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
        }
    }
    p
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// The checksum a message of `version` from `src` to `dst` must carry, computed over `msg` with
/// its checksum field zeroed or not (a correct message sums to 0 when it is included).
fn checksum_for(version: Version, mode: ChecksumMode, src: IpAddr, dst: IpAddr, msg: &[u8]) -> u16 {
    let with_pseudo = match (version, src) {
        (Version::V2, _) => false,
        (Version::V3, IpAddr::V6(_)) => true,
        (Version::V3, IpAddr::V4(_)) => mode == ChecksumMode::PseudoHeader,
    };
    if with_pseudo {
        internet_checksum(&[&pseudo_header(src, dst, msg.len()), msg])
    } else {
        internet_checksum(&[msg])
    }
}

impl Advert {
    /// Length of the encoded message.
    pub fn len(&self) -> usize {
        let alen: usize = self
            .addrs
            .iter()
            .map(|a| if a.is_ipv4() { 4 } else { 16 })
            .sum();
        HDR_LEN
            + alen
            + if self.version == Version::V2 {
                V2_AUTH_LEN
            } else {
                0
            }
    }

    /// Never empty (the header alone is 8 bytes); present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes the message with its checksum for the given source and destination addresses.
    pub fn encode(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.len());
        b.push((self.version.number() << 4) | VRRP_TYPE_ADVERTISEMENT);
        b.push(self.vrid);
        b.push(self.priority);
        b.push(self.addrs.len().min(255) as u8);
        match self.version {
            Version::V2 => {
                b.push(self.auth.type_byte());
                // v2 carries whole seconds; 1..255.
                b.push((self.interval_cs / 100).clamp(1, 255) as u8);
            }
            Version::V3 => b.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes()),
        }
        b.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match a {
                IpAddr::V4(a) => b.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => b.extend_from_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 {
            match &self.auth {
                Auth::Pass(p) => b.extend_from_slice(p),
                _ => b.extend_from_slice(&[0; V2_AUTH_LEN]),
            }
        }
        let ck = checksum_for(self.version, mode, src, dst, &b);
        b[6..8].copy_from_slice(&ck.to_be_bytes());
        b
    }

    /// Decodes and checksum-verifies a VRRP message received from `src` for `dst`. The family of
    /// the addresses in the message follows `src`.
    pub fn decode(
        msg: &[u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<Advert, DecodeError> {
        if msg.len() < HDR_LEN {
            return Err(DecodeError::Length);
        }
        let version = match msg[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::Version(v)),
        };
        let typ = msg[0] & 0x0f;
        if typ != VRRP_TYPE_ADVERTISEMENT {
            return Err(DecodeError::Type(typ));
        }
        if version == Version::V2 && src.is_ipv6() {
            return Err(DecodeError::Version(2));
        }
        let count = usize::from(msg[3]);
        let alen = if src.is_ipv4() { 4 } else { 16 };
        let expect = HDR_LEN
            + count * alen
            + if version == Version::V2 {
                V2_AUTH_LEN
            } else {
                0
            };
        // keepalived accepts trailing bytes only for v2 auth padding; we require the exact size
        // (ignoring anything the IP layer padded beyond it is the caller's job).
        if msg.len() != expect {
            return Err(DecodeError::Length);
        }
        if checksum_for(version, mode, src, dst, msg) != 0 {
            return Err(DecodeError::Checksum);
        }
        let (interval_cs, auth) = match version {
            Version::V2 => {
                let auth = match msg[4] {
                    0 => Auth::None,
                    1 => {
                        let mut p = [0u8; 8];
                        p.copy_from_slice(&msg[expect - V2_AUTH_LEN..expect]);
                        Auth::Pass(p)
                    }
                    2 => Auth::Ah,
                    t => return Err(DecodeError::AuthType(t)),
                };
                (u16::from(msg[5]) * 100, auth)
            }
            Version::V3 => (u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff, Auth::None),
        };
        let addrs = msg[HDR_LEN..HDR_LEN + count * alen]
            .chunks_exact(alen)
            .map(|c| match c.len() {
                4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                _ => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
            .collect();
        Ok(Advert {
            version,
            vrid: msg[1],
            priority: msg[2],
            interval_cs,
            addrs,
            auth,
        })
    }
}

/// Facts from an IPv4 header that VRRP validation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Meta {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
}

/// Splits a raw IPv4 datagram (as a raw socket returns it) into header facts and the payload,
/// bounded by the header's total length.
pub fn parse_ipv4(pkt: &[u8]) -> Result<(Ipv4Meta, &[u8]), DecodeError> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return Err(DecodeError::IpHeader);
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if ihl < 20 || total < ihl || pkt.len() < total {
        return Err(DecodeError::IpHeader);
    }
    if pkt[9] != IPPROTO_VRRP {
        return Err(DecodeError::Protocol(pkt[9]));
    }
    let meta = Ipv4Meta {
        ttl: pkt[8],
        src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
    };
    Ok((meta, &pkt[ihl..total]))
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// Bytes from a `tcpdump -xx` dump (offsets before ':' are skipped).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: String = s
            .lines()
            .map(|l| l.split_once(':').map_or(l, |(_, rest)| rest))
            .collect::<String>()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        (0..digits.len() / 2)
            .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect()
    }
}

#[cfg(test)]
mod tests;
