//! The event stream: every VRRP transition, real-server up/down, quorum change, reload and
//! operator action, in order, each with a sequence number.
//!
//! One [`EventBus`] lives in the [`StatusHub`](crate::status::StatusHub) for the daemon's whole
//! life, so sequence numbers keep counting across reloads. Memory is bounded: the bus keeps the
//! last [`RECENT`] events (the status page's list, and the replay for a subscriber that
//! reconnects with `Last-Event-ID`) and hands live events to subscribers over a broadcast
//! channel of [`CHANNEL`] slots; a subscriber that falls further behind is told how many it
//! missed and gets a fresh snapshot, it never makes the daemon buffer more. At most
//! [`MAX_SUBSCRIBERS`] streams are served at once.
//!
//! Producers: the director (real servers, quorum, operator actions) publishes directly;
//! [`follow_hub`] turns the hub's VRRP and reload snapshots into events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::status::{ReloadStatus, StatusHub, VrrpInstanceStatus};

/// Events kept for replay and the status page.
pub const RECENT: usize = 256;
/// Live events a subscriber may be behind before it is told it lagged.
pub const CHANNEL: usize = 1024;
/// Concurrent `/events` streams.
pub const MAX_SUBSCRIBERS: usize = 8;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// 1, 2, 3… for the life of the daemon.
    pub seq: u64,
    pub unix_ms: u64,
    /// `vrrp`, `real_server`, `quorum`, `reload`, `operator`.
    pub kind: &'static str,
    /// What it is about: an instance name, `VS RS`, a virtual server.
    pub subject: String,
    /// What happened, one line.
    pub message: String,
}

struct Ring {
    next_seq: u64,
    recent: VecDeque<Event>,
}

struct Inner {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Event>,
    subscribers: Arc<Semaphore>,
}

/// Where events are published; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a new subscriber gets: the events to replay and the live feed after them.
pub struct Subscription {
    /// Events after the requested id still in the ring (empty without `Last-Event-ID`).
    pub replay: Vec<Event>,
    /// Whether the requested id was too old for a full replay (send a snapshot instead).
    pub gap: bool,
    /// Sequence number of the latest event at subscription time (0: none yet).
    pub last_seq: u64,
    pub live: broadcast::Receiver<Event>,
    /// Held for the life of the stream.
    pub permit: OwnedSemaphorePermit,
}

impl EventBus {
    pub fn new() -> Self {
        EventBus {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    next_seq: 1,
                    recent: VecDeque::with_capacity(RECENT),
                }),
                tx: broadcast::channel(CHANNEL).0,
                subscribers: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes one event (numbered under the lock, so order is the sequence order).
    pub fn publish(
        &self,
        kind: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        let mut ring = self.ring();
        let ev = Event {
            seq: ring.next_seq,
            unix_ms: now_ms(),
            kind,
            subject: subject.into(),
            message: message.into(),
        };
        ring.next_seq += 1;
        if ring.recent.len() == RECENT {
            ring.recent.pop_front();
        }
        ring.recent.push_back(ev.clone());
        // No subscriber is not an error.
        let _ = self.inner.tx.send(ev);
    }

    /// The last [`RECENT`] events, oldest first.
    pub fn recent(&self) -> Vec<Event> {
        self.ring().recent.iter().cloned().collect()
    }

    /// A new stream, replaying what followed `after` when given; `None` when
    /// [`MAX_SUBSCRIBERS`] streams are open.
    pub fn subscribe(&self, after: Option<u64>) -> Option<Subscription> {
        let permit = self.inner.subscribers.clone().try_acquire_owned().ok()?;
        let ring = self.ring();
        let live = self.inner.tx.subscribe();
        let last_seq = ring.next_seq - 1;
        let (replay, gap) = match after {
            None => (Vec::new(), false),
            Some(id) => {
                let replay: Vec<Event> =
                    ring.recent.iter().filter(|e| e.seq > id).cloned().collect();
                let oldest = ring.recent.front().map_or(ring.next_seq, |e| e.seq);
                (replay, id + 1 < oldest || id > last_seq)
            }
        };
        Some(Subscription {
            replay,
            gap,
            last_seq,
            live,
            permit,
        })
    }
}

/// Turns VRRP state changes and reloads published on the hub into events, until the hub's
/// senders go away.
pub async fn follow_hub(hub: StatusHub) {
    let bus = hub.events.clone();
    let mut vrrp_rx = hub.vrrp.subscribe();
    let mut reload_rx = hub.reload.subscribe();
    let mut states: BTreeMap<String, String> = vrrp_states(&vrrp_rx.borrow_and_update());
    let mut reload = reload_rx.borrow_and_update().clone();
    loop {
        tokio::select! {
            r = vrrp_rx.changed() => {
                if r.is_err() {
                    return;
                }
                let now = vrrp_states(&vrrp_rx.borrow_and_update());
                for (name, state) in &now {
                    let before = states.get(name).map_or("INIT", String::as_str);
                    if before != state {
                        bus.publish("vrrp", name.clone(), format!("{before} -> {state}"));
                    }
                }
                states = now;
            }
            r = reload_rx.changed() => {
                if r.is_err() {
                    return;
                }
                let now = reload_rx.borrow_and_update().clone();
                if let Some(msg) = reload_message(&reload, &now) {
                    bus.publish("reload", now.config_file.clone(), msg);
                }
                reload = now;
            }
        }
    }
}

fn vrrp_states(v: &[VrrpInstanceStatus]) -> BTreeMap<String, String> {
    v.iter()
        .map(|i| {
            let s = serde_json::to_value(i.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (i.name.clone(), s)
        })
        .collect()
}

fn reload_message(before: &ReloadStatus, now: &ReloadStatus) -> Option<String> {
    if now.successes > before.successes {
        Some("configuration reloaded".into())
    } else if now.failures > before.failures {
        Some(format!(
            "reload refused, running configuration kept: {}",
            now.last_error.as_deref().unwrap_or("see the log")
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn numbered_in_order_bounded_and_replayed_after_an_id() {
        let bus = EventBus::new();
        for i in 0..(RECENT + 10) {
            bus.publish("reload", "f", format!("{i}"));
        }
        let recent = bus.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].seq, 11);
        assert!(recent.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let s = bus.subscribe(Some(260)).unwrap();
        assert_eq!(
            s.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![261, 262, 263, 264, 265, 266]
        );
        assert!(!s.gap);
        assert!(bus.subscribe(Some(3)).unwrap().gap);
        let mut live = bus.subscribe(None).unwrap();
        assert_eq!(live.last_seq, 266);
        bus.publish("vrrp", "VI_1", "BACKUP -> MASTER");
        assert_eq!(live.live.recv().await.unwrap().seq, 267);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_growing_memory() {
        let bus = EventBus::new();
        let mut s = bus.subscribe(None).unwrap();
        for _ in 0..(CHANNEL + 100) {
            bus.publish("reload", "f", "x");
        }
        match s.live.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 100),
            other => panic!("expected a lag, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn vrrp_transitions_and_reloads_become_events() {
        use crate::status::{VrrpCounters, VrrpState};
        let hub = StatusHub::new();
        let inst = |state| VrrpInstanceStatus {
            name: "VI_1".into(),
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
            vips: vec![],
            counters: VrrpCounters::default(),
        };
        let task = tokio::spawn(follow_hub(hub.clone()));
        let mut live = hub.events.subscribe(None).unwrap().live;
        tokio::task::yield_now().await;
        hub.vrrp.send_replace(vec![inst(VrrpState::Backup)]);
        let e = live.recv().await.unwrap();
        assert_eq!((e.kind, e.subject.as_str()), ("vrrp", "VI_1"));
        assert_eq!(e.message, "INIT -> BACKUP");
        // A counter update with the same state is no event; a state change is.
        let mut again = inst(VrrpState::Backup);
        again.counters.advert_rcvd = 5;
        hub.vrrp.send_replace(vec![again]);
        hub.vrrp.send_replace(vec![inst(VrrpState::Master)]);
        let e = live.recv().await.unwrap();
        assert_eq!(e.message, "BACKUP -> MASTER");
        hub.reload.send_modify(|r| {
            r.failures += 1;
            r.last_error = Some("x.conf:3:1: error".into());
        });
        let e = live.recv().await.unwrap();
        assert_eq!(e.kind, "reload");
        assert!(
            e.message.contains("refused") && e.message.contains("x.conf:3:1"),
            "{e:?}"
        );
        assert_eq!(e.seq, 3);
        task.abort();
    }

    #[test]
    fn subscribers_are_limited() {
        let bus = EventBus::new();
        let held: Vec<_> = (0..MAX_SUBSCRIBERS)
            .map(|_| bus.subscribe(None).unwrap())
            .collect();
        assert!(bus.subscribe(None).is_none());
        drop(held);
        assert!(bus.subscribe(None).is_some());
    }
}
