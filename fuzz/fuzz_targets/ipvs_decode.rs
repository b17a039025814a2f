//! IPVS generic-netlink replies: netlink framing, every reader of a decoded message, and the
//! dump fast paths, which must agree with the general decoder whenever both succeed.
#![no_main]

use ipvs::Af;
use ipvs::codec::frame::{Frame, Reply, frames, frames_with};
use ipvs::codec::{self, IpvsCmd, IpvsMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast_svc: Vec<_> = frames_with(data, codec::service_entry).collect();
    let fast_dest: Vec<_> = frames_with(data, |_, a| codec::dest_entry(Af::Inet, a)).collect();
    for (i, f) in frames(data).enumerate() {
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
            assert_eq!(&slow, fast, "service dump fast path disagrees");
        }
        if let (
            Ok(slow),
            Some(Ok(Frame {
                reply: Reply::Ipvs(fast),
                ..
            })),
        ) = (m.dest(Af::Inet), fast_dest.get(i))
        {
            assert_eq!(&slow, fast, "destination dump fast path disagrees");
        }
        let _ = m.dest(Af::Inet6);
        let _ = m.daemon();
        let _ = m.info();
        let _ = m.timeouts();
    }
    // Bare attribute blocks, as after the genl header, for the command the first byte names.
    if let Some((&cmd, attrs)) = data.split_first() {
        let cmd = IpvsCmd::from(cmd);
        let _ = IpvsMessage::parse_attrs(cmd, attrs);
        let _ = codec::service_entry(cmd, attrs);
        let _ = codec::dest_entry(Af::Inet6, attrs);
    }
});
