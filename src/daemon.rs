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
//! - Start: the configuration is loaded first (it places the pid files: `use_pid_dir`,
//!   `instance`), then keepalived's pid files are locked ([`crate::pidfile`]; a second instance
//!   logs "daemon is already running" and exits 0), then the control socket (always) and the
//!   metrics listener (`--metrics-listen`) come up ([`crate::api`]).
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
use crate::director::{self, DirectorSpec, RunOptions};
use crate::notify::{Notifier, NotifierConfig};
use crate::scripts::Scripts;
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
    /// Every configuration that loaded (first and each good reload) with its resolved
    /// scripts, for VRRP.
    pub configs: watch::Sender<Option<Model>>,
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
    /// Operator state directory (`--state-dir`); None: not persisted.
    pub state_dir: Option<PathBuf>,
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
    K: ipvs::Ipvs + 'static,
    L: Fn(&Path) -> anyhow::Result<Loaded>,
{
    let Loaded {
        director: spec,
        config,
        scripts,
    } = load(&opts.config_file)?;
    hub.disabled_scripts.send_replace(scripts.disabled.clone());
    let unimplemented = config
        .as_ref()
        .map(|c| c.unimplemented_lines())
        .unwrap_or_default();
    if let Some(c) = config {
        crate::fifo::configure(&c.global, &scripts);
        links.configs.send_replace(Some((c, scripts)));
    }
    let notifier = Notifier::new(NotifierConfig::default());
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
                state_dir: opts.state_dir.clone(),
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
        links.systemd.reloading();
        let done = reload_config(opts, &load, &mut reload, &spec_tx, &hub, links);
        if let Some(r) = reply {
            let _ = r.send(done);
        }
        hub.reload.send_replace(reload.clone());
        links.systemd.ready();
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

/// One reload: a configuration that loads replaces the running one (director spec, disabled
/// scripts, FIFOs, VRRP); one that does not is reported and the running one stays.
fn reload_config<L>(
    opts: &Options,
    load: &L,
    reload: &mut ReloadStatus,
    spec_tx: &watch::Sender<Arc<DirectorSpec>>,
    hub: &StatusHub,
    links: &Links,
) -> Result<(), String>
where
    L: Fn(&Path) -> anyhow::Result<Loaded>,
{
    tracing::info!(file = %opts.config_file.display(), "reloading configuration");
    match load(&opts.config_file) {
        Ok(new) => {
            // Only a configuration that now runs moves the timestamp.
            reload.last_reload_unix_ms = Some(now_ms());
            reload.successes += 1;
            reload.last_error = None;
            spec_tx.send_replace(Arc::new(new.director));
            hub.disabled_scripts
                .send_replace(new.scripts.disabled.clone());
            if let Some(c) = new.config {
                reload.unimplemented = c.unimplemented_lines();
                reload_fifos(&c, &new.scripts, hub);
                links.configs.send_replace(Some((c, new.scripts)));
            }
            Ok(())
        }
        Err(e) => {
            reload.failures += 1;
            reload.last_error = Some(format!("{e:#}"));
            tracing::error!("reload failed, keeping the running configuration: {e:#}");
            Err(format!("{e:#}"))
        }
    }
}

/// A good reload's notify FIFOs (kept when unchanged) and, with
/// `fifo_write_vrrp_states_on_reload`, the VRRP states written again.
fn reload_fifos(c: &config::Config, scripts: &Scripts, hub: &StatusHub) {
    crate::fifo::configure(&c.global, scripts);
    if c.process.fifo_write_vrrp_states_on_reload {
        let groups: Vec<(String, Vec<String>)> = c
            .vrrp_sync_groups
            .iter()
            .map(|g| (g.name.clone(), g.group.clone()))
            .collect();
        crate::fifo::write_states(&hub.vrrp.borrow(), &groups);
    }
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

/// A loaded model and its scripts resolved on this host, as VRRP receives it.
pub type Model = (Arc<config::Config>, Arc<Scripts>);

/// A configuration that loaded: the director's part, the whole model for the other
/// subsystems (VRRP), and every script resolved once for all of them. `config` is `None` only
/// for loaders that have no model (tests).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub director: DirectorSpec,
    pub config: Option<Arc<config::Config>>,
    pub scripts: Arc<Scripts>,
}

impl From<DirectorSpec> for Loaded {
    fn from(director: DirectorSpec) -> Loaded {
        Loaded {
            director,
            config: None,
            scripts: Arc::default(),
        }
    }
}

/// Loads the file and reduces it to the director's spec. Every script is resolved here, once
/// per load ([`Scripts`]: users, keepalived's permission walk); what is disabled is logged.
/// Warnings are logged; a refused configuration is an error carrying every error diagnostic
/// (file:line:col + caret).
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
            let scripts = Scripts::resolve(&loaded.config);
            scripts.log();
            let (spec, warnings) =
                director::from_config::director_spec_with(&loaded.config, &scripts);
            for w in warnings {
                tracing::warn!("{}: {w}", path.display());
            }
            Ok(Loaded {
                director: spec,
                config: Some(Arc::new(loaded.config)),
                scripts: Arc::new(scripts),
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
    let spec = load_spec(&cli.config_file(), &cli.load_options(true))?.director;
    let client = ipvs::Client::connect()
        .await
        .context("reading the kernel's IPVS table")?;
    // Operator holds (drained / disabled servers) stay out, as the running daemon keeps them.
    let op = match director::operator::load(&cli.state_dir) {
        Ok(op) => op,
        Err(e) => anyhow::bail!("operator state: {e}"),
    };
    eprint!("{}", director::operator::describe(&op));
    let plan = director::run::plan_against_with(&client, &spec, &op)
        .await
        .map_err(|e| anyhow::anyhow!("reading the kernel's IPVS table: {e}"))?;
    print!("{plan}");
    Ok(ExitCode::SUCCESS)
}

/// The daemon entry point `main` calls: foreground, until SIGTERM / SIGINT (exit 0).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `net_namespace NAME` (unless `-s`, which overrides it, as in keepalived): entered
    // before any thread or socket exists, so everything lvsd runs is inside it.
    if cli.namespace.is_none() && !(cli.is_config_test() && cli.plan) {
        let probe = config::LoadOptions {
            check_host: false,
            ..cli.load_options(true)
        };
        if let Ok(l) = config::load(&cli.config_file(), &probe)
            && let Some(ns) = &l.config.process.net_namespace
        {
            crate::process::enter_namespace(ns).with_context(|| format!("net_namespace {ns}"))?;
            tracing::info!("running in network namespace {ns}");
        }
    }
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
    if cli.is_config_test() && cli.plan {
        return print_plan(&cli).await;
    }
    let mode = Mode::of(&cli);
    let opts = Options {
        config_file: cli.config_file(),
        mode,
        release_ipvs: !cli.dont_release_ipvs,
        resync: Duration::from_secs(5),
        state_dir: Some(cli.state_dir.clone()),
    };
    let load_opts = cli.load_options(true);
    // The first load decides where the pid files are (`use_pid_dir`, `instance`), so it
    // happens before anything else, as in keepalived; `serve` then starts from it.
    let first = first_load(&cli, &opts.config_file, &load_opts)?;
    let process = first
        .config
        .as_ref()
        .map(|c| c.process.clone())
        .unwrap_or_default();
    // `umask` from the configuration, unless `-u` gave one (keepalived: the command line wins).
    if cli.umask.is_none()
        && let Some(mask) = process.umask
    {
        crate::process::set_umask(mask);
    }
    crate::tuning::apply_process(&process);
    let run = RunFiles::of(&cli, mode, first.config.as_deref());
    let Some(_pidfiles) = take_pid_files(&cli, mode, &run)? else {
        return Ok(ExitCode::SUCCESS);
    };
    // keepalived runs its startup_script here: after the configuration is read, before any
    // subsystem starts (--health-check-only changes nothing on the host: no scripts).
    let lifecycle = mode != Mode::HealthCheckOnly;
    if lifecycle && let Some(c) = &first.config {
        let g = &c.global;
        let s = g.startup_script.as_ref().and_then(|s| first.scripts.get(s));
        crate::process::run_lifecycle_script("startup", s, g.startup_script_timeout).await;
    }
    let first = std::sync::Mutex::new(Some(first));
    let load = |p: &Path| match first.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(loaded) => Ok(loaded),
        None => load_spec(p, &load_opts),
    };
    let hub = StatusHub::new();
    // VRRP transitions and reloads become events (`/events`, `lvsd ctl events`).
    tokio::spawn(crate::events::follow_hub(hub.clone()));
    let links = Links {
        systemd: crate::systemd::Notifier::from_env(),
        ..Links::default()
    };
    let (ctl_tx, control) = mpsc::channel(8);
    signals(ctl_tx.clone()).context("installing signal handlers")?;
    if let Some(f) = &process.reload_time_file {
        crate::reload_time::spawn(f.clone(), process.reload_repeat, ctl_tx.clone());
    }
    // SIGUSR1 / SIGUSR2 / SIGRTMIN+2 / STATS_CLEAR: keepalived's state dumps.
    crate::dump::spawn_signal_handlers(hub.clone(), PathBuf::from(crate::dump::DUMP_DIR))
        .context("installing the dump signal handlers")?;
    crate::dump::follow_global_defs(links.configs.subscribe(), hub.clone());
    let _watchdog = links.systemd.spawn_watchdog();
    let ipvs_ns = first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|l| l.config.as_ref())
        .and_then(|c| c.process.net_namespace_ipvs.clone());
    let client = connect_ipvs(mode, ipvs_ns.as_deref()).await?;
    let api = api_state(&hub, client.clone(), ctl_tx.clone(), &links);
    links.metrics.set_node_ipvs(!cli.metrics_no_node_ipvs);
    let _socket = spawn_api(&cli, mode, &run, api, &links).await?;
    if cli.address_monitoring {
        spawn_address_monitor();
    }
    let tasks = Subsystems::spawn(&cli, mode, &hub, &links, &ctl_tx, process);
    serve(&opts, load, client, hub, control, &links).await?;
    tasks.stop().await;
    // After the instances' STOP lines: flushed, scripts stopped, FIFOs lvsd made removed.
    crate::fifo::shutdown();
    // Last, once everything has stopped: the shutdown_script of the running configuration.
    let last = links.configs.borrow().clone();
    if lifecycle && let Some((c, scripts)) = last {
        let g = &c.global;
        let s = g.shutdown_script.as_ref().and_then(|s| scripts.get(s));
        crate::process::run_lifecycle_script("shutdown", s, g.shutdown_script_timeout).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The tasks that run beside the director, each following the loaded configurations.
struct Subsystems {
    vrrp: Option<tokio::task::JoinHandle<()>>,
    bfd: Option<tokio::task::JoinHandle<()>>,
    anycast: Option<tokio::task::JoinHandle<()>>,
    routes: Option<tokio::task::JoinHandle<()>>,
}

impl Subsystems {
    fn spawn(
        cli: &Cli,
        mode: Mode,
        hub: &StatusHub,
        links: &Links,
        ctl_tx: &mpsc::Sender<Control>,
        process: config::model::ProcessDefs,
    ) -> Subsystems {
        let vrrp = matches!(mode, Mode::Full | Mode::VrrpOnly).then(|| {
            spawn_vrrp(
                &links.configs,
                hub.clone(),
                links.shutdown.subscribe(),
                VrrpFlags {
                    keep_vips_on_stop: cli.dont_release_vrrp,
                    all: cli.all,
                },
                cli.dont_respawn.then(|| ctl_tx.clone()),
            )
        });
        crate::tuning::spawn_thread_tuning(process, vrrp.is_some());
        // keepalived's BFD process, unless -B/--no_bfd.
        let bfd = (!cli.no_bfd).then(|| {
            let (status, dropped) = (hub.bfd.clone(), hub.bfd_dropped.clone());
            crate::bfd::spawn(&links.configs, status, dropped, links.shutdown.subscribe())
        });
        // lvsd extension (docs/anycast.md): health-gated VIP routes, written whether or not
        // the kernel has IPVS.
        let anycast = mode
            .writes_ipvs()
            .then(|| crate::anycast::spawn(&links.configs, hub, links.shutdown.subscribe()));
        // static_* and virtual_routes/virtual_rules (crate::routes), beside VRRP.
        let routes = matches!(mode, Mode::Full | Mode::VrrpOnly).then(|| {
            let shutdown = links.shutdown.subscribe();
            crate::routes::spawn(&links.configs, hub, shutdown, cli.dont_release_vrrp)
        });
        Subsystems {
            vrrp,
            bfd,
            anycast,
            routes,
        }
    }

    /// Waits for each to finish its stop (they follow the shutdown watch), bounded where a
    /// stuck netlink could otherwise hold the exit.
    async fn stop(self) {
        if let Some(r) = self.routes {
            let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
        }
        if let Some(b) = self.bfd {
            // AdminDown goes to every peer.
            let _ = tokio::time::timeout(Duration::from_secs(1), b).await;
        }
        if let Some(a) = self.anycast {
            // It withdraws its routes on shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(2), a).await;
        }
        if let Some(v) = self.vrrp {
            // The instances resign (priority 0), drop their VIPs and run notify_stop.
            if let Err(e) = v.await {
                tracing::error!("VRRP task failed: {e}");
            }
        }
    }
}

/// The start-up load, with `-d` (the model in the log) and `-e` (missing files refuse it).
fn first_load(cli: &Cli, file: &Path, load_opts: &config::LoadOptions) -> anyhow::Result<Loaded> {
    let first = load_spec(file, load_opts)?;
    if cli.dump_conf
        && let Some(c) = &first.config
    {
        // keepalived's -d: the configuration as understood, in the log.
        for line in crate::config::summary::render(c).lines() {
            tracing::info!("{line}");
        }
    }
    if cli.all_config {
        refuse_unreadable_files(file, load_opts)?;
    }
    Ok(first)
}

/// Locks this run's pid files; None when another instance holds one ("daemon is already
/// running": logged, and lvsd exits 0 as keepalived does).
fn take_pid_files(
    cli: &Cli,
    mode: Mode,
    run: &RunFiles,
) -> anyhow::Result<Option<crate::pidfile::PidFiles>> {
    // --health-check-only changes nothing on the host: it may run beside the director it
    // observes, so it takes no pid file.
    let pid_files = if mode == Mode::HealthCheckOnly {
        Vec::new()
    } else {
        run.pid_files.clone()
    };
    match crate::pidfile::PidFiles::acquire_all(pid_files.iter().map(|p| p.as_path())) {
        Ok(p) => Ok(Some(p)),
        Err(e @ crate::pidfile::LockError::Running { .. }) => {
            tracing::error!("daemon is already running");
            tracing::info!("{e}");
            if !cli.log_console && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("lvsd: daemon is already running ({e})");
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The IPVS client when this mode writes the kernel.
async fn connect_ipvs(mode: Mode, ns: Option<&str>) -> anyhow::Result<Option<ipvs::Client>> {
    if !mode.writes_ipvs() {
        return Ok(None);
    }
    let connected = match ns {
        None => ipvs::Client::connect().await,
        Some(ns) => crate::process::connect_ipvs_in(ns).await?,
    };
    match connected {
        Ok(c) => Ok(Some(c)),
        // Full mode: the VIPs must still fail over (keepalived's VRRP process does not
        // depend on its checker process either); the checkers run without kernel writes.
        Err(e) if mode == Mode::Full => {
            tracing::error!(
                "cannot program IPVS: {e}; virtual servers are not installed, VRRP and the \
                 checkers keep running (load ip_vs and restart lvsd)"
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context(
            "IPVS is needed to run as a director (use --health-check-only to only run the \
             checkers)",
        )),
    }
}

/// The control socket (always) and `--metrics-listen` (if given). The guard removes the
/// socket file at exit.
async fn spawn_api(
    cli: &Cli,
    mode: Mode,
    run: &RunFiles,
    api: crate::api::Api,
    links: &Links,
) -> anyhow::Result<Option<RemoveOnDrop>> {
    let group = match &cli.ctl_socket_group {
        Some(g) => Some(resolve_group(g)?),
        None => None,
    };
    let unix = crate::api::Endpoint::Unix {
        path: run.socket.clone(),
        group,
    };
    let socket = match spawn_listener(unix, api.clone(), links).await {
        Ok(()) => Some(RemoveOnDrop(run.socket.clone())),
        // An observer without its socket still observes.
        Err(e) if mode == Mode::HealthCheckOnly => {
            tracing::warn!(
                "control socket {}: {e:#}; running without it",
                run.socket.display()
            );
            None
        }
        Err(e) => return Err(e.context(format!("control socket {}", run.socket.display()))),
    };
    if let Some(listen) = cli.metrics_listen {
        let token = match &cli.ctl_token_file {
            Some(f) => Some(crate::api::Token::from_file(f)?),
            None => None,
        };
        spawn_listener(crate::api::Endpoint::Tcp { listen, token }, api, links)
            .await
            .with_context(|| format!("--metrics-listen {listen}"))?;
    }
    Ok(socket)
}

/// `-e/--all-config`: a missing include refuses the configuration.
fn refuse_unreadable_files(path: &Path, opts: &config::LoadOptions) -> anyhow::Result<()> {
    if let Ok(loaded) = config::load(path, opts) {
        let missing = crate::cli::unreadable_files(&loaded.diagnostics);
        if !missing.is_empty() {
            let lines: Vec<String> = missing.iter().map(|d| d.to_string()).collect();
            anyhow::bail!(
                "{}: configuration refused (-e: every file must be readable)\n{}",
                path.display(),
                lines.join("\n")
            );
        }
    }
    Ok(())
}

/// The pid files and control socket of this run (see [`crate::pidfile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    pub pid_files: Vec<PathBuf>,
    pub socket: PathBuf,
}

impl RunFiles {
    /// keepalived's choice of files for these flags and this configuration.
    pub fn of(cli: &Cli, mode: Mode, config: Option<&config::Config>) -> RunFiles {
        use crate::pidfile::{Layout, RunPaths};
        let layout = Layout {
            use_pid_dir: config.is_some_and(|c| c.use_pid_dir),
            instance: config.and_then(|c| c.instance.clone()),
            namespace: cli
                .namespace
                .clone()
                .or_else(|| config.and_then(|c| c.process.net_namespace.clone()))
                .or_else(crate::pidfile::current_netns_name),
        };
        let d = RunPaths::new(&layout);
        let has = |f: &dyn Fn(&config::Config) -> bool| cli.all || config.is_some_and(f);
        let mut pid_files = vec![cli.pid_file.clone().unwrap_or(d.main)];
        if matches!(mode, Mode::Full | Mode::VrrpOnly) && has(&|c| !c.vrrp_instances.is_empty()) {
            pid_files.push(cli.vrrp_pid.clone().unwrap_or(d.vrrp));
        }
        if mode.runs_checkers() && has(&|c| !c.virtual_servers.is_empty()) {
            pid_files.push(cli.checkers_pid.clone().unwrap_or(d.checkers));
        }
        let bfd = |c: &config::Config| !c.bfd_instances.is_empty();
        if !cli.no_bfd && has(&bfd) {
            pid_files.push(cli.bfd_pid.clone().unwrap_or(d.bfd));
        }
        let socket = match mode {
            Mode::HealthCheckOnly => d.socket.with_file_name("lvsd-health-check.sock"),
            _ => d.socket,
        };
        RunFiles {
            pid_files,
            socket: cli.ctl_socket.clone().unwrap_or(socket),
        }
    }
}

/// Removes the control socket when the daemon ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn resolve_group(name: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => anyhow::bail!("--ctl-socket-group {name}: no such group"),
        Err(e) => anyhow::bail!("--ctl-socket-group {name}: {e}"),
    }
}

/// What the API serves from; a reload request goes through the same loop as SIGHUP and gets
/// its outcome back.
fn api_state(
    hub: &StatusHub,
    client: Option<ipvs::Client>,
    control: mpsc::Sender<Control>,
    links: &Links,
) -> crate::api::Api {
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
    crate::api::Api {
        status: hub.clone(),
        metrics: links.metrics.clone(),
        ipvs: client.map(crate::api::kernel_dumper),
        reload: Some(reload_tx),
    }
}

/// Binds one API listener; it stops with the daemon.
async fn spawn_listener(
    endpoint: crate::api::Endpoint,
    api: crate::api::Api,
    links: &Links,
) -> anyhow::Result<()> {
    let mut stop = links.shutdown.subscribe();
    let stopped = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    crate::api::spawn_endpoint(endpoint, crate::api::Limits::default(), api, stopped).await?;
    Ok(())
}

/// `-a/--address-monitoring`: logs every address netlink reports added or removed.
fn spawn_address_monitor() {
    tokio::spawn(async move {
        if let Err(e) = crate::addrmon::run().await {
            tracing::error!("address monitoring stopped: {e:#}");
        }
    });
}

/// Command-line flags VRRP follows.
#[derive(Debug, Clone, Copy, Default)]
struct VrrpFlags {
    keep_vips_on_stop: bool,
    /// `--all`: run even without instances (a reload may add some).
    all: bool,
}

/// VRRP beside the director (full mode) or alone (`-P`): waits for the first configuration,
/// runs its instances (if any) and hands every later good configuration to them (a reload
/// keeps unchanged instances untouched). Ends after `shutdown`.
fn spawn_vrrp(
    configs: &watch::Sender<Option<Model>>,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
    flags: VrrpFlags,
    stop: Option<mpsc::Sender<Control>>,
) -> tokio::task::JoinHandle<()> {
    let vrrp_config = move |m: &Model| crate::vrrp::VrrpConfig {
        keep_vips_on_stop: flags.keep_vips_on_stop,
        ..crate::vrrp::VrrpConfig::from_model_with(&m.0, &m.1)
    };
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
        let cfg = vrrp_config(&first);
        if cfg.instances.is_empty() && !flags.all {
            tracing::info!("no vrrp_instance configured: VRRP not started");
            return;
        }
        let (tx, vrx) = watch::channel(cfg);
        let forward = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                if let Some(m) = next {
                    tx.send_replace(vrrp_config(&m));
                }
            }
        });
        // Logged when it happens: the director keeps running without VRRP (as keepalived's
        // checker process outlives a failed VRRP child), unless -R says to stop.
        if let Err(e) = crate::vrrp::run_reloadable(vrx, hub, shutdown).await {
            tracing::error!("VRRP stopped: {e:#}");
            if let Some(stop) = stop {
                tracing::error!("VRRP died: exiting (-R/--dont-respawn)");
                let _ = stop.send(Control::Stop).await;
            }
        }
        forward.abort();
    })
}
