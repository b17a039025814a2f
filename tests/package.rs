//! The Debian package: `cargo deb` builds it from the test binary (stripped, as a release build
//! would be), lintian finds no error or warning in it, `dpkg -i` installs it (into a scratch
//! root, so the host stays untouched), the installed `lvsd --version` runs and systemd accepts
//! the installed unit. The unit's capability set is then tried for real: lvsd under exactly
//! that bounding set gets SCHED_RR for its VRRP thread, and a notify script can still chown and
//! write under /var.
//! Needs `cargo-deb` (`cargo install cargo-deb --version 3.8.0 --locked`), dpkg, lintian,
//! systemd-analyze, setpriv and file (`bash .ci/run` installs them).

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
        .args(["deb", "--no-build", "--profile", profile, "-o"])
        .arg(&out));
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote no .deb");

    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/sbin/lvsd",
        "./usr/lib/systemd/system/lvsd.service",
        "./etc/default/lvsd",
        "./usr/share/doc/lvsd/examples/keepalived.conf",
        "./usr/share/doc/lvsd/examples/prometheus/lvsd-alerts.yml",
        "./usr/share/doc/lvsd/examples/grafana/lvsd.json",
        "./usr/share/doc/lvsd/README.md",
        "./usr/share/doc/lvsd/operations.md",
        "./usr/share/doc/lvsd/systemd.md",
        "./usr/share/doc/lvsd/copyright",
        "./usr/share/doc/lvsd/changelog.Debian.gz",
        "./usr/share/man/man8/lvsd.8.gz",
        "./usr/share/man/man8/lvsd-ctl.8.gz",
        "./usr/share/man/man8/lvsd-ctl-status.8.gz",
        "./usr/share/man/man8/lvsd-ctl-reload.8.gz",
        "./usr/share/man/man8/lvsd-genhash.8.gz",
    ] {
        assert!(
            listing.contains(path),
            "{path} missing from the package:\n{listing}"
        );
    }

    // lintian: no error, no warning (infos are advice, not policy violations).
    let lint = Command::new("lintian")
        .args(["--display-level", ">=warning"])
        .arg(&deb)
        .output()
        .expect("lintian (Debian package lintian; bash .ci/run installs it)");
    let lint_text = String::from_utf8_lossy(&lint.stdout).into_owned();
    let bad: Vec<&str> = lint_text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(bad.is_empty(), "lintian:\n{lint_text}");
    assert!(
        lint.status.success(),
        "lintian failed: {lint_text}{}",
        String::from_utf8_lossy(&lint.stderr)
    );

    // Maintainer scripts: the unit is enabled on install and systemd reloaded, as Debian's
    // debhelper does; not started (that would stop keepalived, see docs/systemd.md).
    let control = scratch("deb-control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("deb-systemd-helper enable lvsd.service"),
        "{postinst}"
    );
    assert!(postinst.contains("daemon-reload"), "{postinst}");
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    let postrm = std::fs::read_to_string(control.join("postrm")).unwrap();
    assert!(postrm.contains("daemon-reload"), "{postrm}");
    let _ = std::fs::remove_dir_all(&control);

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

    // keepalived's first lines (what scripts grep for), then lvsd's own.
    let version = run(Command::new(root.join("usr/sbin/lvsd")).arg("--version"));
    assert!(version.starts_with("Keepalived v2.2.7"), "{version}");
    assert!(
        version.contains(&format!("lvsd {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    // Stripped: keepalived's binary is under 1 MB, an unstripped debug build over 100 MB.
    let installed = root.join("usr/sbin/lvsd");
    let kind = run(Command::new("file").arg("-L").arg(&installed));
    assert!(kind.contains(", stripped"), "{kind}");
    let (before, after) = (
        std::fs::metadata(bin).unwrap().len(),
        std::fs::metadata(&installed).unwrap().len(),
    );
    assert!(after * 2 < before, "{before} -> {after} bytes");

    // A DEP-5 copyright file and a Debian changelog for this version.
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/lvsd/copyright")).unwrap();
    assert!(
        copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        ),
        "{copyright}"
    );
    for stanza in ["Files: *", "License: MIT\n", "License: Apache-2.0\n"] {
        assert!(copyright.contains(stanza), "{stanza} in {copyright}");
    }
    let changelog = run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc {}",
        root.join("usr/share/doc/lvsd/changelog.Debian.gz")
            .display()
    )));
    assert!(
        changelog.starts_with(&format!("lvsd ({}-1) ", env!("CARGO_PKG_VERSION"))),
        "{changelog}"
    );

    let unit_path = root.join("usr/lib/systemd/system/lvsd.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("ExecStart=/usr/sbin/lvsd"));
    verify_unit(&unit, &root);

    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&out);
}

/// `systemd-analyze verify` on the installed unit, its binary pointing into the scratch root
/// (the host has no /usr/sbin/lvsd): no complaint at all.
fn verify_unit(unit: &str, root: &Path) {
    let dir = scratch("unit-verify");
    let text = unit
        .replace(
            "/usr/sbin/lvsd",
            &root.join("usr/sbin/lvsd").display().to_string(),
        )
        .replace("/sbin/modprobe", "/bin/true");
    std::fs::write(dir.join("lvsd.service"), text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.join("lvsd.service"))
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The capabilities `CapabilityBoundingSet=` of dist/lvsd.service leaves, as setpriv names them
/// (`+net_admin,+net_raw,...`).
fn unit_capabilities() -> String {
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/lvsd.service"))
            .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet=");
    line.split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect::<Vec<_>>()
        .join(",")
}

/// lvsd -P in a namespace under `bounding` (setpriv's syntax), with a notify_master script that
/// chowns a file, switches to nobody and writes under /var. Returns lvsd's log and what the
/// script wrote once the instance is master (or after 15 s).
fn run_vrrp_with_capabilities(tag: &str, bounding: &str) -> (String, String) {
    let id = std::process::id() % 100_000;
    let ns = format!("lvcap{tag}{id}");
    let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    run(Command::new("ip").args(["netns", "add", &ns]));
    for args in [
        &["link", "add", "c0", "type", "veth", "peer", "name", "c1"][..],
        &["link", "set", "c0", "up"],
        &["link", "set", "c1", "up"],
        &["addr", "add", "10.97.0.1/24", "dev", "c0"],
    ] {
        run(Command::new("ip").args(["-n", &ns]).args(args));
    }
    let dir = PathBuf::from(format!("/var/tmp/lvsd-captest-{tag}-{id}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("owned"), "").unwrap();
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nd={d}\nchown 65534:65534 $d/owned && echo chown-ok >> $d/out\n\
             setpriv --reuid=65534 --regid=65534 --clear-groups id -u >> $d/out\n\
             echo master >> $d/out\n",
            d = dir.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&script));
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "vrrp_instance VI_1 {{\n  interface c0\n  virtual_router_id 51\n  priority 150\n  \
             advert_int 1\n  virtual_ipaddress {{\n    10.97.0.100/24\n  }}\n  \
             notify_master \"{}\"\n}}\n",
            script.display()
        ),
    )
    .unwrap();
    let log = dir.join("lvsd.log");
    let logf = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns, "setpriv", "--bounding-set", bounding])
        .arg(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-n", "-l", "-P", "-f"])
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("spawn lvsd under setpriv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let out = dir.join("out");
    while std::time::Instant::now() < deadline
        && !std::fs::read_to_string(&out).is_ok_and(|t| t.contains("master"))
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    let result = (
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(&out).unwrap_or_default(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[test]
fn unit_capabilities_give_vrrp_sched_rr_and_leave_scripts_working() {
    let caps = unit_capabilities();
    assert!(caps.contains("+sys_nice"), "{caps}");
    let (log, out) = run_vrrp_with_capabilities("u", &format!("-all,{caps}"));
    assert!(log.contains("VRRP thread runs SCHED_RR"), "{log}");
    assert!(!log.contains("cannot set SCHED_RR"), "{log}");
    assert_eq!(
        out, "chown-ok\n65534\nmaster\n",
        "script output; lvsd log:\n{log}"
    );

    // The same run without CAP_SYS_NICE shows what the old unit did: the warning, no SCHED_RR.
    let without = caps.replace(",+sys_nice", "").replace("+sys_nice,", "");
    let (log, _) = run_vrrp_with_capabilities("n", &format!("-all,{without}"));
    assert!(log.contains("cannot set SCHED_RR"), "{log}");
}
