//! `vrrp_sync_group`: members move together. When a member changes state on its own (its
//! timers, adverts or trackers), it publishes `(member, state)` on the group's `watch`; the
//! other members feed that to their FSM as `Event::Follow`. Transitions made by following are
//! not re-published, so a move ripples once through the group. The group's own notify hooks
//! run when the group's state changes (`notify` gets `GROUP <name> <STATE> 0`).

use std::sync::Arc;

use tokio::sync::watch;

use super::config::{Notify, SyncGroupConfig};
use super::fsm::State;
use super::notify;

/// One instance's handle on its group.
#[derive(Clone)]
pub struct Member {
    pub group: String,
    notify: Arc<Notify>,
    tx: Arc<watch::Sender<Option<(String, State)>>>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

/// A group channel.
pub fn group(cfg: &SyncGroupConfig) -> Member {
    Member {
        group: cfg.name.clone(),
        notify: Arc::new(cfg.notify.clone()),
        tx: Arc::new(watch::channel(None).0),
        stopped: Arc::default(),
    }
}

impl Member {
    pub fn publish(&self, member: &str, state: State) {
        // Initialize (stopping) is not a state the group follows; the notify FIFOs get
        // keepalived's `GROUP "G" STOP 0` once, when the first member stops.
        if state == State::Initialize {
            let stopped = self
                .stopped
                .swap(true, std::sync::atomic::Ordering::Relaxed);
            if !stopped {
                crate::fifo::vrrp("GROUP", &self.group, notify::state_word(state), 0);
            }
            return;
        }
        let changed = self.tx.borrow().as_ref().is_none_or(|(_, s)| *s != state);
        self.tx.send_replace(Some((member.to_string(), state)));
        if changed {
            notify::run(&self.notify, "GROUP", &self.group, state, 0);
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<(String, State)>> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        rx
    }
}
