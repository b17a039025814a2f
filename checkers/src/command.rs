//! Programs as keepalived.conf names them (`misc_path`, `vrrp_script`, `notify*`, quorum and
//! start-up scripts): one parser for their command lines, one [`Script`] type (argv plus the
//! uid/gid it runs as, resolved once when the configuration loads) and one runner, so a
//! quoting rule, a user rule or a kill rule never differs between kinds of script.
//!
//! Running model ([`run_script`]): argv is executed directly (no shell), stdin/stdout/stderr
//! on /dev/null, in a process group of its own, as the script's uid/gid (std's spawn drops
//! root's supplementary groups before `setuid`, so the program gets exactly the user and
//! group asked for). Past the timeout the whole group gets SIGTERM, then SIGKILL after
//! [`KILL_GRACE`], so children it forked go too. Dropping the future (cancelled check,
//! reload, shutdown) SIGKILLs the group at once. A program that exits normally keeps any
//! background children it left: those are its business, as with keepalived.
//!
//! [`spawn_detached`] is the other way to start a [`Script`] (VRRP notify hooks): started
//! synchronously, same user and stdio rules, never killed by lvsd, so a hook started while
//! lvsd stops (`notify_stop`) outlives it.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User};

/// How long a timed-out program's group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Who a program runs as: resolved once from `username [groupname]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScriptUser {
    /// The named user.
    pub uid: Uid,
    /// The named group, else the user's primary group.
    pub gid: Gid,
}

/// Resolves `user` / `group` names. `Ok(None)` when no user is named (run as ourselves; a
/// group alone is ignored, as keepalived only reads it after a user). Errors read
/// `no user NAME` / `no group NAME` or the lookup failure.
pub fn resolve_user(user: Option<&str>, group: Option<&str>) -> Result<Option<ScriptUser>, String> {
    let Some(name) = user else {
        return Ok(None);
    };
    let user = User::from_name(name)
        .map_err(|e| format!("looking up user {name}: {e}"))?
        .ok_or_else(|| format!("no user {name}"))?;
    let gid = match group {
        None => user.gid,
        Some(g) => {
            Group::from_name(g)
                .map_err(|e| format!("looking up group {g}: {e}"))?
                .ok_or_else(|| format!("no group {g}"))?
                .gid
        }
    };
    Ok(Some(ScriptUser { uid: user.uid, gid }))
}

/// A program ready to run: its words and the user and group it runs as, both resolved when
/// the configuration was loaded (nothing is looked up when it runs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Script {
    /// Program and its parameters (never empty for a script built from a configuration).
    pub argv: Vec<String>,
    /// The uid it runs as.
    pub user: Uid,
    /// The gid it runs as (supplementary groups are dropped).
    pub group: Gid,
}

impl Script {
    /// `argv` run as `user`.
    pub fn new(argv: Vec<String>, user: ScriptUser) -> Script {
        Script {
            argv,
            user: user.uid,
            group: user.gid,
        }
    }

    /// `argv` run as this process's own effective user and group (tests, tools).
    pub fn as_self(argv: Vec<String>) -> Script {
        Script {
            argv,
            user: Uid::effective(),
            group: Gid::effective(),
        }
    }

    /// A command line split with [`split_command`], run as this process's user; `None` when
    /// it has no words.
    pub fn parse(cmdline: &str) -> Option<Script> {
        let argv = split_command(cmdline);
        (!argv.is_empty()).then(|| Script::as_self(argv))
    }

    /// The same program run as `user`.
    pub fn run_as(self, user: ScriptUser) -> Script {
        Script::new(self.argv, user)
    }

    /// The program (first word), "" for an empty script.
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// The command line as one string, for logs.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }

    /// A command with this script's program, arguments, user and null stdio.
    fn command(&self) -> Option<tokio::process::Command> {
        let (program, args) = self.argv.split_first()?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Only change identity when it differs: an unprivileged lvsd (tests) can still run
        // scripts as itself.
        if self.user != Uid::effective() || self.group != Gid::effective() {
            cmd.uid(self.user.as_raw()).gid(self.group.as_raw());
        }
        Some(cmd)
    }
}

/// Starts `script` now and returns its child without waiting: the child is not in a process
/// group of lvsd's making and is not killed when the handle drops, so it outlives lvsd.
pub fn spawn_detached(script: &Script) -> std::io::Result<tokio::process::Child> {
    let mut cmd = script
        .command()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    cmd.kill_on_drop(false);
    cmd.spawn()
}

/// How one run of a program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptExit {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Still running at the timeout; its process group was killed.
    TimedOut,
    /// Could not be started, or waiting for it failed: the OS error (without the program
    /// name, which callers add in their own wording).
    SpawnFailed(String),
}

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

/// Runs `argv` once per the module doc, waiting at most `timeout` (plus [`KILL_GRACE`] when
/// the program ignores SIGTERM). Cancellation-safe: dropping the future kills the group.
pub async fn run_script(script: &Script, timeout: Duration) -> ScriptExit {
    let Some(mut cmd) = script.command() else {
        return ScriptExit::SpawnFailed("empty command".to_string());
    };
    cmd.process_group(0).kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ScriptExit::SpawnFailed(e.to_string()),
    };
    // process_group(0): the group id is the child's pid. Declared after `child` so it drops
    // first on cancellation: the group is killed before tokio reaps the leader.
    let mut guard = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            guard.0 = None;
            match (status.code(), status.signal()) {
                (Some(code), _) => ScriptExit::Exited(code),
                (None, Some(sig)) => ScriptExit::Signaled(sig),
                // Neither code nor signal cannot happen for a reaped child; report it as-is.
                (None, None) => ScriptExit::SpawnFailed(format!("unknown exit status {status}")),
            }
        }
        Ok(Err(e)) => ScriptExit::SpawnFailed(format!("waiting for exit: {e}")),
        Err(_) => {
            if let Some(pgid) = guard.0 {
                let _ = killpg(pgid, Signal::SIGTERM);
                // Whatever the leader does, the group then gets SIGKILL (guard drop), so
                // children ignoring SIGTERM go too.
                let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            }
            drop(guard);
            let _ = child.kill().await; // reaps the leader if still there
            ScriptExit::TimedOut
        }
    }
}

/// Splits a command line into words: unquoted blanks separate; `'…'` keeps everything
/// literally; `"…"` keeps blanks and honours backslash escapes; outside quotes a backslash
/// escapes the next character. An empty quoted string is an (empty) word.
pub fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` still runs (a zombie counts as gone).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    #[test]
    fn resolves_users_and_groups_by_name() {
        assert_eq!(resolve_user(None, Some("root")), Ok(None));
        let nobody = resolve_user(Some("nobody"), None).unwrap().unwrap();
        assert_eq!(nobody.uid.as_raw(), 65534);
        assert_eq!(nobody.gid.as_raw(), 65534);
        let in_root = resolve_user(Some("nobody"), Some("root")).unwrap().unwrap();
        assert_eq!(in_root.gid.as_raw(), 0);
        assert_eq!(
            resolve_user(Some("no-such-user-lvsd"), None),
            Err("no user no-such-user-lvsd".into())
        );
        assert_eq!(
            resolve_user(Some("nobody"), Some("no-such-group-lvsd")),
            Err("no group no-such-group-lvsd".into())
        );
    }

    #[tokio::test]
    async fn exit_signal_and_spawn_failure() {
        let sh = |c: &str| Script::as_self(vec!["/bin/sh".to_string(), "-c".into(), c.into()]);
        let t = Duration::from_secs(5);
        assert_eq!(run_script(&sh("exit 7"), t).await, ScriptExit::Exited(7));
        assert_eq!(
            run_script(&sh("kill -USR1 $$"), t).await,
            ScriptExit::Signaled(libc::SIGUSR1)
        );
        let missing = run_script(&Script::as_self(vec!["/nonexistent/x".to_string()]), t).await;
        assert!(matches!(missing, ScriptExit::SpawnFailed(ref e) if e.contains("No such file")));
        assert!(matches!(
            run_script(&Script::as_self(vec![]), t).await,
            ScriptExit::SpawnFailed(_)
        ));
    }

    #[tokio::test]
    async fn term_ignoring_group_is_killed_after_the_grace() {
        let dir = std::env::temp_dir().join(format!("checkers-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("child");
        // Leader and its forked child both ignore SIGTERM.
        let cmd = format!(
            "trap '' TERM; sleep 60 & echo $! > {}; wait; wait",
            pidfile.display()
        );
        let script = Script::as_self(vec!["/bin/sh".to_string(), "-c".into(), cmd]);
        let started = std::time::Instant::now();
        let exit = run_script(&script, Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert_eq!(exit, ScriptExit::TimedOut);
        assert!(
            took >= KILL_GRACE,
            "SIGKILL came before the grace: {took:?}"
        );
        assert!(took < KILL_GRACE + Duration::from_secs(2), "took {took:?}");
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!alive(child), "forked child {child} survived");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn runs_as_the_scripts_user() {
        if !Uid::effective().is_root() {
            return; // changing user needs root; CI runs as root
        }
        let dir = std::env::temp_dir().join(format!("checkers-uid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let out = dir.join("id");
        let nobody = resolve_user(Some("nobody"), None).unwrap().unwrap();
        let s = Script::new(
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo $(id -u) $(id -g) $(id -G) > {}", out.display()),
            ],
            nobody,
        );
        assert_eq!(
            run_script(&s, Duration::from_secs(5)).await,
            ScriptExit::Exited(0)
        );
        let want = format!("{0} {1} {1}\n", nobody.uid, nobody.gid);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
        // The detached start gives the same identity.
        std::fs::remove_file(&out).unwrap();
        let mut child = spawn_detached(&s).unwrap();
        assert!(child.wait().await.unwrap().success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            split_command(r#"/bin/sh -c 'test -f "/x y"' a\ b"#),
            vec!["/bin/sh", "-c", r#"test -f "/x y""#, "a b"]
        );
        assert_eq!(
            split_command(r#"  /x 'a\b'  "c \"d\"" e\ f ''  "#),
            vec!["/x", r"a\b", r#"c "d""#, "e f", ""]
        );
        assert!(split_command("   ").is_empty());
    }
}
