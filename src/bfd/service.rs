//! The BFD service: every session of the configuration in one task, fed by the listeners.
//!
//! ```text
//!  listener tasks (3784/4784, v4/v6) ─► mpsc ─┐
//!  spec watch (reloads) ──────────────────────┼─► demux ─► Session::on_* ─► send / status
//!  earliest session deadline (sleep_until) ───┤
//!  shutdown watch ────────────────────────────┘   (AdminDown sent to every peer)
//! ```
//! The status map (name → state) is level-triggered: VRRP trackers and BFD_CHECK read it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::config::SessionSpec;
use super::net::{Datagram, Listener, Sender};
use super::packet::{self, Control, PORT_MULTI_HOP, State};
use super::session::{Output, Session};

/// One session as the rest of lvsd sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    pub name: String,
    pub neighbor: IpAddr,
    pub state: State,
    /// The last local diagnostic, as text.
    pub diag: String,
    pub local_disc: u32,
    pub remote_disc: u32,
    /// Whether `track_bfd` / `BFD_CHECK` are told about this session.
    pub vrrp: bool,
    pub checker: bool,
    /// Counters: packets accepted and dropped for this session.
    pub received: u64,
    pub sent: u64,
    /// What `/status` and the metrics show beside the state.
    #[serde(flatten)]
    pub detail: SessionDetail,
}

/// The rest of a session's live state, for `/status` and `/metrics` (not read by trackers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionDetail {
    /// Configured source address; None: the kernel picks it.
    pub source: Option<IpAddr>,
    /// The state the peer last reported; None before it was heard.
    pub remote_state: Option<State>,
    /// The interval between our packets in force (µs), RFC 5880 §6.8.7 before jitter.
    pub tx_interval_us: u64,
    /// The receive interval in force (µs): our Required Min RX or the peer's Desired Min TX,
    /// whichever is slower.
    pub rx_interval_us: u64,
    /// How long without a packet takes the session down (µs); None before the peer was heard.
    pub detection_time_us: Option<u64>,
    /// When the current state was entered, Unix milliseconds.
    pub since_unix_ms: u64,
    /// State changes since the session started.
    pub transitions: u64,
}

impl SessionStatus {
    pub fn up(&self) -> bool {
        self.state == State::Up
    }
}

/// name → status.
pub type StatusMap = BTreeMap<String, SessionStatus>;

/// Whether the session `name` is Up for VRRP (`for_vrrp`) or for the checkers. Unknown or not
/// yet reported: down (keepalived starts a tracker down until its session comes up).
pub fn is_up(map: &StatusMap, name: &str, for_vrrp: bool) -> bool {
    map.get(name)
        .is_some_and(|s| s.up() && if for_vrrp { s.vrrp } else { s.checker })
}

/// Why a datagram matched no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    NoSession,
    Ttl(Option<u8>),
}

/// Finds the session a packet belongs to (RFC 5880 §6.8.6, RFC 5881 §5): by Your
/// Discriminator when set, else by neighbor address (and source address when configured) for
/// the port it came in on; then the TTL rule of that session.
pub fn demux(
    specs: &[(&SessionSpec, u32)],
    multihop: bool,
    d: &Datagram,
    c: &Control,
) -> Result<usize, Unmatched> {
    let src = canonical(d.src.ip());
    let found = specs.iter().position(|(s, disc)| {
        s.multihop() == multihop
            && s.neighbor == src
            && if c.your_disc != 0 {
                *disc == c.your_disc
            } else {
                s.source
                    .is_none_or(|a| d.dst.is_none_or(|dst| canonical(dst) == a))
            }
    });
    let i = found.ok_or(Unmatched::NoSession)?;
    if !specs[i].0.ttl_ok(d.ttl) {
        return Err(Unmatched::Ttl(d.ttl));
    }
    Ok(i)
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

struct Running {
    spec: SessionSpec,
    session: Session,
    tx: Sender,
    received: u64,
    sent: u64,
    since_unix_ms: u64,
    transitions: u64,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

type Inbound = (bool, Datagram, [u8; 64]);

/// Datagrams dropped before reaching a session, by reason (`/status`, `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Not a valid Control packet (RFC 5880 §6.8.6 reception checks).
    pub malformed: u64,
    /// Valid, but for no configured session.
    pub no_session: u64,
    /// For a session, but with a TTL/hop limit its rule refuses (RFC 5881 §5, RFC 5883).
    pub bad_ttl: u64,
}

/// [`Dropped`] as the service counts it; warned about at most once a minute.
#[derive(Debug, Default)]
struct Drops {
    counts: Dropped,
    warned: Option<Instant>,
}

impl Drops {
    fn count(&mut self, now: Instant, what: &str, from: std::net::SocketAddr) {
        let c = &mut self.counts;
        match what {
            "ttl" => c.bad_ttl += 1,
            "unmatched" => c.no_session += 1,
            _ => c.malformed += 1,
        }
        if self
            .warned
            .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(60))
        {
            self.warned = Some(now);
            tracing::warn!(
                "BFD: dropped a packet from {from} ({what}); so far {} malformed, {} for no session, {} with a bad TTL",
                c.malformed,
                c.no_session,
                c.bad_ttl
            );
        }
    }
}

struct Service {
    drops: Drops,
    sessions: Vec<Running>,
    listeners: HashMap<(bool, u16), tokio::task::JoinHandle<()>>,
    inbound: mpsc::Sender<Inbound>,
    status: Arc<watch::Sender<StatusMap>>,
    dropped: Arc<watch::Sender<Dropped>>,
}

impl Service {
    fn fresh_disc(&self) -> u32 {
        loop {
            let d = random_u64() as u32;
            if d != 0 && self.sessions.iter().all(|r| r.session.local_disc() != d) {
                return d;
            }
        }
    }

    fn start(&mut self, spec: SessionSpec, now: Instant) {
        let v6 = spec.neighbor.is_ipv6();
        let tx = match Sender::open(spec.source, v6, spec.ttl, random_u64() as u16) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(bfd = %spec.name, "BFD instance {}: cannot open its socket: {e}", spec.name);
                return;
            }
        };
        let key = (v6, spec.port());
        if !self.listeners.contains_key(&key) {
            match Listener::bind(v6, key.1) {
                Ok(l) => {
                    let chan = self.inbound.clone();
                    let multihop = key.1 == PORT_MULTI_HOP;
                    self.listeners
                        .insert(key, tokio::spawn(listen(l, multihop, chan)));
                }
                Err(e) => {
                    tracing::error!(
                        "BFD: cannot listen on UDP port {} ({}): {e}",
                        key.1,
                        if v6 { "IPv6" } else { "IPv4" }
                    );
                }
            }
        }
        let disc = self.fresh_disc();
        tracing::info!(bfd = %spec.name, "BFD instance {} to {} ({}) from {}: starting, discriminator {disc:#x}", spec.name, spec.neighbor, if spec.multihop() { "multihop" } else { "single hop" }, tx.local);
        let session = Session::new(spec.session.clone(), disc, random_u64(), now);
        self.sessions.push(Running {
            spec,
            session,
            tx,
            received: 0,
            sent: 0,
            since_unix_ms: unix_ms(),
            transitions: 0,
        });
    }

    /// A reload: same endpoint keeps the session (new timers poll); the rest restarts.
    fn apply(&mut self, specs: &[SessionSpec], now: Instant) {
        let mut keep = Vec::new();
        for mut r in std::mem::take(&mut self.sessions) {
            match specs
                .iter()
                .find(|s| s.name == r.spec.name && s.same_endpoint(&r.spec))
            {
                Some(s) => {
                    let out = r.session.reconfigure(now, s.session.clone());
                    r.spec = s.clone();
                    execute(&mut r, out);
                    keep.push(r);
                }
                None => {
                    let out = r.session.admin_down(now);
                    execute(&mut r, out);
                    tracing::info!(bfd = %r.spec.name, "BFD instance {} removed", r.spec.name);
                }
            }
        }
        self.sessions = keep;
        for s in specs {
            if !self.sessions.iter().any(|r| r.spec.name == s.name) {
                self.start(s.clone(), now);
            }
        }
        // Listeners nobody uses any more stop.
        let used: Vec<(bool, u16)> = self
            .sessions
            .iter()
            .map(|r| (r.spec.neighbor.is_ipv6(), r.spec.port()))
            .collect();
        self.listeners.retain(|k, t| {
            let keep = used.contains(k);
            if !keep {
                t.abort();
            }
            keep
        });
    }

    fn on_datagram(&mut self, now: Instant, (multihop, d, buf): Inbound) {
        let bytes = &buf[..d.len.min(buf.len())];
        let c = match packet::decode(bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("BFD: dropped a packet from {}: {e}", d.src);
                self.drops.count(now, "malformed", d.src);
                return;
            }
        };
        let specs: Vec<(&SessionSpec, u32)> = self
            .sessions
            .iter()
            .map(|r| (&r.spec, r.session.local_disc()))
            .collect();
        match demux(&specs, multihop, &d, &c) {
            Ok(i) => {
                let r = &mut self.sessions[i];
                r.received += 1;
                match r.session.on_packet(now, &c) {
                    Ok(out) => execute(r, out),
                    Err(e) => tracing::debug!(bfd = %r.spec.name, "BFD: packet ignored: {e:?}"),
                }
            }
            Err(e) => {
                tracing::debug!("BFD: packet from {} dropped: {e:?}", d.src);
                let what = match e {
                    Unmatched::Ttl(_) => "ttl",
                    Unmatched::NoSession => "unmatched",
                };
                self.drops.count(now, what, d.src);
            }
        }
    }

    fn publish(&self) {
        self.dropped.send_if_modified(|d| {
            let changed = *d != self.drops.counts;
            *d = self.drops.counts;
            changed
        });
        let map: StatusMap = self
            .sessions
            .iter()
            .map(|r| {
                (
                    r.spec.name.clone(),
                    SessionStatus {
                        name: r.spec.name.clone(),
                        neighbor: r.spec.neighbor,
                        state: r.session.state(),
                        diag: r.session.diag().to_string(),
                        local_disc: r.session.local_disc(),
                        remote_disc: r.session.remote_disc(),
                        vrrp: r.spec.vrrp,
                        checker: r.spec.checker,
                        received: r.received,
                        sent: r.sent,
                        detail: SessionDetail {
                            source: r.spec.source,
                            remote_state: (r.session.remote_disc() != 0)
                                .then(|| r.session.remote_state()),
                            tx_interval_us: duration_us(r.session.tx_interval()),
                            rx_interval_us: duration_us(r.session.rx_interval()),
                            detection_time_us: r.session.detection_time().map(duration_us),
                            since_unix_ms: r.since_unix_ms,
                            transitions: r.transitions,
                        },
                    },
                )
            })
            .collect();
        // Only state changes wake the trackers; counters ride along.
        self.status.send_if_modified(|cur| {
            let changed = cur.len() != map.len()
                || cur
                    .iter()
                    .zip(map.iter())
                    .any(|((a, x), (b, y))| a != b || x.state != y.state);
            *cur = map;
            changed
        });
    }
}

fn duration_us(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn execute(r: &mut Running, out: Vec<Output>) {
    for o in out {
        match o {
            Output::Send(c) => {
                r.sent += 1;
                if let Err(e) = r.tx.send(&packet::encode(&c), r.spec.dest()) {
                    tracing::debug!(bfd = %r.spec.name, "BFD send to {} failed: {e}", r.spec.dest());
                }
            }
            Output::Changed { from, to, diag } => {
                r.since_unix_ms = unix_ms();
                r.transitions += 1;
                tracing::info!(bfd = %r.spec.name, from = from.name(), to = to.name(), "BFD instance {} {} -> {} ({diag})", r.spec.name, from.name(), to.name());
            }
        }
    }
}

async fn listen(l: Listener, multihop: bool, chan: mpsc::Sender<Inbound>) {
    let mut buf = [0u8; 64];
    loop {
        match l.recv(&mut buf).await {
            Ok(d) => {
                // A full queue drops (a flood must not grow memory); sessions recover.
                let _ = chan.try_send((multihop, d, buf));
            }
            Err(e) => {
                tracing::warn!("BFD listener: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs the sessions of `specs` (and of every later value) until `shutdown`, publishing their
/// states on `status`. At the end each peer is told AdminDown.
pub async fn run(
    mut specs: watch::Receiver<Vec<SessionSpec>>,
    status: Arc<watch::Sender<StatusMap>>,
    dropped: Arc<watch::Sender<Dropped>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (inbound, mut rx) = mpsc::channel(1024);
    let mut svc = Service {
        drops: Drops::default(),
        sessions: Vec::new(),
        listeners: HashMap::new(),
        inbound,
        status,
        dropped,
    };
    let first = specs.borrow_and_update().clone();
    svc.apply(&first, Instant::now());
    svc.publish();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let deadline = svc
            .sessions
            .iter()
            .filter_map(|r| r.session.next_deadline())
            .min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = shutdown.changed() => if r.is_err() { break },
            r = specs.changed() => {
                if r.is_err() {
                    break;
                }
                let s = specs.borrow_and_update().clone();
                svc.apply(&s, Instant::now());
            }
            Some(m) = rx.recv() => svc.on_datagram(Instant::now(), m),
            () = sleep => {
                let now = Instant::now();
                for r in &mut svc.sessions {
                    if r.session.next_deadline().is_some_and(|d| d <= now) {
                        let out = r.session.on_timer(now);
                        execute(r, out);
                    }
                }
            }
        }
        svc.publish();
    }
    let now = Instant::now();
    for r in &mut svc.sessions {
        let out = r.session.admin_down(now);
        execute(r, out);
    }
    svc.publish();
    for (_, t) in svc.listeners.drain() {
        t.abort();
    }
}

/// A status map holding one session, for tests of what follows sessions.
#[cfg(test)]
pub(crate) fn one_session(name: &str, neighbor: &str, state: State) -> StatusMap {
    let mut m = StatusMap::new();
    m.insert(
        name.into(),
        SessionStatus {
            name: name.into(),
            neighbor: neighbor.parse().expect("test address"),
            state,
            diag: String::new(),
            local_disc: 1,
            remote_disc: 2,
            vrrp: true,
            checker: true,
            received: 0,
            sent: 0,
            detail: Default::default(),
        },
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::session::SessionConfig;
    use std::net::SocketAddr;

    fn spec(name: &str, n: &str, max_hops: u8, source: Option<&str>) -> SessionSpec {
        SessionSpec {
            name: name.into(),
            neighbor: n.parse().unwrap(),
            source: source.map(|s| s.parse().unwrap()),
            session: SessionConfig::default(),
            ttl: 255,
            max_hops,
            multihop: max_hops > 0,
            vrrp: true,
            checker: true,
        }
    }

    fn pkt(your: u32) -> Control {
        Control {
            diag: packet::Diag::None,
            state: if your == 0 { State::Down } else { State::Up },
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc: 5,
            your_disc: your,
            desired_min_tx: 1,
            required_min_rx: 1,
            required_min_echo_rx: 0,
        }
    }

    fn dg(src: &str, dst: &str, ttl: u8) -> Datagram {
        Datagram {
            src: SocketAddr::new(src.parse().unwrap(), 49152),
            dst: Some(dst.parse().unwrap()),
            ttl: Some(ttl),
            len: 24,
        }
    }

    #[test]
    fn demux_by_discriminator_address_port_and_ttl() {
        let a = spec("a", "10.0.0.2", 0, None);
        let b = spec("b", "10.0.0.3", 0, Some("10.0.0.1"));
        let m = spec("m", "10.9.0.2", 5, None);
        let s = [(&a, 100), (&b, 200), (&m, 300)];
        assert_eq!(
            demux(&s, false, &dg("10.0.0.2", "10.0.0.1", 255), &pkt(0)),
            Ok(0)
        );
        assert_eq!(
            demux(&s, false, &dg("10.0.0.2", "10.0.0.1", 255), &pkt(100)),
            Ok(0)
        );
        // Wrong discriminator for that neighbor.
        assert_eq!(
            demux(&s, false, &dg("10.0.0.2", "10.0.0.1", 255), &pkt(200)),
            Err(Unmatched::NoSession)
        );
        // source_ip must match the address it was sent to.
        assert_eq!(
            demux(&s, false, &dg("10.0.0.3", "10.0.0.9", 255), &pkt(0)),
            Err(Unmatched::NoSession)
        );
        assert_eq!(
            demux(&s, false, &dg("10.0.0.3", "10.0.0.1", 255), &pkt(0)),
            Ok(1)
        );
        // Single hop wants TTL 255 exactly (RFC 5881 §5).
        assert_eq!(
            demux(&s, false, &dg("10.0.0.2", "10.0.0.1", 254), &pkt(0)),
            Err(Unmatched::Ttl(Some(254)))
        );
        // Multihop: only on its port, TTL down to 255 - max_hops.
        assert_eq!(
            demux(&s, false, &dg("10.9.0.2", "10.0.0.1", 255), &pkt(0)),
            Err(Unmatched::NoSession)
        );
        assert_eq!(
            demux(&s, true, &dg("10.9.0.2", "10.0.0.1", 250), &pkt(0)),
            Ok(2)
        );
        assert_eq!(
            demux(&s, true, &dg("10.9.0.2", "10.0.0.1", 249), &pkt(0)),
            Err(Unmatched::Ttl(Some(249)))
        );
        let any = spec("x", "fe80::2", 255, None);
        assert_eq!(
            demux(&[(&any, 1)], true, &dg("fe80::2", "fe80::1", 1), &pkt(0)),
            Ok(0)
        );
    }

    #[test]
    fn track_bfd_weights_as_keepalived_documents_them() {
        use crate::vrrp::Tracked;
        use crate::vrrp::track::{bfd_input, evaluate};
        let map = |state: State| one_session("b", "10.0.0.2", state);
        let prio = |weight, reverse, state| {
            let t = Tracked {
                name: "b".into(),
                weight,
                reverse,
            };
            evaluate(100, &[bfd_input(&t, &map(state))], &[])
        };
        // Unweighted: FAULT while down; `weight 0 reverse`: FAULT while up.
        assert_eq!(prio(None, false, State::Up), (false, 100));
        assert_eq!(prio(None, false, State::Down), (true, 100));
        assert_eq!(prio(None, true, State::Up), (true, 100));
        assert_eq!(prio(None, true, State::Down), (false, 100));
        // Positive weights count while up, negative while down; reverse swaps.
        assert_eq!(prio(Some(10), false, State::Up), (false, 110));
        assert_eq!(prio(Some(10), false, State::Init), (false, 100));
        assert_eq!(prio(Some(-30), false, State::Down), (false, 70));
        assert_eq!(prio(Some(-30), true, State::Up), (false, 70));
        // A session not running (e.g. -B) is down.
        let t = Tracked {
            name: "other".into(),
            weight: None,
            reverse: false,
        };
        assert!(evaluate(100, &[bfd_input(&t, &map(State::Up))], &[]).0);
    }

    #[test]
    fn vrrp_and_checker_routing() {
        let mut m = StatusMap::new();
        m.insert(
            "b".into(),
            SessionStatus {
                name: "b".into(),
                neighbor: "10.0.0.2".parse().unwrap(),
                state: State::Up,
                diag: String::new(),
                local_disc: 1,
                remote_disc: 2,
                vrrp: false,
                checker: true,
                received: 0,
                sent: 0,
                detail: Default::default(),
            },
        );
        assert!(is_up(&m, "b", false));
        assert!(!is_up(&m, "b", true), "checker-only session");
        assert!(!is_up(&m, "nosuch", false));
    }
}
