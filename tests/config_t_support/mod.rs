//! `lvsd -t` run as the operator runs it (the binary), under a deadline, with its peak memory
//! as the kernel measured it (wait4's rusage), for the bounded-input tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
    pub took: Duration,
    /// Peak resident set, KiB.
    pub max_rss_kib: i64,
}

/// `lvsd -t -f FILE`, killed after `deadline`.
// Reaped with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn lvsd_t(file: &Path, deadline: Duration) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "--config-id", "hostile", "-f"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lvsd");
    let pid = child.id() as libc::pid_t;
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child, writing through valid, exclusive pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            // SAFETY: as above; the child was just killed, this reaps it.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            let stderr = reader.join().unwrap_or_default();
            panic!(
                "lvsd -t {} still running after {deadline:?}; stderr: {}",
                file.display(),
                &stderr[..stderr.len().min(2000)]
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = start.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Run {
        code,
        stderr: reader.join().unwrap_or_default(),
        took,
        max_rss_kib: usage.ru_maxrss,
    }
}
