//! `BFD_CHECK { name NAME }`: a real server is down while any BFD session it names is not Up
//! (keepalived's BFD checker: no retries, no timers; the session's own detection time is the
//! check). The BFD service publishes session states; this folds them into the checkers'
//! health table, purely, so status, quorum and the kernel table all see one verdict.

use std::time::SystemTime;

use super::health::{HealthEntry, HealthTable};
use super::spec::DirectorSpec;
use crate::bfd::StatusMap;

/// The checkers' table with BFD_CHECK verdicts applied: a down session takes the server down
/// (reason named); a server whose only checks are BFD_CHECKs is up while they all are.
pub fn combine(health: &HealthTable, spec: &DirectorSpec, bfd: &StatusMap) -> HealthTable {
    let mut out = health.clone();
    for vs in &spec.virtual_servers {
        for (rs, core) in vs.real_servers.iter().zip(&vs.core.real_servers) {
            if rs.bfd.is_empty() {
                continue;
            }
            let id = super::desired::RsId {
                vs: vs.core.id.clone(),
                addr: core.addr,
            };
            let down = rs.bfd.iter().find(|n| !crate::bfd::is_up(bfd, n, false));
            let prev = out.get(&id).cloned();
            let entry = match (down, prev) {
                (Some(n), p) => HealthEntry {
                    up: false,
                    weight: None,
                    reason: format!("BFD_CHECK {n}: session {}", state_of(bfd, n)),
                    ..p.unwrap_or_else(fresh)
                },
                // Other checks decide.
                (None, Some(p)) if !rs.checks.is_empty() => p,
                (None, p) => HealthEntry {
                    up: true,
                    reason: format!("BFD_CHECK {}: session Up", rs.bfd.join(", ")),
                    ..p.unwrap_or_else(fresh)
                },
            };
            out.insert(id, entry);
        }
    }
    out
}

fn fresh() -> HealthEntry {
    HealthEntry {
        up: true,
        weight: None,
        reason: String::new(),
        at: SystemTime::now(),
        transitions: 0,
        up_since: None,
    }
}

fn state_of(bfd: &StatusMap, name: &str) -> &'static str {
    match bfd.get(name) {
        Some(s) if !s.checker => "not sent to the checkers (bfd_instance `vrrp`)",
        Some(s) => s.state.name(),
        None => "not running",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::packet::State;

    fn status(state: State) -> StatusMap {
        crate::bfd::service::one_session("b1", "10.0.0.9", state)
    }

    fn spec() -> DirectorSpec {
        let conf = "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 10.0.1.1 80 {\n    BFD_CHECK {\n      name b1\n    }\n  }\n}\nbfd_instance b1 {\n  neighbor_ip 10.0.0.9\n}\n";
        let opts = crate::config::LoadOptions::default();
        let c = crate::config::load_str(conf, std::path::Path::new("t.conf"), &opts)
            .unwrap_or_else(|e| panic!("{e:?}"));
        super::super::from_config::director_spec(&c.config).0
    }

    #[test]
    fn session_state_is_the_server_state() {
        let spec = spec();
        assert_eq!(spec.virtual_servers[0].real_servers[0].bfd, vec!["b1"]);
        assert!(spec.virtual_servers[0].core.real_servers[0].checked);
        let up = combine(&HealthTable::new(), &spec, &status(State::Up));
        assert!(up.values().all(|h| h.up) && up.len() == 1);
        let down = combine(&HealthTable::new(), &spec, &status(State::Down));
        let h = down.values().next().unwrap();
        assert!(!h.up);
        assert_eq!(h.reason, "BFD_CHECK b1: session Down");
        let none = combine(&HealthTable::new(), &spec, &StatusMap::new());
        assert!(!none.values().next().unwrap().up, "no session: down");
    }
}
