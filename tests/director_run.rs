//! The director task with real checkers against real loopback backends and the in-memory
//! kernel: health drives the table, sorry server, reload as a diff, repair of a manual flush,
//! adoption at start, release at exit, health-check-only mode.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipvs::{Dest, DestKey, FakeIpvs, Forward, Op, Scheduler, Service, ServiceKey, Table};
use lvsd::director::desired::{RsSpec, SorrySpec, VsSpec};
use lvsd::director::{DirectorSpec, RealServer, RunOptions, VirtualServer, build_table, run};
use lvsd::notify::{Notifier, NotifierConfig};
use lvsd::status::StatusHub;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const VIP: &str = "10.0.0.1";

fn tcp_check(addr: SocketAddr) -> checkers::Spec {
    let mut s = checkers::Spec::new(addr, checkers::CheckKind::Tcp(checkers::TcpSpec {}));
    s.timing.delay_loop = Duration::from_millis(100);
    s.timing.connect_timeout = Duration::from_millis(300);
    s.timing.retry = 0;
    s.timing.delay_before_retry = Duration::from_millis(50);
    s.timing.warmup = Some(Duration::ZERO);
    s
}

/// A virtual server TCP VIP:80 over the given backends; `sorry` adds 127.0.0.9:80.
fn spec(backends: &[(SocketAddr, i64)], quorum: u64, sorry: bool) -> DirectorSpec {
    let key = ServiceKey::tcp(VIP.parse().unwrap(), 80);
    let core = VsSpec {
        id: format!("TCP {VIP}:80"),
        quorum,
        hysteresis: 0,
        sorry: sorry.then_some(SorrySpec { inhibit: false }),
        real_servers: backends
            .iter()
            .map(|&(addr, weight)| RsSpec {
                addr,
                weight,
                inhibit_on_failure: false,
                checked: true,
                alpha: false,
                slow_start: None,
            })
            .collect(),
    };
    let real_servers = backends
        .iter()
        .map(|&(addr, _)| RealServer {
            dest: Dest::new(addr.ip(), addr.port(), Forward::Masq),
            checks: vec![tcp_check(addr)],
            notify_up: None,
            notify_down: None,
            bfd: Vec::new(),
        })
        .collect();
    DirectorSpec {
        virtual_servers: vec![VirtualServer {
            core,
            services: vec![Service::new(key, Scheduler::Wrr)],
            real_servers,
            sorry: sorry.then(|| Dest::new("127.0.0.9".parse().unwrap(), 80, Forward::Masq)),
            quorum_up: None,
            quorum_down: None,
            omega: false,
            ha_suspend: Vec::new(),
        }],
        globals: Default::default(),
    }
}

async fn backend() -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }
    });
    (addr, task)
}

/// Reopens a backend on the same port after it was stopped.
async fn restart(addr: SocketAddr) -> JoinHandle<()> {
    let l = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }
    })
}

/// `(addr, weight)` of the destinations of the one service, sorted.
fn dests(t: &Table) -> Vec<(IpAddr, u16, u32)> {
    let key = ServiceKey::tcp(VIP.parse().unwrap(), 80);
    t.get(&key)
        .map(|e| {
            e.dests
                .values()
                .map(|d| (d.addr, d.port, d.weight))
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<(IpAddr, u16, u32)>) -> Vec<(IpAddr, u16, u32)> {
    v.sort();
    v
}

async fn wait_for(k: &FakeIpvs, what: &str, f: impl Fn(&Table) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t = k.table();
        if f(&t) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; kernel holds {:?}",
            dests(&t)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Running {
    kernel: FakeIpvs,
    hub: StatusHub,
    spec_tx: watch::Sender<Arc<DirectorSpec>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(spec: DirectorSpec, kernel: Option<FakeIpvs>, opts: RunOptions) -> Running {
    let k = kernel.clone().unwrap_or_default();
    let hub = StatusHub::new();
    let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(
        spec_rx,
        kernel,
        hub.clone(),
        Notifier::new(NotifierConfig::default()),
        opts,
        stop_rx,
    ));
    Running {
        kernel: k,
        hub,
        spec_tx,
        stop,
        task,
    }
}

fn fast() -> RunOptions {
    RunOptions {
        resync: Duration::from_millis(200),
        release_on_exit: true,
        metrics: None,
        state_dir: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_drives_the_table_and_sorry_server() {
    let (a, ta) = backend().await;
    let (b, tb) = backend().await;
    let r = start(
        spec(&[(a, 2), (b, 3)], 1, true),
        Some(FakeIpvs::new()),
        fast(),
    );
    let k = r.kernel.clone();
    wait_for(&k, "both backends", |t| dests(t).len() == 2).await;
    assert_eq!(
        dests(&k.table()),
        sorted(vec![(a.ip(), a.port(), 2), (b.ip(), b.port(), 3)])
    );

    // Stop one: it leaves within its detection bound (100 ms loop + 300 ms timeout).
    ta.abort();
    let _ = ta.await;
    let t0 = std::time::Instant::now();
    wait_for(&k, "a removed", |t| dests(t) == vec![(b.ip(), b.port(), 3)]).await;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let st = r.hub.virtual_servers.borrow().clone();
    assert_eq!(st[0].live_weight, 3);
    assert!(st[0].real_servers[0].last_failure.is_some());

    // Stop both: quorum lost, sorry server only.
    tb.abort();
    let _ = tb.await;
    wait_for(&k, "sorry server only", |t| {
        dests(t) == vec![("127.0.0.9".parse().unwrap(), 80, 1)]
    })
    .await;
    assert!(r.hub.virtual_servers.borrow()[0].sorry_server_active);

    // Start both again: restored, sorry server gone.
    let _ta = restart(a).await;
    let _tb = restart(b).await;
    wait_for(&k, "restored", |t| {
        dests(t) == sorted(vec![(a.ip(), a.port(), 2), (b.ip(), b.port(), 3)])
    })
    .await;

    // Stop: everything lvsd owns is released.
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    assert_eq!(k.table().service_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_is_a_diff_and_manual_flush_is_repaired() {
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let r = start(
        spec(&[(a, 1), (b, 1)], 1, false),
        Some(FakeIpvs::new()),
        fast(),
    );
    let k = r.kernel.clone();
    wait_for(&k, "both", |t| dests(t).len() == 2).await;
    let before = k.writes();
    assert_eq!(before, 3, "one service and two destinations");

    // Reload with one weight changed: exactly one edit.
    r.spec_tx
        .send(Arc::new(spec(&[(a, 1), (b, 7)], 1, false)))
        .unwrap();
    wait_for(&k, "weight 7", |t| {
        dests(t).contains(&(b.ip(), b.port(), 7))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = k.ops()[before..].to_vec();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(matches!(&writes[0], Op::EditDest(_, d) if d.weight == 7 && d.port == b.port()));

    // ipvsadm -C by hand: the next pass restores the table.
    k.with_table(|t| *t = Table::new());
    wait_for(&k, "restored", |t| dests(t).len() == 2).await;

    // Exit releases what lvsd owns.
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    assert_eq!(k.table().service_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_the_kernel_table_without_writes() {
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let s = spec(&[(a, 1), (b, 2)], 1, false);
    // The kernel already holds what a previous lvsd wrote, plus a foreign service.
    let kernel = FakeIpvs::new();
    let mut existing = lvsd::director::run::initial_table(&s);
    let foreign = ServiceKey::tcp("192.0.2.99".parse().unwrap(), 443);
    existing.add_service(Service::new(foreign, Scheduler::Rr));
    kernel.with_table(|t| *t = existing);

    let r = start(
        s,
        Some(kernel.clone()),
        RunOptions {
            release_on_exit: false,
            ..fast()
        },
    );
    // Several passes and check rounds.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(kernel.writes(), 0, "{:?}", kernel.ops());
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    // -I: nothing released; the foreign service was never touched.
    let t = kernel.table();
    assert_eq!(t.service_count(), 2);
    assert!(t.get(&foreign).is_some());
    let mut want = vec![
        DestKey {
            addr: a.ip(),
            port: a.port(),
        },
        DestKey {
            addr: b.ip(),
            port: b.port(),
        },
    ];
    want.sort();
    let have: Vec<DestKey> = t
        .get(&ServiceKey::tcp(VIP.parse().unwrap(), 80))
        .unwrap()
        .dests
        .keys()
        .copied()
        .collect();
    assert_eq!(have, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_virtual_server_is_deleted_on_reload() {
    let (a, _ta) = backend().await;
    let mut two = spec(&[(a, 1)], 1, false);
    let mut second = two.virtual_servers[0].clone();
    second.core.id = format!("TCP {VIP}:8080");
    second.services = vec![Service::new(
        ServiceKey::tcp(VIP.parse().unwrap(), 8080),
        Scheduler::Rr,
    )];
    two.virtual_servers.push(second);
    let r = start(two, Some(FakeIpvs::new()), fast());
    let k = r.kernel.clone();
    wait_for(&k, "two services", |t| t.service_count() == 2).await;
    r.spec_tx.send(Arc::new(spec(&[(a, 1)], 1, false))).unwrap();
    wait_for(&k, "one service", |t| t.service_count() == 1).await;
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_are_recorded_in_metrics_per_virtual_server() {
    let (a, ta) = backend().await;
    let metrics = lvsd::metrics::Metrics::new();
    let r = start(
        spec(&[(a, 1)], 1, false),
        Some(FakeIpvs::new()),
        RunOptions {
            metrics: Some(metrics.clone()),
            state_dir: None,
            ..fast()
        },
    );
    // A few passing runs (delay_loop 100 ms), then failures.
    tokio::time::sleep(Duration::from_millis(350)).await;
    ta.abort();
    let _ = ta.await;
    let k = r.kernel.clone();
    wait_for(&k, "a removed", |t| dests(t).is_empty()).await;
    let text = lvsd::metrics::render(
        &metrics,
        Arc::new(r.hub.snapshot()),
        lvsd::metrics::IpvsScrape::Disabled,
    );
    let vs = format!("virtual_server=\"TCP {VIP}:80\"");
    assert!(
        text.lines()
            .any(|l| l.starts_with("lvsd_check_duration_seconds_count")
                && l.contains(&vs)
                && l.contains("result=\"success\"")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("lvsd_check_failures")
            && l.contains(&vs)
            && l.contains(&format!("real_server=\"{a}\""))),
        "{text}"
    );
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_only_reports_without_a_kernel() {
    let (a, ta) = backend().await;
    let (b, _tb) = backend().await;
    let s = spec(&[(a, 1), (b, 1)], 1, false);
    let want = build_table(
        &s,
        &lvsd::director::desired::compute(&s.cores(), &Default::default(), &Default::default()),
    );
    assert_eq!(want.dest_count(), 2);
    let r = start(s, None, fast());
    ta.abort();
    let _ = ta.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let st = r.hub.virtual_servers.borrow().clone();
        if st.len() == 1 && !st[0].real_servers[0].up && st[0].real_servers[1].up {
            assert_eq!(st[0].real_servers[0].live_weight, None);
            assert!(
                st[0].real_servers[0]
                    .last_failure
                    .as_deref()
                    .is_some_and(|r| !r.is_empty())
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "status: {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_reload_keeps_running_config_on_error() {
    use lvsd::daemon::{Control, Mode, Options, serve};
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let dir = std::env::temp_dir().join(format!("lvsd-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("weights");
    std::fs::write(&file, "1 1").unwrap();
    // A stand-in configuration language: two weights, anything else is an error.
    let load = move |p: &std::path::Path| -> anyhow::Result<lvsd::daemon::Loaded> {
        let text = std::fs::read_to_string(p)?;
        let w: Vec<i64> = text
            .split_whitespace()
            .map(|x| x.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{}:1:1: error: {e}", p.display()))?;
        anyhow::ensure!(w.len() == 2, "two weights expected");
        Ok(spec(&[(a, w[0]), (b, w[1])], 1, false).into())
    };
    let kernel = FakeIpvs::new();
    let hub = StatusHub::new();
    let (ctl, ctl_rx) = tokio::sync::mpsc::channel(4);
    let opts = Options {
        config_file: file.clone(),
        mode: Mode::CheckOnly,
        release_ipvs: false,
        resync: Duration::from_millis(200),
        state_dir: None,
    };
    let daemon = {
        let (kernel, hub) = (kernel.clone(), hub.clone());
        tokio::spawn(async move {
            let links = lvsd::daemon::Links::default();
            serve(&opts, load, Some(kernel), hub, ctl_rx, &links).await
        })
    };
    wait_for(&kernel, "both", |t| dests(t).len() == 2).await;
    let writes = kernel.writes();

    std::fs::write(&file, "1 oops").unwrap();
    ctl.send(Control::Reload).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        kernel.writes(),
        writes,
        "a broken reload wrote to the kernel"
    );
    let rs = hub.reload.borrow().clone();
    assert_eq!((rs.successes, rs.failures), (0, 1));
    assert!(rs.last_error.unwrap().contains("invalid digit"));

    // A reload asked over the API gets its outcome back.
    std::fs::write(&file, "1 x").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    ctl.send(Control::ReloadAndReply(tx)).await.unwrap();
    assert!(rx.await.unwrap().unwrap_err().contains("invalid digit"));
    std::fs::write(&file, "1 5").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    ctl.send(Control::ReloadAndReply(tx)).await.unwrap();
    assert_eq!(rx.await.unwrap(), Ok(()));
    wait_for(&kernel, "weight 5", |t| {
        dests(t).contains(&(b.ip(), b.port(), 5))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(kernel.writes(), writes + 1);
    assert_eq!(hub.reload.borrow().successes, 1);

    ctl.send(Control::Stop).await.unwrap();
    daemon.await.unwrap().unwrap();
    // release_ipvs false (-I): the table stays.
    assert_eq!(dests(&kernel.table()).len(), 2);
}

#[tokio::test]
async fn plan_lists_what_a_start_would_write() {
    let a: SocketAddr = "127.0.0.1:8081".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:8082".parse().unwrap();
    let kernel = FakeIpvs::new();
    let s = spec(&[(a, 1), (b, 2)], 1, false);
    let plan = lvsd::director::run::plan_against(&kernel, &s)
        .await
        .unwrap();
    assert_eq!(
        plan.to_string(),
        "-A -t 10.0.0.1:80 -s wrr\n\
         -a -t 10.0.0.1:80 -r 127.0.0.1:8081 -m -w 1\n\
         -a -t 10.0.0.1:80 -r 127.0.0.1:8082 -m -w 2\n"
    );
    // Against a kernel already holding it, apart from one weight: one edit, nothing written.
    let mut t = lvsd::director::run::initial_table(&s);
    let key = ServiceKey::tcp(VIP.parse().unwrap(), 80);
    t.services
        .get_mut(&key)
        .unwrap()
        .dests
        .values_mut()
        .next()
        .unwrap()
        .weight = 9;
    kernel.with_table(|k| *k = t);
    let plan = lvsd::director::run::plan_against(&kernel, &s)
        .await
        .unwrap();
    assert_eq!(
        plan.to_string(),
        "-e -t 10.0.0.1:80 -r 127.0.0.1:8081 -m -w 1\n"
    );
    assert_eq!(kernel.writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lvs_flush_clears_foreign_services_at_start_only() {
    let (a, _ta) = backend().await;
    let mut s = spec(&[(a, 1)], 1, false);
    s.globals.lvs_flush = true;
    let kernel = FakeIpvs::new();
    let foreign = ServiceKey::tcp("192.0.2.99".parse().unwrap(), 443);
    kernel.with_table(|t| {
        t.add_service(Service::new(foreign, Scheduler::Rr));
    });
    let r = start(s, Some(kernel.clone()), fast());
    wait_for(&kernel, "foreign flushed, ours added", |t| {
        t.get(&foreign).is_none() && dests(t).len() == 1
    })
    .await;
    // A service someone adds later is not ours to remove.
    let later = ServiceKey::tcp("192.0.2.98".parse().unwrap(), 443);
    kernel.with_table(|t| {
        t.add_service(Service::new(later, Scheduler::Rr));
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(kernel.table().get(&later).is_some());
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    // Release removes ours only.
    let t = kernel.table();
    assert_eq!(t.service_count(), 1);
    assert!(t.get(&later).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_and_quorum_scripts_run_with_their_arguments_and_omega_at_exit() {
    use lvsd::notify::Script;
    let dir = std::env::temp_dir().join(format!("lvsd-notify-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("events");
    let script = |args: &str| {
        Script::parse(&format!(
            "/bin/sh -c 'echo \"$*\" >> {}' sh {args}",
            log.display()
        ))
    };
    let (a, ta) = backend().await;
    let mut s = spec(&[(a, 1)], 1, false);
    let vs = &mut s.virtual_servers[0];
    vs.real_servers[0].notify_up = script("RS UP");
    vs.real_servers[0].notify_down = script("RS DOWN");
    vs.quorum_up = script("VS UP");
    vs.quorum_down = script("VS DOWN");
    vs.omega = true;
    let r = start(s, Some(FakeIpvs::new()), fast());
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_lines = |n: usize| {
        let read = &read;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while read().lines().count() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "events: {:?}",
                    read()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(&r.kernel, "up", |t| dests(t).len() == 1).await;
    ta.abort();
    let _ = ta.await;
    wait_lines(2).await;
    let mut got: Vec<String> = read().lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, ["RS DOWN", "VS DOWN"]);
    let _ta = restart(a).await;
    wait_lines(4).await;
    let got: Vec<String> = read().lines().skip(2).map(String::from).collect();
    assert!(got.contains(&"RS UP".to_string()) && got.contains(&"VS UP".to_string()));
    // omega: at exit the down scripts of what is up run, and are waited for.
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    let got: Vec<String> = read().lines().skip(4).map(String::from).collect();
    let mut got = got;
    got.sort();
    assert_eq!(got, ["RS DOWN", "VS DOWN"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lvs_flush_on_stop_removes_everything_at_exit() {
    let (a, _ta) = backend().await;
    let mut s = spec(&[(a, 1)], 1, false);
    s.globals.flush_on_stop = true;
    let kernel = FakeIpvs::new();
    let foreign = ServiceKey::tcp("192.0.2.99".parse().unwrap(), 443);
    kernel.with_table(|t| {
        t.add_service(Service::new(foreign, Scheduler::Rr));
    });
    let r = start(s, Some(kernel.clone()), fast());
    wait_for(&kernel, "ours added", |t| dests(t).len() == 1).await;
    // Running: the foreign service is left alone.
    assert!(kernel.table().get(&foreign).is_some());
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    assert_eq!(kernel.table().service_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_a_down_server_down_without_flapping() {
    let (a, ta) = backend().await;
    let (b, _tb) = backend().await;
    let r = start(
        spec(&[(a, 1), (b, 1)], 1, false),
        Some(FakeIpvs::new()),
        fast(),
    );
    let k = r.kernel.clone();
    wait_for(&k, "both", |t| dests(t).len() == 2).await;
    ta.abort();
    let _ = ta.await;
    wait_for(&k, "a gone", |t| dests(t) == vec![(b.ip(), b.port(), 1)]).await;
    let n = k.writes();
    // Reload changing only b's weight: a's checker state (down) survives; a is not re-added.
    r.spec_tx
        .send(Arc::new(spec(&[(a, 1), (b, 4)], 1, false)))
        .unwrap();
    wait_for(&k, "b weight 4", |t| {
        dests(t) == vec![(b.ip(), b.port(), 4)]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let writes = k.ops()[n..].to_vec();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(matches!(&writes[0], Op::EditDest(_, d) if d.port == b.port() && d.weight == 4));
    let st = r.hub.virtual_servers.borrow().clone();
    assert!(!st[0].real_servers[0].up);
    assert_eq!(st[0].real_servers[0].transitions, 1);
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

#[test]
fn sync_daemon_roles_follow_the_tracked_vrrp_instance() {
    use ipvs::DaemonState::{Backup, Master};
    use lvsd::director::run::sync_roles;
    use lvsd::status::{VrrpInstanceStatus, VrrpState};
    let inst = |name: &str, state| VrrpInstanceStatus {
        name: name.into(),
        interface: "eth0".into(),
        vrid: 51,
        version: 2,
        family: "inet",
        state,
        base_priority: 100,
        effective_priority: 100,
        master_addr: None,
        since_unix_ms: 0,
        since_unix_us: 0,
        master_priority: 0,
        vips: Vec::new(),
        counters: Default::default(),
    };
    let mut g = lvsd::director::Globals::default();
    assert_eq!(sync_roles(&g, &[]), vec![]);
    g.sync_daemon = Some(ipvs::DaemonConfig::new(Master, "eth0", 1));
    assert_eq!(sync_roles(&g, &[]), vec![Master, Backup]);
    g.sync_instance = Some("VI_1".into());
    assert_eq!(sync_roles(&g, &[]), vec![Backup]);
    assert_eq!(
        sync_roles(&g, &[inst("VI_1", VrrpState::Backup)]),
        vec![Backup]
    );
    assert_eq!(
        sync_roles(&g, &[inst("VI_2", VrrpState::Master)]),
        vec![Backup]
    );
    assert_eq!(
        sync_roles(&g, &[inst("VI_1", VrrpState::Master)]),
        vec![Master]
    );
}

/// Between full passes a health change reads and writes only the service it concerns: another
/// service removed by hand stays removed until the periodic full pass (here far away), and the
/// change costs exactly its own write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_change_is_a_scoped_pass_between_full_resyncs() {
    let (a, ta) = backend().await;
    let (b, _tb) = backend().await;
    let mut two = spec(&[(a, 1)], 0, false);
    let mut other = spec(&[(b, 1)], 0, false).virtual_servers.remove(0);
    let other_key = ServiceKey::tcp("10.0.0.2".parse().unwrap(), 80);
    other.core.id = "TCP 10.0.0.2:80".into();
    other.services = vec![Service::new(other_key, Scheduler::Wrr)];
    two.virtual_servers.push(other);
    let opts = RunOptions {
        resync: Duration::from_secs(30),
        ..fast()
    };
    let r = start(two, Some(FakeIpvs::new()), opts);
    let k = r.kernel.clone();
    wait_for(&k, "both services", |t| {
        t.service_count() == 2 && dests(t).len() == 1
    })
    .await;

    // `ipvsadm -D -t 10.0.0.2:80` by hand, then backend a fails.
    k.with_table(|t| t.services.remove(&other_key));
    let before = k.writes();
    ta.abort();
    let _ = ta.await;
    wait_for(&k, "a removed", |t| dests(t).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes = k.ops()[before..].to_vec();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(matches!(&writes[0], Op::DelDest(_, d) if d.port == a.port()));
    assert!(
        k.table().get(&other_key).is_none(),
        "a scoped pass must not read or touch other services"
    );

    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

/// A kernel that keeps refusing one op (a scheduler module missing for a second virtual
/// server): the rest of the table converges, the pass counts as done, so with `lvs_flush` a
/// foreign service added afterwards is never deleted by the retries, while the refused service
/// is retried (and lands once the scheduler exists).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_op_is_retried_alone_and_lvs_flush_runs_once() {
    let (a, _ta) = backend().await;
    let mut s = spec(&[(a, 1)], 1, false);
    s.globals.lvs_flush = true;
    let mut second = s.virtual_servers[0].clone();
    let other = ServiceKey::tcp(VIP.parse().unwrap(), 81);
    second.core.id = format!("TCP {VIP}:81");
    second.services = vec![Service::new(other, Scheduler::Sh)];
    s.virtual_servers.push(second);
    let kernel = FakeIpvs::new();
    kernel.remove_scheduler("sh");
    let r = start(s, Some(kernel.clone()), fast());
    wait_for(&kernel, "the first service converged", |t| {
        dests(t).len() == 1
    })
    .await;
    let later = ServiceKey::tcp("192.0.2.98".parse().unwrap(), 443);
    kernel.with_table(|t| {
        t.add_service(Service::new(later, Scheduler::Rr));
    });
    let before = kernel.writes();
    // Several resync periods and retries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        kernel.table().get(&later).is_some(),
        "a retry flushed a foreign service"
    );
    let retried: Vec<String> = kernel.ops()[before..]
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert!(!retried.is_empty(), "the refused service was not retried");
    assert!(
        retried.iter().all(|o| o.contains(":81")),
        "retries touched more than the refused service: {retried:?}"
    );
    assert!(retried.len() < 20, "retries not backed off: {retried:?}");
    assert!(kernel.table().get(&other).is_none());
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

async fn post(hub: &StatusHub, path: &str) -> (http::StatusCode, String) {
    use http_body_util::BodyExt;
    let uri: http::Uri = path.parse().unwrap();
    let resp = lvsd::runtime_api::operator_request(hub, uri.path(), uri.query());
    let code = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn rs_status(hub: &StatusHub, addr: SocketAddr) -> lvsd::status::RealServerStatus {
    hub.virtual_servers.borrow()[0]
        .real_servers
        .iter()
        .find(|r| SocketAddr::new(r.address, r.port) == addr)
        .cloned()
        .unwrap()
}

fn set_active(k: &FakeIpvs, addr: SocketAddr, active: u32) {
    let key = ServiceKey::tcp(VIP.parse().unwrap(), 80);
    k.with_table(|t| {
        if let Some(d) = t.services.get_mut(&key).and_then(|e| {
            e.dests.get_mut(&DestKey {
                addr: addr.ip(),
                port: addr.port(),
            })
        }) {
            d.conns = Some(ipvs::DestConns {
                active,
                inactive: 0,
                persistent: 0,
            });
        }
    });
}

fn weight_of(t: &Table, addr: SocketAddr) -> Option<u32> {
    dests(t)
        .into_iter()
        .find(|(ip, port, _)| *ip == addr.ip() && *port == addr.port())
        .map(|d| d.2)
}

/// Drain: weight 0 while the kernel reports active connections, out once they end; the hold
/// is written to the state directory, survives a restart of the director, health still runs
/// and shows; enable brings the server back. Bad requests are refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_connections_persists_and_enable_restores() {
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let s = spec(&[(a, 3), (b, 3)], 1, false);
    let dir = std::env::temp_dir().join(format!("lvsd-drain-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = RunOptions {
        state_dir: Some(dir.clone()),
        ..fast()
    };
    let r = start(s.clone(), Some(FakeIpvs::new()), opts.clone());
    let k = r.kernel.clone();
    wait_for(&k, "both in", |t| dests(t).len() == 2).await;
    set_active(&k, a, 2);

    let (code, body) = post(&r.hub, "/operator/drain?vs=TCP+10.0.0.9:80").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no virtual server"), "{body}");
    let (code, body) = post(&r.hub, "/operator/drain?vs=10.0.0.1:80&rs=127.0.0.1:1").await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = post(
        &r.hub,
        &format!("/operator/drain?vs=10.0.0.1:80&rs={a}&timeout=30s"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("draining"), "{body}");
    wait_for(&k, "a at weight 0", |t| weight_of(t, a) == Some(0)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        weight_of(&k.table(), a),
        Some(0),
        "left while connections were active"
    );
    let st = rs_status(&r.hub, a);
    assert_eq!(st.runtime.operator.as_deref(), Some("draining"));
    assert_eq!(st.runtime.active_conns, Some(2));
    assert!(st.up, "health is still shown");
    set_active(&k, a, 0);
    wait_for(&k, "a out", |t| weight_of(t, a).is_none()).await;
    assert_eq!(weight_of(&k.table(), b), Some(3));
    assert_eq!(
        rs_status(&r.hub, a).runtime.operator.as_deref(),
        Some("drained")
    );
    let saved = std::fs::read_to_string(dir.join("operator.json")).unwrap();
    assert!(saved.contains("\"drained\""), "{saved}");
    let kinds: Vec<String> = r
        .hub
        .events
        .recent()
        .iter()
        .map(|e| format!("{} {}", e.kind, e.message))
        .collect();
    assert!(
        kinds.iter().any(|e| e.starts_with("operator drained")),
        "{kinds:?}"
    );
    r.stop.send(true).unwrap();
    r.task.await.unwrap();

    // A restart with the same state directory: still out, from the first pass on.
    let r = start(s, Some(k.clone()), opts);
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_for(&k, "b in, a still out", |t| {
        weight_of(t, b) == Some(3) && weight_of(t, a).is_none()
    })
    .await;
    let (code, body) = post(&r.hub, &format!("/operator/enable?vs=10.0.0.1:80&rs={a}")).await;
    assert_eq!(code, 200, "{body}");
    wait_for(&k, "a back", |t| weight_of(t, a) == Some(3)).await;
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Slow start: a server that comes back (here: enable) ramps its kernel weight up over
/// `slow_start` instead of taking its full share at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_start_ramps_weight_after_enable() {
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let mut s = spec(&[(a, 100), (b, 100)], 1, false);
    s.virtual_servers[0].core.real_servers[0].slow_start = Some(Duration::from_secs(2));
    let r = start(s, Some(FakeIpvs::new()), fast());
    let k = r.kernel.clone();
    wait_for(&k, "both in", |t| dests(t).len() == 2).await;
    let (code, _) = post(&r.hub, &format!("/operator/disable?vs=10.0.0.1:80&rs={a}")).await;
    assert_eq!(code, 200);
    wait_for(&k, "a out", |t| weight_of(t, a).is_none()).await;
    assert_eq!(
        rs_status(&r.hub, a).runtime.operator.as_deref(),
        Some("disabled")
    );
    let (code, _) = post(&r.hub, &format!("/operator/enable?vs=10.0.0.1:80&rs={a}")).await;
    assert_eq!(code, 200);
    let t0 = std::time::Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(4) {
        if let Some(w) = weight_of(&k.table(), a)
            && seen.last() != Some(&w)
        {
            seen.push(w);
        }
        if seen.last() == Some(&100) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.last(),
        Some(&100),
        "never reached full weight: {seen:?}"
    );
    assert!(seen.len() >= 3, "no ramp: {seen:?}");
    assert!(seen[0] <= 40, "started too high: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {seen:?}"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "ramp too fast: {seen:?}"
    );
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}

/// Draining a whole virtual server: every real server goes to weight 0, and all leave once the
/// kernel shows no active connection on any of them; enabling the virtual server brings them
/// all back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_whole_virtual_server() {
    let (a, _ta) = backend().await;
    let (b, _tb) = backend().await;
    let r = start(
        spec(&[(a, 2), (b, 2)], 1, false),
        Some(FakeIpvs::new()),
        fast(),
    );
    let k = r.kernel.clone();
    wait_for(&k, "both in", |t| dests(t).len() == 2).await;
    set_active(&k, b, 1);
    let (code, body) = post(&r.hub, "/operator/drain?vs=TCP+10.0.0.1:80&timeout=20s").await;
    assert_eq!(code, 200, "{body}");
    wait_for(&k, "both at 0", |t| {
        weight_of(t, a) == Some(0) && weight_of(t, b) == Some(0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(dests(&k.table()).len(), 2, "left while b had a connection");
    assert_eq!(
        r.hub.virtual_servers.borrow()[0].operator.as_deref(),
        Some("draining")
    );
    set_active(&k, b, 0);
    wait_for(&k, "both out", |t| dests(t).is_empty()).await;
    assert_eq!(
        rs_status(&r.hub, b).runtime.operator.as_deref(),
        Some("drained")
    );
    let (code, _) = post(&r.hub, "/operator/enable?vs=10.0.0.1:80").await;
    assert_eq!(code, 200);
    wait_for(&k, "both back", |t| dests(t).len() == 2).await;
    r.stop.send(true).unwrap();
    r.task.await.unwrap();
}
