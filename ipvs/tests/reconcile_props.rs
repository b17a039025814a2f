//! Property tests of the reconciler against the in-memory kernel (`Table::apply`): from any
//! kernel table to any desired table, one plan converges, the next plan is empty, and services
//! outside the ownership are never touched. A scoped plan is the full plan's ops on its scope,
//! converges its scope, and with the scope of `Table::changed_services` repairs exactly what a
//! full pass would after a desired-table change.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipvs::{Dest, Forward, Op, Ownership, Scheduler, Service, ServiceKey, Table, reconcile};
use proptest::prelude::*;

/// Small address/port spaces so that current and desired overlap often.
fn table() -> impl Strategy<Value = Table> {
    let dest = (0u8..4, 0u32..3, 0usize..3, 0u32..2);
    let svc = (
        0u8..3,
        0u16..2,
        0usize..3,
        any::<bool>(),
        proptest::collection::vec(dest, 0..4),
    );
    proptest::collection::vec(svc, 0..6).prop_map(|svcs| {
        let mut t = Table::new();
        for (a, port, sched, persistent, dests) in svcs {
            let key = ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, a)), 80 + port);
            let scheduler = [Scheduler::Rr, Scheduler::Wlc, Scheduler::Sh][sched].clone();
            let mut s = Service::new(key, scheduler);
            if persistent {
                s = s.persistent(300);
            }
            t.add_service(s);
            for (d, w, fwd, thr) in dests {
                let forward = [Forward::Masq, Forward::DirectRoute, Forward::Tunnel][fwd];
                let mut dest =
                    Dest::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, d)), 80, forward).weight(w);
                dest.u_threshold = thr * 100;
                t.add_dest(&key, dest);
            }
        }
        t
    })
}

fn ownership() -> impl Strategy<Value = Ownership> {
    prop_oneof![
        Just(Ownership::All),
        Just(Ownership::desired_only()),
        proptest::collection::btree_set((0u8..3, 0u16..2), 0..3).prop_map(|keys| {
            Ownership::Declared(
                keys.into_iter()
                    .map(|(a, p)| ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, a)), 80 + p))
                    .collect(),
            )
        }),
    ]
}

fn key(a: u8, p: u16) -> ServiceKey {
    ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, a)), 80 + p)
}

fn scope() -> impl Strategy<Value = BTreeSet<ServiceKey>> {
    proptest::collection::btree_set((0u8..3, 0u16..2), 0..4)
        .prop_map(|keys| keys.into_iter().map(|(a, p)| key(a, p)).collect())
}

fn owned(key: &ServiceKey, desired: &Table, own: &Ownership) -> bool {
    desired.services.contains_key(key)
        || match own {
            Ownership::All => true,
            Ownership::Declared(keys) => keys.contains(key),
        }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn one_plan_converges_and_the_next_is_empty(current in table(), desired in table(), own in ownership()) {
        let plan = reconcile::plan(&current, &desired, &own);
        let mut kernel = current.clone();
        let failed = kernel.apply(&plan);
        prop_assert!(failed.is_empty(), "ops failed: {failed:?}\nplan:\n{plan}");
        prop_assert!(reconcile::plan(&kernel, &desired, &own).is_empty());
        // Owned services equal the desired ones; the others are untouched.
        for (key, entry) in &kernel.services {
            if owned(key, &desired, &own) {
                prop_assert_eq!(Some(entry), desired.services.get(key));
            } else {
                prop_assert_eq!(Some(entry), current.services.get(key));
            }
        }
        let gone: BTreeSet<_> = current.services.keys().filter(|k| !kernel.services.contains_key(k)).collect();
        prop_assert!(gone.iter().all(|k| owned(k, &desired, &own)));
    }

    #[test]
    fn plans_are_minimal(current in table(), desired in table()) {
        let plan = reconcile::plan(&current, &desired, &Ownership::All);
        for op in &plan.ops {
            match op {
                // An edit only where the object exists and differs; an add only where it is absent.
                Op::EditService(s) => prop_assert!(current.get(&s.key).is_some_and(|e| !e.service.same_config(s))),
                Op::AddService(s) => prop_assert!(current.get(&s.key).is_none()),
                Op::EditDest(k, d) => prop_assert!(
                    current.get(k).and_then(|e| e.dests.get(&d.key())).is_some_and(|h| !h.same_config(d))
                ),
                Op::DelDest(k, d) => prop_assert!(desired.get(k).is_some_and(|e| !e.dests.contains_key(d))),
                Op::DelService(k) => prop_assert!(desired.get(k).is_none()),
                Op::AddDest(..) | Op::Flush => {}
            }
        }
        // Never delete+add a service that exists on both sides.
        for key in current.services.keys().filter(|k| desired.services.contains_key(*k)) {
            prop_assert!(!plan.ops.contains(&Op::DelService(*key)));
        }
    }

    #[test]
    fn scoped_plan_is_the_full_plan_on_its_scope(current in table(), desired in table(), own in ownership(), scope in scope()) {
        let full = reconcile::plan(&current, &desired, &own);
        let on_scope: Vec<Op> = full.ops.iter().filter(|op| op.service_key().is_some_and(|k| scope.contains(k))).cloned().collect();
        // Whether the read holds just the scope's services or the whole table does not matter.
        let scoped = reconcile::plan_scoped(&current.subset(&scope), &desired, &scope, &own);
        prop_assert_eq!(&scoped.ops, &on_scope);
        prop_assert_eq!(reconcile::plan_scoped(&current, &desired, &scope, &own), scoped.clone());

        let mut kernel = current.clone();
        let failed = kernel.apply(&scoped);
        prop_assert!(failed.is_empty(), "ops failed: {failed:?}\nplan:\n{scoped}");
        prop_assert!(reconcile::plan_scoped(&kernel.subset(&scope), &desired, &scope, &own).is_empty(), "converged: zero writes");
        for (k, entry) in &current.services {
            if !scope.contains(k) {
                prop_assert_eq!(kernel.get(k), Some(entry), "out of scope, untouched");
            }
        }
        prop_assert!(kernel.services.keys().all(|k| scope.contains(k) || current.services.contains_key(k)));
    }

    #[test]
    fn changed_services_scope_repairs_what_a_full_pass_would(current in table(), old in table(), new in table(), own in ownership()) {
        // The kernel converged to the old desired table (anything else in it stays foreign).
        let mut kernel = current.clone();
        kernel.apply(&reconcile::plan(&current, &old, &own));
        // The director keeps owning what it declared before.
        let own2 = match &own {
            Ownership::All => Ownership::All,
            Ownership::Declared(keys) => Ownership::Declared(keys.iter().chain(old.services.keys()).copied().collect()),
        };
        let scope = Table::changed_services(&old, &new);
        let scoped = reconcile::plan_scoped(&kernel.subset(&scope), &new, &scope, &own2);
        let full = reconcile::plan(&kernel, &new, &own2);
        prop_assert_eq!(&scoped, &full);
        let failed = kernel.apply(&scoped);
        prop_assert!(failed.is_empty(), "ops failed: {failed:?}");
        prop_assert!(reconcile::plan(&kernel, &new, &own2).is_empty());
        prop_assert!(Table::changed_services(&new, &new).is_empty());
    }
}
