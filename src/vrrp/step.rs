//! One instance's loop logic, pure: every input the loop waits on becomes one [`Input`], and
//! [`Step::on_input`] turns it, with the time it happened, into [`Effect`]s for the I/O edge
//! (`instance.rs`) to carry out. The [`Fsm`] is inside; around it this holds what the RFC
//! machine does not: the tracked (fault, priority) last seen, the GARP repeat timers,
//! `vrrp_startup_delay`, the receive counters and the rate limits of network-triggered
//! warnings. No socket, clock or task lives here: the tests drive it with made-up instants.
//!
//! New kinds of tracked objects (processes, BFD sessions, routes) do not need a new input:
//! their watches join the tracker set in `instance.rs` and arrive as [`Input::Track`] with the
//! instance's re-evaluated (fault, priority).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::fsm::{Action, Event, Fsm, FsmConfig, State};
use super::log_limit::{Decision, Kind, LogLimits, suppressed_note};
use super::validate::{self, Verdict};
use crate::status::VrrpCounters;

/// What the loop waits on, as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The instance may start (after setup); `vrrp_startup_delay` holds it in INIT first.
    Startup,
    /// A datagram for this instance, as validation judged it.
    Packet { src: IpAddr, verdict: Verdict },
    /// [`Step::next_deadline`] passed (FSM timers, GARP repeats, the startup delay).
    Timer,
    /// Something tracked changed; the instance's whole tracked state, re-evaluated.
    Track(Tracked),
    /// A sync-group member (`from`) moved to `state`.
    Group { from: String, state: State },
    /// `STATS_CLEAR`: the counters start over.
    StatsClear,
    /// A tracked virtual address, route or rule of this mastership was deleted
    /// (`crate::routes`): leave MASTER as keepalived 2.2.7 does, priority 0 first so the peer
    /// takes over at once, then BACKUP.
    Resign,
    /// Stop: resign and remove the addresses.
    Shutdown,
}

/// The instance's tracked state ([`super::track::evaluate`]'s result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub fault: bool,
    pub priority: u8,
    /// A tracked script whose failure is FAULT has not given its first result yet. keepalived
    /// holds the instance until it has (no advert, no notify), then enters FAULT or BACKUP.
    pub pending: bool,
}

/// What the edge carries out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A state machine action (adverts, VIPs, GARP, state change).
    Fsm(Action),
    /// Repeat the gratuitous ARP/NA burst (`garp_master_delay` / `garp_master_refresh`).
    Announce { repeat: u32 },
    /// Tell the sync group about our own move (not one we made by following it).
    Publish(State),
    /// The effective priority changed (`notify_priority_changes`: keepalived's
    /// `MASTER_PRIORITY` / `BACKUP_PRIORITY` notification).
    PriorityChanged { state: State, priority: u8 },
    /// As master we heard a lower-priority advert (`notify_master_rx_lower_pri`); at most one
    /// a second, with the lower-priority GARP burst.
    MasterRxLowerPri { peer: IpAddr, priority: u8 },
}

/// The loop settings [`Step`] needs beyond the FSM's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConfig {
    pub name: String,
    pub vrid: u8,
    pub fsm: FsmConfig,
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: u32,
    /// `garp_lower_prio_delay` / `_repeat`: the bursts a master sends on hearing a
    /// lower-priority advert.
    pub garp_lower_prio_delay: Duration,
    pub garp_lower_prio_repeat: u32,
    /// `vrrp_startup_delay`: INIT this long after start before the FSM starts.
    pub startup_delay: Duration,
    /// `notify_priority_changes`.
    pub notify_priority_changes: bool,
    /// `skip_check_adv_addr`: adverts from the source of the last accepted one are not
    /// checked against our address list.
    pub skip_check_adv_addr: bool,
}

/// The pure part of one instance's loop.
#[derive(Debug, Clone)]
pub struct Step {
    cfg: StepConfig,
    fsm: Fsm,
    tracked: Tracked,
    start_at: Option<Instant>,
    garp_at: Option<Instant>,
    garp_refresh_at: Option<Instant>,
    /// GARPs in the burst due at `garp_at` (master or lower-priority repeat).
    garp_burst: u32,
    /// When the last lower-priority burst went out.
    lower_prio_garp_at: Option<Instant>,
    /// The source of the last advert that reached the FSM (`skip_check_adv_addr`).
    last_advert_src: Option<IpAddr>,
    stopped: bool,
    /// Started, but held in INIT until [`Tracked::pending`] clears.
    awaiting_track: bool,
    pub counters: VrrpCounters,
    limits: LogLimits,
}

impl Step {
    /// `tracked` is the state when the instance starts.
    pub fn new(cfg: StepConfig, tracked: Tracked) -> Step {
        Step {
            fsm: Fsm::new(cfg.fsm.clone()),
            garp_burst: cfg.garp_master_repeat,
            cfg,
            tracked,
            start_at: None,
            garp_at: None,
            garp_refresh_at: None,
            lower_prio_garp_at: None,
            last_advert_src: None,
            stopped: false,
            awaiting_track: false,
            counters: VrrpCounters::default(),
            limits: LogLimits::default(),
        }
    }

    pub fn fsm(&self) -> &Fsm {
        &self.fsm
    }

    /// True once [`Input::Shutdown`] was handled: the loop ends.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// When to come back with [`Input::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.fsm.next_deadline(),
            self.start_at,
            self.garp_at,
            self.garp_refresh_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn on_input(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        match input {
            Input::Startup => {
                if self.cfg.startup_delay.is_zero() {
                    self.start(now, &mut out);
                } else {
                    tracing::info!(instance = %self.cfg.name, "vrrp_startup_delay: starting in {:?}", self.cfg.startup_delay);
                    self.start_at = Some(now + self.cfg.startup_delay);
                }
            }
            Input::Packet { src, verdict } => self.on_packet(now, src, verdict, &mut out),
            Input::Timer => self.on_timer(now, &mut out),
            Input::Track(t) => self.on_track(now, t, &mut out),
            Input::Group { from, state } => {
                if from != self.cfg.name && state != self.fsm.state() {
                    let acts = self.fsm.handle(now, Event::Follow(state));
                    self.apply(now, acts, false, &mut out);
                }
            }
            Input::StatsClear => self.counters = VrrpCounters::default(),
            Input::Resign => {
                if self.fsm.state() == State::Master {
                    let mut acts = vec![Action::SendAdvert { priority: 0 }];
                    acts.extend(self.fsm.handle(now, Event::Follow(State::Backup)));
                    self.apply(now, acts, true, &mut out);
                }
            }
            Input::Shutdown => {
                self.stopped = true;
                self.start_at = None;
                let acts = self.fsm.handle(now, Event::Shutdown);
                self.apply(now, acts, true, &mut out);
                return out;
            }
        }
        // A flood of datagrams must not starve the timers: whatever woke us, an expired
        // deadline is served now.
        if self.next_deadline().is_some_and(|d| d <= now) {
            self.on_timer(now, &mut out);
        }
        out
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Effect>) {
        self.start_at = None;
        self.awaiting_track = self.tracked.pending;
        if self.awaiting_track {
            tracing::info!(instance = %self.cfg.name, "waiting in INIT for the first result of a tracked script");
            return;
        }
        let mut acts = Vec::new();
        if self.tracked.fault {
            acts.extend(self.fsm.handle(now, Event::Fault(true)));
        }
        acts.extend(self.fsm.handle(now, Event::Priority(self.tracked.priority)));
        acts.extend(self.fsm.handle(now, Event::Startup));
        self.apply(now, acts, true, out);
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.start_at.is_some_and(|t| t <= now) {
            self.start(now, out);
        }
        if self.fsm.next_deadline().is_some_and(|d| d <= now) {
            let acts = self.fsm.handle(now, Event::Timer);
            self.apply(now, acts, true, out);
        }
        if self.fsm.state() != State::Master {
            self.garp_at = None;
            self.garp_refresh_at = None;
            return;
        }
        if self.garp_at.is_some_and(|t| t <= now) {
            self.garp_at = None;
            self.counters.garp_delay += 1;
            out.push(Effect::Announce {
                repeat: self.garp_burst,
            });
        }
        if self.garp_refresh_at.is_some_and(|t| t <= now) {
            out.push(Effect::Announce {
                repeat: self.cfg.garp_master_refresh_repeat,
            });
            self.garp_refresh_at = self.cfg.garp_master_refresh.map(|r| now + r);
        }
    }

    fn on_track(&mut self, now: Instant, t: Tracked, out: &mut Vec<Effect>) {
        let old = std::mem::replace(&mut self.tracked, t);
        if self.awaiting_track && !t.pending {
            self.start(now, out);
            return;
        }
        if self.start_at.is_some() || self.fsm.state() == State::Initialize {
            // Not started yet: the start uses the latest value.
            return;
        }
        let mut acts = Vec::new();
        if t.priority != old.priority {
            tracing::info!(instance = %self.cfg.name, "effective priority {} -> {}", old.priority, t.priority);
            let before = self.fsm.priority();
            acts.extend(self.fsm.handle(now, Event::Priority(t.priority)));
            let announced = matches!(self.fsm.state(), State::Master | State::Backup);
            if self.cfg.notify_priority_changes && announced && self.fsm.priority() != before {
                out.push(Effect::PriorityChanged {
                    state: self.fsm.state(),
                    priority: self.fsm.priority(),
                });
            }
        }
        if t.fault != old.fault {
            acts.extend(self.fsm.handle(now, Event::Fault(t.fault)));
        }
        self.apply(now, acts, true, out);
    }

    fn on_packet(&mut self, now: Instant, src: IpAddr, verdict: Verdict, out: &mut Vec<Effect>) {
        match verdict {
            Verdict::Accept {
                advert,
                addr_list_mismatch,
            } => {
                self.counters.advert_rcvd += 1;
                if advert.priority == 0 {
                    self.counters.pri_zero_rcvd += 1;
                }
                let unchecked = self.cfg.skip_check_adv_addr && self.last_advert_src == Some(src);
                if addr_list_mismatch && !unchecked {
                    self.counters.addr_list_err += 1;
                    if let Decision::Log { suppressed } = self.limits.check(Kind::AddrList, now) {
                        tracing::warn!(instance = %self.cfg.name, from = %src, "advert address list {:?} differs from ours: dropped{}", advert.addrs, suppressed_note(suppressed));
                    }
                    return;
                }
                self.last_advert_src = Some(src);
                let interval = Duration::from_millis(u64::from(advert.interval_cs) * 10);
                let ev = Event::Advert {
                    src,
                    priority: advert.priority,
                    interval,
                };
                let acts = self.fsm.handle(now, ev);
                self.apply(now, acts, true, out);
            }
            Verdict::Ignore(_) => {}
            Verdict::Reject(r) => {
                validate::count(&r, &mut self.counters);
                if let Decision::Log { suppressed } = self.limits.check(Kind::Invalid, now) {
                    tracing::warn!(instance = %self.cfg.name, from = %src, "invalid advert dropped: {r}{}", suppressed_note(suppressed));
                }
            }
        }
    }

    /// keepalived: a lower-priority advert heard as master is answered with a GARP burst of
    /// `garp_lower_prio_repeat`, repeated after `garp_lower_prio_delay`, and runs
    /// `notify_master_rx_lower_pri`. At most once a second, so a flood of such adverts cannot
    /// turn into a flood of GARPs or of scripts.
    fn lower_prio_garp(&mut self, now: Instant, peer: IpAddr, priority: u8, out: &mut Vec<Effect>) {
        if self
            .lower_prio_garp_at
            .is_some_and(|t| now < t + Duration::from_secs(1))
        {
            return;
        }
        self.lower_prio_garp_at = Some(now);
        out.push(Effect::MasterRxLowerPri { peer, priority });
        out.push(Effect::Announce {
            repeat: self.cfg.garp_lower_prio_repeat,
        });
        if !self.cfg.garp_lower_prio_delay.is_zero() {
            self.garp_at = Some(now + self.cfg.garp_lower_prio_delay);
            self.garp_burst = self.cfg.garp_lower_prio_repeat;
        }
    }

    /// Books the FSM's actions (counters, GARP timers, group publication) and passes them on.
    /// `own`: the move is ours, not one made by following the sync group.
    fn apply(&mut self, now: Instant, acts: Vec<Action>, own: bool, out: &mut Vec<Effect>) {
        for a in acts {
            match &a {
                Action::DelVips => {
                    self.garp_at = None;
                    self.garp_refresh_at = None;
                }
                Action::Garp => {
                    if !self.cfg.garp_master_delay.is_zero() {
                        self.garp_at = Some(now + self.cfg.garp_master_delay);
                        self.garp_burst = self.cfg.garp_master_repeat;
                    }
                    self.garp_refresh_at = self.cfg.garp_master_refresh.map(|r| now + r);
                }
                Action::StateChanged { from, to } => {
                    if *to == State::Master {
                        self.counters.become_master += 1;
                    }
                    if *from == State::Master {
                        self.counters.release_master += 1;
                    }
                }
                Action::SplitBrain {
                    peer,
                    peer_priority,
                } => {
                    self.counters.split_brain += 1;
                    if *peer_priority < self.fsm.priority() {
                        self.lower_prio_garp(now, *peer, *peer_priority, out);
                    }
                    if let Decision::Log { suppressed } =
                        self.limits.check(Kind::LowerPriority, now)
                    {
                        tracing::warn!(
                            instance = %self.cfg.name,
                            "split brain on vrid {}: we ({}, priority {}) and {} (priority {}) are both master; we win and re-assert{}",
                            self.cfg.vrid, self.cfg.fsm.local_addr, self.fsm.priority(), peer, peer_priority,
                            suppressed_note(suppressed),
                        );
                    }
                }
                Action::SendAdvert { .. } | Action::AddVips => {}
            }
            let publish = match &a {
                Action::StateChanged { to, .. } if own => Some(*to),
                _ => None,
            };
            out.push(Effect::Fsm(a));
            if let Some(s) = publish {
                out.push(Effect::Publish(s));
            }
        }
    }
}

#[cfg(test)]
mod tests;
