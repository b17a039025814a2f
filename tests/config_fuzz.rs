//! Hostile input never panics the loader and always produces diagnostics that point inside
//! the file: random bytes, random token soup built from keepalived's vocabulary, and the
//! classic worst cases (empty, binary, 100k-character lines, deep nesting, brace storms).

use std::path::Path;

use lvsd::config::{Diagnostic, LoadOptions, keywords, load, load_str};
use proptest::prelude::*;

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("fuzz".into()),
        strict: false,
        check_host: false,
    }
}

fn diags(text: &str) -> Vec<Diagnostic> {
    match load_str(text, Path::new("fuzz.conf"), &opts()) {
        Ok(l) => l.diagnostics,
        Err(e) => e.diagnostics,
    }
}

/// Every located diagnostic names a real line and renders without panicking.
fn check_sane(text: &str) {
    let lines = text.lines().count().max(1) as u32;
    for d in diags(text) {
        let rendered = d.to_string();
        assert!(!rendered.is_empty());
        if let Some(l) = d.line() {
            assert!(l >= 1 && l <= lines, "line {l} of {lines}: {rendered}");
        }
    }
}

fn vocabulary() -> Vec<String> {
    use keywords::Context::*;
    let mut v: Vec<String> = [
        TopLevel,
        GlobalDefs,
        VrrpInstance,
        VirtualServer,
        RealServer,
        Checker,
        HttpChecker,
        Url,
    ]
    .into_iter()
    .flat_map(|c| c.names())
    .map(|s| s.to_string())
    .collect();
    for extra in [
        "{",
        "}",
        "{",
        "}",
        "\n",
        "\n",
        "\n",
        "#",
        "!",
        "\"",
        "'",
        "0",
        "1",
        "255",
        "256",
        "-1",
        "3.5",
        "10.0.0.1",
        "10.0.0.1/24",
        "2001:db8::1",
        "fwmark",
        "group",
        "MASTER",
        "BACKUP",
        "eth0",
        "include",
        "@x",
        "@^fuzz",
        "$A=1",
        "${A}",
        "$A",
        "weight",
        "reverse",
        "dev",
        "brd",
        "TUN",
        "type",
        "gue",
        "port",
        "1-5",
        "200-299",
        "x",
        "\\",
        "é",
        "\t",
        "\u{0}",
        "~SEQ(A,1,3)",
        "~LST(B,x,y)",
        "~SEQx(",
        "${_HASH}",
    ] {
        v.push(extra.to_string());
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_sane(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_soup_never_panics(
        picks in proptest::collection::vec((0usize..10_000, any::<bool>()), 0..400)
    ) {
        let vocab = vocabulary();
        let mut text = String::new();
        for (i, space) in picks {
            text.push_str(&vocab[i % vocab.len()]);
            text.push(if space { ' ' } else { '\n' });
        }
        check_sane(&text);
    }
}

#[test]
fn classic_worst_cases() {
    check_sane("");
    check_sane("\n\n\n");
    check_sane(&format!(
        "global_defs {{\n router_id {}\n}}\n",
        "x".repeat(100_000)
    ));
    check_sane(&"{".repeat(100_000));
    check_sane(&"}".repeat(100_000));
    check_sane(&"x {\n".repeat(100_000));
    check_sane(&"\"".repeat(10_001));
    check_sane(&"vrrp_instance V {\n".repeat(1000));
    check_sane(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n",
    );
    check_sane("$A=${A}${A}\n$B=$A$A$A$A\nrouter_id $B$B$B$B\n");
}

#[test]
fn a_100k_character_line_gets_a_short_message() {
    let text = format!("global_defs {{\n {}\n}}\n", "y".repeat(100_000));
    let d = diags(&text);
    assert_eq!(d.len(), 1);
    assert!(
        d[0].to_string().len() < 1000,
        "the caret display is shortened"
    );
}

#[test]
fn binary_files_on_disk_are_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("lvsd-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bin.conf");
    std::fs::write(&p, [0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff, 0xfe, b'\n']).unwrap();
    let e = load(&p, &opts()).unwrap_err();
    assert!(
        e.diagnostics[0].message.contains("not a text file"),
        "{:?}",
        e.diagnostics
    );
    // Invalid UTF-8 without NUL (a Latin-1 comment) is read, not refused.
    let p2 = dir.join("latin1.conf");
    std::fs::write(&p2, b"# caf\xe9\nglobal_defs {\n router_id a\n}\n").unwrap();
    let l = load(&p2, &opts()).unwrap();
    assert_eq!(l.config.global.router_id.as_deref(), Some("a"));
    // A UTF-8 byte-order mark and CRLF line ends (a file saved on Windows) are fine.
    let p3 = dir.join("bom.conf");
    std::fs::write(&p3, b"\xef\xbb\xbfglobal_defs {\r\n router_id b\r\n}\r\n").unwrap();
    let l = load(&p3, &opts()).unwrap();
    assert_eq!(l.config.global.router_id.as_deref(), Some("b"));
    // Only the note that router_id has no effect in lvsd.
    assert!(
        l.diagnostics.iter().all(|d| d.is_note()),
        "{:?}",
        l.diagnostics
    );
    let _ = std::fs::remove_dir_all(&dir);
}
