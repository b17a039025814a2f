//! VRRP receive path decoders: the raw IPv4 datagram, the AH datagram (auth_type AH) and the
//! VRRP message (v2 and v3, IPv4 and IPv6), then the re-encoding of whatever decoded. A second
//! pass repairs the checksum (and an AH datagram is rebuilt with a valid ICV) so the fuzzer
//! reaches the code behind it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use lvsd::vrrp::ah::{self, AhKey};
use lvsd::vrrp::packet::{Advert, ChecksumMode, Version, internet_checksum, parse_ipv4};

fuzz_target!(|data: &[u8]| {
    if let Ok((meta, payload)) = parse_ipv4(data) {
        let (src, dst) = (IpAddr::V4(meta.src), IpAddr::V4(meta.dst));
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::MessageOnly] {
            let _ = Advert::decode(payload, src, dst, mode);
        }
    }
    if let Ok(p) = ah::parse(data) {
        let key = AhKey::new("fuzzpass");
        let _ = ah::verify(&key, data, &p);
        let vrrp = &data[p.payload.clone()];
        let (src, dst) = (IpAddr::V4(p.src), IpAddr::V4(p.dst));
        let _ = Advert::decode(vrrp, src, dst, ChecksumMode::MessageOnly);
        // What our sender would put on the wire for it parses back and verifies.
        let built = ah::build(&key, p.src, p.dst, p.ttl, 1, p.seq, vrrp);
        let back = ah::parse(&built).expect("our own AH datagram does not parse");
        assert!(ah::verify(&key, &built, &back), "our own ICV does not verify");
        assert_eq!(&built[back.payload.clone()], vrrp);
    }
    let v6 = (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    );
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    );
    for (src, dst) in [v4, v6] {
        let _ = Advert::decode(data, src, dst, ChecksumMode::PseudoHeader);
    }
    // Message-only checksum (v2, or v3 with v3_checksum_as_v2), repaired.
    if data.len() >= 8 {
        let mut msg = data.to_vec();
        msg[6] = 0;
        msg[7] = 0;
        let ck = internet_checksum(&[&msg]);
        msg[6..8].copy_from_slice(&ck.to_be_bytes());
        let (src, dst) = v4;
        // Round trip where the encoder can express the advert: v2 carries whole seconds
        // 1-255 (the encoder clamps anything else, on purpose).
        let encodable = |a: &Advert| match a.version {
            Version::V2 => a.interval_cs % 100 == 0 && (100..=25_500).contains(&a.interval_cs),
            Version::V3 => true,
        };
        if let Ok(a) = Advert::decode(&msg, src, dst, ChecksumMode::MessageOnly)
            && encodable(&a)
        {
            let again = a.encode(src, dst, ChecksumMode::MessageOnly);
            let back = Advert::decode(&again, src, dst, ChecksumMode::MessageOnly);
            assert_eq!(
                back.as_ref(),
                Ok(&a),
                "encode(decode(x)) does not decode to the same advert"
            );
        }
    }
});
