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
//! | 5    | the configuration loads but has warnings (keepalived would still run); this includes scripts disabled by `enable_script_security` |
//! | 6    | script security: scripts would run without `enable_script_security` (SECURITY VIOLATION) |
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
    disable_version_flag = true,
    about = "Linux load-balancer director: a drop-in replacement for keepalived",
    long_about = "Linux load-balancer director: a drop-in replacement for keepalived.\n\n\
        lvsd reads your existing keepalived.conf and runs the same virtual servers (IPVS), \
        health checkers and VRRP instances, with compiler-style configuration errors and \
        Prometheus metrics. It takes keepalived's command-line flags with their meanings.\n\n\
        Check a configuration:   lvsd -t -f /etc/keepalived/keepalived.conf\n\
        Run in the foreground:   lvsd -n -l -f /etc/keepalived/keepalived.conf\n\
        Show the resolved model: lvsd config dump --json",
    after_help = "Exit codes with -t: 0 clean, 4 refused (errors), 5 warnings, 6 script security. \
        See `lvsd --help` for details.",
    after_long_help = "EXIT CODES (-t/--config-test, as keepalived 2.2.7):\n  \
        0  nothing to report; also when another lvsd or keepalived already runs this \
        configuration (\"daemon is already running\", as keepalived)\n  \
        1  runtime failure\n  \
        2  bad command line\n  \
        4  configuration refused (errors, or file not found)\n  \
        5  configuration has warnings (it would still run)\n  \
        6  script security problem"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub source: ConfigSource,

    /// Stay in the foreground (lvsd never forks; accepted for keepalived compatibility).
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,

    /// Log to the console (stderr) as well as to syslog.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,

    /// Detailed logging (debug level; `-DD` as keepalived's extra detail: trace).
    #[arg(short = 'D', long = "log-detail", action = clap::ArgAction::Count)]
    pub log_detail: u8,

    /// Syslog facility: 0-7 (local0-7), local0..local7, user or daemon (the default).
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY", value_parser = parse_facility)]
    pub log_facility: Option<i32>,

    /// Also write log lines to FILE (default /tmp/keepalived.log).
    #[arg(
        short = 'g',
        long = "log-file",
        value_name = "FILE",
        num_args = 0..=1,
        default_missing_value = "/tmp/keepalived.log"
    )]
    pub log_file: Option<PathBuf>,

    /// With -g: flush the log file after each line.
    #[arg(long = "flush-log-file")]
    pub flush_log_file: bool,

    /// Do not log to syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,

    /// umask for the files lvsd creates (numeric: 022, 0077, 0x12).
    #[arg(short = 'u', long = "umask", value_name = "MASK", value_parser = parse_umask)]
    pub umask: Option<u32>,

    /// Remove an instance's VIPs whenever it leaves MASTER, also after a reload signal
    /// (keepalived's -X). lvsd always does this; the flag is accepted for unit files.
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,

    /// Leave the VRRP VIPs and virtual routes in place when lvsd stops (no priority-0
    /// advert): a restart does not interrupt traffic.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,

    /// Run only the VRRP part (no IPVS, no health checks).
    #[arg(short = 'P', long = "vrrp", conflicts_with = "check")]
    pub vrrp: bool,

    /// Run only the IPVS and health-check part (no VRRP).
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Do not run BFD: no bfd_instance session runs (track_bfd and BFD_CHECK see them down)
    /// and there is no BFD pid file.
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,

    /// Run every subsystem even without configuration for it (VRRP then starts instances
    /// a later reload adds; every pid file is written).
    #[arg(long = "all")]
    pub all: bool,

    /// lvsd is one process: nothing is respawned. With -R, VRRP failing to run stops lvsd
    /// (as keepalived exits when its VRRP child dies) instead of the director running on alone.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,

    /// Log every address added or removed on this host, as netlink reports it.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,

    /// Check the configuration (syntax, meaning, and this host's interfaces and scripts),
    /// print what is wrong (to LOG_FILE if given) and exit; see EXIT CODES.
    #[arg(
        short = 't',
        long = "config-test",
        value_name = "LOG_FILE",
        num_args = 0..=1,
        require_equals = true
    )]
    pub config_test: Option<Option<PathBuf>>,

    /// Dump the resolved configuration: to the log at start, or with -t as JSON on stdout.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,

    /// Leave IPVS virtual and real servers in place on exit.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,

    /// Main pid file (default /run/keepalived.pid).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// VRRP pid file (default /run/vrrp.pid); lvsd writes its own pid.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<PathBuf>,

    /// Checkers pid file (default /run/checkers.pid); lvsd writes its own pid.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<PathBuf>,

    /// BFD pid file (default /run/bfd.pid); lvsd writes its own pid.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid: Option<PathBuf>,

    /// Run in the network namespace /run/netns/NAME (pid files under
    /// /run/keepalived/keepalived_NAME/).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,

    /// Refuse to start if any configuration file (an include) is missing or unreadable.
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,

    /// SNMP is not implemented: accepted with a warning; use the Prometheus /metrics endpoint.
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,

    /// SNMP agent socket: accepted with a warning (see -x).
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<PathBuf>,

    /// Allow core dumps (RLIMIT_CORE unlimited).
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,

    /// As -m, and set /proc/sys/kernel/core_pattern to PATTERN (default `core`) until exit.
    #[arg(
        short = 'M',
        long = "core-dump-pattern",
        value_name = "PATTERN",
        num_args = 0..=1,
        require_equals = true
    )]
    pub core_dump_pattern: Option<Option<String>>,

    /// Print the number of the signal that performs SIGFUNC (STOP, RELOAD, DATA, STATS,
    /// STATS_CLEAR, JSON) and exit.
    #[arg(long, value_name = "SIGFUNC")]
    pub signum: Option<String>,

    /// keepalived build-time debugging options (--perf, --debug, --no-mem-check): accepted,
    /// no effect in lvsd.
    #[arg(long = "perf", value_name = "WHAT", num_args = 0..=1, require_equals = true, hide = true)]
    pub perf: Option<Option<String>>,
    #[arg(long = "debug", value_name = "OPTIONS", num_args = 0..=1, require_equals = true, hide = true)]
    pub debug: Option<Option<String>>,
    #[arg(long = "no-mem-check", hide = true)]
    pub no_mem_check: bool,

    /// Print the version (keepalived's line, then lvsd's) and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Run the health checkers and report, without changing IPVS.
    #[arg(long = "health-check-only")]
    pub health_check_only: bool,

    /// With -t: also print the IPVS changes the configuration would make on this host.
    #[arg(long, requires = "config_test")]
    pub plan: bool,

    /// Serve /metrics, /status and /healthz (read-only) on this TCP address (suggested:
    /// 127.0.0.1:9165).
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Where operator state (drained / disabled servers) is kept across restarts (lvsd).
    #[arg(
        long = "state-dir",
        env = "LVSD_STATE_DIR",
        value_name = "DIR",
        default_value = crate::director::operator::DEFAULT_DIR
    )]
    pub state_dir: PathBuf,

    /// The control socket `lvsd ctl` uses (default /run/lvsd.sock, beside the pid files).
    #[arg(long = "ctl-socket", value_name = "PATH")]
    pub ctl_socket: Option<PathBuf>,

    /// Leave node_exporter's node_ipvs_* families out of /metrics (when node_exporter's ipvs
    /// collector already scrapes this host); the lvsd_ipvs_* families stay.
    #[arg(long = "metrics-no-node-ipvs")]
    pub metrics_no_node_ipvs: bool,

    /// Group allowed to use the control socket (mode 0660 instead of 0600).
    #[arg(long = "ctl-socket-group", value_name = "GROUP")]
    pub ctl_socket_group: Option<String>,

    /// Accept state-changing requests (POST /reload...) on --metrics-listen from clients
    /// sending `Authorization: Bearer TOKEN`, TOKEN being this file's first line (mode 0600).
    #[arg(
        long = "ctl-token-file",
        value_name = "FILE",
        requires = "metrics_listen"
    )]
    pub ctl_token_file: Option<PathBuf>,

    /// Log line format.
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Which configuration to read: the daemon's flags, repeated on `config` (so both
/// `lvsd -f X config dump` and `lvsd config dump -f X` work).
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigSource {
    /// Configuration file to read [default: /etc/keepalived/keepalived.conf].
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    pub use_file: Option<PathBuf>,

    /// Configuration id selecting `@ID` lines (default: the short host name).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,

    /// Treat every configuration warning as an error.
    #[arg(long)]
    pub strict: bool,
}

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

impl ConfigSource {
    /// `self` completed with what `outer` set.
    pub fn or(&self, outer: &ConfigSource) -> ConfigSource {
        ConfigSource {
            use_file: self.use_file.clone().or_else(|| outer.use_file.clone()),
            config_id: self.config_id.clone().or_else(|| outer.config_id.clone()),
            strict: self.strict || outer.strict,
        }
    }

    pub fn file(&self) -> PathBuf {
        self.use_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}

/// `-S`: keepalived's facility names.
fn parse_facility(s: &str) -> Result<i32, String> {
    let local = [
        libc::LOG_LOCAL0,
        libc::LOG_LOCAL1,
        libc::LOG_LOCAL2,
        libc::LOG_LOCAL3,
        libc::LOG_LOCAL4,
        libc::LOG_LOCAL5,
        libc::LOG_LOCAL6,
        libc::LOG_LOCAL7,
    ];
    let n = s.strip_prefix("local").unwrap_or(s);
    match (s, n.parse::<usize>()) {
        ("user", _) => Ok(libc::LOG_USER),
        ("daemon", _) => Ok(libc::LOG_DAEMON),
        (_, Ok(i)) if i < 8 => Ok(local[i]),
        _ => Err(format!(
            "invalid log facility {s:?}: use 0-7, local0-local7, user or daemon"
        )),
    }
}

/// `-u`: C's numeric forms (`0` prefix octal, `0x` hex, else decimal), as keepalived reads it.
fn parse_umask(s: &str) -> Result<u32, String> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8)
    } else {
        s.parse()
    };
    match v {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("invalid umask {s:?}")),
    }
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
    /// genhash: same options, same output; `lvsd -T ...` too).
    Genhash(crate::genhash::GenhashArgs),
    /// Talk to a running lvsd over its control socket (status, reload).
    Ctl(crate::ctl::CtlArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

impl ConfigArgs {
    /// The configuration the action names, completed with the daemon-level `-f`/`-i`.
    pub fn source(&self, outer: &ConfigSource) -> ConfigSource {
        match &self.action {
            ConfigAction::Dump { source, .. } | ConfigAction::Check { source, .. } => {
                source.or(outer)
            }
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Print the resolved configuration (defaults applied, inheritance resolved).
    Dump {
        /// Print JSON (the model other tools and the API use) instead of a summary.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        source: ConfigSource,
    },
    /// Check the configuration like `-t` (without host checks unless --host).
    Check {
        /// Also check this host's interfaces and scripts.
        #[arg(long)]
        host: bool,
        #[command(flatten)]
        source: ConfigSource,
    },
}

impl Cli {
    /// The log level `-D` asks for.
    pub fn log_level(&self) -> &'static str {
        match self.log_detail {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    }

    /// The configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.source.file()
    }

    /// `-t` given (with or without a log file).
    pub fn is_config_test(&self) -> bool {
        self.config_test.is_some()
    }

    /// The load options these flags ask for.
    pub fn load_options(&self, check_host: bool) -> crate::config::LoadOptions {
        self.source.load_options(check_host)
    }

    /// Warnings for flags that are accepted without (full) effect.
    pub fn compatibility_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.snmp || self.snmp_agent_socket.is_some() {
            w.push(
                "SNMP (-x/-A) is not implemented by lvsd; the same data is served as Prometheus \
                 metrics on /metrics (--metrics-listen ADDR)"
                    .to_string(),
            );
        }
        if self.perf.is_some() || self.debug.is_some() || self.no_mem_check {
            w.push(
                "--perf, --debug and --no-mem-check are keepalived build-time debugging \
                 options; they have no effect in lvsd (use -D for debug logging)"
                    .to_string(),
            );
        }
        w
    }
}

impl ConfigSource {
    pub fn load_options(&self, check_host: bool) -> crate::config::LoadOptions {
        crate::config::LoadOptions {
            config_id: self.config_id.clone(),
            strict: self.strict,
            check_host,
        }
    }
}

/// `-e/--all-config`: the diagnostics that say a configuration file could not be read (they
/// are warnings otherwise, as in keepalived without -e).
pub fn unreadable_files(diags: &[crate::config::Diagnostic]) -> Vec<&crate::config::Diagnostic> {
    diags
        .iter()
        .filter(|d| {
            (d.message.starts_with("include `") && d.message.contains("matches no file"))
                || d.message.starts_with("cannot read configuration file")
        })
        .collect()
}

/// `-v/--version`: keepalived's first line (tools parse it for the version they talk to),
/// then lvsd's, then the kernel, as keepalived prints it (on stderr, exit 0).
pub fn version_text() -> String {
    let uts = nix::sys::utsname::uname().ok();
    let kernel = uts
        .map(|u| {
            format!(
                "{} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.version().to_string_lossy()
            )
        })
        .unwrap_or_default();
    format!(
        "Keepalived v{KEEPALIVED_VERSION} (01/16,2022)\n\n\
         lvsd {} - a drop-in replacement for keepalived {KEEPALIVED_VERSION}\n\
         Running on {kernel}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `lvsd -T ...`: keepalived's genhash mode.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "lvsd -T",
    about = "keepalived's genhash mode (same as `lvsd genhash`)"
)]
pub struct GenhashCli {
    #[command(flatten)]
    pub args: crate::genhash::GenhashArgs,
}

/// The keepalived release whose behaviour lvsd follows.
pub const KEEPALIVED_VERSION: &str = "2.2.7";

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
    run_config_test_of(&cli.source, check_host, cli.dump_conf, cli.all_config)
}

/// `-t` on `source`; with `all_config` an unreadable file refuses the configuration.
pub fn run_config_test_of(
    source: &ConfigSource,
    check_host: bool,
    dump: bool,
    all_config: bool,
) -> anyhow::Result<u8> {
    let file = source.file();
    match crate::config::load(&file, &source.load_options(check_host)) {
        Ok(loaded) => {
            print_diagnostics(&loaded.diagnostics);
            let refused = all_config && !unreadable_files(&loaded.diagnostics).is_empty();
            if refused {
                eprintln!(
                    "{}: configuration refused: a file is missing (-e)",
                    file.display()
                );
            } else {
                eprintln!("{}", summary(&file, &loaded.diagnostics));
            }
            if dump && !refused {
                println!("{}", crate::dump::config_json(&loaded.config)?);
            }
            Ok(config_test_exit_code(&loaded.diagnostics, refused))
        }
        Err(e) => {
            print_diagnostics(&e.diagnostics);
            eprintln!("{}", summary(&file, &e.diagnostics));
            Ok(config_test_exit_code(&e.diagnostics, true))
        }
    }
}

/// `config dump [--json]`: the resolved model; warnings go to stderr.
pub fn run_config_dump(source: &ConfigSource, json: bool) -> anyhow::Result<u8> {
    let file = source.file();
    let loaded = match crate::config::load(&file, &source.load_options(false)) {
        Ok(l) => l,
        Err(e) => {
            print_diagnostics(&e.diagnostics);
            eprintln!("{}", summary(&file, &e.diagnostics));
            return Ok(EXIT_CONFIG_REFUSED);
        }
    };
    print_diagnostics(&loaded.diagnostics);
    let out = if json {
        crate::dump::config_json(&loaded.config)?
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

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keepalived_flags_parse() {
        let c = parse(&[
            "lvsd", "-t", "-f", "x.conf", "-n", "-l", "-D", "-i", "main", "--strict",
        ]);
        assert!(c.is_config_test() && c.dont_fork && c.log_console && c.log_detail == 1);
        assert_eq!(parse(&["lvsd", "-DD"]).log_detail, 2);
        assert_eq!(
            parse(&["lvsd", "-g", "-n"]).log_file,
            Some(PathBuf::from("/tmp/keepalived.log"))
        );
        assert!(c.source.strict);
        assert_eq!(c.config_file(), PathBuf::from("x.conf"));
        assert_eq!(c.source.config_id.as_deref(), Some("main"));
        let c = parse(&["lvsd", "--use-file=/a", "--config-test", "--dump-conf"]);
        assert!(c.is_config_test() && c.dump_conf);
        assert!(c.command.is_none());
        let c = parse(&["lvsd", "--config-test=/tmp/t.log"]);
        assert_eq!(c.config_test, Some(Some(PathBuf::from("/tmp/t.log"))));
        let c = parse(&["lvsd", "-t=/tmp/t.log"]);
        assert_eq!(c.config_test, Some(Some(PathBuf::from("/tmp/t.log"))));
    }

    #[test]
    fn every_keepalived_2_2_7_flag_is_accepted() {
        let c = parse(&[
            "lvsd",
            "-P",
            "-B",
            "--all",
            "-l",
            "-D",
            "-S",
            "local3",
            "-g",
            "/tmp/l.log",
            "--flush-log-file",
            "-G",
            "-u",
            "0077",
            "-X",
            "-V",
            "-I",
            "-R",
            "-n",
            "-d",
            "-p",
            "/tmp/m.pid",
            "-r",
            "/tmp/v.pid",
            "-c",
            "/tmp/c.pid",
            "-a",
            "-b",
            "/tmp/b.pid",
            "-s",
            "blue",
            "-e",
            "-i",
            "id",
            "-x",
            "-A",
            "/tmp/agentx",
            "-m",
            "-M=core.%p",
            "--perf=all",
            "--debug=DvEcvNR",
            "--no-mem-check",
        ]);
        assert_eq!(c.log_facility, Some(libc::LOG_LOCAL3));
        assert_eq!(c.umask, Some(0o077));
        assert!(c.dont_release_vrrp && c.release_vips && c.dont_respawn && c.no_bfd && c.all);
        assert!(c.address_monitoring && c.all_config && c.no_syslog && c.flush_log_file);
        assert_eq!(c.pid_file, Some(PathBuf::from("/tmp/m.pid")));
        assert_eq!(c.bfd_pid, Some(PathBuf::from("/tmp/b.pid")));
        assert_eq!(c.namespace.as_deref(), Some("blue"));
        assert_eq!(c.core_dump_pattern, Some(Some("core.%p".into())));
        assert_eq!(c.compatibility_warnings().len(), 2);
        assert!(c.compatibility_warnings()[0].contains("/metrics"));
        let c = parse(&["lvsd", "-v"]);
        assert!(c.version);
        let c = parse(&["lvsd", "-M"]);
        assert_eq!(c.core_dump_pattern, Some(None));
    }

    #[test]
    fn facilities_and_umasks_read_as_keepalived() {
        assert_eq!(parse_facility("0"), Ok(libc::LOG_LOCAL0));
        assert_eq!(parse_facility("7"), Ok(libc::LOG_LOCAL7));
        assert_eq!(parse_facility("local5"), Ok(libc::LOG_LOCAL5));
        assert_eq!(parse_facility("user"), Ok(libc::LOG_USER));
        assert_eq!(parse_facility("daemon"), Ok(libc::LOG_DAEMON));
        assert!(parse_facility("8").is_err() && parse_facility("kern").is_err());
        assert_eq!(parse_umask("022"), Ok(0o22));
        assert_eq!(parse_umask("0"), Ok(0));
        assert_eq!(parse_umask("18"), Ok(18));
        assert_eq!(parse_umask("0x12"), Ok(0o22));
        assert!(parse_umask("0999").is_err() && parse_umask("01000").is_err());
    }

    #[test]
    fn version_starts_with_keepalived_line() {
        let v = version_text();
        assert!(v.starts_with("Keepalived v2.2.7 "), "{v}");
        assert!(
            v.contains(concat!("lvsd ", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
    }

    #[test]
    fn defaults_match_keepalived() {
        let c = parse(&["lvsd"]);
        assert_eq!(
            c.config_file(),
            PathBuf::from("/etc/keepalived/keepalived.conf")
        );
        assert!(!c.is_config_test());
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
        let c = parse(&["lvsd", "config", "dump", "--json", "-f", "k.conf"]);
        let Some(Command::Config(args)) = &c.command else {
            panic!("{c:?}");
        };
        assert!(matches!(args.action, ConfigAction::Dump { json: true, .. }));
        assert_eq!(args.source(&c.source).file(), PathBuf::from("k.conf"));
        let c = parse(&["lvsd", "-f", "a.conf", "config", "check"]);
        let Some(Command::Config(args)) = &c.command else {
            panic!("{c:?}");
        };
        assert_eq!(args.source(&c.source).file(), PathBuf::from("a.conf"));
    }

    #[test]
    fn ctl_and_genhash_help_list_only_their_options() {
        let mut cmd = Cli::command();
        for (sub, absent) in [
            (
                "ctl",
                ["--use-file", "--strict", "--log-format", "--config-id"],
            ),
            (
                "genhash",
                ["--use-file", "--strict", "--log-format", "--config-id"],
            ),
        ] {
            let help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            for a in absent {
                assert!(!help.contains(a), "`lvsd {sub} --help` lists {a}:\n{help}");
            }
        }
    }
}
