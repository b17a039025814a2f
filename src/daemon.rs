//! The daemon's lifecycle: load, run in the foreground, reload on SIGHUP, stop on SIGTERM /
//! SIGINT.
//!
//! - Reload: the new file is loaded completely before anything changes. A file that fails to
//!   load is reported (log + [`ReloadStatus`]) and the running configuration stays. A good one
//!   replaces the director's spec; the director applies it as a diff (unchanged real servers keep
//!   their checker state, only what changed is written to the kernel).
//! - Stop: the director releases the services lvsd owns unless `-I/--dont-release-ipvs`, then
//!   the process exits 0.
//! - Modes: full (VRRP + director), `-C` (director only), `-P` (VRRP only), health-check-only
//!   (checkers, logs, scripts and status; nothing is written to the kernel, which may lack IPVS).
//!
//! Signals become [`Control`] messages so the loop itself is driven the same way in tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};

use crate::director::{self, DirectorSpec, Kernel, RunOptions};
use crate::notify::{Notifier, NotifierConfig};
use crate::status::{ReloadStatus, StatusHub};

/// Which subsystems run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// VRRP and the director.
    Full,
    /// `-C/--check`: the director only.
    CheckOnly,
    /// `-P/--vrrp`: VRRP only.
    VrrpOnly,
    /// `--health-check-only`: checkers and reports, no kernel writes.
    HealthCheckOnly,
}

impl Mode {
    /// Whether the director's writer touches the kernel.
    pub fn writes_ipvs(self) -> bool {
        matches!(self, Mode::Full | Mode::CheckOnly)
    }
    /// Whether the health checkers run.
    pub fn runs_checkers(self) -> bool {
        !matches!(self, Mode::VrrpOnly)
    }
}

/// What the lifecycle loop is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGHUP.
    Reload,
    /// SIGTERM / SIGINT.
    Stop,
}

/// Daemon settings (from the command line).
#[derive(Debug, Clone)]
pub struct Options {
    pub config_file: PathBuf,
    pub mode: Mode,
    /// Remove the services lvsd owns at exit (`-I` clears it).
    pub release_ipvs: bool,
    /// Periodic re-convergence of the kernel table.
    pub resync: Duration,
}

/// Turns SIGHUP / SIGTERM / SIGINT into [`Control`] messages.
pub fn signals() -> std::io::Result<mpsc::Receiver<Control>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = hup.recv() => Control::Reload,
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
            };
            if tx.send(c).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Logs to stderr (systemd's journal picks it up); `RUST_LOG` overrides the level.
pub fn init_tracing(detail: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the director side until a [`Control::Stop`] (or the control channel closes).
/// `load` turns the configuration file into the director's spec (errors are operator text);
/// `kernel` is `None` in health-check-only mode. The first load must succeed.
pub async fn serve<K, L>(
    opts: &Options,
    load: L,
    kernel: Option<K>,
    hub: StatusHub,
    mut control: mpsc::Receiver<Control>,
) -> anyhow::Result<()>
where
    K: Kernel,
    L: Fn(&Path) -> anyhow::Result<DirectorSpec>,
{
    let spec = load(&opts.config_file)?;
    let notifier = Notifier::new(NotifierConfig {
        default_user: spec.globals.script_user.as_ref().map(|u| u.0.clone()),
        default_group: spec.globals.script_user.as_ref().and_then(|u| u.1.clone()),
        ..NotifierConfig::default()
    });
    let mut reload = ReloadStatus {
        config_file: opts.config_file.display().to_string(),
        ..ReloadStatus::default()
    };
    hub.reload.send_replace(reload.clone());
    tracing::info!(
        file = %opts.config_file.display(),
        virtual_servers = spec.virtual_servers.len(),
        mode = ?opts.mode,
        "lvsd started"
    );

    let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
    let (stop_tx, stop_rx) = watch::channel(false);
    let kernel = if opts.mode.writes_ipvs() {
        kernel
    } else {
        None
    };
    let director = tokio::spawn(director::run(
        spec_rx,
        kernel,
        hub.clone(),
        notifier,
        RunOptions {
            resync: opts.resync,
            release_on_exit: opts.release_ipvs,
        },
        stop_rx,
    ));

    while let Some(c) = control.recv().await {
        match c {
            Control::Stop => break,
            Control::Reload => {
                tracing::info!(file = %opts.config_file.display(), "reloading configuration");
                reload.last_reload_unix_ms = Some(now_ms());
                match load(&opts.config_file) {
                    Ok(new) => {
                        reload.successes += 1;
                        reload.last_error = None;
                        spec_tx.send_replace(Arc::new(new));
                    }
                    Err(e) => {
                        reload.failures += 1;
                        reload.last_error = Some(format!("{e:#}"));
                        tracing::error!("reload failed, keeping the running configuration: {e:#}");
                    }
                }
                hub.reload.send_replace(reload.clone());
            }
        }
    }
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    director
        .await
        .map_err(|e| anyhow::anyhow!("director task failed: {e}"))?;
    Ok(())
}
