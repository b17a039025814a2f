//! The VRRP state machine of one instance (RFC 3768 §6.4, RFC 5798 §6.4), pure.
//!
//! Inputs are [`Event`]s with the time they happen (`now`); outputs are [`Action`]s for the
//! instance loop to carry out, and [`Fsm::next_deadline`] says when to come back with
//! [`Event::Timer`]. No clock, socket or task lives here, so every timing rule is tested with
//! made-up instants (see the tests at the bottom).
//!
//! keepalived behaviours kept on purpose (they are what a mixed cluster sees):
//! - a node below priority 255 always starts in Backup and takes over after Master_Down_Interval,
//!   even with `state MASTER`; the owner (255) becomes Master at once with `state MASTER`,
//!   and after Master_Down_Interval in Backup with `state BACKUP`;
//! - skew is `(256 - priority) * Master_Adver_Interval / 256` for v2 too;
//! - a Master that hears a lower-priority advert answers at once with its own advert, which ends
//!   a split brain within one packet instead of one interval; at most one such reply per
//!   advert interval, so a flood of lower-priority adverts is not answered packet for packet
//!   (`lower_prio_no_advert` turns the reply off; `higher_prio_send_advert` makes a master
//!   send one advert before yielding; `down_timer_adverts` sets the 3 of Master_Down_Interval);
//! - `preempt_delay` holds preemption back for that long after startup or after the first
//!   lower-priority advert seen in Backup.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// RFC names; `Initialize` is also where a stopped instance rests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

/// What the machine needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmConfig {
    /// Configured priority (1-255; 255 = address owner).
    pub priority: u8,
    /// `advert_int` (v3: centisecond resolution; v2: whole seconds).
    pub adver_int: Duration,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// Our primary address on the interface: the tie-breaker for equal priorities.
    pub local_addr: IpAddr,
    /// v3 learns the master's interval (RFC 5798 §6.4.2); v2 requires equal intervals.
    pub learn_master_interval: bool,
    /// keepalived.conf(5)'s advert-handling options.
    pub adverts: AdvertRules,
    /// `state MASTER`: the owner (255) starts as Master at once only with it; with `state
    /// BACKUP` it waits Master_Down_Interval in Backup like everyone else (keepalived 2.2.7).
    pub initial_master: bool,
}

/// How a master answers adverts, and how long a backup waits: keepalived.conf(5)'s
/// `lower_prio_no_advert`, `higher_prio_send_advert` and `down_timer_adverts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AdvertRules {
    /// A master hearing a lower-priority advert does not answer it with its own (RFC).
    pub lower_prio_no_advert: bool,
    /// A master hearing a higher-priority advert sends one advert before going backup, so
    /// the new master (with `garp_lower_prio_repeat`) re-announces the addresses.
    pub higher_prio_send_advert: bool,
    /// Master_Down_Interval is this many advert intervals plus Skew_Time (RFC: 3).
    pub down_timer_adverts: u32,
}

impl Default for AdvertRules {
    fn default() -> Self {
        AdvertRules {
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
        }
    }
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The instance starts (RFC: Startup event).
    Startup,
    /// A validated advertisement for our VRID.
    Advert {
        src: IpAddr,
        priority: u8,
        interval: Duration,
    },
    /// `now` reached [`Fsm::next_deadline`].
    Timer,
    /// The instance stops (shutdown or reload removing it).
    Shutdown,
    /// A tracked object that forces FAULT failed (`true`) or recovered (`false`).
    Fault(bool),
    /// The effective priority changed (tracked weights). Ignored for the owner.
    Priority(u8),
    /// A sync group member moved; follow it (Master or Backup only).
    Follow(State),
}

/// Outputs, in the order they must be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority (0 = resign).
    SendAdvert { priority: u8 },
    /// Install the virtual addresses.
    AddVips,
    /// Remove the virtual addresses.
    DelVips,
    /// Announce the addresses: gratuitous ARP / unsolicited NA (the instance schedules repeats).
    Garp,
    /// The state changed; run notify scripts, update status and counters.
    StateChanged { from: State, to: State },
    /// We are Master and heard another Master that should yield to us (lower priority, or
    /// equal with a lower address): two masters at once. We re-assert at once.
    SplitBrain { peer: IpAddr, peer_priority: u8 },
}

/// One instance's machine.
#[derive(Debug, Clone)]
pub struct Fsm {
    cfg: FsmConfig,
    state: State,
    priority: u8,
    fault: bool,
    master_adver_int: Duration,
    master_addr: Option<IpAddr>,
    /// The priority the master at `master_addr` advertised.
    master_priority: u8,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// Until when a lower-priority master is tolerated (`preempt_delay`).
    preempt_hold_until: Option<Instant>,
    /// When we last answered a lower-priority (or priority 0) advert at once.
    last_reply: Option<Instant>,
}

impl Fsm {
    pub fn new(cfg: FsmConfig) -> Fsm {
        Fsm {
            priority: cfg.priority,
            master_adver_int: cfg.adver_int,
            cfg,
            state: State::Initialize,
            fault: false,
            master_addr: None,
            master_priority: 0,
            adver_timer: None,
            master_down_timer: None,
            preempt_hold_until: None,
            last_reply: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Priority we advertise now.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The master as last heard (ourselves when Master).
    pub fn master_addr(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.cfg.local_addr),
            State::Backup => self.master_addr,
            _ => None,
        }
    }

    /// The priority the master advertised, as a backup last heard it (keepalived's dumps
    /// print it as `master_priority`); 0 when not a backup or no master is known.
    pub fn master_priority(&self) -> u8 {
        match (self.state, self.master_addr) {
            (State::Backup, Some(_)) => self.master_priority,
            _ => 0,
        }
    }

    /// Master_Adver_Interval: the configured one, or the one learned from the master (v3).
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// Skew_Time for our current priority.
    pub fn skew(&self) -> Duration {
        self.master_adver_int * (256 - u32::from(self.priority)) / 256
    }

    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time (`down_timer_adverts`
    /// replaces the 3).
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_int * self.cfg.adverts.down_timer_adverts.clamp(1, 100) + self.skew()
    }

    /// When to call back with [`Event::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.adver_timer, self.master_down_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn is_owner(&self) -> bool {
        self.cfg.priority == 255
    }

    pub fn handle(&mut self, now: Instant, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::Startup => {
                if self.state == State::Initialize {
                    if self.cfg.preempt_delay > Duration::ZERO {
                        self.preempt_hold_until = Some(now + self.cfg.preempt_delay);
                    }
                    self.start(now, &mut out);
                }
            }
            Event::Shutdown => {
                if self.state == State::Master {
                    out.push(Action::SendAdvert { priority: 0 });
                    out.push(Action::DelVips);
                }
                self.goto(State::Initialize, &mut out);
                self.adver_timer = None;
                self.master_down_timer = None;
            }
            Event::Fault(on) => {
                self.fault = on;
                match (on, self.state) {
                    (true, State::Master) => {
                        out.push(Action::SendAdvert { priority: 0 });
                        out.push(Action::DelVips);
                        self.enter_fault(&mut out);
                    }
                    (true, State::Backup) => self.enter_fault(&mut out),
                    (false, State::Fault) => self.start(now, &mut out),
                    _ => {}
                }
            }
            Event::Priority(p) => {
                if !self.is_owner() {
                    self.priority = p.clamp(1, 254);
                }
            }
            Event::Timer => self.on_timer(now, &mut out),
            Event::Advert {
                src,
                priority,
                interval,
            } => self.on_advert(now, src, priority, interval, &mut out),
            Event::Follow(target) => match (self.state, target) {
                (State::Backup, State::Master) => self.become_master(now, &mut out),
                (State::Master, State::Backup) => {
                    out.push(Action::DelVips);
                    self.become_backup(now, &mut out);
                }
                (State::Fault, State::Backup) if !self.fault => self.start(now, &mut out),
                (State::Master | State::Backup, State::Fault) => {
                    if self.state == State::Master {
                        out.push(Action::SendAdvert { priority: 0 });
                        out.push(Action::DelVips);
                    }
                    self.enter_fault(&mut out);
                }
                _ => {}
            },
        }
        out
    }

    /// RFC 5798 §6.4.1 (Initialize → Master for the owner, else Backup); fault wins.
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.fault {
            self.enter_fault(out);
        } else if self.is_owner() && self.cfg.initial_master {
            self.become_master(now, out);
        } else {
            self.master_adver_int = self.cfg.adver_int;
            self.become_backup(now, out);
        }
    }

    fn goto(&mut self, to: State, out: &mut Vec<Action>) {
        if self.state != to {
            out.push(Action::StateChanged {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    fn enter_fault(&mut self, out: &mut Vec<Action>) {
        self.adver_timer = None;
        self.master_down_timer = None;
        self.master_addr = None;
        self.goto(State::Fault, out);
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        out.push(Action::AddVips);
        out.push(Action::Garp);
        self.adver_timer = Some(now + self.cfg.adver_int);
        self.master_down_timer = None;
        self.master_addr = None;
        self.preempt_hold_until = None;
        self.goto(State::Master, out);
    }

    fn become_backup(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.adver_timer = None;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.goto(State::Backup, out);
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                if let Some(t) = self.adver_timer
                    && t <= now
                {
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    // Keep the cadence anchored to the schedule unless we fell a whole
                    // interval behind (then restart from now rather than bursting).
                    let next = t + self.cfg.adver_int;
                    self.adver_timer = Some(if next > now {
                        next
                    } else {
                        now + self.cfg.adver_int
                    });
                }
            }
            State::Backup => {
                if let Some(t) = self.master_down_timer
                    && t <= now
                {
                    // RFC 5798 §6.4.2: Master_Down_Timer fired.
                    self.become_master(now, out);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn on_advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        priority: u8,
        interval: Duration,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            State::Backup => {
                if priority == 0 {
                    // RFC 5798 §6.4.2: the master resigned; take over after Skew_Time.
                    self.master_down_timer = Some(now + self.skew());
                    return;
                }
                let lower = priority < self.priority;
                let tolerate_lower = lower && self.cfg.preempt && self.preempt_hold(now);
                if !self.cfg.preempt || !lower || tolerate_lower {
                    if self.cfg.learn_master_interval && !interval.is_zero() {
                        self.master_adver_int = interval;
                    }
                    self.master_addr = Some(src);
                    self.master_priority = priority;
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
                // else: discard; Master_Down_Timer keeps running and we preempt.
            }
            State::Master => {
                if priority == 0 {
                    // §6.4.3: a backup... or a resigning peer; re-assert at once.
                    self.reply(now, out);
                    return;
                }
                let we_yield = priority > self.priority
                    || (priority == self.priority && src > self.cfg.local_addr);
                if we_yield {
                    if self.cfg.adverts.higher_prio_send_advert {
                        out.push(Action::SendAdvert {
                            priority: self.priority,
                        });
                    }
                    if self.cfg.learn_master_interval && !interval.is_zero() {
                        self.master_adver_int = interval;
                    }
                    out.push(Action::DelVips);
                    self.master_addr = Some(src);
                    self.master_priority = priority;
                    self.become_backup(now, out);
                } else {
                    // keepalived: answer a lower-priority master at once so it steps down.
                    out.push(Action::SplitBrain {
                        peer: src,
                        peer_priority: priority,
                    });
                    // `lower_prio_no_advert`: the RFC way, the regular adverts will do.
                    if !self.cfg.adverts.lower_prio_no_advert {
                        self.reply(now, out);
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Answers an advert at once with ours, at most once per advert interval (a flood of
    /// lower-priority adverts gets one reply per interval; the regular adverts go on).
    fn reply(&mut self, now: Instant, out: &mut Vec<Action>) {
        let recent = self
            .last_reply
            .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.adver_int);
        if recent {
            return;
        }
        self.last_reply = Some(now);
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        self.adver_timer = Some(now + self.cfg.adver_int);
    }

    /// Whether preemption is still held back by `preempt_delay`; the first lower-priority
    /// advert starts the hold if startup did not.
    fn preempt_hold(&mut self, now: Instant) -> bool {
        if self.cfg.preempt_delay.is_zero() {
            return false;
        }
        let until = *self
            .preempt_hold_until
            .get_or_insert(now + self.cfg.preempt_delay);
        now < until
    }
}

#[cfg(test)]
mod tests;
