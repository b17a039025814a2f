//! The one loop per `vrrp_instance`, at the I/O edge: [`Sources::next`] turns whatever the
//! loop waits on into one [`step::Input`]; the pure [`Step`] turns it into effects, carried
//! out here by [`Exec`]: adverts on the raw socket, VIPs through rtnetlink, GARP/NA frames,
//! notify scripts, events and status.
//!
//! ```text
//!  shutdown watch ────────────────────────► Input::Shutdown ─┐
//!  VrrpSocket::recv ──► validate::check ──► Input::Packet ───┤
//!  timerfd at step.next_deadline() ───────► Input::Timer ────┤
//!  STATS_CLEAR ───────────────────────────► Input::StatsClear┼─► Step::on_input ─► Effects ─► Exec
//!  tracked watches (links, scripts, files, ─► Input::Track ──┤
//!    processes; BFD and routes join here)                    │
//!  sync group watch ──────────────────────► Input::Group ────┘
//! ```
//!
//! Every source is owned by the loop and polled by it (no task of its own), so nothing the
//! loop waits on outlives it; shutdown is polled first on every turn.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{InstanceConfig, ScriptConfig, Vip};
use super::fsm::{Action, FsmConfig, State};
use super::garp::{Announcer, Mac, announce_frame};
use super::packet::{Advert, MCAST_V4, MCAST_V6, Version};
use super::socket::{SocketOptions, VrrpSocket};
use super::step::{self, Step, StepConfig};
use super::timer::HrTimer;
use super::track::{self, FileInput, Input};
use super::validate::{self, Expect, Verdict};
use super::vip::{Link, Netlink};
use super::{notify, sync};
use crate::director::local_addrs::LocalAddrs;
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
    /// Instances a static `track_group` puts in FAULT (`crate::routes`).
    pub static_faults: watch::Receiver<std::collections::BTreeSet<String>>,
    /// `vrrp_track_process` verdicts by name (None until the first /proc scan).
    pub processes: super::track_process::Verdicts,
    pub socket_priority: Option<u32>,
    /// Set when lvsd stops with `-V`: the instance leaves its addresses in place.
    pub keep_on_stop: Arc<std::sync::atomic::AtomicBool>,
    /// The `no_accept` rules of every instance (keepalived's nftables table).
    pub firewall: crate::nft::vrrp::Firewall,
    /// `vrrp_startup_delay`.
    pub startup_delay: Duration,
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
    /// The VMAC or ipvlan the instance created (deleted at stop).
    vmac: Option<u32>,
    /// `promote_secondaries` to put back at stop.
    promoted: Option<super::vmac::Sysctl>,
    /// The other interfaces VIPs are on: their GARP/NA go out there, with their MAC.
    others: Vec<super::garp_extra::OtherIf>,
    /// The `use_vmac_addr` VMACs (removed on stop).
    addr_vmacs: Vec<u32>,
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

/// Everything one instance waits on, turned into [`step::Input`]s. It owns its receivers and
/// spawns nothing, so when the loop ends, every input it waited on ends with it.
struct Sources<'a> {
    cfg: &'a InstanceConfig,
    shared: &'a Shared,
    io: &'a Io,
    expect: Expect,
    hr: HrTimer,
    buf: Vec<u8>,
    trackers: Trackers,
    /// This host's addresses, for `track_src_ip`.
    src_addrs: Option<SrcAddrs>,
    /// None when the instance is in no sync group (or the group is gone).
    group: Option<watch::Receiver<Option<(String, State)>>>,
    stats_clear: Option<watch::Receiver<u64>>,
    /// (instance, mastership start) to resign (`crate::routes`), and our current start.
    resign: tokio::sync::broadcast::Receiver<(String, u64)>,
    since_us: u64,
    /// `garp_extra_if`: the next periodic GARP/NA on the other interfaces while MASTER.
    extra: super::garp_extra::Periodic,
    shutdown: watch::Receiver<bool>,
}

impl<'a> Sources<'a> {
    fn new(
        cfg: &'a InstanceConfig,
        shared: &'a Shared,
        io: &'a Io,
        slot: &Slot,
        src_addrs: Option<SrcAddrs>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        Ok(Sources {
            cfg,
            shared,
            io,
            expect: Expect {
                version: cfg.version(),
                vrid: cfg.vrid,
                auth: cfg.auth(),
                interval_cs: cfg.interval_cs(),
                addrs: cfg.vips.iter().map(|v| v.addr).collect(),
                checksum: cfg.checksum_mode(),
                local: io.src,
                peers: cfg.unicast_peers.clone(),
                check_unicast_src: cfg.check_unicast_src,
            },
            hr: HrTimer::new().context("creating the VRRP timerfd")?,
            buf: vec![0u8; 2048],
            trackers: Trackers::new(tracked_receivers(cfg, shared, src_addrs.as_ref())),
            src_addrs,
            group: slot.group.as_ref().map(|g| g.subscribe()),
            stats_clear: Some(shared.hub.stats_clear.subscribe()),
            resign: shared.hub.vrrp_resign.subscribe(),
            since_us: 0,
            extra: super::garp_extra::Periodic::new(cfg.garp_extra_if, cfg.garp_extra_if_all),
            shutdown,
        })
    }

    /// The next input. Shutdown is looked at first: whatever else is ready, a stop is seen at
    /// the next call. Tracker, sync-group and STATS_CLEAR changes come next: they are rare, and
    /// a flood of datagrams must not hide them. Adverts come before the timer: when the thread
    /// wakes late (CPU starved) with both an advert queued and Master_Down_Timer past due, the
    /// advert wins and no false failover happens (an expired timer is still served after each
    /// input, see `Step::on_input`).
    async fn next(&mut self, deadline: Option<std::time::Instant>) -> Option<step::Input> {
        let has_group = self.group.is_some();
        let has_clear = self.stats_clear.is_some();
        let has_trackers = !self.trackers.is_empty();
        let extra_at = self.extra.next();
        tokio::select! {
            biased;
            _ = self.shutdown.changed() => Some(step::Input::Shutdown),
            _ = tokio::time::sleep_until(extra_at.unwrap_or_else(Instant::now)), if extra_at.is_some() => {
                self.extra.fired(&self.io.others, &self.cfg.name);
                None
            }
            true = self.trackers.changed(), if has_trackers => {
                Some(step::Input::Track(tracking(self.cfg, self.shared, self.src_addrs.as_ref())))
            }
            r = changed(self.group.as_mut()), if has_group => {
                let st = r.then(|| self.group.as_mut().and_then(|g| g.borrow_and_update().clone())).flatten();
                if !r {
                    self.group = None;
                }
                st.map(|(from, state)| step::Input::Group { from, state })
            }
            r = changed(self.stats_clear.as_mut()), if has_clear => match r {
                true => Some(step::Input::StatsClear),
                false => { self.stats_clear = None; None }
            },
            Ok((who, since)) = self.resign.recv() => {
                (who == self.cfg.name && since == self.since_us).then_some(step::Input::Resign)
            }
            r = self.io.sock.recv(&mut self.buf) => self.packet(r).await,
            _ = sleep_hr(&self.hr, deadline) => {
                if let Some(due) = deadline {
                    crate::tuning::auto_priority::timer_ran(due);
                }
                Some(step::Input::Timer)
            }
        }
    }

    async fn packet(
        &mut self,
        r: std::io::Result<Result<super::socket::Received, super::packet::DecodeError>>,
    ) -> Option<step::Input> {
        match r {
            Ok(Ok(rcv)) => {
                let msg = self.buf.get(rcv.payload.clone()).unwrap_or(&[]);
                let verdict = validate::check(&rcv, msg, &self.expect);
                Some(step::Input::Packet {
                    src: rcv.src,
                    verdict,
                })
            }
            Ok(Err(d)) => Some(step::Input::Packet {
                src: self.expect.local,
                verdict: Verdict::Reject(validate::Reject::Decode(d)),
            }),
            Err(e) => {
                tracing::warn!("VRRP receive error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                None
            }
        }
    }
}

/// `rx.changed()`: true on a new value, false when the sender is gone (never with None: the
/// branch is disabled then).
async fn changed<T>(rx: Option<&mut watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => false,
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
    let mut status = initial_status(&cfg);
    let publish = |st: &VrrpInstanceStatus| publish_status(&shared, st);
    publish(&status);
    if let Some(why) = super::ipvlan::config_fault(&cfg) {
        status.state = VrrpState::Fault;
        publish(&status);
        tracing::error!(instance = %name, "{why}: staying in FAULT");
        let _ = shutdown.wait_for(|s| *s).await;
        return Ok(());
    }

    let src_addrs = track_src(&cfg);
    let Some(io) = start_io(
        &cfg,
        &shared,
        src_addrs.as_ref(),
        &mut status,
        &mut shutdown,
    )
    .await
    else {
        return Ok(());
    };
    let on = match (cfg.interface.as_str(), &cfg.vrf) {
        ("", Some(v)) => format!("VRF {v}"),
        ("", None) => "no interface".to_string(),
        (i, _) => i.to_string(),
    };
    tracing::info!(instance = %name, src = %io.src, "VRRP instance started on {on} (vrid {}, v{}, prio {})",
        cfg.vrid, cfg.version, cfg.priority);
    if cfg.fault_no_peer {
        tracing::warn!(instance = %name, "unicast_fault_no_peer and no unicast_peer: staying in FAULT");
    }

    let tracked = tracking(&cfg, &shared, src_addrs.as_ref());
    let mut step = Step::new(step_config(&cfg, &shared, io.src), tracked);
    let src = Sources::new(&cfg, &shared, &io, &slot, src_addrs, shutdown)?;
    let mut ex = Exec {
        cfg: &cfg,
        io: &io,
        nl: &shared.nl,
        firewall: &shared.firewall,
        hub: &shared.hub,
        dsts: if cfg.unicast_peers.is_empty() {
            vec![multicast_group(&cfg, io.src.is_ipv6())]
        } else {
            cfg.unicast_peers.clone()
        },
    };

    // A previous run killed with SIGKILL leaves its addresses behind; like keepalived, start
    // from none (Backup must not hold them).
    let fx = vec![step::Effect::Fsm(Action::DelVips)];
    ex.execute(&mut step, fx, &slot, &mut status).await;
    drive(&mut step, src, &mut ex, &slot, &mut status).await;
    let keep = keep_on_stop(&shared);
    if let Some(ix) = io.vmac.filter(|_| !keep) {
        let _ = shared.nl.del_link(ix).await;
    }
    if let Some(s) = &io.promoted {
        let _ = s.apply();
    }
    for ix in io.addr_vmacs.iter().filter(|_| !keep) {
        let _ = shared.nl.del_link(*ix).await;
    }
    tracing::info!(instance = %name, "VRRP instance stopped");
    Ok(())
}

/// Publishes one instance's status, found by name: a reload reorders the list under running
/// instances.
fn publish_status(shared: &Shared, st: &VrrpInstanceStatus) {
    shared.hub.vrrp.send_modify(|v| {
        if let Some(x) = v.iter_mut().find(|x| x.name == st.name) {
            *x = st.clone();
        }
    })
}

/// `-V`: the addresses stay when lvsd stops.
fn keep_on_stop(shared: &Shared) -> bool {
    shared
        .keep_on_stop
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// Sets the instance up, waiting for the interface and a source address (e.g. IPv6 DAD) in
/// INIT (FAULT with `track_src_ip`, the configured source address being missing). None when
/// lvsd stops first.
async fn start_io(
    cfg: &InstanceConfig,
    shared: &Shared,
    src_addrs: Option<&SrcAddrs>,
    status: &mut VrrpInstanceStatus,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Io> {
    loop {
        match setup(cfg, shared).await {
            Ok(io) => return Some(io),
            Err(e) => {
                if let Some(a) = src_addrs
                    && src_missing(a)
                    && status.state != VrrpState::Fault
                {
                    tracing::warn!(instance = %cfg.name, "track_src_ip: {} is not on this host: FAULT", a.0);
                    status.state = VrrpState::Fault;
                    publish_status(shared, status);
                }
                tracing::warn!(instance = %cfg.name, "cannot start yet: {e:#}; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// The instance's loop: each input through the pure step, its effects executed, the status
/// published, until the step has stopped.
async fn drive(
    step: &mut Step,
    mut src: Sources<'_>,
    ex: &mut Exec<'_>,
    slot: &Slot,
    status: &mut VrrpInstanceStatus,
) {
    let mut input = Some(step::Input::Startup);
    loop {
        if let Some(i) = input.take() {
            let stopping = i == step::Input::Shutdown;
            let mut fx = step.on_input(Instant::now().into_std(), i);
            if stopping && keep_on_stop(src.shared) {
                fx.retain(|e| {
                    !matches!(
                        e,
                        step::Effect::Fsm(Action::SendAdvert { priority: 0 } | Action::DelVips)
                    )
                });
                tracing::info!(instance = %src.cfg.name, "-V: leaving the virtual addresses in place");
            }
            ex.execute(step, fx, slot, status).await;
            status.counters = step.counters.clone();
            status.effective_priority = step.fsm().priority();
            status.master_addr = step.fsm().master_addr();
            status.master_priority = step.fsm().master_priority();
            publish_status(src.shared, status);
        }
        if step.stopped() {
            return;
        }
        src.since_us = status.since_unix_us;
        src.extra
            .master(step.fsm().state() == State::Master, Instant::now());
        input = src.next(step.next_deadline()).await;
    }
}

fn step_config(cfg: &InstanceConfig, shared: &Shared, local_addr: IpAddr) -> StepConfig {
    StepConfig {
        name: cfg.name.clone(),
        vrid: cfg.vrid,
        fsm: FsmConfig {
            priority: cfg.priority,
            adver_int: cfg.effective_advert_int(),
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            local_addr,
            learn_master_interval: cfg.version() == Version::V3,
            initial_master: cfg.initial_master,
            adverts: cfg.advert_rules,
        },
        garp_master_delay: cfg.garp_master_delay,
        garp_master_repeat: cfg.garp_master_repeat,
        garp_lower_prio_delay: cfg.garp_lower_prio_delay,
        garp_lower_prio_repeat: cfg.garp_lower_prio_repeat,
        garp_master_refresh: cfg.garp_master_refresh,
        garp_master_refresh_repeat: cfg.garp_master_refresh_repeat,
        startup_delay: shared.startup_delay,
        notify_priority_changes: cfg.notify_priority_changes,
        skip_check_adv_addr: cfg.skip_check_adv_addr,
    }
}

pub(crate) fn initial_status(cfg: &InstanceConfig) -> VrrpInstanceStatus {
    VrrpInstanceStatus {
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
        counters: VrrpCounters::default(),
    }
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
    let link = nl.link(base_interface(cfg)?).await?;
    let v6 = cfg.is_ipv6();
    let (vlink, vmac) = vmac_link(cfg, nl, &link, v6).await?;
    // use_ipvlan: adverts over the ipvlan, from its address; the VIPs stay on `vlink`.
    let ipvlan = match &cfg.use_ipvlan {
        Some(u) => Some(super::ipvlan::ensure(nl, &link, u, v6).await?),
        None => None,
    };
    if let Some(v) = bare_vrf(cfg) {
        super::vrf::check(v)?;
    }
    let src = advert_source(cfg, nl, ipvlan.as_ref().unwrap_or(&link), v6).await?;
    // vmac_xmit_base: adverts on the parent, VIPs on the VMAC.
    let slink = ipvlan
        .as_ref()
        .unwrap_or(if cfg.vmac_xmit_base { &link } else { &vlink });
    let sock = open_sockets(cfg, shared, slink, src)?;
    let (vips, addr_vmacs) = vip_links(cfg, nl, &vlink, v6).await?;
    let promoted = (cfg.promote_secondaries && !v6)
        .then(|| promote_secondaries(&link.name))
        .flatten();
    let others = super::garp_extra::other_interfaces(cfg, nl, vlink.index, &vips).await?;
    Ok(Io {
        sock,
        announcer: Announcer::new(vlink.index)
            .context("opening packet socket")?
            .paced(cfg.garp_pacer()),
        mac: vlink.mac,
        src,
        vips,
        vmac: vmac.or(ipvlan.map(|l| l.index)),
        promoted,
        others,
        addr_vmacs,
    })
}

/// The link that holds the VIPs: the instance's `use_vmac` macvlan (made if missing, with its
/// index) or the interface itself.
async fn vmac_link(
    cfg: &InstanceConfig,
    nl: &Netlink,
    link: &Link,
    v6: bool,
) -> anyhow::Result<(Link, Option<u32>)> {
    let Some(n) = &cfg.use_vmac else {
        return Ok((link.clone(), None));
    };
    let name = if n.is_empty() {
        format!("vrrp.{}", cfg.vrid)
    } else {
        n.clone()
    };
    let l = nl
        .ensure_vmac(link.index, &name, cfg.vrid, v6, cfg.use_vmac_mac)
        .await?;
    let _ = nl.set_up(l.index).await;
    super::vmac::apply_vmac_sysctls(&link.name, &l.name, v6);
    let ix = l.index;
    Ok((l, Some(ix)))
}

/// The adverts' source address: configured, the ipvlan's own, the route towards the first
/// unicast peer (no `interface`), or one of `link`'s addresses that is not a VIP.
async fn advert_source(
    cfg: &InstanceConfig,
    nl: &Netlink,
    link: &Link,
    v6: bool,
) -> anyhow::Result<IpAddr> {
    let own = cfg.use_ipvlan.as_ref().and_then(|u| u.addr);
    if let Some(a) = cfg.unicast_src_ip.or(cfg.mcast_src_ip).or(own) {
        return Ok(a);
    }
    if cfg.interface.is_empty() {
        let peer = cfg.unicast_peers.first().context("no unicast peer")?;
        return super::vrf::source_towards(*peer, bare_vrf(cfg))
            .with_context(|| format!("no route to unicast peer {peer}"));
    }
    let vip_addrs: Vec<IpAddr> = cfg
        .vips
        .iter()
        .chain(&cfg.vips_excluded)
        .map(|v| v.addr)
        .collect();
    nl.source_address(link.index, v6, &vip_addrs)
        .await?
        .with_context(|| {
            format!(
                "no usable {} source address on {}",
                if v6 { "link-local IPv6" } else { "IPv4" },
                cfg.interface
            )
        })
}

/// Each VIP and eVIP with the link it goes on, and the `use_vmac_addr` VMACs made for them
/// (the other interfaces' VIPs, and eVIPs of the other family, go on a VMAC of their own).
async fn vip_links(
    cfg: &InstanceConfig,
    nl: &Netlink,
    vlink: &Link,
    v6: bool,
) -> anyhow::Result<(Vec<(u32, Vip)>, Vec<u32>)> {
    let all_vips = || cfg.vips.iter().chain(&cfg.vips_excluded);
    fn fam(v: &Vip) -> (Option<&str>, bool) {
        (v.dev.as_deref(), v.addr.is_ipv6())
    }
    let mut addr_vmacs: Vec<(super::vmac_addr::Slot, u32)> = Vec::new();
    if cfg.use_vmac_addr {
        let slots = super::vmac_addr::slots(&cfg.interface, v6, all_vips().map(fam));
        for (k, s) in slots.into_iter().enumerate() {
            addr_vmacs.push((s, super::vmac_addr::ensure(cfg, nl, s, k).await?));
        }
    }
    let mut vips = Vec::new();
    for v in all_vips() {
        let (dev, fv6) = fam(v);
        let slot = super::vmac_addr::slot(&cfg.interface, v6, dev, fv6);
        let ix = match addr_vmacs.iter().find(|(s, _)| Some(*s) == slot) {
            Some((_, ix)) => *ix,
            None => match dev {
                Some(d) if d != cfg.interface => nl.link(d).await?.index,
                _ => vlink.index,
            },
        };
        vips.push((ix, v.clone()));
    }
    Ok((vips, addr_vmacs.iter().map(|(_, ix)| *ix).collect()))
}

/// An instance's `vrf`, which applies only without `interface`.
fn bare_vrf(cfg: &InstanceConfig) -> Option<&str> {
    cfg.vrf.as_deref().filter(|_| cfg.interface.is_empty())
}

/// The advert sockets, bound to `slink` (the interface, VMAC or ipvlan); without `interface`,
/// to the `vrf` device (the VRF's table routes the adverts, and those arriving on its
/// enslaved interfaces reach us) or to no device.
fn open_sockets(
    cfg: &InstanceConfig,
    shared: &Shared,
    slink: &Link,
    src: IpAddr,
) -> anyhow::Result<VrrpSocket> {
    let (device, ifindex) = match (cfg.interface.is_empty(), bare_vrf(cfg)) {
        (false, _) => (Some(slink.name.clone()), slink.index),
        (true, vrf) => (vrf.map(str::to_string), 0),
    };
    VrrpSocket::open(&SocketOptions {
        device: device.clone(),
        ifindex,
        src,
        multicast: cfg.unicast_peers.is_empty(),
        group: multicast_group(cfg, cfg.is_ipv6()),
        priority: shared.socket_priority,
        ah: cfg.ah_options(),
        tuning: cfg.socket_tuning(),
    })
    .with_context(|| match (device, bare_vrf(cfg)) {
        (Some(v), Some(_)) => format!("opening VRRP sockets in VRF {v}"),
        (Some(d), None) => format!("opening VRRP sockets on {d}"),
        (None, _) => "opening VRRP sockets".to_string(),
    })
}

/// The interface whose MAC and packet socket announce the VIPs: the instance's, or without
/// one (a unicast instance), the device of its first VIP.
fn base_interface(cfg: &InstanceConfig) -> anyhow::Result<&str> {
    if !cfg.interface.is_empty() {
        return Ok(&cfg.interface);
    }
    cfg.vips
        .first()
        .and_then(|v| v.dev.as_deref())
        .context("no interface, and the first virtual address names no device")
}

/// `promote_secondaries`: removing one address of a subnet from the interface keeps the others
/// (the kernel promotes a secondary instead of flushing them all). Returns the setting to put
/// back when the instance stops (keepalived 2.2.7 restores it, measured).
fn promote_secondaries(ifname: &str) -> Option<super::vmac::Sysctl> {
    let s = super::vmac::Sysctl {
        ifname: ifname.to_string(),
        key: "promote_secondaries",
        value: "1",
    };
    let old = std::fs::read_to_string(s.path()).ok()?;
    if let Err(e) = s.apply() {
        tracing::warn!(
            "promote_secondaries: cannot set {}: {e}",
            s.path().display()
        );
        return None;
    }
    (old.trim() == "0").then_some(super::vmac::Sysctl { value: "0", ..s })
}

type Changed<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

enum Rx {
    Links(watch::Receiver<HashMap<String, bool>>),
    Script(watch::Receiver<Option<bool>>),
    File(watch::Receiver<i64>),
    Bfd(watch::Receiver<crate::bfd::StatusMap>),
    Process(watch::Receiver<Option<bool>>),
    Addrs(watch::Receiver<LocalAddrs>),
    StaticFaults(watch::Receiver<std::collections::BTreeSet<String>>),
}

impl Rx {
    fn changed(&mut self) -> Changed<'_> {
        match self {
            Rx::Links(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Script(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::File(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Bfd(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Process(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::Addrs(r) => Box::pin(async move { r.changed().await.is_ok() }),
            Rx::StaticFaults(r) => Box::pin(async move { r.changed().await.is_ok() }),
        }
    }
}

fn tracked_receivers(cfg: &InstanceConfig, shared: &Shared, src: Option<&SrcAddrs>) -> Vec<Rx> {
    let mut v = vec![
        Rx::Links(shared.links.clone()),
        Rx::StaticFaults(shared.static_faults.clone()),
    ];
    v.extend(src.map(|a| Rx::Addrs(a.1.clone())));
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
    for p in &cfg.track_processes {
        if let Some(rx) = shared.processes.get(&p.name) {
            v.push(Rx::Process(rx.clone()));
        }
    }
    if !cfg.track_bfds.is_empty() {
        v.push(Rx::Bfd(shared.bfd.clone()));
    }
    v
}

/// The tracked watches of one instance, polled by the loop itself (no task of its own).
struct Trackers {
    rxs: Vec<Rx>,
}

impl Trackers {
    fn new(rxs: Vec<Rx>) -> Trackers {
        Trackers { rxs }
    }

    fn is_empty(&self) -> bool {
        self.rxs.is_empty()
    }

    /// True when any watch changed; a watch whose sender is gone is dropped (false). Never
    /// call it with no watches (the branch is disabled then).
    async fn changed(&mut self) -> bool {
        let futs: Vec<Changed<'_>> = self.rxs.iter_mut().map(Rx::changed).collect();
        let (ok, i, _) = futures_util::future::select_all(futs).await;
        if !ok {
            self.rxs.remove(i);
        }
        ok
    }
}

/// `track_src_ip`: the configured source address and this host's addresses.
type SrcAddrs = (IpAddr, watch::Receiver<LocalAddrs>);

/// The address watch `track_src_ip` needs (None without it or without a configured source).
fn track_src(cfg: &InstanceConfig) -> Option<SrcAddrs> {
    let src = cfg.unicast_src_ip.or(cfg.mcast_src_ip)?;
    cfg.track_src_ip
        .then(|| (src, crate::director::local_addrs::spawn()))
}

/// True once the host's addresses are known and the source address is not among them.
fn src_missing(a: &SrcAddrs) -> bool {
    a.1.borrow().as_ref().is_some_and(|s| !s.contains(&a.0))
}

/// The instance's current fault, effective priority and whether a script is still to give
/// its first result, from all tracked sources.
fn tracking(cfg: &InstanceConfig, shared: &Shared, src: Option<&SrcAddrs>) -> step::Tracked {
    let links = shared.links.borrow();
    let mut inputs = Vec::new();
    let mut pending = false;
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
            // No verdict yet (as keepalived): its weight is not applied, and one whose failure
            // is FAULT holds the instance in INIT.
            match *rx.borrow() {
                Some(ok) => inputs.push(track::script_input(t, sc, ok)),
                None => {
                    pending |= matches!(track::script_input(t, sc, true).weight, None | Some(0))
                }
            }
        }
    }
    // A static address/route/rule of one of its track groups is lost (keepalived: FAULT).
    inputs.push(Input {
        ok: !shared.static_faults.borrow().contains(&cfg.name),
        weight: None,
        reverse: false,
    });
    let bfd = shared.bfd.borrow();
    inputs.extend(cfg.track_bfds.iter().map(|t| track::bfd_input(t, &bfd)));
    for t in &cfg.track_processes {
        if let Some(rx) = shared.processes.get(&t.name) {
            // Before the first /proc scan: not counted against the instance.
            let ok = rx.borrow().unwrap_or(true);
            inputs.push(track::process_input(t, ok));
        }
    }
    let files: Vec<FileInput> = cfg
        .track_files
        .iter()
        .map(|f| FileInput {
            value: shared.files.get(&f.path).map_or(0, |r| *r.borrow()),
            weight: f.weight,
        })
        .collect();
    let (fault, priority) = track::evaluate(cfg.priority, &inputs, &files);
    step::Tracked {
        fault: fault || cfg.fault_no_peer || src.is_some_and(src_missing),
        priority,
        pending,
    }
}

/// Carries out the effects of a step.
struct Exec<'a> {
    cfg: &'a InstanceConfig,
    io: &'a Io,
    nl: &'a Netlink,
    firewall: &'a crate::nft::vrrp::Firewall,
    hub: &'a StatusHub,
    dsts: Vec<IpAddr>,
}

impl Exec<'_> {
    fn send_advert(&mut self, priority: u8, counters: &mut VrrpCounters) {
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
                    counters.advert_sent += 1;
                    if priority == 0 {
                        counters.pri_zero_sent += 1;
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
            for (ix, v) in &self.io.vips {
                let sent = match self.io.others.iter().find(|o| o.ifindex == *ix) {
                    Some(o) => o.announce(v.addr),
                    None => self.io.announcer.send(&announce_frame(self.io.mac, v.addr)),
                };
                if let Err(e) = sent {
                    tracing::debug!(instance = %self.cfg.name, "gratuitous ARP/NA for {} not sent: {e}", v.addr);
                }
            }
        }
    }

    async fn add_vips(&mut self) {
        // Block before the VIPs exist, so no_accept never lets a packet in.
        self.firewall.set_master(&self.cfg.name, true).await;
        for (ix, v) in &self.io.vips {
            if let Err(e) = self.nl.add_vip(*ix, v).await {
                tracing::error!(instance = %self.cfg.name, "{e}");
            }
        }
    }

    async fn del_vips(&mut self) {
        for (ix, v) in &self.io.vips {
            if let Err(e) = self.nl.del_vip(*ix, v).await {
                tracing::error!(instance = %self.cfg.name, "{e}");
            }
        }
        self.firewall.set_master(&self.cfg.name, false).await;
    }

    async fn execute(
        &mut self,
        step: &mut Step,
        fx: Vec<step::Effect>,
        slot: &Slot,
        status: &mut VrrpInstanceStatus,
    ) {
        use step::Effect;
        for e in fx {
            match e {
                Effect::Fsm(Action::SendAdvert { priority }) => {
                    self.send_advert(priority, &mut step.counters)
                }
                Effect::Fsm(Action::AddVips) => self.add_vips().await,
                Effect::Fsm(Action::DelVips) => self.del_vips().await,
                Effect::Fsm(Action::Garp) => self.announce(self.cfg.garp_master_repeat),
                Effect::Announce { repeat } => self.announce(repeat),
                Effect::Fsm(Action::StateChanged { to, .. }) => {
                    let prio = step.fsm().priority();
                    tracing::info!(instance = %self.cfg.name, "entering {} state (priority {prio})", notify::state_word(to));
                    status.state = status_state(to);
                    status.since_unix_us = now_unix_us();
                    status.since_unix_ms = status.since_unix_us / 1000;
                    notify::run(&self.cfg.notify, "INSTANCE", &self.cfg.name, to, prio);
                }
                Effect::Publish(to) => {
                    if let Some(g) = &slot.group {
                        g.publish(&self.cfg.name, to);
                    }
                }
                Effect::PriorityChanged { state, priority } => {
                    // keepalived writes `INSTANCE "VI_1" MASTER_PRIORITY 90` to its notify FIFO.
                    let word = format!("{}_PRIORITY", notify::state_word(state));
                    crate::fifo::vrrp("INSTANCE", &self.cfg.name, &word, priority);
                    let line = format!("{word} {priority}");
                    tracing::info!(instance = %self.cfg.name, "{line}");
                    self.hub.events.publish("vrrp", self.cfg.name.clone(), line);
                }
                // Counted and logged by the step.
                Effect::Fsm(Action::SplitBrain { .. }) => {}
                Effect::MasterRxLowerPri { peer, priority } => {
                    tracing::debug!(instance = %self.cfg.name, "lower-priority advert from {peer} (priority {priority})");
                    notify::rx_lower_pri(&self.cfg.notify);
                }
            }
        }
    }
}
