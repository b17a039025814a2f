//! The scheduler against real loopback listeners: transitions, shared checks, reloads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use checkers::{
    CheckKind, Scheduler, SchedulerConfig, ServerChecks, Spec, TcpSpec, Timing, Transition,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::Receiver;

fn fast() -> Timing {
    Timing {
        delay_loop: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(300),
        retry: 1,
        delay_before_retry: Duration::from_millis(50),
        warmup: Some(Duration::from_millis(20)),
        alpha: false,
    }
}

fn tcp(addr: SocketAddr) -> Spec {
    Spec {
        timing: fast(),
        ..Spec::new(addr, CheckKind::Tcp(TcpSpec {}))
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A port nothing listens on (bound then released).
async fn closed_port() -> SocketAddr {
    let (l, a) = listener().await;
    drop(l);
    a
}

async fn next(
    rx: &mut Receiver<Transition<&'static str>>,
    within: Duration,
) -> Transition<&'static str> {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("transition in time")
        .expect("scheduler alive")
}

#[tokio::test]
async fn server_goes_up_then_down_within_the_detection_bound() {
    let (l, addr) = listener().await;
    let accept = tokio::spawn(async move {
        loop {
            let _ = l.accept().await;
        }
    });
    let (h, mut rx) = Scheduler::spawn(SchedulerConfig {
        seed: Some(1),
        ..Default::default()
    });
    h.set(vec![ServerChecks {
        id: "rs1",
        checks: vec![tcp(addr)],
        initially_up: false,
    }]);
    // Non-alpha checks start up: the server is reported up at once.
    let t = next(&mut rx, Duration::from_secs(1)).await;
    assert!(t.up && t.server == "rs1", "{t:?}");

    accept.abort();
    let _ = accept.await; // listener dropped: connections now refused
    let failed_at = tokio::time::Instant::now();
    let t = next(&mut rx, Duration::from_secs(3)).await;
    let took = failed_at.elapsed();
    assert!(!t.up);
    assert_eq!(t.reason, format!("TCP_CHECK {addr}: connection refused"));
    let bound = fast().detection_bound() + Duration::from_millis(500);
    assert!(took <= bound, "detected in {took:?}, bound {bound:?}");
}

#[tokio::test]
async fn shared_check_runs_once_and_reload_keeps_state() {
    let addr = closed_port().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let cfg = SchedulerConfig {
        seed: Some(2),
        on_result: Some(Arc::new(move |_| {
            r.fetch_add(1, Ordering::Relaxed);
        })),
        ..Default::default()
    };
    let (h, mut rx) = Scheduler::spawn(cfg);
    let servers = |ids: &[&'static str]| {
        ids.iter()
            .map(|id| ServerChecks {
                id: *id,
                checks: vec![tcp(addr)],
                initially_up: true,
            })
            .collect::<Vec<_>>()
    };
    h.set(servers(&["a", "b", "c"]));
    let mut down = Vec::new();
    for _ in 0..3 {
        let t = next(&mut rx, Duration::from_secs(2)).await;
        assert!(!t.up);
        down.push(t.server);
    }
    down.sort();
    assert_eq!(down, ["a", "b", "c"]);
    // ~1 s of a 100 ms loop: one shared check makes ~10 runs, three separate ones would make ~30.
    runs.store(0, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = runs.load(Ordering::Relaxed);
    assert!((3..=14).contains(&n), "{n} runs in 1 s");

    // Reload: "a" keeps the same spec (state kept: no transition), "d" is new and assumed up,
    // so it is reported down after its own retries.
    h.set(servers(&["a", "d"]));
    let t = next(&mut rx, Duration::from_secs(2)).await;
    assert_eq!((t.server, t.up), ("d", false));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "no other transition"
    );
    let snap = h.snapshot().await;
    assert_eq!(snap.len(), 2);
    assert!(snap.iter().all(|t| !t.up));
}

fn misc_sleep(tag: usize, secs: f64) -> Spec {
    // The tag makes each spec distinct (identical specs would be shared).
    let m = checkers::MiscSpec {
        script: checkers::Script::as_self(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("sleep {secs}; : {tag}"),
        ]),
        timeout: Some(Duration::from_secs(5)),
        dynamic: false,
    };
    let timing = Timing {
        delay_loop: Duration::from_secs(30),
        warmup: Some(Duration::ZERO),
        ..fast()
    };
    Spec {
        timing,
        ..Spec::new("127.0.0.1:0".parse().unwrap(), CheckKind::Misc(m))
    }
}

#[tokio::test]
async fn concurrency_is_bounded() {
    // (start, end) of every run, from its end time and duration (permit wait excluded).
    let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = runs.clone();
    let cfg = SchedulerConfig {
        max_concurrent: 2,
        seed: Some(3),
        on_result: Some(Arc::new(move |rep| {
            let end = std::time::Instant::now();
            r.lock().unwrap().push((end - rep.duration, end));
        })),
        ..Default::default()
    };
    let (h, _rx) = Scheduler::spawn::<usize>(cfg);
    h.set(
        (0..6)
            .map(|i| ServerChecks {
                id: i,
                checks: vec![misc_sleep(i, 0.3)],
                initially_up: true,
            })
            .collect(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while runs.lock().unwrap().len() < 6 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 6, "{runs:?}");
    // Most runs overlapping any instant (checked at each start).
    let overlap = runs
        .iter()
        .map(|(s, _)| runs.iter().filter(|(s2, e2)| s2 <= s && s < e2).count())
        .max();
    assert_eq!(overlap, Some(2), "{runs:?}");
}

#[tokio::test]
async fn a_hanging_backend_costs_only_its_own_timeout() {
    // Accepts, reads, never answers.
    let (hang, hang_addr) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    let (ok, ok_addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let _ = ok.accept().await;
        }
    });
    let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = runs.clone();
    let cfg = SchedulerConfig {
        max_concurrent: 2,
        seed: Some(4),
        on_result: Some(Arc::new(move |rep| {
            r.lock().unwrap().push((rep.spec.target, rep.duration))
        })),
        ..Default::default()
    };
    let (h, mut rx) = Scheduler::spawn(cfg);
    let url = checkers::UrlSpec::new("/");
    let http = checkers::HttpSpec {
        urls: vec![url],
        ..Default::default()
    };
    let hanging = Spec {
        timing: fast(),
        ..Spec::new(hang_addr, CheckKind::Http(http))
    };
    h.set(vec![
        ServerChecks {
            id: "hang",
            checks: vec![hanging],
            initially_up: true,
        },
        ServerChecks {
            id: "ok",
            checks: vec![tcp(ok_addr)],
            initially_up: true,
        },
    ]);
    let t = next(&mut rx, Duration::from_secs(3)).await;
    assert_eq!(t.server, "hang");
    assert!(
        t.reason
            .ends_with("timeout after 300 ms waiting for the response headers of /"),
        "{}",
        t.reason
    );
    let runs = runs.lock().unwrap().clone();
    let hang_runs: Vec<_> = runs.iter().filter(|(a, _)| *a == hang_addr).collect();
    let ok_runs = runs.iter().filter(|(a, _)| *a == ok_addr).count();
    assert!(
        hang_runs
            .iter()
            .all(|(_, d)| *d < Duration::from_millis(450)),
        "{hang_runs:?}"
    );
    // The healthy server kept its 100 ms loop meanwhile.
    assert!(ok_runs >= 3, "only {ok_runs} runs of the healthy check");
}

#[tokio::test]
async fn a_check_changed_on_a_down_server_does_not_flap_it_up() {
    let closed = closed_port().await;
    let (h, mut rx) = Scheduler::spawn(SchedulerConfig {
        seed: Some(5),
        ..Default::default()
    });
    h.set(vec![ServerChecks {
        id: "x",
        checks: vec![tcp(closed)],
        initially_up: true,
    }]);
    assert!(!next(&mut rx, Duration::from_secs(2)).await.up);

    // Reload with a different timing (a new spec): still down, and no transition.
    let mut changed = tcp(closed);
    changed.timing.delay_loop = Duration::from_millis(150);
    h.set(vec![ServerChecks {
        id: "x",
        checks: vec![changed],
        initially_up: true,
    }]);
    assert!(
        tokio::time::timeout(Duration::from_millis(600), rx.recv())
            .await
            .is_err(),
        "flapped"
    );

    // Pointing it at a live server brings it up once the new check has passed.
    let (l, open) = listener().await;
    tokio::spawn(async move {
        loop {
            let _ = l.accept().await;
        }
    });
    h.set(vec![ServerChecks {
        id: "x",
        checks: vec![tcp(open)],
        initially_up: true,
    }]);
    let t = next(&mut rx, Duration::from_secs(2)).await;
    assert!(t.up, "{t:?}");
}

#[tokio::test]
async fn misc_dynamic_weight_reaches_the_director() {
    let m = checkers::MiscSpec {
        script: checkers::Script::parse("/bin/sh -c 'exit 12'").unwrap(),
        timeout: Some(Duration::from_secs(5)),
        dynamic: true,
    };
    let spec = Spec {
        timing: fast(),
        ..Spec::new("127.0.0.1:0".parse().unwrap(), CheckKind::Misc(m))
    };
    let (h, mut rx) = Scheduler::spawn(SchedulerConfig {
        seed: Some(6),
        ..Default::default()
    });
    h.set(vec![ServerChecks {
        id: "w",
        checks: vec![spec],
        initially_up: true,
    }]);
    let t = next(&mut rx, Duration::from_secs(3)).await;
    assert_eq!((t.up, t.weight), (true, Some(10)), "{t:?}");
}

#[tokio::test]
async fn suspended_servers_stop_checking_and_keep_their_health() {
    let (l, addr) = listener().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        while l.accept().await.is_ok() {
            n.fetch_add(1, Ordering::Relaxed);
        }
    });
    let dead = closed_port().await;
    let (h, mut rx) = Scheduler::spawn(SchedulerConfig {
        seed: Some(3),
        ..Default::default()
    });
    h.set(vec![
        ServerChecks {
            id: "live",
            checks: vec![tcp(addr)],
            initially_up: true,
        },
        ServerChecks {
            id: "dead",
            // Down only after 3 retries 200 ms apart: still up when suspended.
            checks: vec![Spec {
                timing: Timing {
                    retry: 3,
                    delay_before_retry: Duration::from_millis(200),
                    ..fast()
                },
                ..tcp(dead)
            }],
            initially_up: true,
        },
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(accepted.load(Ordering::Relaxed) >= 2);
    // Pausing both before "dead" fails: no transition, no check.
    h.suspend(["live", "dead"].into_iter().collect());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = accepted.load(Ordering::Relaxed);
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.recv())
            .await
            .is_err(),
        "a suspended server sent a transition"
    );
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        before,
        "checks ran while suspended"
    );
    // Resumed: checks run again and the dead one is found down.
    h.suspend(Default::default());
    let t = next(&mut rx, Duration::from_secs(2)).await;
    assert!(!t.up && t.server == "dead", "{t:?}");
    assert!(accepted.load(Ordering::Relaxed) > before);
}
