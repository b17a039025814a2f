//! Golden diagnostics: each `tests/config_ui/NAME.conf` is loaded (no host checks) and every
//! diagnostic rendered exactly as `lvsd -t` prints it is compared with `NAME.stderr`, followed
//! by the outcome line (`=> loaded` / `=> refused`). `LVSD_BLESS=1 cargo test --test config_ui`
//! rewrites the expectations; review the diff before committing.

use std::path::{Path, PathBuf};

use lvsd::config::{LoadOptions, load};

fn render(conf: &Path) -> String {
    let opts = LoadOptions {
        config_id: Some("ui".into()),
        strict: false,
        check_host: false,
    };
    let (outcome, diags) = match load(conf, &opts) {
        Ok(l) => ("loaded", l.diagnostics),
        Err(e) => ("refused", e.diagnostics),
    };
    let mut s: String = diags.iter().map(|d| format!("{d}\n")).collect();
    s.push_str(&format!("=> {outcome}\n"));
    s
}

#[test]
fn golden_diagnostics() {
    // Relative paths keep the rendered file names stable across checkouts.
    let dir = Path::new("tests/config_ui");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/config_ui")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 10, "golden cases went missing");
    let bless = std::env::var_os("LVSD_BLESS").is_some();
    let mut failures = Vec::new();
    for conf in &confs {
        let got = render(conf);
        let expected_path = conf.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &got).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "--- {} (expected)\n{expected}+++ got\n{got}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden diagnostics differ (LVSD_BLESS=1 to update):\n{}",
        failures.join("\n")
    );
}
