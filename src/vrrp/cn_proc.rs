//! The kernel's process events connector (netlink `NETLINK_CONNECTOR`, `CN_IDX_PROC`): fork,
//! exec, comm change and exit of every process, as they happen, for `vrrp_track_process`.
//!
//! No maintained crate covers it (the `cnproc` crates are synchronous, unmaintained and
//! bring their own netlink socket code), so this edge is small and self-contained: the
//! socket is netlink-sys' (the one rtnetlink already uses), the message layout is the fixed
//! one of `<linux/cn_proc.h>` parsed by [`parse`], purely and bounds-checked. Needs
//! CAP_NET_ADMIN in the initial user namespace (lvsd runs as root).

use std::io;

use std::os::fd::{FromRawFd, IntoRawFd};

use netlink_sys::{AsyncSocket, AsyncSocketExt, Socket, SocketAddr, TokioSocket, protocols};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;
/// `what`, `cpu`, `timestamp_ns` before the event data.
const EVENT_HDR: usize = 16;

/// One process event (thread events are filtered out by [`parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new process (not a thread): it runs its parent's program until it execs.
    Fork { parent: u32, child: u32 },
    /// The process runs a new program.
    Exec { pid: u32 },
    /// The process renamed itself (`prctl(PR_SET_NAME)`, of its main thread).
    Comm { pid: u32 },
    /// The process ended.
    Exit { pid: u32 },
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let bytes = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// The events in one datagram (one or more netlink messages); anything else is skipped.
pub fn parse(datagram: &[u8]) -> Vec<ProcEvent> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(len) = u32_at(datagram, off) {
        let len = len as usize;
        if len < NLMSG_HDR || off + len > datagram.len() {
            break;
        }
        if let Some(e) = parse_one(&datagram[off + NLMSG_HDR..off + len]) {
            out.push(e);
        }
        off += (len + 3) & !3;
    }
    out
}

fn parse_one(cn: &[u8]) -> Option<ProcEvent> {
    if u32_at(cn, 0)? != CN_IDX_PROC || u32_at(cn, 4)? != CN_VAL_PROC {
        return None;
    }
    let ev = cn.get(CN_MSG_HDR..)?;
    let what = u32_at(ev, 0)?;
    let data = ev.get(EVENT_HDR..)?;
    let (pid, tgid) = (u32_at(data, 0)?, u32_at(data, 4)?);
    match what {
        0x1 => {
            let (child, child_tgid) = (u32_at(data, 8)?, u32_at(data, 12)?);
            // A new thread of an existing process is not a new process.
            (child == child_tgid).then_some(ProcEvent::Fork {
                parent: tgid,
                child,
            })
        }
        0x2 => Some(ProcEvent::Exec { pid: tgid }),
        0x200 => (pid == tgid).then_some(ProcEvent::Comm { pid }),
        0x8000_0000 => (pid == tgid).then_some(ProcEvent::Exit { pid }),
        _ => None,
    }
}

/// The subscription message: `PROC_CN_MCAST_LISTEN` in a `cn_msg` in a netlink message.
fn listen_message() -> Vec<u8> {
    let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG_HDR + 4);
    let total = (NLMSG_HDR + CN_MSG_HDR + 4) as u32;
    msg.extend_from_slice(&total.to_ne_bytes());
    msg.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
    msg.extend_from_slice(&0u16.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&std::process::id().to_ne_bytes());
    msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
    msg.extend_from_slice(&4u16.to_ne_bytes()); // len
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    msg
}

/// A connector socket subscribed in the calling thread's network namespace (blocking send).
fn subscribe() -> io::Result<Socket> {
    let mut sock = Socket::new(protocols::NETLINK_CONNECTOR)?;
    sock.bind(&SocketAddr::new(0, CN_IDX_PROC))?;
    sock.send(&listen_message(), 0)?;
    Ok(sock)
}

/// [`subscribe`] from the network namespace at `path`; call it on a thread of its own (the
/// thread's namespace changes; the socket stays in that namespace after the thread ends).
fn subscribe_in(path: &str) -> io::Result<Socket> {
    let ns = std::fs::File::open(path)?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    subscribe()
}

/// A subscribed connector socket.
pub struct Listener {
    sock: TokioSocket,
    buf: Vec<u8>,
}

/// What [`Listener::next`] returns.
pub enum Received {
    Events(Vec<ProcEvent>),
    /// The socket buffer overflowed: events were lost; rescan /proc.
    Overrun,
}

impl Listener {
    /// Subscribes to process events. The connector answers in the initial network namespace
    /// only (elsewhere the subscription is refused), so when lvsd runs in another one (`ip
    /// netns exec`) the socket is opened in PID 1's namespace, or where that is not readable,
    /// the parent process's. Returns the listener and which namespace it is in.
    pub async fn open() -> io::Result<(Listener, &'static str)> {
        let parent = format!("/proc/{}/ns/net", std::os::unix::process::parent_id());
        let candidates = [
            ("this process's", None),
            ("PID 1's", Some("/proc/1/ns/net".to_string())),
            ("the parent process's", Some(parent)),
        ];
        let mut last = io::Error::other("no network namespace to open it in");
        for (what, ns) in candidates {
            let res = match ns {
                None => subscribe(),
                Some(path) => std::thread::spawn(move || subscribe_in(&path))
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked"))),
            };
            match res {
                Ok(sock) => {
                    sock.set_non_blocking(true)?;
                    // SAFETY: the descriptor comes from `into_raw_fd`, owned by nobody else.
                    let sock = unsafe { TokioSocket::from_raw_fd(sock.into_raw_fd()) };
                    let _ = sock.socket_ref().set_rx_buf_sz(1 << 20);
                    let l = Listener {
                        sock,
                        buf: Vec::with_capacity(8192),
                    };
                    return Ok((l, what));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub async fn next(&mut self) -> io::Result<Received> {
        self.buf.clear();
        match self.sock.recv(&mut self.buf).await {
            Ok(()) => Ok(Received::Events(parse(&self.buf))),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(what: u32, data: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        let len = (NLMSG_HDR + CN_MSG_HDR + EVENT_HDR + data.len() * 4) as u32;
        for v in [len, 3, 0, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.truncate(8);
        b.extend_from_slice(&[0u8; 8]);
        for v in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&((EVENT_HDR + data.len() * 4) as u16).to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&what.to_ne_bytes());
        b.extend_from_slice(&[0u8; 12]);
        for v in data {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b
    }

    #[test]
    fn events_are_parsed_and_threads_skipped() {
        assert_eq!(
            parse(&datagram(1, &[10, 10, 11, 11])),
            vec![ProcEvent::Fork {
                parent: 10,
                child: 11
            }]
        );
        assert!(parse(&datagram(1, &[10, 10, 12, 10])).is_empty(), "thread");
        assert_eq!(
            parse(&datagram(2, &[11, 11])),
            vec![ProcEvent::Exec { pid: 11 }]
        );
        assert_eq!(
            parse(&datagram(0x8000_0000, &[11, 11, 0, 9, 1, 1])),
            vec![ProcEvent::Exit { pid: 11 }]
        );
        assert!(parse(&datagram(0x8000_0000, &[12, 11, 0, 9, 1, 1])).is_empty());
        let mut two = datagram(2, &[5, 5]);
        two.extend(datagram(0x200, &[5, 5, 0, 0, 0, 0]));
        assert_eq!(
            parse(&two),
            vec![ProcEvent::Exec { pid: 5 }, ProcEvent::Comm { pid: 5 }]
        );
    }

    #[test]
    fn truncated_or_foreign_messages_are_dropped() {
        let d = datagram(2, &[11, 11]);
        for n in 0..d.len() {
            assert!(parse(&d[..n]).is_empty(), "{n} bytes");
        }
        let mut other = d.clone();
        other[16] = 7; // another connector index
        assert!(parse(&other).is_empty());
    }
}
