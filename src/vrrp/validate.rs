//! Acceptance checks for a received advertisement (RFC 3768 §7.1, RFC 5798 §7.1), pure.
//!
//! Every rejection has a kind that maps to one of keepalived's receive-error counters, so an
//! operator sees *why* adverts are ignored; a rejected advert never reaches the state machine.

use std::net::IpAddr;

use super::packet::{Advert, Auth, ChecksumMode, DecodeError, Version};
use super::socket::{AhCheck, Received};
use crate::status::VrrpCounters;

/// What the instance expects of a valid advert.
#[derive(Debug, Clone)]
pub struct Expect {
    pub version: Version,
    pub vrid: u8,
    pub auth: Auth,
    /// v2: the interval must match (centiseconds, whole seconds).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    pub checksum: ChecksumMode,
    /// Our own source address: our echo is ignored.
    pub local: IpAddr,
    /// Unicast peers; non-empty means unicast mode.
    pub peers: Vec<IpAddr>,
    /// `check_unicast_src`: in unicast mode only the peers are listened to (keepalived 2.2.7
    /// otherwise accepts a unicast advert from any source, measured in the lab).
    pub check_unicast_src: bool,
}

/// Why an advert was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("{0}")]
    Decode(DecodeError),
    #[error("TTL/hop limit {0} is not 255")]
    Ttl(u8),
    #[error("version {0} does not match ours")]
    VersionMismatch(u8),
    #[error("authentication type does not match ours")]
    AuthTypeMismatch,
    #[error("authentication failure (wrong password)")]
    AuthFailure,
    #[error("AH sequence number already seen (replayed packet)")]
    AhReplay,
    #[error("advert interval {0} cs differs from ours")]
    Interval(u16),
}

/// Not ours, silently ignored: another VRID on the link, our own echo, a stranger in unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignore {
    OtherVrid,
    OwnPacket,
    UnknownPeer,
}

/// The outcome of checking one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Well formed; with `addr_list_mismatch` the step counts, logs and drops it (RFC 3768
    /// §7.1 allows it, keepalived 2.2.7 does it) unless `skip_check_adv_addr` lets the
    /// current master's adverts through unchecked.
    Accept {
        advert: Advert,
        addr_list_mismatch: bool,
    },
    Ignore(Ignore),
    Reject(Reject),
}

pub fn check(rcv: &Received, msg: &[u8], e: &Expect) -> Verdict {
    if rcv.src == e.local {
        return Verdict::Ignore(Ignore::OwnPacket);
    }
    if e.check_unicast_src && !e.peers.is_empty() && !e.peers.contains(&rcv.src) {
        return Verdict::Ignore(Ignore::UnknownPeer);
    }
    // The VRID is looked at before anything else so other instances' adverts on a shared link
    // are not counted as our errors.
    if msg.len() >= 2 && msg[1] != e.vrid {
        return Verdict::Ignore(Ignore::OtherVrid);
    }
    // RFC: TTL/hop limit 255 proves the sender is on the link. Unicast peers may be routed
    // (keepalived skips the check for them unless min_ttl/max_ttl are set).
    if let Some(t) = rcv.ttl
        && t != 255
        && e.peers.is_empty()
    {
        return Verdict::Reject(Reject::Ttl(t));
    }
    let adv = match Advert::decode(msg, rcv.src, rcv.dst, e.checksum) {
        Ok(a) => a,
        Err(DecodeError::Checksum) if rcv.src.is_ipv4() => {
            match alternative_checksum(msg, rcv, e.checksum) {
                Some(a) => a,
                None => return Verdict::Reject(Reject::Decode(DecodeError::Checksum)),
            }
        }
        Err(d) => return Verdict::Reject(Reject::Decode(d)),
    };
    if adv.version != e.version {
        return Verdict::Reject(Reject::VersionMismatch(adv.version.number()));
    }
    if adv.version == Version::V2 {
        match (&e.auth, &adv.auth) {
            // The socket checked the ICV and sequence number (socket::AhCheck).
            (Auth::Ah, Auth::Ah) => match rcv.ah {
                AhCheck::Valid => {}
                AhCheck::Replayed => return Verdict::Reject(Reject::AhReplay),
                AhCheck::BadIcv | AhCheck::Absent => {
                    return Verdict::Reject(Reject::AuthFailure);
                }
            },
            (Auth::None, Auth::None) => {}
            (Auth::Pass(a), Auth::Pass(b)) => {
                if a != b {
                    return Verdict::Reject(Reject::AuthFailure);
                }
            }
            _ => return Verdict::Reject(Reject::AuthTypeMismatch),
        }
        if adv.interval_cs != e.interval_cs {
            return Verdict::Reject(Reject::Interval(adv.interval_cs));
        }
    }
    // Priority 0 adverts may carry the list too; compare as sets, in any order.
    let mismatch =
        adv.addrs.len() != e.addrs.len() || !e.addrs.iter().all(|a| adv.addrs.contains(a));
    Verdict::Accept {
        advert: adv,
        addr_list_mismatch: mismatch,
    }
}

/// VRRPv3 over IPv4 has had three checksum conventions in the field: RFC 5798 (pseudo-header),
/// RFC 9568's `v3_checksum_as_v2` (message only) and keepalived ≤ 1.3.6 unicast (pseudo-header
/// with the multicast group as destination). Like keepalived, accept a peer using another one
/// rather than declare it dead; we keep sending ours.
fn alternative_checksum(msg: &[u8], rcv: &Received, mode: ChecksumMode) -> Option<Advert> {
    let other = match mode {
        ChecksumMode::PseudoHeader => ChecksumMode::MessageOnly,
        ChecksumMode::MessageOnly => ChecksumMode::PseudoHeader,
    };
    let group = IpAddr::V4(super::packet::MCAST_V4);
    Advert::decode(msg, rcv.src, rcv.dst, other)
        .or_else(|_| Advert::decode(msg, rcv.src, group, ChecksumMode::PseudoHeader))
        .ok()
        .filter(|a| a.version == Version::V3)
}

/// Bumps the keepalived counter for a rejection.
pub fn count(r: &Reject, c: &mut VrrpCounters) {
    match r {
        Reject::Decode(DecodeError::Length) | Reject::Decode(DecodeError::IpHeader) => {
            c.packet_len_err += 1
        }
        Reject::Decode(DecodeError::Protocol(_)) => c.packet_len_err += 1,
        Reject::Decode(DecodeError::Version(_)) | Reject::VersionMismatch(_) => c.version_err += 1,
        Reject::Decode(DecodeError::Type(_)) => c.invalid_type_rcvd += 1,
        Reject::Decode(DecodeError::Checksum) => c.checksum_err += 1,
        Reject::Decode(DecodeError::AuthType(_)) => c.invalid_authtype += 1,
        Reject::Ttl(_) => c.ip_ttl_err += 1,
        Reject::AuthTypeMismatch => c.authtype_mismatch += 1,
        Reject::AuthFailure | Reject::AhReplay => c.auth_failure += 1,
        Reject::Interval(_) => c.advert_interval_err += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::MCAST_V4;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn expect() -> Expect {
        Expect {
            version: Version::V2,
            vrid: 51,
            auth: Auth::pass("1111"),
            interval_cs: 100,
            addrs: vec![ip("10.77.0.100")],
            checksum: ChecksumMode::PseudoHeader,
            local: ip("10.77.0.2"),
            peers: vec![],
            check_unicast_src: false,
        }
    }

    fn advert() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addrs: vec![ip("10.77.0.100")],
            auth: Auth::pass("1111"),
        }
    }

    fn rcv(ttl: u8) -> Received {
        Received {
            src: ip("10.77.0.1"),
            dst: MCAST_V4.into(),
            ttl: Some(ttl),
            payload: 0..0,
            ah: AhCheck::Absent,
        }
    }

    fn run(a: &Advert, ttl: u8, e: &Expect) -> Verdict {
        let b = a.encode(ip("10.77.0.1"), MCAST_V4.into(), ChecksumMode::PseudoHeader);
        check(&rcv(ttl), &b, e)
    }

    #[test]
    fn accepts_a_good_advert() {
        assert_eq!(
            run(&advert(), 255, &expect()),
            Verdict::Accept {
                advert: advert(),
                addr_list_mismatch: false
            }
        );
    }

    #[test]
    fn each_rejection_has_its_counter() {
        let e = expect();
        let mut c = VrrpCounters::default();
        type Get = fn(&VrrpCounters) -> u64;
        let cases: Vec<(Verdict, Get)> = vec![
            (run(&advert(), 64, &e), |c| c.ip_ttl_err),
            (
                run(
                    &Advert {
                        auth: Auth::pass("2222"),
                        ..advert()
                    },
                    255,
                    &e,
                ),
                |c| c.auth_failure,
            ),
            (
                run(
                    &Advert {
                        auth: Auth::None,
                        ..advert()
                    },
                    255,
                    &e,
                ),
                |c| c.authtype_mismatch,
            ),
            (
                run(
                    &Advert {
                        auth: Auth::Ah,
                        ..advert()
                    },
                    255,
                    &e,
                ),
                |c| c.authtype_mismatch,
            ),
            (
                run(
                    &Advert {
                        interval_cs: 200,
                        ..advert()
                    },
                    255,
                    &e,
                ),
                |c| c.advert_interval_err,
            ),
            (
                run(
                    &Advert {
                        version: Version::V3,
                        auth: Auth::None,
                        ..advert()
                    },
                    255,
                    &e,
                ),
                |c| c.version_err,
            ),
            (check(&rcv(255), &[0x21, 51, 1], &e), |c| c.packet_len_err),
        ];
        for (v, get) in cases {
            let Verdict::Reject(r) = v else {
                panic!("expected a rejection, got {v:?}")
            };
            let before = get(&c);
            count(&r, &mut c);
            assert_eq!(get(&c), before + 1, "{r:?}");
        }
        // Corrupt checksum.
        let mut b = advert().encode(ip("10.77.0.1"), MCAST_V4.into(), ChecksumMode::PseudoHeader);
        b[2] = 1;
        assert_eq!(
            check(&rcv(255), &b, &e),
            Verdict::Reject(Reject::Decode(DecodeError::Checksum))
        );
    }

    #[test]
    fn ah_verdicts_of_the_socket_decide() {
        let e = Expect {
            auth: Auth::Ah,
            ..expect()
        };
        let b = Advert {
            auth: Auth::Ah,
            ..advert()
        }
        .encode(ip("10.77.0.1"), MCAST_V4.into(), ChecksumMode::PseudoHeader);
        let with = |ah| Received { ah, ..rcv(255) };
        assert!(matches!(
            check(&with(AhCheck::Valid), &b, &e),
            Verdict::Accept { .. }
        ));
        for (ah, want) in [
            (AhCheck::BadIcv, Reject::AuthFailure),
            (AhCheck::Absent, Reject::AuthFailure),
            (AhCheck::Replayed, Reject::AhReplay),
        ] {
            assert_eq!(check(&with(ah), &b, &e), Verdict::Reject(want.clone()));
            let mut c = VrrpCounters::default();
            count(&want, &mut c);
            assert_eq!(c.auth_failure, 1);
        }
        // A PASS advert reaching an AH instance.
        let p = advert().encode(ip("10.77.0.1"), MCAST_V4.into(), ChecksumMode::PseudoHeader);
        assert_eq!(
            check(&with(AhCheck::Absent), &p, &e),
            Verdict::Reject(Reject::AuthTypeMismatch)
        );
    }

    #[test]
    fn v3_ipv4_checksum_conventions_interoperate() {
        let e = Expect {
            version: Version::V3,
            auth: Auth::None,
            ..expect()
        };
        let a = Advert {
            version: Version::V3,
            auth: Auth::None,
            ..advert()
        };
        let peer = ip("10.77.0.1");
        let me = ip("10.77.0.2");
        // RFC 9568 v3_checksum_as_v2 peer, multicast.
        let b = a.encode(peer, MCAST_V4.into(), ChecksumMode::MessageOnly);
        assert!(matches!(check(&rcv(255), &b, &e), Verdict::Accept { .. }));
        // keepalived <= 1.3.6 unicast: the group address in the pseudo-header.
        let b = a.encode(peer, MCAST_V4.into(), ChecksumMode::PseudoHeader);
        let uni = Received {
            dst: me,
            ..rcv(255)
        };
        assert!(matches!(check(&uni, &b, &e), Verdict::Accept { .. }));
        // Anything else is still a checksum error.
        let mut b = a.encode(peer, MCAST_V4.into(), ChecksumMode::PseudoHeader);
        b[9] ^= 1;
        assert_eq!(
            check(&rcv(255), &b, &e),
            Verdict::Reject(Reject::Decode(DecodeError::Checksum))
        );
    }

    #[test]
    fn ignores_what_is_not_ours() {
        let e = expect();
        assert_eq!(
            run(
                &Advert {
                    vrid: 52,
                    ..advert()
                },
                255,
                &e
            ),
            Verdict::Ignore(Ignore::OtherVrid)
        );
        let own = Expect {
            local: ip("10.77.0.1"),
            ..expect()
        };
        assert_eq!(
            run(&advert(), 255, &own),
            Verdict::Ignore(Ignore::OwnPacket)
        );
        // A routed unicast peer (TTL decremented) is accepted.
        let routed = Expect {
            peers: vec![ip("10.77.0.1")],
            ..expect()
        };
        assert!(matches!(
            run(&advert(), 63, &routed),
            Verdict::Accept { .. }
        ));
        // A unicast advert from a source that is no peer: accepted unless
        // check_unicast_src (keepalived 2.2.7 alike).
        let uni = Expect {
            peers: vec![ip("10.77.0.3")],
            ..expect()
        };
        assert!(matches!(run(&advert(), 255, &uni), Verdict::Accept { .. }));
        let checked = Expect {
            check_unicast_src: true,
            ..uni
        };
        assert_eq!(
            run(&advert(), 255, &checked),
            Verdict::Ignore(Ignore::UnknownPeer)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), ttl in 0u8..=255) {
            let mut e = expect();
            let _ = check(&rcv(ttl), &b, &e);
            e.version = Version::V3;
            e.auth = Auth::None;
            let mut b3 = b.clone();
            if b3.len() > 1 {
                b3[1] = 51; // reach the decoder past the VRID filter
            }
            let _ = check(&rcv(ttl), &b3, &e);
        }
    }

    #[test]
    fn address_list_mismatch_is_flagged_not_dropped() {
        let a = Advert {
            addrs: vec![ip("10.77.0.101")],
            ..advert()
        };
        assert_eq!(
            run(&a, 255, &expect()),
            Verdict::Accept {
                advert: a,
                addr_list_mismatch: true
            }
        );
    }
}
