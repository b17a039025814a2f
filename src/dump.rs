//! keepalived-compatible state dumps, for the tools that signal keepalived and read its files:
//! SIGUSR1 writes `/tmp/keepalived.data`, SIGUSR2 `/tmp/keepalived.stats`, and the JSON signal
//! (`lvsd --signum=JSON`, SIGRTMIN+2 as in keepalived) `/tmp/keepalived.json`.
//!
//! The layouts follow what keepalived 2.2.7 writes (checked against dumps of a running keepalived
//! 2.2.7; see tests/dump.rs): the same section titles, `key = value` lines and indentation in the
//! data file, the same counter sections in the stats file, and the same `[{"data":{..},
//! "stats":{..}}]` shape and key names in JSON. Only what lvsd knows is written: fields keepalived
//! has and lvsd does not model are left out rather than invented. The render functions are pure;
//! [`write_dump`] and [`spawn_signal_handlers`] are the I/O edge.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::status::{Status, VrrpInstanceStatus, VrrpState};

/// Where keepalived writes its dumps; the daemon passes this to [`spawn_signal_handlers`].
pub const DUMP_DIR: &str = "/tmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    Data,
    Stats,
    Json,
}

impl DumpKind {
    /// keepalived's file name for this dump.
    pub fn file_name(self) -> &'static str {
        match self {
            DumpKind::Data => "keepalived.data",
            DumpKind::Stats => "keepalived.stats",
            DumpKind::Json => "keepalived.json",
        }
    }

    pub fn render(self, status: &Status) -> String {
        match self {
            DumpKind::Data => render_data(status),
            DumpKind::Stats => render_stats(status),
            DumpKind::Json => render_json(status),
        }
    }
}

/// The signal keepalived uses for the JSON dump: SIGRTMIN+2 (36 with glibc).
pub fn sigjson() -> i32 {
    libc::SIGRTMIN() + 2
}

/// The signal keepalived uses for STATS_CLEAR: SIGRTMAX-1 (63 with glibc).
pub fn sigstats_clear() -> i32 {
    libc::SIGRTMAX() - 1
}

/// `--signum=NAME`: the signal number keepalived would print for that function, so scripts doing
/// `kill -s $(lvsd --signum=JSON) $(pidof lvsd)` keep working. Names are case-sensitive, as in
/// keepalived. `TDATA` is not offered (keepalived 2.2.7 as Debian builds it has none either).
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "JSON" => sigjson(),
        "STATS_CLEAR" => sigstats_clear(),
        "RELOAD" => libc::SIGHUP,
        "STOP" => libc::SIGTERM,
        _ => return None,
    })
}

/// Prints the answer to `--signum=NAME` like keepalived: the number on stdout, or
/// `Unknown sigfunc NAME` on stderr with exit status 1.
pub fn print_signum(name: &str) -> ExitCode {
    match signum(name) {
        Some(n) => {
            println!("{n}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("Unknown sigfunc {name}");
            ExitCode::FAILURE
        }
    }
}

fn state_name(s: VrrpState) -> &'static str {
    match s {
        VrrpState::Init => "INIT",
        VrrpState::Backup => "BACKUP",
        VrrpState::Master => "MASTER",
        VrrpState::Fault => "FAULT",
    }
}

/// keepalived's "seconds.micros (ctime with micros)" timestamp, in UTC.
fn timestamp(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let micros = (unix_ms % 1000) * 1000;
    format!("{secs}.{micros:06} ({})", ctime_utc(secs, micros))
}

/// `Tue Nov 24 13:46:01.215565 2026` (UTC).
fn ctime_utc(secs: u64, micros: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02}.{micros:06} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

/// A VIP as keepalived lists it: `10.0.0.1/24 dev eth0 scope global`, plus ` set` while installed.
fn vip_line(v: &VrrpInstanceStatus, vip: &str) -> String {
    let set = if v.state == VrrpState::Master {
        " set"
    } else {
        ""
    };
    format!("{vip} dev {} scope global{set}", v.interface)
}

/// `/tmp/keepalived.data`.
pub fn render_data(status: &Status) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_data(&mut o, status);
    o
}

fn write_data(o: &mut String, status: &Status) -> std::fmt::Result {
    writeln!(o, "------< Global definitions >------")?;
    writeln!(o, " Configuration file = {}", status.reload.config_file)?;
    writeln!(o, "------< VRRP Topology >------")?;
    for v in &status.vrrp {
        writeln!(o, " VRRP Instance = {}", v.name)?;
        writeln!(o, "   VRRP Version = {}", v.version)?;
        if v.family == "inet6" {
            writeln!(o, "   Using Native IPv6")?;
        }
        writeln!(o, "   State = {}", state_name(v.state))?;
        writeln!(o, "   Wantstate = {}", state_name(v.state))?;
        writeln!(o, "   Last transition = {}", timestamp(v.since_unix_ms))?;
        writeln!(o, "   Interface = {}", v.interface)?;
        if let Some(m) = v.master_addr {
            writeln!(o, "   Master router = {m}")?;
        }
        writeln!(o, "   Virtual Router ID = {}", v.vrid)?;
        writeln!(o, "   Priority = {}", v.base_priority)?;
        writeln!(o, "   Effective priority = {}", v.effective_priority)?;
        writeln!(o, "   Virtual IP ({}):", v.vips.len())?;
        for vip in &v.vips {
            writeln!(o, "     {}", vip_line(v, vip))?;
        }
    }
    writeln!(o, "------< VRRP Scripts >------")?;
    for s in &status.vrrp_scripts {
        writeln!(o, " VRRP Script = {}", s.name)?;
        writeln!(o, "   Status = {}", if s.ok { "GOOD" } else { "BAD" })?;
    }
    writeln!(o, "------< LVS Topology >------")?;
    for vs in &status.virtual_servers {
        writeln!(o, " Virtual Server = {}", vs.key)?;
        writeln!(o, "   Scheduler = {}", vs.scheduler)?;
        writeln!(o, "   Quorum = {}", vs.quorum)?;
        writeln!(
            o,
            "   Quorum state = {}",
            if vs.quorum_up { "UP" } else { "DOWN" }
        )?;
        writeln!(o, "   Live weight = {}", vs.live_weight)?;
        if vs.sorry_server_active {
            writeln!(o, "   Sorry server in use = yes")?;
        }
        for rs in &vs.real_servers {
            let addr = std::net::SocketAddr::new(rs.address, rs.port);
            writeln!(o, "   Real Server = {addr}")?;
            writeln!(o, "     Weight = {}", rs.weight)?;
            writeln!(o, "     Alive = {}", if rs.up { "yes" } else { "no" })?;
            if let Some(f) = &rs.last_failure {
                writeln!(o, "     Last failure = {f}")?;
            }
        }
    }
    Ok(())
}

/// `/tmp/keepalived.stats`.
pub fn render_stats(status: &Status) -> String {
    let mut o = String::new();
    for v in &status.vrrp {
        let c = &v.counters;
        let _ = write!(
            o,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  \
             Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    \
             TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}\n  \
             Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}\n  \
             Priority Zero:\n    Received: {}\n    Sent: {}\n",
            v.name,
            c.advert_rcvd,
            c.advert_sent,
            c.become_master,
            c.release_master,
            c.packet_len_err,
            c.ip_ttl_err,
            c.invalid_type_rcvd,
            c.advert_interval_err,
            c.addr_list_err,
            c.invalid_authtype,
            c.authtype_mismatch,
            c.auth_failure,
            c.pri_zero_rcvd,
            c.pri_zero_sent,
        );
    }
    o
}

/// `/tmp/keepalived.json`.
pub fn render_json(status: &Status) -> String {
    let items: Vec<Value> = status
        .vrrp
        .iter()
        .map(|v| {
            let c = &v.counters;
            let state = v.state.as_gauge();
            json!({
                "data": {
                    "iname": v.name,
                    "vmac_ifname": "",
                    "ifp_ifname": v.interface,
                    "last_transition": v.since_unix_ms as f64 / 1000.0,
                    "vrid": v.vrid,
                    "base_priority": v.base_priority,
                    "effective_priority": v.effective_priority,
                    "vipset": v.state == VrrpState::Master,
                    "state": state,
                    "wantstate": state,
                    "version": v.version,
                    "vips": v.vips.iter().map(|vip| vip_line(v, vip)).collect::<Vec<_>>(),
                },
                "stats": {
                    "advert_rcvd": c.advert_rcvd,
                    "advert_sent": c.advert_sent,
                    "become_master": c.become_master,
                    "release_master": c.release_master,
                    "packet_len_err": c.packet_len_err,
                    "advert_interval_err": c.advert_interval_err,
                    "ip_ttl_err": c.ip_ttl_err,
                    "invalid_type_rcvd": c.invalid_type_rcvd,
                    "addr_list_err": c.addr_list_err,
                    "invalid_authtype": c.invalid_authtype,
                    "authtype_mismatch": c.authtype_mismatch,
                    "auth_failure": c.auth_failure,
                    "pri_zero_rcvd": c.pri_zero_rcvd,
                    "pri_zero_sent": c.pri_zero_sent,
                }
            })
        })
        .collect();
    Value::Array(items).to_string()
}

/// Writes a dump to `path` without following a planted symlink or leaving a half-written file:
/// the text goes to a fresh temporary file (O_EXCL) in the same directory, which then replaces
/// `path` (rename replaces a symlink itself, never its target). /tmp is world-writable and lvsd
/// runs as root, so this matters. Mode 0600 as keepalived's default umask gives.
pub fn write_dump(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dump".into());
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renders and writes one dump of the current state, logging the outcome.
pub fn dump_now(kind: DumpKind, status: &Status, path: &Path) {
    match write_dump(path, &kind.render(status)) {
        Ok(()) => tracing::info!(path = %path.display(), "state dump written"),
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "state dump failed"),
    }
}

/// Installs the SIGUSR1 / SIGUSR2 / SIGRTMIN+2 handlers and spawns the task that answers them
/// with dumps in `dir` ([`DUMP_DIR`] for keepalived's paths), reading the latest snapshot from
/// `hub` each time. Call once at startup inside the runtime; fails only if the handlers cannot be
/// installed.
pub fn spawn_signal_handlers(
    hub: crate::status::StatusHub,
    dir: PathBuf,
) -> std::io::Result<JoinHandle<()>> {
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut json = signal(SignalKind::from_raw(sigjson()))?;
    let mut clear = signal(SignalKind::from_raw(sigstats_clear()))?;
    Ok(tokio::spawn(async move {
        loop {
            let (kind, then_clear) = tokio::select! {
                Some(()) = usr1.recv() => (DumpKind::Data, false),
                Some(()) = usr2.recv() => (DumpKind::Stats, false),
                Some(()) = json.recv() => (DumpKind::Json, false),
                // keepalived's STATS_CLEAR: the stats file, then the counters start over.
                Some(()) = clear.recv() => (DumpKind::Stats, true),
                else => return,
            };
            let status = hub.snapshot();
            let path = dir.join(kind.file_name());
            // Small file writes; off the async workers anyway, /tmp may be slow storage.
            let _ = tokio::task::spawn_blocking(move || {
                dump_now(kind, &status, &path);
            })
            .await;
            if then_clear {
                hub.stats_clear.send_modify(|n| *n += 1);
                tracing::info!("statistics cleared");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_keepalived_layout() {
        // keepalived 2.2.7 printed "1795527961.215565 (Tue Nov 24 13:46:01.215565 2026)" (TZ=UTC).
        assert_eq!(
            timestamp(1_795_527_961_215),
            "1795527961.215000 (Tue Nov 24 13:46:01.215000 2026)"
        );
        assert_eq!(ctime_utc(0, 0), "Thu Jan  1 00:00:00.000000 1970");
        assert_eq!(ctime_utc(951_782_400, 0), "Tue Feb 29 00:00:00.000000 2000");
    }

    #[test]
    fn signum_matches_keepalived() {
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("JSON"), Some(36), "glibc SIGRTMIN is 34");
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("json"), None);
        assert_eq!(signum("TDATA"), None);
        assert_eq!(
            signum("STATS_CLEAR"),
            Some(63),
            "SIGRTMAX-1, as keepalived prints"
        );
    }

    #[test]
    fn write_dump_replaces_a_planted_symlink_instead_of_following_it() {
        let dir = std::env::temp_dir().join(format!("lvsd-dump-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("keepalived.data");
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_dump(&path, "dump\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "dump\n");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
