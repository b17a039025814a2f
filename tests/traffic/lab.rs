//! The traffic lab: a client, two directors and three real servers in network namespaces of
//! the IPVS VM (tests/vm), joined by two bridges, with real HTTP and stream traffic.
//!
//! ```text
//!  lab-cl 10.1.0.10 (+ .20-.29) ── bext ── lab-d1 ext 10.1.0.2   int 10.2.0.2 ── bint ── lab-r1 10.2.0.11
//!                                        └─ lab-d2 ext 10.1.0.3   int 10.2.0.3 ──┘      lab-r2 10.2.0.12
//!  VIPs (VRRP VI_EXT): 10.1.0.100 NAT, .101 DR, .102 TUN;  gateway VIP (VI_INT) 10.2.0.1   lab-r3 10.2.0.13
//! ```
//!
//! Real servers route everything via the gateway VIP 10.2.0.1 (the classic LVS-NAT pair: the
//! NAT replies must cross the director; DR and TUN replies cross it as plain forwarding). They
//! hold the DR VIP on `lo` and the TUN VIP on `tunl0`, with `arp_ignore 1`/`arp_announce 2`.
//! Servers and clients are threads of the calling process whose sockets were created inside the
//! namespace (`setns` on a scratch thread): no helper processes, exact timings. Directors are
//! real `lvsd` or `keepalived` processes under `ip netns exec`, from the same keepalived.conf.
//!
//! Shared by tests/traffic_vm.rs (reduced runs), examples/traffic-bench.rs (figures) and
//! examples/demo.rs. Needs root and an IPVS kernel: call it inside the VM only.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const CLIENT: &str = "lab-cl";
pub const DIRECTORS: [&str; 2] = ["lab-d1", "lab-d2"];
pub const SERVERS: [&str; 3] = ["lab-r1", "lab-r2", "lab-r3"];
/// Real-server addresses, in `SERVERS` order.
pub const RS_ADDRS: [&str; 3] = ["10.2.0.11", "10.2.0.12", "10.2.0.13"];
pub const VIP_NAT: &str = "10.1.0.100";
pub const VIP_DR: &str = "10.1.0.101";
pub const VIP_TUN: &str = "10.1.0.102";
/// The client's main address and its extra source addresses (mh, persistence).
pub const CLIENT_ADDR: &str = "10.1.0.10";
pub const CLIENT_SOURCES: std::ops::RangeInclusive<u8> = 20..=29;
pub const STREAM_PORT: u16 = 9000;

/// Runs a shell script (bash -e), panicking with its output on failure.
pub fn sh(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-ec", script])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Output of a command inside a namespace (errors as text, never a panic).
pub fn ns_out(ns: &str, args: &[&str]) -> String {
    match Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
    {
        Ok(o) => {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        }
        Err(e) => format!("{args:?}: {e}"),
    }
}

/// Runs `f` on a new thread whose network namespace is `ns`; sockets it creates stay there.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
}

/// Builds the topology (idempotent: tears down a previous one first).
pub fn up() {
    down();
    let mut s = String::from(
        r#"
set -e
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
for b in bext bint; do
  ip link add $b type bridge forward_delay 0
  echo 0 > /sys/class/net/$b/bridge/multicast_snooping
  ip link set $b up
done
port() { # ns ifname bridge
  ip link add $1-$2 type veth peer name $2 netns $1
  ip link set $1-$2 master $3 up
  ip -n $1 link set $2 up
}
for n in lab-cl lab-d1 lab-d2 lab-r1 lab-r2 lab-r3; do
  ip netns add $n
  ip -n $n link set lo up
  ip netns exec $n sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
port lab-cl ext bext
ip -n lab-cl addr add 10.1.0.10/24 dev ext
for i in $(seq 20 29); do ip -n lab-cl addr add 10.1.0.$i/24 dev ext; done
for d in 1 2; do
  n=lab-d$d
  port $n ext bext; port $n int bint
  ip -n $n addr add 10.1.0.$((d + 1))/24 dev ext
  ip -n $n addr add 10.2.0.$((d + 1))/24 dev int
  ip netns exec $n sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.accept_local=1 \
    net.ipv4.conf.ext.rp_filter=0 net.ipv4.conf.int.rp_filter=0 net.ipv4.vs.expire_nodest_conn=1
done
for r in 1 2 3; do
  n=lab-r$r
  port $n int bint
  ip -n $n addr add 10.2.0.1$r/24 dev int
  ip -n $n route add default via 10.2.0.1
  ip -n $n addr add 10.1.0.101/32 dev lo
  ip -n $n link set tunl0 up
  ip -n $n addr add 10.1.0.102/32 dev tunl0
  ip netns exec $n sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.int.rp_filter=0
done
"#,
    );
    s.push('\n');
    sh(&s);
}

/// Removes the namespaces and bridges (processes inside must be gone).
pub fn down() {
    let _ = Command::new("bash")
        .args([
            "-c",
            // Sockets of the test process may keep a deleted namespace (and its veths) alive:
            // delete the links from the root side first.
            "for l in lab-cl-ext lab-d1-ext lab-d1-int lab-d2-ext lab-d2-int lab-r1-int lab-r2-int lab-r3-int; do \
               ip link del $l 2>/dev/null; done; \
             for n in lab-cl lab-d1 lab-d2 lab-r1 lab-r2 lab-r3; do ip netns del $n 2>/dev/null; done; \
             ip link del bext 2>/dev/null; ip link del bint 2>/dev/null; true",
        ])
        .status();
}

/// Simulates a director host dying (links down) or coming back.
pub fn director_links(ns: &str, up: bool) {
    let st = if up { "up" } else { "down" };
    sh(&format!(
        "ip -n {ns} link set ext {st}; ip -n {ns} link set int {st}"
    ));
}

// ------------------------------------------------------------------------ servers

/// A listening server thread that can be killed (its listener closed) and restarted.
pub struct Server {
    stop: Arc<AtomicBool>,
    fd: i32,
    thread: Option<JoinHandle<()>>,
    /// Live connection sockets (closed on kill, as a process death would).
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl Server {
    /// An HTTP/1.0 server on 0.0.0.0:`port` in `ns` answering every request with `name\n`.
    pub fn http(ns: &str, port: u16, name: &str) -> Server {
        let body = format!("{name}\n");
        Self::start(ns, port, move |mut c: TcpStream| {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = c.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        })
    }

    /// A line echo server on 0.0.0.0:`port` in `ns` (the long-lived stream service). Each
    /// echo's retransmission timeout is noted in [`ECHO_RTO`] (an echo sent towards a dead
    /// director waits the real server's RTO, not the client's).
    pub fn echo(ns: &str, port: u16) -> Server {
        Self::start(ns, port, |c: TcpStream| {
            let Ok(mut w) = c.try_clone() else { return };
            let peer = c.peer_addr().ok();
            let mut r = BufReader::new(c);
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if let (Some(peer), Ok(seq)) = (peer, line.trim().parse::<u64>()) {
                    let mut m = ECHO_RTO.lock().unwrap_or_else(|e| e.into_inner());
                    m.get_or_insert_with(HashMap::new)
                        .insert(peer, (seq, tcp_rto(&w)));
                }
                if w.write_all(line.as_bytes()).is_err() {
                    return;
                }
                line.clear();
            }
        })
    }

    fn start(ns: &str, port: u16, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let l = in_ns(ns, move || {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            s.set_reuse_address(true).expect("SO_REUSEADDR");
            let a: SocketAddr = (Ipv4Addr::UNSPECIFIED, port).into();
            s.bind(&a.into())
                .unwrap_or_else(|e| panic!("bind :{port}: {e}"));
            s.listen(512).expect("listen");
            TcpListener::from(s)
        })
        .join()
        .expect("listener thread");
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let fd = l.as_raw_fd();
        let handle = Arc::new(handle);
        let thread = {
            let (stop, conns) = (stop.clone(), conns.clone());
            thread::spawn(move || {
                let mut id = 0u64;
                for c in l.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(c) = c else { continue };
                    let _ = c.set_nodelay(true);
                    let Ok(k) = c.try_clone() else { continue };
                    id += 1;
                    let me = id;
                    conns.lock().unwrap().insert(me, k);
                    let (h, conns) = (handle.clone(), conns.clone());
                    thread::spawn(move || {
                        h(c);
                        // Close for real: the clone kept for kill() holds the socket open.
                        if let Some(k) = conns.lock().unwrap().remove(&me) {
                            let _ = k.shutdown(std::net::Shutdown::Both);
                        }
                    });
                }
            })
        };
        Server {
            stop,
            fd,
            thread: Some(thread),
            conns,
        }
    }

    /// Stops accepting and resets every open connection: what a killed process leaves.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // shutdown() on a listening socket wakes the blocked accept() (Linux).
        // SAFETY: fd is the listener owned by the accept thread, still open until it is joined.
        unsafe { nix::libc::shutdown(self.fd, nix::libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for (_, c) in self.conns.lock().unwrap().drain() {
            let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.kill();
        }
    }
}

/// HTTP servers on port 80 of every real server (answering r1, r2, r3) and echo servers.
pub struct Backends {
    pub http: Vec<Server>,
    pub echo: Vec<Server>,
}

impl Backends {
    pub fn start() -> Backends {
        Backends {
            http: SERVERS
                .iter()
                .map(|ns| Server::http(ns, 80, &ns[4..]))
                .collect(),
            echo: SERVERS
                .iter()
                .map(|ns| Server::echo(ns, STREAM_PORT))
                .collect(),
        }
    }
    /// Restarts the HTTP server of real server `i` (0-based).
    pub fn restart_http(&mut self, i: usize) {
        self.http[i] = Server::http(SERVERS[i], 80, &SERVERS[i][4..]);
    }
}

// ------------------------------------------------------------------------ client

/// One HTTP request from the client namespace's thread: the name that answered, or why not.
pub fn get(vip: SocketAddr, src: Option<IpAddr>, timeout: Duration) -> Result<String, String> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = src {
        s.bind(&SocketAddr::new(ip, 0).into())
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    s.connect_timeout(&vip.into(), timeout)
        .map_err(|e| format!("connect: {e}"))?;
    let mut c = TcpStream::from(s);
    c.set_read_timeout(Some(timeout)).ok();
    c.set_write_timeout(Some(timeout)).ok();
    c.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = String::new();
    c.read_to_string(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    match resp.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") && !body.is_empty() => {
            Ok(body.trim().to_string())
        }
        _ => Err(format!("bad response {resp:?}")),
    }
}

/// Requests from the client namespace: `(source, answer)` for each `(source, count)`.
pub fn requests(
    vip: SocketAddr,
    plan: Vec<(Option<IpAddr>, usize)>,
) -> Vec<(Option<IpAddr>, Result<String, String>)> {
    in_ns(CLIENT, move || {
        let mut v = Vec::new();
        for (src, n) in plan {
            for _ in 0..n {
                v.push((src, get(vip, src, Duration::from_secs(2))));
            }
        }
        v
    })
    .join()
    .expect("client thread")
}

/// Answers per real-server name; errors under "error".
pub fn tally<'a>(
    answers: impl IntoIterator<Item = &'a Result<String, String>>,
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for a in answers {
        let k = match a {
            Ok(n) => n.clone(),
            Err(_) => "error".to_string(),
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

pub fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("ip"), port)
}

pub fn source(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, i))
}

/// Waits until `n` requests in a row to `vip` succeed and together reach every name in `names`.
pub fn wait_serving(vip: SocketAddr, names: &[&str], within: Duration) -> Result<Duration, String> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    in_ns(CLIENT, move || {
        let t0 = Instant::now();
        let mut last = String::new();
        while t0.elapsed() < within {
            let got: Vec<_> = (0..names.len() * 2)
                .map(|_| get(vip, None, Duration::from_millis(500)))
                .collect();
            if got.iter().all(|g| g.is_ok())
                && names
                    .iter()
                    .all(|n| got.iter().any(|g| g.as_ref().ok() == Some(n)))
            {
                return Ok(t0.elapsed());
            }
            last = format!("{got:?}");
            thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{vip} not serving {names:?} within {within:?}; last: {last}"
        ))
    })
    .join()
    .expect("client thread")
}

/// One request of a load run: when it started (from the run's start), how long it took, answer.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub took: Duration,
    pub answer: Result<String, String>,
}

/// A client sending requests back to back (one every `interval`) until `stop` or `max`.
pub struct Load {
    pub t0: Instant,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Load {
    pub fn start(vip: SocketAddr, interval: Duration, max: usize, timeout: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let st = stop.clone();
        let thread = in_ns(CLIENT, move || {
            let mut v = Vec::new();
            while !st.load(Ordering::SeqCst) && v.len() < max {
                let at = t0.elapsed();
                let s = Instant::now();
                let answer = get(vip, None, timeout);
                v.push(Sample {
                    at,
                    took: s.elapsed(),
                    answer,
                });
                let next = at + interval;
                if let Some(w) = next.checked_sub(t0.elapsed()) {
                    thread::sleep(w);
                }
            }
            v
        });
        Load { t0, stop, thread }
    }
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("load thread")
    }
}

/// Long-lived connections to the stream service, each sending a line every `interval` and
/// reading its echo: how long each went without an echo, and whether it is still alive.
pub struct Streams {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<StreamResult>>,
    pub opened: usize,
}

#[derive(Clone, Debug)]
pub struct StreamResult {
    /// Longest time between two echoes.
    pub max_gap: Duration,
    /// Still echoing at the end.
    pub alive: bool,
    pub error: Option<String>,
    pub echoes: u64,
    /// The retransmission timeout (the kernel's `tcpi_rto`) of the request and of its echo
    /// that took `max_gap`, the longer of the two: how long a segment lost then waited to be
    /// sent again. Linux's floor is 200 ms plus the smoothed round trip; a connection whose
    /// round trips vary (a loaded TCG guest) has more.
    pub rto_at_max_gap: Duration,
}

impl Streams {
    /// Opens `n` connections to `vip`:STREAM_PORT from the client namespace.
    pub fn open(vip: &str, n: usize, interval: Duration) -> Result<Streams, String> {
        let dst = addr(vip, STREAM_PORT);
        let conns = in_ns(CLIENT, move || -> Result<Vec<TcpStream>, String> {
            (0..n)
                .map(|i| {
                    let c = TcpStream::connect_timeout(&dst, Duration::from_secs(2))
                        .map_err(|e| format!("stream {i}: {e}"))?;
                    c.set_nodelay(true).ok();
                    Ok(c)
                })
                .collect()
        })
        .join()
        .expect("stream opener")?;
        let stop = Arc::new(AtomicBool::new(false));
        let threads = conns
            .into_iter()
            .map(|c| {
                let stop = stop.clone();
                thread::spawn(move || stream_loop(c, interval, &stop))
            })
            .collect();
        Ok(Streams {
            stop,
            threads,
            opened: n,
        })
    }
    pub fn finish(self) -> Vec<StreamResult> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .map(|t| t.join().expect("stream thread"))
            .collect()
    }
}

fn stream_loop(c: TcpStream, interval: Duration, stop: &AtomicBool) -> StreamResult {
    let mut res = StreamResult {
        max_gap: Duration::ZERO,
        alive: false,
        error: None,
        echoes: 0,
        rto_at_max_gap: Duration::ZERO,
    };
    // A stall longer than this counts the connection as lost.
    c.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let Ok(mut w) = c.try_clone() else {
        res.error = Some("clone".into());
        return res;
    };
    let mut r = BufReader::new(c);
    let mut last = Instant::now();
    let mut line = String::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let rto = tcp_rto(&w);
        if let Err(e) = w.write_all(format!("{seq}\n").as_bytes()) {
            res.error = Some(format!("write: {e}"));
            return res;
        }
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => {
                res.error = Some("closed".into());
                return res;
            }
            Err(e) => {
                res.error = Some(format!("read: {e}"));
                return res;
            }
            Ok(_) if line.trim() != seq.to_string() => {
                res.error = Some(format!("echo {line:?} for {seq}"));
                return res;
            }
            Ok(_) => {}
        }
        res.echoes += 1;
        let gap = last.elapsed();
        if gap > res.max_gap {
            res.max_gap = gap;
            res.rto_at_max_gap = rto.max(echo_rto(&w, seq));
        }
        last = Instant::now();
        thread::sleep(interval);
    }
    res.alive = true;
    res
}

/// The echo server's last echo per client address: its number and the retransmission timeout
/// when it was sent. NAT keeps the client's address, so the client finds its own connection
/// here; it looks right after reading echo N, before sending N+1, so the entry is N's. One
/// entry per connection, however long the run.
static ECHO_RTO: Mutex<Option<HashMap<SocketAddr, (u64, Duration)>>> = Mutex::new(None);

/// The echo server's RTO for echo `seq` of the client socket `c` (zero if not noted).
fn echo_rto(c: &TcpStream, seq: u64) -> Duration {
    let Ok(local) = c.local_addr() else {
        return Duration::ZERO;
    };
    let m = ECHO_RTO.lock().unwrap_or_else(|e| e.into_inner());
    match m.as_ref().and_then(|m| m.get(&local)) {
        Some(&(n, rto)) if n == seq => rto,
        _ => Duration::ZERO,
    }
}

/// The socket's current retransmission timeout (`TCP_INFO`'s `tcpi_rto`); zero if the
/// kernel does not say.
fn tcp_rto(s: &TcpStream) -> Duration {
    use nix::libc;
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero tcp_info is valid for getsockopt to overwrite.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt on our own open socket, writing at most `len` bytes into `info`.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Duration::from_micros(u64::from(info.tcpi_rto))
    } else {
        Duration::ZERO
    }
}

// ------------------------------------------------------------------------ wire

/// One frame of interest seen on a lab bridge, stamped by the kernel when it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireEvent {
    /// A VRRP advertisement (v2 or v3) for `vrid`.
    Advert {
        mac: [u8; 6],
        vrid: u8,
        priority: u8,
    },
    /// A gratuitous ARP (sender IP = target IP) for `ip`.
    Garp { mac: [u8; 6], ip: Ipv4Addr },
    /// A TCP reset (seen only on bridge ports, [`Wire::capture_ports`]).
    Rst {
        mac: [u8; 6],
        src: SocketAddr,
        dst: SocketAddr,
    },
}

/// Adverts and gratuitous ARPs on the lab bridges (bext, bint), with kernel receive
/// timestamps (CLOCK_REALTIME, `SIOCGSTAMPNS`): the figures are the wire's, not when the
/// capture thread got the CPU (the VM has one vCPU shared with the daemons and the client).
/// Bound to the bridge devices, the sockets see only what is flooded to them (broadcast,
/// multicast): not the load's unicast frames.
pub struct Wire {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<(Duration, WireEvent)>>>,
}

/// Realtime now, as a duration since the epoch (the clock the kernel stamps frames with).
pub fn wall() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

fn parse_frame(b: &[u8]) -> Option<WireEvent> {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(b.get(6..12)?);
    match u16::from_be_bytes([*b.get(12)?, *b.get(13)?]) {
        // ARP: sender IP at 28, target IP at 38.
        0x0806 if b.len() >= 42 && b[28..32] == b[38..42] => Some(WireEvent::Garp {
            mac,
            ip: Ipv4Addr::new(b[28], b[29], b[30], b[31]),
        }),
        0x0800 if *b.get(23)? == 6 => {
            let h = 14 + usize::from(b[14] & 0x0f) * 4;
            if b.get(h + 13)? & 0x04 == 0 {
                return None;
            }
            let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
            let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
            Some(WireEvent::Rst {
                mac,
                src: SocketAddr::new(ip(26).into(), port(h)),
                dst: SocketAddr::new(ip(30).into(), port(h + 2)),
            })
        }
        0x0800 if *b.get(23)? == 112 => {
            let h = 14 + usize::from(b[14] & 0x0f) * 4;
            Some(WireEvent::Advert {
                mac,
                vrid: *b.get(h + 1)?,
                priority: *b.get(h + 2)?,
            })
        }
        _ => None,
    }
}

fn capture_on(bridge: &str, stop: Arc<AtomicBool>) -> JoinHandle<Vec<(Duration, WireEvent)>> {
    let bridge = bridge.to_string();
    thread::spawn(move || {
        use nix::libc;
        let mut v = Vec::new();
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the fd is owned by the File below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a fresh socket owned by nobody else.
        let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let name = std::ffi::CString::new(bridge.clone()).expect("name");
        // SAFETY: valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(ifindex > 0, "no bridge {bridge}");
        // SAFETY: zeroed sockaddr_ll is valid; filled below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: valid sockaddr_ll and length.
        let r = unsafe {
            libc::bind(
                fd,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert!(r == 0, "bind {bridge}: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: valid option pointer and length for SO_RCVTIMEO.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        let mut buf = [0u8; 1600];
        while !stop.load(Ordering::SeqCst) {
            let Ok(n) = f.read(&mut buf) else { continue };
            let Some(ev) = parse_frame(&buf[..n]) else {
                continue;
            };
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SIOCGSTAMPNS: the kernel's receive time of the last frame read.
            // SAFETY: valid fd and timespec pointer.
            let r = unsafe { libc::ioctl(fd, 0x8907, &mut ts) };
            let at = if r == 0 {
                Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
            } else {
                wall()
            };
            v.push((at, ev));
        }
        v
    })
}

impl Wire {
    /// Captures on the lab bridges in the VM's root namespace.
    pub fn capture() -> Wire {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ["bext", "bint"]
            .into_iter()
            .map(|b| capture_on(b, stop.clone()))
            .collect();
        Wire { stop, threads }
    }
    /// Also on these bridge ports (root-namespace veth ends): every frame crosses them, so
    /// this costs CPU; for diagnosis (TCP resets).
    pub fn capture_ports(ports: &[&str]) -> Wire {
        let mut w = Wire::capture();
        for p in ports {
            w.threads.push(capture_on(p, w.stop.clone()));
        }
        w
    }
    /// Everything seen, in time order.
    pub fn finish(mut self) -> Vec<(Duration, WireEvent)> {
        self.stop.store(true, Ordering::SeqCst);
        let mut v: Vec<_> = std::mem::take(&mut self.threads)
            .into_iter()
            .flat_map(|t| t.join().expect("capture thread"))
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }
}

impl Drop for Wire {
    /// An abandoned capture stops too (its threads end within their 100 ms receive timeout).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A takeover as seen on the wire, from the old master's (`old`) last advert for `vrid`
/// (priority 0 included) to the new master's (`new`) first advert and first gratuitous ARP
/// for `vip`, both after `since` (the kill).
#[derive(Clone, Copy, Debug, Default)]
pub struct Takeover {
    /// Old master's last advert to the new master's first.
    pub advert: Option<Duration>,
    /// Old master's last advert to the new master's first gratuitous ARP for the VIP.
    pub garp: Option<Duration>,
    /// The old master's last advert relative to the kill, in ms (SIGKILL: within one
    /// interval before it; SIGTERM: its priority-0 advert, after it).
    pub last_after_kill_ms: Option<f64>,
    /// The priority of the old master's last advert (0: it resigned).
    pub last_priority: Option<u8>,
    /// How late the old master's adverts were in the second before the kill: the longest
    /// interval between two of them minus `advert_int`. The same timer path as the backup's
    /// Master_Down timer, on the same vCPU: what the VM adds to any deadline in this run.
    pub cadence_late: Option<Duration>,
}

/// When `mac` advertised `vrid` before `until` (a backup that took over for a moment: on a
/// starved VM at advert_int 0.01 this happens before any failure, and spoils the figures).
pub fn flap_before(
    wire: &[(Duration, WireEvent)],
    until: Duration,
    vrid: u8,
    mac: [u8; 6],
) -> Option<Duration> {
    wire.iter()
        .find(|(t, e)| {
            *t < until
                && matches!(e, WireEvent::Advert { mac: m, vrid: r, .. } if *m == mac && *r == vrid)
        })
        .map(|(t, _)| *t)
}

pub fn takeover(
    wire: &[(Duration, WireEvent)],
    since: Duration,
    advert_int: Duration,
    vrid: u8,
    old: [u8; 6],
    new: [u8; 6],
    vip: Ipv4Addr,
) -> Takeover {
    let adv = |mac: [u8; 6]| {
        wire.iter().filter(move |(_, e)| {
            matches!(e, WireEvent::Advert { mac: m, vrid: r, .. } if *m == mac && *r == vrid)
        })
    };
    let first_new = adv(new).find(|(t, _)| *t >= since).map(|(t, _)| *t);
    let last_old = adv(old).rfind(|(t, _)| first_new.is_none_or(|f| *t <= f));
    let garp = wire
        .iter()
        .find(|(t, e)| *t >= since && *e == WireEvent::Garp { mac: new, ip: vip })
        .map(|(t, _)| *t);
    let before: Vec<Duration> = adv(old)
        .map(|(t, _)| *t)
        .filter(|t| *t <= since && *t + Duration::from_secs(1) > since)
        .collect();
    let cadence_late = before
        .windows(2)
        .map(|w| (w[1] - w[0]).saturating_sub(advert_int))
        .max();
    let from = last_old.map(|(t, _)| *t);
    let gap = |x: Option<Duration>| Some(x?.saturating_sub(from?));
    Takeover {
        advert: gap(first_new),
        garp: gap(garp),
        last_after_kill_ms: from.map(|f| (f.as_secs_f64() - since.as_secs_f64()) * 1000.0),
        last_priority: last_old.and_then(|(_, e)| match e {
            WireEvent::Advert { priority, .. } => Some(*priority),
            _ => None,
        }),
        cadence_late,
    }
}

/// The MAC address of `ifname` in `ns`.
pub fn mac(ns: &str, ifname: &str) -> [u8; 6] {
    let s = ns_out(ns, &["cat", &format!("/sys/class/net/{ifname}/address")]);
    let mut m = [0u8; 6];
    for (i, b) in s.trim().split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(b, 16).unwrap_or(0);
    }
    m
}

// ------------------------------------------------------------------------ directors

/// Which daemon runs a director.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Lvsd,
    Keepalived,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Lvsd => "lvsd",
            Daemon::Keepalived => "keepalived",
        }
    }
}

/// The settings a lab configuration varies.
#[derive(Clone, Debug)]
pub struct Conf {
    /// VRRP advert interval in seconds (below 1: VRRPv3).
    pub advert_int: f64,
    pub delay_loop: u32,
    /// HTTP_GET `retry` (keepalived's default is 1).
    pub retry: u32,
    pub delay_before_retry: u32,
    pub sync_daemon: bool,
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            advert_int: 1.0,
            delay_loop: 1,
            retry: 1,
            delay_before_retry: 1,
            sync_daemon: true,
        }
    }
}

/// keepalived.conf for director `d` (0 = lab-d1, master priority 150; 1 = lab-d2, 100).
/// Virtual servers: NAT VIP :80 rr, :81 wrr 1/2/3, :82 mh, :83 rr + persistence,
/// :9000 rr (streams); DR VIP :80 rr; TUN VIP :80 rr.
pub fn config(d: usize, c: &Conf) -> String {
    let mut s = String::new();
    let v3 = c.advert_int < 1.0;
    let _ = writeln!(s, "global_defs {{\n    router_id lab_d{}", d + 1);
    if v3 {
        s.push_str("    vrrp_version 3\n");
    }
    if c.sync_daemon {
        s.push_str("    lvs_sync_daemon ext VI_EXT id 7\n");
    }
    s.push_str("}\nvrrp_sync_group G {\n    group {\n        VI_EXT\n        VI_INT\n    }\n}\n");
    let (state, prio) = if d == 0 {
        ("MASTER", 150)
    } else {
        ("BACKUP", 100)
    };
    for (name, ifname, vrid, vips) in [
        (
            "VI_EXT",
            "ext",
            51,
            vec!["10.1.0.100/32", "10.1.0.101/32", "10.1.0.102/32"],
        ),
        ("VI_INT", "int", 52, vec!["10.2.0.1/24"]),
    ] {
        let _ = write!(
            s,
            "vrrp_instance {name} {{\n    state {state}\n    interface {ifname}\n    \
             virtual_router_id {vrid}\n    priority {prio}\n    advert_int {}\n    \
             virtual_ipaddress {{\n",
            c.advert_int
        );
        for v in vips {
            let _ = writeln!(s, "        {v}");
        }
        s.push_str("    }\n}\n");
    }
    let vs = |s: &mut String,
              vip: &str,
              port: u16,
              algo: &str,
              kind: &str,
              extra: &str,
              weights: [u32; 3],
              rport: u16| {
        let _ = write!(
            s,
            "virtual_server {vip} {port} {{\n    delay_loop {}\n    lb_algo {algo}\n    \
             lb_kind {kind}\n    protocol TCP\n{extra}",
            c.delay_loop
        );
        for (ip, w) in RS_ADDRS.iter().zip(weights) {
            let _ = write!(
                s,
                "    real_server {ip} {rport} {{\n        weight {w}\n        HTTP_GET {{\n            \
                 url {{\n                path /\n                status_code 200\n            }}\n            \
                 connect_timeout 1\n            retry {}\n            delay_before_retry {}\n        \
                 }}\n    }}\n",
                c.retry, c.delay_before_retry
            );
        }
        s.push_str("}\n");
    };
    vs(&mut s, VIP_NAT, 80, "rr", "NAT", "", [1, 1, 1], 80);
    vs(&mut s, VIP_NAT, 81, "wrr", "NAT", "", [1, 2, 3], 80);
    vs(&mut s, VIP_NAT, 82, "mh", "NAT", "", [1, 1, 1], 80);
    vs(
        &mut s,
        VIP_NAT,
        83,
        "rr",
        "NAT",
        "    persistence_timeout 60\n",
        [1, 1, 1],
        80,
    );
    vs(&mut s, VIP_DR, 80, "rr", "DR", "", [1, 1, 1], 80);
    vs(&mut s, VIP_TUN, 80, "rr", "TUN", "", [1, 1, 1], 80);
    // The stream service: its real servers are checked on the HTTP port.
    let mut st = String::new();
    vs(
        &mut st,
        VIP_NAT,
        STREAM_PORT,
        "rr",
        "NAT",
        "",
        [1, 1, 1],
        STREAM_PORT,
    );
    s.push_str(&st.replace(
        "url {\n                path /\n                status_code 200\n            }\n",
        "url {\n                path /\n                status_code 200\n            }\n            connect_port 80\n",
    ));
    s
}

/// A director daemon process in its namespace.
pub struct Director {
    pub ns: String,
    pub daemon: Daemon,
    pub child: Child,
    pub log: PathBuf,
    pub started: Instant,
}

/// Scratch directory for configs, logs and pid files.
pub fn workdir() -> PathBuf {
    let d = PathBuf::from(format!("/tmp/lvsd-traffic-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("workdir");
    d
}

impl Director {
    /// Starts `daemon` in director namespace `d` (0/1) with `conf`.
    pub fn start(daemon: Daemon, lvsd: &Path, d: usize, conf: &Conf) -> Director {
        let ns = DIRECTORS[d].to_string();
        let dir = workdir();
        let cfile = dir.join(format!("{ns}.conf"));
        std::fs::write(&cfile, config(d, conf)).expect("write config");
        let log = dir.join(format!("{ns}-{}.log", daemon.name()));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns]);
        match daemon {
            Daemon::Lvsd => {
                cmd.arg(lvsd).args(["-n", "-l", "-f"]).arg(&cfile);
                cmd.env("RUST_LOG", "info");
            }
            Daemon::Keepalived => {
                // A killed keepalived leaves its pid files behind; with pids reused in the VM
                // it could then refuse to start ("daemon is already running").
                for p in ["k", "c", "v"] {
                    let _ = std::fs::remove_file(dir.join(format!("{ns}-{p}.pid")));
                }
                cmd.arg("keepalived")
                    .args(["-n", "-l", "-f"])
                    .arg(&cfile)
                    .arg("-p")
                    .arg(dir.join(format!("{ns}-k.pid")))
                    .arg("-c")
                    .arg(dir.join(format!("{ns}-c.pid")))
                    .arg("-r")
                    .arg(dir.join(format!("{ns}-v.pid")));
            }
        }
        // Its own process group: a crash kills keepalived's parent and children at once.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(
                std::fs::File::create(dir.join(format!("{ns}-{}.err", daemon.name())))
                    .expect("log"),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("start {daemon:?}: {e}"));
        Director {
            ns,
            daemon,
            child,
            log,
            started: Instant::now(),
        }
    }

    /// The daemon's log (stdout and stderr).
    pub fn log(&self) -> String {
        let err = self.log.with_extension("err");
        std::fs::read_to_string(&self.log).unwrap_or_default()
            + &std::fs::read_to_string(err).unwrap_or_default()
    }

    /// Sends a signal to the daemon (keepalived: to its parent, which stops the children).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        // `ip netns exec` execs the daemon: the child pid is the daemon's.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// SIGKILL, like a crash: the whole process group at once (keepalived's checker and VRRP
    /// children die with the parent, not after a `pkill` run).
    pub fn crash(&mut self) {
        let pg = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
        if self.daemon == Daemon::Keepalived {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &self.child.id().to_string()])
                .status();
        }
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (bounded) for the exit.
    pub fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        self.signal(nix::sys::signal::Signal::SIGTERM);
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return t0.elapsed();
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.crash();
        t0.elapsed()
    }

    /// Whether the namespace currently holds the NAT VIP.
    pub fn holds_vip(&self) -> bool {
        ns_out(&self.ns, &["ip", "-4", "-o", "addr", "show", "dev", "ext"])
            .contains("10.1.0.100/32")
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.crash();
        }
    }
}

/// Clears what daemons may have left in the director namespaces (VIPs, IPVS, sync daemons).
pub fn reset_directors() {
    for ns in DIRECTORS {
        let _ = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "ip -n {ns} link set ext up; ip -n {ns} link set int up; \
                     ip -n {ns} addr del 10.1.0.100/32 dev ext; ip -n {ns} addr del 10.1.0.101/32 dev ext; \
                     ip -n {ns} addr del 10.1.0.102/32 dev ext; ip -n {ns} addr del 10.2.0.1/24 dev int; \
                     ip netns exec {ns} ipvsadm -C; ip netns exec {ns} ipvsadm --stop-daemon master; \
                     ip netns exec {ns} ipvsadm --stop-daemon backup; true"
                ),
            ])
            .stderr(Stdio::null())
            .status();
    }
}

/// Destinations per `ipvsadm -Ln` in `ns` (count of `->` lines, header excluded).
pub fn dest_count(ns: &str) -> usize {
    ns_out(ns, &["ipvsadm", "-Ln"])
        .lines()
        .filter(|l| l.trim_start().starts_with("->") && !l.contains("RemoteAddress"))
        .count()
}

/// Waits for director `ns` to hold the whole lab table (7 services × 3) and, if `vip`, the VIP.
pub fn wait_director(dir: &Director, vip: bool, within: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        let n = dest_count(&dir.ns);
        if n == 21 && (!vip || dir.holds_vip()) {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > within {
            return Err(format!(
                "{} ({}): {n} destinations, VIP {} after {within:?}\n{}\n--- log\n{}",
                dir.ns,
                dir.daemon.name(),
                dir.holds_vip(),
                ns_out(&dir.ns, &["ipvsadm", "-Ln"]),
                dir.log()
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------------------------ figures

/// What a client saw while one real server was killed and restarted.
#[derive(Debug)]
pub struct RsFigures {
    pub requests: usize,
    pub failed: usize,
    /// From the kill to the end of the last failed request.
    pub last_failure: Option<Duration>,
    /// From the restart to the first answer of the restarted server.
    pub back: Option<Duration>,
}

pub fn rs_figures(samples: &[Sample], name: &str, kill: Duration, restart: Duration) -> RsFigures {
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.answer.is_err()).collect();
    RsFigures {
        requests: samples.len(),
        failed: failed.len(),
        last_failure: failed
            .iter()
            .map(|s| (s.at + s.took).saturating_sub(kill))
            .max(),
        back: samples
            .iter()
            .find(|s| s.at >= restart && s.answer.as_deref() == Ok(name))
            .map(|s| (s.at + s.took).saturating_sub(restart)),
    }
}

/// What a client saw while the master director failed.
#[derive(Debug)]
pub struct DirFigures {
    pub requests: usize,
    pub failed: usize,
    /// Longest time between two successful answers (or from the last one to the run's end).
    pub outage: Duration,
    pub streams: usize,
    pub streams_alive: usize,
    pub stream_max_stall: Duration,
    /// That stream's retransmission timeout when its longest stall began.
    pub stall_rto: Duration,
    /// The takeover on the wire (VI_EXT), when captured.
    pub wire: Takeover,
}

pub fn dir_figures(samples: &[Sample], streams: &[StreamResult]) -> DirFigures {
    let mut outage = Duration::ZERO;
    let mut last_ok: Option<Duration> = None;
    for s in samples.iter().filter(|s| s.answer.is_ok()) {
        let end = s.at + s.took;
        if let Some(l) = last_ok {
            outage = outage.max(end.saturating_sub(l));
        }
        last_ok = Some(end);
    }
    // A run that never recovers: the outage lasts to its end.
    let run_end = samples
        .iter()
        .map(|s| s.at + s.took)
        .max()
        .unwrap_or_default();
    outage = outage.max(run_end.saturating_sub(last_ok.unwrap_or_default()));
    DirFigures {
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.answer.is_err()).count(),
        outage,
        streams: streams.len(),
        streams_alive: streams.iter().filter(|s| s.alive).count(),
        stream_max_stall: streams.iter().map(|s| s.max_gap).max().unwrap_or_default(),
        stall_rto: streams
            .iter()
            .max_by_key(|s| s.max_gap)
            .map(|s| s.rto_at_max_gap)
            .unwrap_or_default(),
        wire: Takeover::default(),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub fn opt_ms(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_else(|| "-".into())
}
