//! VRRP (RFC 3768 v2, RFC 5798 v3; IPv4 and IPv6), wire-compatible with keepalived 2.2.7.
//!
//! Model: each `vrrp_instance` is one task ([`instance`]) around a pure state machine
//! ([`fsm`]): packets, deadlines, tracker changes and shutdown go in as events; adverts, VIP
//! changes, GARPs and notifications come out as actions. The codec ([`packet`]), validation
//! ([`validate`]) and frame builders ([`garp`]) are pure; [`socket`] (raw protocol 112),
//! [`vip`] (rtnetlink) and [`track`] (scripts, links, files) are the I/O edges.
//!
//! Entry point: [`run`]. It runs every instance on a dedicated OS thread with its own
//! single-threaded tokio runtime (the "timer path"): the daemon's other work (health checks,
//! IPVS, API) cannot delay an advert, and with `realtime_priority` the thread is SCHED_RR
//! (with SCHED_RESET_ON_FORK, so scripts it starts are ordinary processes). Adverts leave with
//! `SO_PRIORITY` `socket_priority` so a busy qdisc sends them first.
//!
//! Reload: not supported in place; the daemon stops `run` (instances resign with priority 0
//! and remove their VIPs) and starts it again with the new configuration. A reload that keeps
//! an instance therefore costs one failover; in-place reload is future work.
//!
//! Not enforced: `no_accept` (keepalived blocks VIP traffic with nftables/iptables; lvsd only
//! records the setting). v2 AH authentication: adverts with AH are counted and dropped.

pub mod config;
pub mod fsm;
pub mod garp;
mod instance;
pub mod notify;
pub mod packet;
pub mod socket;
pub mod sync;
pub mod timer;
pub mod track;
pub mod validate;
pub mod vip;

use std::collections::HashMap;

use anyhow::{Context as _, bail};
use tokio::sync::watch;

pub use config::{InstanceConfig, ScriptConfig, SyncGroupConfig, Tracked, Vip, VrrpConfig};

use crate::status::{StatusHub, VrrpInstanceStatus, VrrpScriptStatus, VrrpState};

/// Checks what the runtime cannot work around; the config layer reports the same problems
/// with file positions, this is the last line of defence.
pub fn validate_config(c: &VrrpConfig) -> anyhow::Result<()> {
    let mut seen = HashMap::new();
    for i in &c.instances {
        if i.interface.is_empty() {
            bail!("vrrp_instance {}: no interface", i.name);
        }
        if i.vrid == 0 {
            bail!("vrrp_instance {}: virtual_router_id must be 1-255", i.name);
        }
        if i.priority == 0 {
            bail!("vrrp_instance {}: priority must be 1-255", i.name);
        }
        if i.version != 2 && i.version != 3 {
            bail!("vrrp_instance {}: version must be 2 or 3", i.name);
        }
        if i.vips.is_empty() {
            bail!("vrrp_instance {}: no virtual_ipaddress", i.name);
        }
        let v6 = i.is_ipv6();
        if v6 && i.version == 2 {
            bail!(
                "vrrp_instance {}: VRRPv2 has no IPv6; use version 3",
                i.name
            );
        }
        if i.vips.iter().any(|v| v.addr.is_ipv6() != v6) {
            bail!(
                "vrrp_instance {}: IPv4 and IPv6 virtual addresses cannot share an instance",
                i.name
            );
        }
        if let Some(other) = seen.insert((i.interface.clone(), i.vrid, v6), i.name.clone()) {
            bail!(
                "vrrp_instance {} and {} use the same vrid {} on {}",
                other,
                i.name,
                i.vrid,
                i.interface
            );
        }
        for t in &i.track_scripts {
            if !c.scripts.iter().any(|s| s.name == t.name) {
                bail!(
                    "vrrp_instance {}: track_script {} is not defined",
                    i.name,
                    t.name
                );
            }
        }
    }
    for g in &c.sync_groups {
        for m in &g.members {
            if !c.instances.iter().any(|i| &i.name == m) {
                bail!(
                    "vrrp_sync_group {}: member {} is not a vrrp_instance",
                    g.name,
                    m
                );
            }
        }
    }
    Ok(())
}

/// Runs every VRRP instance of `config` until `shutdown` becomes `true`; then each instance
/// sends priority 0 (if master), removes its VIPs and runs `notify_stop`. Status goes to
/// `hub.vrrp` and `hub.vrrp_scripts`.
///
/// The instances run on a dedicated thread (see the module docs); this future only waits for
/// it, so it may be awaited from any runtime. Errors: invalid configuration, or the runtime
/// could not start (no rtnetlink); per-instance problems (missing interface) are retried.
pub async fn run(
    config: &VrrpConfig,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    validate_config(config)?;
    let cfg = config.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lvsd-vrrp".into())
        .spawn(move || {
            if let Some(p) = cfg.realtime_priority {
                set_realtime(p);
            }
            let res = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run_here(cfg, hub, shutdown)),
                Err(e) => Err(anyhow::Error::from(e).context("starting the VRRP runtime")),
            };
            let _ = tx.send(res);
        })
        .context("spawning the VRRP thread")?;
    rx.await.context("VRRP thread ended without a result")?
}

/// SCHED_RR at `prio` for the calling thread, reset to normal in children it forks.
fn set_realtime(prio: u8) {
    let param = libc::sched_param {
        sched_priority: i32::from(prio).clamp(1, 99),
    };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid parameter struct.
    let r =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if r != 0 {
        tracing::warn!(
            "cannot set SCHED_RR priority {prio} for VRRP: {}",
            std::io::Error::last_os_error()
        );
    } else {
        tracing::info!("VRRP thread runs SCHED_RR priority {prio}");
    }
}

async fn run_here(
    cfg: VrrpConfig,
    hub: StatusHub,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let nl = vip::Netlink::new()?;
    let (links_tx, links_rx) = watch::channel(HashMap::new());
    let link_task = tokio::spawn(async move {
        if let Err(e) = track::link_task(links_tx).await {
            tracing::error!("link tracking stopped: {e:#}");
        }
    });

    let mut bg = vec![link_task];
    let mut scripts = HashMap::new();
    hub.vrrp_scripts.send_replace(
        cfg.scripts
            .iter()
            .map(|s| VrrpScriptStatus {
                name: s.name.clone(),
                ok: false,
            })
            .collect(),
    );
    for (i, s) in cfg.scripts.iter().enumerate() {
        let (tx, rx) = watch::channel(None);
        scripts.insert(s.name.clone(), (s.clone(), rx.clone()));
        bg.push(tokio::spawn(track::script_task(s.clone(), tx)));
        let hub = hub.clone();
        let mut rx = rx;
        bg.push(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let ok = rx.borrow_and_update().unwrap_or(false);
                hub.vrrp_scripts.send_modify(|v| {
                    if let Some(x) = v.get_mut(i) {
                        x.ok = ok;
                    }
                });
            }
        }));
    }
    let mut files = HashMap::new();
    for f in cfg.instances.iter().flat_map(|i| &i.track_files) {
        if !files.contains_key(&f.path) {
            let (tx, rx) = watch::channel(0i64);
            files.insert(f.path.clone(), rx);
            bg.push(tokio::spawn(track::file_task(f.path.clone(), tx)));
        }
    }
    let shared = instance::Shared {
        nl,
        hub: hub.clone(),
        links: links_rx,
        scripts,
        files,
        socket_priority: cfg.socket_priority,
    };

    hub.vrrp
        .send_replace(cfg.instances.iter().map(initial_status).collect());
    let groups: Vec<(SyncGroupConfig, sync::Member)> = cfg
        .sync_groups
        .iter()
        .map(|g| (g.clone(), sync::group(&g.name)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, ic) in cfg.instances.iter().enumerate() {
        let group = groups
            .iter()
            .find(|(g, _)| g.members.contains(&ic.name))
            .map(|(_, m)| m.clone());
        let slot = instance::Slot { index, group };
        tasks.spawn(instance::run(
            ic.clone(),
            shared.clone(),
            slot,
            shutdown.clone(),
        ));
    }
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        let r = r.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = r {
            tracing::error!("VRRP instance failed: {e:#}");
            first_err.get_or_insert(e);
        }
    }
    for t in bg {
        t.abort();
    }
    first_err.map_or(Ok(()), Err)
}

fn initial_status(i: &InstanceConfig) -> VrrpInstanceStatus {
    VrrpInstanceStatus {
        name: i.name.clone(),
        interface: i.interface.clone(),
        vrid: i.vrid,
        version: i.version,
        family: if i.is_ipv6() { "inet6" } else { "inet" },
        state: VrrpState::Init,
        base_priority: i.priority,
        effective_priority: i.priority,
        master_addr: None,
        since_unix_ms: instance::now_unix_ms(),
        vips: i.vips.iter().map(Vip::display).collect(),
        counters: Default::default(),
    }
}
