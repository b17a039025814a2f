//! The reconciler: a pure diff from the kernel's table to the desired one.
//!
//! [`plan`] compares a dump with the desired [`Table`] and returns a [`Plan`]: the minimal ordered
//! list of [`Op`]s that converges the kernel. Contracts:
//!
//! - **Ownership.** Only services that lvsd owns are touched ([`Ownership`]): those in the desired
//!   table, plus the keys it names (services dropped from the config on reload), or every service
//!   with [`Ownership::All`]. A service someone else added stays. Inside an owned service, every
//!   destination is lvsd's.
//! - **Edit in place.** A changed scheduler, flags, timeout, netmask or persistence engine is an
//!   `EditService`; a changed weight, forwarding method, threshold or tunnel setting is an
//!   `EditDest`. The kernel allows all of these, so established connections survive. Only a
//!   change of key (address, port, protocol, mark) is a delete plus an add.
//! - **Idempotence.** When the kernel already matches, the plan is empty: zero writes.
//! - **Order.** Deletes of services first (frees addresses), then per kept service: edit, dest
//!   deletes, dest edits, dest adds; then new services, each followed by its destinations.
//!
//! - **Scope.** [`plan_scoped`] diffs only the services of a given set of keys (those whose
//!   desired state changed): its plan is the full plan's ops on those keys. The client reads only
//!   those services from the kernel for it, so a one-service change costs one service's read.
//!
//! `Plan`'s `Display` prints one ipvsadm command line per op (`-A -t 192.0.2.1:80 -s rr`), which is
//! valid `ipvsadm -R` input: this is what `lvsd -t --plan` shows.
//! [`Table::apply`] runs a plan in memory: the fake the director tests against.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::model::{
    Dest, DestKey, Forward, Scheduler, Service, ServiceFlags, ServiceKey, Table, TunnelType,
};

/// Which kernel services lvsd may change or delete.
///
/// The default is [`Ownership::desired_only`]: like keepalived without `lvs_flush`, services
/// that someone else added are never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// The services in the desired table, plus these keys (services lvsd declared earlier and
    /// that are no longer desired, e.g. dropped from the config on reload: they get deleted).
    Declared(BTreeSet<ServiceKey>),
    /// Every service in the kernel: anything not desired is deleted (`lvs_flush` mode).
    All,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership::desired_only()
    }
}

impl Ownership {
    /// Touch only the services of the desired table.
    pub fn desired_only() -> Self {
        Ownership::Declared(BTreeSet::new())
    }

    fn owns_undesired(&self, key: &ServiceKey) -> bool {
        match self {
            Ownership::All => true,
            Ownership::Declared(keys) => keys.contains(key),
        }
    }
}

/// One kernel write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `ipvsadm -A`.
    AddService(Service),
    /// `ipvsadm -E`.
    EditService(Service),
    /// `ipvsadm -D`.
    DelService(ServiceKey),
    /// `ipvsadm -a`.
    AddDest(ServiceKey, Dest),
    /// `ipvsadm -e`.
    EditDest(ServiceKey, Dest),
    /// `ipvsadm -d`.
    DelDest(ServiceKey, DestKey),
    /// `ipvsadm -C`: deletes every service.
    Flush,
}

impl Op {
    /// The service this op concerns (`None` for `Flush`).
    pub fn service_key(&self) -> Option<&ServiceKey> {
        match self {
            Op::AddService(s) | Op::EditService(s) => Some(&s.key),
            Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => {
                Some(k)
            }
            Op::Flush => None,
        }
    }
}

/// An ipvsadm command line (valid `ipvsadm -R` input).
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "-A {}", ServiceArgs(s)),
            Op::EditService(s) => write!(f, "-E {}", ServiceArgs(s)),
            Op::DelService(k) => write!(f, "-D {k}"),
            Op::AddDest(k, d) => write!(f, "-a {k} {}", DestArgs(d)),
            Op::EditDest(k, d) => write!(f, "-e {k} {}", DestArgs(d)),
            Op::DelDest(k, d) => write!(f, "-d {k} -r {d}"),
            Op::Flush => f.write_str("-C"),
        }
    }
}

struct ServiceArgs<'a>(&'a Service);

impl fmt::Display for ServiceArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{} -s {}", s.key, s.scheduler)?;
        let flags = s.flags.configured();
        if flags.has(ServiceFlags::PERSISTENT) {
            write!(f, " -p {}", s.timeout)?;
            if s.netmask != s.key.af().max_prefix() {
                match s.key.af() {
                    crate::model::Af::Inet => {
                        let mask = u32::MAX.checked_shl(32 - u32::from(s.netmask)).unwrap_or(0);
                        write!(f, " -M {}", std::net::Ipv4Addr::from(mask))?;
                    }
                    crate::model::Af::Inet6 => write!(f, " -M {}", s.netmask)?,
                }
            }
        }
        if let Some(pe) = &s.pe_name {
            write!(f, " --pe {pe}")?;
        }
        if flags.has(ServiceFlags::ONEPACKET) {
            f.write_str(" -o")?;
        }
        let (f1, f2) = match s.scheduler {
            Scheduler::Sh => ("sh-fallback", "sh-port"),
            Scheduler::Mh => ("mh-fallback", "mh-port"),
            _ => ("flag-1", "flag-2"),
        };
        let sched = [
            (ServiceFlags::SCHED1, f1),
            (ServiceFlags::SCHED2, f2),
            (ServiceFlags::SCHED3, "flag-3"),
        ];
        let names: Vec<&str> = sched
            .iter()
            .filter(|(b, _)| flags.has(*b))
            .map(|(_, n)| *n)
            .collect();
        if !names.is_empty() {
            write!(f, " -b {}", names.join(","))?;
        }
        Ok(())
    }
}

struct DestArgs<'a>(&'a Dest);

impl fmt::Display for DestArgs<'_> {
    // Same order as `ipvsadm -Sn`: method, weight, thresholds, tunnel options.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "-r {}", d.key())?;
        match d.forward {
            Forward::Masq => f.write_str(" -m")?,
            Forward::DirectRoute => f.write_str(" -g")?,
            Forward::Tunnel => f.write_str(" -i")?,
            // ipvsadm has no flag for these; the kernel picks Local for local addresses.
            Forward::Local | Forward::Bypass | Forward::Other(_) => {}
        }
        write!(f, " -w {}", d.weight)?;
        if d.u_threshold != 0 {
            write!(f, " -x {}", d.u_threshold)?;
        }
        if d.l_threshold != 0 {
            write!(f, " -y {}", d.l_threshold)?;
        }
        if d.forward == Forward::Tunnel {
            match d.tun_type {
                TunnelType::Ipip => {}
                TunnelType::Gue => write!(f, " --tun-type gue --tun-port {}", d.tun_port)?,
                TunnelType::Gre => f.write_str(" --tun-type gre")?,
                TunnelType::Other(n) => write!(f, " --tun-type {n}")?,
            }
            // IP_VS_TUNNEL_ENCAP_FLAG_*: 0 = nocsum (default), 1 = csum, 2 = remcsum.
            if d.tun_flags & 2 != 0 {
                f.write_str(" --tun-remcsum")?;
            } else if d.tun_flags & 1 != 0 {
                f.write_str(" --tun-csum")?;
            }
        }
        Ok(())
    }
}

/// An ordered list of kernel writes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// The ops, in the order they must run.
    pub ops: Vec<Op>,
}

impl Plan {
    /// Whether the kernel already matches (zero writes).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// One ipvsadm command line per op, each ending in a newline.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in &self.ops {
            writeln!(f, "{op}")?;
        }
        Ok(())
    }
}

/// What happened to one op of an applied plan.
#[derive(Debug)]
pub struct OpOutcome {
    /// The op.
    pub op: Op,
    /// `Ok` if the kernel accepted it.
    pub result: Result<(), crate::Error>,
}

/// What [`Client::apply`](crate::Client::apply) did: one outcome per op, in plan order.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Per-op outcomes.
    pub outcomes: Vec<OpOutcome>,
}

impl ApplyReport {
    /// Number of ops sent to the kernel (netlink writes).
    pub fn writes(&self) -> usize {
        self.outcomes.len()
    }
    /// Number of ops the kernel accepted.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }
    /// The ops that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&Op, &crate::Error)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| (&o.op, e)))
    }
    /// Whether every op succeeded.
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// A summary line, then one line per failure.
impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.writes() - self.succeeded();
        writeln!(f, "{} ops applied, {failed} failed", self.succeeded())?;
        for (_, e) in self.failures() {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Computes the ops that turn `current` into `desired` within `ownership`. Pure.
pub fn plan(current: &Table, desired: &Table, ownership: &Ownership) -> Plan {
    let mut ops = Vec::new();
    for key in current.services.keys() {
        if !desired.services.contains_key(key) && ownership.owns_undesired(key) {
            ops.push(Op::DelService(*key));
        }
    }
    let mut adds = Vec::new();
    for (key, want) in &desired.services {
        let Some(have) = current.services.get(key) else {
            adds.push(Op::AddService(want.service.clone()));
            adds.extend(want.dests.values().map(|d| Op::AddDest(*key, d.clone())));
            continue;
        };
        if !have.service.same_config(&want.service) {
            ops.push(Op::EditService(want.service.clone()));
        }
        for dkey in have.dests.keys() {
            if !want.dests.contains_key(dkey) {
                ops.push(Op::DelDest(*key, *dkey));
            }
        }
        let mut dest_adds = Vec::new();
        for (dkey, d) in &want.dests {
            match have.dests.get(dkey) {
                Some(h) if h.same_config(d) => {}
                Some(_) => ops.push(Op::EditDest(*key, d.clone())),
                None => dest_adds.push(Op::AddDest(*key, d.clone())),
            }
        }
        ops.extend(dest_adds);
    }
    ops.extend(adds);
    Plan { ops }
}

/// [`plan`] limited to the services of `scope`: the ops of the full plan that concern a key of
/// `scope`, in the same order. Services outside the scope are neither read nor touched, so
/// `current` need only hold the scope's services as the kernel has them now
/// ([`Ipvs::read_services`](crate::Ipvs::read_services)); a key of the scope that the kernel lacks
/// is simply absent from it (and gets added if desired). A key of the scope that is not desired
/// is deleted only if `ownership` owns it, exactly as in [`plan`]. Pure.
pub fn plan_scoped(
    current: &Table,
    desired: &Table,
    scope: &BTreeSet<ServiceKey>,
    ownership: &Ownership,
) -> Plan {
    plan(&current.subset(scope), &desired.subset(scope), ownership)
}

/// Why an in-memory op failed (mirrors the kernel's errno for the same op).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FakeError {
    /// The object already exists (EEXIST).
    Exists,
    /// The service does not exist (ESRCH).
    NoService,
    /// The destination does not exist (ENOENT).
    NoDest,
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FakeError::Exists => "already exists",
            FakeError::NoService => "no such service",
            FakeError::NoDest => "no such destination",
        })
    }
}

impl Table {
    /// Applies one op in memory, with the kernel's semantics (add of an existing object and
    /// edit/delete of a missing one fail; nothing changes then).
    pub fn apply_op(&mut self, op: &Op) -> Result<(), FakeError> {
        match op {
            Op::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(FakeError::Exists);
                }
                self.add_service(s.clone());
            }
            Op::EditService(s) => {
                let e = self.services.get_mut(&s.key).ok_or(FakeError::NoService)?;
                e.service = s.clone();
            }
            Op::DelService(k) => {
                self.services.remove(k).ok_or(FakeError::NoService)?;
            }
            Op::AddDest(k, d) => {
                let e = self.services.get_mut(k).ok_or(FakeError::NoService)?;
                if e.dests.contains_key(&d.key()) {
                    return Err(FakeError::Exists);
                }
                e.dests.insert(d.key(), d.clone());
            }
            Op::EditDest(k, d) => {
                let e = self.services.get_mut(k).ok_or(FakeError::NoService)?;
                let slot = e.dests.get_mut(&d.key()).ok_or(FakeError::NoDest)?;
                // Like the kernel, an edit keeps the destination's counters.
                let (conns, stats) = (slot.conns, slot.stats);
                *slot = d.clone();
                slot.conns = conns.or(d.conns);
                slot.stats = stats.or(d.stats);
            }
            Op::DelDest(k, dk) => {
                let e = self.services.get_mut(k).ok_or(FakeError::NoService)?;
                e.dests.remove(dk).ok_or(FakeError::NoDest)?;
            }
            Op::Flush => self.services.clear(),
        }
        Ok(())
    }

    /// Applies a plan in memory without stopping at a failure; returns the failed ops.
    /// This is the fake kernel for tests that have no IPVS.
    pub fn apply(&mut self, plan: &Plan) -> Vec<(Op, FakeError)> {
        plan.ops
            .iter()
            .filter_map(|op| self.apply_op(op).err().map(|e| (op.clone(), e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Af;
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn table(services: &[(u16, &[(u8, u32)])]) -> Table {
        let mut t = Table::new();
        for (port, dests) in services {
            let key = ServiceKey::tcp(ip(1), *port);
            t.add_service(Service::new(key, Scheduler::Wlc));
            for (last, w) in *dests {
                t.add_dest(&key, Dest::new(ip(*last), 80, Forward::Masq).weight(*w));
            }
        }
        t
    }

    #[test]
    fn from_empty_adds_services_then_their_dests() {
        let want = table(&[(80, &[(10, 1), (11, 2)]), (443, &[(12, 1)])]);
        let p = plan(&Table::new(), &want, &Ownership::All);
        assert_eq!(
            p.to_string(),
            "-A -t 192.0.2.1:80 -s wlc\n\
             -a -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 1\n\
             -a -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 2\n\
             -A -t 192.0.2.1:443 -s wlc\n\
             -a -t 192.0.2.1:443 -r 192.0.2.12:80 -m -w 1\n"
        );
        let mut fake = Table::new();
        assert!(fake.apply(&p).is_empty());
        assert_eq!(fake, want);
        assert!(
            plan(&fake, &want, &Ownership::All).is_empty(),
            "second pass writes nothing"
        );
    }

    #[test]
    fn weight_change_is_one_edit() {
        let have = table(&[(80, &[(10, 1), (11, 2)])]);
        let want = table(&[(80, &[(10, 1), (11, 5)])]);
        let p = plan(&have, &want, &Ownership::All);
        assert_eq!(
            p.to_string(),
            "-e -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 5\n"
        );
    }

    #[test]
    fn scheduler_and_persistence_change_edits_the_service_in_place() {
        let have = table(&[(80, &[(10, 1)])]);
        let mut want = have.clone();
        let key = ServiceKey::tcp(ip(1), 80);
        let e = want.services.get_mut(&key).unwrap();
        e.service = Service::new(key, Scheduler::Sh).persistent(300);
        e.service.flags.0 |= ServiceFlags::SH_PORT;
        e.service.netmask = 24;
        let p = plan(&have, &want, &Ownership::All);
        assert_eq!(
            p.to_string(),
            "-E -t 192.0.2.1:80 -s sh -p 300 -M 255.255.255.0 -b sh-port\n"
        );
    }

    #[test]
    fn counters_and_hashed_bit_from_a_dump_cause_no_writes() {
        let want = table(&[(80, &[(10, 1)])]);
        let mut have = want.clone();
        for e in have.services.values_mut() {
            e.service.flags.0 |= ServiceFlags::HASHED;
            e.service.stats = Some(Default::default());
            for d in e.dests.values_mut() {
                d.conns = Some(Default::default());
            }
        }
        assert!(plan(&have, &want, &Ownership::All).is_empty());
    }

    #[test]
    fn ownership_leaves_foreign_services_alone() {
        let have = table(&[(80, &[(10, 1)]), (8080, &[(10, 1)]), (9090, &[])]);
        let want = table(&[(80, &[(10, 1)])]);
        assert!(plan(&have, &want, &Ownership::desired_only()).is_empty());
        let dropped = Ownership::Declared([ServiceKey::tcp(ip(1), 8080)].into());
        assert_eq!(
            plan(&have, &want, &dropped).to_string(),
            "-D -t 192.0.2.1:8080\n"
        );
        assert_eq!(
            plan(&have, &want, &Ownership::All).to_string(),
            "-D -t 192.0.2.1:8080\n-D -t 192.0.2.1:9090\n"
        );
    }

    #[test]
    fn dests_are_deleted_before_added_within_a_service() {
        let have = table(&[(80, &[(10, 1)])]);
        let want = table(&[(80, &[(11, 1)])]);
        assert_eq!(
            plan(&have, &want, &Ownership::All).to_string(),
            "-d -t 192.0.2.1:80 -r 192.0.2.10:80\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 1\n"
        );
    }

    #[test]
    fn hand_deleted_service_comes_back() {
        let want = table(&[(80, &[(10, 1)]), (443, &[(10, 1)])]);
        let mut kernel = Table::new();
        kernel.apply(&plan(&kernel, &want, &Ownership::All));
        kernel
            .apply_op(&Op::DelService(ServiceKey::tcp(ip(1), 443)))
            .unwrap();
        let p = plan(&kernel, &want, &Ownership::desired_only());
        assert_eq!(p.len(), 2);
        kernel.apply(&p);
        assert_eq!(kernel, want);
    }

    #[test]
    fn fake_reports_kernel_like_errors() {
        let mut t = table(&[(80, &[(10, 1)])]);
        let key = ServiceKey::tcp(ip(1), 80);
        let svc = Service::new(key, Scheduler::Rr);
        assert_eq!(t.apply_op(&Op::AddService(svc)), Err(FakeError::Exists));
        let gone = ServiceKey::fwmark(Af::Inet, 1);
        assert_eq!(t.apply_op(&Op::DelService(gone)), Err(FakeError::NoService));
        let missing = DestKey {
            addr: ip(99),
            port: 80,
        };
        assert_eq!(
            t.apply_op(&Op::DelDest(key, missing)),
            Err(FakeError::NoDest)
        );
    }

    #[test]
    fn tunnel_and_fwmark_lines() {
        let key = ServiceKey::fwmark(Af::Inet6, 7);
        let mut d = Dest::new("2001:db8::2".parse().unwrap(), 0, Forward::Tunnel);
        d.tun_type = TunnelType::Gue;
        d.tun_port = 6080;
        d.u_threshold = 100;
        d.l_threshold = 10;
        assert_eq!(
            Op::AddDest(key, d).to_string(),
            "-a -f 7 -6 -r [2001:db8::2]:0 -i -w 1 -x 100 -y 10 --tun-type gue --tun-port 6080"
        );
    }

    #[test]
    fn scoped_plan_is_the_full_plan_on_the_scope() {
        let have = table(&[
            (80, &[(10, 1)]),
            (81, &[(10, 1)]),
            (82, &[(10, 1)]),
            (83, &[]),
        ]);
        let want = table(&[(80, &[(10, 2)]), (81, &[(10, 3)]), (84, &[(10, 1)])]);
        let own = Ownership::Declared([ServiceKey::tcp(ip(1), 82)].into());
        let full = plan(&have, &want, &own);
        assert_eq!(full.len(), 5, "{full}");
        let scope: BTreeSet<_> = [80, 82, 83, 84]
            .into_iter()
            .map(|p| ServiceKey::tcp(ip(1), p))
            .collect();
        // The kernel read holds only the scope's services.
        let scoped = plan_scoped(&have.subset(&scope), &want, &scope, &own);
        assert_eq!(
            scoped.to_string(),
            "-D -t 192.0.2.1:82\n\
             -e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 2\n\
             -A -t 192.0.2.1:84 -s wlc\n\
             -a -t 192.0.2.1:84 -r 192.0.2.10:80 -m -w 1\n"
        );
        // 83 is in scope but neither desired nor owned: left alone. 81 is out of scope.
        assert!(plan_scoped(&have, &want, &BTreeSet::new(), &own).is_empty());
    }
}
