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
//!   In full mode a kernel without IPVS is logged as an error and the rest keeps running (the
//!   VIPs must still fail over); `-C` refuses to start without it.
//!
//! Signals become [`Control`] messages so the loop itself is driven the same way in tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::cli::Cli;
use crate::config;
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
#[derive(Debug)]
pub enum Control {
    /// SIGHUP.
    Reload,
    /// `POST /reload` (`lvsd ctl reload`): a reload whose outcome is sent back.
    ReloadAndReply(tokio::sync::oneshot::Sender<Result<(), String>>),
    /// SIGTERM / SIGINT.
    Stop,
}

/// What the lifecycle loop shares with the rest of the process.
#[derive(Debug, Default)]
pub struct Links {
    /// Set to true on stop; other subsystems (VRRP, the API) subscribe.
    pub shutdown: watch::Sender<bool>,
    /// Every configuration that loaded (first and each good reload), for VRRP.
    pub configs: watch::Sender<Option<Arc<config::Config>>>,
    /// systemd notifications (READY, RELOADING, STOPPING); a no-op outside systemd.
    pub systemd: crate::systemd::Notifier,
    /// Check-run metrics the director records and `/metrics` renders.
    pub metrics: crate::metrics::Metrics,
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

/// Turns SIGHUP / SIGTERM / SIGINT into [`Control`] messages on `tx`.
pub fn signals(tx: mpsc::Sender<Control>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
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
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the lifecycle until a [`Control::Stop`] (or the control channel closes), then sets
/// `shutdown` to true (other subsystems, e.g. VRRP, subscribe to it) and waits for the director
/// to release. `load` turns the configuration file into the director's spec (errors are
/// operator text); `kernel` is `None` in health-check-only mode. The first load must succeed.
/// In `-P` mode the file is still loaded and reloaded (to report errors) but no director runs.
/// Each configuration that loads is also published on `configs` (for VRRP).
pub async fn serve<K, L>(
    opts: &Options,
    load: L,
    kernel: Option<K>,
    hub: StatusHub,
    mut control: mpsc::Receiver<Control>,
    links: &Links,
) -> anyhow::Result<()>
where
    K: Kernel,
    L: Fn(&Path) -> anyhow::Result<Loaded>,
{
    let Loaded {
        director: spec,
        config,
    } = load(&opts.config_file)?;
    let unimplemented = config
        .as_ref()
        .map(|c| c.unimplemented_lines())
        .unwrap_or_default();
    if let Some(c) = config {
        links.configs.send_replace(Some(c));
    }
    let notifier = Notifier::new(NotifierConfig {
        default_user: spec.globals.script_user.as_ref().map(|u| u.0.clone()),
        default_group: spec.globals.script_user.as_ref().and_then(|u| u.1.clone()),
        ..NotifierConfig::default()
    });
    // The start-up load counts as the first load (not as a reload): "loaded N ago" and
    // lvsd_config_last_reload_timestamp_seconds are there from the start.
    let mut reload = ReloadStatus {
        config_file: opts.config_file.display().to_string(),
        last_reload_unix_ms: Some(now_ms()),
        unimplemented,
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
    let kernel = if opts.mode.writes_ipvs() {
        kernel
    } else {
        None
    };
    let director = opts.mode.runs_checkers().then(|| {
        tokio::spawn(director::run(
            spec_rx,
            kernel,
            hub.clone(),
            notifier,
            RunOptions {
                resync: opts.resync,
                release_on_exit: opts.release_ipvs,
                metrics: Some(links.metrics.clone()),
            },
            links.shutdown.subscribe(),
        ))
    });
    links.systemd.ready();

    while let Some(c) = control.recv().await {
        let reply = match c {
            Control::Stop => break,
            Control::Reload => None,
            Control::ReloadAndReply(r) => Some(r),
        };
        {
            {
                links.systemd.reloading();
                tracing::info!(file = %opts.config_file.display(), "reloading configuration");
                reload.last_reload_unix_ms = Some(now_ms());
                match load(&opts.config_file) {
                    Ok(new) => {
                        reload.successes += 1;
                        reload.last_error = None;
                        spec_tx.send_replace(Arc::new(new.director));
                        if let Some(c) = new.config {
                            reload.unimplemented = c.unimplemented_lines();
                            links.configs.send_replace(Some(c));
                        }
                        if let Some(r) = reply {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        reload.failures += 1;
                        reload.last_error = Some(format!("{e:#}"));
                        tracing::error!("reload failed, keeping the running configuration: {e:#}");
                        if let Some(r) = reply {
                            let _ = r.send(Err(format!("{e:#}")));
                        }
                    }
                }
                hub.reload.send_replace(reload.clone());
                links.systemd.ready();
            }
        }
    }
    tracing::info!("stopping");
    links.systemd.stopping();
    links.shutdown.send_replace(true);
    if let Some(d) = director {
        d.await
            .map_err(|e| anyhow::anyhow!("director task failed: {e}"))?;
    }
    Ok(())
}

impl Mode {
    /// The mode the command line asks for.
    pub fn of(cli: &Cli) -> Mode {
        if cli.health_check_only {
            Mode::HealthCheckOnly
        } else if cli.vrrp {
            Mode::VrrpOnly
        } else if cli.check {
            Mode::CheckOnly
        } else {
            Mode::Full
        }
    }
}

/// A configuration that loaded: the director's part, and the whole model for the other
/// subsystems (VRRP). `config` is `None` only for loaders that have no model (tests).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub director: DirectorSpec,
    pub config: Option<Arc<config::Config>>,
}

impl From<DirectorSpec> for Loaded {
    fn from(director: DirectorSpec) -> Loaded {
        Loaded {
            director,
            config: None,
        }
    }
}

/// Loads the file and reduces it to the director's spec. Warnings are logged; a refused
/// configuration is an error carrying every error diagnostic (file:line:col + caret).
pub fn load_spec(path: &Path, opts: &config::LoadOptions) -> anyhow::Result<Loaded> {
    match config::load(path, opts) {
        Ok(loaded) => {
            for d in &loaded.diagnostics {
                // Unimplemented keywords are logged once each below, as warnings.
                if d.category != config::Category::Unimplemented {
                    tracing::warn!("{d}");
                }
            }
            for line in loaded.config.unimplemented_lines() {
                let (at, what) = line.split_once(": ").unwrap_or(("", &line));
                tracing::warn!("{at}: warning: {what}");
            }
            let (spec, warnings) = director::from_config::director_spec(&loaded.config);
            for w in warnings {
                tracing::warn!("{}: {w}", path.display());
            }
            Ok(Loaded {
                director: spec,
                config: Some(Arc::new(loaded.config)),
            })
        }
        Err(e) => {
            let details: Vec<String> = e
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            if details.is_empty() {
                Err(anyhow::anyhow!("{}: {e}", path.display()))
            } else {
                Err(anyhow::anyhow!(
                    "{}: {e}\n{}",
                    path.display(),
                    details.join("\n")
                ))
            }
        }
    }
}

/// `lvsd -t --plan`: the IPVS operations this configuration would cause against the kernel
/// now, as ipvsadm command lines (valid `ipvsadm -R` input). Empty output: nothing to do.
pub async fn print_plan(cli: &Cli) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&cli.use_file, &cli.load_options(true))?.director;
    let client = ipvs::Client::connect()
        .await
        .context("reading the kernel's IPVS table")?;
    let plan = director::run::plan_against(&client, &spec)
        .await
        .map_err(|e| anyhow::anyhow!("reading the kernel's IPVS table: {e}"))?;
    print!("{plan}");
    Ok(ExitCode::SUCCESS)
}

/// The daemon entry point `main` calls: foreground, until SIGTERM / SIGINT (exit 0).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(run_async(cli));
    // Everything lvsd owns is released by now; a stray blocking task (a dump being written)
    // must not keep the process from exiting.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

async fn run_async(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.config_test && cli.plan {
        return print_plan(&cli).await;
    }
    let mode = Mode::of(&cli);
    let opts = Options {
        config_file: cli.use_file.clone(),
        mode,
        release_ipvs: !cli.dont_release_ipvs,
        resync: Duration::from_secs(5),
    };
    let load_opts = cli.load_options(true);
    let load = |p: &Path| load_spec(p, &load_opts);
    let hub = StatusHub::new();
    let links = Links {
        systemd: crate::systemd::Notifier::from_env(),
        ..Links::default()
    };
    let (ctl_tx, control) = mpsc::channel(8);
    signals(ctl_tx.clone()).context("installing signal handlers")?;
    // SIGUSR1 / SIGUSR2 / SIGRTMIN+2: keepalived's state dumps.
    crate::dump::spawn_signal_handlers(hub.clone(), PathBuf::from(crate::dump::DUMP_DIR))
        .context("installing the dump signal handlers")?;
    let _watchdog = links.systemd.spawn_watchdog();
    let client = if mode.writes_ipvs() {
        match ipvs::Client::connect().await {
            Ok(c) => Some(c),
            // Full mode: the VIPs must still fail over (keepalived's VRRP process does not
            // depend on its checker process either); the checkers run without kernel writes.
            Err(e) if mode == Mode::Full => {
                tracing::error!(
                    "cannot program IPVS: {e}; virtual servers are not installed, VRRP and the \
                     checkers keep running (load ip_vs and restart lvsd)"
                );
                None
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(
                    "IPVS is needed to run as a director (use --health-check-only to only run \
                     the checkers)",
                ));
            }
        }
    } else {
        None
    };
    if let Some(listen) = cli.metrics_listen {
        spawn_api(listen, &hub, client.clone(), ctl_tx.clone(), &links).await?;
    }
    let vrrp = matches!(mode, Mode::Full | Mode::VrrpOnly)
        .then(|| spawn_vrrp(&links.configs, hub.clone(), links.shutdown.subscribe()));
    serve(&opts, load, client, hub, control, &links).await?;
    if let Some(v) = vrrp {
        // The instances resign (priority 0), drop their VIPs and run notify_stop.
        if let Err(e) = v.await {
            tracing::error!("VRRP task failed: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--metrics-listen`: `/metrics` `/status` `/healthz` `POST /reload`; a reload request goes
/// through the same loop as SIGHUP and gets its outcome back.
async fn spawn_api(
    listen: std::net::SocketAddr,
    hub: &StatusHub,
    client: Option<ipvs::Client>,
    control: mpsc::Sender<Control>,
    links: &Links,
) -> anyhow::Result<()> {
    let (reload_tx, mut reload_rx) = mpsc::channel::<crate::api::ReloadRequest>(4);
    tokio::spawn(async move {
        while let Some(req) = reload_rx.recv().await {
            if control
                .send(Control::ReloadAndReply(req.reply))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let api = crate::api::Api {
        status: hub.clone(),
        metrics: links.metrics.clone(),
        ipvs: client.map(crate::api::kernel_dumper),
        reload: Some(reload_tx),
    };
    let mut stop = links.shutdown.subscribe();
    let stopped = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    crate::api::spawn(listen, api, stopped)
        .await
        .with_context(|| format!("--metrics-listen {listen}"))?;
    Ok(())
}

/// VRRP beside the director (full mode) or alone (`-P`): waits for the first configuration,
/// runs its instances (if any) and hands every later good configuration to them (a reload
/// keeps unchanged instances untouched). Ends after `shutdown`.
fn spawn_vrrp(
    configs: &watch::Sender<Option<Arc<config::Config>>>,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut rx = configs.subscribe();
    tokio::spawn(async move {
        let first = loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                break c;
            }
            if rx.changed().await.is_err() {
                return;
            }
        };
        let cfg = crate::vrrp::VrrpConfig::from_model(&first);
        if cfg.instances.is_empty() {
            tracing::info!("no vrrp_instance configured: VRRP not started");
            return;
        }
        let (tx, vrx) = watch::channel(cfg);
        let forward = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                if let Some(c) = next {
                    tx.send_replace(crate::vrrp::VrrpConfig::from_model(&c));
                }
            }
        });
        // Logged when it happens: the director keeps running without VRRP (as keepalived's
        // checker process outlives a failed VRRP child).
        if let Err(e) = crate::vrrp::run_reloadable(vrx, hub, shutdown).await {
            tracing::error!("VRRP stopped: {e:#}");
        }
        forward.abort();
    })
}
