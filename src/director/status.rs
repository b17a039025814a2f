//! What the director publishes on the [`StatusHub`](crate::status::StatusHub): each virtual
//! server and real server with its health and the weights the kernel should hold.

use std::time::{SystemTime, UNIX_EPOCH};

use super::desired::{self, Member, RsId};
use super::health::HealthTable;
use super::spec::DirectorSpec;
use crate::status::{RealServerStatus, VirtualServerStatus};

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
            real_servers: vs
                .core
                .real_servers
                .iter()
                .zip(&plan.real_servers)
                .enumerate()
                .map(|(i, (rs, v))| {
                    let h = health.get(&RsId {
                        vs: vs.core.id.clone(),
                        addr: rs.addr,
                    });
                    RealServerStatus {
                        address: rs.addr.ip(),
                        port: rs.addr.port(),
                        up: v.up,
                        weight: i64::from(v.weight),
                        live_weight: plan.weight_of(Member::Real(i)),
                        last_failure: h.filter(|h| !h.up).map(|h| h.reason.clone()),
                        last_check_unix_ms: h.and_then(|h| unix_ms(h.at)),
                        transitions: h.map_or(0, |h| h.transitions),
                    }
                })
                .collect(),
        })
        .collect()
}
