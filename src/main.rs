//! lvsd binary: parse the command line, set up the process and logging, dispatch, turn the
//! outcome into an exit code (the codes are listed in `cli.rs`).

use std::process::ExitCode;

use clap::Parser;
use lvsd::cli::{self, Cli, Command, ConfigAction};

fn main() -> ExitCode {
    // keepalived's `-T/--genhash` as the first option: the rest are genhash's options.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if matches!(
        args.get(1).and_then(|a| a.to_str()),
        Some("-T" | "--genhash")
    ) {
        let rest = std::iter::once("lvsd -T".into()).chain(args.into_iter().skip(2));
        let g = cli::GenhashCli::parse_from(rest);
        return lvsd::genhash::run(&g.args);
    }
    let cli = Cli::parse();
    if cli.version {
        eprint!("{}", cli::version_text());
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &cli.signum {
        return lvsd::dump::print_signum(name);
    }
    let result = match &cli.command {
        Some(Command::Config(c)) => console_logging(&cli).and_then(|()| {
            let source = c.source(&cli.source);
            match c.action {
                ConfigAction::Dump { json, .. } => cli::run_config_dump(&source, json),
                ConfigAction::Check { host, .. } => {
                    cli::run_config_test_of(&source, host, false, cli.all_config)
                }
            }
            .map(ExitCode::from)
        }),
        Some(Command::Genhash(args)) => Ok(lvsd::genhash::run(args)),
        Some(Command::Ctl(args)) => {
            console_logging(&cli).and_then(|()| lvsd::ctl::run_blocking(args.clone()))
        }
        // `-t --plan` needs the director's planner: the daemon module owns it.
        None if cli.is_config_test() && !cli.plan => config_test(&cli),
        None => daemon(cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lvsd: error: {e:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}

fn console_logging(cli: &Cli) -> anyhow::Result<()> {
    lvsd::systemd::init_logging(cli.log_format, cli.log_level())
}

/// `-t[=LOG_FILE]`: diagnostics on stderr, or in LOG_FILE.
fn config_test(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(Some(file)) = &cli.config_test {
        use std::os::fd::AsFd;
        let f = std::fs::File::create(file).map_err(|e| {
            anyhow::anyhow!(
                "unable to open config-test log file {}: {e}",
                file.display()
            )
        })?;
        nix::unistd::dup2_stderr(f.as_fd())
            .map_err(|e| anyhow::anyhow!("redirecting to {}: {e}", file.display()))?;
    }
    console_logging(cli)?;
    cli::run_config_test(cli, true).map(ExitCode::from)
}

/// The daemon: process set-up in keepalived's order, then logging, then the run.
fn daemon(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(mask) = cli.umask {
        lvsd::process::set_umask(mask);
    }
    if let Some(ns) = &cli.namespace {
        lvsd::process::enter_namespace(ns)?;
    }
    if !(cli.health_check_only || cli.is_config_test() && cli.plan) {
        lvsd::process::check_privileges()?;
    }
    lvsd::process::raise_nofile_limit();
    if cli.is_config_test() {
        // `-t --plan`: a command, not the daemon.
        console_logging(&cli)?;
    } else {
        lvsd::logging::init(&lvsd::logging::Targets::of(&cli))?;
    }
    for w in cli.compatibility_warnings() {
        tracing::warn!("{w}");
    }
    if cli.core_dump || cli.core_dump_pattern.is_some() {
        lvsd::process::enable_core_dumps()?;
    }
    let _pattern = match &cli.core_dump_pattern {
        Some(p) => Some(lvsd::process::CorePattern::set(
            p.as_deref().unwrap_or("core"),
        )?),
        None => None,
    };
    lvsd::daemon::run(cli)
}
