//! One BFD session in asynchronous mode (RFC 5880 §6.8), pure.
//!
//! Inputs are a received Control packet ([`Session::on_packet`]), the clock reaching
//! [`Session::next_deadline`] ([`Session::on_timer`]), a new configuration
//! ([`Session::reconfigure`]) and the local administrative stop ([`Session::admin_down`]);
//! each returns the [`Output`]s to carry out (packets to send, state changes to report). No
//! clock, socket or randomness source lives here: `now` is passed in and jitter comes from a
//! seeded generator, so every timing rule is tested with made-up instants.
//!
//! Timer rules kept:
//! - the advertised Desired Min TX is `idle_tx` while the session is not Up and `min_tx` once
//!   it is (§6.8.3 asks for ≥ 1 s while not Up; keepalived's `idle_tx` defaults to 1 s);
//! - a change of the advertised intervals while Up starts a Poll Sequence; a TX increase and
//!   an RX decrease take effect only when the Final arrives (§6.8.3);
//! - the transmit interval is `max(our desired TX, remote Required Min RX)`, jittered to
//!   75–100 % (75–90 % with a detect multiplier of 1) (§6.8.7);
//! - the detection time is `remote Detect Mult × max(our Required Min RX, remote Desired Min
//!   TX)` (§6.8.4), measured from the last valid packet;
//! - a passive session sends nothing until it has heard its peer (§6.1);
//! - a Poll is answered at once with a Final, and a state change is sent at once rather than
//!   on the next tick (what FRR's bfdd does; the RFC allows it).

use std::time::{Duration, Instant};

use super::packet::{Control, Diag, State};

/// What the session needs from `bfd_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// `min_rx`: Required Min RX Interval.
    pub min_rx: Duration,
    /// `min_tx`: Desired Min TX Interval while Up.
    pub min_tx: Duration,
    /// `idle_tx`: Desired Min TX Interval while not Up.
    pub idle_tx: Duration,
    /// `multiplier`: Detect Mult.
    pub multiplier: u8,
    /// `passive`: wait for the peer's first packet.
    pub passive: bool,
}

impl Default for SessionConfig {
    /// keepalived's defaults.
    fn default() -> Self {
        SessionConfig {
            min_rx: Duration::from_millis(10),
            min_tx: Duration::from_millis(10),
            idle_tx: Duration::from_secs(1),
            multiplier: 5,
            passive: false,
        }
    }
}

/// What the caller carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this packet to the neighbor now.
    Send(Control),
    /// The session state changed.
    Changed { from: State, to: State, diag: Diag },
}

/// A counter of packets the session refused (the codec's checks come before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Your Discriminator is not ours.
    WrongDiscriminator,
    /// The session is AdminDown.
    AdminDown,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

#[derive(Debug, Clone)]
pub struct Session {
    cfg: SessionConfig,
    local_disc: u32,
    state: State,
    diag: Diag,
    remote_disc: u32,
    remote_state: State,
    remote_demand: bool,
    remote_mult: u8,
    /// µs, as received.
    remote_min_rx: u32,
    remote_desired_tx: u32,
    /// Intervals we advertise (µs).
    adv_tx: u32,
    adv_rx: u32,
    /// Intervals in force for our own timers (differ from `adv_*` during a Poll Sequence).
    tx_in_use: u32,
    rx_in_use: u32,
    poll: bool,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    rng: u64,
}

impl Session {
    /// A session in Down; an active one sends its first packet at `now`.
    pub fn new(cfg: SessionConfig, local_disc: u32, seed: u64, now: Instant) -> Session {
        let adv_tx = us(cfg.idle_tx);
        let adv_rx = us(cfg.min_rx);
        Session {
            cfg,
            local_disc,
            state: State::Down,
            diag: Diag::None,
            remote_disc: 0,
            remote_state: State::Down,
            remote_demand: false,
            remote_mult: 0,
            // §6.8.1: initialised to 1 (µs) so the first packets go out.
            remote_min_rx: 1,
            remote_desired_tx: 0,
            adv_tx,
            adv_rx,
            tx_in_use: adv_tx,
            rx_in_use: adv_rx,
            poll: false,
            next_tx: Some(now),
            detect_at: None,
            rng: seed | 1,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn diag(&self) -> Diag {
        self.diag
    }
    pub fn local_disc(&self) -> u32 {
        self.local_disc
    }
    pub fn remote_disc(&self) -> u32 {
        self.remote_disc
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn polling(&self) -> bool {
        self.poll
    }
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The interval between our packets before jitter (§6.8.7).
    pub fn tx_interval(&self) -> Duration {
        Duration::from_micros(u64::from(self.tx_in_use.max(self.remote_min_rx)))
    }

    /// The receive interval in force: our Required Min RX or the peer's Desired Min TX,
    /// whichever is slower (§6.8.4).
    pub fn rx_interval(&self) -> Duration {
        Duration::from_micros(u64::from(self.rx_in_use.max(self.remote_desired_tx)))
    }

    /// How long without a packet takes the session down (§6.8.4); None before the peer was
    /// heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_mult > 0).then(|| {
            let per = self.rx_in_use.max(self.remote_desired_tx);
            Duration::from_micros(u64::from(self.remote_mult) * u64::from(per))
        })
    }

    /// When to call [`Session::on_timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let tx = self.next_tx.filter(|_| self.may_send());
        match (tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn may_send(&self) -> bool {
        if self.state == State::AdminDown && self.remote_disc == 0 {
            return false;
        }
        if self.cfg.passive && self.remote_disc == 0 {
            return false;
        }
        if self.remote_min_rx == 0 {
            return false;
        }
        // §6.6: the peer in Demand mode with both sides Up wants no periodic packets.
        !(self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && !self.poll)
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = if self.cfg.multiplier == 1 { 16 } else { 26 };
        let pct = 75 + (self.rng % span);
        d * pct as u32 / 100
    }

    fn packet(&self, final_: bool) -> Control {
        Control {
            diag: self.diag,
            state: self.state,
            poll: self.poll && !final_,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.multiplier,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.adv_rx,
            required_min_echo_rx: 0,
        }
    }

    /// Sends now and schedules the next periodic packet.
    fn send_now(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.may_send() || self.state == State::AdminDown {
            out.push(Output::Send(self.packet(false)));
        }
        let iv = self.tx_interval();
        self.next_tx = Some(now + self.jitter(iv));
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.diag = diag;
        out.push(Output::Changed { from, to, diag });
        self.retime();
        self.send_now(now, out);
    }

    /// Recomputes the advertised intervals after a state or configuration change (§6.8.3).
    fn retime(&mut self) {
        let tx = us(if self.state == State::Up {
            self.cfg.min_tx
        } else {
            self.cfg.idle_tx
        });
        let rx = us(self.cfg.min_rx);
        if self.state != State::Up {
            self.poll = false;
            (self.adv_tx, self.adv_rx, self.tx_in_use, self.rx_in_use) = (tx, rx, tx, rx);
            return;
        }
        if tx == self.adv_tx && rx == self.adv_rx {
            return;
        }
        self.poll = true;
        (self.adv_tx, self.adv_rx) = (tx, rx);
        // Faster sending and a longer detection time are safe at once; the rest waits for
        // the Final.
        self.tx_in_use = self.tx_in_use.min(tx);
        self.rx_in_use = self.rx_in_use.max(rx);
    }

    /// A decoded packet from this session's neighbor (§6.8.6).
    pub fn on_packet(&mut self, now: Instant, c: &Control) -> Result<Vec<Output>, Ignored> {
        if c.your_disc != 0 && c.your_disc != self.local_disc {
            return Err(Ignored::WrongDiscriminator);
        }
        if self.state == State::AdminDown {
            return Err(Ignored::AdminDown);
        }
        let mut out = Vec::new();
        self.remote_disc = c.my_disc;
        self.remote_state = c.state;
        self.remote_demand = c.demand;
        self.remote_mult = c.detect_mult;
        self.remote_desired_tx = c.desired_min_tx;
        let old_iv = self.tx_interval();
        self.remote_min_rx = c.required_min_rx;
        if c.final_ && self.poll {
            self.poll = false;
            self.tx_in_use = self.adv_tx;
            self.rx_in_use = self.adv_rx;
        }
        self.detect_at = self.detection_time().map(|d| now + d);

        match (self.state, c.state) {
            (State::Down | State::Init | State::Up, State::AdminDown)
                if self.state != State::Down =>
            {
                self.set_state(now, State::Down, Diag::NeighborDown, &mut out)
            }
            (State::Down, State::Down) => self.set_state(now, State::Init, Diag::None, &mut out),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(now, State::Up, Diag::None, &mut out)
            }
            (State::Up, State::Down) => {
                self.set_state(now, State::Down, Diag::NeighborDown, &mut out)
            }
            _ => {}
        }
        if c.poll {
            out.push(Output::Send(self.packet(true)));
        }
        // A slower peer takes effect at the next packet; a faster one must not wait out the
        // old, longer interval.
        let iv = self.tx_interval();
        if iv < old_iv
            && let Some(t) = self.next_tx
            && t > now + iv
        {
            self.next_tx = Some(now + self.jitter(iv));
        }
        if self.next_tx.is_none() {
            self.next_tx = Some(now);
        }
        Ok(out)
    }

    /// The clock reached [`Session::next_deadline`] (early calls do nothing).
    pub fn on_timer(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if let Some(t) = self.detect_at
            && now >= t
        {
            self.detect_at = None;
            // §6.8.1: the peer is forgotten; §6.8.4: Init or Up goes Down.
            self.remote_disc = 0;
            self.remote_state = State::Down;
            self.remote_demand = false;
            self.remote_mult = 0;
            self.remote_desired_tx = 0;
            self.remote_min_rx = 1;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(now, State::Down, Diag::DetectionTimeExpired, &mut out);
            }
        }
        if let Some(t) = self.next_tx
            && now >= t
            && self.may_send()
        {
            self.send_now(now, &mut out);
        }
        out
    }

    /// New `bfd_instance` settings (a reload): a change of intervals while Up polls.
    pub fn reconfigure(&mut self, now: Instant, cfg: SessionConfig) -> Vec<Output> {
        let mut out = Vec::new();
        if cfg == self.cfg {
            return out;
        }
        let was_passive = self.cfg.passive;
        self.cfg = cfg;
        let before = self.poll;
        self.retime();
        if (self.poll && !before) || (was_passive && !self.cfg.passive) {
            self.send_now(now, &mut out);
        }
        out
    }

    /// Local stop (shutdown, instance removed): AdminDown, one packet telling the peer.
    pub fn admin_down(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state != State::AdminDown {
            let from = self.state;
            self.state = State::AdminDown;
            self.diag = Diag::AdminDown;
            self.poll = false;
            out.push(Output::Changed {
                from,
                to: State::AdminDown,
                diag: Diag::AdminDown,
            });
            if self.remote_disc != 0 {
                out.push(Output::Send(self.packet(false)));
            }
        }
        self.next_tx = None;
        self.detect_at = None;
        let _ = now;
        out
    }
}

#[cfg(test)]
mod tests;
