//! The BFD lab: namespaces around a bridge, lvsd (and FRR's bfdd, keepalived) as BFD peers,
//! and a packet observer that timestamps every BFD Control packet on a node's link in the
//! kernel (SIOCGSTAMP), so detection times are measured on the wire to the millisecond.
//!
//! ```text
//!   f: br0 10.77.0.1/24 fd77::1/64 (+ .11 for multihop)   FRR zebra + bfdd
//!     ├── pa ── a: eth0 10.77.0.2/24 fd77::2/64 (+ .12)   lvsd
//!     └── pb ── b: eth0 10.77.0.3/24 fd77::3/64 (+ .13)   lvsd / keepalived
//! ```
#![allow(dead_code)]

#[path = "../anycast_lab/mod.rs"]
mod anycast_lab;

pub use anycast_lab::{Frr, Ns, run};

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lvsd::bfd::packet::{self, Control};

pub struct Lab {
    pub f: Ns,
    pub a: Ns,
    pub b: Ns,
    pub dir: PathBuf,
}

impl Lab {
    /// `tag` keeps concurrent labs apart (namespaces `bfd-<tag>-f` …).
    pub fn new(tag: &str) -> Lab {
        for tool in ["ip", "nft"] {
            assert!(
                Command::new(tool).arg("-V").output().is_ok(),
                "the BFD lab needs `{tool}` (iproute2, nftables)"
            );
        }
        let name = |n: &str| format!("bfd-{tag}-{n}");
        let (f, a, b) = (Ns::new(name("f")), Ns::new(name("a")), Ns::new(name("b")));
        let dir = std::env::temp_dir().join(format!("lvsd-bfd-lab-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        f.batch("link add br0 type bridge\nlink set br0 up\naddr add 10.77.0.1/24 dev br0\naddr add 10.77.0.11/24 dev br0\naddr add fd77::1/64 dev br0 nodad\n");
        for (ns, port, host) in [(&a, "pa", 2), (&b, "pb", 3)] {
            run(Command::new("ip").args([
                "link", "add", "eth0", "netns", &ns.0, "type", "veth", "peer", "name", port,
                "netns", &f.0,
            ]));
            f.batch(&format!("link set {port} master br0\nlink set {port} up\n"));
            ns.batch(&format!(
                "link set eth0 up\naddr add 10.77.0.{host}/24 dev eth0\naddr add 10.77.0.{}/24 dev eth0\naddr add fd77::{host}/64 dev eth0 nodad\n",
                host + 10
            ));
        }
        Lab { f, a, b, dir }
    }

    /// FRR's zebra + bfdd in `f` with `config` (vtysh syntax).
    pub fn frr(&self, config: &str) -> Frr {
        Frr::start_with(&self.f, &self.dir.join("frr"), config, &["zebra", "bfdd"])
    }

    /// Whether `ns` holds `addr` on eth0.
    pub fn has(ns: &Ns, addr: &str) -> bool {
        let o = Command::new("ip")
            .args(["-n", &ns.0, "-o", "addr", "show", "dev", "eth0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains(&format!(" {addr}/"))
    }
}

/// Polls `f` every 10 ms until it holds or `limit` passes; the time it took.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// An lvsd daemon in a namespace (`-n -l`, its own pid files, socket and state directory),
/// killed on drop.
pub struct Lvsd {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Lvsd {
    pub fn start(ns: &Ns, dir: &Path, name: &str, conf: &str, extra: &[&str]) -> Lvsd {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let cf = d.join("keepalived.conf");
        std::fs::write(&cf, conf).unwrap();
        let log = d.join("log");
        let p = |f: &str| d.join(f).to_str().unwrap().to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(env!("CARGO_BIN_EXE_lvsd"))
            .args(["-n", "-l"])
            // VRRP only, unless the test asks for the checkers.
            .args(if extra.contains(&"--health-check-only") {
                &[][..]
            } else {
                &["-P"][..]
            })
            .arg("-f")
            .arg(&cf)
            .args([
                "-p",
                &p("main.pid"),
                "-r",
                &p("vrrp.pid"),
                "-c",
                &p("checkers.pid"),
            ])
            .args(["-b", &p("bfd.pid"), "--ctl-socket", &p("ctl.sock")])
            .args(["--state-dir", &p("state")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start lvsd");
        Lvsd {
            child: Some(child),
            log,
        }
    }
    /// GET `path` over the daemon's control socket (HTTP/1.1, one request per connection);
    /// the response body.
    pub fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let sock = self.log.with_file_name("ctl.sock");
        let mut s = std::os::unix::net::UnixStream::connect(&sock)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", sock.display(), self.log_text()));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: lvsd\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.starts_with("HTTP/1.1 200"), "GET {path}: {text}");
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        // A chunked body: join the chunks (sizes on their own lines).
        if text
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            let mut joined = String::new();
            let mut rest = body;
            while let Some((size, tail)) = rest.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 || tail.len() < n {
                    break;
                }
                joined.push_str(&tail[..n]);
                rest = tail[n..].trim_start_matches("\r\n");
            }
            return joined;
        }
        body.to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Waits for a log line containing every one of `words`.
    pub fn wait_log(&self, limit: Duration, words: &[&str]) -> bool {
        wait_until(limit, || {
            self.log_text()
                .lines()
                .any(|l| words.iter().all(|w| l.contains(w)))
        })
        .is_some()
    }
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(c) = &self.child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
        }
    }
    pub fn wait(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        self.wait();
    }
}

/// One BFD Control packet seen on the link.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Kernel timestamp (seconds, realtime).
    pub at: f64,
    /// Sent by this node (PACKET_OUTGOING) rather than received.
    pub outgoing: bool,
    pub src: IpAddr,
    pub dport: u16,
    pub sport: u16,
    pub ttl: u8,
    pub c: Control,
}

/// Captures BFD packets (UDP to 3784 / 4784) on `ifname` of a namespace until dropped.
pub struct Observer {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Observer {
    pub fn start(ns: &Ns, ifname: &str) -> Observer {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v, ifname) = (stop.clone(), seen.clone(), ifname.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn_in(move || capture(&ifname, &s, &v, ready_tx));
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("observer did not start");
        Observer {
            stop,
            seen,
            thread: Some(thread),
        }
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    /// Forgets what was seen so far.
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `SIOCGSTAMP` (linux/sockios.h): the receive time of the last packet read.
const SIOCGSTAMP: libc::c_ulong = 0x8906;

fn capture(
    ifname: &str,
    stop: &AtomicBool,
    seen: &Mutex<Vec<Seen>>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let eth_p_all = (libc::ETH_P_ALL as u16).to_be() as i32;
    let sock = socket2::Socket::new(
        socket2::Domain::PACKET,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(eth_p_all)),
    )
    .expect("AF_PACKET socket");
    let ifindex = nix::net::if_::if_nametoindex(ifname).expect("interface");
    // SAFETY: a zeroed sockaddr_ll is valid; the fields set are the ones bind() reads.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = eth_p_all as u16;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: valid fd and sockaddr_ll of the stated size.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(r, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let _ = ready.send(());
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: recvfrom writes at most buf.len() bytes and a sockaddr_ll into `from`.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut fl = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        let n = unsafe {
            libc::recvfrom(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut fl,
            )
        };
        if n <= 0 {
            continue;
        }
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: SIOCGSTAMP writes one timeval: the kernel's receive time of that packet.
        unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSTAMP, &mut tv) };
        let at = tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        if let Some(mut s) = parse(&buf[..n as usize]) {
            s.at = at;
            s.outgoing = from.sll_pkttype == libc::PACKET_OUTGOING;
            seen.lock().unwrap().push(s);
        }
    }
}

/// Ethernet → IPv4/IPv6 → UDP to 3784/4784 → a Control packet.
fn parse(f: &[u8]) -> Option<Seen> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let ip = f.get(14..)?;
    let (src, ttl, udp) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != 17 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            (IpAddr::from(src), *ip.get(8)?, ip.get(ihl..)?)
        }
        0x86dd => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            (IpAddr::from(src), *ip.get(7)?, ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    if dport != packet::PORT_SINGLE_HOP && dport != packet::PORT_MULTI_HOP {
        return None;
    }
    let c = packet::decode(udp.get(8..)?).ok()?;
    Some(Seen {
        at: 0.0,
        outgoing: false,
        src,
        dport,
        sport,
        ttl,
        c,
    })
}

/// FRR's `show bfd peers json` entry for `peer` (multihop or not).
pub fn frr_peer(frr: &Frr, peer: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&frr.vtysh("show bfd peers json")).unwrap_or_default();
    v.as_array()
        .and_then(|a| a.iter().find(|p| p["peer"] == peer).cloned())
        .unwrap_or_default()
}

/// Median gap (ms) between consecutive packets matching `f`.
pub fn median_gap_ms(seen: &[Seen], f: impl Fn(&Seen) -> bool) -> f64 {
    let t: Vec<f64> = seen.iter().filter(|s| f(s)).map(|s| s.at).collect();
    let mut gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    gaps.get(gaps.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Kept after a failure, for the logs.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Lvsd {
    /// Rewrites its configuration file and sends SIGHUP (a reload).
    pub fn reload(&self, conf: &str) {
        let cf = self.log.with_file_name("keepalived.conf");
        std::fs::write(&cf, conf).unwrap();
        self.signal(nix::sys::signal::Signal::SIGHUP);
    }
}

/// The time (ms) from `peer`'s last packet before the cut to `detector`'s first Down packet
/// with diagnostic 1 (detection time expired), both as the observer timestamped them.
pub fn detection_ms(seen: &[Seen], detector: &str, peer: &str) -> f64 {
    use lvsd::bfd::packet::{Diag, State};
    let down = seen
        .iter()
        .find(|s| {
            s.src.to_string() == detector
                && s.c.state == State::Down
                && s.c.diag == Diag::DetectionTimeExpired
        })
        .unwrap_or_else(|| panic!("no Down (detection time expired) from {detector}: {seen:#?}"));
    let last = seen
        .iter()
        .filter(|s| s.src.to_string() == peer && s.at < down.at)
        .map(|s| s.at)
        .fold(f64::NAN, f64::max);
    assert!(
        !last.is_nan(),
        "no packet from {peer} before {detector}'s Down: {seen:#?}"
    );
    (down.at - last) * 1000.0
}
