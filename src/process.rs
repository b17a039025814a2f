//! Process set-up the daemon's flags ask for before anything runs: the umask (`-u`), core
//! dumps (`-m`, `-M`), the network namespace (`-s`), and the privilege check that gives one
//! clear error instead of a stream of "Operation not permitted".

use std::path::Path;

use anyhow::Context;

/// `-u MASK`: applies to every file lvsd creates from here on (pid files, dumps, logs).
pub fn set_umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        mask as libc::mode_t,
    ));
}

/// `-m`: core dumps allowed (RLIMIT_CORE unlimited, the process dumpable).
pub fn enable_core_dumps() -> anyhow::Result<()> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY)
        .context("-m: setting RLIMIT_CORE")?;
    // SAFETY: prctl with an integer argument; no pointers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    Ok(())
}

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// `-M[=PATTERN]`: the kernel's core_pattern until this guard drops (then the old one is put
/// back), as keepalived does.
pub struct CorePattern {
    old: String,
}

impl CorePattern {
    pub fn set(pattern: &str) -> anyhow::Result<CorePattern> {
        let old = std::fs::read_to_string(CORE_PATTERN).context("-M: reading core_pattern")?;
        std::fs::write(CORE_PATTERN, pattern).context("-M: writing core_pattern")?;
        Ok(CorePattern { old })
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        let _ = std::fs::write(CORE_PATTERN, self.old.trim_end());
    }
}

/// `-s NAME`: joins /run/netns/NAME. Call before any thread starts (setns acts on the
/// calling thread; threads started later inherit it).
pub fn enter_namespace(name: &str) -> anyhow::Result<()> {
    if name.contains('/') || name.is_empty() {
        anyhow::bail!("-s {name:?}: not a namespace name");
    }
    let path = Path::new("/run/netns").join(name);
    let f = std::fs::File::open(&path)
        .with_context(|| format!("-s {name}: cannot open {}", path.display()))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("-s {name}: cannot enter the namespace"))?;
    Ok(())
}

/// The capabilities the daemon needs: programming IPVS and addresses (CAP_NET_ADMIN) and raw
/// VRRP sockets (CAP_NET_RAW). Root has them; so does a service given them by systemd.
pub fn check_privileges() -> anyhow::Result<()> {
    const NET_ADMIN: u32 = 12;
    const NET_RAW: u32 = 13;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| eff & (1 << bit) != 0;
    if has(NET_ADMIN) && has(NET_RAW) {
        return Ok(());
    }
    anyhow::bail!(
        "lvsd must run as root (it needs CAP_NET_ADMIN and CAP_NET_RAW to program IPVS, the \
         virtual addresses and VRRP sockets); start it with sudo or as the lvsd service \
         (--health-check-only and -t work without)"
    )
}

/// Raises the soft open-files limit to the hard one: the API's connection budget and the
/// checkers need descriptors, and the default soft limit (1024) is easy for one local user
/// to exhaust.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// `startup_script` / `shutdown_script` (keepalived.conf(5)): run once, the start-up one before
/// VRRP, the checkers or any listener start, the shutdown one after everything has stopped;
/// lvsd waits for it, at most `timeout` (`*_script_timeout`, default 10 s), after which its
/// process group gets SIGTERM, then SIGKILL ([`checkers::run_script`]). Its result is logged;
/// a failing script does not stop lvsd, as it does not stop keepalived. A script refused at
/// load (security, missing program) is `None` here and logged by [`crate::scripts`].
pub async fn run_lifecycle_script(
    which: &str,
    script: Option<&checkers::Script>,
    timeout: std::time::Duration,
) {
    use checkers::ScriptExit;
    let Some(script) = script else { return };
    tracing::info!(script = %script.display(), "running {which} script");
    match checkers::run_script(script, timeout).await {
        ScriptExit::Exited(0) => tracing::info!("{which} script succeeded"),
        ScriptExit::Exited(code) => tracing::warn!("{which} script failed, status {code}"),
        ScriptExit::Signaled(sig) => tracing::warn!("{which} script killed by signal {sig}"),
        ScriptExit::TimedOut => {
            tracing::warn!("{which} script timed out after {timeout:?}: killed")
        }
        ScriptExit::SpawnFailed(e) => {
            tracing::warn!("{which} script `{}` not started: {e}", script.program())
        }
    }
}

/// `net_namespace_ipvs NAME` (empty: the default namespace): the IPVS netlink socket is
/// opened in that namespace while everything else stays in lvsd's. A socket belongs to the
/// namespace its creating thread was in, so this thread joins NAME only while the socket is
/// made (synchronously, in the first poll of the connect) and then returns home.
pub async fn connect_ipvs_in(ns: &str) -> anyhow::Result<Result<ipvs::Client, ipvs::Error>> {
    use std::future::Future;
    use std::task::Poll;
    let path = if ns.is_empty() {
        std::path::PathBuf::from("/proc/1/ns/net")
    } else {
        Path::new("/run/netns").join(ns)
    };
    let target = std::fs::File::open(&path)
        .with_context(|| format!("net_namespace_ipvs {ns}: cannot open {}", path.display()))?;
    let home = std::fs::File::open("/proc/thread-self/ns/net")
        .context("net_namespace_ipvs: cannot open this thread's namespace")?;
    let mut fut = Box::pin(ipvs::Client::connect());
    nix::sched::setns(&target, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("net_namespace_ipvs {ns}: cannot enter the namespace"))?;
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    if let Err(e) = nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET) {
        // A worker thread left in the wrong namespace would open later sockets there.
        tracing::error!("net_namespace_ipvs: cannot return to lvsd's namespace: {e}; exiting");
        std::process::exit(1);
    }
    Ok(match first {
        Poll::Ready(r) => r,
        Poll::Pending => fut.await,
    })
}
