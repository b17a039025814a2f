//! `MISC_CHECK`: run a program and judge its exit status.
//!
//! The program runs through [`crate::command::run_script`]: own process group, stdin/stdout/
//! stderr on /dev/null, as the script's resolved user and group (supplementary groups
//! dropped). When it outlives `misc_timeout` the whole group gets SIGTERM, then SIGKILL after
//! [`crate::command::KILL_GRACE`]; when the check is cancelled (reload, shutdown) the group is
//! SIGKILLed at once, so forked children do not linger.
//!
//! Exit status: 0 passes; otherwise it fails, except with `misc_dynamic`, where 1 fails and
//! 2-255 pass with dynamic weight `status - 2` (0 leaves the last dynamic weight in place).

use std::time::Duration;

use crate::command::{ScriptExit, run_script};
use crate::outcome::{FailReason, Outcome};
use crate::spec::{MiscSpec, Spec};

/// Interprets how the program ended per the module doc (`timeout`: the one it was run with).
pub fn judge(misc: &MiscSpec, program: &str, exit: &ScriptExit, timeout: Duration) -> Outcome {
    match (exit, misc.dynamic) {
        (ScriptExit::Exited(0), _) => Outcome::PASS,
        (&ScriptExit::Exited(code @ 2..=255), true) => Outcome::Pass {
            weight: Some(i64::from(code) - 2),
        },
        (&ScriptExit::Exited(code), _) => Outcome::Fail(FailReason::MiscExit {
            program: program.to_string(),
            code,
        }),
        (&ScriptExit::Signaled(signal), _) => Outcome::Fail(FailReason::MiscSignal {
            program: program.to_string(),
            signal,
        }),
        (ScriptExit::TimedOut, _) => Outcome::Fail(FailReason::MiscTimeout {
            program: program.to_string(),
            after: timeout,
        }),
        (ScriptExit::SpawnFailed(detail), _) => Outcome::Fail(FailReason::MiscSpawn {
            program: program.to_string(),
            detail: detail.clone(),
        }),
    }
}

/// Runs the program once.
pub async fn check(spec: &Spec, misc: &MiscSpec) -> Outcome {
    let Some(program) = misc.script.argv.first() else {
        return Outcome::Fail(FailReason::Setup("misc_path is empty".to_string()));
    };
    let timeout = misc.timeout.unwrap_or(spec.timing.delay_loop);
    let exit = run_script(&misc.script, timeout).await;
    judge(misc, program, &exit, timeout)
}
