//! Running under systemd: the `sd_notify` protocol (READY / RELOADING / STOPPING / WATCHDOG /
//! STATUS datagrams to `$NOTIFY_SOCKET`, see sd_notify(3)) and logging to stderr, which systemd
//! hands to the journal. Outside systemd (no `$NOTIFY_SOCKET`) every notification is a no-op.
//!
//! The protocol is a few `KEY=VALUE` lines in one unix datagram, so it is written here directly
//! rather than linking libsystemd.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::cli::LogFormat;

/// Where notifications go.
#[derive(Debug, Clone)]
enum Target {
    Path(PathBuf),
    /// Linux abstract namespace (`$NOTIFY_SOCKET` starting with `@`).
    Abstract(Vec<u8>),
}

/// Sends service-state notifications to systemd. Cheap to clone; all methods are fire-and-forget
/// (a failed notification is logged at debug level: systemd's timeouts are the backstop).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    target: Option<Target>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a disabled notifier when unset or empty. The unit file sets
    /// `NotifyAccess=main`, so children (notify scripts) inheriting the variable cannot speak for
    /// lvsd.
    pub fn from_env() -> Self {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(s) if !s.is_empty() => Self::new(s.into()),
            _ => Self::default(),
        }
    }

    /// To an explicit socket path (`@name` for the abstract namespace).
    pub fn new(socket: PathBuf) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let bytes = socket.as_os_str().as_bytes();
        let target = match bytes.strip_prefix(b"@") {
            Some(name) => Target::Abstract(name.to_vec()),
            None => Target::Path(socket),
        };
        Self {
            target: Some(target),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends raw `KEY=VALUE\n` lines.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        match target {
            Target::Path(p) => sock.send_to(state.as_bytes(), p)?,
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        Ok(())
    }

    fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::debug!(error = %e, state, "sd_notify failed");
        }
    }

    /// Startup finished: configuration loaded, sockets open, first reconcile done.
    pub fn ready(&self) {
        self.send("READY=1\n");
    }

    /// A reload starts; follow with [`Notifier::ready`] when it is done (whatever the outcome).
    /// `MONOTONIC_USEC` lets `Type=notify-reload` units match the reload (systemd ≥ 253).
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\n",
            monotonic_usec()
        ));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\n");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// Free-form one-line status shown by `systemctl status`.
    pub fn status(&self, text: &str) {
        let line = text.replace('\n', " ");
        self.send(&format!("STATUS={line}\n"));
    }

    /// Pings the watchdog at half the interval systemd asked for (`WatchdogSec=` →
    /// `$WATCHDOG_USEC`), from a task on the runtime: if the runtime stops scheduling tasks,
    /// systemd restarts the service. None when no watchdog is configured for this process.
    pub fn spawn_watchdog(&self) -> Option<JoinHandle<()>> {
        let interval = watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )?;
        if !self.is_enabled() {
            return None;
        }
        Some(self.spawn_watchdog_every(interval / 2))
    }

    /// Pings the watchdog every `period` (first ping immediately).
    pub fn spawn_watchdog_every(&self, period: Duration) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.watchdog();
            }
        })
    }
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// The watchdog interval from `$WATCHDOG_USEC`, if it is meant for `pid` (`$WATCHDOG_PID` unset
/// or equal, as sd_watchdog_enabled(3) specifies).
pub fn watchdog_interval(usec: Option<&str>, for_pid: Option<&str>, pid: u32) -> Option<Duration> {
    if let Some(p) = for_pid
        && p.trim().parse::<u32>().ok()? != pid
    {
        return None;
    }
    let us: u64 = usec?.trim().parse().ok()?;
    (us > 0).then(|| Duration::from_micros(us))
}

/// Installs the global tracing subscriber: stderr, `format`, and `level` as an env-filter
/// directive (`info`, `lvsd=debug,info`...); `RUST_LOG`, when set, wins. Colors only on a
/// terminal (never into the journal). Call once, early in main.
pub fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(&env)
            .map_err(|e| anyhow::anyhow!("invalid RUST_LOG {env:?}: {e}"))?,
        _ => EnvFilter::try_new(level)
            .map_err(|e| anyhow::anyhow!("invalid log level {level:?}: {e}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_follows_sd_watchdog_enabled() {
        let s = Some("30000000");
        assert_eq!(watchdog_interval(s, None, 7), Some(Duration::from_secs(30)));
        assert_eq!(
            watchdog_interval(s, Some("7"), 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval(s, Some("8"), 7),
            None,
            "meant for another pid"
        );
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("lvsd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(path.clone());
        let mut buf = [0u8; 256];
        let mut recv = || {
            let len = server.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..len]).into_owned()
        };
        n.ready();
        assert_eq!(recv(), "READY=1\n");
        n.reloading();
        let msg = recv();
        assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg}");
        let usec: u64 = msg.trim_end().rsplit('=').next().unwrap().parse().unwrap();
        assert!(usec > 0);
        n.status("2 VRRP instances\nMASTER");
        assert_eq!(recv(), "STATUS=2 VRRP instances MASTER\n");
        n.watchdog();
        assert_eq!(recv(), "WATCHDOG=1\n");
        n.stopping();
        assert_eq!(recv(), "STOPPING=1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_pings_every_period() {
        let name = format!("lvsd-test-watchdog-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server.set_nonblocking(true).unwrap();
        let task =
            Notifier::new(format!("@{name}").into()).spawn_watchdog_every(Duration::from_secs(15));
        let count = || {
            let mut n = 0;
            let mut buf = [0u8; 64];
            while let Ok(len) = server.recv(&mut buf) {
                assert_eq!(&buf[..len], b"WATCHDOG=1\n");
                n += 1;
            }
            n
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(count(), 1, "first ping at once");
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(count(), 2, "then every 15 s");
        task.abort();
    }

    #[test]
    fn abstract_socket_names_are_supported() {
        let name = format!("lvsd-test-notify-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Notifier::new(format!("@{name}").into()).ready();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\n");
    }

    #[test]
    fn without_notify_socket_nothing_is_sent() {
        let n = Notifier::default();
        assert!(!n.is_enabled());
        assert!(n.notify("READY=1\n").is_ok());
    }
}
