//! What the director runs: the configuration reduced to kernel objects, checks and scripts.
//! Built from `config::Config` by `from_config.rs`; tests build it directly.
//!
//! The kernel-facing fields live in `ipvs` types (a real server's [`ipvs::Dest`] holds its
//! forwarding method, thresholds and tunnel; only its weight is decided at run time), the
//! membership inputs in [`VsSpec`], so [`build_table`] is a plain zip of the two.

use std::collections::BTreeSet;

use ipvs::{Dest, Service, ServiceKey, Table};

use super::desired::{Desired, Member, RsId, VsSpec};
use crate::notify::Script;

/// One virtual server (an address, a fwmark or a group) as the director runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServer {
    /// Membership inputs; `core.id` is the display key and `core.real_servers[i]` matches
    /// `real_servers[i]`.
    pub core: VsSpec,
    /// Kernel services this virtual server expands to (one for an address or a fwmark, one
    /// per address, range member or fwmark of a `virtual_server_group`), all with the same
    /// destinations.
    pub services: Vec<Service>,
    pub real_servers: Vec<RealServer>,
    /// The sorry server's destination (weight set at run time).
    pub sorry: Option<Dest>,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    /// `omega`: run the down scripts at shutdown.
    pub omega: bool,
    /// `ha_suspend`: the service addresses; while none of them is on this host, the real
    /// servers' checks are paused (empty: never paused).
    pub ha_suspend: Vec<std::net::IpAddr>,
}

/// One real server.
#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    /// Kernel destination; `weight` is replaced by the desired weight.
    pub dest: Dest,
    /// Its checks; empty = always up.
    pub checks: Vec<checkers::Spec>,
    /// `BFD_CHECK` session names (see `super::bfd_check`).
    pub bfd: Vec<String>,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
}

/// Global IPVS settings (`global_defs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Globals {
    /// `lvs_flush`: the whole kernel table is lvsd's (anything else is removed).
    pub lvs_flush: bool,
    /// `lvs_timeouts` (0 = leave unchanged).
    pub timeouts: Option<ipvs::Timeouts>,
    /// `lvs_sync_daemon` (started as master and backup unless tied to a VRRP instance).
    pub sync_daemon: Option<ipvs::DaemonConfig>,
    /// `lvs_sync_daemon … inst NAME`: the VRRP instance whose state picks the daemon's role.
    pub sync_instance: Option<String>,
    /// `lvs_flush_on_stop`: at exit (unless `-I`) the whole kernel table goes, not only the
    /// services lvsd declared.
    pub flush_on_stop: bool,
    /// `nftables_ipvs`: the tables that mark group traffic for the groups' fwmark services.
    pub nft_ipvs: crate::nft::ipvs::IpvsMarks,
    /// `rs_init_notifies`: each real server's first check result is notified (script and
    /// FIFO) even when it confirms the state it started in.
    pub rs_init_notifies: bool,
}

/// Everything the director runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectorSpec {
    pub virtual_servers: Vec<VirtualServer>,
    pub globals: Globals,
}

impl DirectorSpec {
    /// The membership inputs of every virtual server, for [`super::desired::compute`].
    pub fn cores(&self) -> Vec<VsSpec> {
        self.virtual_servers
            .iter()
            .map(|v| v.core.clone())
            .collect()
    }

    /// Every kernel service the configuration declares.
    pub fn service_keys(&self) -> BTreeSet<ServiceKey> {
        self.virtual_servers
            .iter()
            .flat_map(|v| v.services.iter().map(|s| s.key))
            .collect()
    }

    /// Finds a real server by its id.
    pub fn real_server(&self, id: &RsId) -> Option<(&VirtualServer, &RealServer)> {
        let vs = self.virtual_servers.iter().find(|v| v.core.id == id.vs)?;
        let i = vs
            .core
            .real_servers
            .iter()
            .position(|r| r.addr == id.addr)?;
        Some((vs, vs.real_servers.get(i)?))
    }

    /// The checker scheduler's input: every real server that has checks.
    pub fn server_checks(&self) -> Vec<checkers::ServerChecks<RsId>> {
        let mut out = Vec::new();
        for vs in &self.virtual_servers {
            for (core, rs) in vs.core.real_servers.iter().zip(&vs.real_servers) {
                if rs.checks.is_empty() {
                    continue;
                }
                out.push(checkers::ServerChecks {
                    id: RsId {
                        vs: vs.core.id.clone(),
                        addr: core.addr,
                    },
                    checks: rs.checks.clone(),
                    initially_up: !core.alpha,
                });
            }
        }
        out
    }
}

/// The desired kernel table: each virtual server's services, holding the destinations the
/// pure core chose with the weights it chose.
pub fn build_table(spec: &DirectorSpec, desired: &Desired) -> Table {
    let mut table = Table::new();
    for (vs, plan) in spec.virtual_servers.iter().zip(&desired.vs) {
        let dests: Vec<Dest> = plan
            .dests
            .iter()
            .filter_map(|d| {
                let base = match d.member {
                    Member::Real(i) => &vs.real_servers.get(i)?.dest,
                    Member::Sorry => vs.sorry.as_ref()?,
                };
                Some(base.clone().weight(d.weight))
            })
            .collect();
        for svc in &vs.services {
            table.add_service(svc.clone());
            for d in &dests {
                table.add_dest(&svc.key, d.clone());
            }
        }
    }
    table
}
