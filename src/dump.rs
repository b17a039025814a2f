//! keepalived-compatible state dumps, for the tools that signal keepalived and read its files:
//! SIGUSR1 writes `/tmp/keepalived.data` (VRRP), `/tmp/keepalived_check.data` (LVS topology) and
//! `/tmp/keepalived_parent.data` (global definitions), SIGUSR2 `/tmp/keepalived.stats`, and the
//! JSON signal (`lvsd --signum=JSON`, SIGRTMIN+2 as in keepalived) `/tmp/keepalived.json`.
//!
//! The layouts follow what keepalived 2.2.7 writes (tests/dump_vs_keepalived.rs runs both daemons
//! on one config and compares the files field by field; tests/dump.rs checks recorded dumps): the
//! same section titles, `key = value` lines and indentation in the data files, the same counter
//! sections in the stats file, and every key of keepalived's JSON in keepalived's order. VIPs
//! are printed as keepalived prints them (no /32, the address's own `dev`). In the data file,
//! keepalived internals lvsd has no counterpart for (fault counters, timers, socket numbers) are
//! left out rather than invented; JSON keys for options lvsd does not act on carry keepalived's
//! defaults, so parsers that expect every key keep working. The render functions are pure;
//! [`write_dump`] and [`spawn_signal_handlers`] are the I/O edge.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::dump_global::Process;
use crate::status::{Status, VrrpInstanceStatus, VrrpState};
use crate::vrrp::{InstanceConfig, Vip, config::AuthKind};

/// Where keepalived writes its dumps; the daemon passes this to [`spawn_signal_handlers`].
pub const DUMP_DIR: &str = "/tmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    Data,
    Stats,
    Json,
}

impl DumpKind {
    /// keepalived's file name for this dump.
    pub fn file_name(self) -> &'static str {
        match self {
            DumpKind::Data => "keepalived.data",
            DumpKind::Stats => "keepalived.stats",
            DumpKind::Json => "keepalived.json",
        }
    }

    pub fn render(self, status: &Status) -> String {
        match self {
            DumpKind::Data => render_data(status),
            DumpKind::Stats => render_stats(status),
            DumpKind::Json => render_json(status),
        }
    }

    /// Every file this signal writes, as keepalived's processes do: for DATA the VRRP process
    /// writes `keepalived.data`, the checker `keepalived_check.data` and the parent
    /// `keepalived_parent.data`.
    pub fn files(self, status: &Status) -> Vec<(&'static str, String)> {
        match self {
            DumpKind::Data => vec![
                ("keepalived_parent.data", render_parent_data(status)),
                ("keepalived.data", render_data(status)),
                ("keepalived_check.data", render_check_data(status)),
            ],
            _ => vec![(self.file_name(), self.render(status))],
        }
    }
}

/// The signal keepalived uses for the JSON dump: SIGRTMIN+2 (36 with glibc).
pub fn sigjson() -> i32 {
    libc::SIGRTMIN() + 2
}

/// The signal keepalived uses for STATS_CLEAR: SIGRTMAX-1 (63 with glibc).
pub fn sigstats_clear() -> i32 {
    libc::SIGRTMAX() - 1
}

/// `--signum=NAME`: the signal number keepalived would print for that function, so scripts doing
/// `kill -s $(lvsd --signum=JSON) $(pidof lvsd)` keep working. Names are case-sensitive, as in
/// keepalived. `TDATA` is not offered (keepalived 2.2.7 as Debian builds it has none either).
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "JSON" => sigjson(),
        "STATS_CLEAR" => sigstats_clear(),
        "RELOAD" => libc::SIGHUP,
        "STOP" => libc::SIGTERM,
        _ => return None,
    })
}

/// Prints the answer to `--signum=NAME` like keepalived: the number on stdout, or
/// `Unknown sigfunc NAME` on stderr with exit status 1.
pub fn print_signum(name: &str) -> ExitCode {
    match signum(name) {
        Some(n) => {
            println!("{n}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("Unknown sigfunc {name}");
            ExitCode::FAILURE
        }
    }
}

fn state_name(s: VrrpState) -> &'static str {
    match s {
        VrrpState::Init => "INIT",
        VrrpState::Backup => "BACKUP",
        VrrpState::Master => "MASTER",
        VrrpState::Fault => "FAULT",
    }
}

/// keepalived's "seconds.micros (ctime with micros)" timestamp, in UTC.
fn timestamp(unix_us: u64) -> String {
    let (secs, micros) = (unix_us / 1_000_000, unix_us % 1_000_000);
    format!("{secs}.{micros:06} ({})", ctime_utc(secs, micros))
}

/// When the instance entered its state, microseconds (from milliseconds when that is all the
/// producer published).
fn since_us(v: &VrrpInstanceStatus) -> u64 {
    if v.since_unix_us != 0 {
        v.since_unix_us
    } else {
        v.since_unix_ms * 1000
    }
}

/// `Tue Nov 24 13:46:01.215565 2026` (UTC).
fn ctime_utc(secs: u64, micros: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02}.{micros:06} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

/// The configuration of the instance a status entry belongs to, when the VRRP runtime published
/// it (it always does; tests may leave it out).
fn instance_cfg<'a>(status: &'a Status, name: &str) -> Option<&'a InstanceConfig> {
    status.vrrp_config.instances.iter().find(|i| i.name == name)
}

/// One virtual address as keepalived prints it in both dumps:
/// `10.0.0.1/24 dev eth0 scope global set` — no prefix length for a host address (/32, /128),
/// the address's own `dev` (else the instance's interface), the IPv6 preferred lifetime,
/// and ` set` while it is installed.
pub fn vip_text(vip: &Vip, interface: &str, set: bool) -> String {
    let mut o = vip.addr.to_string();
    let host = if vip.addr.is_ipv4() { 32 } else { 128 };
    if vip.prefix != host {
        let _ = write!(o, "/{}", vip.prefix);
    }
    if let Some(b) = vip.brd {
        let _ = write!(o, " brd {b}");
    }
    let _ = write!(o, " dev {}", vip.dev.as_deref().unwrap_or(interface));
    let scope = match vip.scope {
        None | Some(0) => "global".to_string(),
        Some(200) => "site".into(),
        Some(253) => "link".into(),
        Some(254) => "host".into(),
        Some(255) => "nowhere".into(),
        Some(n) => n.to_string(),
    };
    let _ = write!(o, " scope {scope}");
    if let Some(l) = &vip.label {
        let _ = write!(o, " label {l}");
    }
    if vip.addr.is_ipv6() {
        match vip.preferred_lft() {
            0 => o.push_str(" deprecated"),
            u32::MAX => o.push_str(" preferred_lft forever"),
            n => {
                let _ = write!(o, " preferred_lft {n}");
            }
        }
    }
    if set {
        o.push_str(" set");
    }
    o
}

/// The VIPs (or, with `excluded`, the `virtual_ipaddress_excluded` ones) of an instance in
/// keepalived's form. Without a published configuration, the status's `addr/prefix` strings.
fn vip_texts(status: &Status, v: &VrrpInstanceStatus, excluded: bool) -> Vec<String> {
    let set = v.state == VrrpState::Master;
    match instance_cfg(status, &v.name) {
        Some(c) => {
            let list = if excluded { &c.vips_excluded } else { &c.vips };
            list.iter()
                .map(|a| vip_text(a, &v.interface, set))
                .collect()
        }
        None if excluded => Vec::new(),
        None => v
            .vips
            .iter()
            .map(|a| {
                let vip = a.parse::<ipnet_lite::Net>().ok();
                match vip {
                    Some(n) => vip_text(&n.into_vip(), &v.interface, set),
                    None => a.clone(),
                }
            })
            .collect(),
    }
}

/// The `(ip_address, intf)` pairs keepalived-exporter takes from each VIP line (its first and
/// third words): the address as keepalived prints it (prefix kept unless /32 or /128) and the
/// VIP's own device. `excluded` selects `virtual_ipaddress_excluded`.
pub fn vip_labels(
    status: &Status,
    v: &VrrpInstanceStatus,
    excluded: bool,
) -> Vec<(String, String)> {
    vip_texts(status, v, excluded)
        .iter()
        .filter_map(|t| {
            let mut w = t.split(' ');
            let addr = w.next()?;
            let dev = w.nth(1)?;
            Some((addr.to_string(), dev.to_string()))
        })
        .collect()
}

/// A small `addr/prefix` parser for status strings (no extra crate for this).
mod ipnet_lite {
    use std::net::IpAddr;

    pub struct Net(IpAddr, u8);

    impl std::str::FromStr for Net {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let (a, p) = s.split_once('/').unwrap_or((s, ""));
            let addr: IpAddr = a.parse().map_err(|_| ())?;
            let host = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = if p.is_empty() {
                host
            } else {
                p.parse().map_err(|_| ())?
            };
            Ok(Net(addr, prefix))
        }
    }

    impl Net {
        pub fn into_vip(self) -> crate::vrrp::Vip {
            crate::vrrp::Vip {
                prefix: self.1,
                ..crate::vrrp::Vip::new(self.0)
            }
        }
    }
}

/// keepalived's `Advert interval` line: whole seconds for VRRPv2, milliseconds for VRRPv3.
fn advert_interval_text(c: &InstanceConfig) -> String {
    let d = c.effective_advert_int();
    if c.version == 3 {
        format!("{} milli-sec", d.as_millis())
    } else {
        format!("{} sec", d.as_secs())
    }
}

fn auth_type_code(c: &InstanceConfig) -> u8 {
    // keepalived ignores authentication for VRRPv3 and reports it as none.
    match (c.version, c.auth_type) {
        (3, _) | (_, AuthKind::None) => 0,
        (_, AuthKind::Pass) => 1,
        (_, AuthKind::Ah) => 2,
    }
}

/// `/tmp/keepalived.data`: the VRRP process's dump.
pub fn render_data(status: &Status) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_global(&mut o, status, Process::Vrrp).and_then(|()| write_vrrp(&mut o, status));
    o
}

/// `/tmp/keepalived_check.data`: the checker process's dump (the LVS topology).
pub fn render_check_data(status: &Status) -> String {
    let mut o = String::new();
    let _ = write_global(&mut o, status, Process::Checker).and_then(|()| write_lvs(&mut o, status));
    o
}

/// `/tmp/keepalived_parent.data`: the parent process's dump (global definitions).
pub fn render_parent_data(status: &Status) -> String {
    let mut o = String::new();
    let _ = write_global(&mut o, status, Process::Parent);
    o
}

fn write_global(o: &mut String, status: &Status, p: Process) -> std::fmt::Result {
    let g = &status.global_defs;
    crate::dump_global::write(o, g, &crate::dump_global::HostFacts::read(g), p)
}

/// Keeps the hub's `global_defs` on the running configuration's (for the dumps).
pub fn follow_global_defs(
    mut configs: tokio::sync::watch::Receiver<Option<crate::daemon::Model>>,
    hub: crate::status::StatusHub,
) {
    tokio::spawn(async move {
        loop {
            let g = configs
                .borrow_and_update()
                .as_ref()
                .map(|m| std::sync::Arc::new(m.0.global.clone()));
            if let Some(g) = g {
                hub.global_defs.send_replace(g);
            }
            if configs.changed().await.is_err() {
                return;
            }
        }
    });
}

fn write_vrrp(o: &mut String, status: &Status) -> std::fmt::Result {
    writeln!(o, "------< VRRP Topology >------")?;
    for v in &status.vrrp {
        let cfg = instance_cfg(status, &v.name);
        writeln!(o, " VRRP Instance = {}", v.name)?;
        writeln!(o, "   VRRP Version = {}", v.version)?;
        if v.family == "inet6" {
            writeln!(o, "   Using Native IPv6")?;
        }
        writeln!(o, "   State = {}", state_name(v.state))?;
        writeln!(o, "   Wantstate = {}", state_name(v.state))?;
        writeln!(o, "   Last transition = {}", timestamp(since_us(v)))?;
        writeln!(o, "   Interface = {}", v.interface)?;
        if let Some(c) = cfg {
            write_garp(o, c)?;
            // lvsd declares the master down after three advert intervals, as keepalived does.
            writeln!(o, "   Down timer adverts = 3")?;
        }
        if v.state != VrrpState::Master
            && let Some(m) = v.master_addr
        {
            writeln!(o, "   Master router = {m}")?;
        }
        writeln!(o, "   Virtual Router ID = {}", v.vrid)?;
        writeln!(o, "   Priority = {}", v.base_priority)?;
        writeln!(o, "   Effective priority = {}", v.effective_priority)?;
        writeln!(o, "   Total priority = {}", v.effective_priority)?;
        if let Some(c) = cfg {
            write_instance_options(o, c)?;
        }
        let vips = vip_texts(status, v, false);
        writeln!(o, "   Virtual IP ({}):", vips.len())?;
        for vip in &vips {
            writeln!(o, "     {vip}")?;
        }
        let evips = vip_texts(status, v, true);
        if !evips.is_empty() {
            writeln!(o, "   Virtual IP Excluded :")?;
            for vip in &evips {
                writeln!(o, "     {vip}")?;
            }
        }
        if let Some(c) = cfg.filter(|c| !c.track_interfaces.is_empty()) {
            writeln!(o, "   Tracked interfaces :")?;
            for t in &c.track_interfaces {
                writeln!(o, "     {} weight {}", t.name, t.weight.unwrap_or(0))?;
            }
        }
        if let Some(c) = cfg.filter(|c| !c.track_scripts.is_empty()) {
            writeln!(o, "   Tracked scripts :")?;
            for t in &c.track_scripts {
                writeln!(o, "     {} weight {}", t.name, track_weight(status, t))?;
            }
        }
        // lvsd sends no SMTP alerts.
        writeln!(o, "   Using smtp notification = no")?;
    }
    writeln!(o, "------< VRRP Scripts >------")?;
    for s in &status.vrrp_scripts {
        writeln!(o, " VRRP Script = {}", s.name)?;
        let cfg = status.vrrp_config.scripts.iter().find(|c| c.name == s.name);
        if let Some(c) = cfg {
            writeln!(o, "   Command = {}", quoted_command(&c.script))?;
            writeln!(o, "   Interval = {} sec", c.interval.as_secs())?;
            writeln!(o, "   Rise = {}", c.rise)?;
            writeln!(o, "   Fall = {}", c.fall)?;
        }
        writeln!(o, "   Status = {}", if s.ok { "GOOD" } else { "BAD" })?;
        writeln!(
            o,
            "   State = {}",
            if s.running { "running" } else { "idle" }
        )?;
    }
    Ok(())
}

fn write_garp(o: &mut String, c: &InstanceConfig) -> std::fmt::Result {
    writeln!(
        o,
        "   Gratuitous ARP delay = {}",
        c.garp_master_delay.as_secs()
    )?;
    writeln!(o, "   Gratuitous ARP repeat = {}", c.garp_master_repeat)?;
    writeln!(o, "   Gratuitous ARP refresh = {}", garp_refresh_secs(c))?;
    writeln!(
        o,
        "   Gratuitous ARP refresh repeat = {}",
        c.garp_master_refresh_repeat
    )
}

fn write_instance_options(o: &mut String, c: &InstanceConfig) -> std::fmt::Result {
    writeln!(o, "   Advert interval = {}", advert_interval_text(c))?;
    let on = |b: bool| if b { "enabled" } else { "disabled" };
    writeln!(o, "   Accept = {}", on(c.accept))?;
    writeln!(o, "   Preempt = {}", on(c.preempt))?;
    if !c.preempt_delay.is_zero() {
        writeln!(o, "   Preempt delay = {} secs", c.preempt_delay.as_secs())?;
    }
    writeln!(o, "   Promote_secondaries = {}", on(c.promote_secondaries))?;
    if c.version != 3 {
        let kind = match auth_type_code(c) {
            1 => "SIMPLE_PASSWORD",
            2 => "IPSEC_AH",
            _ => "none",
        };
        writeln!(o, "   Authentication type = {kind}")?;
        // keepalived prints it too; the file is mode 0600.
        if auth_type_code(c) == 1 {
            writeln!(o, "   Password = {}", c.auth_pass)?;
        }
    }
    Ok(())
}

fn garp_refresh_secs(c: &InstanceConfig) -> u64 {
    c.garp_master_refresh.map_or(0, |d| d.as_secs())
}

/// The weight a tracked script contributes: the instance's own, else the script's.
fn track_weight(status: &Status, t: &crate::vrrp::Tracked) -> i32 {
    t.weight.unwrap_or_else(|| {
        status
            .vrrp_config
            .scripts
            .iter()
            .find(|s| s.name == t.name)
            .map_or(0, |s| s.weight)
    })
}

/// keepalived prints a script command word by word, each in single quotes, with the program
/// resolved to its real path: `'/usr/bin/true'`.
fn quoted_command(script: &checkers::Script) -> String {
    let mut words = script.argv.iter();
    let mut out = Vec::new();
    if let Some(prog) = words.next() {
        let real = std::fs::canonicalize(prog)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| prog.clone());
        out.push(format!("'{real}'"));
    }
    out.extend(words.map(|w| format!("'{w}'")));
    out.join(" ")
}

fn write_lvs(o: &mut String, status: &Status) -> std::fmt::Result {
    if status.virtual_servers.is_empty() {
        return Ok(());
    }
    writeln!(o, "------< LVS Topology >------")?;
    writeln!(o, " System is compiled with LVS v1.2.1")?;
    for vs in &status.virtual_servers {
        writeln!(o, " ------< Virtual server >------")?;
        let (proto, rest) = vs.key.split_once(' ').unwrap_or(("", vs.key.as_str()));
        match (proto, rest.parse::<std::net::SocketAddr>()) {
            ("FWM", _) => writeln!(o, " VS FWMARK = {rest}")?,
            (_, Ok(a)) => writeln!(o, " VS VIP = {}, VPORT = {}", a.ip(), a.port())?,
            _ => writeln!(o, " VS = {}", vs.key)?,
        }
        writeln!(o, "   lvs_sched = {}", vs.scheduler)?;
        let protocol = if proto == "FWM" { "none" } else { proto };
        writeln!(o, "   protocol = {protocol}")?;
        writeln!(o, "   quorum_state_up = {}", u8::from(vs.quorum_up))?;
        // lvsd's own: which side of the quorum is in the table.
        writeln!(o, "   live weight = {}", vs.live_weight)?;
        writeln!(
            o,
            "   sorry server in use = {}",
            if vs.sorry_server_active { "yes" } else { "no" }
        )?;
        for rs in &vs.real_servers {
            writeln!(o, "   ------< Real server >------")?;
            let ip = rs.address;
            writeln!(
                o,
                "   RIP = {ip}, RPORT = {}, WEIGHT = {w} EFF WEIGHT = {w}",
                rs.port,
                w = rs.weight
            )?;
            writeln!(o, "   effective weight = {}", rs.weight)?;
            writeln!(o, "   alive = {}", u8::from(rs.up))?;
            if let Some(f) = &rs.last_failure {
                writeln!(o, "   last failure = {f}")?;
            }
        }
    }
    Ok(())
}

/// `/tmp/keepalived.stats`.
pub fn render_stats(status: &Status) -> String {
    let mut o = String::new();
    for v in &status.vrrp {
        let c = &v.counters;
        let _ = write!(
            o,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  \
             Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    \
             TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}\n  \
             Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}\n  \
             Priority Zero:\n    Received: {}\n    Sent: {}\n",
            v.name,
            c.advert_rcvd,
            c.advert_sent,
            c.become_master,
            c.release_master,
            c.packet_len_err,
            c.ip_ttl_err,
            c.invalid_type_rcvd,
            c.advert_interval_err,
            c.addr_list_err,
            c.invalid_authtype,
            c.authtype_mismatch,
            c.auth_failure,
            c.pri_zero_rcvd,
            c.pri_zero_sent,
        );
    }
    o
}

/// A JSON object whose keys stay in the order given (keepalived's order), without switching
/// serde_json to `preserve_order` for the whole program.
struct Ordered(Vec<(&'static str, Value)>);

impl Ordered {
    fn to_json(&self) -> String {
        let mut o = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            match v {
                // Seconds with exactly six decimals, as keepalived prints them (an f64 would
                // round the last digit away).
                Value::String(us) if *k == "last_transition" => {
                    let _ = write!(o, "{}:{us}", Value::from(*k));
                }
                v => {
                    let _ = write!(o, "{}:{v}", Value::from(*k));
                }
            }
        }
        o.push('}');
        o
    }
}

/// The `data` object keepalived writes for one instance, keys in keepalived 2.2.7's order.
fn json_data(status: &Status, v: &VrrpInstanceStatus) -> Ordered {
    let c = instance_cfg(status, &v.name).cloned().unwrap_or_default();
    let state = v.state.as_gauge();
    let master = v.state == VrrpState::Master;
    let secs = |d: std::time::Duration| -> Value {
        // Whole seconds print as integers (`1`), fractions as keepalived's `0.5`.
        if d.subsec_nanos() == 0 {
            json!(d.as_secs())
        } else {
            json!(d.as_secs_f64())
        }
    };
    let adver = c.effective_advert_int();
    let mut f: Vec<(&'static str, Value)> = vec![
        ("iname", json!(v.name)),
        ("dont_track_primary", json!(u8::from(c.dont_track_primary))),
        (
            "skip_check_adv_addr",
            json!(u8::from(c.skip_check_adv_addr)),
        ),
        // keepalived's default (the instance's strict mode is applied at load).
        ("strict_mode", json!(0)),
        ("vmac_ifname", json!(c.use_vmac.clone().unwrap_or_default())),
        ("ifp_ifname", json!(v.interface)),
        ("master_priority", json!(v.master_priority)),
        (
            "last_transition",
            json!(format!(
                "{}.{:06}",
                since_us(v) / 1_000_000,
                since_us(v) % 1_000_000
            )),
        ),
        ("garp_delay", json!(c.garp_master_delay.as_secs())),
        ("garp_refresh", json!(garp_refresh_secs(&c))),
        ("garp_rep", json!(c.garp_master_repeat)),
        ("garp_refresh_rep", json!(c.garp_master_refresh_repeat)),
        (
            "garp_lower_prio_delay",
            json!(c.garp_lower_prio_delay.as_secs()),
        ),
        ("garp_lower_prio_rep", json!(c.garp_lower_prio_repeat)),
        (
            "lower_prio_no_advert",
            json!(u8::from(c.advert_rules.lower_prio_no_advert)),
        ),
        (
            "higher_prio_send_advert",
            json!(u8::from(c.advert_rules.higher_prio_send_advert)),
        ),
        ("vrid", json!(v.vrid)),
        ("base_priority", json!(v.base_priority)),
        ("effective_priority", json!(v.effective_priority)),
        ("vipset", json!(master)),
        ("promote_secondaries", json!(c.promote_secondaries)),
        ("adver_int", secs(adver)),
        ("master_adver_int", secs(adver)),
        ("accept", json!(u8::from(c.accept))),
        ("nopreempt", json!(!c.preempt)),
        ("preempt_delay", secs(c.preempt_delay)),
        ("state", json!(state)),
        ("wantstate", json!(state)),
        ("version", json!(v.version)),
        ("smtp_alert", json!(false)),
        ("notify_deleted", json!(false)),
    ];
    push_scripts_and_tracking(&mut f, status, v, &c);
    Ordered(f)
}

/// The JSON dump's optional tail: notify scripts, VIPs and eVIPs, tracked interfaces and
/// scripts, authentication, in keepalived's order.
fn push_scripts_and_tracking(
    f: &mut Vec<(&'static str, Value)>,
    status: &Status,
    v: &VrrpInstanceStatus,
    c: &InstanceConfig,
) {
    let n = &c.notify;
    for (key, cmd) in [
        ("script_backup", &n.backup),
        ("script_master", &n.master),
        ("script_fault", &n.fault),
        ("script_stop", &n.stop),
        ("script", &n.any),
    ] {
        if let Some(cmd) = cmd {
            f.push((key, json!(quoted_command(cmd))));
        }
    }
    f.push(("vips", json!(vip_texts(status, v, false))));
    let evips = vip_texts(status, v, true);
    if !evips.is_empty() {
        f.push(("evips", json!(evips)));
    }
    if !c.track_interfaces.is_empty() {
        let names: Vec<&str> = c.track_interfaces.iter().map(|t| t.name.as_str()).collect();
        f.push(("track_ifp", json!(names)));
    }
    let scripts: Vec<String> = c
        .track_scripts
        .iter()
        .filter_map(|t| {
            let s = status
                .vrrp_config
                .scripts
                .iter()
                .find(|s| s.name == t.name)?;
            Some(quoted_command(&s.script))
        })
        .collect();
    if !scripts.is_empty() {
        f.push(("track_script", json!(scripts)));
    }
    f.push(("auth_type", json!(auth_type_code(c))));
    if auth_type_code(c) == 1 {
        f.push(("auth_data", json!(c.auth_pass)));
    }
}

fn json_stats(c: &crate::status::VrrpCounters) -> Ordered {
    Ordered(vec![
        ("advert_rcvd", json!(c.advert_rcvd)),
        ("advert_sent", json!(c.advert_sent)),
        ("become_master", json!(c.become_master)),
        ("release_master", json!(c.release_master)),
        ("packet_len_err", json!(c.packet_len_err)),
        ("advert_interval_err", json!(c.advert_interval_err)),
        ("ip_ttl_err", json!(c.ip_ttl_err)),
        ("invalid_type_rcvd", json!(c.invalid_type_rcvd)),
        ("addr_list_err", json!(c.addr_list_err)),
        ("invalid_authtype", json!(c.invalid_authtype)),
        ("authtype_mismatch", json!(c.authtype_mismatch)),
        ("auth_failure", json!(c.auth_failure)),
        ("pri_zero_rcvd", json!(c.pri_zero_rcvd)),
        ("pri_zero_sent", json!(c.pri_zero_sent)),
    ])
}

/// `/tmp/keepalived.json`: `[{"data":{..},"stats":{..}}, ..]`.
pub fn render_json(status: &Status) -> String {
    let items: Vec<String> = status
        .vrrp
        .iter()
        .map(|v| {
            format!(
                "{{\"data\":{},\"stats\":{}}}",
                json_data(status, v).to_json(),
                json_stats(&v.counters).to_json()
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The resolved configuration as `config dump --json` and `-t -d` print it: durations in
/// keepalived's unit, seconds (`"delay_loop": 6`, `"advert_int": 0.5`), not serde's
/// `{"secs":6,"nanos":0}`. Every other value as the model serialises it.
pub fn config_json(config: &impl serde::Serialize) -> serde_json::Result<String> {
    let v = durations_as_seconds(serde_json::to_value(config)?);
    serde_json::to_string_pretty(&v)
}

/// Rewrites every `{"secs": S, "nanos": N}` object (how serde writes a `Duration`) into the
/// number of seconds: an integer when whole, else a decimal.
pub fn durations_as_seconds(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            if m.len() == 2
                && let (Some(s), Some(n)) = (
                    m.get("secs").and_then(Value::as_u64),
                    m.get("nanos").and_then(Value::as_u64),
                )
            {
                return if n == 0 {
                    json!(s)
                } else {
                    json!(s as f64 + n as f64 / 1e9)
                };
            }
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, durations_as_seconds(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(durations_as_seconds).collect()),
        other => other,
    }
}

/// Writes a dump to `path` without following a planted symlink or leaving a half-written file:
/// the text goes to a fresh temporary file (O_EXCL) in the same directory, which then replaces
/// `path` (rename replaces a symlink itself, never its target). /tmp is world-writable and lvsd
/// runs as root, so this matters. Mode 0600 as keepalived's default umask gives.
pub fn write_dump(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dump".into());
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renders and writes the dumps of one signal into `dir`, logging the outcome.
pub fn dump_now(kind: DumpKind, status: &Status, dir: &Path) {
    for (name, text) in kind.files(status) {
        let path = dir.join(name);
        match write_dump(&path, &text) {
            Ok(()) => tracing::info!(path = %path.display(), "state dump written"),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "state dump failed"),
        }
    }
}

/// Installs the SIGUSR1 / SIGUSR2 / SIGRTMIN+2 handlers and spawns the task that answers them
/// with dumps in `dir` ([`DUMP_DIR`] for keepalived's paths), reading the latest snapshot from
/// `hub` each time. Call once at startup inside the runtime; fails only if the handlers cannot be
/// installed.
pub fn spawn_signal_handlers(
    hub: crate::status::StatusHub,
    dir: PathBuf,
) -> std::io::Result<JoinHandle<()>> {
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut json = signal(SignalKind::from_raw(sigjson()))?;
    let mut clear = signal(SignalKind::from_raw(sigstats_clear()))?;
    Ok(tokio::spawn(async move {
        loop {
            let (kind, then_clear) = tokio::select! {
                Some(()) = usr1.recv() => (DumpKind::Data, false),
                Some(()) = usr2.recv() => (DumpKind::Stats, false),
                Some(()) = json.recv() => (DumpKind::Json, false),
                // keepalived's STATS_CLEAR: the stats file, then the counters start over.
                Some(()) = clear.recv() => (DumpKind::Stats, true),
                else => return,
            };
            let status = hub.snapshot();
            let dir = dir.clone();
            // Small file writes; off the async workers anyway, /tmp may be slow storage.
            let _ = tokio::task::spawn_blocking(move || {
                dump_now(kind, &status, &dir);
            })
            .await;
            if then_clear {
                hub.stats_clear.send_modify(|n| *n += 1);
                tracing::info!("statistics cleared");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_keepalived_layout() {
        // keepalived 2.2.7 printed "1795527961.215565 (Tue Nov 24 13:46:01.215565 2026)" (TZ=UTC).
        assert_eq!(
            timestamp(1_795_527_961_215_565),
            "1795527961.215565 (Tue Nov 24 13:46:01.215565 2026)"
        );
        assert_eq!(ctime_utc(0, 0), "Thu Jan  1 00:00:00.000000 1970");
        assert_eq!(ctime_utc(951_782_400, 0), "Tue Feb 29 00:00:00.000000 2000");
    }

    #[test]
    fn vips_print_as_keepalived_prints_them() {
        let v4 = |s: &str| Vip::new(s.parse().unwrap());
        assert_eq!(
            vip_text(&v4("10.0.0.1"), "eth0", true),
            "10.0.0.1 dev eth0 scope global set"
        );
        let vip = Vip {
            prefix: 24,
            dev: Some("eth1".into()),
            brd: Some("10.0.0.255".parse().unwrap()),
            scope: Some(253),
            label: Some("eth1:1".into()),
            ..v4("10.0.0.2")
        };
        assert_eq!(
            vip_text(&vip, "eth0", false),
            "10.0.0.2/24 brd 10.0.0.255 dev eth1 scope link label eth1:1"
        );
        let v6 = Vip {
            prefix: 64,
            ..Vip::new("fd00::1".parse().unwrap())
        };
        assert_eq!(
            vip_text(&v6, "eth0", true),
            "fd00::1/64 dev eth0 scope global preferred_lft forever set"
        );
        // keepalived.conf(5): a /128 is deprecated unless `preferred_lft forever`.
        let host6 = Vip::new("fd00::2".parse().unwrap());
        assert_eq!(
            vip_text(&host6, "eth0", true),
            "fd00::2 dev eth0 scope global deprecated set"
        );
        let forever = Vip {
            preferred_lft: Some(u32::MAX),
            ..host6
        };
        assert_eq!(
            vip_text(&forever, "eth0", false),
            "fd00::2 dev eth0 scope global preferred_lft forever"
        );
    }

    #[test]
    fn config_json_prints_durations_in_seconds() {
        #[derive(serde::Serialize)]
        struct M {
            delay_loop: std::time::Duration,
            advert_int: std::time::Duration,
            timeout: Option<std::time::Duration>,
            list: Vec<std::time::Duration>,
        }
        let m = M {
            delay_loop: std::time::Duration::from_secs(6),
            advert_int: std::time::Duration::from_millis(500),
            timeout: None,
            list: vec![std::time::Duration::from_micros(1_500_000)],
        };
        let v: Value = serde_json::from_str(&config_json(&m).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"delay_loop": 6, "advert_int": 0.5, "timeout": null, "list": [1.5]})
        );
    }

    #[test]
    fn signum_matches_keepalived() {
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("JSON"), Some(36), "glibc SIGRTMIN is 34");
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("json"), None);
        assert_eq!(signum("TDATA"), None);
        assert_eq!(
            signum("STATS_CLEAR"),
            Some(63),
            "SIGRTMAX-1, as keepalived prints"
        );
    }

    #[test]
    fn write_dump_replaces_a_planted_symlink_instead_of_following_it() {
        let dir = std::env::temp_dir().join(format!("lvsd-dump-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("keepalived.data");
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_dump(&path, "dump\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "dump\n");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
