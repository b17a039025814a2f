//! lvsd binary: parse the command line, set up logging, dispatch, turn the outcome into an
//! exit code (the codes are listed in `cli.rs`).

use std::process::ExitCode;

use clap::Parser;
use lvsd::cli::{self, Cli, Command, ConfigAction};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let result = match &cli.command {
        Some(Command::Config(c)) => match c.action {
            ConfigAction::Dump { json } => cli::run_config_dump(&cli, json).map(ExitCode::from),
            ConfigAction::Check { host } => cli::run_config_test(&cli, host).map(ExitCode::from),
        },
        Some(Command::Genhash(args)) => Ok(lvsd::genhash::run(args)),
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

fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = if cli.log_detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second initialisation (tests) is not an error worth dying for.
    let _ = match cli.log_format {
        cli::LogFormat::Json => builder.json().try_init(),
        cli::LogFormat::Text => builder.try_init(),
    };
}
