//! The running daemon. Placeholder on the `config` branch so the binary links: the daemon
//! (VRRP, director, checkers, API) is written on its own branch and replaces this file at merge.

use std::process::ExitCode;

use crate::cli::Cli;

/// Runs lvsd as a daemon. In this build it only loads the configuration and says so.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::load(&cli.use_file, &cli.load_options(true)) {
        Ok(l) => l,
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!("{}: {e}", cli.use_file.display());
        }
    };
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    anyhow::bail!("the lvsd daemon is not part of this build; use -t to check a configuration")
}
