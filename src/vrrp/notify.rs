//! keepalived's notify hooks. On each state change of an instance:
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` run as configured (the
//! command line is split like keepalived's, no shell), then the generic `notify` runs with
//! four more arguments: `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>` (`GROUP` for
//! sync groups). Each hook is a [`Script`] resolved at load (its user, else `script_user`,
//! and keepalived's security checks; a disabled hook is absent). Scripts are started
//! synchronously ([`checkers::spawn_detached`]) and run detached, as keepalived's: their exit
//! status is logged, never waited on by the instance loop, and they are not killed when lvsd
//! stops — `notify_stop` starts before the instance loop ends and outlives it.

use super::config::{Notify, Script};
use super::fsm::State;

/// keepalived's state word for notify scripts.
pub fn state_word(s: State) -> &'static str {
    match s {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// The scripts to run for entering `to` (pure, for tests): specific hook first, then the
/// generic `notify` with keepalived's four arguments.
pub fn commands(n: &Notify, kind: &str, name: &str, to: State, priority: u8) -> Vec<Script> {
    let specific = match to {
        State::Master => &n.master,
        State::Backup => &n.backup,
        State::Fault => &n.fault,
        State::Initialize => &n.stop,
    };
    let mut out: Vec<Script> = specific.iter().cloned().collect();
    if let Some(s) = &n.any {
        let mut s = s.clone();
        s.argv.extend([
            kind.to_string(),
            name.to_string(),
            state_word(to).to_string(),
            priority.to_string(),
        ]);
        out.push(s);
    }
    out.retain(|s| !s.argv.is_empty());
    out
}

/// Spawns the hooks for a transition; returns at once.
pub fn run(n: &Notify, kind: &str, name: &str, to: State, priority: u8) {
    crate::fifo::vrrp(kind, name, state_word(to), priority);
    for script in commands(n, kind, name, to, priority) {
        spawn(script);
    }
}

/// `notify_master_rx_lower_pri`: the master heard a lower-priority advert.
pub fn rx_lower_pri(n: &Notify) {
    if let Some(s) = n.master_rx_lower_pri.clone().filter(|s| !s.argv.is_empty()) {
        spawn(s);
    }
}

/// Starts one hook, detached; its exit status is logged.
fn spawn(script: Script) {
    let what = script.display();
    match checkers::spawn_detached(&script) {
        Ok(mut child) => {
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
        Err(e) => tracing::warn!(script = %what, error = %e, "cannot run notify script"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_arguments() {
        let n = Notify {
            master: Script::parse("/etc/k/master.sh arg"),
            any: Script::parse("/etc/k/notify.sh"),
            ..Default::default()
        };
        let argvs = |v: Vec<Script>| v.into_iter().map(|s| s.argv).collect::<Vec<_>>();
        assert_eq!(
            argvs(commands(&n, "INSTANCE", "VI_1", State::Master, 150)),
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
            commands(&n, "INSTANCE", "VI_1", State::Initialize, 0)[0].argv[3],
            "STOP"
        );
    }
}
