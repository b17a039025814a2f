//! Notify scripts: `notify_up` / `notify_down` (real server), `quorum_up` / `quorum_down`
//! (virtual server), run the way keepalived runs them: the configured command line split on
//! unquoted spaces (single or double quotes keep a parameter whole), no arguments appended,
//! as the [`Script`]'s user and group, resolved (and security-checked) when the configuration
//! loaded ([`crate::scripts`]).
//!
//! Contracts: [`Notifier::fire`] never blocks the caller (the director's loop must not wait on
//! a script); at most `max_running` scripts run at once and at most `max_queued` wait, beyond
//! which a script is dropped with a warning (a storm of flaps cannot fork-bomb the host); a
//! script still running after `timeout` gets SIGTERM, then SIGKILL, sent to its whole process
//! group, so children it forked go too (the mechanics are [`checkers::run_script`]'s).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use checkers::Script;
use checkers::{ScriptExit, run_script};
use tokio::sync::Semaphore;

/// How long a notify script may run before its process group is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// Notifier settings.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Scripts running at once.
    pub max_running: usize,
    /// Scripts waiting for a slot; beyond this they are dropped with a warning.
    pub max_queued: usize,
    /// A script running longer is terminated (its whole process group).
    pub timeout: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            max_running: 8,
            max_queued: 256,
            timeout: NOTIFY_TIMEOUT,
        }
    }
}

/// Runs notify scripts in the background; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    cfg: Arc<NotifierConfig>,
    slots: Arc<Semaphore>,
    queued: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    pub fn new(cfg: NotifierConfig) -> Self {
        Notifier {
            slots: Arc::new(Semaphore::new(cfg.max_running.max(1))),
            cfg: Arc::new(cfg),
            queued: Arc::new(AtomicU64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Scripts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Starts `script` in the background (`what` names the event in logs). Returns at once;
    /// the handle can be awaited for the result (tests, `omega` at shutdown).
    pub fn fire(&self, script: &Script, what: &str) -> Option<tokio::task::JoinHandle<ScriptExit>> {
        let waiting = self.queued.fetch_add(1, Ordering::Relaxed);
        if waiting >= self.cfg.max_queued as u64 {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(script = ?script.argv, event = what, "notify queue full, script dropped");
            return None;
        }
        let this = self.clone();
        let script = script.clone();
        let what = what.to_string();
        Some(tokio::spawn(async move {
            // The semaphore is never closed, so acquire only fails if it were: treat as "run".
            let _permit = this.slots.acquire().await.ok();
            this.queued.fetch_sub(1, Ordering::Relaxed);
            let res = run(&script, &this.cfg).await;
            match &res {
                ScriptExit::Exited(0) => {
                    tracing::debug!(script = ?script.argv, event = %what, "notify script done")
                }
                ScriptExit::Exited(code) => {
                    tracing::warn!(script = ?script.argv, event = %what, code, "notify script failed")
                }
                ScriptExit::Signaled(signal) => {
                    tracing::warn!(script = ?script.argv, event = %what, signal, "notify script failed")
                }
                ScriptExit::TimedOut => tracing::warn!(
                    script = ?script.argv, event = %what, timeout = ?this.cfg.timeout,
                    "notify script timed out, killed"
                ),
                ScriptExit::SpawnFailed(e) => {
                    tracing::warn!(script = ?script.argv, event = %what, "notify script not started: {e}")
                }
            }
            res
        }))
    }
}

/// Runs once; errors name the program (`prog: error`).
async fn run(script: &Script, cfg: &NotifierConfig) -> ScriptExit {
    match run_script(script, cfg.timeout).await {
        ScriptExit::SpawnFailed(e) => ScriptExit::SpawnFailed(format!("{}: {e}", script.program())),
        exit => exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_like_keepalived() {
        let s = Script::parse("/bin/notify.sh RS_1 UP 10.0.0.4:80->192.168.1.1:80").unwrap();
        assert_eq!(
            s.argv,
            [
                "/bin/notify.sh",
                "RS_1",
                "UP",
                "10.0.0.4:80->192.168.1.1:80"
            ]
        );
        let s = Script::parse(r#"  /x 'a b'  "c d" e\ f ''  "#).unwrap();
        assert_eq!(s.argv, ["/x", "a b", "c d", "e f", ""]);
        assert_eq!(Script::parse("   "), None);
    }

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lvsd-notify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn runs_script_with_its_arguments() {
        let d = tmpdir("args");
        let out = d.join("out");
        let s = Script::parse(&format!(
            "/bin/sh -c 'echo \"$0 $1\" > {}' 'RS UP' second",
            out.display()
        ))
        .unwrap();
        let n = Notifier::new(NotifierConfig::default());
        let r = n.fire(&s, "test").unwrap().await.unwrap();
        assert_eq!(r, ScriptExit::Exited(0));
        assert_eq!(std::fs::read_to_string(out).unwrap(), "RS UP second\n");
    }

    #[tokio::test]
    async fn hanging_script_and_its_children_are_killed_at_timeout() {
        let d = tmpdir("hang");
        let pidfile = d.join("child");
        let s = Script::parse(&format!(
            "/bin/sh -c 'sleep 300 & echo $! > {}; wait'",
            pidfile.display()
        ))
        .unwrap();
        let n = Notifier::new(NotifierConfig {
            timeout: Duration::from_millis(300),
            ..NotifierConfig::default()
        });
        let started = std::time::Instant::now();
        let r = n.fire(&s, "test").unwrap().await.unwrap();
        assert_eq!(r, ScriptExit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let child: i32 = std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The forked sleep went with the group (give the kernel a moment to reap).
        let mut gone = false;
        for _ in 0..50 {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "child {child} of a timed-out script survived");
    }

    #[tokio::test]
    async fn runs_as_script_user() {
        let d = tmpdir("user");
        let out = d.join("uid");
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let nobody = checkers::resolve_user(Some("nobody"), None)
            .unwrap()
            .unwrap();
        let s = Script::parse(&format!("/bin/sh -c 'id -u > {}'", out.display()))
            .unwrap()
            .run_as(nobody);
        let n = Notifier::new(NotifierConfig::default());
        let r = n.fire(&s, "test").unwrap().await.unwrap();
        assert_eq!(r, ScriptExit::Exited(0));
        let want = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
        assert_eq!(
            std::fs::read_to_string(out).unwrap().trim(),
            want.to_string()
        );
    }

    #[tokio::test]
    async fn missing_program_is_reported_not_fatal() {
        let n = Notifier::new(NotifierConfig::default());
        let r = n
            .fire(&Script::parse("/nonexistent/notify").unwrap(), "t")
            .unwrap()
            .await
            .unwrap();
        assert!(matches!(r, ScriptExit::SpawnFailed(ref e) if e.contains("/nonexistent/notify")));
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let n = Notifier::new(NotifierConfig {
            max_running: 1,
            max_queued: 2,
            timeout: Duration::from_secs(5),
        });
        let s = Script::parse("/bin/sleep 0.3").unwrap();
        let a = n.fire(&s, "t");
        let b = n.fire(&s, "t");
        let c = n.fire(&s, "t");
        assert!(a.is_some() && b.is_some());
        assert!(c.is_none());
        assert_eq!(n.dropped(), 1);
        assert_eq!(a.unwrap().await.unwrap(), ScriptExit::Exited(0));
        assert_eq!(b.unwrap().await.unwrap(), ScriptExit::Exited(0));
    }
}
