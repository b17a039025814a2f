//! IPVS generic-netlink replies: netlink framing, then the service/destination/daemon
//! attribute decoders (both the full message decoder and the dump fast paths).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for frame in ipvs::codec::frame::frames(data) {
        if frame.is_err() {
            break;
        }
    }
    for frame in ipvs::codec::frame::frames_with(data, ipvs::codec::service_entry) {
        if frame.is_err() {
            break;
        }
    }
    // Bare attribute blocks, as inside a genl message, for every command.
    if let Some((&cmd, attrs)) = data.split_first() {
        let cmd = ipvs::codec::IpvsCmd::from(cmd);
        let _ = ipvs::codec::IpvsMessage::parse_attrs(cmd, attrs);
        let _ = ipvs::codec::service_entry(cmd, attrs);
    }
});
