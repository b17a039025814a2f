//! iproute2's name tables (`/etc/iproute2/rt_tables`, `rt_protos`, `rt_realms`, `rt_scopes`,
//! `rt_dsfield` and their `.d/*.conf`), as `ip` and keepalived resolve `table NAME`,
//! `proto NAME`, `realms NAME`, `scope NAME`, `tos NAME`. Read once per process; a number is
//! always accepted.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One table kind: built-in names (as iproute2 compiles them in) plus the files.
struct Names {
    builtin: &'static [(&'static str, u32)],
    file: &'static str,
    max: u32,
}

const TABLES: Names = Names {
    builtin: &[
        ("unspec", 0),
        ("default", 253),
        ("main", 254),
        ("local", 255),
    ],
    file: "rt_tables",
    max: u32::MAX,
};
const PROTOS: Names = Names {
    builtin: &[
        ("unspec", 0),
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("gated", 8),
        ("ra", 9),
        ("mrt", 10),
        ("zebra", 11),
        ("bird", 12),
        ("dnrouted", 13),
        ("xorp", 14),
        ("ntk", 15),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("openr", 99),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ],
    file: "rt_protos",
    max: 255,
};
const REALMS: Names = Names {
    builtin: &[("unknown", 0)],
    file: "rt_realms",
    max: 255,
};
const SCOPES: Names = Names {
    builtin: &[
        ("global", 0),
        ("universe", 0),
        ("site", 200),
        ("link", 253),
        ("host", 254),
        ("nowhere", 255),
    ],
    file: "rt_scopes",
    max: 255,
};
const DSFIELD: Names = Names {
    builtin: &[],
    file: "rt_dsfield",
    max: 255,
};

fn read_file(path: &std::path::Path, out: &mut HashMap<String, u32>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        if let (Some(n), Some(name)) = (w.next(), w.next())
            && let Some(n) = number(n)
        {
            out.insert(name.to_string(), n);
        }
    }
}

fn load(names: &Names) -> HashMap<String, u32> {
    let mut m: HashMap<String, u32> = names
        .builtin
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    for dir in ["/usr/share/iproute2", "/etc/iproute2"] {
        let base = std::path::Path::new(dir);
        read_file(&base.join(names.file), &mut m);
        if let Ok(rd) = std::fs::read_dir(base.join(format!("{}.d", names.file))) {
            let mut files: Vec<_> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            files.sort();
            for f in files {
                read_file(&f, &mut m);
            }
        }
    }
    m
}

/// Decimal or 0x hex.
pub(super) fn number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn lookup(
    names: &'static Names,
    cell: &'static OnceLock<HashMap<String, u32>>,
    s: &str,
) -> Option<u32> {
    let v = number(s).or_else(|| cell.get_or_init(|| load(names)).get(s).copied())?;
    (v <= names.max).then_some(v)
}

pub(super) fn table(s: &str) -> Option<u32> {
    static C: OnceLock<HashMap<String, u32>> = OnceLock::new();
    lookup(&TABLES, &C, s)
}

pub(super) fn protocol(s: &str) -> Option<u8> {
    static C: OnceLock<HashMap<String, u32>> = OnceLock::new();
    lookup(&PROTOS, &C, s).map(|v| v as u8)
}

pub(super) fn scope(s: &str) -> Option<u8> {
    static C: OnceLock<HashMap<String, u32>> = OnceLock::new();
    lookup(&SCOPES, &C, s).map(|v| v as u8)
}

pub(super) fn dsfield(s: &str) -> Option<u8> {
    static C: OnceLock<HashMap<String, u32>> = OnceLock::new();
    lookup(&DSFIELD, &C, s).map(|v| v as u8)
}

/// `realms [FROM/]TO` as (from << 16) | to.
pub(super) fn realms(s: &str) -> Option<u32> {
    static C: OnceLock<HashMap<String, u32>> = OnceLock::new();
    let one = |r: &str| lookup(&REALMS, &C, r);
    match s.split_once('/') {
        Some((f, t)) => Some((one(f)? << 16) | one(t)?),
        None => one(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_and_numbers() {
        assert_eq!(table("main"), Some(254));
        assert_eq!(table("6909"), Some(6909));
        assert_eq!(table("0x10"), Some(16));
        assert_eq!(table("no-such-table-name"), None);
        assert_eq!(protocol("keepalived"), Some(18));
        assert_eq!(protocol("bird"), Some(12));
        assert_eq!(protocol("300"), None);
        assert_eq!(scope("link"), Some(253));
        assert!(realms("PQA/0x14").is_none());
        assert_eq!(realms("10/20"), Some((10 << 16) | 20));
        assert_eq!(realms("30"), Some(30));
    }
}
