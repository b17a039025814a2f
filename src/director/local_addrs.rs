//! The addresses this host has, followed through rtnetlink (for `ha_suspend`): a dump, then
//! the address add/remove events, and a fresh dump every few seconds so a lost event (a
//! netlink buffer overrun) is repaired. Published on a `watch` (`None` until the first dump).
//!
//! [`suspended`] is the pure rule: a virtual server with `ha_suspend` is paused while none of
//! its addresses is on this host.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::MulticastGroup;
use tokio::sync::watch;

use super::desired::RsId;
use super::spec::DirectorSpec;

/// What is known of this host's addresses: `None` before the first dump (nothing is paused
/// on a guess).
pub type LocalAddrs = Option<BTreeSet<IpAddr>>;

const RESYNC: Duration = Duration::from_secs(5);

/// Starts following the host's addresses; the task ends when every receiver is gone.
pub fn spawn() -> watch::Receiver<LocalAddrs> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        while !tx.is_closed() {
            if let Err(e) = follow(&tx).await {
                tracing::warn!("ha_suspend: reading this host's addresses failed: {e}; retrying");
            }
            tokio::select! {
                _ = tx.closed() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
    rx
}

/// An address with the interface holding it (the same address may be on two).
fn address_of(a: &AddressMessage) -> Option<(IpAddr, u32)> {
    let attr = |local: bool| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) if local => Some(*ip),
            AddressAttribute::Address(ip) if !local => Some(*ip),
            _ => None,
        })
    };
    attr(true)
        .or_else(|| attr(false))
        .map(|ip| (ip, a.header.index))
}

async fn dump(h: &rtnetlink::Handle) -> anyhow::Result<BTreeSet<(IpAddr, u32)>> {
    let msgs: Vec<AddressMessage> = h.address().get().execute().try_collect().await?;
    Ok(msgs.iter().filter_map(address_of).collect())
}

fn publish(tx: &watch::Sender<LocalAddrs>, set: &BTreeSet<(IpAddr, u32)>) {
    let addrs: BTreeSet<IpAddr> = set.iter().map(|(ip, _)| *ip).collect();
    tx.send_if_modified(|cur| {
        let changed = cur.as_ref() != Some(&addrs);
        if changed {
            *cur = Some(addrs);
        }
        changed
    });
}

async fn follow(tx: &watch::Sender<LocalAddrs>) -> anyhow::Result<()> {
    let (conn, h, mut msgs) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    let conn = tokio::spawn(conn);
    let _stop = AbortOnDrop(conn.abort_handle());
    // Subscribed before the dump: an event racing it is applied after it, in order.
    let mut set = dump(&h).await?;
    publish(tx, &set);
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            _ = resync.tick() => set = dump(&h).await?,
            m = msgs.next() => {
                let Some((msg, _)) = m else {
                    anyhow::bail!("netlink socket closed");
                };
                match msg.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                        set.extend(address_of(&a));
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) => {
                        if let Some(k) = address_of(&a) {
                            set.remove(&k);
                        }
                    }
                    _ => {}
                }
            }
        }
        publish(tx, &set);
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether any virtual server of `spec` uses `ha_suspend` (the watcher is needed).
pub fn needed(spec: &DirectorSpec) -> bool {
    spec.virtual_servers
        .iter()
        .any(|v| !v.ha_suspend.is_empty())
}

/// The virtual servers paused now (by id), and their real servers: `ha_suspend` ones none of
/// whose addresses is in `local`. Unknown addresses (`None`) pause nothing.
pub fn suspended(spec: &DirectorSpec, local: &LocalAddrs) -> (BTreeSet<String>, HashSet<RsId>) {
    let mut vss = BTreeSet::new();
    let mut rss = HashSet::new();
    let Some(local) = local else {
        return (vss, rss);
    };
    for vs in &spec.virtual_servers {
        if vs.ha_suspend.is_empty() || vs.ha_suspend.iter().any(|a| local.contains(a)) {
            continue;
        }
        vss.insert(vs.core.id.clone());
        for rs in &vs.core.real_servers {
            rss.insert(RsId {
                vs: vs.core.id.clone(),
                addr: rs.addr,
            });
        }
    }
    (vss, rss)
}

/// The director's side of `ha_suspend`: follows the addresses when a configuration needs it
/// and says which real servers to pause whenever that changes.
pub struct Suspension {
    rx: watch::Receiver<LocalAddrs>,
    /// Keeps the placeholder channel open while no configuration needs the watcher.
    placeholder: Option<watch::Sender<LocalAddrs>>,
    paused: BTreeSet<String>,
}

impl Default for Suspension {
    fn default() -> Self {
        let (tx, rx) = watch::channel(None);
        Suspension {
            rx,
            placeholder: Some(tx),
            paused: BTreeSet::new(),
        }
    }
}

impl Suspension {
    /// The virtual servers paused now, by id.
    pub fn paused(&self) -> &BTreeSet<String> {
        &self.paused
    }

    /// Waits for an address change (forever while no watcher runs).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The watcher only ends with its receivers; never spin on a closed channel.
            std::future::pending::<()>().await;
        }
    }

    /// After a load or an address change: starts the watcher if `spec` needs it, logs and
    /// publishes each virtual server paused or resumed, and returns the real servers to
    /// pause when that set changed.
    pub fn update(
        &mut self,
        spec: &DirectorSpec,
        hub: &crate::status::StatusHub,
    ) -> Option<HashSet<RsId>> {
        if needed(spec) && self.placeholder.is_some() {
            self.rx = spawn();
            self.placeholder = None;
        }
        let (vss, rss) = suspended(spec, &self.rx.borrow_and_update());
        if vss == self.paused {
            return None;
        }
        for id in vss.difference(&self.paused) {
            let msg = "none of its addresses is on this host: checkers suspended (ha_suspend)";
            tracing::warn!("{id}: {msg}");
            hub.events
                .publish("ha_suspend", id.clone(), msg.to_string());
        }
        for id in self.paused.difference(&vss) {
            let msg = "its address is on this host: checkers resumed (ha_suspend)";
            tracing::info!("{id}: {msg}");
            hub.events
                .publish("ha_suspend", id.clone(), msg.to_string());
        }
        self.paused = vss;
        Some(rss)
    }
}
