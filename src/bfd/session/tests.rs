//! The session machine against itself and against scripted peers, on a made-up clock.

use super::*;
use crate::bfd::packet::{decode, encode};

const MS: Duration = Duration::from_millis(1);

fn cfg(min_rx: u64, min_tx: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        min_rx: MS * min_rx as u32,
        min_tx: MS * min_tx as u32,
        idle_tx: Duration::from_secs(1),
        multiplier: mult,
        passive: false,
    }
}

/// Two sessions wired back to back through the codec, with a one-way delay.
struct Pair {
    t: Instant,
    s: [Session; 2],
    /// Packets in flight: (arrival, to, packet).
    wire: Vec<(Instant, usize, Control)>,
    /// Side `i` stops sending (a dead peer) when set.
    mute: [bool; 2],
    delay: Duration,
    log: Vec<(Duration, usize, Output)>,
    start: Instant,
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig) -> Pair {
        let t = Instant::now();
        Pair {
            t,
            s: [Session::new(a, 0x11, 1, t), Session::new(b, 0x22, 2, t)],
            wire: Vec::new(),
            mute: [false; 2],
            delay: MS,
            log: Vec::new(),
            start: t,
        }
    }
    fn handle(&mut self, from: usize, outs: Vec<Output>) {
        for o in outs {
            if let Output::Send(c) = &o
                && !self.mute[from]
            {
                // Through the wire format, so both ends of the codec are exercised.
                let c = decode(&encode(c)).expect("we send valid packets");
                self.wire.push((self.t + self.delay, 1 - from, c));
            }
            self.log.push((self.t - self.start, from, o));
        }
    }
    /// Runs until `until` (relative to the start).
    fn run(&mut self, until: Duration) {
        let end = self.start + until;
        loop {
            let mut next = end;
            for s in &self.s {
                if let Some(d) = s.next_deadline() {
                    next = next.min(d);
                }
            }
            for (at, _, _) in &self.wire {
                next = next.min(*at);
            }
            if next > end {
                self.t = end;
                return;
            }
            self.t = next.max(self.t);
            let arrived: Vec<_> = {
                let (now, rest): (Vec<_>, Vec<_>) =
                    self.wire.drain(..).partition(|(at, _, _)| *at <= self.t);
                self.wire = rest;
                now
            };
            for (_, to, c) in arrived {
                if let Ok(o) = self.s[to].on_packet(self.t, &c) {
                    self.handle(to, o);
                }
            }
            for i in 0..2 {
                let o = self.s[i].on_timer(self.t);
                self.handle(i, o);
            }
            if self.t >= end {
                return;
            }
        }
    }
    fn changes(&self, side: usize) -> Vec<(Duration, State, Diag)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, o)| match o {
                Output::Changed { to, diag, .. } => Some((*t, *to, *diag)),
                _ => None,
            })
            .collect()
    }
    fn sent(&self, side: usize) -> Vec<(Duration, Control)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, o)| match o {
                Output::Send(c) => Some((*t, *c)),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn three_way_handshake_then_fast_timers() {
    let mut p = Pair::new(cfg(100, 100, 3), cfg(50, 300, 3));
    p.run(Duration::from_secs(3));
    assert_eq!(p.s[0].state(), State::Up);
    assert_eq!(p.s[1].state(), State::Up);
    // Down -> Init -> Up on both sides, within a few milliseconds of the first packets.
    let c0 = p.changes(0);
    assert_eq!(
        c0.iter().map(|c| c.1).collect::<Vec<_>>(),
        [State::Init, State::Up]
    );
    assert!(c0[1].0 < 10 * MS, "up after {:?}", c0[1].0);
    // The Poll Sequences that moved both sides from idle_tx to min_tx are over.
    assert!(!p.s[0].polling() && !p.s[1].polling());
    // a sends at max(its 100 ms, b's 50 ms) = 100 ms; b at max(300, 100) = 300 ms.
    assert_eq!(p.s[0].tx_interval(), 100 * MS);
    assert_eq!(p.s[1].tx_interval(), 300 * MS);
    // Detection: b's multiplier 3 × max(a's min_rx 100, b's tx 300) = 900 ms at a.
    assert_eq!(p.s[0].detection_time(), Some(900 * MS));
    assert_eq!(p.s[1].detection_time(), Some(300 * MS));
    // Gaps between a's packets once settled: jittered into 75..=100 ms.
    let sent: Vec<_> = p
        .sent(0)
        .into_iter()
        .filter(|(t, _)| *t > p.s[0].config().min_tx * 10)
        .collect();
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= 75 * MS && gap <= 100 * MS, "gap {gap:?}");
    }
    assert!(sent.len() > 20);
}

#[test]
fn silent_peer_is_detected_at_mult_times_interval() {
    let mut p = Pair::new(cfg(100, 100, 3), cfg(100, 100, 3));
    p.run(Duration::from_secs(2));
    assert_eq!(p.s[0].state(), State::Up);
    p.mute[1] = true;
    let silent_from = p.t - p.start;
    p.run(Duration::from_secs(4));
    let last_rx = p
        .sent(1)
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t <= silent_from)
        .max()
        .unwrap()
        + p.delay;
    let down = p.changes(0).last().copied().unwrap();
    assert_eq!(down.1, State::Down);
    assert_eq!(down.2, Diag::DetectionTimeExpired);
    assert_eq!(
        down.0 - last_rx,
        300 * MS,
        "detect mult 3 × 100 ms after the last packet"
    );
    // The forgotten peer: packets go out with Your Discriminator 0 at the idle rate.
    let after: Vec<_> = p
        .sent(0)
        .into_iter()
        .filter(|(t, _)| *t > down.0 + MS)
        .collect();
    assert!(
        after
            .iter()
            .all(|(_, c)| c.your_disc == 0 && c.state == State::Down)
    );
    assert_eq!(after[0].1.desired_min_tx, 1_000_000);
    for w in after.windows(2) {
        assert!(w[1].0 - w[0].0 >= 750 * MS);
    }
}

#[test]
fn peer_comes_back_after_silence() {
    let mut p = Pair::new(cfg(100, 100, 3), cfg(100, 100, 3));
    p.run(Duration::from_secs(2));
    p.mute[1] = true;
    p.run(Duration::from_secs(4));
    assert_eq!(p.s[0].state(), State::Down);
    p.mute[1] = false;
    p.run(Duration::from_secs(8));
    assert_eq!(p.s[0].state(), State::Up);
    assert_eq!(p.s[1].state(), State::Up);
}

#[test]
fn passive_waits_for_the_peer() {
    let mut passive = cfg(100, 100, 3);
    passive.passive = true;
    let mut p = Pair::new(passive.clone(), passive);
    p.run(Duration::from_secs(5));
    assert!(
        p.sent(0).is_empty() && p.sent(1).is_empty(),
        "two passives never talk"
    );
    let mut p = Pair::new(cfg(100, 100, 3), {
        let mut c = cfg(100, 100, 3);
        c.passive = true;
        c
    });
    p.run(Duration::from_secs(3));
    assert_eq!(p.s[1].state(), State::Up);
    let first = p.sent(1)[0].0;
    assert!(first >= p.delay, "the passive side answers, never starts");
}

#[test]
fn admin_down_takes_the_peer_down_with_neighbor_down() {
    let mut p = Pair::new(cfg(100, 100, 3), cfg(100, 100, 3));
    p.run(Duration::from_secs(2));
    let t = p.t;
    let o = p.s[1].admin_down(t);
    p.handle(1, o);
    p.run(Duration::from_millis(2050));
    let c = p.changes(0);
    let (_, st, dg) = *c.last().unwrap();
    assert_eq!((st, dg), (State::Down, Diag::NeighborDown));
    assert_eq!(p.s[1].state(), State::AdminDown);
    assert_eq!(p.s[1].next_deadline(), None);
    // A stopped session ignores what it hears.
    let pkt = p.sent(0).last().unwrap().1;
    assert_eq!(p.s[1].on_packet(p.t, &pkt), Err(Ignored::AdminDown));
}

fn peer_packet(state: State, your: u32) -> Control {
    Control {
        diag: Diag::None,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_disc: 0x99,
        your_disc: your,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
    }
}

/// A session brought Up by a scripted peer, its Poll Sequence answered.
fn up_session(c: SessionConfig) -> (Session, Instant) {
    let t0 = Instant::now();
    let mut s = Session::new(c, 7, 3, t0);
    s.on_packet(t0, &peer_packet(State::Down, 0)).unwrap();
    s.on_packet(t0, &peer_packet(State::Up, 7)).unwrap();
    assert_eq!(s.state(), State::Up);
    assert!(s.polling(), "idle_tx -> min_tx is announced by a Poll");
    let mut f = peer_packet(State::Up, 7);
    f.final_ = true;
    s.on_packet(t0, &f).unwrap();
    assert!(!s.polling());
    (s, t0)
}

#[test]
fn poll_sequence_delays_slower_tx_and_faster_rx() {
    let (mut s, t0) = up_session(cfg(100, 100, 3));
    // Slower TX and faster RX: advertised at once with P, in force only after the Final.
    let t1 = t0 + MS * 10;
    let out = s.reconfigure(t1, cfg(20, 400, 3));
    let Some(Output::Send(p)) = out.first() else {
        panic!("a Poll goes out at once: {out:?}")
    };
    assert!(p.poll && p.desired_min_tx == 400_000 && p.required_min_rx == 20_000);
    assert_eq!(s.tx_interval(), 100 * MS, "old TX until the Final");
    assert_eq!(s.detection_time(), Some(300 * MS), "old RX until the Final");
    // The peer answers the Poll with a Final.
    let mut f = peer_packet(State::Up, 7);
    f.final_ = true;
    s.on_packet(t1 + MS, &f).unwrap();
    assert!(!s.polling());
    assert_eq!(s.tx_interval(), 400 * MS);
    assert_eq!(
        s.detection_time(),
        Some(300 * MS),
        "peer TX 100 ms > our 20 ms"
    );
    // Periodic packets no longer carry P.
    s.on_packet(t1 + MS * 200, &peer_packet(State::Up, 7))
        .unwrap();
    let out = s.on_timer(t1 + MS * 250);
    assert!(
        matches!(out.as_slice(), [Output::Send(c)] if !c.poll),
        "{out:?}"
    );
}

#[test]
fn a_poll_is_answered_with_a_final_at_once() {
    let (mut s, t0) = up_session(cfg(100, 100, 3));
    let mut p = peer_packet(State::Up, 7);
    p.poll = true;
    p.required_min_rx = 500_000;
    let out = s.on_packet(t0 + MS, &p).unwrap();
    assert!(
        matches!(out.as_slice(), [Output::Send(c)] if c.final_ && !c.poll && c.state == State::Up)
    );
    // The peer now wants packets at most every 500 ms.
    assert_eq!(s.tx_interval(), 500 * MS);
}

#[test]
fn foreign_discriminator_and_remote_demand() {
    let (mut s, t0) = up_session(cfg(100, 100, 3));
    assert_eq!(
        s.on_packet(t0, &peer_packet(State::Up, 8)),
        Err(Ignored::WrongDiscriminator)
    );
    let mut d = peer_packet(State::Up, 7);
    d.demand = true;
    s.on_packet(t0 + MS, &d).unwrap();
    // The peer in Demand mode: no periodic packets, only the detection timer is left.
    assert_eq!(s.next_deadline(), Some(t0 + MS + 300 * MS));
    // A peer asking for no packets at all (Required Min RX 0).
    let (mut s, t0) = up_session(cfg(100, 100, 3));
    let mut z = peer_packet(State::Up, 7);
    z.required_min_rx = 0;
    s.on_packet(t0 + MS, &z).unwrap();
    assert!(
        s.on_timer(t0 + MS * 200)
            .iter()
            .all(|o| !matches!(o, Output::Send(_)))
    );
}

#[test]
fn peer_down_while_up_is_neighbor_down_and_init_needs_the_peer() {
    let (mut s, t0) = up_session(cfg(100, 100, 3));
    let out = s.on_packet(t0 + MS, &peer_packet(State::Down, 7)).unwrap();
    assert!(out.contains(&Output::Changed {
        from: State::Up,
        to: State::Down,
        diag: Diag::NeighborDown
    }));
    // Down + peer Up (stale): stays Down (only Down / Init move it).
    s.on_packet(t0 + MS * 2, &peer_packet(State::Up, 7))
        .unwrap();
    assert_eq!(s.state(), State::Down);
    // Init times out like Up does.
    s.on_packet(t0 + MS * 3, &peer_packet(State::Down, 0))
        .unwrap();
    assert_eq!(s.state(), State::Init);
    let out = s.on_timer(t0 + MS * 3 + 300 * MS);
    assert!(out.contains(&Output::Changed {
        from: State::Init,
        to: State::Down,
        diag: Diag::DetectionTimeExpired
    }));
}

#[test]
fn jitter_range_with_multiplier_one() {
    let mut s = Session::new(cfg(100, 100, 1), 7, 99, Instant::now());
    let t0 = Instant::now();
    // A peer that sends rarely: its detection time (3 × 10 s) never interferes.
    let mut slow = peer_packet(State::Down, 0);
    slow.desired_min_tx = 10_000_000;
    s.on_packet(t0, &slow).unwrap();
    let mut t = t0;
    let mut last = None;
    for _ in 0..30 {
        let d = s.next_deadline().unwrap();
        if let Some(l) = last {
            let gap: Duration = d - l;
            // idle 1 s while Init, 75..=90 % with multiplier 1.
            assert!(gap >= 750 * MS && gap <= 900 * MS, "gap {gap:?}");
        }
        t = t.max(d);
        let sent = s.on_timer(t);
        if sent.iter().any(|o| matches!(o, Output::Send(_))) {
            last = Some(t);
        }
    }
}
