//! Health as the checkers reported it: the table the director keeps per real server, the
//! transitions that change it (logs, notify scripts), and the check-metrics hook.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::desired::{Health, HealthSnapshot, RsId};
use super::spec::DirectorSpec;
use crate::notify::Notifier;

/// A real server's health as last reported, with what status needs.
#[derive(Debug, Clone)]
pub struct HealthEntry {
    pub up: bool,
    pub weight: Option<i64>,
    pub reason: String,
    pub at: SystemTime,
    pub transitions: u64,
    /// When it last came back up (a down→up transition seen while running), for slow start.
    pub up_since: Option<SystemTime>,
}

/// Latest health per real server (absent: not reported yet).
pub type HealthTable = HashMap<RsId, HealthEntry>;

/// What a transition changed, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flip {
    pub id: RsId,
    pub up: bool,
    pub reason: String,
}

/// Books one checker transition; logs and fires notify scripts on an up/down change, which it
/// returns.
pub fn on_transition(
    spec: &DirectorSpec,
    health: &mut HealthTable,
    notifier: &Notifier,
    t: checkers::Transition<RsId>,
) -> Option<Flip> {
    // None: a transition racing a reload that removed the server.
    let (vs, rs) = spec.real_server(&t.server)?;
    let prev = health.get(&t.server);
    let was_up = match prev {
        Some(h) => h.up,
        None => vs
            .core
            .real_servers
            .iter()
            .find(|r| r.addr == t.server.addr)
            .is_none_or(|r| !r.alpha),
    };
    let transitions = prev.map_or(0, |h| h.transitions);
    let changed = was_up != t.up;
    // Only a server seen down and now back ramps up; a first report at start-up does not.
    let up_since = match (t.up, changed, prev) {
        (true, true, Some(_)) => Some(t.at),
        (true, _, Some(h)) => h.up_since,
        _ => None,
    };
    health.insert(
        t.server.clone(),
        HealthEntry {
            up: t.up,
            weight: t.weight,
            reason: t.reason.clone(),
            at: t.at,
            transitions: transitions + u64::from(changed),
            up_since,
        },
    );
    if !changed {
        if t.weight.is_some() {
            tracing::info!(
                "{}: real server {} weight now {:?}",
                vs.core.id,
                t.server.addr,
                t.weight
            );
        }
        return None;
    }
    crate::fifo::lvs_rs(&vs.services, &rs.dest, t.up);
    if t.up {
        tracing::info!(
            "{}: real server {} UP: {}",
            vs.core.id,
            t.server.addr,
            t.reason
        );
        if let Some(s) = &rs.notify_up {
            notifier.fire(s, "notify_up");
        }
    } else {
        tracing::warn!(
            "{}: real server {} DOWN: {}",
            vs.core.id,
            t.server.addr,
            t.reason
        );
        if let Some(s) = &rs.notify_down {
            notifier.fire(s, "notify_down");
        }
    }
    Some(Flip {
        id: t.server,
        up: t.up,
        reason: t.reason,
    })
}

/// `rs_init_notifies`: at start-up every real server's initial state (up, or down with
/// `alpha`) is notified — its notify_up / notify_down script and the notify FIFOs — as
/// keepalived does; later changes are notified as usual.
pub fn announce_initial(spec: &DirectorSpec, notifier: &Notifier) {
    if !spec.globals.rs_init_notifies {
        return;
    }
    for vs in &spec.virtual_servers {
        for (core, rs) in vs.core.real_servers.iter().zip(&vs.real_servers) {
            let up = !core.alpha;
            crate::fifo::lvs_rs(&vs.services, &rs.dest, up);
            let (script, what) = if up {
                (&rs.notify_up, "notify_up (rs_init_notifies)")
            } else {
                (&rs.notify_down, "notify_down (rs_init_notifies)")
            };
            if let Some(s) = script {
                notifier.fire(s, what);
            }
        }
    }
}

/// The pure core's view of the table.
pub fn snapshot(health: &HealthTable) -> HealthSnapshot {
    health
        .iter()
        .map(|(id, h)| {
            (
                id.clone(),
                Health {
                    up: h.up,
                    weight: h.weight,
                },
            )
        })
        .collect()
}

/// Which real servers use each check (a check shared by several runs once), for metrics.
pub type CheckUsers = HashMap<checkers::Spec, Vec<RsId>>;

pub fn set_users(users: &RwLock<CheckUsers>, spec: &DirectorSpec) {
    let mut map = CheckUsers::new();
    for sc in spec.server_checks() {
        for c in sc.checks {
            map.entry(c).or_default().push(sc.id.clone());
        }
    }
    if let Ok(mut u) = users.write() {
        *u = map;
    }
}

/// Records each finished check run for every real server using it.
pub fn metrics_hook(
    metrics: crate::metrics::Metrics,
    users: Arc<RwLock<CheckUsers>>,
) -> checkers::ResultHook {
    Arc::new(move |r: &checkers::CheckReport| {
        let result = match &r.outcome {
            checkers::Outcome::Pass { .. } => crate::metrics::CheckResult::Success,
            checkers::Outcome::Fail(f) => crate::metrics::CheckResult::Failure { reason: f.kind() },
        };
        let Ok(users) = users.read() else {
            return;
        };
        let not_after = r
            .observed
            .cert_not_after
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        for id in users.get(&*r.spec).into_iter().flatten() {
            let rs = id.addr.to_string();
            metrics.observe_check(&id.vs, &rs, r.spec.kind.name(), r.duration, result);
            if let Some(t) = not_after {
                metrics.observe_cert_expiry(&id.vs, &rs, r.spec.kind.name(), t);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A verified certificate's expiry seen by a check becomes a gauge per real server using it.
    #[test]
    fn certificate_expiry_becomes_a_metric() {
        let metrics = crate::metrics::Metrics::new();
        let spec = Arc::new(checkers::Spec::new(
            "192.168.0.2:443".parse().unwrap(),
            checkers::CheckKind::Ssl(checkers::HttpSpec::default()),
        ));
        let id = RsId {
            vs: "TCP 10.0.0.1:443".into(),
            addr: "192.168.0.2:443".parse().unwrap(),
        };
        let users: Arc<RwLock<CheckUsers>> =
            Arc::new(RwLock::new([((*spec).clone(), vec![id])].into()));
        let hook = metrics_hook(metrics.clone(), users);
        hook(&checkers::CheckReport {
            spec,
            outcome: checkers::Outcome::PASS,
            duration: Duration::from_millis(3),
            up: true,
            observed: checkers::Observed {
                cert_not_after: Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
            },
        });
        let text = crate::metrics::render(
            &metrics,
            Arc::new(crate::status::Status::default()),
            crate::metrics::IpvsScrape::Disabled,
        );
        assert!(
            text.contains(
                "lvsd_check_certificate_expiry_timestamp_seconds{virtual_server=\"TCP 10.0.0.1:443\",real_server=\"192.168.0.2:443\",checker=\"SSL_GET\"} 1900000000"
            ),
            "{text}"
        );
    }
}
