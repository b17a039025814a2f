//! Command line: keepalived's flags, so existing unit files and habits keep working, plus
//! lvsd's own subcommands.
//!
//! Shape: top-level flags (the daemon's) and an optional subcommand. Adding a subcommand is one
//! variant in [`Command`] and one arm in `main.rs`'s dispatch.
//!
//! # Exit codes
//!
//! `-t/--config-test` mirrors keepalived 2.2.7 (`config_test_exit()`), so scripts that test a
//! config before reloading keep working:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success; for `-t`: nothing to report |
//! | 1    | runtime failure (the daemon, or a subcommand, could not do its job) |
//! | 2    | bad command line (clap) |
//! | 4    | the configuration cannot be used: file missing/unreadable, or errors (refused) |
//! | 5    | the configuration loads but has warnings (keepalived would still run) |
//! | 6    | script security: scripts would run without `enable_script_security`, or unsafely |
//!
//! With `--strict` every warning is an error, so `-t --strict` exits 0 or 4.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `-t` and friends: see the module doc.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG_REFUSED: u8 = 4;
pub const EXIT_CONFIG_WARNINGS: u8 = 5;
pub const EXIT_SCRIPT_SECURITY: u8 = 6;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "lvsd",
    version,
    about = "Linux load-balancer director: a drop-in replacement for keepalived",
    long_about = "Linux load-balancer director: a drop-in replacement for keepalived.\n\n\
        lvsd reads your existing keepalived.conf and runs the same virtual servers (IPVS), \
        health checkers and VRRP instances, with compiler-style configuration errors and \
        Prometheus metrics.\n\n\
        Check a configuration:   lvsd -t -f /etc/keepalived/keepalived.conf\n\
        Run in the foreground:   lvsd -n -l -f /etc/keepalived/keepalived.conf\n\
        Show the resolved model: lvsd config dump --json",
    after_help = "Exit codes with -t: 0 clean, 4 refused (errors), 5 warnings, 6 script security. \
        See `lvsd --help` for details.",
    after_long_help = "EXIT CODES (-t/--config-test, as keepalived 2.2.7):\n  \
        0  nothing to report\n  \
        1  runtime failure\n  \
        2  bad command line\n  \
        4  configuration refused (errors, or file not found)\n  \
        5  configuration has warnings (it would still run)\n  \
        6  script security problem"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Configuration file to read.
    #[arg(
        short = 'f',
        long = "use-file",
        value_name = "FILE",
        default_value = "/etc/keepalived/keepalived.conf",
        global = true
    )]
    pub use_file: PathBuf,

    /// Stay in the foreground (lvsd never forks; accepted for keepalived compatibility).
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,

    /// Log to the console (stderr) as well as the journal.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,

    /// Detailed logging (debug level).
    #[arg(short = 'D', long = "log-detail", global = true)]
    pub log_detail: bool,

    /// Run only the VRRP part (no IPVS, no health checks).
    #[arg(short = 'P', long = "vrrp", conflicts_with = "check")]
    pub vrrp: bool,

    /// Run only the IPVS and health-check part (no VRRP).
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Check the configuration (syntax, meaning, and this host's interfaces and scripts),
    /// print what is wrong and exit; see EXIT CODES.
    #[arg(short = 't', long = "config-test")]
    pub config_test: bool,

    /// Dump the resolved configuration (with -t: as JSON on stdout after the check).
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,

    /// Configuration id selecting `@ID` lines (default: the short host name).
    #[arg(short = 'i', long = "config-id", value_name = "ID", global = true)]
    pub config_id: Option<String>,

    /// Treat every configuration warning as an error.
    #[arg(long, global = true)]
    pub strict: bool,

    /// Leave IPVS virtual and real servers in place on exit (keepalived's -I).
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,

    /// Run the health checkers and report, without changing IPVS.
    #[arg(long = "health-check-only")]
    pub health_check_only: bool,

    /// With -t: also print the IPVS changes the configuration would make on this host.
    #[arg(long, requires = "config_test")]
    pub plan: bool,

    /// Serve Prometheus metrics and status on this address (suggested: 127.0.0.1:9165).
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log line format.
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Print the number of the signal that performs NAME (RELOAD, STOP, DATA, STATS, JSON)
    /// and exit, as keepalived's --signum.
    #[arg(long, value_name = "NAME")]
    pub signum: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Inspect the configuration.
    Config(ConfigArgs),
    /// Compute the MD5 digest of a URL's body for HTTP_GET/SSL_GET `digest` (keepalived's
    /// genhash: same options, same output).
    Genhash(crate::genhash::GenhashArgs),
    /// Talk to a running lvsd over its `--metrics-listen` endpoint (status, reload).
    Ctl(crate::ctl::CtlArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Print the resolved configuration (defaults applied, inheritance resolved).
    Dump {
        /// Print JSON (the model other tools and the API use) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration like `-t` (without host checks unless --host).
    Check {
        /// Also check this host's interfaces and scripts.
        #[arg(long)]
        host: bool,
    },
}

impl Cli {
    /// The load options these flags ask for.
    pub fn load_options(&self, check_host: bool) -> crate::config::LoadOptions {
        crate::config::LoadOptions {
            config_id: self.config_id.clone(),
            strict: self.strict,
            check_host,
        }
    }
}

/// The exit code `-t` gives for this outcome (see the module doc).
pub fn config_test_exit_code(diagnostics: &[crate::config::Diagnostic], refused: bool) -> u8 {
    use crate::config::Category;
    if refused {
        EXIT_CONFIG_REFUSED
    } else if diagnostics
        .iter()
        .any(|d| d.category == Category::ScriptSecurity)
    {
        EXIT_SCRIPT_SECURITY
    } else if diagnostics.iter().all(|d| d.is_note()) {
        // Notes are lvsd's own findings: keepalived's verdict would be "clean".
        EXIT_OK
    } else {
        EXIT_CONFIG_WARNINGS
    }
}

fn print_diagnostics(diags: &[crate::config::Diagnostic]) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    for d in diags {
        // A closed stderr is not worth failing over.
        let _ = writeln!(err, "{d}");
    }
}

fn summary(path: &std::path::Path, diags: &[crate::config::Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags
        .iter()
        .filter(|d| !d.is_error() && !d.is_note())
        .count();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => format!("{}: configuration OK", path.display()),
        (0, w) => format!("{}: {}", path.display(), plural(w, "warning")),
        (e, w) => format!(
            "{}: configuration refused: {}, {}",
            path.display(),
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

/// `-t/--config-test` (and `config check`): load with host checks, print every diagnostic,
/// and with `-d` the resolved model as JSON on stdout.
pub fn run_config_test(cli: &Cli, check_host: bool) -> anyhow::Result<u8> {
    let opts = cli.load_options(check_host);
    match crate::config::load(&cli.use_file, &opts) {
        Ok(loaded) => {
            print_diagnostics(&loaded.diagnostics);
            eprintln!("{}", summary(&cli.use_file, &loaded.diagnostics));
            if cli.dump_conf {
                println!("{}", serde_json::to_string_pretty(&loaded.config)?);
            }
            Ok(config_test_exit_code(&loaded.diagnostics, false))
        }
        Err(e) => {
            print_diagnostics(&e.diagnostics);
            eprintln!("{}", summary(&cli.use_file, &e.diagnostics));
            Ok(config_test_exit_code(&e.diagnostics, true))
        }
    }
}

/// `config dump [--json]`: the resolved model; warnings go to stderr.
pub fn run_config_dump(cli: &Cli, json: bool) -> anyhow::Result<u8> {
    let loaded = match crate::config::load(&cli.use_file, &cli.load_options(false)) {
        Ok(l) => l,
        Err(e) => {
            print_diagnostics(&e.diagnostics);
            eprintln!("{}", summary(&cli.use_file, &e.diagnostics));
            return Ok(EXIT_CONFIG_REFUSED);
        }
    };
    print_diagnostics(&loaded.diagnostics);
    let out = if json {
        serde_json::to_string_pretty(&loaded.config)?
    } else {
        crate::config::summary::render(&loaded.config)
    };
    println!("{out}");
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keepalived_flags_parse() {
        let c = Cli::try_parse_from([
            "lvsd", "-t", "-f", "x.conf", "-n", "-l", "-D", "-i", "main", "--strict",
        ])
        .unwrap();
        assert!(c.config_test && c.dont_fork && c.log_console && c.log_detail && c.strict);
        assert_eq!(c.use_file, PathBuf::from("x.conf"));
        assert_eq!(c.config_id.as_deref(), Some("main"));
        let c =
            Cli::try_parse_from(["lvsd", "--use-file=/a", "--config-test", "--dump-conf"]).unwrap();
        assert!(c.config_test && c.dump_conf);
        assert!(c.command.is_none());
    }

    #[test]
    fn defaults_match_keepalived() {
        let c = Cli::try_parse_from(["lvsd"]).unwrap();
        assert_eq!(c.use_file, PathBuf::from("/etc/keepalived/keepalived.conf"));
        assert!(!c.config_test);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn plan_needs_config_test_and_vrrp_conflicts_with_check() {
        assert!(Cli::try_parse_from(["lvsd", "--plan"]).is_err());
        assert!(Cli::try_parse_from(["lvsd", "-t", "--plan"]).is_ok());
        assert!(Cli::try_parse_from(["lvsd", "-P", "-C"]).is_err());
    }

    #[test]
    fn config_dump_subcommand() {
        let c = Cli::try_parse_from(["lvsd", "config", "dump", "--json", "-f", "k.conf"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Config(ConfigArgs {
                action: ConfigAction::Dump { json: true }
            }))
        ));
        assert_eq!(c.use_file, PathBuf::from("k.conf"));
    }
}
