//! Writes the lvsd man pages (roff) from the clap definitions: `lvsd.8` for the daemon and its
//! flags, with SIGNALS, FILES, EXIT STATUS, EXAMPLES and SEE ALSO sections, plus one page per
//! subcommand at every level (`lvsd-ctl.8`, `lvsd-ctl-status.8`, ...), so every page a
//! SUBCOMMANDS list cites exists. Packaging runs it before `cargo deb`:
//!
//! `cargo run --example gen-man -- target/man`

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Roff text: backslashes doubled, hyphens as `\-` (so options copy and paste), and a line that
/// would start with a control character protected.
fn esc(s: &str) -> String {
    let t = s.replace('\\', "\\\\").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// A section of `(term, text)` paragraphs (`.TP`), terms in bold.
fn tagged(title: &str, items: &[(&str, &str)]) -> String {
    let mut o = format!(".SH {title}\n");
    for (term, text) in items {
        o.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(term), esc(text)));
    }
    o
}

/// An example: what it does, then the command in a no-fill block.
fn examples(items: &[(&str, &str)]) -> String {
    let mut o = String::from(".SH EXAMPLES\n");
    for (what, cmd) in items {
        o.push_str(&format!(
            ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
            esc(what),
            esc(cmd)
        ));
    }
    o
}

const SIGNALS: &[(&str, &str)] = &[
    (
        "SIGHUP",
        "Reload the configuration. A configuration with errors is reported in the log, counted \
         in lvsd_config_reloads_total{result=\"failure\"} and shown by lvsd ctl status; the \
         running configuration stays in force.",
    ),
    (
        "SIGTERM, SIGINT",
        "Stop: VRRP instances resign (priority 0 adverts), their addresses are removed, \
         notify_stop scripts run, and the IPVS services lvsd programmed are removed (kept with \
         -I). Exit status 0.",
    ),
    (
        "SIGUSR1",
        "Write /tmp/keepalived.data (VRRP), /tmp/keepalived_check.data (LVS topology) and \
         /tmp/keepalived_parent.data, in keepalived's layout.",
    ),
    (
        "SIGUSR2",
        "Write /tmp/keepalived.stats (VRRP counters, keepalived's layout).",
    ),
    (
        "SIGRTMIN+2 (36 with glibc)",
        "Write /tmp/keepalived.json. lvsd --signum=JSON prints the number, as \
         keepalived does: kill -s $(lvsd --signum=JSON) $(pidof lvsd).",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "/etc/keepalived/keepalived.conf",
        "The configuration (keepalived.conf(5) syntax), unless -f names another.",
    ),
    (
        "/etc/default/lvsd",
        "LVSD_OPTIONS: extra options for lvsd.service.",
    ),
    (
        "/etc/default/keepalived",
        "DAEMON_ARGS: keepalived's options, also read by lvsd.service so a migrated director \
         keeps its flags.",
    ),
    (
        "/lib/systemd/system/lvsd.service",
        "The systemd unit (Type=notify, watchdog, systemctl reload sends SIGHUP).",
    ),
    (
        "/tmp/keepalived.data, /tmp/keepalived_check.data, /tmp/keepalived_parent.data, \
         /tmp/keepalived.stats, /tmp/keepalived.json",
        "State dumps written on SIGUSR1, SIGUSR2 and SIGRTMIN+2 (mode 0600).",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success; with -t: the configuration is clean."),
    (
        "1",
        "Runtime failure (for example IPVS or netlink unavailable).",
    ),
    ("2", "Bad command line."),
    (
        "4",
        "With -t: configuration refused (errors, or file not found).",
    ),
    (
        "5",
        "With -t: configuration has warnings (it would still run).",
    ),
    ("6", "With -t: script security problem."),
];

const EXAMPLES: &[(&str, &str)] = &[
    (
        "Check a configuration as keepalived -t does (exit status 0 only when clean):",
        "lvsd -t -f /etc/keepalived/keepalived.conf",
    ),
    (
        "Show the IPVS changes the configuration would make on this host:",
        "lvsd -t --plan -f /etc/keepalived/keepalived.conf",
    ),
    (
        "Run in the foreground, logging to the console, with the metrics endpoint:",
        "lvsd -n -l -f /etc/keepalived/keepalived.conf --metrics-listen 127.0.0.1:9165",
    ),
    (
        "Run the health checkers only, changing nothing in the kernel:",
        "lvsd --health-check-only -f /etc/keepalived/keepalived.conf",
    ),
    (
        "Ask a running lvsd for its state, and reload it:",
        "lvsd ctl status\nlvsd ctl reload",
    ),
    (
        "Write keepalived's JSON dump, as scripts written for keepalived do:",
        "kill -s $(lvsd --signum=JSON) $(pidof lvsd)\ncat /tmp/keepalived.json",
    ),
    (
        "Compute an HTTP_GET digest, as keepalived's genhash:",
        "lvsd genhash -s 10.0.0.2 -p 80 -u /index.html",
    ),
];

/// SEE ALSO for a page: the daemon page, the other pages, keepalived's.
fn see_also(name: &str, all: &[String]) -> String {
    let mut refs: Vec<String> = all
        .iter()
        .filter(|n| n.as_str() != name)
        .map(|n| format!("\\fB{}\\fR(8)", esc(n)))
        .collect();
    refs.extend(
        [
            "keepalived.conf(5)",
            "keepalived(8)",
            "ipvsadm(8)",
            "systemd.service(5)",
        ]
        .map(|r| {
            let (n, s) = r.split_once('(').unwrap_or((r, ""));
            format!("\\fB{n}\\fR({s}")
        }),
    );
    format!(".SH SEE ALSO\n{}\n", refs.join(",\n"))
}

/// Every page: (file name, command with its display name set), depth first.
fn pages(cmd: &clap::Command, name: &str, bin: &str, out: &mut Vec<(String, clap::Command)>) {
    let cmd = cmd
        .clone()
        .disable_help_subcommand(true)
        .display_name(name.to_string())
        .bin_name(bin.to_string());
    out.push((name.to_string(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            &format!("{bin} {}", sub.get_name()),
            out,
        );
    }
}

fn render(name: &str, cmd: clap::Command, all: &[String]) -> std::io::Result<Vec<u8>> {
    let has_subs = cmd.get_subcommands().next().is_some();
    let has_version = cmd.get_version().is_some();
    let man = clap_mangen::Man::new(cmd)
        .title(name)
        .section("8")
        .manual("lvsd")
        .source(format!("lvsd {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    if has_subs {
        man.render_subcommands_section(&mut buf)?;
    }
    if name == "lvsd" {
        // The daemon page: what operators of keepalived look up in keepalived(8).
        buf.write_all(tagged("SIGNALS", SIGNALS).as_bytes())?;
        buf.write_all(tagged("FILES", FILES).as_bytes())?;
        buf.write_all(tagged("EXIT STATUS", EXIT_STATUS).as_bytes())?;
        buf.write_all(examples(EXAMPLES).as_bytes())?;
    } else {
        buf.write_all(tagged("EXIT STATUS", &EXIT_STATUS[..3]).as_bytes())?;
    }
    buf.write_all(see_also(name, all).as_bytes())?;
    if has_version {
        man.render_version_section(&mut buf)?;
    }
    Ok(buf)
}

/// Renders every page into `dir`; returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let mut all = Vec::new();
    pages(&lvsd::cli::Cli::command(), "lvsd", "lvsd", &mut all);
    let names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
    let mut written = Vec::new();
    for (name, cmd) in all {
        let path = dir.join(format!("{name}.8"));
        std::fs::write(&path, render(&name, cmd, &names)?)?;
        written.push(path);
    }
    Ok(written)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| "target/man".into());
    for p in write_man_pages(&dir)? {
        println!("{}", p.display());
    }
    Ok(())
}
