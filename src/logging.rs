//! Where the daemon's log lines go, as keepalived's flags choose: syslog by default (facility
//! `daemon`, `-S` to change it, `-G` to turn it off), the console (stderr) with `-l`, and a
//! file with `-g FILE`. Under systemd both syslog and stderr reach the journal.
//!
//! syslog goes through the C library's `openlog`/`syslog` (the same `/dev/log` datagrams
//! keepalived sends, reconnecting when the socket comes back); each event is one message with
//! the syslog priority of its level.

use std::ffi::CString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;

/// The daemon's log destinations.
#[derive(Debug, Clone)]
pub struct Targets {
    pub console: bool,
    /// The syslog facility (`libc::LOG_DAEMON`...), None: no syslog.
    pub syslog: Option<i32>,
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    /// An env-filter directive (`info`, `debug`); `RUST_LOG` wins when set.
    pub level: String,
    /// The syslog ident.
    pub ident: String,
}

impl Targets {
    /// From the daemon's command line.
    pub fn of(cli: &crate::cli::Cli) -> Targets {
        Targets {
            console: cli.log_console,
            syslog: (!cli.no_syslog).then_some(cli.log_facility.unwrap_or(libc::LOG_DAEMON)),
            file: cli.log_file.clone(),
            format: cli.log_format,
            level: cli.log_level().into(),
            ident: "lvsd".into(),
        }
    }
}

type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn fmt_layer<W>(writer: W, format: LogFormat, ansi: bool, time: bool) -> Boxed
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let l = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match (format, time) {
        (LogFormat::Json, _) => l.json().with_current_span(false).boxed(),
        (LogFormat::Text, true) => l.boxed(),
        (LogFormat::Text, false) => l.without_time().boxed(),
    }
}

/// Installs the global subscriber. Call once, early.
pub fn init(t: &Targets) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(&env)
            .map_err(|e| anyhow::anyhow!("invalid RUST_LOG {env:?}: {e}"))?,
        _ => EnvFilter::try_new(&t.level)
            .map_err(|e| anyhow::anyhow!("invalid log level {:?}: {e}", t.level))?,
    };
    let mut layers: Vec<Boxed> = Vec::new();
    if t.console {
        layers.push(fmt_layer(
            io::stderr,
            t.format,
            io::stderr().is_terminal(),
            true,
        ));
    }
    if let Some(facility) = t.syslog {
        open_syslog(&t.ident, facility)?;
        // syslog stamps the time itself.
        layers.push(fmt_layer(Syslog, t.format, false, false));
    }
    if let Some(path) = &t.file {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("log file {}: {e}", path.display()))?;
        layers.push(fmt_layer(
            LogFile(Arc::new(Mutex::new(f))),
            t.format,
            false,
            true,
        ));
    }
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

fn open_syslog(ident: &str, facility: i32) -> anyhow::Result<()> {
    let ident = CString::new(ident).map_err(|_| anyhow::anyhow!("syslog ident has a NUL"))?;
    // openlog keeps the pointer: the ident must live for the rest of the process.
    let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
    // SAFETY: `ident` is a valid NUL-terminated string that is never freed.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, facility) };
    Ok(())
}

/// Makes one [`SyslogLine`] per event.
struct Syslog;

/// Collects one formatted event; sent as one syslog message when dropped.
struct SyslogLine {
    priority: i32,
    buf: Vec<u8>,
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;
    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            priority: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let priority = match *meta.level() {
            Level::ERROR => libc::LOG_ERR,
            Level::WARN => libc::LOG_WARNING,
            Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogLine {
            priority,
            buf: Vec::new(),
        }
    }
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        while self.buf.last().is_some_and(|c| c.is_ascii_whitespace()) {
            self.buf.pop();
        }
        if self.buf.is_empty() {
            return;
        }
        self.buf.retain(|&c| c != 0);
        let Ok(msg) = CString::new(std::mem::take(&mut self.buf)) else {
            return;
        };
        // SAFETY: constant "%s" format with one valid NUL-terminated string argument.
        unsafe { libc::syslog(self.priority, c"%s".as_ptr(), msg.as_ptr()) };
    }
}

/// `-g FILE`: every line written (and so flushed) as it comes, as `--flush-log-file` asks.
#[derive(Clone)]
struct LogFile(Arc<Mutex<std::fs::File>>);

struct LogFileGuard(Arc<Mutex<std::fs::File>>);

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileGuard;
    fn make_writer(&'a self) -> LogFileGuard {
        LogFileGuard(self.0.clone())
    }
}

impl Write for LogFileGuard {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
