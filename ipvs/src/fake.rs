//! The seam between the director and the kernel: [`Ipvs`] (dump + apply, global timeouts and
//! sync daemons; provided: `reconcile`, `read_services`, `reconcile_scoped`), implemented by the
//! real [`Client`] and by [`FakeIpvs`], an in-memory kernel for tests without IPVS.
//!
//! `FakeIpvs` applies ops with the kernel's semantics (adding an existing object fails with
//! EEXIST, editing or deleting a missing one with ESRCH/ENOENT; schedulers can be declared
//! missing to get the kernel's ENOENT), counts writes, and lets a test change the table behind
//! the director's back (`with_table`), as `ipvsadm -D` by hand would.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::client::{Client, op_subject};
use crate::error::{Error, libc_errno};
use crate::model::{DaemonConfig, DaemonState, ServiceKey, Table, Timeouts};
use crate::reconcile::{ApplyReport, FakeError, Op, OpOutcome, Ownership, Plan, plan, plan_scoped};

/// What the director needs from the kernel: read the table, apply a plan.
pub trait Ipvs: Send + Sync {
    /// The whole table with counters.
    fn dump(&self) -> impl Future<Output = Result<Table, Error>> + Send;
    /// Runs a plan; one outcome per op.
    fn apply(&self, plan: &Plan) -> impl Future<Output = Result<ApplyReport, Error>> + Send;
    /// `ipvsadm --set tcp tcpfin udp` (0 leaves a value unchanged).
    fn set_timeouts(&self, t: &Timeouts) -> impl Future<Output = Result<(), Error>> + Send;
    /// Running sync daemons (`ipvsadm -L --daemon`).
    fn daemons(&self) -> impl Future<Output = Result<Vec<DaemonConfig>, Error>> + Send;
    /// `ipvsadm --start-daemon`.
    fn add_daemon(&self, d: &DaemonConfig) -> impl Future<Output = Result<(), Error>> + Send;
    /// `ipvsadm --stop-daemon`.
    fn del_daemon(&self, state: DaemonState) -> impl Future<Output = Result<(), Error>> + Send;
    /// One reconcile pass: dump, plan, apply.
    fn reconcile(
        &self,
        desired: &Table,
        ownership: &Ownership,
    ) -> impl Future<Output = Result<(Plan, ApplyReport), Error>> + Send {
        async move {
            let current = self.dump().await?;
            let p = plan(&current, desired, ownership);
            let report = self.apply(&p).await?;
            Ok((p, report))
        }
    }
    /// The services of `keys` as the kernel has them now (absent keys are absent). The default
    /// reads the whole table; [`Client`] reads only these services.
    fn read_services(
        &self,
        keys: &BTreeSet<ServiceKey>,
    ) -> impl Future<Output = Result<Table, Error>> + Send {
        async move { Ok(self.dump().await?.subset(keys)) }
    }
    /// One reconcile pass limited to the services of `scope`: read them from the kernel, plan
    /// with [`plan_scoped`], apply. Still level-triggered (it diffs against what the kernel has
    /// now, never against what was written before), but costs one service's read per key
    /// instead of the whole table's. Services outside `scope` are neither read nor touched, so
    /// a full [`Ipvs::reconcile`] must still run periodically to repair outside changes.
    fn reconcile_scoped(
        &self,
        desired: &Table,
        scope: &BTreeSet<ServiceKey>,
        ownership: &Ownership,
    ) -> impl Future<Output = Result<(Plan, ApplyReport), Error>> + Send {
        async move {
            let current = self.read_services(scope).await?;
            let p = plan_scoped(&current, desired, scope, ownership);
            let report = self.apply(&p).await?;
            Ok((p, report))
        }
    }
}

impl Ipvs for Client {
    async fn dump(&self) -> Result<Table, Error> {
        Client::dump(self).await
    }
    async fn apply(&self, plan: &Plan) -> Result<ApplyReport, Error> {
        Client::apply(self, plan).await
    }
    async fn read_services(&self, keys: &BTreeSet<ServiceKey>) -> Result<Table, Error> {
        Client::read_services(self, keys).await
    }
    async fn set_timeouts(&self, t: &Timeouts) -> Result<(), Error> {
        Client::set_timeouts(self, t).await
    }
    async fn daemons(&self) -> Result<Vec<DaemonConfig>, Error> {
        Client::daemons(self).await
    }
    async fn add_daemon(&self, d: &DaemonConfig) -> Result<(), Error> {
        Client::add_daemon(self, d).await
    }
    async fn del_daemon(&self, state: DaemonState) -> Result<(), Error> {
        Client::del_daemon(self, state).await
    }
}

#[derive(Debug, Default)]
struct FakeState {
    table: Table,
    writes: usize,
    ops: Vec<Op>,
    missing_schedulers: BTreeSet<String>,
    timeouts: Option<Timeouts>,
    daemons: Vec<DaemonConfig>,
}

/// An in-memory IPVS kernel. Clones share the same table.
#[derive(Debug, Clone, Default)]
pub struct FakeIpvs {
    state: Arc<Mutex<FakeState>>,
}

impl FakeIpvs {
    /// An empty kernel table.
    pub fn new() -> Self {
        FakeIpvs::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock leaves a usable table.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the current table.
    pub fn table(&self) -> Table {
        self.lock().table.clone()
    }

    /// Changes the table directly (someone running ipvsadm by hand); not counted as a write.
    pub fn with_table<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        f(&mut self.lock().table)
    }

    /// Number of ops applied so far (successful or not), like netlink writes.
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Every op applied so far (successful or not), in order.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }

    /// The timeouts last set, if any.
    pub fn timeouts(&self) -> Option<Timeouts> {
        self.lock().timeouts
    }

    /// The sync daemons running now.
    pub fn running_daemons(&self) -> Vec<DaemonConfig> {
        self.lock().daemons.clone()
    }

    /// Makes adding/editing a service with this scheduler fail as on a kernel without its module.
    pub fn remove_scheduler(&self, name: &str) {
        self.lock().missing_schedulers.insert(name.to_string());
    }
}

impl Ipvs for FakeIpvs {
    async fn dump(&self) -> Result<Table, Error> {
        Ok(self.table())
    }

    async fn apply(&self, plan: &Plan) -> Result<ApplyReport, Error> {
        let mut st = self.lock();
        let mut outcomes = Vec::with_capacity(plan.ops.len());
        for op in &plan.ops {
            st.writes += 1;
            st.ops.push(op.clone());
            let missing_sched = match op {
                Op::AddService(s) | Op::EditService(s) => {
                    st.missing_schedulers.contains(s.scheduler.name())
                }
                _ => false,
            };
            let errno = if missing_sched {
                Some(libc_errno::ENOENT)
            } else {
                st.table.apply_op(op).err().map(|e| match e {
                    FakeError::Exists => libc_errno::EEXIST,
                    FakeError::NoService => libc_errno::ESRCH,
                    FakeError::NoDest => libc_errno::ENOENT,
                })
            };
            let result = match errno {
                None => Ok(()),
                Some(errno) => {
                    let (verb, object) = op_subject(op);
                    Err(Error::Kernel {
                        verb,
                        object,
                        errno,
                    })
                }
            };
            outcomes.push(OpOutcome {
                op: op.clone(),
                result,
            });
        }
        Ok(ApplyReport { outcomes })
    }

    async fn set_timeouts(&self, t: &Timeouts) -> Result<(), Error> {
        self.lock().timeouts = Some(*t);
        Ok(())
    }

    async fn daemons(&self) -> Result<Vec<DaemonConfig>, Error> {
        Ok(self.running_daemons())
    }

    async fn add_daemon(&self, d: &DaemonConfig) -> Result<(), Error> {
        let mut st = self.lock();
        if st.daemons.iter().any(|r| r.state == d.state) {
            return Err(Error::Kernel {
                verb: crate::Verb::AddDaemon,
                object: format!("{:?}", d.state),
                errno: libc_errno::EEXIST,
            });
        }
        st.daemons.push(d.clone());
        Ok(())
    }

    async fn del_daemon(&self, state: DaemonState) -> Result<(), Error> {
        let mut st = self.lock();
        let before = st.daemons.len();
        st.daemons.retain(|r| r.state != state);
        if st.daemons.len() == before {
            return Err(Error::Kernel {
                verb: crate::Verb::DelDaemon,
                object: format!("{state:?}"),
                errno: libc_errno::ESRCH,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dest, Forward, Scheduler, Service, ServiceKey};
    use std::net::{IpAddr, Ipv4Addr};

    fn desired() -> Table {
        let mut t = Table::new();
        let key = ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
        t.add_service(Service::new(key, Scheduler::Rr));
        t.add_dest(
            &key,
            Dest::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80, Forward::Masq),
        );
        t
    }

    #[tokio::test]
    async fn converges_counts_writes_and_restores_hand_deletes() {
        let fake = FakeIpvs::new();
        let want = desired();
        let (p, r) = fake
            .reconcile(&want, &Ownership::default())
            .await
            .expect("pass");
        assert!(r.is_success() && p.len() == 2);
        let (p, _) = fake
            .reconcile(&want, &Ownership::default())
            .await
            .expect("pass");
        assert!(p.is_empty());
        assert_eq!(fake.writes(), 2);
        fake.with_table(|t| t.services.clear());
        let (p, _) = fake
            .reconcile(&want, &Ownership::default())
            .await
            .expect("pass");
        assert_eq!(p.len(), 2);
        assert_eq!(fake.table(), want);
    }

    #[tokio::test]
    async fn missing_scheduler_fails_like_the_kernel() {
        let fake = FakeIpvs::new();
        fake.remove_scheduler("rr");
        let (_, r) = fake
            .reconcile(&desired(), &Ownership::default())
            .await
            .expect("pass");
        let msgs: Vec<String> = r.failures().map(|(_, e)| e.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].contains("scheduler or persistence engine not found"),
            "{}",
            msgs[0]
        );
        assert!(msgs[1].contains("no such service"), "{}", msgs[1]);
    }

    #[tokio::test]
    async fn scoped_reconcile_fixes_its_services_and_leaves_the_others() {
        let fake = FakeIpvs::new();
        let mut old = Table::new();
        let key = |port| ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port);
        let dest =
            |w| Dest::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80, Forward::Masq).weight(w);
        for port in [80, 81, 82] {
            old.add_service(Service::new(key(port), Scheduler::Rr));
            old.add_dest(&key(port), dest(1));
        }
        fake.reconcile(&old, &Ownership::default())
            .await
            .expect("fill");
        // By hand: 80 loses its service, 82 gets another weight.
        fake.with_table(|t| {
            t.services.remove(&key(80));
            t.add_dest(&key(82), dest(9));
        });
        let mut new = old.clone();
        new.add_dest(&key(81), dest(5));
        let scope = Table::changed_services(&old, &new);
        assert_eq!(scope, [key(81)].into());
        let before = fake.writes();
        let (p, r) = fake
            .reconcile_scoped(&new, &scope, &Ownership::default())
            .await
            .expect("scoped pass");
        assert!(r.is_success());
        assert_eq!(p.to_string(), "-e -t 192.0.2.1:81 -r 10.0.0.2:80 -m -w 5\n");
        assert_eq!(fake.writes(), before + 1);
        // Out of scope: the hand changes are still there.
        assert!(fake.table().get(&key(80)).is_none());
        assert_eq!(
            fake.table()
                .get(&key(82))
                .unwrap()
                .dests
                .values()
                .next()
                .unwrap()
                .weight,
            9
        );
        // A scope naming the missing service brings it back.
        let (p, _) = fake
            .reconcile_scoped(&new, &[key(80)].into(), &Ownership::default())
            .await
            .expect("scoped pass");
        assert_eq!(p.len(), 2);
        // Nothing changed: nothing written. The periodic full pass repairs the rest.
        let (p, _) = fake
            .reconcile_scoped(
                &new,
                &Table::changed_services(&new, &new),
                &Ownership::default(),
            )
            .await
            .expect("empty scope");
        assert!(p.is_empty());
        let (p, _) = fake
            .reconcile(&new, &Ownership::default())
            .await
            .expect("full");
        assert_eq!(p.to_string(), "-e -t 192.0.2.1:82 -r 10.0.0.2:80 -m -w 1\n");
        assert_eq!(fake.table(), new);
    }
}
