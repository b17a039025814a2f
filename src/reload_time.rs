//! `reload_time_file PATH` (keepalived.conf(5)): a reload scheduled by a file. Its first line
//! is exactly `HH:MM:SS`, `YY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS`, with an optional `Z`
//! (UTC; otherwise local time). A time without a date is its next occurrence. The file is read
//! at start-up and whenever it changes (lvsd looks once a second; keepalived uses inotify):
//! a new time reschedules, a removed file cancels. When the time comes lvsd reloads (as on
//! SIGHUP) and removes the file, unless `reload_repeat`. A time in the past is ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::daemon::Control;

/// When the file's line says to reload, in Unix seconds; None when the line is not one of
/// the formats. `now` (Unix seconds) places a time without a date.
pub fn parse(line: &str, now: i64) -> Option<i64> {
    let (body, utc) = match line.strip_suffix('Z') {
        Some(b) => (b, true),
        None => (line, false),
    };
    let (date, time) = match body.split_once(' ') {
        Some((d, t)) => (Some(d), t),
        None => (None, body),
    };
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let num = |w: &str, len: usize| -> Option<i32> {
        (w.len() == len && w.bytes().all(|b| b.is_ascii_digit()))
            .then(|| w.parse().ok())
            .flatten()
    };
    let (h, m, s) = (num(h, 2)?, num(m, 2)?, num(s, 2)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let ymd = match date {
        Some(d) => {
            let parts: Vec<&str> = d.split('-').collect();
            let [y, mo, da] = parts.as_slice() else {
                return None;
            };
            let y = match y.len() {
                2 => 2000 + num(y, 2)?,
                4 => num(y, 4)?,
                _ => return None,
            };
            Some((y, num(mo, 2)?, num(da, 2)?))
        }
        None => None,
    };
    let at = |(y, mo, d): (i32, i32, i32)| to_unix(y, mo, d, h, m, s, utc);
    match ymd {
        Some(ymd) => at(ymd),
        None => {
            // Today at that time, else tomorrow.
            let (y, mo, d) = date_of(now, utc)?;
            let today = at((y, mo, d))?;
            if today > now {
                Some(today)
            } else {
                let (y, mo, d) = date_of(now + 86_400, utc)?;
                at((y, mo, d))
            }
        }
    }
}

fn tm(y: i32, mo: i32, d: i32, h: i32, m: i32, s: i32) -> libc::tm {
    // SAFETY: libc::tm is plain data; all-zero is a valid value.
    let mut t: libc::tm = unsafe { std::mem::zeroed() };
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = m;
    t.tm_sec = s;
    t.tm_isdst = -1;
    t
}

fn to_unix(y: i32, mo: i32, d: i32, h: i32, m: i32, s: i32, utc: bool) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut t = tm(y, mo, d, h, m, s);
    // SAFETY: a valid tm; timegm/mktime only read and normalise it.
    let v = unsafe {
        if utc {
            libc::timegm(&mut t)
        } else {
            libc::mktime(&mut t)
        }
    };
    (v != -1).then_some(v)
}

fn date_of(unix: i64, utc: bool) -> Option<(i32, i32, i32)> {
    // SAFETY: plain data out-parameter.
    let mut t: libc::tm = unsafe { std::mem::zeroed() };
    let v: libc::time_t = unix;
    // SAFETY: valid pointers to a time_t and a tm.
    let r = unsafe {
        if utc {
            libc::gmtime_r(&v, &mut t)
        } else {
            libc::localtime_r(&v, &mut t)
        }
    };
    (!r.is_null()).then_some((t.tm_year + 1900, t.tm_mon + 1, t.tm_mday))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Watches `path` and sends a reload when its time comes (see the module doc).
pub fn spawn(path: PathBuf, repeat: bool, control: mpsc::Sender<Control>) {
    tokio::spawn(async move {
        let mut seen: Option<String> = None;
        let mut due: Option<i64> = None;
        loop {
            let text = std::fs::read_to_string(&path).ok();
            if text != seen {
                due = text.as_deref().and_then(|t| schedule(&path, t));
                seen = text;
            }
            if let Some(at) = due
                && now() >= at
            {
                due = None;
                tracing::info!(file = %path.display(), "reload_time_file: scheduled reload");
                if !repeat {
                    let _ = std::fs::remove_file(&path);
                    seen = None;
                } else {
                    // A time without a date comes again tomorrow.
                    seen = None;
                }
                if control.send(Control::Reload).await.is_err() {
                    return;
                }
                // Past this second, so a repeated daily time is not taken twice.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
    });
}

fn schedule(path: &Path, text: &str) -> Option<i64> {
    let line = text.lines().next().unwrap_or("");
    match parse(line, now()) {
        Some(at) if at > now() => {
            tracing::info!(file = %path.display(), "reload_time_file: reload scheduled in {} s", at - now());
            Some(at)
        }
        Some(_) => {
            tracing::info!(file = %path.display(), "reload_time_file: {line:?} is in the past; ignored");
            None
        }
        None => {
            tracing::warn!(
                file = %path.display(),
                "reload_time_file: {line:?} is not HH:MM:SS, YY-MM-DD HH:MM:SS or YYYY-MM-DD HH:MM:SS [Z]; ignored"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn formats() {
        // 2026-12-01 12:00:00 UTC
        let now = 1_796_126_400;
        assert_eq!(parse("2026-12-01 12:00:10Z", now), Some(now + 10));
        assert_eq!(parse("26-12-01 12:00:10Z", now), Some(now + 10));
        assert_eq!(parse("12:00:10Z", now), Some(now + 10));
        // Already past today: tomorrow.
        assert_eq!(parse("11:00:00Z", now), Some(now + 23 * 3600));
        for bad in [
            "12:00Z",
            " 12:00:10Z",
            "12:00:10 Z",
            "2026-12-01  12:00:10",
            "25:00:00",
            "x",
        ] {
            assert_eq!(parse(bad, now), None, "{bad}");
        }
    }
}
