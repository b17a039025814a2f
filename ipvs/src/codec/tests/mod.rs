//! Golden vectors: ipvsadm 1.31 requests and Linux 6.1 replies, captured in the IPVS VM with
//! `ip link add nlmon0 type nlmon; tcpdump -i nlmon0` while running the command in each comment
//! (nlmon's 16-byte pseudo header stripped). Requests must parse to the model and, where our
//! request is the same as ipvsadm's, our bytes must equal ipvsadm's (netlink sequence number and
//! port id aside). Replies must parse to the model.
//!
//! Where we differ from ipvsadm on purpose: for destination and delete requests ipvsadm sends a
//! full service nest (empty scheduler, flags, timeout, netmask) where the key suffices, and it
//! sends tunnel attributes for every destination (we only for tunnels).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use super::frame::{Frame, Reply, encode, frames, frames_with};
use super::{CmdAttr, IpvsCmd, IpvsMessage, dest_attrs};
use crate::model::*;

/// The IPVS family id in the VM when these were captured.
const FAMILY: u16 = 0x20;

/// `ipvsadm -A -t 192.0.2.1:80 -s wrr -p 300 -M 255.255.255.0`
const ADD_SERVICE_TCP4_PERSISTENT: &str = "\
    68000000200005002e99056b8f0080ac01010000540001800600010002000000\
    060002000600000014000300c000020100000000000000000000000006000400\
    0050000008000600777272000c00070001000000ffffffff080008002c010000\
    08000900ffffff00";
/// `ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.2:8080 -m -w 5 -x 100 -y 10`
const ADD_DEST_MASQ_THRESHOLDS: &str = "\
    c8000000200005002e99056b900080ac05010000540001800600010002000000\
    060002000600000014000300c000020100000000000000000000000006000400\
    0050000005000600000000000c00070000000000ffffffff0800080000000000\
    08000900ffffffff6000028006000b0002000000140001000a00000200000000\
    0000000000000000060002001f90000008000300000000000800040005000000\
    05000d000000000006000e000000000006000f00000000000800050064000000\
    080006000a000000";
/// `ipvsadm -A -f 7 -6 -s sh -b sh-port`
const ADD_SERVICE_FWMARK6_SH_PORT: &str = "\
    4c000000200005002e99056b910080ac0101000038000180060001000a000000\
    080005000700000007000600736800000c00070010000000ffffffff08000800\
    000000000800090080000000";
/// `ipvsadm -a -f 7 -6 -r [2001:db8::2]:0 -i --tun-type gue --tun-port 6080 --tun-csum`
const ADD_DEST_GUE6: &str = "\
    ac000000200005002e99056b920080ac0501000038000180060001000a000000\
    080005000700000005000600000000000c00070000000000ffffffff08000800\
    0000000008000900800000006000028006000b000a0000001400010020010db8\
    0000000000000000000000020600020000000000080003000200000008000400\
    0100000005000d000100000006000e0017c0000006000f000100000008000500\
    000000000800060000000000";
/// `ipvsadm -D -t 192.0.2.1:80`
const DEL_SERVICE_TCP4: &str = "\
    68000000200005002e99056b930080ac03010000540001800600010002000000\
    060002000600000014000300c000020100000000000000000000000006000400\
    0050000005000600000000000c00070000000000ffffffff0800080000000000\
    08000900ffffffff";
/// `kernel reply to the service dump of `ipvsadm -Ln` (the fwmark service above)`
const DUMP_SERVICE_REPLY_FWMARK6: &str = "\
    24010000200002002e99056b940080ac0101000010010100060001000a000000\
    080005000700000007000600736800000c00070012000000ffffffff08000800\
    0000000008000900800000005c000a0008000100000000000800020000000000\
    08000300000000000c00040000000000000000000c0005000000000000000000\
    0800060000000000080007000000000008000800000000000800090000000000\
    08000a00000000007c000c000c00010000000000000000000c00020000000000\
    000000000c00030000000000000000000c00040000000000000000000c000500\
    00000000000000000c00060000000000000000000c0007000000000000000000\
    0c00080000000000000000000c00090000000000000000000c000a0000000000\
    00000000";
/// `kernel reply to the destination dump of `ipvsadm -Ln` (the GUE destination above)`
const DUMP_DEST_REPLY_GUE6: &str = "\
    64010000200002002e99056b940040d705010000500102001400010020010db8\
    0000000000000000000000020600020000000000080003000200000008000400\
    0100000005000d000100000006000e0017c0000006000f000100000008000500\
    0000000008000600000000000800070000000000080008000000000008000900\
    0000000006000b000a0000005c000a0008000100000000000800020000000000\
    08000300000000000c00040000000000000000000c0005000000000000000000\
    0800060000000000080007000000000008000800000000000800090000000000\
    08000a00000000007c000c000c00010000000000000000000c00020000000000\
    000000000c00030000000000000000000c00040000000000000000000c000500\
    00000000000000000c00060000000000000000000c0007000000000000000000\
    0c00080000000000000000000c00090000000000000000000c000a0000000000\
    00000000";
/// `ipvsadm -A -u [2001:db8::1]:53 -s rr (second time)`
const ADD_SERVICE_UDP6: &str = "\
    68000000200005001a99056b8f0080a70101000054000180060001000a000000\
    06000200110000001400030020010db800000000000000000000000106000400\
    0035000007000600727200000c00070000000000ffffffff0800080000000000\
    0800090080000000";
/// `kernel error reply to it: EEXIST, request echoed`
const ERROR_EEXIST: &str = "\
    7c000000020000001a99056b8f0080a7efffffff68000000200005001a99056b\
    8f0080a70101000054000180060001000a000000060002001100000014000300\
    20010db800000000000000000000000106000400003500000700060072720000\
    0c00070000000000ffffffff08000800000000000800090080000000";
/// `kernel ACK of the first `ipvsadm -A -u [2001:db8::1]:53 -s rr``
const ACK: &str = "\
    24000000020000011a99056b8e0040a70000000068000000200005001a99056b\
    8e0040a7";
/// `kernel reply to GET_INFO`
const INFO_REPLY: &str = "\
    24000000200000001999056b8e00807c0e010000080001000102010008000200\
    00100000";
/// `kernel reply to GET_CONFIG (`ipvsadm -L --timeout`)`
const CONFIG_REPLY: &str = "\
    2c000000200000001a99056b910080a70c010000080004008403000008000500\
    78000000080006002c010000";
/// `end of a dump`
const DONE: &str = "\
    14000000030002001a99056b900080a700000000";
/// `kernel reply to the service dump (the UDP service above)`
const DUMP_SERVICE_REPLY_UDP6: &str = "\
    40010000200002001a99056b920080a7010100002c010100060001000a000000\
    06000200110000001400030020010db800000000000000000000000106000400\
    0035000007000600727200000c00070002000000ffffffff0800080000000000\
    08000900800000005c000a000800010000000000080002000000000008000300\
    000000000c00040000000000000000000c000500000000000000000008000600\
    0000000008000700000000000800080000000000080009000000000008000a00\
    000000007c000c000c00010000000000000000000c0002000000000000000000\
    0c00030000000000000000000c00040000000000000000000c00050000000000\
    000000000c00060000000000000000000c00070000000000000000000c000800\
    00000000000000000c00090000000000000000000c000a000000000000000000";
/// `ipvsadm -Ln: destination dump request for the UDP service`
const GET_DESTS_UDP6: &str = "\
    44000000200005031a99056b920040ca0801000030000180060001000a000000\
    06000200110000001400030020010db800000000000000000000000106000400\
    00350000";

fn bytes(hex: &str) -> Vec<u8> {
    let hex: String = hex.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn frame(hex: &str) -> Frame {
    let b = bytes(hex);
    let mut it = frames(&b);
    let f = it.next().expect("one message").expect("parses");
    assert!(it.next().is_none(), "exactly one message");
    f
}

fn message(hex: &str) -> IpvsMessage {
    match frame(hex).reply {
        Reply::Ipvs(m) => m,
        other => panic!("not an IPVS message: {other:?}"),
    }
}

/// Our encoding of `msg` with the captured message's flags, sequence number and port id.
fn ours(msg: IpvsMessage, captured: &[u8]) -> Vec<u8> {
    let flags = u16::from_le_bytes([captured[6], captured[7]]);
    let seq = u32::from_le_bytes([captured[8], captured[9], captured[10], captured[11]]);
    let mut out = Vec::new();
    encode(msg, FAMILY, flags, seq, &mut out);
    out[12..16].copy_from_slice(&captured[12..16]); // port id: ipvsadm's bound address
    out
}

fn emitted(attr: &CmdAttr) -> Vec<u8> {
    use netlink_packet_core::Emitable;
    let mut b = vec![0u8; attr.buffer_len()];
    attr.emit(&mut b);
    b
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("v6"))
}

#[test]
fn add_service_tcp4_persistent_matches_ipvsadm() {
    let mut want =
        Service::new(ServiceKey::tcp(v4(192, 0, 2, 1), 80), Scheduler::Wrr).persistent(300);
    want.netmask = 24;
    let m = message(ADD_SERVICE_TCP4_PERSISTENT);
    assert_eq!(m.cmd, IpvsCmd::NewService);
    assert_eq!(m.service().expect("service"), want);
    let b = bytes(ADD_SERVICE_TCP4_PERSISTENT);
    assert_eq!(ours(IpvsMessage::new_service(&want), &b), b);
    assert_eq!(u16::from_le_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_ACK);
}

#[test]
fn add_service_fwmark6_sched_flag_matches_ipvsadm() {
    let mut want = Service::new(ServiceKey::fwmark(Af::Inet6, 7), Scheduler::Sh);
    want.flags = ServiceFlags(ServiceFlags::SH_PORT);
    assert_eq!(
        message(ADD_SERVICE_FWMARK6_SH_PORT)
            .service()
            .expect("service"),
        want
    );
    let b = bytes(ADD_SERVICE_FWMARK6_SH_PORT);
    assert_eq!(ours(IpvsMessage::new_service(&want), &b), b);
}

#[test]
fn add_service_udp6_matches_ipvsadm() {
    let want = Service::new(ServiceKey::udp(v6("2001:db8::1"), 53), Scheduler::Rr);
    assert_eq!(message(ADD_SERVICE_UDP6).service().expect("service"), want);
    let b = bytes(ADD_SERVICE_UDP6);
    assert_eq!(ours(IpvsMessage::new_service(&want), &b), b);
}

#[test]
fn add_dest_gue6_nest_matches_ipvsadm() {
    let mut want = Dest::new(v6("2001:db8::2"), 0, Forward::Tunnel);
    want.tun_type = TunnelType::Gue;
    want.tun_port = 6080;
    want.tun_flags = 1;
    let m = message(ADD_DEST_GUE6);
    assert_eq!(m.cmd, IpvsCmd::NewDest);
    assert_eq!(
        m.service().expect("service nest").key,
        ServiceKey::fwmark(Af::Inet6, 7)
    );
    let mut got = m.dest(Af::Inet6).expect("dest");
    assert_eq!(got.conns.take(), Some(DestConns::default()));
    assert_eq!(got, want);
    let theirs = m
        .attrs
        .iter()
        .find(|a| matches!(a, CmdAttr::Dest(_)))
        .expect("dest nest");
    assert_eq!(emitted(&CmdAttr::Dest(dest_attrs(&want))), emitted(theirs));
}

#[test]
fn add_dest_masq_thresholds_parses() {
    let mut want = Dest::new(v4(10, 0, 0, 2), 8080, Forward::Masq).weight(5);
    want.u_threshold = 100;
    want.l_threshold = 10;
    let m = message(ADD_DEST_MASQ_THRESHOLDS);
    assert_eq!(
        m.service().expect("service nest").key,
        ServiceKey::tcp(v4(192, 0, 2, 1), 80)
    );
    let got = m.dest(Af::Inet).expect("dest");
    assert!(got.same_config(&want), "{got:?}");
    // Our request for it round-trips.
    let mut b = Vec::new();
    encode(
        IpvsMessage::new_dest(&ServiceKey::tcp(v4(192, 0, 2, 1), 80), &want),
        FAMILY,
        5,
        1,
        &mut b,
    );
    let back = match frames(&b).next().expect("one").expect("parses").reply {
        Reply::Ipvs(m) => m,
        r => panic!("{r:?}"),
    };
    assert!(back.dest(Af::Inet).expect("dest").same_config(&want));
}

#[test]
fn del_service_names_the_key() {
    let m = message(DEL_SERVICE_TCP4);
    assert_eq!(m.cmd, IpvsCmd::DelService);
    assert_eq!(
        m.service().expect("service nest").key,
        ServiceKey::tcp(v4(192, 0, 2, 1), 80)
    );
}

#[test]
fn get_dests_request_matches_ipvsadm() {
    let key = ServiceKey::udp(v6("2001:db8::1"), 53);
    let b = bytes(GET_DESTS_UDP6);
    assert_eq!(
        u16::from_le_bytes([b[6], b[7]]),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP
    );
    assert_eq!(ours(IpvsMessage::get_dests(&key), &b), b);
}

#[test]
fn service_dump_replies_parse() {
    let f = frame(DUMP_SERVICE_REPLY_FWMARK6);
    assert_eq!(
        f.flags & netlink_packet_core::NLM_F_MULTIPART,
        netlink_packet_core::NLM_F_MULTIPART
    );
    let Reply::Ipvs(m) = f.reply else {
        panic!("not IPVS")
    };
    let s = m.service().expect("service");
    assert_eq!(s.key, ServiceKey::fwmark(Af::Inet6, 7));
    assert_eq!(s.scheduler, Scheduler::Sh);
    // The kernel adds HASHED to what we set.
    assert_eq!(
        s.flags,
        ServiceFlags(ServiceFlags::HASHED | ServiceFlags::SH_PORT)
    );
    assert_eq!((s.timeout, s.netmask, s.pe_name.as_deref()), (0, 128, None));
    assert_eq!(s.stats, Some(Stats::default()));

    let s = message(DUMP_SERVICE_REPLY_UDP6).service().expect("service");
    assert!(s.same_config(&Service::new(
        ServiceKey::udp(v6("2001:db8::1"), 53),
        Scheduler::Rr
    )));
}

/// The client's dump fast path (no intermediate attribute lists) reads what the general path reads.
#[test]
fn dump_fast_path_agrees() {
    for hex in [DUMP_SERVICE_REPLY_FWMARK6, DUMP_SERVICE_REPLY_UDP6] {
        let b = bytes(hex);
        let fast = frames_with(&b, super::service_entry)
            .next()
            .expect("one")
            .expect("parses");
        let Reply::Ipvs(fast) = fast.reply else {
            panic!("not IPVS")
        };
        assert_eq!(fast, message(hex).service().expect("service"));
    }
    let b = bytes(DUMP_DEST_REPLY_GUE6);
    let fast = frames_with(&b, |_, a| super::dest_entry(Af::Inet6, a))
        .next()
        .expect("one");
    let Reply::Ipvs(fast) = fast.expect("parses").reply else {
        panic!("not IPVS")
    };
    assert_eq!(
        fast,
        message(DUMP_DEST_REPLY_GUE6).dest(Af::Inet6).expect("dest")
    );
}

#[test]
fn dest_dump_reply_parses() {
    let d = message(DUMP_DEST_REPLY_GUE6).dest(Af::Inet6).expect("dest");
    assert_eq!(
        d.key(),
        DestKey {
            addr: v6("2001:db8::2"),
            port: 0
        }
    );
    assert_eq!(
        (d.forward, d.weight, d.tun_type, d.tun_port, d.tun_flags),
        (Forward::Tunnel, 1, TunnelType::Gue, 6080, 1)
    );
    assert_eq!(d.conns, Some(DestConns::default()));
    assert_eq!(d.stats, Some(Stats::default()));
}

#[test]
fn acks_errors_done_info_config() {
    assert!(matches!(frame(ACK).reply, Reply::Ack { errno: 0 }));
    let f = frame(ERROR_EEXIST);
    assert!(matches!(f.reply, Reply::Ack { errno: 17 }), "{f:?}");
    assert!(matches!(frame(DONE).reply, Reply::Done));
    let info = message(INFO_REPLY).info().expect("info");
    assert_eq!(
        info,
        Info {
            version: 0x010201,
            conn_tab_size: 4096
        }
    );
    assert_eq!(info.version_string(), "1.2.1");
    assert_eq!(
        message(CONFIG_REPLY).timeouts(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
}

#[test]
fn several_messages_in_one_datagram_and_truncation() {
    let mut b = bytes(ACK);
    b.extend(bytes(ERROR_EEXIST));
    b.extend(bytes(DONE));
    let kinds: Vec<String> = frames(&b)
        .map(|f| format!("{:?}", f.expect("parses").reply))
        .collect();
    assert_eq!(kinds, ["Ack { errno: 0 }", "Ack { errno: 17 }", "Done"]);
    // A cut-off datagram yields an error item and stops; it never panics or loops.
    let cut = &b[..b.len() - 3];
    let items: Vec<bool> = frames(cut).map(|f| f.is_ok()).collect();
    assert_eq!(items, [true, true, false]);
}
