//! MISC_CHECK with real programs: exit codes, misc_dynamic, signals, hangs, forked children,
//! cancellation and the script user.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use checkers::{CheckKind, FailReason, MiscSpec, Outcome, Spec, check};

fn misc(cmd: &str, dynamic: bool, timeout: Duration) -> Spec {
    let m = MiscSpec {
        script: checkers::Script::as_self(MiscSpec::split_command(cmd)),
        timeout: Some(timeout),
        dynamic,
    };
    Spec::new("127.0.0.1:0".parse().unwrap(), CheckKind::Misc(m))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("checkers-misc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether `pid` still runs (a zombie waiting for init to reap it counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

async fn read_pid(file: &Path) -> i32 {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(file)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no pid written to {}", file.display());
}

#[tokio::test]
async fn exit_codes_plain_and_dynamic() {
    let t = Duration::from_secs(10);
    // Every exit status, 32 programs at a time.
    let mut results = Vec::new();
    for chunk in (0..=255).collect::<Vec<i32>>().chunks(32) {
        let runs = chunk.iter().map(|&code| async move {
            let cmd = format!("/bin/sh -c 'exit {code}'");
            (
                code,
                check(&misc(&cmd, false, t)).await,
                check(&misc(&cmd, true, t)).await,
            )
        });
        results.extend(futures_util::future::join_all(runs).await);
    }
    assert_eq!(results.len(), 256);
    for (code, plain, dynamic) in results {
        match code {
            0 => {
                assert_eq!(plain, Outcome::PASS);
                assert_eq!(dynamic, Outcome::PASS);
            }
            1 => {
                assert_eq!(plain.to_string(), "/bin/sh exited with status 1");
                assert_eq!(dynamic.to_string(), "/bin/sh exited with status 1");
            }
            _ => {
                assert_eq!(
                    plain,
                    Outcome::Fail(FailReason::MiscExit {
                        program: "/bin/sh".into(),
                        code
                    })
                );
                assert_eq!(
                    dynamic,
                    Outcome::Pass {
                        weight: Some(i64::from(code) - 2)
                    },
                    "exit {code}"
                );
            }
        }
    }
}

#[tokio::test]
async fn killed_by_signal_and_missing_program() {
    let out = check(&misc(
        "/bin/sh -c 'kill -TERM $$'",
        false,
        Duration::from_secs(5),
    ))
    .await;
    assert_eq!(out.to_string(), "/bin/sh killed by signal 15");
    let out = check(&misc(
        "/nonexistent/check --flag",
        false,
        Duration::from_secs(5),
    ))
    .await;
    assert!(
        out.to_string()
            .starts_with("cannot run /nonexistent/check: "),
        "{out}"
    );
}

#[tokio::test]
async fn hang_is_killed_with_its_children() {
    let dir = scratch("hang");
    let pidfile = dir.join("child.pid");
    let cmd = format!(
        "/bin/sh -c 'sleep 60 & echo $! > {}; sleep 60'",
        pidfile.display()
    );
    let started = Instant::now();
    let out = check(&misc(&cmd, false, Duration::from_millis(500))).await;
    let took = started.elapsed();
    assert_eq!(
        out.to_string(),
        "/bin/sh still running after 500 ms, process group killed"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let child = read_pid(&pidfile).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(child), "forked child {child} survived");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn cancelled_check_kills_the_group() {
    let dir = scratch("cancel");
    let pidfile = dir.join("child.pid");
    let cmd = format!(
        "/bin/sh -c 'sleep 60 & echo $! > {}; wait'",
        pidfile.display()
    );
    let spec = misc(&cmd, false, Duration::from_secs(60));
    let task = tokio::spawn(async move { check(&spec).await });
    let child = read_pid(&pidfile).await;
    assert!(alive(child));
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(child), "child {child} of a cancelled check survived");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn runs_as_the_script_user_without_root_groups() {
    let dir = scratch("user");
    // nobody must be able to write the result.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out_file = dir.join("id");
    let cmd = format!(
        "/bin/sh -c 'echo $(id -u) $(id -g) $(id -G) > {}'",
        out_file.display()
    );
    let mut spec = misc(&cmd, false, Duration::from_secs(5));
    let nobody = checkers::resolve_user(Some("nobody"), None)
        .unwrap()
        .unwrap();
    if let CheckKind::Misc(m) = &mut spec.kind {
        m.script = m.script.clone().run_as(nobody);
    }
    assert_eq!(check(&spec).await, Outcome::PASS);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap().trim(),
        "65534 65534 65534"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn misc_path_quoting() {
    assert_eq!(
        MiscSpec::split_command(r#"/usr/bin/check "a b" 'c d' e\ f  "" g"#),
        ["/usr/bin/check", "a b", "c d", "e f", "", "g"]
    );
}
