//! `MISC_CHECK`: run a program and judge its exit status.
//!
//! The program runs in its own process group with stdin/stdout/stderr on /dev/null, as the
//! configured user (primary or given group, supplementary groups dropped). When it outlives
//! `misc_timeout`, or when the check is cancelled (reload, shutdown), the whole group is killed
//! with SIGKILL, so forked children do not linger.
//!
//! Exit status: 0 passes; otherwise it fails, except with `misc_dynamic`, where 1 fails and
//! 2-255 pass with dynamic weight `status - 2` (0 leaves the last dynamic weight in place).

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User};

use crate::outcome::{FailReason, Outcome};
use crate::spec::{MiscSpec, Spec};

/// Kills the process group when dropped, unless disarmed after a normal exit.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // ESRCH (already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

fn credentials(misc: &MiscSpec) -> Result<Option<(Uid, Gid)>, String> {
    let Some(name) = &misc.user else {
        return Ok(None);
    };
    let user = User::from_name(name).map_err(|e| format!("looking up user {name}: {e}"))?;
    let user = user.ok_or_else(|| format!("no user {name}"))?;
    let gid = match &misc.group {
        None => user.gid,
        Some(g) => {
            let group = Group::from_name(g).map_err(|e| format!("looking up group {g}: {e}"))?;
            group.ok_or_else(|| format!("no group {g}"))?.gid
        }
    };
    Ok(Some((user.uid, gid)))
}

/// Interprets an exit status per the module doc.
pub fn judge(misc: &MiscSpec, program: &str, status: std::process::ExitStatus) -> Outcome {
    match (status.code(), misc.dynamic) {
        (Some(0), _) => Outcome::PASS,
        (Some(code @ 2..=255), true) => Outcome::Pass {
            weight: Some(i64::from(code) - 2),
        },
        (Some(code), _) => Outcome::Fail(FailReason::MiscExit {
            program: program.to_string(),
            code,
        }),
        (None, _) => Outcome::Fail(FailReason::MiscSignal {
            program: program.to_string(),
            signal: status.signal().unwrap_or(0),
        }),
    }
}

/// Runs the program once.
pub async fn check(spec: &Spec, misc: &MiscSpec) -> Outcome {
    let Some(program) = misc.argv.first() else {
        return Outcome::Fail(FailReason::Setup("misc_path is empty".to_string()));
    };
    let program = program.clone();
    let creds = match credentials(misc) {
        Ok(c) => c,
        Err(detail) => return Outcome::Fail(FailReason::MiscSpawn { program, detail }),
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&misc.argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((uid, gid)) = creds {
        // std's spawn drops root's supplementary groups (setgroups(0)) before setuid when an
        // explicit uid is given: the program gets exactly the user and group asked for.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Fail(FailReason::MiscSpawn {
                program,
                detail: e.to_string(),
            });
        }
    };
    // process_group(0): the group id is the child's pid.
    let mut guard = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let timeout = misc.timeout.unwrap_or(spec.timing.delay_loop);
    match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => {
            drop(guard); // kills the group
            let _ = child.wait().await; // reap
            Outcome::Fail(FailReason::MiscTimeout {
                program,
                after: timeout,
            })
        }
        Ok(Err(e)) => Outcome::Fail(FailReason::MiscSpawn {
            program,
            detail: e.to_string(),
        }),
        Ok(Ok(status)) => {
            // Children it left running in the background are its business, as with keepalived.
            guard.0 = None;
            judge(misc, &program, status)
        }
    }
}
