//! What lvsd's VRRP puts on the wire and in the kernel, seen from the namespace LAN
//! (tests/vrrp_lab): `use_vmac` answers ARP once with the VMAC (the parent's arp_ignore /
//! arp_filter set as keepalived sets them; keepalived checked the same way), and the
//! per-feature settings of keepalived.conf(5) that change packets or sockets.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::{CLIENT, Daemon, Kind, Lab, Spec};

const N1: u8 = 1;
const N2: u8 = 2;
const VIP: &str = "10.77.0.100";
const VMAC: &str = "00:00:5e:00:01:33";

fn mac_str(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A raw AF_PACKET socket on `eth0` of the calling thread's namespace, all protocols.
fn packet_socket(proto: u16) -> (i32, i32) {
    // SAFETY: plain socket/ioctl calls with valid arguments; the fd is closed by the caller.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto.to_be()));
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let ix = libc::if_nametoindex(c"eth0".as_ptr()) as i32;
        assert!(ix > 0, "no eth0");
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ix;
        let r = libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        (fd, ix)
    }
}

/// Frames received on the socket for `d` (Ethernet header included).
fn collect(fd: i32, d: Duration) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 2048];
    while t.elapsed() < d {
        // SAFETY: recv writes at most buf.len() bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            out.push(buf[..n as usize].to_vec());
        }
    }
    out
}

/// Sends one ARP request for `ip` from the client and returns the sender MAC of every reply
/// for it within a second.
fn arp_replies(lab: &Lab, ip: &str) -> Vec<String> {
    let target: std::net::Ipv4Addr = ip.parse().expect("ipv4");
    lab.in_ns(CLIENT, move || {
        let (fd, ix) = packet_socket(0x0806);
        let me = [0x02, 0x77, 0, 0, 0, 0x0a];
        let mut f = Vec::new();
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&me);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&me);
        f.extend_from_slice(&[10, 77, 0, 10]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target.octets());
        // SAFETY: sockaddr_ll filled for this interface; the frame buffer is valid.
        unsafe {
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = ix;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
            let r = libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert!(r > 0, "sendto: {}", std::io::Error::last_os_error());
        }
        let frames = collect(fd, Duration::from_secs(1));
        // SAFETY: closing our own fd.
        unsafe { libc::close(fd) };
        frames
            .iter()
            .filter(|p| p.len() >= 42 && p[20..22] == [0, 2] && p[28..32] == target.octets())
            .map(|p| mac_str(&p[22..28]))
            .collect()
    })
}

fn sysctl(lab: &Lab, node: u8, ifname: &str, key: &str) -> String {
    let o = lab.exec(
        node,
        &["cat", &format!("/proc/sys/net/ipv4/conf/{ifname}/{key}")],
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn wait_vip_on(lab: &Lab, node: u8, dev: &str) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(8) {
        let o = lab.exec(node, &["ip", "-br", "addr", "show", "dev", dev]);
        if String::from_utf8_lossy(&o.stdout).contains(VIP) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn vmac_conf(prio: u8, extra: &str) -> String {
    Spec::v4(2, prio, 1.0).keepalived_conf().replace(
        "  interface eth0\n",
        &format!("  interface eth0\n  use_vmac\n{extra}"),
    )
}

/// The master (`kind`) with `use_vmac`: one ARP reply for the VIP, from the VMAC.
fn one_arp_reply(tag: &str, kind: Kind) {
    let lab = Lab::new(tag);
    let conf = vmac_conf(150, "");
    let mut d: Daemon = match kind {
        Kind::Lvsd => lab.start_lvsd_text(N1, &conf, false),
        Kind::Keepalived => lab.start_keepalived_text(N1, &conf),
    };
    assert!(wait_vip_on(&lab, N1, "vrrp.51"), "VIP not on vrrp.51");
    assert_eq!(sysctl(&lab, N1, "eth0", "arp_ignore"), "1");
    assert_eq!(sysctl(&lab, N1, "eth0", "arp_filter"), "1");
    assert_eq!(sysctl(&lab, N1, "vrrp.51", "arp_ignore"), "1");
    assert_eq!(sysctl(&lab, N1, "vrrp.51", "accept_local"), "1");
    // Adverts leave from the VMAC (no vmac_xmit_base).
    let seen = adverts_seen(&lab, CLIENT, Duration::from_millis(1500));
    assert!(!seen.is_empty(), "{kind:?}: no adverts");
    assert!(
        seen.iter().all(|a| a.src_mac == VMAC),
        "{kind:?}: adverts not from the VMAC: {seen:?}"
    );
    let replies = arp_replies(&lab, VIP);
    assert_eq!(
        replies,
        vec![VMAC.to_string()],
        "{kind:?}: ARP replies for {VIP}"
    );
    // The node's own address is still answered by the parent.
    assert_eq!(arp_replies(&lab, "10.77.0.1"), vec!["02:77:00:00:00:01"]);
    d.term();
    d.wait();
}

#[test]
fn use_vmac_lvsd_answers_arp_once_with_the_vmac() {
    one_arp_reply("wa", Kind::Lvsd);
}

#[test]
fn use_vmac_keepalived_answers_arp_once_with_the_vmac() {
    one_arp_reply("wb", Kind::Keepalived);
}

/// One IPv4 VRRP or AH datagram seen on the wire.
#[derive(Debug, Clone)]
struct Advert {
    src_mac: String,
    src: std::net::Ipv4Addr,
    ttl: u8,
}

/// VRRP adverts (IP protocol 112 or 51) reaching `node`'s eth0 during `d`.
fn adverts_seen(lab: &Lab, node: u8, d: Duration) -> Vec<Advert> {
    lab.in_ns(node, move || {
        let (fd, _) = packet_socket(0x0800);
        let frames = collect(fd, d);
        // SAFETY: closing our own fd.
        unsafe { libc::close(fd) };
        frames
            .iter()
            .filter(|f| f.len() >= 34 && f[12..14] == [8, 0] && matches!(f[23], 112 | 51))
            .map(|f| Advert {
                src_mac: mac_str(&f[6..12]),
                src: std::net::Ipv4Addr::new(f[26], f[27], f[28], f[29]),
                ttl: f[22],
            })
            .collect()
    })
}

fn start(lab: &Lab, kind: Kind, node: u8, conf: &str) -> Daemon {
    match kind {
        Kind::Lvsd => lab.start_lvsd_text(node, conf, false),
        Kind::Keepalived => lab.start_keepalived_text(node, conf),
    }
}

/// `vmac_xmit_base`: the VIP on the VMAC, the adverts from the parent's MAC.
#[test]
fn vmac_xmit_base_sends_adverts_from_the_parent() {
    let lab = Lab::new("wc");
    let mut d = start(&lab, Kind::Lvsd, N1, &vmac_conf(150, "  vmac_xmit_base\n"));
    assert!(wait_vip_on(&lab, N1, "vrrp.51"), "VIP not on vrrp.51");
    let seen = adverts_seen(&lab, CLIENT, Duration::from_millis(2500));
    assert!(seen.len() >= 2, "no adverts: {seen:?}");
    assert!(
        seen.iter().all(|a| a.src_mac == "02:77:00:00:00:01"),
        "adverts not from the parent: {seen:?}"
    );
    assert_eq!(arp_replies(&lab, VIP), vec![VMAC.to_string()]);
    d.term();
    d.wait();
}

/// `unicast_ttl 7`: unicast adverts leave with TTL 7; lvsd and keepalived alike.
fn unicast_ttl(tag: &str, kind: Kind) {
    let lab = Lab::new(tag);
    let spec = Spec {
        unicast: Some(("10.77.0.1".into(), "10.77.0.2".into())),
        ..Spec::v4(2, 150, 1.0)
    };
    let conf = spec
        .keepalived_conf()
        .replace("  unicast_src_ip", "  unicast_ttl 7\n  unicast_src_ip");
    assert!(conf.contains("unicast_ttl 7"), "{conf}");
    let mut d = start(&lab, kind, N1, &conf);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(8))
            .is_some(),
        "{kind:?} never became MASTER"
    );
    let seen = adverts_seen(&lab, N2, Duration::from_millis(2500));
    let from1: Vec<&Advert> = seen.iter().filter(|a| a.src.octets()[3] == 1).collect();
    assert!(from1.len() >= 2, "{kind:?}: no adverts at n2: {seen:?}");
    assert!(
        from1.iter().all(|a| a.ttl == 7),
        "{kind:?}: TTL not 7: {from1:?}"
    );
    d.term();
    d.wait();
}

#[test]
fn unicast_ttl_lvsd() {
    unicast_ttl("wd", Kind::Lvsd);
}

#[test]
fn unicast_ttl_keepalived() {
    unicast_ttl("we", Kind::Keepalived);
}

/// `kernel_rx_buf_size`: the receive socket's buffer (`ss -m`: the kernel doubles SO_RCVBUF).
#[test]
fn kernel_rx_buf_size_sets_the_receive_buffer() {
    let lab = Lab::new("wf");
    let conf = Spec::v4(2, 150, 1.0).keepalived_conf().replace(
        "  interface eth0\n",
        "  interface eth0\n  kernel_rx_buf_size 40000\n",
    );
    let mut d = start(&lab, Kind::Lvsd, N1, &conf);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(8))
            .is_some(),
        "never MASTER"
    );
    let pid = d.pid().expect("lvsd pid");
    let bufs = raw_rcvbufs(pid, 112);
    // The kernel doubles SO_RCVBUF; the send socket keeps the default.
    assert!(
        bufs.contains(&80000),
        "SO_RCVBUF of lvsd's VRRP sockets: {bufs:?}"
    );
    d.term();
    d.wait();
}

/// SO_RCVBUF of every raw socket of protocol `proto` held by process `pid` (copied out with
/// pidfd_getfd, which needs root).
fn raw_rcvbufs(pid: i32, proto: i32) -> Vec<i32> {
    let get = |fd: i32, opt: i32| -> i32 {
        let mut v: i32 = 0;
        let mut l = std::mem::size_of::<i32>() as u32;
        // SAFETY: getsockopt writes an int into v.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&mut v as *mut i32).cast(),
                &mut l,
            )
        };
        if r == 0 { v } else { -1 }
    };
    // SAFETY: raw syscalls with valid arguments; every fd obtained is closed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        let Ok(n) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, n, 0) } as i32;
        if fd < 0 {
            continue;
        }
        if get(fd, libc::SO_TYPE) == libc::SOCK_RAW && get(fd, libc::SO_PROTOCOL) == proto {
            out.push(get(fd, libc::SO_RCVBUF));
        }
        unsafe { libc::close(fd) };
    }
    unsafe { libc::close(pidfd) };
    out
}

/// Frames on `ns`'s eth0 for `d`, with their arrival time, captured on a thread of its own.
fn sniff_bg(
    ns: String,
    proto: u16,
    d: Duration,
) -> std::thread::JoinHandle<Vec<(Instant, Vec<u8>)>> {
    std::thread::spawn(move || {
        let fd = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let (fd, _) = packet_socket(proto);
        let t = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while t.elapsed() < d {
            // SAFETY: recv writes at most buf.len() bytes.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 {
                out.push((Instant::now(), buf[..n as usize].to_vec()));
            }
        }
        // SAFETY: closing our own fd.
        unsafe { libc::close(fd) };
        out
    })
}

/// A well-formed VRRPv2 advert for vrid 51 with `prio`, sent from the client.
fn inject_advert(lab: &Lab, prio: u8) {
    use lvsd::vrrp::packet::{Advert, Auth, ChecksumMode, MCAST_V4, Version};
    let b = Advert {
        version: Version::V2,
        vrid: 51,
        priority: prio,
        interval_cs: 100,
        addrs: vec![VIP.parse().expect("vip")],
        auth: Auth::None,
    }
    .encode(
        "10.77.0.10".parse().expect("ip"),
        MCAST_V4.into(),
        ChecksumMode::PseudoHeader,
    );
    lab.in_ns(CLIENT, move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).expect("raw");
        s.bind_device(Some(b"eth0")).expect("bind");
        s.set_multicast_ttl_v4(255).expect("ttl");
        s.send_to(
            &b,
            &SockAddr::from(std::net::SocketAddr::new(MCAST_V4.into(), 0)),
        )
        .expect("send");
    });
}

/// `garp_lower_prio_delay 2` + `garp_lower_prio_repeat 3`: a master hearing a lower-priority
/// advert sends 3 GARPs at once and 3 more 2 s later (keepalived 2.2.7 measured the same).
fn lower_prio_garps(tag: &str, kind: Kind) {
    let lab = Lab::new(tag);
    let conf = Spec::v4(2, 150, 1.0).keepalived_conf().replace(
        "  interface eth0\n",
        "  interface eth0\n  garp_master_delay 0\n  garp_master_repeat 1\n  garp_lower_prio_delay 2\n  garp_lower_prio_repeat 3\n",
    );
    let mut d = start(&lab, kind, N1, &conf);
    assert!(
        lab.wait_for(N1, VIP, true, Duration::from_secs(8))
            .is_some(),
        "{kind:?} never became MASTER"
    );
    std::thread::sleep(Duration::from_millis(500));
    let sniff = sniff_bg(lab.ns(N2), 0x0806, Duration::from_millis(3500));
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    inject_advert(&lab, 100);
    let frames = sniff.join().expect("sniffer");
    let vip: std::net::Ipv4Addr = VIP.parse().expect("vip");
    let garps: Vec<f64> = frames
        .iter()
        .filter(|(_, f)| f.len() >= 42 && f[28..32] == vip.octets() && f[38..42] == vip.octets())
        .map(|(t, _)| t.saturating_duration_since(t0).as_secs_f64())
        .collect();
    let first = garps.iter().filter(|&&t| t < 0.5).count();
    let second = garps.iter().filter(|&&t| (1.5..3.0).contains(&t)).count();
    assert_eq!(
        (first, second, garps.len()),
        (3, 3, 6),
        "{kind:?}: GARPs at {garps:?}"
    );
    d.term();
    d.wait();
}

#[test]
fn garp_lower_prio_lvsd() {
    lower_prio_garps("wg", Kind::Lvsd);
}

#[test]
fn garp_lower_prio_keepalived() {
    lower_prio_garps("wh", Kind::Keepalived);
}

/// `use_vmac NAME MAC` with five octets: the VMAC is MAC:VRID, and answers ARP for the VIP.
#[test]
fn use_vmac_with_a_mac_address() {
    let lab = Lab::new("wi");
    let conf = Spec::v4(2, 150, 1.0).keepalived_conf().replace(
        "  interface eth0\n",
        "  interface eth0\n  use_vmac vmac51 02:00:5e:10:20\n",
    );
    let mut d = start(&lab, Kind::Lvsd, N1, &conf);
    assert!(wait_vip_on(&lab, N1, "vmac51"), "VIP not on vmac51");
    assert_eq!(
        arp_replies(&lab, VIP),
        vec!["02:00:5e:10:20:33".to_string()]
    );
    d.term();
    d.wait();
}

/// Arrival times (s after `t0`) of the GARPs for the VIP among `frames`.
fn garp_times(frames: &[(Instant, Vec<u8>)], t0: Instant) -> Vec<f64> {
    let vip: std::net::Ipv4Addr = VIP.parse().expect("vip");
    frames
        .iter()
        .filter(|(_, f)| f.len() >= 42 && f[28..32] == vip.octets() && f[38..42] == vip.octets())
        .map(|(t, _)| t.saturating_duration_since(t0).as_secs_f64())
        .collect()
}

/// `vrrp_garp_interval 0.3`: the 4 GARPs of a takeover leave at least 0.3 s apart.
/// keepalived 2.2.7 spaces them too but sends only the first two of the burst once an interval
/// is set (measured: the queued rest never leave); lvsd sends the whole burst, as
/// keepalived.conf(5) describes the setting.
fn garp_interval(tag: &str, kind: Kind) {
    let lab = Lab::new(tag);
    let conf = Spec::v4(2, 150, 1.0)
        .keepalived_conf()
        .replace(
            "  router_id lab\n",
            "  router_id lab\n  vrrp_garp_interval 0.3\n",
        )
        .replace(
            "  interface eth0\n",
            "  interface eth0\n  garp_master_delay 0\n  garp_master_repeat 4\n",
        );
    let sniff = sniff_bg(lab.ns(N2), 0x0806, Duration::from_millis(6500));
    let t0 = Instant::now();
    let mut d = start(&lab, kind, N1, &conf);
    let frames = sniff.join().expect("sniffer");
    let t = garp_times(&frames, t0);
    match kind {
        Kind::Lvsd => assert_eq!(t.len(), 4, "{kind:?}: GARPs at {t:?}"),
        Kind::Keepalived => assert!(t.len() >= 2, "{kind:?}: GARPs at {t:?}"),
    }
    for w in t.windows(2) {
        assert!(
            w[1] - w[0] > 0.25 && w[1] - w[0] < 0.6,
            "{kind:?}: GARP gaps {t:?}"
        );
    }
    d.term();
    d.wait();
}

#[test]
fn garp_interval_lvsd() {
    garp_interval("wj", Kind::Lvsd);
}

#[test]
fn garp_interval_keepalived() {
    garp_interval("wk", Kind::Keepalived);
}

/// `garp_group { garp_interval 0.3; interface eth0 }`: the pacing is shared by every instance
/// on the interface: two instances taking over together interleave their GARPs, all of them
/// at least 0.3 s apart.
#[test]
fn garp_group_paces_the_interface_across_instances() {
    let lab = Lab::new("wl");
    let one = Spec::v4(2, 150, 1.0).keepalived_conf().replace(
        "  interface eth0\n",
        "  interface eth0\n  garp_master_delay 0\n  garp_master_repeat 2\n",
    );
    let two = one
        .split_once("vrrp_instance")
        .map(|(_, i)| format!("vrrp_instance{i}"))
        .expect("an instance")
        .replace("VI_1", "VI_2")
        .replace("virtual_router_id 51", "virtual_router_id 52")
        .replace("10.77.0.100/24", "10.77.0.101/24");
    let conf = format!("{one}{two}garp_group {{\n  garp_interval 0.3\n  interface eth0\n}}\n");
    let sniff = sniff_bg(lab.ns(N2), 0x0806, Duration::from_millis(6000));
    let t0 = Instant::now();
    let mut d = start(&lab, Kind::Lvsd, N1, &conf);
    let frames = sniff.join().expect("sniffer");
    let t: Vec<f64> = frames
        .iter()
        .filter(|(_, f)| f.len() >= 42 && f[28..31] == [10, 77, 0] && matches!(f[31], 100 | 101))
        .map(|(t, _)| t.saturating_duration_since(t0).as_secs_f64())
        .collect();
    assert_eq!(t.len(), 4, "GARPs at {t:?}\n{conf}");
    for w in t.windows(2) {
        assert!(w[1] - w[0] > 0.25, "GARP gaps {t:?}");
    }
    d.term();
    d.wait();
}
