//! BFD (RFC 5880 asynchronous mode) as keepalived's `bfd_instance` runs it: over UDP, RFC 5881
//! single-hop (port 3784, TTL 255 sent and required) and RFC 5883 multihop (port 4784, the
//! received TTL checked against `max_hops`), IPv4 and IPv6.
//!
//! - [`packet`]: the Control packet codec and its reception checks;
//! - [`session`]: one session's state machine and timers, pure (a fake clock in its tests);
//! - [`config`]: `bfd_instance` → [`SessionSpec`]; [`net`]: the UDP sockets;
//! - [`service`]: the task running every session, publishing a [`StatusMap`];
//!
//! Session states feed VRRP (`track_bfd`, through the instance trackers) and the director
//! (`BFD_CHECK`) as one level-triggered map of name → up.

pub mod config;
pub mod net;
pub mod packet;
pub mod service;
pub mod session;

pub use config::{SessionSpec, specs};
pub use service::{SessionStatus, StatusMap, is_up};

/// Runs the BFD service beside VRRP and the director: waits for the first configuration,
/// follows every good reload, ends after `shutdown` (peers are told AdminDown). With no
/// `bfd_instance` it idles until one appears in a reload.
pub fn spawn(
    configs: &tokio::sync::watch::Sender<Option<crate::daemon::Model>>,
    status: std::sync::Arc<tokio::sync::watch::Sender<StatusMap>>,
    dropped: std::sync::Arc<tokio::sync::watch::Sender<service::Dropped>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut rx = configs.subscribe();
    tokio::spawn(async move {
        let first = loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                break c;
            }
            if rx.changed().await.is_err() {
                return;
            }
        };
        let (tx, specs_rx) = tokio::sync::watch::channel(specs(&first.0));
        let forward = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                if let Some(m) = next {
                    tx.send_if_modified(|cur| {
                        let new = specs(&m.0);
                        let changed = *cur != new;
                        *cur = new;
                        changed
                    });
                }
            }
        });
        service::run(specs_rx, status, dropped, shutdown).await;
        forward.abort();
    })
}
