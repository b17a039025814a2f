//! Scenario tests with a fake clock: every instant is `t0 + offset`, so the RFC timers are
//! checked to the millisecond. Figures match netlab.md (keepalived 2.2.7: prio 100, advert 1 s
//! → Master_Down_Interval 3.609 s, skew 0.609 s).

use super::*;

const ME: &str = "10.77.0.2";
const PEER: &str = "10.77.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(priority: u8) -> FsmConfig {
    FsmConfig {
        priority,
        adver_int: Duration::from_secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        local_addr: ip(ME),
        learn_master_interval: true,
        initial_master: true,
        adverts: AdvertRules::default(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Run {
    t0: Instant,
    fsm: Fsm,
}

impl Run {
    fn new(c: FsmConfig) -> Run {
        Run {
            t0: Instant::now(),
            fsm: Fsm::new(c),
        }
    }
    fn at(&mut self, off: Duration, ev: Event) -> Vec<Action> {
        self.fsm.handle(self.t0 + off, ev)
    }
    fn advert(&mut self, off: Duration, prio: u8) -> Vec<Action> {
        self.at(
            off,
            Event::Advert {
                src: ip(PEER),
                priority: prio,
                interval: Duration::from_secs(1),
            },
        )
    }
    fn deadline(&self) -> Duration {
        self.fsm.next_deadline().unwrap() - self.t0
    }
    /// Fire timers up to `off` as the instance loop would.
    fn run_until(&mut self, off: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(d) = self.fsm.next_deadline() {
            if d > self.t0 + off {
                break;
            }
            out.extend(self.fsm.handle(d, Event::Timer));
        }
        out
    }
}

fn became(a: &[Action], to: State) -> bool {
    a.iter()
        .any(|x| matches!(x, Action::StateChanged { to: t, .. } if *t == to))
}

#[test]
fn backup_takes_over_after_master_down_interval() {
    let mut r = Run::new(cfg(100));
    let a = r.at(ms(0), Event::Startup);
    assert_eq!(
        a,
        vec![Action::StateChanged {
            from: State::Initialize,
            to: State::Backup
        }]
    );
    assert_eq!(
        r.fsm.master_down_interval(),
        ms(3609) + Duration::from_micros(375)
    );
    // Adverts from a higher-priority master keep restarting the timer.
    for s in 0..5 {
        assert!(r.advert(Duration::from_secs(s), 150).is_empty());
    }
    assert_eq!(
        r.deadline(),
        Duration::from_secs(4) + ms(3609) + Duration::from_micros(375)
    );
    // Crash after the advert at 4 s: nothing at 7.609 s, Master at 7.610 s.
    assert!(r.run_until(ms(7609)).is_empty());
    let a = r.run_until(ms(7610));
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 100 },
            Action::AddVips,
            Action::Garp,
            Action::StateChanged {
                from: State::Backup,
                to: State::Master
            },
        ]
    );
    // Then one advert per second.
    assert_eq!(r.run_until(ms(8609)), vec![]);
    assert_eq!(
        r.run_until(ms(8610)),
        vec![Action::SendAdvert { priority: 100 }]
    );
}

#[test]
fn graceful_resign_takes_over_after_skew() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.advert(ms(500), 150);
    assert!(r.advert(ms(1000), 0).is_empty());
    assert_eq!(r.deadline(), ms(1609) + Duration::from_micros(375));
    assert!(r.run_until(ms(1609)).is_empty());
    assert!(became(&r.run_until(ms(1610)), State::Master));
}

#[test]
fn owner_goes_master_at_once_and_keeps_255() {
    let mut r = Run::new(cfg(255));
    let a = r.at(ms(0), Event::Startup);
    assert_eq!(a[0], Action::SendAdvert { priority: 255 });
    assert!(became(&a, State::Master));
    r.at(ms(1), Event::Priority(10));
    assert_eq!(r.fsm.priority(), 255);
}

/// keepalived 2.2.7: an owner with `state BACKUP` starts in Backup and takes over when
/// Master_Down_Interval passes (3 s + a 1/256 skew at advert_int 1), not at once.
#[test]
fn owner_with_state_backup_waits_master_down_interval() {
    let mut r = Run::new(FsmConfig {
        initial_master: false,
        ..cfg(255)
    });
    assert!(became(&r.at(ms(0), Event::Startup), State::Backup));
    assert!(r.run_until(ms(3003)).is_empty());
    assert!(became(&r.run_until(ms(3004)), State::Master));
}

#[test]
fn preemption_and_nopreempt() {
    // Preempt: a lower-priority master's adverts are discarded, so we take over.
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    assert!(r.advert(ms(100), 50).is_empty());
    assert_eq!(r.deadline(), ms(3609) + Duration::from_micros(375));
    assert!(became(&r.run_until(ms(3610)), State::Master));

    // nopreempt: the lower-priority master is accepted and keeps the role.
    let mut r = Run::new(FsmConfig {
        preempt: false,
        ..cfg(100)
    });
    r.at(ms(0), Event::Startup);
    for s in 0..10 {
        r.advert(Duration::from_secs(s), 50);
    }
    assert!(r.run_until(ms(12_609)).is_empty());
    assert_eq!(r.fsm.state(), State::Backup);
    assert_eq!(r.fsm.master_addr(), Some(ip(PEER)));
    // The dumps' master_priority: what the accepted master advertises.
    assert_eq!(r.fsm.master_priority(), 50);
}

#[test]
fn preempt_delay_holds_back_then_preempts() {
    let mut r = Run::new(FsmConfig {
        preempt_delay: Duration::from_secs(5),
        ..cfg(100)
    });
    r.at(ms(0), Event::Startup);
    // Lower-priority adverts are tolerated for 5 s after startup ...
    for s in 0..5 {
        r.advert(Duration::from_secs(s), 50);
    }
    assert_eq!(r.fsm.state(), State::Backup);
    // ... then discarded: take over 3.609 s after the last tolerated one (at 4 s).
    r.advert(ms(5000), 50);
    r.advert(ms(6000), 50);
    assert!(r.run_until(ms(7609)).is_empty());
    assert!(became(&r.run_until(ms(7610)), State::Master));
}

#[test]
fn master_yields_to_higher_priority_and_reports_split_brain() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    assert_eq!(r.fsm.state(), State::Master);
    // Lower priority: answered at once, we stay.
    let a = r.advert(ms(4000), 50);
    assert_eq!(
        a,
        vec![
            Action::SplitBrain {
                peer: ip(PEER),
                peer_priority: 50
            },
            Action::SendAdvert { priority: 100 }
        ]
    );
    // Equal priority: the higher address wins; 10.77.0.1 < 10.77.0.2 so we stay.
    assert!(!became(&r.advert(ms(4100), 100), State::Backup));
    // Higher priority: drop the VIPs and go Backup.
    let a = r.advert(ms(4200), 150);
    assert_eq!(a[0], Action::DelVips);
    assert!(became(&a, State::Backup));
    assert_eq!(r.deadline(), ms(4200 + 3609) + Duration::from_micros(375));
}

#[test]
fn a_flood_of_lower_priority_adverts_gets_one_reply_per_interval() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    assert_eq!(r.fsm.state(), State::Master);
    // 10,000 lower-priority (and priority 0) adverts over 2.5 s, one every 250 µs.
    let (mut replies, mut split) = (0, 0);
    let start = Duration::from_millis(4000);
    for i in 0..10_000u64 {
        let off = start + Duration::from_micros(i * 250);
        let prio = if i % 2 == 0 { 50 } else { 0 };
        for a in r.advert(off, prio) {
            match a {
                Action::SendAdvert { priority: 100 } => replies += 1,
                Action::SplitBrain { .. } => split += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // The regular adverts go on meanwhile, once per interval.
        r.run_until(off);
    }
    // Every lower-priority master is still reported (counted), but answered at 4.0, 5.0
    // and 6.0 s only.
    assert_eq!(split, 5_000);
    assert_eq!(replies, 3);
    assert_eq!(r.fsm.state(), State::Master);
}

#[test]
fn equal_priority_higher_address_wins() {
    let mut r = Run::new(FsmConfig {
        local_addr: ip("10.77.0.0"),
        ..cfg(100)
    });
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    assert!(became(&r.advert(ms(4000), 100), State::Backup));
}

#[test]
fn shutdown_sends_priority_zero() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    let a = r.at(ms(5000), Event::Shutdown);
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::DelVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Initialize
            }
        ]
    );
    assert_eq!(r.fsm.next_deadline(), None);
    // A backup just stops.
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    assert_eq!(
        r.at(ms(1), Event::Shutdown),
        vec![Action::StateChanged {
            from: State::Backup,
            to: State::Initialize
        }]
    );
}

#[test]
fn fault_resigns_and_recovers_through_backup() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    let a = r.at(ms(4000), Event::Fault(true));
    assert_eq!(
        a[..2],
        [Action::SendAdvert { priority: 0 }, Action::DelVips]
    );
    assert!(became(&a, State::Fault));
    assert_eq!(r.fsm.next_deadline(), None);
    // Adverts and timers do nothing in Fault.
    assert!(r.advert(ms(4500), 0).is_empty());
    let a = r.at(ms(6000), Event::Fault(false));
    assert!(became(&a, State::Backup));
    assert_eq!(r.deadline(), ms(6000 + 3609) + Duration::from_micros(375));
    // Starting while faulted goes straight to Fault.
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Fault(true));
    assert!(became(&r.at(ms(1), Event::Startup), State::Fault));
}

#[test]
fn v3_learns_master_interval_and_fast_timers() {
    // advert_int 0.01 (v3): master down 30 ms + skew 6.09 ms.
    let c = FsmConfig {
        adver_int: ms(10),
        ..cfg(100)
    };
    let mut r = Run::new(c.clone());
    r.at(ms(0), Event::Startup);
    assert_eq!(
        r.fsm.master_down_interval(),
        Duration::from_nanos(36_093_750)
    );
    // The master advertises every 50 cs: learn it.
    r.at(
        ms(5),
        Event::Advert {
            src: ip(PEER),
            priority: 150,
            interval: ms(500),
        },
    );
    assert_eq!(r.fsm.master_adver_int(), ms(500));
    assert_eq!(
        r.deadline(),
        ms(5 + 1500 + 304) + Duration::from_nanos(687_500)
    );
    // v2 keeps its own interval.
    let mut r = Run::new(FsmConfig {
        learn_master_interval: false,
        initial_master: true,
        ..c
    });
    r.at(ms(0), Event::Startup);
    r.at(
        ms(5),
        Event::Advert {
            src: ip(PEER),
            priority: 150,
            interval: ms(500),
        },
    );
    assert_eq!(r.fsm.master_adver_int(), ms(10));
}

#[test]
fn tracked_priority_drop_lets_backup_preempt() {
    // Node A (us) master at 100, peer backup at 90. Our weight drops us to 80: the next advert
    // carries 80; the peer (preempt) discards it and takes over; we yield to its 90.
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    r.at(ms(4000), Event::Priority(80));
    assert_eq!(
        r.run_until(ms(4610)),
        vec![Action::SendAdvert { priority: 80 }]
    );
    assert!(became(&r.advert(ms(8000), 90), State::Backup));
}

#[test]
fn sync_group_follow() {
    let mut r = Run::new(cfg(100));
    r.at(ms(0), Event::Startup);
    assert!(became(
        &r.at(ms(10), Event::Follow(State::Master)),
        State::Master
    ));
    let a = r.at(ms(20), Event::Follow(State::Backup));
    assert_eq!(a[0], Action::DelVips);
    assert!(became(&a, State::Backup));
    assert!(became(
        &r.at(ms(30), Event::Follow(State::Fault)),
        State::Fault
    ));
    // The group recovering (a member back in Backup) brings us back unless we fault ourselves.
    assert!(became(
        &r.at(ms(40), Event::Follow(State::Backup)),
        State::Backup
    ));
    r.at(ms(50), Event::Fault(true));
    assert!(r.at(ms(60), Event::Follow(State::Backup)).is_empty());
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    fn arb_event() -> impl Strategy<Value = (u16, Event)> {
        let state = prop_oneof![Just(State::Master), Just(State::Backup), Just(State::Fault)];
        let ev = prop_oneof![
            Just(Event::Startup),
            Just(Event::Timer),
            Just(Event::Timer),
            Just(Event::Shutdown),
            any::<bool>().prop_map(Event::Fault),
            any::<u8>().prop_map(Event::Priority),
            state.prop_map(Event::Follow),
            (any::<bool>(), any::<u8>(), 1u64..300).prop_map(|(hi, priority, cs)| Event::Advert {
                src: ip(if hi { "10.77.0.3" } else { "10.77.0.1" }),
                priority,
                interval: Duration::from_millis(cs * 10),
            }),
        ];
        (0u16..2000, ev)
    }

    proptest! {
        /// Whatever happens, the VIPs are installed exactly while Master, and timers run exactly
        /// in Backup and Master.
        #[test]
        fn vips_follow_master_state(prio in 1u8..=255, events in proptest::collection::vec(arb_event(), 1..60)) {
            let t0 = Instant::now();
            let mut fsm = Fsm::new(FsmConfig { adver_int: ms(100), ..cfg(prio) });
            let mut now = t0;
            let mut installed = false;
            for (dt, ev) in events {
                now += ms(u64::from(dt));
                let ev = match ev {
                    // A timer event is only delivered at or after the deadline.
                    Event::Timer => match fsm.next_deadline() {
                        Some(d) => { now = now.max(d); Event::Timer }
                        None => continue,
                    },
                    e => e,
                };
                for a in fsm.handle(now, ev) {
                    match a {
                        Action::AddVips => installed = true,
                        Action::DelVips => installed = false,
                        _ => {}
                    }
                }
                prop_assert_eq!(installed, fsm.state() == State::Master);
                prop_assert_eq!(fsm.next_deadline().is_some(), matches!(fsm.state(), State::Backup | State::Master));
            }
        }
    }
}

fn rules(f: impl FnOnce(&mut AdvertRules)) -> FsmConfig {
    let mut c = cfg(100);
    f(&mut c.adverts);
    c
}

fn master(c: FsmConfig) -> Run {
    let mut r = Run::new(c);
    r.at(ms(0), Event::Startup);
    r.run_until(ms(3610));
    assert_eq!(r.fsm.state(), State::Master);
    r
}

#[test]
fn lower_prio_no_advert_leaves_the_answer_to_the_regular_adverts() {
    let mut r = master(rules(|a| a.lower_prio_no_advert = true));
    // The split brain is still seen (counted, lower-priority GARPs), but no advert goes out.
    assert_eq!(
        r.advert(ms(4000), 50),
        vec![Action::SplitBrain {
            peer: ip(PEER),
            peer_priority: 50
        }]
    );
    // The regular advert stays on its schedule (3.609 s + 1 s, not 4.0 + 1 s).
    assert_eq!(r.deadline(), ms(4609) + Duration::from_micros(375));
    assert_eq!(
        r.run_until(ms(4610)),
        vec![Action::SendAdvert { priority: 100 }]
    );
    // RFC 5798 §6.4.3: a priority-0 advert is still answered at once.
    assert_eq!(
        r.advert(ms(4700), 0),
        vec![Action::SendAdvert { priority: 100 }]
    );
    assert_eq!(r.fsm.state(), State::Master);
}

#[test]
fn higher_prio_send_advert_sends_one_advert_before_yielding() {
    let mut r = master(rules(|a| a.higher_prio_send_advert = true));
    let a = r.advert(ms(4200), 150);
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 100 },
            Action::DelVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Backup
            },
        ]
    );
    // Without it: no advert.
    let mut r = master(cfg(100));
    let a = r.advert(ms(4200), 150);
    assert!(!a.iter().any(|x| matches!(x, Action::SendAdvert { .. })));
    assert!(became(&a, State::Backup));
}

#[test]
fn down_timer_adverts_sets_the_intervals_of_master_down() {
    // down_timer_adverts 1: 1 s + skew 0.609375 s (keepalived measured 1.6 s in the lab).
    let mut r = Run::new(rules(|a| a.down_timer_adverts = 1));
    r.at(ms(0), Event::Startup);
    assert_eq!(
        r.fsm.master_down_interval(),
        ms(1609) + Duration::from_micros(375)
    );
    r.advert(ms(500), 150);
    assert_eq!(r.deadline(), ms(2109) + Duration::from_micros(375));
    assert!(r.run_until(ms(2109)).is_empty());
    assert!(became(&r.run_until(ms(2110)), State::Master));
    // 10 adverts at advert_int 0.5 (learned, v3): 5 s + skew 0.3047 s.
    let mut r = Run::new(rules(|a| a.down_timer_adverts = 10));
    r.at(ms(0), Event::Startup);
    r.at(
        ms(10),
        Event::Advert {
            src: ip(PEER),
            priority: 150,
            interval: ms(500),
        },
    );
    assert_eq!(
        r.fsm.master_down_interval(),
        ms(5304) + Duration::from_micros(687) + Duration::from_nanos(500)
    );
}
