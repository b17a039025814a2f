//! The loop's step with a fake clock: every instant is `t0 + offset`.

use super::*;
use crate::vrrp::packet::{Advert, Auth, Version};

fn cfg() -> StepConfig {
    StepConfig {
        name: "VI_1".into(),
        vrid: 51,
        fsm: FsmConfig {
            priority: 100,
            adver_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            local_addr: "10.0.0.2".parse().unwrap(),
            learn_master_interval: true,
            initial_master: true,
            adverts: crate::vrrp::fsm::AdvertRules::default(),
        },
        garp_master_delay: Duration::from_secs(5),
        garp_master_repeat: 5,
        garp_master_refresh: None,
        garp_master_refresh_repeat: 1,
        garp_lower_prio_delay: Duration::ZERO,
        garp_lower_prio_repeat: 1,
        startup_delay: Duration::ZERO,
        notify_priority_changes: false,
        skip_check_adv_addr: false,
    }
}

const OK: Tracked = Tracked {
    fault: false,
    priority: 100,
    pending: false,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn advert(prio: u8) -> Input {
    Input::Packet {
        src: "10.0.0.1".parse().unwrap(),
        verdict: Verdict::Accept {
            advert: Advert {
                version: Version::V3,
                vrid: 51,
                priority: prio,
                interval_cs: 100,
                addrs: vec![],
                auth: Auth::None,
            },
            addr_list_mismatch: false,
        },
    }
}

fn states(fx: &[Effect]) -> Vec<State> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Fsm(Action::StateChanged { to, .. }) => Some(*to),
            _ => None,
        })
        .collect()
}

/// Fires every deadline up to `t`, as the loop does.
fn run_until(s: &mut Step, t: Instant) -> Vec<Effect> {
    let mut out = Vec::new();
    while let Some(d) = s.next_deadline().filter(|d| *d <= t) {
        out.extend(s.on_input(d, Input::Timer));
    }
    out
}

#[test]
fn startup_backup_then_master_after_master_down_interval_with_garp_repeat() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    assert_eq!(states(&s.on_input(t0, Input::Startup)), vec![State::Backup]);
    // 3 × 1 s + skew (156/256 s) = 3.609375 s.
    assert_eq!(
        s.next_deadline(),
        Some(t0 + Duration::from_micros(3_609_375))
    );
    assert!(states(&run_until(&mut s, t0 + ms(3609))).is_empty());
    let fx = run_until(&mut s, t0 + ms(3610));
    assert_eq!(states(&fx), vec![State::Master]);
    assert!(fx.contains(&Effect::Publish(State::Master)));
    assert_eq!(s.counters.become_master, 1);
    // garp_master_delay 5 s: the second burst, counted.
    let fx = run_until(&mut s, t0 + ms(3610 + 5000));
    assert!(fx.contains(&Effect::Announce { repeat: 5 }));
    assert_eq!(s.counters.garp_delay, 1);
}

#[test]
fn startup_delay_holds_init_then_starts_with_the_latest_tracking() {
    let t0 = Instant::now();
    let mut s = Step::new(
        StepConfig {
            startup_delay: ms(2500),
            ..cfg()
        },
        OK,
    );
    assert!(s.on_input(t0, Input::Startup).is_empty());
    assert_eq!(s.fsm().state(), State::Initialize);
    // Adverts and tracker changes during the delay do not start the machine.
    assert!(states(&s.on_input(t0 + ms(100), advert(200))).is_empty());
    let fx = s.on_input(
        t0 + ms(200),
        Input::Track(Tracked {
            fault: true,
            priority: 100,
            pending: false,
        }),
    );
    assert!(fx.is_empty());
    assert_eq!(s.next_deadline(), Some(t0 + ms(2500)));
    assert_eq!(
        states(&run_until(&mut s, t0 + ms(2500))),
        vec![State::Fault]
    );
}

#[test]
fn tracker_changes_move_priority_and_fault() {
    let t0 = Instant::now();
    let mut s = Step::new(
        StepConfig {
            notify_priority_changes: true,
            ..cfg()
        },
        OK,
    );
    s.on_input(t0, Input::Startup);
    let fx = s.on_input(
        t0 + ms(10),
        Input::Track(Tracked {
            fault: false,
            priority: 80,
            pending: false,
        }),
    );
    assert_eq!(s.fsm().priority(), 80);
    assert_eq!(
        fx,
        vec![Effect::PriorityChanged {
            state: State::Backup,
            priority: 80
        }]
    );
    // The same value again is no change.
    assert!(
        s.on_input(
            t0 + ms(20),
            Input::Track(Tracked {
                fault: false,
                priority: 80,
                pending: false,
            })
        )
        .is_empty()
    );
    let fx = s.on_input(
        t0 + ms(30),
        Input::Track(Tracked {
            fault: true,
            priority: 80,
            pending: false,
        }),
    );
    assert_eq!(states(&fx), vec![State::Fault]);
    assert_eq!(s.next_deadline(), None, "FAULT runs no timers");
    let fx = s.on_input(t0 + ms(40), Input::Track(OK));
    assert_eq!(states(&fx), vec![State::Backup]);
}

#[test]
fn priority_changes_are_not_notified_unless_configured() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    let fx = s.on_input(
        t0,
        Input::Track(Tracked {
            fault: false,
            priority: 90,
            pending: false,
        }),
    );
    assert!(fx.is_empty());
    assert_eq!(s.fsm().priority(), 90);
}

#[test]
fn following_the_group_is_not_republished() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    let fx = s.on_input(
        t0 + ms(5),
        Input::Group {
            from: "VI_2".into(),
            state: State::Master,
        },
    );
    assert_eq!(states(&fx), vec![State::Master]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Publish(_))));
    // Our own echo in the group is ignored.
    let fx = s.on_input(
        t0 + ms(6),
        Input::Group {
            from: "VI_1".into(),
            state: State::Backup,
        },
    );
    assert!(fx.is_empty());
}

#[test]
fn packets_are_counted_and_a_flood_does_not_starve_the_timer() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    let bad = Input::Packet {
        src: "10.0.0.9".parse().unwrap(),
        verdict: Verdict::Reject(validate::Reject::Ttl(64)),
    };
    let mut fx = Vec::new();
    for i in 0..40 {
        fx.extend(s.on_input(t0 + ms(100 * i), bad.clone()));
    }
    assert_eq!(s.counters.ip_ttl_err, 40);
    // The 37th packet arrived after Master_Down_Interval: the timer was served with it.
    assert_eq!(states(&fx), vec![State::Master]);
    s.on_input(t0 + ms(5000), Input::StatsClear);
    assert_eq!(s.counters, VrrpCounters::default());
}

#[test]
fn shutdown_resigns_and_ends_the_step() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    run_until(&mut s, t0 + ms(4000));
    assert_eq!(s.fsm().state(), State::Master);
    let fx = s.on_input(t0 + ms(4100), Input::Shutdown);
    assert_eq!(fx[0], Effect::Fsm(Action::SendAdvert { priority: 0 }));
    assert!(fx.contains(&Effect::Fsm(Action::DelVips)));
    assert!(s.stopped());
    assert_eq!(s.next_deadline(), None);
    assert!(s.on_input(t0 + ms(4200), advert(50)).is_empty());
}

#[test]
fn higher_priority_advert_makes_master_yield() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    run_until(&mut s, t0 + ms(4000));
    let fx = s.on_input(t0 + ms(4500), advert(200));
    assert_eq!(states(&fx), vec![State::Backup]);
    assert_eq!(s.counters.advert_rcvd, 1);
    assert_eq!(s.counters.release_master, 1);
    // A lower one while master: split brain counted.
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    run_until(&mut s, t0 + ms(4000));
    s.on_input(t0 + ms(4500), advert(50));
    assert_eq!(s.counters.split_brain, 1);
}

#[test]
fn resign_leaves_master_with_priority_zero_and_is_ignored_otherwise() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    // A backup has nothing to resign.
    assert!(s.on_input(t0 + ms(10), Input::Resign).is_empty());
    run_until(&mut s, t0 + ms(4000));
    assert_eq!(s.fsm().state(), State::Master);
    let fx = s.on_input(t0 + ms(4100), Input::Resign);
    assert_eq!(fx[0], Effect::Fsm(Action::SendAdvert { priority: 0 }));
    assert!(fx.contains(&Effect::Fsm(Action::DelVips)));
    assert_eq!(states(&fx), vec![State::Backup]);
    assert!(
        fx.contains(&Effect::Publish(State::Backup)),
        "the sync group follows"
    );
    assert!(!s.stopped());
    // And, alone, it becomes master again after Master_Down_Interval.
    assert_eq!(
        states(&run_until(&mut s, t0 + ms(4100 + 3610))),
        vec![State::Master]
    );
}

fn mismatched(prio: u8, src: &str) -> Input {
    match advert(prio) {
        Input::Packet {
            verdict: Verdict::Accept { advert, .. },
            ..
        } => Input::Packet {
            src: src.parse().unwrap(),
            verdict: Verdict::Accept {
                advert,
                addr_list_mismatch: true,
            },
        },
        other => other,
    }
}

/// An advert whose address list is not ours is counted and dropped (keepalived 2.2.7: a
/// backup hearing only such adverts takes over); with `skip_check_adv_addr` the master last
/// heard is not checked again, a new source is.
#[test]
fn address_list_mismatch_drops_unless_skipped_for_the_known_master() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    for i in 0..4 {
        s.on_input(t0 + ms(1000 * i), mismatched(200, "10.0.0.1"));
    }
    assert_eq!(s.counters.addr_list_err, 4);
    run_until(&mut s, t0 + ms(3700));
    assert_eq!(
        s.fsm().state(),
        State::Master,
        "the dropped adverts do not hold it back"
    );

    let c = StepConfig {
        skip_check_adv_addr: true,
        ..cfg()
    };
    let mut s = Step::new(c, OK);
    s.on_input(t0, Input::Startup);
    // Not yet heard: checked and dropped.
    s.on_input(t0 + ms(100), mismatched(200, "10.0.0.1"));
    assert_eq!(s.counters.addr_list_err, 1);
    // A good advert makes 10.0.0.1 the master last heard; its next ones pass unchecked.
    s.on_input(t0 + ms(200), advert(200));
    for i in 1..5 {
        s.on_input(t0 + ms(200 + 1000 * i), mismatched(200, "10.0.0.1"));
    }
    assert_eq!(s.counters.addr_list_err, 1);
    assert_eq!(s.fsm().state(), State::Backup);
    assert_eq!(s.fsm().master_addr(), Some("10.0.0.1".parse().unwrap()));
    // Another source is checked.
    s.on_input(t0 + ms(4300), mismatched(250, "10.0.0.9"));
    assert_eq!(s.counters.addr_list_err, 2);
    assert_eq!(s.fsm().master_addr(), Some("10.0.0.1".parse().unwrap()));
}

/// `notify_master_rx_lower_pri`: a master hearing a lower-priority advert says so, at most
/// once a second (a flood runs no flood of scripts); a backup or a higher priority does not.
#[test]
fn master_rx_lower_pri_is_reported_once_a_second() {
    let t0 = Instant::now();
    let mut s = Step::new(cfg(), OK);
    s.on_input(t0, Input::Startup);
    let rx = |fx: &[Effect]| {
        fx.iter()
            .filter(|e| matches!(e, Effect::MasterRxLowerPri { priority: 50, .. }))
            .count()
    };
    assert_eq!(rx(&s.on_input(t0 + ms(100), advert(50))), 0, "backup");
    run_until(&mut s, t0 + ms(4000));
    assert_eq!(s.fsm().state(), State::Master);
    let mut n = 0;
    for i in 0..20 {
        n += rx(&s.on_input(t0 + ms(4000 + 100 * i), advert(50)));
    }
    assert_eq!(n, 2, "at 4.0 s and 5.0 s");
    let fx = s.on_input(t0 + ms(6500), advert(150));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::MasterRxLowerPri { .. }))
    );
}

/// keepalived holds an instance whose FAULT-tracking script has not answered yet: no state,
/// no advert, no notify, whatever adverts and timers come; the first result then decides.
#[test]
fn a_pending_script_holds_the_instance_in_init_until_its_first_result() {
    let t0 = Instant::now();
    let pending = Tracked {
        pending: true,
        ..OK
    };
    for (first, want) in [(false, State::Backup), (true, State::Fault)] {
        let mut s = Step::new(cfg(), pending);
        assert!(s.on_input(t0, Input::Startup).is_empty());
        assert!(s.on_input(t0 + ms(100), advert(50)).is_empty());
        assert!(run_until(&mut s, t0 + ms(5000)).is_empty());
        assert_eq!(s.fsm().state(), State::Initialize);
        let fx = s.on_input(t0 + ms(5100), Input::Track(Tracked { fault: first, ..OK }));
        assert_eq!(states(&fx), vec![want]);
    }
}
