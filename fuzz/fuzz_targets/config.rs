//! Config front end: preprocessor (parameters, ~SEQ/~LST, conditionals, includes), lexer
//! and parser on arbitrary text, then the builder and validation on what parsed. Must never
//! panic, and every diagnostic must render. The builder runs on a sample of small inputs
//! (see below).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lvsd::config::{LoadOptions, load_str, preproc};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let name = Path::new("/nonexistent/lvsd-fuzz/k.conf");
    let (tree, _sources, diags) = preproc::parse_str(&text, name, "fuzz");
    for d in &diags {
        let _ = d.to_string();
    }
    // The builder (with its did-you-mean search, pruned by a character-count bound and capped
    // per load, but still the costliest part under coverage tracing) runs only on small
    // inputs whose last byte has its low 3 bits clear (one in eight, deterministically).
    if tree.len() > 8 || data.len() > 2048 || data.last().is_none_or(|b| b & 7 != 0) {
        return;
    }
    let opts = LoadOptions {
        config_id: Some("fuzz".into()),
        strict: false,
        check_host: false,
    };
    // Includes resolve relative to a directory that does not exist.
    let diags = match load_str(&text, name, &opts) {
        Ok(l) => l.diagnostics,
        Err(e) => e.diagnostics,
    };
    for d in diags {
        let _ = d.to_string();
    }
});
