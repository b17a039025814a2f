//! `garp_extra_if` on the namespace LAN (tests/vrrp_lab): an instance on eth0 with one VIP on
//! eth0 and one on a second interface (eth1, `dev eth1`). What leaves eth1 is captured on its
//! veth peer: with `garp_extra_if all 1`, a gratuitous ARP for the eth1 VIP (with eth1's MAC)
//! every second while MASTER and never one for the eth0 VIP; with `garp_extra_if 1` (VMAC
//! interfaces only; eth1 is not one) only the GARP of the transition to MASTER. keepalived
//! 2.2.7 runs the same configurations in the same run and the captures are compared.

mod vrrp_lab;

use std::time::{Duration, Instant};

use vrrp_lab::{Kind, Lab};

const N1: u8 = 1;
const VIP0: &str = "10.77.0.100";
const VIP1: &str = "10.88.0.100";

fn conf(extra: &str) -> String {
    format!(
        "global_defs {{
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
}}
vrrp_instance A {{
  interface eth0
  state BACKUP
  virtual_router_id 51
  priority 150
  advert_int 0.2
  version 3
  garp_extra_if {extra}
  virtual_ipaddress {{
    {VIP0}/24
    {VIP1}/24 dev eth1
  }}
}}
"
    )
}

/// An AF_PACKET socket for ARP on `ifname` of the calling thread's namespace.
fn arp_socket(ifname: &str) -> i32 {
    let name = std::ffi::CString::new(ifname).expect("ifname");
    // SAFETY: plain socket/bind/setsockopt calls with valid arguments; closed by the caller.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from(0x0806u16.to_be()),
        );
        assert!(fd >= 0, "AF_PACKET: {}", std::io::Error::last_os_error());
        let ix = libc::if_nametoindex(name.as_ptr()) as i32;
        assert!(ix > 0, "no {ifname}");
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0x0806u16.to_be();
        sll.sll_ifindex = ix;
        let r = libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        fd
    }
}

/// One gratuitous ARP seen: (when, sender IP, sender MAC).
type Garp = (Instant, String, [u8; 6]);

/// Captures ARP frames arriving on eth1p in `ns` for `d`.
fn capture(ns: String, d: Duration) -> std::thread::JoinHandle<Vec<Garp>> {
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let fd = arp_socket("eth1p");
        let t = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while t.elapsed() < d {
            // SAFETY: recv writes at most buf.len() bytes.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            // Ethernet 14 + ARP: sender MAC at 22, sender IP at 28, target IP at 38.
            if n >= 42 && buf[28..32] == buf[38..42] {
                let ip = std::net::Ipv4Addr::new(buf[28], buf[29], buf[30], buf[31]);
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&buf[22..28]);
                out.push((Instant::now(), ip.to_string(), mac));
            }
        }
        // SAFETY: closing our own fd.
        unsafe { libc::close(fd) };
        out
    })
}

fn eth1_mac(lab: &Lab) -> [u8; 6] {
    let o = lab.exec(N1, &["cat", "/sys/class/net/eth1/address"]);
    let s = String::from_utf8_lossy(&o.stdout);
    let mut mac = [0u8; 6];
    for (i, p) in s.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(p, 16).expect("mac");
    }
    mac
}

/// Runs `kind` with `extra`; returns the GARPs seen on eth1 from MASTER on, as seconds after
/// the first one.
fn run(lab: &Lab, kind: Kind, extra: &str) -> Vec<f64> {
    let sniff = capture(lab.ns(N1), Duration::from_millis(4500));
    std::thread::sleep(Duration::from_millis(100));
    let d = match kind {
        Kind::Lvsd => lab.start_lvsd_text(N1, &conf(extra), false),
        Kind::Keepalived => lab.start_keepalived_text(N1, &conf(extra)),
    };
    assert!(
        lab.wait_for(N1, VIP0, true, Duration::from_secs(3))
            .is_some(),
        "{kind:?} never master: {}",
        d.log_text()
    );
    let seen = sniff.join().expect("capture");
    drop(d);
    let _ = lab.exec(
        N1,
        &["ip", "addr", "del", &format!("{VIP0}/24"), "dev", "eth0"],
    );
    let _ = lab.exec(
        N1,
        &["ip", "addr", "del", &format!("{VIP1}/24"), "dev", "eth1"],
    );
    let mac = eth1_mac(lab);
    assert!(
        seen.iter().all(|(_, ip, m)| ip == VIP1 && *m == mac),
        "{kind:?} {extra}: only the eth1 VIP, with eth1's MAC, belongs on eth1: {seen:?}"
    );
    let t0 = seen.first().map(|s| s.0);
    seen.iter()
        .map(|(t, _, _)| t0.map_or(0.0, |t0| t.duration_since(t0).as_secs_f64()))
        .collect()
}

#[test]
fn garp_extra_if_repeats_garps_on_the_other_interface_as_keepalived() {
    let lab = Lab::new("vxge");
    for args in [
        vec![
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
        ],
        vec!["ip", "link", "set", "eth1p", "up"],
        vec!["ip", "link", "set", "eth1", "up"],
        vec!["ip", "addr", "add", "10.88.0.1/24", "dev", "eth1"],
    ] {
        let o = lab.exec(N1, &args);
        assert!(o.status.success(), "{args:?}");
    }
    let ours_all = run(&lab, Kind::Lvsd, "all 1");
    let theirs_all = run(&lab, Kind::Keepalived, "all 1");
    let ours = run(&lab, Kind::Lvsd, "1");
    let theirs = run(&lab, Kind::Keepalived, "1");
    eprintln!(
        "garp_extra_if all 1, GARPs on eth1 (s after the first): lvsd {ours_all:.2?}, keepalived {theirs_all:.2?}"
    );
    eprintln!(
        "garp_extra_if 1 (VMAC only), GARPs on eth1: lvsd {ours:.2?}, keepalived {theirs:.2?}"
    );
    // `all`: the transition's GARP, then one per second (≥ 3 in the capture), 1 s apart.
    assert!(ours_all.len() >= 3, "{ours_all:?}");
    for w in ours_all.windows(2) {
        let gap = w[1] - w[0];
        assert!((0.9..1.1).contains(&gap), "gap {gap} in {ours_all:?}");
    }
    assert!(
        ours_all.len().abs_diff(theirs_all.len()) <= 1,
        "lvsd {ours_all:?} keepalived {theirs_all:?}"
    );
    // Without `all` and no VMAC: only the transition's GARP, as keepalived.
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(theirs.len(), 1, "keepalived: {theirs:?}");
}
