//! The IPVS client: one generic-netlink socket, one async fn per ipvsadm verb, and a pipelined
//! [`Client::apply`] for plans.
//!
//! Transport: a `netlink_sys::TokioSocket` (NETLINK_GENERIC) owned behind a mutex, so a cloned
//! [`Client`] serialises its requests. The kernel handles a generic-netlink request synchronously
//! inside `sendmsg`, so replies are already queued when `send` returns: we try a non-blocking
//! receive first and only fall back to the reactor (with a timeout) when nothing is there.
//!
//! Writes of a plan are *batched*: up to [`BATCH`] requests go in one `sendmsg`, none but the
//! last asks for an ACK. The kernel answers only failures (each error carries its request's
//! sequence number), then the last request's ACK ends the batch: every sequence number without
//! an error succeeded. One syscall per batch instead of two per object, as `ipvsadm -R` does.
//! The receive buffer is enlarged so a batch that fails entirely cannot overflow it; an
//! overflow (ENOBUFS) is reported as an error for the batch, never as success.
//!
//! (netlink-proto is not used: its requests complete only on an ACK or DONE, so a request that
//! the kernel answers only on failure cannot be expressed; 11,000 ACKs would cost 11,000 reads.)
//!
//! Dumps cannot be pipelined (one dump per socket at a time): [`Client::dump`] reads services,
//! then each service's destinations. [`Client::read_services`] reads only named services: their
//! non-dump GET_SERVICE requests go in one batch (each answered by the service or ESRCH), then
//! one destination dump per service found.
//!
//! Cancel safety: dropping a future mid-request leaves replies in the socket; the next request
//! skips replies whose sequence number is older than its own.

use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART, NLM_F_REQUEST,
    NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{
    AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_GENERIC,
};
use tokio::sync::Mutex;

use crate::codec::frame::{self, Frame, Reply};
use crate::codec::{self, IpvsCmd, IpvsMessage};
use crate::error::{Error, Verb};
use crate::model::{
    DaemonConfig, DaemonState, Dest, DestKey, Info, Service, ServiceEntry, ServiceKey, Table,
    Timeouts,
};
use crate::reconcile::{ApplyReport, Op, OpOutcome, Plan};

/// Requests per `sendmsg` in [`Client::apply`].
pub const BATCH: usize = 256;
/// How long to wait for the kernel before giving up on a reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Receive buffer: large enough for a batch of error replies.
const RCVBUF: usize = 8 << 20;
/// Receive scratch: dump datagrams are at most 32 KiB.
const RECV_CAP: usize = 64 << 10;

/// A handle on the kernel's IPVS table. Cheap to clone; requests are serialised.
#[derive(Clone)]
pub struct Client {
    conn: Arc<Mutex<Conn>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

struct Conn {
    sock: TokioSocket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

fn io_err(verb: Verb) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { verb, source }
}

impl Conn {
    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    async fn send_tx(&mut self, verb: Verb) -> Result<(), Error> {
        let n = self.sock.send(&self.tx).await.map_err(io_err(verb))?;
        if n != self.tx.len() {
            return Err(Error::Io {
                verb,
                source: io::Error::other(format!("short netlink send: {n} of {}", self.tx.len())),
            });
        }
        Ok(())
    }

    /// Receives one datagram into `self.rx`.
    async fn recv(&mut self, verb: Verb) -> Result<(), Error> {
        self.rx.clear();
        if self.rx.capacity() < RECV_CAP {
            self.rx.reserve(RECV_CAP);
        }
        // Fast path: the kernel answered inside sendmsg, the reply is already queued.
        match self
            .sock
            .socket_ref()
            .recv(&mut self.rx, libc::MSG_DONTWAIT)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::Io { verb, source: e }),
        }
        self.rx.clear();
        match tokio::time::timeout(REPLY_TIMEOUT, self.sock.recv(&mut self.rx)).await {
            Ok(r) => r.map_err(io_err(verb)),
            Err(_) => Err(Error::Io {
                verb,
                source: io::Error::new(io::ErrorKind::TimedOut, "no reply from the kernel"),
            }),
        }
    }

    /// Sends one request and collects its reply messages until ACK/DONE.
    /// Returns the IPVS messages, or the kernel's errno as an error for `object`.
    async fn request(
        &mut self,
        msg: IpvsMessage,
        flags: u16,
        verb: Verb,
        object: &str,
    ) -> Result<Vec<IpvsMessage>, Error> {
        self.request_with(msg, flags, verb, object, IpvsMessage::parse_attrs)
            .await
    }

    /// [`Conn::request`] with a decoder for the reply attributes (dumps decode into the model).
    async fn request_with<T, F>(
        &mut self,
        msg: IpvsMessage,
        flags: u16,
        verb: Verb,
        object: &str,
        decode: F,
    ) -> Result<Vec<T>, Error>
    where
        F: Fn(IpvsCmd, &[u8]) -> Result<T, DecodeError>,
    {
        // A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is restarted.
        for _attempt in 0..4 {
            let seq = self.next_seq();
            self.tx.clear();
            frame::encode(
                msg.clone(),
                self.family,
                NLM_F_REQUEST | flags,
                seq,
                &mut self.tx,
            );
            self.send_tx(verb).await?;
            let mut out = Vec::new();
            let mut interrupted = false;
            loop {
                self.recv(verb).await?;
                let mut finished = false;
                for f in frame::frames_with(&self.rx, &decode) {
                    let Frame {
                        seq: s,
                        flags: fl,
                        reply,
                    } = f.map_err(|e| Error::Decode {
                        verb,
                        detail: e.to_string(),
                    })?;
                    if s != seq {
                        continue; // a reply to an abandoned earlier request
                    }
                    interrupted |= fl & NLM_F_DUMP_INTR != 0;
                    match reply {
                        Reply::Ipvs(m) => {
                            out.push(m);
                            // A non-dump reply without ACK is complete by itself.
                            if fl & NLM_F_MULTIPART == 0 && flags & NLM_F_ACK == 0 {
                                finished = true;
                            }
                        }
                        Reply::Ack { errno: 0 } | Reply::Done => finished = true,
                        Reply::Ack { errno } => {
                            return Err(Error::Kernel {
                                verb,
                                object: object.to_string(),
                                errno,
                            });
                        }
                        Reply::Other => {}
                    }
                }
                if finished {
                    break;
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(Error::Decode {
            verb,
            detail: "dump kept being interrupted by changes".into(),
        })
    }

    async fn write(&mut self, msg: IpvsMessage, verb: Verb, object: &str) -> Result<(), Error> {
        self.request(msg, NLM_F_ACK, verb, object).await.map(drop)
    }

    async fn dump<T, F>(
        &mut self,
        msg: IpvsMessage,
        verb: Verb,
        object: &str,
        decode: F,
    ) -> Result<Vec<T>, Error>
    where
        F: Fn(IpvsCmd, &[u8]) -> Result<T, DecodeError>,
    {
        self.request_with(msg, NLM_F_DUMP, verb, object, decode)
            .await
    }

    /// Sends `ops` in one datagram; returns per-op errno (0 = success) or a transport error.
    async fn batch(&mut self, ops: &[Op]) -> Result<Vec<i32>, Error> {
        let verb = Verb::Apply;
        let first = self.seq.wrapping_add(1);
        self.tx.clear();
        for (i, op) in ops.iter().enumerate() {
            let seq = self.next_seq();
            let flags = if i + 1 == ops.len() {
                NLM_F_REQUEST | NLM_F_ACK
            } else {
                NLM_F_REQUEST
            };
            frame::encode(op_message(op), self.family, flags, seq, &mut self.tx);
        }
        let last = self.seq;
        self.send_tx(verb).await?;
        let mut errnos = vec![0i32; ops.len()];
        loop {
            self.recv(verb).await?;
            let mut done = false;
            for f in frame::frames(&self.rx) {
                let f = f.map_err(|e| Error::Decode {
                    verb,
                    detail: e.to_string(),
                })?;
                let idx = f.seq.wrapping_sub(first) as usize;
                if idx >= ops.len() {
                    continue;
                }
                if let Reply::Ack { errno } = f.reply {
                    errnos[idx] = errno;
                    done |= f.seq == last;
                }
            }
            if done {
                return Ok(errnos);
            }
        }
    }
}

impl Conn {
    /// Non-dump GET_SERVICE for each key, all in one `sendmsg` (no dump is involved, so the
    /// kernel answers each request inside the same call). Every request gets exactly one
    /// answer: the service, or an error (ESRCH/ENOENT: no such service, returned as `None`).
    async fn get_services(&mut self, keys: &[ServiceKey]) -> Result<Vec<Option<Service>>, Error> {
        let verb = Verb::List;
        let first = self.seq.wrapping_add(1);
        self.tx.clear();
        for key in keys {
            let seq = self.next_seq();
            frame::encode(
                IpvsMessage::get_service(key),
                self.family,
                NLM_F_REQUEST,
                seq,
                &mut self.tx,
            );
        }
        self.send_tx(verb).await?;
        let mut out: Vec<Option<Option<Service>>> = vec![None; keys.len()];
        let mut pending = keys.len();
        while pending > 0 {
            self.recv(verb).await?;
            for f in frame::frames_with(&self.rx, codec::service_entry) {
                let f = f.map_err(|e| Error::Decode {
                    verb,
                    detail: e.to_string(),
                })?;
                let idx = f.seq.wrapping_sub(first) as usize;
                let (Some(slot), Some(key)) = (out.get_mut(idx), keys.get(idx)) else {
                    continue; // a reply to an abandoned earlier request
                };
                let answer = match f.reply {
                    Reply::Ipvs(s) if s.key == *key => Some(s),
                    Reply::Ipvs(s) => {
                        return Err(Error::Decode {
                            verb,
                            detail: format!("asked for service {key}, the kernel sent {}", s.key),
                        });
                    }
                    Reply::Ack { errno } if errno == libc::ESRCH || errno == libc::ENOENT => None,
                    Reply::Ack { errno: 0 } | Reply::Done | Reply::Other => continue,
                    Reply::Ack { errno } => {
                        return Err(Error::Kernel {
                            verb,
                            object: key.to_string(),
                            errno,
                        });
                    }
                };
                if slot.is_none() {
                    pending -= 1;
                }
                *slot = Some(answer);
            }
        }
        Ok(out.into_iter().map(Option::flatten).collect())
    }
}

/// The request for an op.
fn op_message(op: &Op) -> IpvsMessage {
    match op {
        Op::AddService(s) => IpvsMessage::new_service(s),
        Op::EditService(s) => IpvsMessage::set_service(s),
        Op::DelService(k) => IpvsMessage::del_service(k),
        Op::AddDest(k, d) => IpvsMessage::new_dest(k, d),
        Op::EditDest(k, d) => IpvsMessage::set_dest(k, d),
        Op::DelDest(k, d) => IpvsMessage::del_dest(k, d),
        Op::Flush => IpvsMessage::flush(),
    }
}

/// The verb and object (ipvsadm arguments) of an op, for error messages.
pub(crate) fn op_subject(op: &Op) -> (Verb, String) {
    match op {
        Op::AddService(s) => (Verb::AddService, s.key.to_string()),
        Op::EditService(s) => (Verb::EditService, s.key.to_string()),
        Op::DelService(k) => (Verb::DelService, k.to_string()),
        Op::AddDest(k, d) => (Verb::AddDest, format!("{k} -r {}", d.key())),
        Op::EditDest(k, d) => (Verb::EditDest, format!("{k} -r {}", d.key())),
        Op::DelDest(k, d) => (Verb::DelDest, format!("{k} -r {d}")),
        Op::Flush => (Verb::Flush, "all services".to_string()),
    }
}

/// Resolves the "IPVS" family id through nlctrl.
async fn resolve_family(sock: &TokioSocket) -> Result<u16, Error> {
    let verb = Verb::Connect;
    let mut msg = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(
            crate::codec::IPVS_GENL_NAME.to_string(),
        )],
    }));
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.header.sequence_number = 1;
    msg.finalize();
    let mut tx = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut tx);
    sock.send(&tx).await.map_err(io_err(verb))?;
    let mut family = None;
    loop {
        let mut rx = Vec::with_capacity(RECV_CAP);
        tokio::time::timeout(REPLY_TIMEOUT, sock.recv(&mut rx))
            .await
            .map_err(|_| Error::Io {
                verb,
                source: io::Error::new(io::ErrorKind::TimedOut, "no reply from nlctrl"),
            })?
            .map_err(io_err(verb))?;
        let mut pos = 0;
        while pos < rx.len() {
            let len = NetlinkBuffer::new_checked(&rx[pos..])
                .map(|b| b.length() as usize)
                .map_err(|e| Error::Decode {
                    verb,
                    detail: e.to_string(),
                })?;
            if len < 16 || pos + len > rx.len() {
                return Err(Error::Decode {
                    verb,
                    detail: format!("netlink length {len}"),
                });
            }
            let m = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&rx[pos..pos + len])
                .map_err(|e| Error::Decode {
                    verb,
                    detail: e.to_string(),
                })?;
            pos += (len + 3) & !3;
            match m.payload {
                NetlinkPayload::InnerMessage(g) => {
                    for nla in g.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(id) = nla {
                            family = Some(id);
                        }
                    }
                }
                NetlinkPayload::Error(e) => match e.code {
                    None => return family.ok_or(Error::NoIpvs),
                    // ENOENT: no such family, i.e. no ip_vs module.
                    Some(c) if c.get() == -2 => return Err(Error::NoIpvs),
                    Some(c) => {
                        return Err(Error::Kernel {
                            verb,
                            object: "generic netlink family \"IPVS\"".into(),
                            errno: -c.get(),
                        });
                    }
                },
                _ => {}
            }
        }
    }
}

impl Client {
    /// Opens a generic-netlink socket and resolves the "IPVS" family. Call it inside a Tokio
    /// runtime (the socket registers with its reactor). Needs CAP_NET_ADMIN for writes.
    /// [`Error::NoIpvs`] when the kernel has no IPVS (load `ip_vs`).
    pub async fn connect() -> Result<Client, Error> {
        let verb = Verb::Connect;
        let mut sock = TokioSocket::new(NETLINK_GENERIC).map_err(io_err(verb))?;
        sock.socket_mut().bind_auto().map_err(io_err(verb))?;
        sock.socket_ref()
            .connect(&SocketAddr::new(0, 0))
            .map_err(io_err(verb))?;
        // Errors without the echoed request: smaller replies for failed batches.
        let _ = sock.socket_ref().set_cap_ack(true);
        enlarge_rcvbuf(&sock);
        let family = resolve_family(&sock).await?;
        Ok(Client {
            conn: Arc::new(Mutex::new(Conn {
                sock,
                family,
                seq: 1,
                rx: Vec::with_capacity(RECV_CAP),
                tx: Vec::new(),
            })),
        })
    }

    /// Every service with its destinations and counters (`ipvsadm -Ln --stats`).
    pub async fn dump(&self) -> Result<Table, Error> {
        let mut c = self.conn.lock().await;
        let mut table = Table::new();
        for svc in services(&mut c).await? {
            let dests = dests(&mut c, &svc.key).await?;
            let entry = ServiceEntry {
                service: svc,
                dests: dests.into_iter().map(|d| (d.key(), d)).collect(),
            };
            table.services.insert(entry.service.key, entry);
        }
        Ok(table)
    }

    /// The services of `keys` as the kernel has them now, with their destinations and counters;
    /// a key the kernel lacks is absent from the table. Reads only these services: one batch of
    /// non-dump GET_SERVICE requests (up to [`BATCH`] per `sendmsg`), then one destination dump
    /// per service found (dumps cannot share a socket). What
    /// [`Ipvs::reconcile_scoped`](crate::Ipvs::reconcile_scoped) reads.
    pub async fn read_services(&self, keys: &BTreeSet<ServiceKey>) -> Result<Table, Error> {
        let mut c = self.conn.lock().await;
        let keys: Vec<ServiceKey> = keys.iter().copied().collect();
        let mut table = Table::new();
        for chunk in keys.chunks(BATCH) {
            for svc in c.get_services(chunk).await?.into_iter().flatten() {
                let dests = dests(&mut c, &svc.key).await?;
                let entry = ServiceEntry {
                    service: svc,
                    dests: dests.into_iter().map(|d| (d.key(), d)).collect(),
                };
                table.services.insert(entry.service.key, entry);
            }
        }
        Ok(table)
    }

    /// Every service, without destinations.
    pub async fn services(&self) -> Result<Vec<Service>, Error> {
        services(&mut *self.conn.lock().await).await
    }

    /// The destinations of one service (empty if the service does not exist).
    pub async fn dests(&self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        dests(&mut *self.conn.lock().await, key).await
    }

    /// `ipvsadm -A`.
    pub async fn add_service(&self, s: &Service) -> Result<(), Error> {
        let mut c = self.conn.lock().await;
        c.write(
            IpvsMessage::new_service(s),
            Verb::AddService,
            &s.key.to_string(),
        )
        .await
    }

    /// `ipvsadm -E`.
    pub async fn edit_service(&self, s: &Service) -> Result<(), Error> {
        let mut c = self.conn.lock().await;
        c.write(
            IpvsMessage::set_service(s),
            Verb::EditService,
            &s.key.to_string(),
        )
        .await
    }

    /// `ipvsadm -D`.
    pub async fn del_service(&self, k: &ServiceKey) -> Result<(), Error> {
        let mut c = self.conn.lock().await;
        c.write(
            IpvsMessage::del_service(k),
            Verb::DelService,
            &k.to_string(),
        )
        .await
    }

    /// `ipvsadm -a`.
    pub async fn add_dest(&self, k: &ServiceKey, d: &Dest) -> Result<(), Error> {
        self.run_op(Op::AddDest(*k, d.clone())).await
    }

    /// `ipvsadm -e`.
    pub async fn edit_dest(&self, k: &ServiceKey, d: &Dest) -> Result<(), Error> {
        self.run_op(Op::EditDest(*k, d.clone())).await
    }

    /// `ipvsadm -d`.
    pub async fn del_dest(&self, k: &ServiceKey, d: &DestKey) -> Result<(), Error> {
        self.run_op(Op::DelDest(*k, *d)).await
    }

    /// `ipvsadm -C`: deletes every service (also those lvsd does not own).
    pub async fn flush(&self) -> Result<(), Error> {
        self.run_op(Op::Flush).await
    }

    async fn run_op(&self, op: Op) -> Result<(), Error> {
        let (verb, object) = op_subject(&op);
        self.conn
            .lock()
            .await
            .write(op_message(&op), verb, &object)
            .await
    }

    /// `ipvsadm -Z`: zero the counters of one service, or of all with `None`.
    pub async fn zero(&self, k: Option<&ServiceKey>) -> Result<(), Error> {
        let object = k.map_or("all services".to_string(), |k| k.to_string());
        self.conn
            .lock()
            .await
            .write(IpvsMessage::zero(k), Verb::Zero, &object)
            .await
    }

    /// Version and connection table size.
    pub async fn info(&self) -> Result<Info, Error> {
        let verb = Verb::GetInfo;
        let replies = self
            .conn
            .lock()
            .await
            .request(IpvsMessage::get_info(), 0, verb, "")
            .await?;
        let m = replies.first().ok_or(Error::Decode {
            verb,
            detail: "no GET_INFO reply".into(),
        })?;
        m.info().map_err(|e| Error::Decode {
            verb,
            detail: e.to_string(),
        })
    }

    /// Global TCP / TCP-FIN / UDP timeouts.
    pub async fn timeouts(&self) -> Result<Timeouts, Error> {
        let verb = Verb::GetTimeouts;
        let replies = self
            .conn
            .lock()
            .await
            .request(IpvsMessage::get_timeouts(), 0, verb, "")
            .await?;
        let m = replies.first().ok_or(Error::Decode {
            verb,
            detail: "no GET_CONFIG reply".into(),
        })?;
        Ok(m.timeouts())
    }

    /// `ipvsadm --set tcp tcpfin udp` (0 leaves a value unchanged).
    pub async fn set_timeouts(&self, t: &Timeouts) -> Result<(), Error> {
        let object = format!("{} {} {}", t.tcp, t.tcp_fin, t.udp);
        self.conn
            .lock()
            .await
            .write(IpvsMessage::set_timeouts(t), Verb::SetTimeouts, &object)
            .await
    }

    /// `ipvsadm --start-daemon`.
    pub async fn add_daemon(&self, d: &DaemonConfig) -> Result<(), Error> {
        let object = format!("{:?} on {} syncid {}", d.state, d.mcast_ifn, d.sync_id);
        self.conn
            .lock()
            .await
            .write(IpvsMessage::new_daemon(d), Verb::AddDaemon, &object)
            .await
    }

    /// `ipvsadm --stop-daemon`.
    pub async fn del_daemon(&self, state: DaemonState) -> Result<(), Error> {
        let object = format!("{state:?}");
        self.conn
            .lock()
            .await
            .write(IpvsMessage::del_daemon(state), Verb::DelDaemon, &object)
            .await
    }

    /// Running sync daemons (`ipvsadm -L --daemon`).
    pub async fn daemons(&self) -> Result<Vec<DaemonConfig>, Error> {
        let verb = Verb::ListDaemons;
        let decode = |cmd, attrs: &[u8]| IpvsMessage::parse_attrs(cmd, attrs)?.daemon();
        let mut c = self.conn.lock().await;
        c.dump(IpvsMessage::get_daemons(), verb, "", decode).await
    }

    /// Runs a plan, batched (see the module doc). Every op gets an outcome; a failed op does
    /// not stop the others (a destination of a service that failed to be added fails in turn
    /// with "no such service"). `Err` only when the socket itself fails before anything is sent.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport, Error> {
        let mut c = self.conn.lock().await;
        let mut outcomes = Vec::with_capacity(plan.ops.len());
        for chunk in plan.ops.chunks(BATCH) {
            match c.batch(chunk).await {
                Ok(errnos) => {
                    for (op, errno) in chunk.iter().zip(errnos) {
                        let result = if errno == 0 {
                            Ok(())
                        } else {
                            let (verb, object) = op_subject(op);
                            Err(Error::Kernel {
                                verb,
                                object,
                                errno,
                            })
                        };
                        outcomes.push(OpOutcome {
                            op: op.clone(),
                            result,
                        });
                    }
                }
                Err(e) if outcomes.is_empty() => return Err(e),
                Err(e) => {
                    // The transport failed mid-plan: what happened to this chunk is unknown.
                    let text = e.to_string();
                    for op in chunk {
                        let (verb, _) = op_subject(op);
                        let source = io::Error::other(format!("outcome unknown: {text}"));
                        outcomes.push(OpOutcome {
                            op: op.clone(),
                            result: Err(Error::Io { verb, source }),
                        });
                    }
                }
            }
        }
        let report = ApplyReport { outcomes };
        tracing::debug!(
            ops = plan.ops.len(),
            ok = report.succeeded(),
            failed = report.writes() - report.succeeded(),
            "applied IPVS plan"
        );
        Ok(report)
    }
}

async fn services(c: &mut Conn) -> Result<Vec<Service>, Error> {
    let msg = IpvsMessage::get_services();
    c.dump(msg, Verb::List, "services", codec::service_entry)
        .await
}

async fn dests(c: &mut Conn, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
    let af = key.af();
    let msg = IpvsMessage::get_dests(key);
    c.dump(msg, Verb::List, &key.to_string(), |_, attrs| {
        codec::dest_entry(af, attrs)
    })
    .await
}

/// Asks for a large receive buffer (root may exceed rmem_max with SO_RCVBUFFORCE).
fn enlarge_rcvbuf(sock: &TokioSocket) {
    use std::os::fd::AsRawFd;
    let fd = sock.socket_ref().as_raw_fd();
    let size = RCVBUF as libc::c_int;
    // SAFETY: setsockopt with a valid fd and a pointer to a c_int of the stated length.
    let forced = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if forced != 0 {
        // Not privileged: the plain option, capped by net.core.rmem_max.
        let _ = sock.socket_ref().set_rx_buf_sz(size);
    }
}
