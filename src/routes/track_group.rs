//! Static track groups (keepalived.conf(5)): a `static_ipaddress` / `static_routes` /
//! `static_rules` entry with `track_group NAME` that is deleted and cannot be put back puts
//! every instance of the group in FAULT; once it is back they leave FAULT. The writer reports
//! each pass's lost items ([`Lost`]); [`publish`] turns them into the set of instances the
//! VRRP loops read (`StatusHub::static_track_faults`).

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::watch;

use crate::config::Config;

/// The group named by a static item and its instances (None: no group, or not defined).
pub(super) fn members(c: &Config, group: Option<&str>) -> Option<(String, Vec<String>)> {
    let g = c
        .track_groups
        .iter()
        .find(|g| Some(g.name.as_str()) == group)?;
    Some((g.name.clone(), g.group.clone()))
}

/// The static items of track groups that are missing after a pass: item → (group, instances).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Lost {
    items: BTreeMap<String, (String, Vec<String>)>,
}

impl Lost {
    pub(super) fn add(&mut self, label: &str, group: &(String, Vec<String>)) {
        self.items.insert(label.to_string(), group.clone());
    }

    /// The instances that must be in FAULT.
    pub(super) fn instances(&self) -> BTreeSet<String> {
        self.items
            .values()
            .flat_map(|(_, m)| m.iter().cloned())
            .collect()
    }
}

/// Publishes the instances to fault, logging each change (once, not every pass).
pub(super) fn publish(faults: &watch::Sender<BTreeSet<String>>, lost: Lost) {
    let now = lost.instances();
    if *faults.borrow() == now {
        return;
    }
    for (label, (group, m)) in &lost.items {
        tracing::warn!(
            "routes: static {label} (track_group {group}) is deleted and cannot be restored: {} in FAULT",
            m.join(", ")
        );
    }
    if now.is_empty() {
        tracing::info!("routes: every static track_group item is back");
    }
    faults.send_replace(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_of_every_lost_group_fault_until_it_is_back() {
        let (tx, rx) = watch::channel(BTreeSet::new());
        let g1 = ("G1".to_string(), vec!["A".to_string(), "B".to_string()]);
        let g2 = ("G2".to_string(), vec!["B".to_string(), "C".to_string()]);
        let mut lost = Lost::default();
        lost.add("route 10.9.0.0/24 via 10.8.0.254", &g1);
        lost.add("address 10.8.0.1/24 dev eth1", &g2);
        publish(&tx, lost);
        let want: BTreeSet<String> = ["A", "B", "C"].map(String::from).into();
        assert_eq!(*rx.borrow(), want);
        let mut lost = Lost::default();
        lost.add("address 10.8.0.1/24 dev eth1", &g2);
        publish(&tx, lost);
        let want: BTreeSet<String> = ["B", "C"].map(String::from).into();
        assert_eq!(*rx.borrow(), want);
        publish(&tx, Lost::default());
        assert!(rx.borrow().is_empty());
    }
}
