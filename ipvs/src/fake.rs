//! The seam between the director and the kernel: [`Ipvs`] (dump + apply), implemented by the
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
use crate::model::Table;
use crate::reconcile::{ApplyReport, FakeError, Op, OpOutcome, Ownership, Plan, plan};

/// What the director needs from the kernel: read the table, apply a plan.
pub trait Ipvs: Send + Sync {
    /// The whole table with counters.
    fn dump(&self) -> impl Future<Output = Result<Table, Error>> + Send;
    /// Runs a plan; one outcome per op.
    fn apply(&self, plan: &Plan) -> impl Future<Output = Result<ApplyReport, Error>> + Send;
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
}

impl Ipvs for Client {
    async fn dump(&self) -> Result<Table, Error> {
        Client::dump(self).await
    }
    async fn apply(&self, plan: &Plan) -> Result<ApplyReport, Error> {
        Client::apply(self, plan).await
    }
}

#[derive(Debug, Default)]
struct FakeState {
    table: Table,
    writes: usize,
    missing_schedulers: BTreeSet<String>,
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
}
