//! `vrrp_sync_group`: members move together. When a member changes state on its own (its
//! timers, adverts or trackers), it publishes `(member, state)` on the group's `watch`; the
//! other members feed that to their FSM as `Event::Follow`. Transitions made by following are
//! not re-published, so a move ripples once through the group.

use std::sync::Arc;

use tokio::sync::watch;

use super::fsm::State;

/// One instance's handle on its group.
#[derive(Clone)]
pub struct Member {
    pub group: String,
    tx: Arc<watch::Sender<Option<(String, State)>>>,
}

/// A group channel.
pub fn group(name: &str) -> Member {
    Member {
        group: name.to_string(),
        tx: Arc::new(watch::channel(None).0),
    }
}

impl Member {
    pub fn publish(&self, member: &str, state: State) {
        // Initialize (stopping) is not a state the group follows.
        if state != State::Initialize {
            self.tx.send_replace(Some((member.to_string(), state)));
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<(String, State)>> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        rx
    }
}
