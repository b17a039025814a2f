//! VRRPv2 IP Authentication Header (RFC 2338 §5.3.6.2, RFC 2402 AH, RFC 2403 HMAC-MD5-96),
//! as keepalived 2.2.7 puts it on the wire. Pure: bytes and keys in, bytes and verdicts out.
//!
//! ```text
//! IPv4 header (protocol 51, TOS 0xc0, TTL 255, IP id counting up from 1)
//! AH: next header 112 | payload len 4 | reserved 0 | SPI = sender's IPv4 address
//!     | sequence number (from 1) | ICV: 12 bytes
//! VRRPv2 advert (auth type 2, authentication data zero)
//! ```
//!
//! The ICV is HMAC-MD5 truncated to 96 bits, keyed with the first eight bytes of `auth_pass`,
//! over the whole IP datagram with the ICV, TOS, fragment field and header checksum zeroed.
//! keepalived keeps the TTL in (RFC 2402 lists it as mutable); captured packets show it, and
//! the TTL of a valid advert is 255 anyway, so we do the same.
//!
//! Sequence numbers: keepalived keeps one counter per instance, set by the adverts it accepts
//! and advanced by those it sends, and drops an advert whose number is not above it. So our
//! sender continues from the highest number sent or accepted (a new master's adverts stay
//! above what the backups saw). Our receiver refuses a number not above the last valid one
//! from the same sender, unless that sender has been silent for a while (it restarted and
//! counts from 1 again): two masters that both started at 1 still hear each other.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

use super::packet::{DecodeError, IPPROTO_VRRP};

/// IP protocol number of the Authentication Header.
pub const IPPROTO_AH: u8 = 51;
/// Fixed AH fields (12 bytes) + the 96-bit ICV.
pub const AH_LEN: usize = 24;
const IP_LEN: usize = 20;
const ICV_LEN: usize = 12;
/// How many senders the replay table remembers (bounded memory on a hostile link).
const MAX_PEERS: usize = 64;

/// The AH key: `auth_pass` truncated to 8 bytes, as keepalived does.
#[derive(Clone, PartialEq, Eq)]
pub struct AhKey(Vec<u8>);

impl std::fmt::Debug for AhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AhKey(..)")
    }
}

impl AhKey {
    pub fn new(pass: &str) -> AhKey {
        AhKey(pass.as_bytes().iter().take(8).copied().collect())
    }

    fn icv(&self, datagram: &[u8]) -> [u8; ICV_LEN] {
        // HMAC accepts keys of any length; an empty auth_pass still gives a defined MAC.
        let mut m = match <Hmac<Md5> as KeyInit>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return [0; ICV_LEN],
        };
        let mut d = datagram.to_vec();
        zero_mutable(&mut d);
        m.update(&d);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; ICV_LEN];
        out.copy_from_slice(&full[..ICV_LEN]);
        out
    }
}

/// Zeroes what the ICV does not cover: TOS, fragment field, header checksum, the ICV itself.
fn zero_mutable(d: &mut [u8]) {
    let ihl = usize::from(d[0] & 0x0f) * 4;
    d[1] = 0;
    d[6..8].fill(0);
    d[10..12].fill(0);
    d[ihl + 12..ihl + AH_LEN].fill(0);
}

/// Builds the whole IPv4 datagram (for an `IP_HDRINCL` socket) around a VRRP message. The
/// kernel fills in the header checksum, which the ICV does not cover.
pub fn build(
    key: &AhKey,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    ip_id: u16,
    seq: u32,
    vrrp: &[u8],
) -> Vec<u8> {
    let total = IP_LEN + AH_LEN + vrrp.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0xc0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ip_id.to_be_bytes());
    p.extend_from_slice(&[0, 0, ttl, IPPROTO_AH, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    // AH payload length: AH length in 32-bit words minus 2.
    p.extend_from_slice(&[IPPROTO_VRRP, (AH_LEN / 4 - 2) as u8, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0; ICV_LEN]);
    p.extend_from_slice(vrrp);
    let icv = key.icv(&p);
    p[IP_LEN + 12..IP_LEN + AH_LEN].copy_from_slice(&icv);
    p
}

/// A received AH datagram, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub spi: u32,
    pub seq: u32,
    /// Where the VRRP message lies in the datagram.
    pub payload: std::ops::Range<usize>,
}

/// Splits an IPv4 datagram carrying AH + VRRP; the ICV is checked by [`verify`].
pub fn parse(pkt: &[u8]) -> Result<Parsed, DecodeError> {
    if pkt.len() < IP_LEN || pkt[0] >> 4 != 4 {
        return Err(DecodeError::IpHeader);
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if ihl < IP_LEN || total < ihl || pkt.len() < total {
        return Err(DecodeError::IpHeader);
    }
    if pkt[9] != IPPROTO_AH {
        return Err(DecodeError::Protocol(pkt[9]));
    }
    let ah = &pkt[ihl..total];
    if ah.len() < AH_LEN || usize::from(ah[1]) != AH_LEN / 4 - 2 {
        return Err(DecodeError::Length);
    }
    if ah[0] != IPPROTO_VRRP {
        return Err(DecodeError::Protocol(ah[0]));
    }
    let word = |o: usize| u32::from_be_bytes([ah[o], ah[o + 1], ah[o + 2], ah[o + 3]]);
    Ok(Parsed {
        src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
        ttl: pkt[8],
        spi: word(4),
        seq: word(8),
        payload: ihl + AH_LEN..total,
    })
}

/// Whether the datagram's ICV is right for `key`. `pkt` is the datagram [`parse`] accepted.
pub fn verify(key: &AhKey, pkt: &[u8], p: &Parsed) -> bool {
    let ihl = p.payload.start - AH_LEN;
    let d = &pkt[..p.payload.end];
    let want = key.icv(d);
    // Constant time is not needed against an on-link peer guessing 96 bits; compare plainly.
    d[ihl + 12..ihl + AH_LEN] == want
}

/// Per-sender anti-replay state of one receiving socket.
#[derive(Debug)]
pub struct Replay {
    /// A sender silent this long may start again from any sequence number.
    pub stale_after: Duration,
    last: HashMap<Ipv4Addr, (u32, Instant)>,
}

impl Replay {
    pub fn new(stale_after: Duration) -> Replay {
        Replay {
            stale_after,
            last: HashMap::new(),
        }
    }

    /// Records `seq` from `src` when it is fresh; false for a replayed (or reordered) packet.
    pub fn accept(&mut self, src: Ipv4Addr, seq: u32, now: Instant) -> bool {
        if let Some(&(last, at)) = self.last.get(&src)
            && seq <= last
            && now.saturating_duration_since(at) < self.stale_after
        {
            return false;
        }
        if self.last.len() >= MAX_PEERS && !self.last.contains_key(&src) {
            let oldest = self
                .last
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(a, _)| *a);
            if let Some(o) = oldest {
                self.last.remove(&o);
            }
        }
        self.last.insert(src, (seq, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::tests_support::hex;

    /// keepalived 2.2.7, `auth_type AH; auth_pass secret12`, vrid 51, priority 150, VIP
    /// 10.79.0.100, from 10.79.0.1 (captured from the wire in a namespace).
    const KEEPALIVED: &str = "45c0004000010000ff33d0670a4f0001e0000012700400000a4f0001\
        000000011be5292f7eb0e8363b5ef0b92133960102013c170a4f00640000000000000000";
    const KEEPALIVED_SEQ2: &str = "45c0004000020000ff33d0660a4f0001e0000012700400000a4f0001\
        00000002af8f932b0b0f9ce9c3c40ca92133960102013c170a4f00640000000000000000";

    #[test]
    fn verifies_keepalived_packets() {
        let key = AhKey::new("secret12");
        for (s, seq) in [(KEEPALIVED, 1), (KEEPALIVED_SEQ2, 2)] {
            let pkt = hex(s);
            let p = parse(&pkt).unwrap();
            assert_eq!(p.seq, seq);
            assert_eq!(p.spi, u32::from(Ipv4Addr::new(10, 79, 0, 1)));
            assert_eq!(p.ttl, 255);
            assert!(verify(&key, &pkt, &p));
            assert!(!verify(&AhKey::new("secret13"), &pkt, &p));
            assert_eq!(pkt[p.payload.clone()][0], 0x21);
        }
    }

    #[test]
    fn builds_what_keepalived_sends() {
        let pkt = hex(KEEPALIVED);
        let vrrp = &pkt[44..];
        let mut built = build(
            &AhKey::new("secret12"),
            Ipv4Addr::new(10, 79, 0, 1),
            Ipv4Addr::new(224, 0, 0, 18),
            255,
            1,
            1,
            vrrp,
        );
        // The kernel writes the header checksum.
        built[10..12].copy_from_slice(&pkt[10..12]);
        assert_eq!(built, pkt);
    }

    #[test]
    fn key_is_the_first_eight_bytes() {
        assert_eq!(AhKey::new("secret12-and-more"), AhKey::new("secret12"));
    }

    #[test]
    fn tampering_is_detected() {
        let key = AhKey::new("secret12");
        let mut pkt = hex(KEEPALIVED);
        pkt[46] = 200; // priority
        let p = parse(&pkt).unwrap();
        assert!(!verify(&key, &pkt, &p));
        // Mutable fields are not covered: a router rewriting TOS keeps the ICV valid.
        let mut pkt = hex(KEEPALIVED);
        pkt[1] = 0;
        assert!(verify(&key, &pkt, &parse(&pkt).unwrap()));
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        let pkt = hex(KEEPALIVED);
        for n in 0..pkt.len() {
            let _ = parse(&pkt[..n]);
        }
        let mut bad = pkt.clone();
        bad[21] = 5;
        assert_eq!(parse(&bad), Err(DecodeError::Length));
        let mut bad = pkt.clone();
        bad[20] = 6;
        assert_eq!(parse(&bad), Err(DecodeError::Protocol(6)));
        let mut bad = pkt;
        bad[9] = 112;
        assert_eq!(parse(&bad), Err(DecodeError::Protocol(112)));
    }

    #[test]
    fn replay_window() {
        let t0 = Instant::now();
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let mut r = Replay::new(Duration::from_secs(3));
        assert!(r.accept(a, 5, t0));
        assert!(!r.accept(a, 5, t0 + Duration::from_secs(1)));
        assert!(!r.accept(a, 4, t0 + Duration::from_secs(1)));
        assert!(r.accept(b, 1, t0 + Duration::from_secs(1)));
        assert!(r.accept(a, 6, t0 + Duration::from_secs(1)));
        // A restarted sender counts from 1 again after being silent.
        assert!(!r.accept(a, 1, t0 + Duration::from_secs(2)));
        assert!(r.accept(a, 1, t0 + Duration::from_secs(5)));
        for i in 0..200u32 {
            r.accept(Ipv4Addr::from(i), 1, t0);
        }
        assert!(r.last.len() <= MAX_PEERS);
    }
}
