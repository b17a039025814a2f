//! What the director publishes on the [`StatusHub`](crate::status::StatusHub): each virtual
//! server and real server with its health and the weights the kernel should hold.

use std::time::{SystemTime, UNIX_EPOCH};

use super::desired::{self, Member, RsId};
use super::health::HealthTable;
use super::operator::OperatorState;
use super::spec::{DirectorSpec, VirtualServer};
use super::writer::Conns;
use crate::status::{RealServerRuntime, RealServerStatus, VirtualServerStatus};

pub fn unix_ms(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// The status of every virtual server for one computation of the desired state.
pub fn virtual_servers(
    spec: &DirectorSpec,
    health: &HealthTable,
    d: &desired::Desired,
    op: &OperatorState,
    conns: Option<&Conns>,
) -> Vec<VirtualServerStatus> {
    spec.virtual_servers
        .iter()
        .zip(&d.vs)
        .map(|(vs, plan)| VirtualServerStatus {
            key: vs.core.id.clone(),
            scheduler: vs
                .services
                .first()
                .map(|s| s.scheduler.name().to_string())
                .unwrap_or_default(),
            quorum: vs.core.quorum,
            live_weight: plan.live_weight,
            quorum_up: plan.quorum_up,
            sorry_server_active: plan.sorry_active,
            operator: op.get(&vs.core.id, None).map(|e| e.mode.name().to_string()),
            checks_suspended: None,
            real_servers: vs
                .core
                .real_servers
                .iter()
                .zip(&plan.real_servers)
                .enumerate()
                .map(|(i, (rs, v))| {
                    let id = RsId {
                        vs: vs.core.id.clone(),
                        addr: rs.addr,
                    };
                    let h = health.get(&id);
                    // Its own hold, else its virtual server's.
                    let hold = op
                        .get(&vs.core.id, Some(rs.addr))
                        .filter(|e| e.mode != super::operator::Mode::Enabled)
                        .or_else(|| op.get(&vs.core.id, None))
                        .filter(|e| e.mode != super::operator::Mode::Enabled);
                    let (active, inactive) = match conns {
                        Some(c) => rs_conns(vs, i, c),
                        None => (None, None),
                    };
                    RealServerStatus {
                        address: rs.addr.ip(),
                        port: rs.addr.port(),
                        up: v.up,
                        weight: i64::from(v.weight),
                        live_weight: plan.weight_of(Member::Real(i)),
                        last_failure: h.filter(|h| !h.up).map(|h| h.reason.clone()),
                        last_check_unix_ms: h.and_then(|h| unix_ms(h.at)),
                        transitions: h.map_or(0, |h| h.transitions),
                        runtime: RealServerRuntime {
                            operator: hold.map(|e| e.mode.name().to_string()),
                            operator_since_unix_ms: hold.map(|e| e.since_unix_ms),
                            ramping: v.ramping,
                            active_conns: active,
                            inactive_conns: inactive,
                        },
                    }
                })
                .collect(),
        })
        .collect()
}

/// A real server's connection counters summed over its virtual server's services.
fn rs_conns(vs: &VirtualServer, i: usize, conns: &Conns) -> (Option<u64>, Option<u64>) {
    let Some(rs) = vs.real_servers.get(i) else {
        return (None, None);
    };
    let mut found = false;
    let (mut active, mut inactive) = (0u64, 0u64);
    for s in &vs.services {
        if let Some((_, c)) = conns.get(&(s.key, rs.dest.key())) {
            found = true;
            active += u64::from(c.active);
            inactive += u64::from(c.inactive);
        }
    }
    if found {
        (Some(active), Some(inactive))
    } else {
        (Some(0), Some(0))
    }
}

/// Refreshes only the counters of a published status (a new kernel read, nothing else changed).
pub fn set_conns(status: &mut [VirtualServerStatus], spec: &DirectorSpec, conns: &Conns) {
    for (st, vs) in status.iter_mut().zip(&spec.virtual_servers) {
        if st.key != vs.core.id {
            continue;
        }
        for (i, rs) in st.real_servers.iter_mut().enumerate() {
            let (a, n) = rs_conns(vs, i, conns);
            rs.runtime.active_conns = a;
            rs.runtime.inactive_conns = n;
        }
    }
}
