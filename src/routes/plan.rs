//! The pure part of the writer: what one configured item needs this pass.

use std::collections::HashSet;

/// Whose item it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// `static_*`: wanted whenever lvsd runs.
    Static,
    /// An instance's `virtual_routes` / `virtual_rules`.
    Instance(String),
}

/// One item as this pass sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Static, or its instance is MASTER.
    pub wanted: bool,
    pub present: bool,
    /// Seen installed earlier in the instance's current mastership.
    pub installed: bool,
    /// Not `no_track` (and has an interface, which keepalived needs to track it).
    pub tracked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Add,
    Del,
    /// A tracked item vanished while its instance is MASTER: the instance must resign.
    Lost,
}

pub fn step(owner: &Owner, s: Seen) -> Step {
    match (s.wanted, s.present) {
        (true, true) | (false, false) => Step::Nothing,
        (false, true) => Step::Del,
        (true, false) => match owner {
            Owner::Static => Step::Add,
            Owner::Instance(_) if !s.installed => Step::Add,
            // keepalived: a no_track item is not reinstated until the next transition to MASTER.
            Owner::Instance(_) if !s.tracked => Step::Nothing,
            Owner::Instance(_) => Step::Lost,
        },
    }
}

/// Which virtual items were seen installed, per (instance, mastership start).
#[derive(Debug, Default)]
pub struct Installed {
    set: HashSet<(String, u64, String)>,
}

impl Installed {
    pub fn has(&self, instance: &str, epoch: u64, item: &str) -> bool {
        self.set
            .contains(&(instance.to_string(), epoch, item.to_string()))
    }
    pub fn mark(&mut self, instance: &str, epoch: u64, item: &str) {
        self.set
            .insert((instance.to_string(), epoch, item.to_string()));
    }
    /// Forgets every mastership but the current ones (`(instance, epoch)` of MASTERs).
    pub fn keep_only(&mut self, current: &HashSet<(String, u64)>) {
        self.set
            .retain(|(i, e, _)| current.contains(&(i.clone(), *e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(wanted: bool, present: bool, installed: bool, tracked: bool) -> Seen {
        Seen {
            wanted,
            present,
            installed,
            tracked,
        }
    }

    #[test]
    fn static_items_are_always_put_back() {
        assert_eq!(
            step(&Owner::Static, seen(true, false, true, true)),
            Step::Add
        );
        assert_eq!(
            step(&Owner::Static, seen(true, true, true, true)),
            Step::Nothing
        );
    }

    #[test]
    fn virtual_items_follow_mastership_and_tracking() {
        let i = Owner::Instance("VI_1".into());
        // Becoming master: installed once.
        assert_eq!(step(&i, seen(true, false, false, true)), Step::Add);
        // Deleted from outside while master: tracked → resign; no_track → left missing.
        assert_eq!(step(&i, seen(true, false, true, true)), Step::Lost);
        assert_eq!(step(&i, seen(true, false, true, false)), Step::Nothing);
        // Not master: removed if there.
        assert_eq!(step(&i, seen(false, true, true, true)), Step::Del);
        assert_eq!(step(&i, seen(false, false, false, true)), Step::Nothing);
    }

    #[test]
    fn a_new_mastership_starts_afresh() {
        let mut m = Installed::default();
        m.mark("VI_1", 10, "r");
        assert!(m.has("VI_1", 10, "r"));
        m.keep_only(&[("VI_1".to_string(), 20)].into_iter().collect());
        assert!(!m.has("VI_1", 10, "r"));
    }
}
