//! global_defs `max_auto_priority [-1..99]` and `min_auto_priority_delay USECS`
//! (keepalived.conf(5)): when the VRRP thread runs a timer at least `min_auto_priority_delay`
//! (default 1 s) after it was due, it raises its own scheduling — to SCHED_RR first if it is
//! not realtime, then one SCHED_RR priority step per further late run — never above
//! `max_auto_priority` (0, the default, and -1 turn it off; lvsd's VRRP thread already starts
//! at SCHED_RR `vrrp_rt_priority`, 10 by default, so the raise starts from there).
//!
//! [`AutoPriority`] is the pure decision (tested with a fake clock); [`init`] and
//! [`timer_ran`] are the edge on the VRRP thread (one thread runs every instance, so the state
//! is thread-local and `sched_setscheduler(0, …)` changes exactly that thread).

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// keepalived's default `min_auto_priority_delay`.
pub const DEFAULT_MIN_DELAY: Duration = Duration::from_secs(1);

/// The decision: what SCHED_RR priority to switch to after a late run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPriority {
    max: u8,
    min_delay: Duration,
    /// The thread's SCHED_RR/FIFO priority now; None: not realtime.
    current: Option<u8>,
}

impl AutoPriority {
    /// None when the feature is off (`max_auto_priority` 0 or -1).
    pub fn new(max: i32, min_delay: Option<Duration>, current: Option<u8>) -> Option<AutoPriority> {
        (max > 0).then(|| AutoPriority {
            max: max.min(99) as u8,
            min_delay: min_delay.unwrap_or(DEFAULT_MIN_DELAY),
            current,
        })
    }

    /// A timer due at `due` ran at `now`: the priority to switch to, if the run was late
    /// enough and the ceiling is not reached (the caller reports back with [`Self::applied`]).
    pub fn late(&self, due: Instant, now: Instant) -> Option<u8> {
        if now.saturating_duration_since(due) < self.min_delay {
            return None;
        }
        match self.current {
            None => Some(1),
            Some(p) if p < self.max => Some(p + 1),
            Some(_) => None,
        }
    }

    /// The switch to `prio` succeeded.
    pub fn applied(&mut self, prio: u8) {
        self.current = Some(prio);
    }
}

thread_local! {
    static STATE: RefCell<Option<AutoPriority>> = const { RefCell::new(None) };
}

/// The calling thread's realtime priority (None: SCHED_OTHER/BATCH/IDLE).
fn current_rt() -> Option<u8> {
    // SAFETY: queries of the calling thread (pid 0) with a valid out-parameter.
    unsafe {
        // Without the SCHED_RESET_ON_FORK flag the VRRP thread sets.
        let policy = libc::sched_getscheduler(0) & !libc::SCHED_RESET_ON_FORK;
        if policy != libc::SCHED_RR && policy != libc::SCHED_FIFO {
            return None;
        }
        let mut p = libc::sched_param { sched_priority: 0 };
        if libc::sched_getparam(0, &mut p) != 0 {
            return None;
        }
        u8::try_from(p.sched_priority).ok()
    }
}

/// Arms the feature for the calling (VRRP) thread, from its scheduling now.
pub fn init(max: i32, min_delay: Option<Duration>) {
    let a = AutoPriority::new(max, min_delay, current_rt());
    if let Some(a) = &a {
        tracing::info!(
            "max_auto_priority {}: the VRRP thread raises its SCHED_RR priority when it runs {:?} late",
            a.max,
            a.min_delay
        );
    }
    STATE.with(|s| *s.borrow_mut() = a);
}

/// A timer of the VRRP thread due at `due` ran now: raises the thread's priority if due.
pub fn timer_ran(due: Instant) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let Some(a) = s.as_mut() else { return };
        let now = Instant::now();
        let Some(prio) = a.late(due, now) else { return };
        let param = libc::sched_param {
            sched_priority: i32::from(prio),
        };
        // SAFETY: plain syscall on the calling thread with a valid parameter struct.
        let r = unsafe {
            libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param)
        };
        if r == 0 {
            tracing::warn!(
                "VRRP thread ran {:?} late: raised to SCHED_RR priority {prio} (max_auto_priority)",
                now.saturating_duration_since(due)
            );
            a.applied(prio);
        } else {
            tracing::warn!(
                "VRRP thread ran late but SCHED_RR priority {prio} cannot be set: {}",
                std::io::Error::last_os_error()
            );
            // Do not retry on every late run.
            *s = None;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_runs_raise_step_by_step_up_to_the_ceiling() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(AutoPriority::new(0, None, None), None);
        assert_eq!(AutoPriority::new(-1, None, None), None);
        // Not realtime: SCHED_RR 1 first, then +1, up to 3.
        let mut a = AutoPriority::new(3, Some(ms(200)), None).unwrap();
        assert_eq!(
            a.late(t0, t0 + ms(199)),
            None,
            "under min_auto_priority_delay"
        );
        for want in 1..=3 {
            let p = a.late(t0, t0 + ms(200)).unwrap();
            assert_eq!(p, want);
            a.applied(p);
        }
        assert_eq!(a.late(t0, t0 + ms(5000)), None, "at max_auto_priority");
        // Already SCHED_RR 10 (lvsd's default): 11, and nothing when the max is lower.
        let a = AutoPriority::new(20, None, Some(10)).unwrap();
        assert_eq!(a.late(t0, t0 + ms(999)), None, "default delay is 1 s");
        assert_eq!(a.late(t0, t0 + ms(1000)), Some(11));
        let a = AutoPriority::new(5, None, Some(10)).unwrap();
        assert_eq!(a.late(t0, t0 + ms(3000)), None);
        // A timer that ran early (clock read before the due time) is not late.
        let a = AutoPriority::new(99, Some(ms(1)), Some(10)).unwrap();
        assert_eq!(a.late(t0 + ms(10), t0), None);
    }
}
