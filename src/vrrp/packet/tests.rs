//! Golden vectors: complete Ethernet frames sent by keepalived 2.2.7 in the netns lab
//! (shared/docs/netlab.md, `tcpdump -xx` on the bridge; lb1 = 10.77.0.1 / fe80::77:ff:fe00:1,
//! vrid 51 for IPv4 and 61 for IPv6, priority 150, advert_int 1).

use super::*;
use proptest::prelude::*;

use super::tests_support::hex;

const V2_FRAME: &str = "
0x0000:  0100 5e00 0012 0277 0000 0001 0800 45c0
0x0010:  0028 0001 0000 ff70 d044 0a4d 0001 e000
0x0020:  0012 2133 9601 0101 dab6 0a4d 0064 3131
0x0030:  3131 0000 0000";

const V3_V4_FRAME: &str = "
0x0000:  0100 5e00 0012 0277 0000 0001 0800 45c0
0x0010:  0020 0001 0000 ff70 d04c 0a4d 0001 e000
0x0020:  0012 3133 9601 0064 42d9 0a4d 0064";

const V3_V6_FRAME: &str = "
0x0000:  3333 0000 0012 0277 0000 0001 86dd 6c02
0x0010:  760e 0028 70ff fe80 0000 0000 0000 0077
0x0020:  00ff fe00 0001 ff02 0000 0000 0000 0000
0x0030:  0000 0000 0012 313d 9602 0064 3cbd fe80
0x0040:  0000 0000 0000 0000 0000 0000 0100 fd00
0x0050:  0077 0000 0000 0000 0000 0000 0100";

fn lb1() -> IpAddr {
    "10.77.0.1".parse().unwrap()
}
fn lb1_ll() -> IpAddr {
    "fe80::77:ff:fe00:1".parse().unwrap()
}

#[test]
fn v2_pass_golden() {
    let frame = hex(V2_FRAME);
    let (meta, msg) = parse_ipv4(&frame[14..]).unwrap();
    assert_eq!(
        meta,
        Ipv4Meta {
            src: Ipv4Addr::new(10, 77, 0, 1),
            dst: MCAST_V4,
            ttl: 255
        }
    );
    let want = Advert {
        version: Version::V2,
        vrid: 51,
        priority: 150,
        interval_cs: 100,
        addrs: vec!["10.77.0.100".parse().unwrap()],
        auth: Auth::pass("1111"),
    };
    let got = Advert::decode(msg, lb1(), MCAST_V4.into(), ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(got, want);
    assert_eq!(
        want.encode(lb1(), MCAST_V4.into(), ChecksumMode::PseudoHeader),
        msg
    );
}

#[test]
fn v3_ipv4_golden_uses_pseudo_header() {
    let frame = hex(V3_V4_FRAME);
    let (_, msg) = parse_ipv4(&frame[14..]).unwrap();
    let want = Advert {
        version: Version::V3,
        vrid: 51,
        priority: 150,
        interval_cs: 100,
        addrs: vec!["10.77.0.100".parse().unwrap()],
        auth: Auth::None,
    };
    let dst = IpAddr::from(MCAST_V4);
    assert_eq!(
        Advert::decode(msg, lb1(), dst, ChecksumMode::PseudoHeader).unwrap(),
        want
    );
    assert_eq!(want.encode(lb1(), dst, ChecksumMode::PseudoHeader), msg);
    // A peer configured with v3_checksum_as_v2 rejects keepalived's default checksum.
    assert_eq!(
        Advert::decode(msg, lb1(), dst, ChecksumMode::MessageOnly),
        Err(DecodeError::Checksum)
    );
    let as_v2 = want.encode(lb1(), dst, ChecksumMode::MessageOnly);
    assert_eq!(internet_checksum(&[&as_v2]), 0);
    assert_eq!(
        Advert::decode(&as_v2, lb1(), dst, ChecksumMode::MessageOnly).unwrap(),
        want
    );
}

#[test]
fn v3_ipv6_golden() {
    let frame = hex(V3_V6_FRAME);
    let msg = &frame[14 + 40..];
    let dst = IpAddr::from(MCAST_V6);
    let want = Advert {
        version: Version::V3,
        vrid: 61,
        priority: 150,
        interval_cs: 100,
        addrs: vec![
            "fe80::100".parse().unwrap(),
            "fd00:77::100".parse().unwrap(),
        ],
        auth: Auth::None,
    };
    assert_eq!(
        Advert::decode(msg, lb1_ll(), dst, ChecksumMode::PseudoHeader).unwrap(),
        want
    );
    assert_eq!(want.encode(lb1_ll(), dst, ChecksumMode::PseudoHeader), msg);
    // The pseudo-header matters: another source fails the checksum.
    let other: IpAddr = "fe80::77:ff:fe00:2".parse().unwrap();
    assert_eq!(
        Advert::decode(msg, other, dst, ChecksumMode::PseudoHeader),
        Err(DecodeError::Checksum)
    );
}

#[test]
fn rejections_are_classified() {
    let frame = hex(V2_FRAME);
    let msg = frame[34..].to_vec();
    let dst = IpAddr::from(MCAST_V4);
    let dec = |m: &[u8]| Advert::decode(m, lb1(), dst, ChecksumMode::PseudoHeader);
    assert_eq!(dec(&msg[..7]), Err(DecodeError::Length));
    assert_eq!(dec(&msg[..msg.len() - 1]), Err(DecodeError::Length));
    let mut bad = msg.clone();
    bad[0] = 0x41;
    assert_eq!(dec(&bad), Err(DecodeError::Version(4)));
    bad[0] = 0x22;
    assert_eq!(dec(&bad), Err(DecodeError::Type(2)));
    let mut bad = msg.clone();
    bad[2] = 151;
    assert_eq!(dec(&bad), Err(DecodeError::Checksum));
    // Unknown auth type with a valid checksum.
    let mut bad = msg.clone();
    bad[4] = 7;
    bad[6..8].copy_from_slice(&[0, 0]);
    let ck = internet_checksum(&[&bad]);
    bad[6..8].copy_from_slice(&ck.to_be_bytes());
    assert_eq!(dec(&bad), Err(DecodeError::AuthType(7)));
    // v2 over IPv6 does not exist.
    assert_eq!(
        Advert::decode(&msg, lb1_ll(), MCAST_V6.into(), ChecksumMode::PseudoHeader),
        Err(DecodeError::Version(2))
    );
}

#[test]
fn ipv4_header_errors() {
    let frame = hex(V2_FRAME);
    let ip = &frame[14..];
    assert_eq!(parse_ipv4(&ip[..19]), Err(DecodeError::IpHeader));
    let mut p = ip.to_vec();
    p[9] = 6;
    assert_eq!(parse_ipv4(&p), Err(DecodeError::Protocol(6)));
    let mut p = ip.to_vec();
    p[3] = 0xff; // total length beyond the buffer
    assert_eq!(parse_ipv4(&p), Err(DecodeError::IpHeader));
}

fn arb_advert() -> impl Strategy<Value = (Advert, bool)> {
    (
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        1u16..4096,
        proptest::collection::vec(any::<[u8; 16]>(), 0..8),
        any::<[u8; 8]>(),
        any::<bool>(),
    )
        .prop_map(|(v3, vrid, prio, int, raw, pass, v6)| {
            let v6 = v6 && v3;
            let addrs = raw
                .into_iter()
                .map(|o| {
                    if v6 {
                        IpAddr::V6(o.into())
                    } else {
                        IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]))
                    }
                })
                .collect();
            let (version, interval_cs, auth) = if v3 {
                (Version::V3, int, Auth::None)
            } else {
                (Version::V2, (int % 255).max(1) * 100, Auth::Pass(pass))
            };
            (
                Advert {
                    version,
                    vrid,
                    priority: prio,
                    interval_cs,
                    addrs,
                    auth,
                },
                v6,
            )
        })
}

proptest! {
    #[test]
    fn encode_decode_roundtrip((adv, v6) in arb_advert()) {
        let (src, dst): (IpAddr, IpAddr) = if v6 { (lb1_ll(), MCAST_V6.into()) } else { (lb1(), MCAST_V4.into()) };
        let b = adv.encode(src, dst, ChecksumMode::PseudoHeader);
        prop_assert_eq!(b.len(), adv.len());
        prop_assert_eq!(Advert::decode(&b, src, dst, ChecksumMode::PseudoHeader), Ok(adv));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let (src, dst): (IpAddr, IpAddr) = if v6 { (lb1_ll(), MCAST_V6.into()) } else { (lb1(), MCAST_V4.into()) };
        let _ = Advert::decode(&b, src, dst, ChecksumMode::PseudoHeader);
        let _ = Advert::decode(&b, src, dst, ChecksumMode::MessageOnly);
        let _ = parse_ipv4(&b);
    }
}
