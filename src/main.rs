//! lvsd binary: parse the command line, set up logging, dispatch, turn the outcome into an
//! exit code (the codes are listed in `cli.rs`).

use std::process::ExitCode;

use clap::Parser;
use lvsd::cli::{self, Cli, Command, ConfigAction};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(name) = &cli.signum {
        return lvsd::dump::print_signum(name);
    }
    let level = if cli.log_detail { "debug" } else { "info" };
    if let Err(e) = lvsd::systemd::init_logging(cli.log_format, level) {
        eprintln!("lvsd: error: {e:#}");
        return ExitCode::from(cli::EXIT_FAILURE);
    }
    let result = match &cli.command {
        Some(Command::Config(c)) => match c.action {
            ConfigAction::Dump { json } => cli::run_config_dump(&cli, json).map(ExitCode::from),
            ConfigAction::Check { host } => cli::run_config_test(&cli, host).map(ExitCode::from),
        },
        Some(Command::Genhash(args)) => Ok(lvsd::genhash::run(args)),
        Some(Command::Ctl(args)) => lvsd::ctl::run_blocking(args.clone()),
        // `-t --plan` needs the director's planner: the daemon module owns it.
        None if cli.config_test && !cli.plan => {
            cli::run_config_test(&cli, true).map(ExitCode::from)
        }
        None => lvsd::daemon::run(cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lvsd: error: {e:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
