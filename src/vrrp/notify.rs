//! keepalived's notify hooks. On each state change of an instance:
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` run as configured (the
//! command line is split like keepalived's, no shell), then the generic `notify` runs with
//! four more arguments: `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>` (`GROUP` for
//! sync groups). Scripts are started synchronously and run detached, as keepalived's: their
//! exit status is logged, never waited on by the instance loop, and they are not killed when
//! lvsd stops — `notify_stop` starts before the instance loop ends and outlives it.

use std::process::Stdio;

use super::config::Notify;
use super::fsm::State;
use super::track::split_command;

/// keepalived's state word for notify scripts.
pub fn state_word(s: State) -> &'static str {
    match s {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// The command lines to run for entering `to` (pure, for tests): specific hook first.
pub fn commands(n: &Notify, kind: &str, name: &str, to: State, priority: u8) -> Vec<Vec<String>> {
    let specific = match to {
        State::Master => &n.master,
        State::Backup => &n.backup,
        State::Fault => &n.fault,
        State::Initialize => &n.stop,
    };
    let mut out = Vec::new();
    if let Some(c) = specific {
        out.push(split_command(c));
    }
    if let Some(c) = &n.any {
        let mut argv = split_command(c);
        argv.extend([
            kind.to_string(),
            name.to_string(),
            state_word(to).to_string(),
            priority.to_string(),
        ]);
        out.push(argv);
    }
    out.retain(|a| !a.is_empty());
    out
}

/// Spawns the hooks for a transition; returns at once.
pub fn run(n: &Notify, kind: &str, name: &str, to: State, priority: u8) {
    for argv in commands(n, kind, name, to, priority) {
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match cmd.spawn() {
            Ok(mut child) => {
                let what = argv.join(" ");
                tokio::spawn(async move {
                    match child.wait().await {
                        Ok(s) if s.success() => {}
                        Ok(s) => {
                            tracing::warn!(script = %what, status = %s, "notify script failed")
                        }
                        Err(e) => tracing::warn!(script = %what, error = %e, "notify script"),
                    }
                });
            }
            Err(e) => {
                tracing::warn!(script = %argv.join(" "), error = %e, "cannot run notify script")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_arguments() {
        let n = Notify {
            master: Some("/etc/k/master.sh arg".into()),
            any: Some("/etc/k/notify.sh".into()),
            ..Default::default()
        };
        assert_eq!(
            commands(&n, "INSTANCE", "VI_1", State::Master, 150),
            vec![
                vec!["/etc/k/master.sh".to_string(), "arg".into()],
                vec![
                    "/etc/k/notify.sh".to_string(),
                    "INSTANCE".into(),
                    "VI_1".into(),
                    "MASTER".into(),
                    "150".into()
                ],
            ]
        );
        assert_eq!(
            commands(&n, "INSTANCE", "VI_1", State::Initialize, 0)[0][3],
            "STOP"
        );
    }
}
