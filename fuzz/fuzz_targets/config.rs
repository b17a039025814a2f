//! Config front end: preprocessor (parameters, ~SEQ/~LST, conditionals), lexer, parser,
//! builder and validation on arbitrary text. Must never panic, and every located diagnostic
//! must render.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lvsd::config::{LoadOptions, load_str};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = LoadOptions {
        config_id: Some("fuzz".into()),
        strict: false,
        check_host: false,
    };
    // Includes resolve relative to a directory that does not exist.
    let diags = match load_str(&text, Path::new("/nonexistent/lvsd-fuzz/k.conf"), &opts) {
        Ok(l) => l.diagnostics,
        Err(e) => e.diagnostics,
    };
    for d in diags {
        let _ = d.to_string();
    }
});
