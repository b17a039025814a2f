//! `docs/keywords.md` is generated from the keyword table (`keywords::reference_markdown`);
//! this keeps the checked-in copy current. `LVSD_UPDATE_DOCS=1` rewrites it.

use std::path::PathBuf;

use lvsd::config::keywords::{self, Status};

#[test]
fn docs_keywords_md_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/keywords.md");
    let want = keywords::reference_markdown();
    if std::env::var_os("LVSD_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/keywords.md");
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "docs/keywords.md is out of date: LVSD_UPDATE_DOCS=1 cargo test -p lvsd --test keywords_doc"
    );
}

#[test]
fn every_keyword_has_one_entry_and_every_unimplemented_one_says_what_it_means() {
    let t = keywords::table();
    let mut seen = std::collections::HashSet::new();
    for k in &t {
        assert!(
            seen.insert((k.context.name(), k.name)),
            "{} twice in {}",
            k.name,
            k.context.name()
        );
        if let Status::NotActing(e) | Status::Ignored(e) = k.status {
            assert!(!e.is_empty(), "{}", k.name);
        }
    }
    // The examples issue 11 names are warned, not silently accepted.
    for (ctx, kw) in [
        ("global_defs", "enable_snmp_vrrp"),
        ("global_defs", "enable_dbus"),
    ] {
        let k = t
            .iter()
            .find(|k| k.context.name() == ctx && k.name == kw)
            .unwrap_or_else(|| panic!("{kw} in {ctx} is not in the table"));
        assert_ne!(k.status, Status::Implemented, "{kw} in {ctx}");
    }
}
