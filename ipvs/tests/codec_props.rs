//! Property tests of the codec: whatever the kernel (or anyone on the socket) sends, parsing
//! never panics; whatever model we build, emit → parse gives it back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipvs::codec::frame::{Frame, Reply, encode, frames, frames_with};
use ipvs::codec::{self, IpvsMessage};
use ipvs::{Af, Dest, Forward, Scheduler, Service, ServiceFlags, ServiceKey, TunnelType};
use proptest::prelude::*;

/// Exercises every reader on whatever parsed; the dump fast paths must agree with the general
/// path whenever it succeeds.
fn read_everything(buf: &[u8]) {
    let fast_svc: Vec<_> = frames_with(buf, codec::service_entry).collect();
    let fast_dest: Vec<_> = frames_with(buf, |_, a| codec::dest_entry(Af::Inet, a)).collect();
    for (i, f) in frames(buf).enumerate() {
        let Ok(Frame {
            reply: Reply::Ipvs(m),
            ..
        }) = f
        else {
            continue;
        };
        if let (
            Ok(slow),
            Some(Ok(Frame {
                reply: Reply::Ipvs(fast),
                ..
            })),
        ) = (m.service(), fast_svc.get(i))
        {
            assert_eq!(&slow, fast);
        }
        if let (
            Ok(slow),
            Some(Ok(Frame {
                reply: Reply::Ipvs(fast),
                ..
            })),
        ) = (m.dest(Af::Inet), fast_dest.get(i))
        {
            assert_eq!(&slow, fast);
        }
    }
    for f in frames(buf) {
        if let Ok(f) = f
            && let Reply::Ipvs(m) = f.reply
        {
            let _ = m.service();
            let _ = m.dest(Af::Inet);
            let _ = m.dest(Af::Inet6);
            let _ = m.daemon();
            let _ = m.info();
            let _ = m.timeouts();
        }
    }
}

/// A netlink message with a valid header around `payload` (genl header + attributes).
fn framed(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let len = (16 + payload.len()) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(payload);
    b
}

/// A netlink attribute with a correct length header.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((4 + value.len()) as u16).to_le_bytes());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(value);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

/// Well-formed nesting with random attribute kinds and values: reaches the leaf parsers.
fn nested_message() -> impl Strategy<Value = Vec<u8>> {
    let leaf = (0u16..20, proptest::collection::vec(any::<u8>(), 0..24));
    let nest = (
        0u16..8,
        any::<bool>(),
        proptest::collection::vec(leaf, 0..12),
    );
    (1u8..18, proptest::collection::vec(nest, 0..4)).prop_map(|(cmd, nests)| {
        let mut payload = vec![cmd, 1, 0, 0];
        for (kind, flag, leaves) in nests {
            let inner: Vec<u8> = leaves.iter().flat_map(|(k, v)| nla(*k, v)).collect();
            payload.extend(nla(kind | if flag { 0x8000 } else { 0 }, &inner));
        }
        framed(0x20, 2, &payload)
    })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop_oneof![
        (0usize..Scheduler::KNOWN.len()).prop_map(|i| Scheduler::KNOWN[i].clone()),
        "x[a-z0-9]{0,10}".prop_map(Scheduler::Other),
    ]
}

fn service() -> impl Strategy<Value = Service> {
    let key = prop_oneof![
        (ip(), 0usize..3, any::<u16>()).prop_map(|(a, p, port)| match p {
            0 => ServiceKey::tcp(a, port),
            1 => ServiceKey::udp(a, port),
            _ => ServiceKey::sctp(a, port),
        }),
        (any::<bool>(), 1u32..)
            .prop_map(|(v6, mark)| ServiceKey::fwmark(if v6 { Af::Inet6 } else { Af::Inet }, mark)),
    ];
    (
        key,
        scheduler(),
        0u32..0x40,
        any::<u32>(),
        any::<u8>(),
        proptest::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(key, sched, flags, timeout, prefix, pe)| {
            let mut s = Service::new(key, sched);
            s.flags = ServiceFlags(flags & !ServiceFlags::HASHED);
            s.timeout = timeout;
            s.netmask = prefix % (key.af().max_prefix() + 1);
            s.pe_name = pe;
            s
        })
}

fn dest() -> impl Strategy<Value = Dest> {
    let fwd = prop_oneof![
        Just(Forward::Masq),
        Just(Forward::Local),
        Just(Forward::Tunnel),
        Just(Forward::DirectRoute),
        Just(Forward::Bypass)
    ];
    (
        ip(),
        any::<u16>(),
        fwd,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        0u8..3,
        any::<u16>(),
        0u16..3,
    )
        .prop_map(|(addr, port, fwd, w, u, l, tt, tp, tf)| {
            let mut d = Dest::new(addr, port, fwd).weight(w);
            d.u_threshold = u;
            d.l_threshold = l;
            if fwd == Forward::Tunnel {
                d.tun_type = TunnelType::from_kernel(tt);
                d.tun_port = tp;
                d.tun_flags = tf;
            }
            d
        })
}

fn round_trip(msg: IpvsMessage) -> IpvsMessage {
    let mut b = Vec::new();
    encode(msg, 0x20, 5, 1, &mut b);
    let f = frames(&b).next().expect("one message").expect("parses");
    match f.reply {
        Reply::Ipvs(m) => m,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_everything(&buf);
    }

    #[test]
    fn arbitrary_payload_in_a_valid_header_never_panics(
        kind in prop_oneof![Just(2u16), Just(3u16), Just(0x20u16), any::<u16>()],
        payload in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        read_everything(&framed(kind, 2, &payload));
    }

    #[test]
    fn well_nested_garbage_never_panics(buf in nested_message()) {
        read_everything(&buf);
    }

    #[test]
    fn service_round_trips(s in service()) {
        let back = round_trip(IpvsMessage::new_service(&s)).service().expect("service");
        prop_assert!(back.same_config(&s), "{back:?} != {s:?}");
    }

    #[test]
    fn dest_round_trips(key in service().prop_map(|s| s.key), d in dest()) {
        let m = round_trip(IpvsMessage::new_dest(&key, &d));
        let back = m.dest(key.af()).expect("dest");
        prop_assert!(back.same_config(&d), "{back:?} != {d:?}");
    }
}
