//! Finding classes: what a message is about, so keepalived's and lvsd's wordings can be
//! compared. Each class lists key phrases for keepalived's message and for lvsd's (lower
//! case; `a&b` = both). A message matching no class is `other`, compared by line only.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub line: Option<u32>,
    pub class: String,
}

/// (class, keepalived phrases, lvsd phrases). First match wins, so specific classes first.
/// Located findings compare by line when either side is `other`; the classes matter for
/// keepalived's many messages without a line, which any lvsd finding of the class matches.
const CLASSES: &[(&str, &[&str], &[&str])] = &[
    (
        "include",
        &["config files missing", "no config files matched"],
        &["include `"],
    ),
    (
        "braces",
        &[
            "missing '}'",
            "missing '{'",
            "extra '{'",
            "extra '}'",
            "unexpected '{'",
            "unknown keyword '}'",
        ],
        &[
            "missing `}`",
            "missing `{`",
            "unexpected `}`",
            "unexpected `{`",
            "extra `}`",
        ],
    ),
    (
        "unknown_keyword",
        &["unknown keyword"],
        &["unknown keyword"],
    ),
    (
        "script_security",
        &["script_security not enabled"],
        &["script security is not enabled"],
    ),
    (
        "vrid",
        &["virtual router id must be set", "both use vrid"],
        &["virtual_router_id"],
    ),
    ("interface_lo", &["loopback interface"], &["loopback"]),
    (
        "interface",
        &[
            "interface&doesn't exist",
            "non-existent interface",
            "unknown interface!",
        ],
        &[
            "interface&does not exist",
            "interface&not found",
            "interface&no such",
            "no `interface`",
        ],
    ),
    (
        "fwmark_port",
        &["fwmark&has port specified"],
        &["fwmark&port"],
    ),
    (
        "fwmark_protocol",
        &["protocol specified for fwmark"],
        &["protocol&fwmark"],
    ),
    ("quorum", &["quorum"], &["quorum"]),
    (
        "port_mismatch",
        &["ports don't match"],
        &["ports don't match", "port&differ"],
    ),
    (
        "default_sched",
        &["no scheduler set"],
        &["no scheduler set", "no `lb_algo`"],
    ),
    (
        "default_method",
        &["no forwarding method set"],
        &["no forwarding method set", "no `lb_kind`"],
    ),
    (
        "ah_master",
        &["incompatible with ah"],
        &["incompatible with ah", "state master&ah"],
    ),
    (
        "strict_auth",
        &["strict mode does not support authentication"],
        &["strict mode does not support authentication"],
    ),
    ("nopreempt", &["nopreempt"], &["nopreempt"]),
    ("address_owner", &["address owner"], &["address owner"]),
    (
        "no_vip",
        &["no vip specified"],
        &["no vip", "no `virtual_ipaddress`"],
    ),
    (
        "no_real_servers",
        &["has no real servers"],
        &["no real server"],
    ),
    (
        "unicast_peers",
        &["without any unicast peers"],
        &["without any unicast peers", "no unicast peer"],
    ),
    (
        "http_url",
        &["no urls specified", "url has no path"],
        &["no url", "no path"],
    ),
    (
        "sync_group",
        &["sync group"],
        &["sync group", "vrrp_sync_group"],
    ),
    (
        "track_script",
        &["track script"],
        &["track script", "track_script"],
    ),
    ("vs_family", &["conflicts with server family"], &["family"]),
    (
        "route_track",
        &["cannot track route"],
        &["cannot track route", "track route"],
    ),
    (
        "rule_pref",
        &["no preference specified"],
        &["no preference", "priority"],
    ),
    (
        "vs_defaults",
        &[
            "zero port only valid",
            "no protocol set",
            "one packet scheduling requires udp",
        ],
        &[
            "zero port",
            "no protocol",
            "requires udp",
            "`ops`",
            "without `protocol`",
        ],
    ),
    ("empty_group", &["has no entries"], &["no entries"]),
];

fn classify(msg: &str, keepalived: bool) -> String {
    let m = msg.to_lowercase();
    for (class, k, l) in CLASSES {
        let pats = if keepalived { *k } else { *l };
        if pats.iter().any(|p| p.split('&').all(|s| m.contains(s))) {
            return class.to_string();
        }
    }
    "other".into()
}

/// keepalived -t output: `(Line N) msg`, `(file: Line N) msg` or just `msg`; each message is
/// printed once per process that parses, so the set dedups them.
pub fn keepalived_findings(out: &str) -> BTreeSet<Finding> {
    let mut s = BTreeSet::new();
    for raw in out.lines() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let (line, msg) = match raw.strip_prefix('(').and_then(|r| r.split_once(") ")) {
            Some((head, msg)) if head.contains("Line ") => {
                let n = head
                    .rsplit("Line ")
                    .next()
                    .and_then(|n| n.trim().parse().ok());
                (n, msg)
            }
            _ => (None, raw),
        };
        s.insert(Finding {
            line,
            class: classify(msg, true),
        });
    }
    s
}

/// One parsed lvsd diagnostic header: (line, severity, message).
fn lvsd_headers(out: &str) -> Vec<(Option<u32>, &str, &str)> {
    let mut v = Vec::new();
    for raw in out.lines() {
        if raw.starts_with(' ') || raw.is_empty() {
            continue;
        }
        for sev in ["warning", "error", "note"] {
            let tag = format!("{sev}: ");
            if let Some(msg) = raw.strip_prefix(&tag) {
                v.push((None, sev, msg));
            } else if let Some((head, msg)) = raw.split_once(&format!(": {tag}")) {
                let mut parts = head.rsplitn(3, ':');
                let _col = parts.next();
                let line = parts.next().and_then(|l| l.parse().ok());
                v.push((line, sev, msg));
            }
        }
    }
    v
}

/// lvsd -t findings: warnings and errors, and with `notes` also notes (lvsd's own extras).
pub fn lvsd_findings(out: &str, notes: bool) -> BTreeSet<Finding> {
    lvsd_headers(out)
        .into_iter()
        .filter(|(_, sev, _)| notes || *sev != "note")
        .map(|(line, _, msg)| Finding {
            line,
            class: classify(msg, false),
        })
        .collect()
}

/// The header lines of lvsd's output, for the failure report.
pub fn headers(out: &str) -> String {
    out.lines()
        .filter(|l| {
            !l.starts_with(' ') && !l.is_empty() && !l.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
