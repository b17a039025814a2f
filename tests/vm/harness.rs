//! Run `#[ignore]`d tests of the current test binary inside the IPVS VM (tests/vm/ipvs-vm.sh).
//!
//! Include it from any integration test of the workspace:
//!
//! ```ignore
//! #[path = "../../tests/vm/harness.rs"] // from ipvs/tests/; "vm/harness.rs" from root tests/
//! mod vm;
//!
//! /// Boots the VM once and runs every `kernel_*` test below inside it.
//! #[test]
//! fn in_vm() {
//!     vm::run_ignored_in_vm("kernel_", 3);
//! }
//!
//! #[test]
//! #[ignore = "needs an IPVS kernel: run by in_vm()"]
//! fn kernel_something() { /* talks to the real kernel */ }
//! ```
//!
//! The outer test fails (never skips) when qemu or the runner's other tools are missing, when
//! the VM cannot boot, when any inner test fails, or when fewer inner tests ran than expected.
//! Inside the VM the inner tests run one at a time (they share one kernel table).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the guest for inner tests (`LVSD_IN_VM=1`).
pub const IN_VM_ENV: &str = "LVSD_IN_VM";

/// Whether this process runs inside the IPVS VM.
pub fn inside() -> bool {
    std::env::var_os(IN_VM_ENV).is_some()
}

/// The runner script, found by walking up from this crate's manifest dir.
pub fn runner() -> PathBuf {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let p = d.join("tests/vm/ipvs-vm.sh");
        if p.is_file() {
            return p;
        }
        dir = d.parent();
    }
    panic!(
        "tests/vm/ipvs-vm.sh not found above {}",
        env!("CARGO_MANIFEST_DIR")
    );
}

/// Fails with an actionable message when a host tool the runner needs is missing.
pub fn require_tools() {
    let missing: Vec<&str> = [
        "qemu-system-x86_64",
        "busybox",
        "cpio",
        "xz",
        "ipvsadm",
        "apt-get",
        "dpkg",
    ]
    .into_iter()
    .filter(|t| {
        !std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false)
    })
    .collect();
    assert!(
        missing.is_empty(),
        "IPVS VM tests need {missing:?} on the host: \
         apt-get install qemu-system-x86 busybox-static cpio xz-utils ipvsadm"
    );
}

/// Output of a VM run.
pub struct VmRun {
    /// Guest stdout (libtest output of the inner tests).
    pub stdout: String,
    /// Guest stderr and runner messages.
    pub stderr: String,
}

/// Boots the VM once and runs this binary's ignored tests whose names contain `filter`, one at
/// a time. Panics unless all pass and at least `min_tests` ran. Returns the output.
pub fn run_ignored_in_vm(filter: &str, min_tests: usize) -> VmRun {
    run_in_vm_args(&["--ignored", "--test-threads=1", filter], min_tests)
}

/// Like [`run_ignored_in_vm`] with explicit libtest arguments.
pub fn run_in_vm_args(args: &[&str], min_tests: usize) -> VmRun {
    require_tools();
    let exe = std::env::current_exe().expect("current test binary path");
    let out = Command::new(runner())
        .arg(&exe)
        .args(args)
        .env(IN_VM_ENV, "1")
        .env(
            "IPVSVM_TIMEOUT",
            std::env::var("IPVSVM_TIMEOUT").unwrap_or_else(|_| "600".into()),
        )
        .output()
        .expect("cannot run tests/vm/ipvs-vm.sh");
    let run = VmRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Show the inner results in the outer test's output (visible with --nocapture or on failure).
    println!("{}", run.stdout);
    eprintln!("{}", run.stderr);
    assert!(
        out.status.success(),
        "inner tests failed in the IPVS VM (exit {:?}); output above",
        out.status.code()
    );
    let passed = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum::<usize>();
    assert!(
        passed >= min_tests,
        "only {passed} inner tests ran in the VM, expected at least {min_tests}"
    );
    run
}
