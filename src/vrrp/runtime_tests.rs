//! The VRRP runtime on a real kernel, in a private network namespace: instance restarts
//! leave no task behind, and shutdown is seen whatever else the runtime waits on.
//! Needs root (CLONE_NEWNET and a veth pair); fails with a clear message without it.

use std::process::Command;
use std::time::Duration;

use super::*;
use crate::status::VrrpState;

fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("ip (iproute2) is needed for this test");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn config(priority: u8, file: &str) -> VrrpConfig {
    VrrpConfig {
        instances: vec![InstanceConfig {
            name: "VI_LOOP".into(),
            interface: "vloopt0".into(),
            vrid: 42,
            version: 3,
            priority,
            advert_int: Duration::from_millis(100),
            garp_master_delay: Duration::ZERO,
            vips: vec![Vip::new("192.0.2.100".parse().unwrap())],
            track_files: vec![config::TrackFileRef {
                path: file.into(),
                weight: Some(-10),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// In a fresh network namespace (this thread's), with a veth pair up.
fn in_netns(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        // SAFETY: unshare on the calling thread only; no memory is involved.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            r,
            0,
            "this test needs root to create a network namespace: {}",
            std::io::Error::last_os_error()
        );
        ip("link set lo up");
        ip("link add vloopt0 type veth peer name vloopt1");
        ip("addr add 192.0.2.1/24 dev vloopt0");
        ip("link set vloopt0 up");
        ip("link set vloopt1 up");
        f();
    })
    .join()
    .expect("test thread");
}

async fn wait_running(hub: &StatusHub, priority: u8) {
    let mut rx = hub.vrrp.subscribe();
    let fut = rx.wait_for(|v| {
        v.iter()
            .any(|i| i.base_priority == priority && i.state != VrrpState::Init)
    });
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("instance running within 10 s")
        .expect("status hub alive");
}

#[test]
fn instance_restarts_leave_no_task_and_shutdown_needs_no_config_sender() {
    in_netns(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let file = std::env::temp_dir().join(format!("vloop-track-{}", std::process::id()));
            let file = file.to_string_lossy().into_owned();
            let hub = StatusHub::new();
            let (cfg_tx, cfg_rx) = watch::channel(config(100, &file));
            let (stop_tx, stop_rx) = watch::channel(false);
            let run = tokio::spawn(run_here(cfg_rx, hub.clone(), stop_rx));
            wait_running(&hub, 100).await;
            let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
            let before = tasks();
            // Each priority change restarts the instance (a changed instance is replaced).
            for p in 101..=105 {
                cfg_tx.send_replace(config(p, &file));
                wait_running(&hub, p).await;
            }
            assert_eq!(
                tasks(),
                before,
                "tasks alive after 5 instance restarts vs before (a leaked tracker watch grows this)"
            );
            // The configuration sender goes away (its owner ended): the runtime keeps the last
            // configuration and still stops when told.
            drop(cfg_tx);
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop_tx.send_replace(true);
            let res = tokio::time::timeout(Duration::from_secs(5), run)
                .await
                .expect("the runtime stops within 5 s of shutdown without a config sender");
            assert!(matches!(res, Ok(Ok(()))), "{res:?}");
            let _ = std::fs::remove_file(&file);
        });
    });
}

#[test]
fn linkbeat_polls_the_carrier_and_a_lost_carrier_is_fault() {
    in_netns(|| {
        assert!(track::poll_link("vloopt0"), "veth up with its peer up");
        assert!(!track::poll_link("nosuchif0"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut cfg = config(100, "/nonexistent/vloop-track");
            cfg.linkbeat = vec!["vloopt0".into()];
            cfg.instances[0].track_files.clear();
            let hub = StatusHub::new();
            let (_cfg_tx, cfg_rx) = watch::channel(cfg);
            let (stop_tx, stop_rx) = watch::channel(false);
            let run = tokio::spawn(run_here(cfg_rx, hub.clone(), stop_rx));
            wait_running(&hub, 100).await;
            // The peer goes down: vloopt0 loses its carrier (still admin up).
            ip("link set vloopt1 down");
            assert!(!track::poll_link("vloopt0"), "carrier lost");
            let mut rx = hub.vrrp.subscribe();
            let fault = rx.wait_for(|v| v.iter().any(|i| i.state == VrrpState::Fault));
            tokio::time::timeout(track::LINKBEAT_INTERVAL * 3, fault)
                .await
                .expect("FAULT within 3 polling intervals")
                .expect("hub");
            ip("link set vloopt1 up");
            let back = rx.wait_for(|v| v.iter().any(|i| i.state != VrrpState::Fault));
            tokio::time::timeout(Duration::from_secs(3), back)
                .await
                .expect("out of FAULT once the carrier is back")
                .expect("hub");
            stop_tx.send_replace(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
        });
    });
}
