//! IPVS: the typed model of the kernel's virtual-server table, a generic-netlink client for it,
//! and the reconciler that turns a desired table into the minimal list of kernel operations.
//!
//! - [`model`]: plain `Ord` data. A [`Table`] maps [`ServiceKey`] (`Inet{addr, protocol, port}` or
//!   `Fwmark{af, mark}`) to a [`ServiceEntry`]: the [`Service`] and its [`Dest`]s by [`DestKey`].
//!   Counters ([`Stats`], [`DestConns`]) come from dumps and are ignored by the diff.
//! - [`reconcile`]: pure. [`reconcile::plan`]`(&current, &desired, &Ownership) -> Plan`, an ordered
//!   list of [`Op`]s (edit in place over delete+add; zero ops when converged). `Plan`'s `Display`
//!   prints ipvsadm command lines (valid `ipvsadm -R` input). [`Table::apply`] runs a plan in
//!   memory: the fake to test against without a kernel.
//! - [`client`]: [`Client`] speaks the "IPVS" generic netlink family over one socket:
//!   `connect`, [`Client::dump`] (services + destinations + counters), one async fn per ipvsadm
//!   verb (`add/edit/del_service`, `add/edit/del_dest`, `flush`, `zero`, `info`,
//!   `timeouts`/`set_timeouts`, `add/del_daemon`, `daemons`), [`Client::apply`] to run a plan
//!   (batched: many requests per `sendmsg`, only failures answered) returning an
//!   [`ApplyReport`] with one outcome per op.
//! - [`fake`]: the [`Ipvs`] trait (dump, apply, provided `reconcile` = dump + plan + apply,
//!   `read_services`, `reconcile_scoped`), implemented by [`Client`] and by [`FakeIpvs`], the
//!   in-memory kernel for director tests.
//! - [`codec`]: IPVS messages and attributes as bytes (linux/ip_vs.h), no sockets; golden
//!   vectors from ipvsadm/kernel captures beside it.
//! - [`Error`]: names the operation and the object (`add service -t 192.0.2.1:80: service
//!   already exists (...)`); [`Error::NoIpvs`] says to load `ip_vs`.
//!
//! ## Full and scoped reconcile
//!
//! Both are level-triggered: they diff against what the kernel holds *now*, never against a
//! memory of what was written.
//!
//! - [`Ipvs::reconcile`]`(&desired, &ownership)`: reads the whole table (one service dump + one
//!   destination dump per service), plans, applies. Repairs anything (`ipvsadm -C`, hand edits).
//!   Run it at start, on reload and periodically.
//! - [`Ipvs::reconcile_scoped`]`(&desired, &scope, &ownership) -> Result<(Plan, ApplyReport)>`:
//!   reads only the services of `scope: &BTreeSet<ServiceKey>` ([`Client::read_services`]: one
//!   batch of non-dump GET_SERVICE requests, then one destination dump per service found),
//!   plans with [`reconcile::plan_scoped`] (= the full plan's ops on the scope), applies. A
//!   service of the scope missing from the kernel is re-added; a scope key that is not desired
//!   is deleted if `ownership` owns it; services outside the scope are neither read nor
//!   touched. Cost: one service's read per key (a weight change in 1,000 × 10: ~2 ms in the
//!   TCG VM instead of ~300 ms).
//! - The scope is what changed between the director's previous and new *desired* tables:
//!   [`Table::changed_services`]`(&old, &new) -> BTreeSet<ServiceKey>` (pure; added, removed and
//!   edited services). Pass an ownership that still owns the removed ones (e.g.
//!   `Ownership::Declared(old keys)`) so they get deleted.
//!
//! ```
//! # async fn example(ipvs: &impl ipvs::Ipvs, old: &ipvs::Table, new: &ipvs::Table) -> Result<(), ipvs::Error> {
//! use ipvs::{Ownership, Table};
//! let owned = Ownership::Declared(old.services.keys().copied().collect());
//! let scope = Table::changed_services(old, new);
//! let (plan, report) = ipvs.reconcile_scoped(new, &scope, &owned).await?;
//! assert_eq!(plan.len(), report.writes());
//! # Ok(()) }
//! ```
//!
//! Real-kernel tests run in a QEMU VM: see `tests/vm/README.md` at the repository root.
//!
//! ```
//! use ipvs::{Dest, Forward, Ownership, Scheduler, Service, ServiceKey, Table, reconcile};
//! let vip = ServiceKey::tcp("192.0.2.1".parse().unwrap(), 80);
//! let mut desired = Table::new();
//! desired.add_service(Service::new(vip, Scheduler::Rr));
//! desired.add_dest(&vip, Dest::new("10.0.0.2".parse().unwrap(), 80, Forward::DirectRoute));
//! let plan = reconcile::plan(&Table::new(), &desired, &Ownership::desired_only());
//! assert_eq!(plan.to_string(), "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1\n");
//! let mut fake_kernel = Table::new();
//! assert!(fake_kernel.apply(&plan).is_empty());
//! assert!(reconcile::plan(&fake_kernel, &desired, &Ownership::desired_only()).is_empty());
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod error;
pub mod fake;
pub mod model;
pub mod reconcile;

pub use client::Client;
pub use error::{Error, Verb};
pub use fake::{FakeIpvs, Ipvs};
pub use model::{
    Af, DaemonConfig, DaemonState, Dest, DestConns, DestKey, Forward, Info, Protocol, Scheduler,
    Service, ServiceEntry, ServiceFlags, ServiceKey, Stats, Table, Timeouts, TunnelType,
};
pub use reconcile::{ApplyReport, FakeError, Op, OpOutcome, Ownership, Plan};
