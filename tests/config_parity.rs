//! The differential rig (issue 11 §4): `keepalived -t` (2.2.7) and `lvsd -t` on every file of
//! `tests/config_corpus/`, comparing the exit code and the set of (line, finding class) pairs.
//! Any difference must be listed, with its reason, in `tests/config_corpus/ALLOW`; an entry
//! that no longer matches a difference fails too, so the list stays true.
//!
//! Corpus: `gen/` is written by `config_parity/generate.rs` + `cases.rs` (one file per keyword of
//! lvsd's table in a minimal valid skeleton, plus one per validation and preprocessor form);
//! `hand/` is written by hand (multi-file includes, realistic configs). Regenerate `gen/` with
//! `LVSD_UPDATE_CORPUS=1 cargo test -p lvsd --test config_parity generated`.
//!
//! Both programs run in the same throwaway network + mount namespace per file (`unshare -n
//! -m`), which has `lo` (up), a veth pair `eth0`/`eth1` with addresses, and a private tmpfs on
//! /run, so keepalived touches nothing on the host. lvsd's own `note:` findings are not
//! compared (they never change the exit code).

#[path = "config_parity/cases.rs"]
mod cases;
#[path = "config_parity/classes.rs"]
mod classes;
#[path = "config_parity/generate.rs"]
mod generate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use classes::Finding;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config_corpus")
}

#[test]
fn generated_corpus_is_current() {
    let dir = corpus_dir().join("gen");
    let want = generate::corpus();
    assert!(want.len() >= 300, "corpus has {} files", want.len());
    if std::env::var_os("LVSD_UPDATE_CORPUS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &want {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &want {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let on_disk = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty() && on_disk == want.len(),
        "tests/config_corpus/gen is out of date ({} files differ, {on_disk} on disk, {} generated); \
         run LVSD_UPDATE_CORPUS=1 cargo test -p lvsd --test config_parity generated",
        stale.len(),
        want.len()
    );
}

/// Every corpus file, relative to the corpus directory.
fn corpus_files() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["gen", "hand"] {
        let Ok(rd) = std::fs::read_dir(corpus_dir().join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                out.push(format!("{sub}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// The namespace both programs run in; the commands follow.
const SETUP: &str = "set -e; mount -t tmpfs tmpfs /run; ip link set lo up; \
    ip link add eth0 type veth peer name eth1; ip link set eth0 up; ip link set eth1 up; \
    ip addr add 192.168.200.250/24 dev eth0; ip addr add 192.168.201.250/24 dev eth1; \
    ip -6 addr add fd00::250/64 dev eth0 nodad; mount -t sysfs sysfs /sys; set +e";

struct Outcome {
    k_rc: i32,
    k_out: String,
    l_rc: i32,
    l_out: String,
}

fn run_both(rel: &str) -> Outcome {
    let path = corpus_dir().join(rel);
    let dir = path.parent().unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let script = format!(
        "{SETUP}; cd '{}'; keepalived -t -l -i parity -f '{file}' 2>&1 >/dev/null; echo \"@@rc=$?\"; \
         '{}' -t -i parity -f '{file}' 2>&1 >/dev/null; echo \"@@rc=$?\"",
        dir.display(),
        env!("CARGO_BIN_EXE_lvsd"),
    );
    let out = Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs (the rig needs root and util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split("@@rc=");
    let k_out = parts.next().unwrap_or("").to_string();
    let rest = parts.next().unwrap_or("");
    let (k_rc, l_out) = rest.split_once('\n').unwrap_or((rest, ""));
    let l_rc = parts.next().unwrap_or("").trim();
    Outcome {
        k_rc: k_rc.trim().parse().unwrap_or(-1),
        k_out,
        l_rc: l_rc.parse().unwrap_or(-1),
        l_out: l_out.to_string(),
    }
}

/// Whether two located classes may be the same finding: equal, or one side unclassified.
fn compatible(a: &str, b: &str) -> bool {
    a == b || a == "other" || b == "other"
}

/// The differences between the two verdicts, as allow-list tokens. lvsd's notes may match a
/// keepalived finding (keepalived also reports some things without changing its exit code)
/// but are never an extra.
fn differences(o: &Outcome) -> BTreeSet<String> {
    let k: BTreeSet<Finding> = classes::keepalived_findings(&o.k_out);
    let l: BTreeSet<Finding> = classes::lvsd_findings(&o.l_out, false);
    let l_all: BTreeSet<Finding> = classes::lvsd_findings(&o.l_out, true);
    let mut d = BTreeSet::new();
    if o.k_rc != o.l_rc {
        d.insert(format!("rc={}/{}", o.k_rc, o.l_rc));
    }
    let fmt_line = |l: Option<u32>| l.map_or("-".to_string(), |l| l.to_string());
    for f in &k {
        let found = match f.line {
            Some(_) => l_all
                .iter()
                .any(|g| g.line == f.line && compatible(&g.class, &f.class)),
            None => l_all.iter().any(|g| g.class == f.class),
        };
        if !found {
            d.insert(format!("missing@{}:{}", fmt_line(f.line), f.class));
        }
    }
    for f in &l {
        let found = k.iter().any(|g| match (g.line, f.line) {
            (Some(a), Some(b)) => a == b && compatible(&g.class, &f.class),
            _ => g.class == f.class,
        });
        if !found {
            d.insert(format!("extra@{}:{}", fmt_line(f.line), f.class));
        }
    }
    d
}

/// `FILE TOKEN -- reason` per line; `#` comments. FILE and TOKEN may use `*` wildcards.
fn allow_list() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(corpus_dir().join("ALLOW")).unwrap_or_default();
    let mut m = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, reason) = line
            .split_once(" -- ")
            .unwrap_or_else(|| panic!("ALLOW:{}: no ` -- reason`", n + 1));
        assert!(!reason.trim().is_empty(), "ALLOW:{}: empty reason", n + 1);
        let mut w = head.split_whitespace();
        let (Some(f), Some(t), None) = (w.next(), w.next(), w.next()) else {
            panic!("ALLOW:{}: want `FILE TOKEN -- reason`", n + 1);
        };
        m.insert((f.to_string(), t.to_string()), reason.to_string());
    }
    m
}

/// `*` matches any run of characters (the only pattern syntax of ALLOW).
fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    for (i, p) in tail.iter().enumerate() {
        if i == tail.len() - 1 {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn keepalived_available() -> bool {
    Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("v2.2.7"))
}

#[test]
fn keepalived_and_lvsd_agree_on_the_corpus() {
    assert!(
        keepalived_available(),
        "the rig needs keepalived 2.2.7 (Debian bookworm's; .ci/run installs it)"
    );
    let files = corpus_files();
    assert!(files.len() >= 300, "corpus has {} files", files.len());
    let only = std::env::var("LVSD_PARITY_ONLY").ok();
    let queue = Mutex::new(
        files
            .iter()
            .filter(|f| only.as_ref().is_none_or(|o| f.contains(o.as_str()))),
    );
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let Some(f) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let o = run_both(f);
                    let d = differences(&o);
                    results.lock().unwrap().push((f.clone(), o, d));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let allow = allow_list();
    let mut used = BTreeSet::new();
    let mut report = String::new();
    let mut agree = 0;
    for (f, o, d) in &results {
        let mut unexplained = Vec::new();
        for t in d {
            let hits: Vec<_> = allow
                .keys()
                .filter(|(pf, pt)| glob(pf, f) && glob(pt, t))
                .cloned()
                .collect();
            if hits.is_empty() {
                unexplained.push(t.clone());
            }
            used.extend(hits);
        }
        if d.is_empty() {
            agree += 1;
        }
        if !unexplained.is_empty() {
            report += &format!(
                "\n=== {f}: {}\n--- keepalived (rc {}):\n{}--- lvsd (rc {}):\n{}",
                unexplained.join(" "),
                o.k_rc,
                o.k_out,
                o.l_rc,
                classes::headers(&o.l_out)
            );
        }
    }
    if std::env::var_os("LVSD_PARITY_DUMP").is_some() {
        for (f, _, d) in &results {
            for t in d {
                println!("{f} {t} -- ");
            }
        }
    }
    let stale: Vec<_> = allow
        .keys()
        .filter(|k| !used.contains(*k) && only.is_none())
        .map(|(f, t)| format!("{f} {t}"))
        .collect();
    eprintln!(
        "config parity: {} files, {agree} agree exactly, {} allow-listed differences",
        results.len(),
        allow.len()
    );
    assert!(
        report.is_empty() && stale.is_empty(),
        "differences not in tests/config_corpus/ALLOW:{report}\n\nALLOW entries that no longer match: {stale:#?}"
    );
}

#[test]
fn classes_read_both_outputs() {
    let k = classes::keepalived_findings(
        "(Line 3) Unknown keyword 'bogus_kw'\n(kt/a.conf: Line 3) Unknown keyword 'bogus_kw'\n(VI_1) the virtual router id must be set\n",
    );
    assert_eq!(k.len(), 2, "{k:?}");
    let l = classes::lvsd_findings(
        "a.conf:3:3: warning: unknown keyword `bogus_kw` in global_defs\n  |\n3 |   bogus_kw 1\n  |   ^\n  = note: the line is ignored\n\na.conf:9:1: note: lvsd only\na.conf: 1 warning\n",
        false,
    );
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        k.iter().find(|f| f.line == Some(3)).map(|f| &f.class),
        l.iter().next().map(|f| &f.class)
    );
    assert!(glob("gen/case-seq*.conf", "gen/case-seq-hex.conf"));
    assert!(glob("*", "rc=5/4"));
    assert!(!glob("gen/case-seq*.conf", "gen/case-lst.conf"));
    assert!(glob("missing@*:other", "missing@12:other"));
}
