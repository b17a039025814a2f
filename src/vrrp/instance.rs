//! The one loop per `vrrp_instance`: every input (a datagram, the FSM deadline, a tracker
//! change, a sync-group move, shutdown) becomes an [`Event`] for the pure [`Fsm`], and the
//! returned [`Action`]s are carried out here: adverts on the raw socket, VIPs through
//! rtnetlink, GARP/NA frames, notify scripts, counters and status.
//!
//! ```text
//!  VrrpSocket::recv ──► validate::check ──► Event::Advert ─┐
//!  sleep_until(fsm.next_deadline()) ──────► Event::Timer ──┤
//!  track watches (scripts, links, files) ─► Fault/Priority ┼─► Fsm::handle ─► Actions ─► execute
//!  sync group watch ──────────────────────► Event::Follow ─┤
//!  shutdown watch ────────────────────────► Event::Shutdown┘
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::{Notify as TokioNotify, watch};
use tokio::time::Instant;

use super::log_limit::{Decision, Kind, LogLimits, suppressed_note};

use super::config::{InstanceConfig, ScriptConfig, Vip};
use super::fsm::{Action, Event, Fsm, FsmConfig, State};
use super::garp::{Announcer, Mac, announce_frame};
use super::packet::{Advert, MCAST_V4, MCAST_V6, Version};
use super::socket::{SocketOptions, VrrpSocket};
use super::timer::HrTimer;
use super::track::{self, FileInput, Input};
use super::validate::{self, Expect, Verdict};
use super::vip::Netlink;
use super::{no_accept, notify, sync};
use crate::status::{StatusHub, VrrpCounters, VrrpInstanceStatus, VrrpState};

/// What every instance shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub nl: Netlink,
    pub hub: StatusHub,
    pub links: watch::Receiver<HashMap<String, bool>>,
    pub scripts: HashMap<String, (ScriptConfig, watch::Receiver<Option<bool>>)>,
    pub files: HashMap<String, watch::Receiver<i64>>,
    /// BFD session states (`track_bfd`).
    pub bfd: watch::Receiver<crate::bfd::StatusMap>,
    pub socket_priority: Option<u32>,
    /// Set when lvsd stops with `-V`: the instance leaves its addresses in place.
    pub keep_on_stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Where this instance sits.
pub(crate) struct Slot {
    pub group: Option<sync::Member>,
}

struct Io {
    sock: VrrpSocket,
    announcer: Announcer,
    mac: Mac,
    src: IpAddr,
    /// ifindex per VIP (its `dev`, the VMAC, or the instance interface).
    vips: Vec<(u32, Vip)>,
    vmac: Option<u32>,
}

pub(crate) fn now_unix_ms() -> u64 {
    now_unix_us() / 1000
}

/// Microseconds, the precision keepalived prints transition times with.
pub(crate) fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn status_state(s: State) -> VrrpState {
    match s {
        State::Initialize => VrrpState::Init,
        State::Backup => VrrpState::Backup,
        State::Master => VrrpState::Master,
        State::Fault => VrrpState::Fault,
    }
}

/// FSM deadlines go through the timerfd (see `timer`); a broken timerfd falls back to tokio.
async fn sleep_hr(hr: &HrTimer, t: Option<std::time::Instant>) {
    match t {
        Some(t) => {
            if hr.sleep_until(t).await.is_err() {
                tokio::time::sleep_until(Instant::from_std(t)).await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Runs one instance until `shutdown` turns true, then resigns (priority 0) and removes its
/// addresses.
pub(crate) async fn run(
    cfg: InstanceConfig,
    shared: Shared,
    slot: Slot,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = cfg.name.clone();
    let mut counters = VrrpCounters::default();
    let mut status = VrrpInstanceStatus {
        name: cfg.name.clone(),
        interface: cfg.interface.clone(),
        vrid: cfg.vrid,
        version: cfg.version,
        family: if cfg.is_ipv6() { "inet6" } else { "inet" },
        state: VrrpState::Init,
        base_priority: cfg.priority,
        effective_priority: cfg.priority,
        master_addr: None,
        since_unix_ms: now_unix_ms(),
        since_unix_us: now_unix_us(),
        master_priority: 0,
        vips: cfg.vips.iter().map(Vip::display).collect(),
        counters: counters.clone(),
    };
    let publish = |st: &VrrpInstanceStatus| {
        shared.hub.vrrp.send_modify(|v| {
            // By name: a reload reorders the list under running instances.
            if let Some(x) = v.iter_mut().find(|x| x.name == st.name) {
                *x = st.clone();
            }
        })
    };
    publish(&status);

    // Setup waits for the interface and a source address (e.g. IPv6 DAD), staying in INIT.
    let io = loop {
        match setup(&cfg, &shared).await {
            Ok(io) => break io,
            Err(e) => {
                tracing::warn!(instance = %name, "cannot start yet: {e:#}; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    tracing::info!(instance = %name, src = %io.src, "VRRP instance started on {} (vrid {}, v{}, prio {})",
        cfg.interface, cfg.vrid, cfg.version, cfg.priority);

    let advert_int = cfg.effective_advert_int();
    let mut fsm = Fsm::new(FsmConfig {
        priority: cfg.priority,
        adver_int: advert_int,
        preempt: cfg.preempt,
        preempt_delay: cfg.preempt_delay,
        local_addr: io.src,
        learn_master_interval: cfg.version() == Version::V3,
    });
    let expect = Expect {
        version: cfg.version(),
        vrid: cfg.vrid,
        auth: cfg.auth(),
        interval_cs: cfg.interval_cs(),
        addrs: cfg.vips.iter().map(|v| v.addr).collect(),
        checksum: cfg.checksum_mode(),
        local: io.src,
        peers: cfg.unicast_peers.clone(),
    };
    let dsts: Vec<IpAddr> = if cfg.unicast_peers.is_empty() {
        vec![multicast_group(&cfg, io.src.is_ipv6())]
    } else {
        cfg.unicast_peers.clone()
    };

    // Tracking: one notifier fires whenever any tracked watch changes.
    let track_changed = Arc::new(TokioNotify::new());
    tokio::spawn(watch_any(
        tracked_receivers(&cfg, &shared),
        track_changed.clone(),
    ));
    let (mut fault, mut prio) = tracking(&cfg, &shared);

    let mut ex = Exec {
        cfg: &cfg,
        io: &io,
        nl: &shared.nl,
        counters: &mut counters,
        dsts,
        garp_at: None,
        garp_refresh_at: None,
        following: false,
        limits: LogLimits::default(),
    };
    let mut group_rx = slot.group.as_ref().map(|g| g.subscribe());
    let mut stats_clear = shared.hub.stats_clear.subscribe();

    // A previous run killed with SIGKILL leaves its addresses behind; like keepalived, start
    // from none (Backup must not hold them).
    ex.execute(&fsm, vec![Action::DelVips], &slot, &mut status)
        .await;

    let t0 = Instant::now();
    let mut acts = Vec::new();
    if fault {
        acts.extend(fsm.handle(t0.into_std(), Event::Fault(true)));
    }
    acts.extend(fsm.handle(t0.into_std(), Event::Priority(prio)));
    acts.extend(fsm.handle(t0.into_std(), Event::Startup));
    ex.execute(&fsm, acts, &slot, &mut status).await;

    let hr = HrTimer::new().context("creating the VRRP timerfd")?;
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = fsm.next_deadline();
        let garp_deadline = match (ex.garp_at, ex.garp_refresh_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (ev, following) = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            // Adverts before the timer; see the deadline branch below.
            r = io.sock.recv(&mut buf) => {
                match r {
                    Ok(Ok(rcv)) => {
                        let msg = buf.get(rcv.payload.clone()).unwrap_or(&[]);
                        match validate::check(&rcv, msg, &expect) {
                            Verdict::Accept { advert, addr_list_mismatch } => {
                                ex.counters.advert_rcvd += 1;
                                if advert.priority == 0 {
                                    ex.counters.pri_zero_rcvd += 1;
                                }
                                if addr_list_mismatch {
                                    ex.counters.addr_list_err += 1;
                                    if let Decision::Log { suppressed } = ex.limits.check(Kind::AddrList, std::time::Instant::now()) {
                                        tracing::warn!(instance = %name, from = %rcv.src, "advert address list {:?} differs from ours{}", advert.addrs, suppressed_note(suppressed));
                                    }
                                }
                                let interval = Duration::from_millis(u64::from(advert.interval_cs) * 10);
                                (Some(Event::Advert { src: rcv.src, priority: advert.priority, interval }), false)
                            }
                            Verdict::Ignore(_) => (None, false),
                            Verdict::Reject(r) => {
                                validate::count(&r, ex.counters);
                                if let Decision::Log { suppressed } = ex.limits.check(Kind::Invalid, std::time::Instant::now()) {
                                    tracing::warn!(instance = %name, from = %rcv.src, "invalid advert dropped: {r}{}", suppressed_note(suppressed));
                                }
                                (None, false)
                            }
                        }
                    }
                    Ok(Err(d)) => {
                        validate::count(&validate::Reject::Decode(d), ex.counters);
                        (None, false)
                    }
                    Err(e) => {
                        tracing::warn!(instance = %name, "receive error: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        (None, false)
                    }
                }
            }
            // After the socket: when the thread wakes late (CPU starved) with both an advert
            // queued and Master_Down_Timer past due, the advert wins and no false failover
            // happens.
            _ = sleep_hr(&hr, deadline) => (Some(Event::Timer), false),
            _ = sleep_opt(garp_deadline) => {
                ex.garp_timer(&fsm);
                (None, false)
            }
            Ok(()) = stats_clear.changed() => {
                // STATS_CLEAR: the counters start over (keepalived clears them likewise).
                *ex.counters = VrrpCounters::default();
                (None, false)
            }
            _ = track_changed.notified() => {
                let (f, p) = tracking(&cfg, &shared);
                let now = Instant::now().into_std();
                let mut acts = Vec::new();
                if p != prio {
                    tracing::info!(instance = %name, "effective priority {prio} -> {p}");
                    prio = p;
                    acts.extend(fsm.handle(now, Event::Priority(p)));
                }
                if f != fault {
                    fault = f;
                    acts.extend(fsm.handle(now, Event::Fault(f)));
                }
                ex.execute(&fsm, acts, &slot, &mut status).await;
                (None, false)
            }
            Some(st) = async {
                match group_rx.as_mut() {
                    Some(rx) => rx.changed().await.ok().and_then(|_| rx.borrow_and_update().clone()),
                    None => std::future::pending().await,
                }
            } => {
                match st {
                    (from, s) if from != name && s != fsm.state() => (Some(Event::Follow(s)), true),
                    _ => (None, false),
                }
            }
        };
        if let Some(ev) = ev {
            let acts = fsm.handle(Instant::now().into_std(), ev);
            ex.following = following;
            ex.execute(&fsm, acts, &slot, &mut status).await;
            ex.following = false;
        }
        // The socket branch comes first; a flood of datagrams must not starve the timers.
        let now = Instant::now().into_std();
        if fsm.next_deadline().is_some_and(|d| d <= now) {
            let acts = fsm.handle(now, Event::Timer);
            ex.execute(&fsm, acts, &slot, &mut status).await;
        }
        status.counters = ex.counters.clone();
        status.effective_priority = fsm.priority();
        status.master_addr = fsm.master_addr();
        status.master_priority = fsm.master_priority();
        publish(&status);
    }

    let mut acts = fsm.handle(Instant::now().into_std(), Event::Shutdown);
    let keep = shared
        .keep_on_stop
        .load(std::sync::atomic::Ordering::SeqCst);
    if keep {
        acts.retain(|a| !matches!(a, Action::SendAdvert { priority: 0 } | Action::DelVips));
        tracing::info!(instance = %name, "-V: leaving the virtual addresses in place");
    }
    ex.execute(&fsm, acts, &slot, &mut status).await;
    status.counters = ex.counters.clone();
    publish(&status);
    if let Some(ix) = io.vmac.filter(|_| !keep) {
        let _ = shared.nl.del_link(ix).await;
    }
    tracing::info!(instance = %name, "VRRP instance stopped");
    Ok(())
}

/// `mcast_dst_ip` when it is of the instance's family, else the RFC group.
fn multicast_group(cfg: &InstanceConfig, v6: bool) -> IpAddr {
    match cfg.mcast_dst_ip {
        Some(g) if g.is_ipv6() == v6 && g.is_multicast() => g,
        _ if v6 => MCAST_V6.into(),
        _ => MCAST_V4.into(),
    }
}

async fn setup(cfg: &InstanceConfig, shared: &Shared) -> anyhow::Result<Io> {
    let nl = &shared.nl;
    let link = nl.link(&cfg.interface).await?;
    let v6 = cfg.is_ipv6();
    let vip_addrs: Vec<IpAddr> = cfg
        .vips
        .iter()
        .chain(&cfg.vips_excluded)
        .map(|v| v.addr)
        .collect();
    let (vlink, vmac) = match &cfg.use_vmac {
        Some(n) => {
            let name = if n.is_empty() {
                format!("vrrp.{}", cfg.vrid)
            } else {
                n.clone()
            };
            let l = nl.ensure_vmac(link.index, &name, cfg.vrid, v6).await?;
            let _ = nl.set_up(l.index).await;
            let ix = l.index;
            (l, Some(ix))
        }
        None => (link.clone(), None),
    };
    let src = match cfg.unicast_src_ip.or(cfg.mcast_src_ip) {
        Some(a) => a,
        None => nl
            .source_address(link.index, v6, &vip_addrs)
            .await?
            .with_context(|| {
                format!(
                    "no usable {} source address on {}",
                    if v6 { "link-local IPv6" } else { "IPv4" },
                    cfg.interface
                )
            })?,
    };
    let sock = VrrpSocket::open(&SocketOptions {
        ifname: vlink.name.clone(),
        ifindex: vlink.index,
        src,
        multicast: cfg.unicast_peers.is_empty(),
        group: multicast_group(cfg, v6),
        priority: shared.socket_priority,
    })
    .with_context(|| format!("opening VRRP sockets on {}", vlink.name))?;
    let mut vips = Vec::new();
    for v in cfg.vips.iter().chain(&cfg.vips_excluded) {
        let ix = match &v.dev {
            Some(d) if *d != cfg.interface => nl.link(d).await?.index,
            _ => vlink.index,
        };
        vips.push((ix, v.clone()));
    }
    Ok(Io {
        sock,
        announcer: Announcer::new(vlink.index).context("opening packet socket")?,
        mac: vlink.mac,
        src,
        vips,
        vmac,
    })
}

type Changed<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

enum Rx {
    Links(watch::Receiver<HashMap<String, bool>>),
    Script(watch::Receiver<Option<bool>>),
    File(watch::Receiver<i64>),
    Bfd(watch::Receiver<crate::bfd::StatusMap>),
}

impl Rx {
    fn changed(&mut self) -> Changed<'_> {
        match self {
            Rx::Links(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Script(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::File(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Bfd(r) => Box::pin(async move { r.changed().await.is_ok() }),
        }
    }
}

fn tracked_receivers(cfg: &InstanceConfig, shared: &Shared) -> Vec<Rx> {
    let mut v = vec![Rx::Links(shared.links.clone())];
    for t in &cfg.track_scripts {
        if let Some((_, rx)) = shared.scripts.get(&t.name) {
            v.push(Rx::Script(rx.clone()));
        }
    }
    for f in &cfg.track_files {
        if let Some(rx) = shared.files.get(&f.path) {
            v.push(Rx::File(rx.clone()));
        }
    }
    if !cfg.track_bfds.is_empty() {
        v.push(Rx::Bfd(shared.bfd.clone()));
    }
    v
}

/// Wakes `notify` whenever any receiver sees a change; ends when all senders are gone.
async fn watch_any(mut rxs: Vec<Rx>, notify: Arc<TokioNotify>) {
    loop {
        if rxs.is_empty() {
            return;
        }
        let futs: Vec<Changed<'_>> = rxs.iter_mut().map(Rx::changed).collect();
        let (ok, i, _) = futures_util::future::select_all(futs).await;
        if !ok {
            rxs.remove(i);
            continue;
        }
        notify.notify_one();
    }
}

/// The instance's current (fault, effective priority) from all tracked sources.
fn tracking(cfg: &InstanceConfig, shared: &Shared) -> (bool, u8) {
    let links = shared.links.borrow();
    let mut inputs = Vec::new();
    if !cfg.dont_track_primary {
        // Unknown (not yet dumped) counts as up: the dump arrives within milliseconds.
        inputs.push(Input {
            ok: links.get(&cfg.interface).copied().unwrap_or(true),
            weight: None,
            reverse: false,
        });
    }
    for t in &cfg.track_interfaces {
        inputs.push(Input {
            ok: links.get(&t.name).copied().unwrap_or(false),
            weight: t.weight,
            reverse: t.reverse,
        });
    }
    for t in &cfg.track_scripts {
        if let Some((sc, rx)) = shared.scripts.get(&t.name) {
            // No verdict yet: not counted against the instance.
            let ok = rx.borrow().unwrap_or(true);
            inputs.push(track::script_input(t, sc, ok));
        }
    }
    let bfd = shared.bfd.borrow();
    inputs.extend(cfg.track_bfds.iter().map(|t| track::bfd_input(t, &bfd)));
    let files: Vec<FileInput> = cfg
        .track_files
        .iter()
        .map(|f| FileInput {
            value: shared.files.get(&f.path).map_or(0, |r| *r.borrow()),
            weight: f.weight,
        })
        .collect();
    track::evaluate(cfg.priority, &inputs, &files)
}

/// Carries out FSM actions.
struct Exec<'a> {
    cfg: &'a InstanceConfig,
    io: &'a Io,
    nl: &'a Netlink,
    counters: &'a mut VrrpCounters,
    dsts: Vec<IpAddr>,
    garp_at: Option<Instant>,
    garp_refresh_at: Option<Instant>,
    /// The current transition follows a sync-group peer: do not re-broadcast it.
    following: bool,
    /// Warnings the network can trigger are rate-limited per kind (counters count all).
    limits: LogLimits,
}

impl Exec<'_> {
    /// The nftables chain that enforces `no_accept`, when it applies: the address owner
    /// (priority 255) always accepts, as RFC 5798 says.
    fn no_accept_chain(&self) -> Option<String> {
        (!self.cfg.accept && self.cfg.priority != 255)
            .then(|| no_accept::chain_name(self.cfg.vrid, &self.cfg.name))
    }

    fn send_advert(&mut self, priority: u8) {
        let adv = Advert {
            version: self.cfg.version(),
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.interval_cs(),
            addrs: self.cfg.vips.iter().map(|v| v.addr).collect(),
            auth: self.cfg.auth(),
        };
        for dst in &self.dsts {
            let msg = adv.encode(self.io.src, *dst, self.cfg.checksum_mode());
            match self.io.sock.send(&msg, *dst) {
                Ok(()) => {
                    self.counters.advert_sent += 1;
                    if priority == 0 {
                        self.counters.pri_zero_sent += 1;
                    }
                }
                Err(e) => {
                    tracing::debug!(instance = %self.cfg.name, "advert to {dst} not sent: {e}")
                }
            }
        }
    }

    fn announce(&mut self, repeat: u32) {
        for _ in 0..repeat.max(1) {
            for (_, v) in &self.io.vips {
                if let Err(e) = self.io.announcer.send(&announce_frame(self.io.mac, v.addr)) {
                    tracing::debug!(instance = %self.cfg.name, "gratuitous ARP/NA for {} not sent: {e}", v.addr);
                }
            }
        }
    }

    fn garp_timer(&mut self, fsm: &Fsm) {
        let now = Instant::now();
        if fsm.state() != State::Master {
            self.garp_at = None;
            self.garp_refresh_at = None;
            return;
        }
        if self.garp_at.is_some_and(|t| t <= now) {
            self.garp_at = None;
            self.counters.garp_delay += 1;
            self.announce(self.cfg.garp_master_repeat);
        }
        if let Some(t) = self.garp_refresh_at
            && t <= now
        {
            self.announce(self.cfg.garp_master_refresh_repeat);
            self.garp_refresh_at = self.cfg.garp_master_refresh.map(|r| now + r);
        }
    }

    async fn execute(
        &mut self,
        fsm: &Fsm,
        acts: Vec<Action>,
        slot: &Slot,
        status: &mut VrrpInstanceStatus,
    ) {
        for a in acts {
            match a {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips => {
                    // Block before the VIPs exist, so no_accept never lets a packet in.
                    if let Some(chain) = self.no_accept_chain() {
                        let vips: Vec<IpAddr> = self.io.vips.iter().map(|(_, v)| v.addr).collect();
                        if let Err(e) =
                            no_accept::apply(&no_accept::block_script(&chain, &vips)).await
                        {
                            tracing::error!(instance = %self.cfg.name, "{e:#}");
                        }
                    }
                    for (ix, v) in &self.io.vips {
                        if let Err(e) = self.nl.add_vip(*ix, v).await {
                            tracing::error!(instance = %self.cfg.name, "{e}");
                        }
                    }
                }
                Action::DelVips => {
                    self.garp_at = None;
                    self.garp_refresh_at = None;
                    for (ix, v) in &self.io.vips {
                        if let Err(e) = self.nl.del_vip(*ix, v).await {
                            tracing::error!(instance = %self.cfg.name, "{e}");
                        }
                    }
                    if let Some(chain) = self.no_accept_chain()
                        && let Err(e) = no_accept::apply(&no_accept::unblock_script(&chain)).await
                    {
                        tracing::error!(instance = %self.cfg.name, "{e:#}");
                    }
                }
                Action::Garp => {
                    self.announce(self.cfg.garp_master_repeat);
                    let now = Instant::now();
                    if !self.cfg.garp_master_delay.is_zero() {
                        self.garp_at = Some(now + self.cfg.garp_master_delay);
                    }
                    self.garp_refresh_at = self.cfg.garp_master_refresh.map(|r| now + r);
                }
                Action::StateChanged { from, to } => {
                    tracing::info!(instance = %self.cfg.name, "entering {} state (priority {})", notify::state_word(to), fsm.priority());
                    if to == State::Master {
                        self.counters.become_master += 1;
                    }
                    if from == State::Master {
                        self.counters.release_master += 1;
                    }
                    status.state = status_state(to);
                    status.since_unix_us = now_unix_us();
                    status.since_unix_ms = status.since_unix_us / 1000;
                    notify::run(
                        &self.cfg.notify,
                        "INSTANCE",
                        &self.cfg.name,
                        to,
                        fsm.priority(),
                    );
                    if let Some(g) = &slot.group
                        && !self.following
                    {
                        g.publish(&self.cfg.name, to);
                    }
                }
                Action::SplitBrain {
                    peer,
                    peer_priority,
                } => {
                    self.counters.split_brain += 1;
                    if let Decision::Log { suppressed } = self
                        .limits
                        .check(Kind::LowerPriority, std::time::Instant::now())
                    {
                        tracing::warn!(
                            instance = %self.cfg.name,
                            "split brain on vrid {}: we ({}, priority {}) and {} (priority {}) are both master; we win and re-assert{}",
                            self.cfg.vrid, self.io.src, fsm.priority(), peer, peer_priority,
                            suppressed_note(suppressed),
                        );
                    }
                }
            }
        }
    }
}
