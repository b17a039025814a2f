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
    let bound = fast().detection_bound() + Duration::from_millis(100);
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
    assert!((5..=12).contains(&n), "{n} runs in 1 s");

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
