//! Rate limits for warnings the network can trigger (invalid adverts, lower-priority masters,
//! address-list mismatches): a flood of packets must not become a flood of log lines. Pure,
//! with the time passed in; counters elsewhere still count every packet.
//!
//! Per kind, at most [`BURST`] warnings per [`WINDOW`]; the first warning after a quiet
//! spell says how many were suppressed, so the log still tells the size of the flood.

use std::time::{Duration, Instant};

/// Length of one rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Warnings of one kind logged per window.
pub const BURST: u32 = 3;

/// What triggered the warning; each kind has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An advert dropped by validation (bad checksum, TTL, auth, interval, version…).
    Invalid,
    /// A master of lower priority heard while we are master.
    LowerPriority,
    /// An accepted advert whose address list differs from ours.
    AddrList,
}

const KINDS: usize = 3;

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Invalid => 0,
            Kind::LowerPriority => 1,
            Kind::AddrList => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// The budgets of one instance.
#[derive(Debug, Clone, Default)]
pub struct LogLimits {
    windows: [Window; KINDS],
}

/// The decision for one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Log it; `suppressed` warnings of this kind were dropped since the last one logged.
    Log { suppressed: u64 },
    /// Drop it (counted, reported with the next one logged).
    Suppress,
}

impl LogLimits {
    /// Whether a warning of `kind` at `now` may be logged.
    pub fn check(&mut self, kind: Kind, now: Instant) -> Decision {
        let w = &mut self.windows[kind.index()];
        let expired = w
            .start
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW);
        if expired {
            w.start = Some(now);
            w.logged = 0;
        }
        if w.logged < BURST {
            w.logged += 1;
            let suppressed = std::mem::take(&mut w.suppressed);
            Decision::Log { suppressed }
        } else {
            w.suppressed += 1;
            Decision::Suppress
        }
    }
}

/// " (N similar warnings suppressed)" or nothing, for the message of a logged warning.
pub fn suppressed_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            " ({n} similar warnings suppressed in the last {}s)",
            WINDOW.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_a_burst_per_window_and_reports_the_rest() {
        let t0 = Instant::now();
        let mut l = LogLimits::default();
        let mut logged = 0;
        // 10,000 invalid adverts in one second.
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(i * 100);
            if let Decision::Log { .. } = l.check(Kind::Invalid, now) {
                logged += 1;
            }
        }
        assert_eq!(logged, BURST);
        // Another kind has its own budget.
        assert_eq!(
            l.check(Kind::LowerPriority, t0 + Duration::from_secs(1)),
            Decision::Log { suppressed: 0 }
        );
        // The next window logs again and tells how many were dropped.
        assert_eq!(
            l.check(Kind::Invalid, t0 + WINDOW + Duration::from_secs(1)),
            Decision::Log {
                suppressed: 10_000 - u64::from(BURST)
            }
        );
        assert_eq!(
            l.check(Kind::Invalid, t0 + WINDOW + Duration::from_secs(2)),
            Decision::Log { suppressed: 0 }
        );
    }

    #[test]
    fn occasional_warnings_are_all_logged() {
        let t0 = Instant::now();
        let mut l = LogLimits::default();
        for i in 0..100u64 {
            let now = t0 + Duration::from_secs(i * 4);
            assert_eq!(
                l.check(Kind::AddrList, now),
                Decision::Log { suppressed: 0 },
                "warning {i}"
            );
        }
    }
}
