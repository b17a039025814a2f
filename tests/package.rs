//! The Debian package: `cargo deb` builds it from the test binary, `dpkg -i` installs it (into a
//! scratch root, so the host stays untouched) and the installed `lvsd --version` runs.
//! Needs `cargo-deb` (`cargo install cargo-deb --version 3.8.0 --locked`) and dpkg.

#[path = "../examples/gen-man.rs"]
mod gen_man;

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn deb_builds_installs_and_runs() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The binary the package ships: cargo builds it for this test (same profile).
    let bin = Path::new(env!("CARGO_BIN_EXE_lvsd"));
    assert!(bin.exists());
    let profile_dir = bin.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected binary path {}", bin.display()),
    };

    let man = gen_man::write_man_pages(&manifest.join("target/man")).unwrap();
    assert!(man.iter().any(|p| p.ends_with("lvsd.8")));
    let page = std::fs::read_to_string(manifest.join("target/man/lvsd.8")).unwrap();
    assert!(page.contains(".TH lvsd 8"), "{page}");
    assert!(page.contains("metrics\\-listen"), "flags documented");

    let out = scratch("deb");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let probe = Command::new(&cargo).args(["deb", "--version"]).output();
    assert!(
        matches!(&probe, Ok(o) if o.status.success()),
        "cargo-deb is missing: cargo install cargo-deb --version 3.8.0 --locked"
    );
    run(Command::new(&cargo)
        .current_dir(manifest)
        .args([
            "deb",
            "--no-build",
            "--no-strip",
            "--fast",
            "--profile",
            profile,
            "-o",
        ])
        .arg(&out));
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote no .deb");

    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/sbin/lvsd",
        "./lib/systemd/system/lvsd.service",
        "./etc/default/lvsd",
        "./usr/share/doc/lvsd/examples/keepalived.conf",
        "./usr/share/man/man8/lvsd.8.gz",
    ] {
        assert!(
            listing.contains(path),
            "{path} missing from the package:\n{listing}"
        );
    }

    // dpkg -i into a scratch root with its own dpkg database.
    let root = scratch("dpkg-root");
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        // libc6 is registered in the host's database, not in the scratch one.
        .args(["--force-depends", "--force-script-chrootless", "-i"])
        .arg(&deb));
    let status = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["-s", "lvsd"]));
    assert!(status.contains("Status: install ok installed"), "{status}");

    let version = run(Command::new(root.join("usr/sbin/lvsd")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("lvsd {}", env!("CARGO_PKG_VERSION"))
    );

    let unit = std::fs::read_to_string(root.join("lib/systemd/system/lvsd.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("ExecStart=/usr/sbin/lvsd"));

    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&out);
}
