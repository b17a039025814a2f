//! The pure heart of the director: (virtual servers, health snapshot, previous quorum states) →
//! which destinations each virtual server must hold in IPVS, with which weight, plus the
//! quorum transitions that happened. No I/O, no clock: the same inputs always give the same
//! table, so the task around it can recompute from scratch on every change (level-triggered).
//!
//! keepalived semantics (keepalived.conf(5), `virtual_server`):
//! - A real server without checkers is always up. One with checkers starts up, or down with
//!   `alpha`, until the checkers report (an absent health entry means "not reported yet").
//! - A down real server leaves the table, or stays with weight 0 under `inhibit_on_failure`.
//! - `misc_dynamic` / FILE_CHECK `dynamic`: the reported weight replaces the configured one.
//! - Quorum: the live weight is the sum of the weights of the up real servers. A virtual
//!   server whose quorum is up loses it when that sum is zero or below `quorum - hysteresis`;
//!   one whose quorum is down gains it when the sum reaches `quorum + hysteresis`. The state
//!   is an input and an output, which is what keeps this function pure and the hysteresis real.
//! - With a `sorry_server`, losing quorum takes every real server out (weight 0 for those with
//!   `inhibit_on_failure`) and puts the sorry server in; gaining it reverses that. With
//!   `sorry_server_inhibit` the sorry server stays in the table at weight 0 while quorum is up.
//!
//! lvsd extensions, inputs like health (see `operator.rs` for where they come from):
//! - Operator state per real server ([`Admin`]): `Drain` keeps it in the table at weight 0
//!   (established connections live on, no new ones), `Out` takes it out (disabled or drained),
//!   whatever its health. Neither counts toward quorum.
//! - Slow start (`slow_start SECONDS`): a server that came back (health or enable) at `since`
//!   gets `ceil(weight × elapsed / slow_start)` (at least 1) until the time has passed; quorum
//!   counts its full weight, since it is healthy. `now` is an input, so this stays pure.
//!
//! Which services a virtual server expands to (an address, a fwmark, a group's ranges) and the
//! kernel-facing fields of each destination are the adapter's business (`spec.rs`): this
//! module only decides membership and weights.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Identity of a real server across reloads: its virtual server's key and its address.
/// The checker scheduler is keyed by this, so an unchanged real server keeps its state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsId {
    /// The virtual server's display key ("TCP 10.0.0.1:80", "FWM 1", "group web").
    pub vs: String,
    /// The real server's address and port.
    pub addr: SocketAddr,
}

/// What the pure core needs to know of one virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsSpec {
    /// Display key, unique per configuration.
    pub id: String,
    /// Minimum live weight for the service to be considered up (keepalived default 1).
    pub quorum: u64,
    /// Flap dampener around `quorum` (default 0).
    pub hysteresis: u64,
    /// The sorry server, if any.
    pub sorry: Option<SorrySpec>,
    /// Real servers, in configuration order.
    pub real_servers: Vec<RsSpec>,
}

/// `sorry_server` settings that matter for membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SorrySpec {
    /// `sorry_server_inhibit`: keep it in the table at weight 0 while quorum is up.
    pub inhibit: bool,
}

/// What the pure core needs to know of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsSpec {
    pub addr: SocketAddr,
    /// Configured `weight` (default 1).
    pub weight: i64,
    /// `inhibit_on_failure`: weight 0 instead of removal when down.
    pub inhibit_on_failure: bool,
    /// Has at least one checker. Without one it is always up.
    pub checked: bool,
    /// `alpha`: down until the checkers first pass.
    pub alpha: bool,
    /// `slow_start` (lvsd extension): ramp the weight up over this time after coming back.
    pub slow_start: Option<std::time::Duration>,
}

/// What the operator asked for one real server (its own state or its virtual server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminMode {
    #[default]
    Normal,
    /// Weight 0, kept in the table.
    Drain,
    /// Not in the table.
    Out,
}

/// Operator input for one real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admin {
    pub mode: AdminMode,
    /// Unix ms when it came back (enabled, or health up), for slow start.
    pub back_since_ms: Option<u64>,
}

/// Operator input per real server; absent = normal, no ramp.
pub type AdminSnapshot = HashMap<RsId, Admin>;

/// The weight during slow start: `ceil(weight × elapsed / ramp)`, at least 1 (a server with
/// weight 0 stays 0), the full weight once `ramp` has passed.
pub fn ramp_weight(weight: u32, elapsed_ms: u64, ramp: std::time::Duration) -> u32 {
    let ramp_ms = ramp.as_millis() as u64;
    if weight == 0 || ramp_ms == 0 || elapsed_ms >= ramp_ms {
        return weight;
    }
    let w = (u64::from(weight) * elapsed_ms).div_ceil(ramp_ms);
    w.clamp(1, u64::from(weight)) as u32
}

/// A real server's health as the checkers last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub up: bool,
    /// Dynamic weight (`misc_dynamic`), replacing the configured weight while up.
    pub weight: Option<i64>,
}

/// Latest health per real server; a missing entry means "no report yet".
pub type HealthSnapshot = HashMap<RsId, Health>;

/// Quorum state per virtual server id: `true` = up. A virtual server not present starts up,
/// as keepalived's does, so starting without quorum runs `quorum_down`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumState(pub BTreeMap<String, bool>);

impl QuorumState {
    /// Quorum of `vs`, up when never computed.
    pub fn is_up(&self, vs: &str) -> bool {
        self.0.get(vs).copied().unwrap_or(true)
    }
}

/// Which destination of a virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Member {
    /// Index into [`VsSpec::real_servers`].
    Real(usize),
    /// The sorry server.
    Sorry,
}

/// One destination the kernel must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestPlan {
    pub member: Member,
    /// Kernel weight (0 when inhibited).
    pub weight: u32,
}

/// A real server's verdict, for status and notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsVerdict {
    /// Health (operator state does not change it).
    pub up: bool,
    /// Effective weight (configured or dynamic), clamped to what IPVS takes.
    pub weight: u32,
    /// Operator state that applied.
    pub admin: AdminMode,
    /// Still ramping up (slow start): the kernel holds less than `weight`.
    pub ramping: bool,
}

/// The desired state of one virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsPlan {
    pub id: String,
    /// Destinations in configuration order, the sorry server last.
    pub dests: Vec<DestPlan>,
    /// One entry per real server, in configuration order.
    pub real_servers: Vec<RsVerdict>,
    /// Sum of the weights of the up real servers.
    pub live_weight: u64,
    pub quorum_up: bool,
    pub sorry_active: bool,
}

impl VsPlan {
    /// Weight the kernel should hold for `member`, `None` when it must be absent.
    pub fn weight_of(&self, member: Member) -> Option<u32> {
        self.dests
            .iter()
            .find(|d| d.member == member)
            .map(|d| d.weight)
    }
}

/// A quorum change, for `quorum_up` / `quorum_down` scripts and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEvent {
    pub vs: String,
    pub up: bool,
    pub live_weight: u64,
}

/// Everything [`compute`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub vs: Vec<VsPlan>,
    /// The quorum state to pass in next time.
    pub quorum: QuorumState,
    pub events: Vec<QuorumEvent>,
}

/// IPVS weights are a non-negative C int.
fn clamp_weight(w: i64) -> u32 {
    w.clamp(0, i64::from(i32::MAX)) as u32
}

/// The verdict on one real server given its latest health (if any).
pub fn verdict(rs: &RsSpec, health: Option<&Health>) -> RsVerdict {
    let (up, weight) = if !rs.checked {
        (true, rs.weight)
    } else {
        match health {
            Some(h) => (h.up, h.weight.unwrap_or(rs.weight)),
            None => (!rs.alpha, rs.weight),
        }
    };
    RsVerdict {
        up,
        weight: clamp_weight(weight),
        admin: AdminMode::Normal,
        ramping: false,
    }
}

/// The next quorum state from the previous one and the live weight.
pub fn next_quorum(prev_up: bool, live_weight: u64, quorum: u64, hysteresis: u64) -> bool {
    if prev_up {
        let lose_below = quorum.saturating_sub(hysteresis);
        !(live_weight == 0 || live_weight < lose_below)
    } else {
        live_weight > 0 && live_weight >= quorum.saturating_add(hysteresis)
    }
}

/// Computes one virtual server's desired destinations.
pub fn plan_vs(vs: &VsSpec, health: &HealthSnapshot, prev_quorum_up: bool) -> VsPlan {
    plan_vs_with(vs, health, &AdminSnapshot::new(), 0, prev_quorum_up)
}

/// [`plan_vs`] with operator state and the clock (Unix ms) for slow start.
pub fn plan_vs_with(
    vs: &VsSpec,
    health: &HealthSnapshot,
    admin: &AdminSnapshot,
    now_ms: u64,
    prev_quorum_up: bool,
) -> VsPlan {
    let mut kernel_weight = Vec::with_capacity(vs.real_servers.len());
    let real_servers: Vec<RsVerdict> = vs
        .real_servers
        .iter()
        .map(|rs| {
            let id = RsId {
                vs: vs.id.clone(),
                addr: rs.addr,
            };
            let mut v = verdict(rs, health.get(&id));
            let a = admin.get(&id).copied().unwrap_or_default();
            v.admin = a.mode;
            let mut w = v.weight;
            if let (Some(ramp), Some(since)) = (rs.slow_start, a.back_since_ms) {
                w = ramp_weight(v.weight, now_ms.saturating_sub(since), ramp);
                v.ramping = w < v.weight;
            }
            kernel_weight.push(w);
            v
        })
        .collect();
    let live_weight: u64 = real_servers
        .iter()
        .filter(|v| v.up && v.admin == AdminMode::Normal)
        .map(|v| u64::from(v.weight))
        .sum();
    let quorum_up = next_quorum(prev_quorum_up, live_weight, vs.quorum, vs.hysteresis);
    let sorry_active = !quorum_up && vs.sorry.is_some();

    let mut dests = Vec::with_capacity(vs.real_servers.len() + 1);
    for (i, (rs, v)) in vs.real_servers.iter().zip(&real_servers).enumerate() {
        let weight = if v.admin == AdminMode::Out {
            None
        } else if v.admin == AdminMode::Drain && v.up && !sorry_active {
            Some(0)
        } else if v.up && !sorry_active {
            Some(kernel_weight[i])
        } else if rs.inhibit_on_failure {
            Some(0)
        } else {
            None
        };
        if let Some(weight) = weight {
            dests.push(DestPlan {
                member: Member::Real(i),
                weight,
            });
        }
    }
    if let Some(sorry) = vs.sorry {
        let weight = if sorry_active {
            Some(1)
        } else if sorry.inhibit {
            Some(0)
        } else {
            None
        };
        if let Some(weight) = weight {
            dests.push(DestPlan {
                member: Member::Sorry,
                weight,
            });
        }
    }
    VsPlan {
        id: vs.id.clone(),
        dests,
        real_servers,
        live_weight,
        quorum_up,
        sorry_active,
    }
}

/// Computes every virtual server's desired destinations and the quorum transitions.
pub fn compute(vss: &[VsSpec], health: &HealthSnapshot, prev: &QuorumState) -> Desired {
    compute_with(vss, health, &AdminSnapshot::new(), 0, prev)
}

/// [`compute`] with operator state and the clock (Unix ms, for slow start).
pub fn compute_with(
    vss: &[VsSpec],
    health: &HealthSnapshot,
    admin: &AdminSnapshot,
    now_ms: u64,
    prev: &QuorumState,
) -> Desired {
    let mut quorum = QuorumState::default();
    let mut events = Vec::new();
    let vs = vss
        .iter()
        .map(|vs| {
            let was_up = prev.is_up(&vs.id);
            let plan = plan_vs_with(vs, health, admin, now_ms, was_up);
            if plan.quorum_up != was_up {
                events.push(QuorumEvent {
                    vs: vs.id.clone(),
                    up: plan.quorum_up,
                    live_weight: plan.live_weight,
                });
            }
            quorum.0.insert(vs.id.clone(), plan.quorum_up);
            plan
        })
        .collect();
    Desired { vs, quorum, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VS: &str = "TCP 10.0.0.1:80";

    fn rs(n: u8, weight: i64) -> RsSpec {
        RsSpec {
            addr: SocketAddr::from(([192, 168, 0, n], 80)),
            weight,
            inhibit_on_failure: false,
            checked: true,
            alpha: false,
            slow_start: None,
        }
    }

    fn vs(real_servers: Vec<RsSpec>) -> VsSpec {
        VsSpec {
            id: VS.to_string(),
            quorum: 1,
            hysteresis: 0,
            sorry: None,
            real_servers,
        }
    }

    fn id(n: u8) -> RsId {
        RsId {
            vs: VS.to_string(),
            addr: SocketAddr::from(([192, 168, 0, n], 80)),
        }
    }

    fn health(entries: &[(u8, bool)]) -> HealthSnapshot {
        entries
            .iter()
            .map(|&(n, up)| (id(n), Health { up, weight: None }))
            .collect()
    }

    fn weights(p: &VsPlan) -> Vec<(Member, u32)> {
        p.dests.iter().map(|d| (d.member, d.weight)).collect()
    }

    use Member::{Real, Sorry};

    #[test]
    fn unchecked_real_servers_are_always_up() {
        let mut a = rs(1, 3);
        a.checked = false;
        a.alpha = true;
        // Even a stale "down" report does not take an unchecked server out.
        let p = plan_vs(&vs(vec![a]), &health(&[(1, false)]), true);
        assert_eq!(weights(&p), vec![(Real(0), 3)]);
        assert!(p.quorum_up);
    }

    #[test]
    fn unreported_checked_servers_start_up_unless_alpha() {
        let mut b = rs(2, 1);
        b.alpha = true;
        let p = plan_vs(&vs(vec![rs(1, 1), b]), &HashMap::new(), true);
        assert_eq!(weights(&p), vec![(Real(0), 1)]);
        assert_eq!(
            p.real_servers[1],
            RsVerdict {
                up: false,
                weight: 1,
                admin: AdminMode::Normal,
                ramping: false,
            }
        );
        // The first pass brings the alpha server in.
        let p = plan_vs(&vs(vec![rs(1, 1), rs(2, 1)]), &health(&[(2, true)]), true);
        assert_eq!(weights(&p), vec![(Real(0), 1), (Real(1), 1)]);
    }

    #[test]
    fn failed_server_leaves_or_stays_at_zero_with_inhibit() {
        let mut b = rs(2, 5);
        b.inhibit_on_failure = true;
        let spec = vs(vec![rs(1, 2), b, rs(3, 4)]);
        let p = plan_vs(&spec, &health(&[(1, false), (2, false), (3, true)]), true);
        assert_eq!(weights(&p), vec![(Real(1), 0), (Real(2), 4)]);
        assert_eq!(p.live_weight, 4);
        let p = plan_vs(&spec, &health(&[(1, true), (2, true), (3, true)]), true);
        assert_eq!(weights(&p), vec![(Real(0), 2), (Real(1), 5), (Real(2), 4)]);
    }

    #[test]
    fn dynamic_weight_replaces_configured_and_is_clamped() {
        let spec = vs(vec![rs(1, 10), rs(2, 10), rs(3, 10)]);
        let mut h = HealthSnapshot::new();
        h.insert(
            id(1),
            Health {
                up: true,
                weight: Some(42),
            },
        );
        h.insert(
            id(2),
            Health {
                up: true,
                weight: Some(-5),
            },
        );
        h.insert(
            id(3),
            Health {
                up: true,
                weight: Some(i64::MAX),
            },
        );
        let p = plan_vs(&spec, &h, true);
        assert_eq!(
            weights(&p),
            vec![(Real(0), 42), (Real(1), 0), (Real(2), i32::MAX as u32)]
        );
    }

    /// (previous state, live weight, quorum, hysteresis) → next state.
    #[test]
    fn quorum_hysteresis_table() {
        let rows: &[(bool, u64, u64, u64, bool)] = &[
            // Loss: below quorum - hysteresis, or at zero.
            (true, 0, 1, 0, false),
            (true, 1, 1, 0, true),
            (true, 4, 5, 0, false),
            (true, 3, 5, 2, true),
            (true, 2, 5, 2, false),
            (true, 0, 5, 10, false), // quorum - hysteresis saturates at 0: zero still loses
            (true, 1, 5, 10, true),
            // Gain: at quorum + hysteresis, never at zero.
            (false, 1, 1, 0, true),
            (false, 0, 1, 0, false),
            (false, 5, 5, 2, false),
            (false, 6, 5, 2, false),
            (false, 7, 5, 2, true),
            (false, 0, 0, 0, false),
            (false, u64::MAX, u64::MAX, 1, true),
        ];
        for &(prev, live, q, h, want) in rows {
            assert_eq!(
                next_quorum(prev, live, q, h),
                want,
                "prev={prev} live={live} quorum={q} hysteresis={h}"
            );
        }
    }

    #[test]
    fn quorum_loss_and_gain_emit_events_once() {
        let mut spec = vs(vec![rs(1, 2), rs(2, 2), rs(3, 2)]);
        spec.quorum = 4;
        spec.hysteresis = 1;
        let all = [spec];
        let mut q = QuorumState::default();
        let step = |h: &[(u8, bool)], q: &mut QuorumState| {
            let d = compute(&all, &health(h), q);
            *q = d.quorum.clone();
            d
        };
        // 6 ≥ 3: up, no event at start.
        let d = step(&[(1, true), (2, true), (3, true)], &mut q);
        assert!(d.events.is_empty() && d.vs[0].quorum_up);
        // 4 ≥ 3: still up.
        let d = step(&[(1, false), (2, true), (3, true)], &mut q);
        assert!(d.events.is_empty());
        // 2 < 3: lost.
        let d = step(&[(1, false), (2, false), (3, true)], &mut q);
        assert_eq!(
            d.events,
            vec![QuorumEvent {
                vs: VS.into(),
                up: false,
                live_weight: 2
            }]
        );
        // Same input again: no new event (level-triggered caller recomputes freely).
        let d = step(&[(1, false), (2, false), (3, true)], &mut q);
        assert!(d.events.is_empty() && !d.vs[0].quorum_up);
        // 4 < 5 = quorum + hysteresis: still down.
        let d = step(&[(1, false), (2, true), (3, true)], &mut q);
        assert!(d.events.is_empty() && !d.vs[0].quorum_up);
        // 6 ≥ 5: gained.
        let d = step(&[(1, true), (2, true), (3, true)], &mut q);
        assert_eq!(
            d.events,
            vec![QuorumEvent {
                vs: VS.into(),
                up: true,
                live_weight: 6
            }]
        );
    }

    #[test]
    fn starting_without_quorum_reports_quorum_down() {
        let mut a = rs(1, 1);
        a.alpha = true;
        let d = compute(&[vs(vec![a])], &HashMap::new(), &QuorumState::default());
        assert_eq!(d.events.len(), 1);
        assert!(!d.events[0].up);
        assert!(d.vs[0].dests.is_empty());
    }

    #[test]
    fn sorry_server_replaces_real_servers_on_loss_and_leaves_on_gain() {
        let mut b = rs(2, 1);
        b.inhibit_on_failure = true;
        let mut spec = vs(vec![rs(1, 1), b]);
        spec.quorum = 2;
        spec.sorry = Some(SorrySpec { inhibit: false });
        // Both up: quorum 2 met, sorry absent.
        let p = plan_vs(&spec, &health(&[(1, true), (2, true)]), true);
        assert_eq!(weights(&p), vec![(Real(0), 1), (Real(1), 1)]);
        assert!(!p.sorry_active);
        // One down: 1 < 2, quorum lost: the live server leaves too, the inhibited one stays at
        // 0, the sorry server comes in.
        let p = plan_vs(&spec, &health(&[(1, true), (2, false)]), true);
        assert_eq!(weights(&p), vec![(Real(1), 0), (Sorry, 1)]);
        assert!(p.sorry_active && !p.quorum_up);
        // Everything back: the sorry server goes, real servers return.
        let p = plan_vs(&spec, &health(&[(1, true), (2, true)]), false);
        assert_eq!(weights(&p), vec![(Real(0), 1), (Real(1), 1)]);
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_zero_while_quorum_up() {
        let mut spec = vs(vec![rs(1, 1)]);
        spec.sorry = Some(SorrySpec { inhibit: true });
        let p = plan_vs(&spec, &health(&[(1, true)]), true);
        assert_eq!(weights(&p), vec![(Real(0), 1), (Sorry, 0)]);
        let p = plan_vs(&spec, &health(&[(1, false)]), true);
        assert_eq!(weights(&p), vec![(Sorry, 1)]);
        assert_eq!(p.weight_of(Sorry), Some(1));
        assert_eq!(p.weight_of(Real(0)), None);
    }

    #[test]
    fn quorum_loss_without_sorry_server_only_follows_health() {
        let mut spec = vs(vec![rs(1, 1), rs(2, 1)]);
        spec.quorum = 2;
        let p = plan_vs(&spec, &health(&[(1, true), (2, false)]), true);
        assert!(!p.quorum_up);
        assert_eq!(weights(&p), vec![(Real(0), 1)]);
    }

    #[test]
    fn health_of_another_virtual_server_does_not_leak() {
        let spec = vs(vec![rs(1, 1)]);
        let mut h = HealthSnapshot::new();
        h.insert(
            RsId {
                vs: "TCP 10.0.0.2:80".into(),
                addr: id(1).addr,
            },
            Health {
                up: false,
                weight: None,
            },
        );
        let p = plan_vs(&spec, &h, true);
        assert_eq!(weights(&p), vec![(Real(0), 1)]);
    }

    #[test]
    fn up_server_with_weight_zero_counts_nothing_toward_quorum() {
        let spec = vs(vec![rs(1, 0)]);
        let d = compute(&[spec], &health(&[(1, true)]), &QuorumState::default());
        assert_eq!(d.vs[0].live_weight, 0);
        assert!(!d.vs[0].quorum_up);
        // No sorry server: the server stays, at its (zero) weight.
        assert_eq!(weights(&d.vs[0]), vec![(Real(0), 0)]);
    }

    fn admin(entries: &[(u8, AdminMode, Option<u64>)]) -> AdminSnapshot {
        entries
            .iter()
            .map(|&(n, mode, back_since_ms)| {
                (
                    id(n),
                    Admin {
                        mode,
                        back_since_ms,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn drain_keeps_at_zero_and_out_removes_whatever_the_health() {
        let mut b = rs(2, 5);
        b.inhibit_on_failure = true;
        let spec = vs(vec![rs(1, 2), b, rs(3, 4)]);
        let h = health(&[(1, true), (2, true), (3, true)]);
        let a = admin(&[(1, AdminMode::Drain, None), (2, AdminMode::Out, None)]);
        let p = plan_vs_with(&spec, &h, &a, 0, true);
        assert_eq!(weights(&p), vec![(Real(0), 0), (Real(2), 4)]);
        // Health still shows; neither counts toward quorum.
        assert!(p.real_servers[0].up && p.real_servers[1].up);
        assert_eq!(p.real_servers[0].admin, AdminMode::Drain);
        assert_eq!(p.live_weight, 4);
        // A draining server that fails leaves like any failed server.
        let h = health(&[(1, false), (2, false), (3, true)]);
        let p = plan_vs_with(&spec, &h, &a, 0, true);
        assert_eq!(weights(&p), vec![(Real(2), 4)]);
        // Everything out: quorum lost.
        let a = admin(&[(1, AdminMode::Out, None), (3, AdminMode::Out, None)]);
        let d = compute_with(&[spec], &h, &a, 0, &QuorumState::default());
        assert!(!d.vs[0].quorum_up && d.events.len() == 1);
    }

    #[test]
    fn slow_start_ramps_the_kernel_weight_not_the_quorum() {
        let mut a = rs(1, 10);
        a.slow_start = Some(std::time::Duration::from_secs(10));
        let spec = vs(vec![a, rs(2, 10)]);
        let h = health(&[(1, true), (2, true)]);
        let back = admin(&[(1, AdminMode::Normal, Some(100_000))]);
        let at = |now| plan_vs_with(&spec, &h, &back, now, true);
        assert_eq!(weights(&at(100_000)), vec![(Real(0), 1), (Real(1), 10)]);
        assert_eq!(weights(&at(102_500)), vec![(Real(0), 3), (Real(1), 10)]);
        assert_eq!(weights(&at(105_000)), vec![(Real(0), 5), (Real(1), 10)]);
        assert!(at(105_000).real_servers[0].ramping);
        assert_eq!(at(105_000).live_weight, 20);
        assert_eq!(weights(&at(110_000)), vec![(Real(0), 10), (Real(1), 10)]);
        assert!(!at(110_000).real_servers[0].ramping);
        // No slow_start configured: full weight at once.
        let back2 = admin(&[(2, AdminMode::Normal, Some(100_000))]);
        let p = plan_vs_with(&spec, &h, &back2, 100_000, true);
        assert_eq!(p.weight_of(Real(1)), Some(10));
    }

    #[test]
    fn ramp_weight_table() {
        let s = std::time::Duration::from_secs;
        assert_eq!(ramp_weight(0, 0, s(10)), 0);
        assert_eq!(ramp_weight(100, 0, s(10)), 1);
        assert_eq!(ramp_weight(100, 1, s(10)), 1);
        assert_eq!(ramp_weight(100, 5_000, s(10)), 50);
        assert_eq!(ramp_weight(100, 9_999, s(10)), 100);
        assert_eq!(ramp_weight(100, 99_999, s(10)), 100);
        assert_eq!(ramp_weight(u32::MAX, 5_000, s(10)), u32::MAX / 2 + 1);
        assert_eq!(ramp_weight(7, 5_000, s(0)), 7);
    }
}
