//! Pure health bookkeeping: no clock, no I/O. The scheduler feeds outcomes and `now` in and
//! sleeps until the deadline that comes back.
//!
//! Per check (keepalived semantics):
//! - it starts up, or down with `alpha`;
//! - a pass brings it up at once and schedules the next run after `delay_loop`;
//! - while up, a failure is retried `retry` times, `delay_before_retry` apart; the failure after
//!   the last retry takes it down;
//! - while down, failures are not retried: the next run is after `delay_loop`.
//!
//! `delay_loop` counts from the start of the previous run (keepalived counts from its end), so
//! healthy-check latency never stretches the detection bound of [`Timing::detection_bound`].
//!
//! Per real server: up only when every check is up; a server without checks is up.

use std::time::{Duration, Instant};

use crate::outcome::{FailReason, Outcome};
use crate::spec::Timing;

/// A check's view of its own health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    up: bool,
    /// Consecutive failures while up (attempts used of `retry + 1`).
    failures: u32,
    /// Why it is down (`None` while up, or down from `alpha` before any run).
    reason: Option<FailReason>,
    /// Dynamic weight from the last pass.
    weight: Option<i64>,
}

/// What one outcome did to a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Health or dynamic weight changed: the servers using this check must be re-evaluated.
    pub changed: bool,
    /// When the check runs next.
    pub next: Instant,
}

impl CheckState {
    /// Fresh state: up, unless `alpha`.
    pub fn new(timing: &Timing) -> Self {
        CheckState {
            up: !timing.alpha,
            failures: 0,
            reason: None,
            weight: None,
        }
    }

    /// Fresh state that waits for a first success, whatever `alpha` says.
    pub fn down() -> Self {
        CheckState {
            up: false,
            failures: 0,
            reason: None,
            weight: None,
        }
    }

    /// Whether the check counts as up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Why the check is down.
    pub fn reason(&self) -> Option<&FailReason> {
        self.reason.as_ref()
    }

    /// Dynamic weight reported by the last pass.
    pub fn weight(&self) -> Option<i64> {
        self.weight
    }

    /// When the first run happens: `jitter` (in `[0, 1)`) spreads it over the warmup window.
    pub fn first_run(now: Instant, timing: &Timing, jitter: f64) -> Instant {
        now + timing.warmup_window().mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Applies the outcome of a run that started at `started` and ended at `now`.
    ///
    /// `delay_loop` counts from the start of a run, so a check's cadence does not stretch with
    /// its latency and a failure is seen within
    /// `delay_loop + connect_timeout × (retry + 1) + delay_before_retry × retry`;
    /// `delay_before_retry` counts from the end of the failed attempt.
    pub fn on_outcome(
        &mut self,
        started: Instant,
        now: Instant,
        outcome: &Outcome,
        timing: &Timing,
    ) -> Step {
        let next_loop = (started + timing.delay_loop).max(now);
        match outcome {
            Outcome::Pass { weight } => {
                // A pass without a weight leaves the dynamic weight as it was (misc_dynamic:
                // "exit status 0: weight unchanged").
                let weight = weight.or(self.weight);
                let changed = !self.up || self.weight != weight;
                self.up = true;
                self.failures = 0;
                self.reason = None;
                self.weight = weight;
                Step {
                    changed,
                    next: next_loop,
                }
            }
            Outcome::Fail(reason) if self.up => {
                self.failures += 1;
                if self.failures > timing.retry {
                    self.up = false;
                    self.failures = 0;
                    self.reason = Some(reason.clone());
                    Step {
                        changed: true,
                        next: next_loop,
                    }
                } else {
                    Step {
                        changed: false,
                        next: now + timing.delay_before_retry,
                    }
                }
            }
            Outcome::Fail(reason) => {
                self.reason = Some(reason.clone());
                Step {
                    changed: false,
                    next: next_loop,
                }
            }
        }
    }
}

/// A real server's health as reported to the director.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// All checks up.
    pub up: bool,
    /// Sum of the dynamic weights reported by `misc_dynamic` / `dynamic` checks, if any.
    pub weight: Option<i64>,
    /// For a down server: which check failed and why.
    pub reason: String,
}

/// Combines the states of a server's checks, given with a label each (`HTTP_GET 10.0.0.1:80`).
pub fn combine<'a>(checks: impl IntoIterator<Item = (&'a str, &'a CheckState)>) -> Health {
    let mut up = true;
    let mut weight: Option<i64> = None;
    let mut reasons = Vec::new();
    let mut n = 0;
    for (label, st) in checks {
        n += 1;
        if !st.up {
            up = false;
            match &st.reason {
                Some(r) => reasons.push(format!("{label}: {r}")),
                None => reasons.push(format!("{label}: waiting for a first success")),
            }
        }
        if let Some(w) = st.weight {
            weight = Some(weight.unwrap_or(0).saturating_add(w));
        }
    }
    let reason = if up {
        match n {
            0 => "no checks configured".to_string(),
            1 => "check passes".to_string(),
            n => format!("all {n} checks pass"),
        }
    } else {
        reasons.join("; ")
    };
    Health { up, weight, reason }
}

/// Largest gap between a server failing and being reported down, for tests and operators.
pub fn detection_bound(timing: &Timing) -> Duration {
    timing.detection_bound()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(retry: u32) -> Timing {
        Timing {
            delay_loop: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            retry,
            delay_before_retry: Duration::from_secs(3),
            warmup: Some(Duration::from_secs(4)),
            alpha: false,
        }
    }

    fn fail() -> Outcome {
        Outcome::Fail(FailReason::ConnectRefused)
    }

    /// Scenario: up server, two retries; rows are (at seconds, outcome) → (changed, up, next at).
    #[test]
    fn retries_before_down_then_recovers_on_first_pass() {
        let t = timing(2);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut st = CheckState::new(&t);
        assert!(st.is_up());
        assert_eq!(CheckState::first_run(t0, &t, 0.5), at(2));
        let rows: &[(u64, Outcome, bool, bool, u64)] = &[
            (2, Outcome::PASS, false, true, 12),
            (12, fail(), false, true, 15),
            (15, fail(), false, true, 18),
            (18, fail(), true, false, 28),
            (28, fail(), false, false, 38),
            (38, Outcome::PASS, true, true, 48),
            (48, fail(), false, true, 51),
            (51, Outcome::PASS, false, true, 61),
            (61, fail(), false, true, 64),
            (64, fail(), false, true, 67),
        ];
        for (i, (s, o, changed, up, next)) in rows.iter().enumerate() {
            let step = st.on_outcome(at(*s), at(*s), o, &t);
            assert_eq!(
                (step.changed, st.is_up(), step.next),
                (*changed, *up, at(*next)),
                "row {i}"
            );
        }
        // The retry budget restarted after the pass at 51: the third failure takes it down.
        assert!(st.on_outcome(at(67), at(67), &fail(), &t).changed);
        assert_eq!(st.reason(), Some(&FailReason::ConnectRefused));
    }

    #[test]
    fn delay_loop_counts_from_the_start_of_a_run() {
        let t = timing(1);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut st = CheckState::new(&t);
        // A pass that took 1.5 s: the next run is 10 s after its start.
        assert_eq!(
            st.on_outcome(at(0), at(1500), &Outcome::PASS, &t).next,
            at(10_000)
        );
        // A failed attempt that took 2 s: the retry waits delay_before_retry after its end.
        assert_eq!(
            st.on_outcome(at(10_000), at(12_000), &fail(), &t).next,
            at(15_000)
        );
        // A run longer than delay_loop is followed at once.
        assert_eq!(
            st.on_outcome(at(15_000), at(27_000), &Outcome::PASS, &t)
                .next,
            at(27_000)
        );
    }

    #[test]
    fn alpha_starts_down_and_first_pass_brings_up() {
        let t = Timing {
            alpha: true,
            ..timing(1)
        };
        let t0 = Instant::now();
        let mut st = CheckState::new(&t);
        assert!(!st.is_up());
        let h = combine([("TCP_CHECK 10.0.0.1:80", &st)]);
        assert!(!h.up);
        assert_eq!(
            h.reason,
            "TCP_CHECK 10.0.0.1:80: waiting for a first success"
        );
        // Failures while down are not retried.
        assert_eq!(
            st.on_outcome(t0, t0, &fail(), &t).next,
            t0 + Duration::from_secs(10)
        );
        assert!(st.on_outcome(t0, t0, &Outcome::PASS, &t).changed);
        assert!(st.is_up());
    }

    #[test]
    fn zero_retry_goes_down_on_first_failure() {
        let t = timing(0);
        let mut st = CheckState::new(&t);
        let now = Instant::now();
        let step = st.on_outcome(now, now, &fail(), &t);
        assert!(step.changed && !st.is_up());
        assert_eq!(step.next, now + t.delay_loop);
    }

    #[test]
    fn dynamic_weight_change_is_a_change_and_sums_per_server() {
        let t = timing(0);
        let now = Instant::now();
        let (mut a, mut b) = (CheckState::new(&t), CheckState::new(&t));
        assert!(
            a.on_outcome(now, now, &Outcome::Pass { weight: Some(8) }, &t)
                .changed
        );
        assert!(
            !a.on_outcome(now, now, &Outcome::Pass { weight: Some(8) }, &t)
                .changed
        );
        // Exit 0 keeps the weight.
        assert!(!a.on_outcome(now, now, &Outcome::PASS, &t).changed);
        assert_eq!(a.weight(), Some(8));
        assert!(
            b.on_outcome(now, now, &Outcome::Pass { weight: Some(3) }, &t)
                .changed
        );
        let h = combine([("MISC_CHECK a", &a), ("MISC_CHECK b", &b)]);
        assert_eq!((h.up, h.weight), (true, Some(11)));
        assert_eq!(h.reason, "all 2 checks pass");
    }

    #[test]
    fn server_down_names_the_failing_check() {
        let t = timing(0);
        let now = Instant::now();
        let ok = CheckState::new(&t);
        let mut bad = CheckState::new(&t);
        bad.on_outcome(
            now,
            now,
            &Outcome::Fail(FailReason::ConnectTimeout(Duration::from_secs(3))),
            &t,
        );
        let h = combine([
            ("TCP_CHECK 10.0.0.1:80", &ok),
            ("HTTP_GET 10.0.0.1:80", &bad),
        ]);
        assert!(!h.up);
        assert_eq!(h.reason, "HTTP_GET 10.0.0.1:80: connect timeout after 3 s");
        assert!(combine([]).up);
    }

    #[test]
    fn detection_bound_formula() {
        assert_eq!(
            detection_bound(&timing(2)),
            Duration::from_secs(10 + 2 * 3 + 3 * 2)
        );
    }
}
