//! The route writer task: configuration + virtual-server status → desired routes → kernel.
//!
//! Every wake-up (a new configuration, a status change, the resync timer) recomputes the
//! desired set and converges the kernel to it: a fresh dump, [`super::desired::diff`], apply.
//! A table or protocol dropped by a reload is emptied of our routes; on shutdown everything
//! is withdrawn before the task ends. Nothing is remembered between passes except which
//! (table, protocol) pairs the configurations used, so a kernel edited by hand is repaired on
//! the next pass and a restart adopts the routes that are still right.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::desired::{self, Target, Wanted};
use super::kernel::{Error, RouteKernel};
use crate::config::Config;
use crate::status::{StatusHub, VirtualServerStatus};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Re-converge at least this often (repairs a route deleted by hand).
    pub resync: Duration,
    /// Wait before retrying after a kernel error.
    pub retry: Duration,
    /// Set the IPVS sysctls anycast needs (`sysctl.rs`); off in tests.
    pub sysctls: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            resync: Duration::from_secs(5),
            retry: Duration::from_secs(1),
            sysctls: true,
        }
    }
}

/// The daemon's writer (full and `-C` modes): rtnetlink, opened only once a configuration
/// uses the anycast keywords. Ends after `shutdown`, with every route withdrawn.
pub fn spawn(
    configs: &watch::Sender<Option<crate::daemon::Model>>,
    hub: &StatusHub,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // The writer needs only the configuration, not the resolved scripts beside it.
    let config_of = |m: &Option<crate::daemon::Model>| m.as_ref().map(|(c, _)| c.clone());
    let (tx, rx) = watch::channel(config_of(&configs.borrow()));
    let mut models = configs.subscribe();
    tokio::spawn(async move {
        while models.changed().await.is_ok() {
            if tx.send(config_of(&models.borrow_and_update())).is_err() {
                break;
            }
        }
    });
    tokio::spawn(run(
        super::kernel::Netlink::connect,
        rx,
        hub.virtual_servers.subscribe(),
        shutdown,
        RunOptions::default(),
    ))
}

/// Runs until `shutdown` turns true; `connect` opens the kernel when first needed.
pub async fn run<K, C, F>(
    connect: C,
    mut configs: watch::Receiver<Option<Arc<Config>>>,
    mut status: watch::Receiver<Vec<VirtualServerStatus>>,
    mut shutdown: watch::Receiver<bool>,
    opts: RunOptions,
) where
    K: RouteKernel,
    C: Fn() -> F + Send,
    F: Future<Output = Result<K, Error>> + Send,
{
    let mut kernel: Option<K> = None;
    let mut target: Option<Target> = None;
    // (table, protocol) pairs in use now or before; emptied when no longer configured.
    let mut used: BTreeSet<(u32, u8)> = BTreeSet::new();
    let mut config_seen: Option<Arc<Config>> = None;
    // When each announced virtual server (by key) first appeared: its checks started then.
    let mut since: HashMap<String, Instant> = HashMap::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let config = configs.borrow_and_update().clone();
        let same = match (&config, &config_seen) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            config_seen = config.clone();
            target = config.as_deref().and_then(|c| {
                let (t, warnings) = Target::from_config(c);
                for w in warnings {
                    tracing::warn!("anycast: {w}");
                }
                t
            });
            let now = Instant::now();
            let keys: BTreeSet<&String> = target
                .iter()
                .flat_map(|t| &t.announce)
                .map(|a| &a.key)
                .collect();
            since.retain(|k, _| keys.contains(k));
            for k in keys {
                since.entry(k.clone()).or_insert(now);
            }
            if let Some(t) = &target {
                used.insert((t.table, t.protocol));
                if opts.sysctls {
                    super::sysctl::apply(
                        Path::new("/proc/sys/net/ipv4/vs"),
                        &super::sysctl::wanted(t),
                    );
                }
            }
        }
        let (settled, next_settle) = settled(target.as_ref(), &since);
        let wanted = target
            .as_ref()
            .map(|t| desired::routes(t, &status.borrow_and_update(), &settled))
            .unwrap_or_default();
        let ok = converge(&connect, &mut kernel, &mut used, target.as_ref(), &wanted).await;
        let wait = if ok { opts.resync } else { opts.retry };
        let wait = next_settle.map_or(wait, |n| wait.min(n));
        tokio::select! {
            biased;
            r = shutdown.changed() => if r.is_err() { break },
            r = configs.changed() => if r.is_err() { break },
            r = status.changed() => if r.is_err() { break },
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Stop: withdraw everything of ours (a crash cannot; the next start reconciles).
    target = None;
    let mut tries = 3;
    while !converge(&connect, &mut kernel, &mut used, None, &Wanted::default()).await && tries > 0 {
        tries -= 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(target);
}

/// The announced virtual servers past their settle time, and how long until the next one is.
fn settled(
    target: Option<&Target>,
    since: &HashMap<String, Instant>,
) -> (BTreeSet<String>, Option<Duration>) {
    let now = Instant::now();
    let mut done = BTreeSet::new();
    let mut next: Option<Duration> = None;
    for a in target.iter().flat_map(|t| &t.announce) {
        let at = since.get(&a.key).map_or(now, |s| *s + a.settle);
        if at <= now {
            done.insert(a.key.clone());
        } else {
            let left = at - now;
            next = Some(next.map_or(left, |n| n.min(left)));
        }
    }
    (done, next)
}

/// One pass over every (table, protocol) in `used`: the current one to `wanted`, the others to
/// empty (dropped from `used` once empty). False when something failed.
async fn converge<K, C, F>(
    connect: &C,
    kernel: &mut Option<K>,
    used: &mut BTreeSet<(u32, u8)>,
    target: Option<&Target>,
    wanted: &Wanted,
) -> bool
where
    K: RouteKernel,
    C: Fn() -> F,
    F: Future<Output = Result<K, Error>>,
{
    if used.is_empty() {
        return true;
    }
    if kernel.is_none() {
        match connect().await {
            Ok(k) => *kernel = Some(k),
            Err(e) => {
                tracing::error!("anycast: cannot open rtnetlink: {e}");
                return false;
            }
        }
    }
    let Some(k) = kernel.as_ref() else {
        return false;
    };
    let current = target.map(|t| (t.table, t.protocol));
    let mut ok = true;
    for (table, protocol) in used.clone() {
        let empty = Wanted::default();
        let want = if current == Some((table, protocol)) {
            wanted
        } else {
            &empty
        };
        match pass(k, table, protocol, want).await {
            Ok(()) if current != Some((table, protocol)) => {
                used.remove(&(table, protocol));
            }
            Ok(()) => {}
            Err(e) => {
                tracing::error!("anycast: table {table} protocol {protocol}: {e}");
                ok = false;
            }
        }
    }
    ok
}

async fn pass<K: RouteKernel>(
    k: &K,
    table: u32,
    protocol: u8,
    wanted: &Wanted,
) -> Result<(), Error> {
    let have = k.dump(table, protocol).await?;
    let plan = desired::diff(wanted, &have);
    if plan.is_empty() {
        return Ok(());
    }
    for a in &plan.del {
        tracing::info!("anycast: withdrawing {a} (table {table} protocol {protocol})");
    }
    for a in &plan.add {
        tracing::info!("anycast: announcing {a} (table {table} protocol {protocol})");
    }
    k.apply(table, protocol, &plan).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anycast::FakeRoutes;
    use std::net::IpAddr;

    fn config(table: Option<u32>) -> Arc<Config> {
        config_with(table, "")
    }

    fn config_with(table: Option<u32>, check: &str) -> Arc<Config> {
        let text = format!(
            "global_defs {{ {} }}\nvirtual_server 192.0.2.1 80 {{\n protocol TCP\n delay_loop 1\n announce_route\n real_server 10.0.0.1 80 {{ {check} }}\n}}\n",
            table
                .map(|t| format!("anycast_table {t}"))
                .unwrap_or_default()
        );
        let dir = std::env::temp_dir().join(format!(
            "lvsd-anycast-{}-{table:?}-{}",
            std::process::id(),
            check.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("k.conf");
        std::fs::write(&f, text).unwrap();
        let loaded = crate::config::load(&f, &crate::config::LoadOptions::default()).unwrap();
        Arc::new(loaded.config)
    }

    fn status(up: bool) -> Vec<VirtualServerStatus> {
        vec![VirtualServerStatus {
            key: "TCP 192.0.2.1:80".into(),
            scheduler: "wlc".into(),
            quorum: 1,
            live_weight: u64::from(up),
            quorum_up: up,
            sorry_server_active: false,
            operator: None,
            checks_suspended: None,
            real_servers: Vec::new(),
        }]
    }

    /// The writer on the fake kernel `k`, sysctls left alone.
    fn spawn_on(
        k: &FakeRoutes,
        configs: watch::Receiver<Option<Arc<Config>>>,
        status: watch::Receiver<Vec<VirtualServerStatus>>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let k = k.clone();
        tokio::spawn(run(
            move || {
                let k = k.clone();
                async move { Ok::<_, Error>(k) }
            },
            configs,
            status,
            shutdown,
            RunOptions {
                sysctls: false,
                ..RunOptions::default()
            },
        ))
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    fn routes(k: &FakeRoutes) -> Vec<(u32, u8, IpAddr)> {
        k.routes.lock().unwrap().iter().copied().collect()
    }

    #[tokio::test(start_paused = true)]
    async fn follows_quorum_adopts_on_restart_and_withdraws_on_stop() {
        let k = FakeRoutes::default();
        let vip: IpAddr = "192.0.2.1".parse().unwrap();
        // What a killed lvsd left behind: our VIP (still right) and a stale one, plus a route
        // of another protocol in the same table (not ours).
        k.routes.lock().unwrap().extend([
            (198, 245, vip),
            (198, 245, "192.0.2.9".parse().unwrap()),
            (198, 186, "192.0.2.7".parse().unwrap()),
        ]);
        let (cfg_tx, cfg_rx) = watch::channel(Some(config(None)));
        // As at a real start: the first pass runs before the director published anything.
        let (st_tx, st_rx) = watch::channel(Vec::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = spawn_on(&k, cfg_rx, st_rx, stop_rx);
        settle().await;
        // Restart: only the stale route went; the right one was never touched.
        assert_eq!(*k.writes.lock().unwrap(), 1);
        assert!(routes(&k).contains(&(198, 245, vip)));
        assert!(!routes(&k).contains(&(198, 245, "192.0.2.9".parse().unwrap())));
        st_tx.send_replace(status(true));
        settle().await;
        assert_eq!(*k.writes.lock().unwrap(), 1);

        st_tx.send_replace(status(false));
        settle().await;
        assert!(!routes(&k).contains(&(198, 245, vip)));
        st_tx.send_replace(status(true));
        settle().await;
        assert!(routes(&k).contains(&(198, 245, vip)));

        // A reload to another table moves the route.
        cfg_tx.send_replace(Some(config(Some(300))));
        settle().await;
        assert!(routes(&k).contains(&(300, 245, vip)));
        assert!(!routes(&k).contains(&(198, 245, vip)));

        // A route deleted by hand comes back on the resync.
        k.routes.lock().unwrap().remove(&(300, 245, vip));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(routes(&k).contains(&(300, 245, vip)));

        stop_tx.send_replace(true);
        task.await.unwrap();
        assert_eq!(routes(&k), vec![(198, 186, "192.0.2.7".parse().unwrap())]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_start_announces_once_the_checks_had_their_first_verdict() {
        let k = FakeRoutes::default();
        // warmup 1 (= delay_loop) + 2 attempts of 1 s + 1 s between them: 4 s.
        let cfg = config_with(None, "TCP_CHECK { connect_timeout 1 }");
        let (_cfg_tx, cfg_rx) = watch::channel(Some(cfg));
        let (_st_tx, st_rx) = watch::channel(status(true));
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = spawn_on(&k, cfg_rx, st_rx, stop_rx);
        settle().await;
        assert!(
            routes(&k).is_empty(),
            "announced on the start-up assumption"
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(routes(&k).is_empty());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(routes(&k), vec![(198, 245, "192.0.2.1".parse().unwrap())]);
        stop_tx.send_replace(true);
        task.await.unwrap();
        assert!(routes(&k).is_empty());
    }
}
