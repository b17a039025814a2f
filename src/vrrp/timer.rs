//! The dedicated timer path: a `timerfd` armed with an absolute CLOCK_MONOTONIC deadline and
//! awaited through tokio's reactor. tokio's own timer wheel rounds every sleep up to the next
//! millisecond and then to the reactor's millisecond epoll timeout, which costs 1-2 ms per
//! deadline; at `advert_int 0.01` that is a fifth of the skew. A timerfd is an hrtimer: it
//! wakes the VRRP thread within microseconds of the deadline.
//!
//! Cancel-safe: dropping a pending `sleep_until` leaves the timer armed, and the next call
//! re-arms it (which resets the kernel's expiry count); a stale readiness reads EAGAIN and is
//! waited out.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;

pub struct HrTimer {
    fd: AsyncFd<OwnedFd>,
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

impl HrTimer {
    /// Needs a tokio runtime with I/O enabled.
    pub fn new() -> io::Result<HrTimer> {
        // SAFETY: plain syscall; the fd is owned right away.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the AsyncFd owns the fd until it is dropped.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(HrTimer { fd })
    }

    fn arm(&self, deadline: Instant) -> io::Result<()> {
        // std's Instant is CLOCK_MONOTONIC on Linux; translate through "now" on both clocks.
        let ahead = deadline.saturating_duration_since(Instant::now());
        let now = monotonic_now();
        let mut nsec: i64 = now.tv_nsec + i64::from(ahead.subsec_nanos());
        let mut sec: i64 = now.tv_sec + ahead.as_secs() as i64;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec += 1;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            // A zero value would disarm; the earliest possible instant fires at once instead.
            it_value: libc::timespec {
                tv_sec: sec as libc::time_t,
                tv_nsec: nsec.max(1) as libc::c_long,
            },
        };
        // SAFETY: valid fd and itimerspec.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Completes at `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        if deadline <= Instant::now() {
            return Ok(());
        }
        self.arm(deadline)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let res = guard.try_io(|fd| {
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match res {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {
                    if deadline <= Instant::now() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_close_to_the_deadline_and_rearms() {
        let t = HrTimer::new().expect("timerfd");
        // A cancelled sleep must not make the next one return early.
        let _ = tokio::time::timeout(
            Duration::from_millis(1),
            t.sleep_until(Instant::now() + Duration::from_millis(3)),
        )
        .await;
        for ms in [2u64, 7, 15] {
            // Never early; late by the least of a few tries (a starved test host delays any
            // single wake-up, a coarse timer delays them all).
            let mut least = Duration::MAX;
            for _ in 0..5 {
                let deadline = Instant::now() + Duration::from_millis(ms);
                t.sleep_until(deadline).await.expect("sleep");
                assert!(Instant::now() >= deadline, "woke early for {ms} ms");
                least = least.min(Instant::now().saturating_duration_since(deadline));
            }
            // Generous: tokio's wheel alone adds up to 1-2 ms.
            assert!(
                least < Duration::from_millis(20),
                "woke at least {least:?} late for {ms} ms"
            );
        }
        // A deadline in the past returns at once.
        t.sleep_until(Instant::now() - Duration::from_millis(1))
            .await
            .expect("past");
    }
}
