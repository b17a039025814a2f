//! Runs lvsd's VRRP alone, the way `lvsd -P -f CONF` will: loads the configuration, calls
//! `lvsd::vrrp::run` until SIGTERM/SIGINT (then the instances resign with priority 0), and
//! optionally mirrors the status snapshot into a JSON file for tests to read. SIGHUP re-reads
//! CONF and reloads in place (`lvsd::vrrp::run_reloadable`).
//!
//! CONF is a keepalived.conf (loaded with `lvsd::config`, converted with
//! `VrrpConfig::from_model`), or, when it ends in `.json`, the serde form of
//! `lvsd::vrrp::VrrpConfig` (for tests that need settings keepalived.conf cannot say).
//!
//! ```text
//! vrrp-node CONF [--status STATUS.json]
//! ```

use std::time::Duration;

use anyhow::Context as _;
use lvsd::status::StatusHub;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let conf = args
        .next()
        .context("usage: vrrp-node CONF.json [--status FILE]")?;
    let mut status_path = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--status" => status_path = args.next(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let load = |conf: &str| -> anyhow::Result<lvsd::vrrp::VrrpConfig> {
        if conf.ends_with(".json") {
            let text = std::fs::read_to_string(conf).with_context(|| format!("reading {conf}"))?;
            return serde_json::from_str(&text).with_context(|| format!("parsing {conf}"));
        }
        let opts = lvsd::config::LoadOptions::default();
        match lvsd::config::load(std::path::Path::new(conf), &opts) {
            Ok(loaded) => {
                for d in &loaded.diagnostics {
                    tracing::warn!("{d}");
                }
                Ok(lvsd::vrrp::VrrpConfig::from_model(&loaded.config))
            }
            Err(e) => {
                let all: Vec<String> = e.diagnostics.iter().map(|d| d.to_string()).collect();
                anyhow::bail!("{conf}: configuration refused\n{}", all.join("\n"))
            }
        }
    };
    let (cfg_tx, cfg_rx) = tokio::sync::watch::channel(load(&conf)?);
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match load(&conf) {
                Ok(c) => {
                    let _ = cfg_tx.send(c);
                }
                Err(e) => tracing::error!("reload refused: {e:#}"),
            }
        }
    });

    let hub = StatusHub::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop_tx.send(true);
    });
    if let Some(path) = status_path {
        let mut rx = hub.vrrp.subscribe();
        let hub2 = hub.clone();
        tokio::spawn(async move {
            loop {
                let snap = hub2.snapshot();
                if let Ok(json) = serde_json::to_vec_pretty(&snap) {
                    let tmp = format!("{path}.tmp");
                    if std::fs::write(&tmp, json).is_ok() {
                        let _ = std::fs::rename(&tmp, &path);
                    }
                }
                // Coalesce bursts (100 adverts/s at advert_int 0.01).
                tokio::time::sleep(Duration::from_millis(20)).await;
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    lvsd::vrrp::run_reloadable(cfg_rx, hub, stop_rx).await
}
