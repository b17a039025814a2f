//! Tracked objects that move an instance's priority or put it in FAULT: `vrrp_script`,
//! `track_interface` and `track_file`.
//!
//! Each source publishes its latest verdict on a `watch` (level-triggered: an instance only
//! needs the current value); [`evaluate`] turns the verdicts an instance tracks into
//! `(fault, effective priority)`, purely. Script runs honour `interval`, `timeout`, `rise`,
//! `fall` and `user`; a timed-out script is killed (its whole process group) and counts as a
//! failure.

use std::collections::HashMap;
use std::time::Duration;

use checkers::ScriptExit;
use futures_util::StreamExt;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use rtnetlink::MulticastGroup;
use tokio::sync::watch;

use super::config::{ScriptConfig, Tracked};

/// One tracked input as [`evaluate`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Healthy (script exit 0 after rise/fall, link running, file value 0).
    pub ok: bool,
    /// None: failure means FAULT. Some(w): w > 0 adds w while ok, w < 0 adds w while failed.
    pub weight: Option<i32>,
    /// `reverse`: the weight applies the other way round.
    pub reverse: bool,
}

/// A file value of a `track_file`: weight × value is added; with no weight, nonzero is FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInput {
    pub value: i64,
    pub weight: Option<i32>,
}

/// keepalived's rule: priority = base + Σ applicable weights, clamped to 1..=254; the owner
/// (255) keeps 255 while weights are ignored; any unweighted failure is FAULT.
pub fn evaluate(base: u8, inputs: &[Input], files: &[FileInput]) -> (bool, u8) {
    let mut fault = false;
    let mut prio = i64::from(base);
    for i in inputs {
        match i.weight {
            None | Some(0) => fault |= !i.ok,
            Some(w) => {
                let applies = if w > 0 { i.ok } else { !i.ok };
                if applies != i.reverse {
                    prio += i64::from(w);
                }
            }
        }
    }
    for f in files {
        match f.weight {
            None | Some(0) => fault |= f.value != 0,
            Some(w) => prio += f.value.saturating_mul(i64::from(w)),
        }
    }
    if base == 255 {
        return (fault, 255);
    }
    (fault, prio.clamp(1, 254) as u8)
}

/// Builds the input for a tracked script from its verdict and the instance's override.
pub fn script_input(t: &Tracked, script: &ScriptConfig, ok: bool) -> Input {
    let weight = t.weight.or(if script.weight != 0 {
        Some(script.weight)
    } else {
        None
    });
    Input {
        ok,
        weight,
        reverse: t.reverse || script.reverse,
    }
}

/// A `track_bfd` line's input: the session is Up for VRRP. `weight 0 reverse` is FAULT while
/// the session is Up (keepalived.conf(5)), so the verdict itself is inverted there.
pub fn bfd_input(t: &Tracked, sessions: &crate::bfd::StatusMap) -> Input {
    let up = crate::bfd::is_up(sessions, &t.name, true);
    match t.weight {
        None | Some(0) => Input {
            ok: up != t.reverse,
            weight: None,
            reverse: false,
        },
        w => Input {
            ok: up,
            weight: w,
            reverse: t.reverse,
        },
    }
}

/// Builds the input for a tracked process from its verdict (quorum met). With weight 0,
/// `reverse` puts the instance in FAULT while the quorum is met rather than while it is not.
pub fn process_input(t: &Tracked, ok: bool) -> Input {
    Input {
        ok: if t.weight.is_none() && t.reverse {
            !ok
        } else {
            ok
        },
        weight: t.weight,
        reverse: t.reverse && t.weight.is_some(),
    }
}

pub use checkers::split_command;

/// Runs one script to completion within `timeout` ([`checkers::run_script`]: own process
/// group, killed whole at the timeout, as the user resolved at load); true on exit status 0.
/// Anything else (non-zero exit, signal, timeout, a program gone since the load) is a failure
/// for rise/fall.
pub async fn run_script_once(cfg: &ScriptConfig) -> bool {
    match checkers::run_script(&cfg.script, cfg.timeout).await {
        ScriptExit::Exited(code) => code == 0,
        ScriptExit::Signaled(_) => false,
        ScriptExit::TimedOut => {
            tracing::warn!(script = %cfg.name, "script timed out after {:?}", cfg.timeout);
            false
        }
        ScriptExit::SpawnFailed(e) => {
            tracing::warn!(script = %cfg.name, error = %e, "cannot run script");
            false
        }
    }
}

/// rise/fall debouncing of raw results (pure).
#[derive(Debug, Clone)]
pub struct RiseFall {
    ok: bool,
    streak: u32,
    rise: u32,
    fall: u32,
}

impl RiseFall {
    /// Starts in the failed state when `rise` > 1 would be needed to prove health; otherwise the
    /// first result decides (keepalived runs the script at once at startup).
    pub fn new(rise: u32, fall: u32) -> RiseFall {
        RiseFall {
            ok: false,
            streak: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }
    pub fn ok(&self) -> bool {
        self.ok
    }
    /// Feeds one result; returns the debounced verdict.
    pub fn push(&mut self, result: bool) -> bool {
        if result == self.ok {
            self.streak = 0;
        } else {
            self.streak += 1;
            let need = if result { self.rise } else { self.fall };
            if self.streak >= need {
                self.ok = result;
                self.streak = 0;
            }
        }
        self.ok
    }
}

/// Runs a `vrrp_script` forever, publishing its debounced verdict (None until the first run).
/// `running` is true while the script runs (keepalived's script state `running`, else `idle`).
pub async fn script_task(
    cfg: ScriptConfig,
    tx: watch::Sender<Option<bool>>,
    running: watch::Sender<bool>,
) {
    let mut rf = RiseFall::new(cfg.rise, cfg.fall);
    let mut first = true;
    let mut tick = tokio::time::interval(cfg.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        running.send_replace(true);
        let r = run_script_once(&cfg).await;
        running.send_replace(false);
        let v = if first {
            // The first result is taken as is: there is no history to debounce.
            first = false;
            rf = RiseFall { ok: r, ..rf };
            r
        } else {
            rf.push(r)
        };
        tx.send_if_modified(|cur| {
            let changed = *cur != Some(v);
            if changed {
                tracing::info!(script = %cfg.name, ok = v, "VRRP script {}", if v { "succeeded" } else { "failed" });
            }
            *cur = Some(v);
            changed
        });
    }
}

/// Polls a `track_file` (keepalived uses inotify; one second is its documented granularity).
pub async fn file_task(path: String, tx: watch::Sender<i64>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        // A missing or unreadable file reads as 0, like keepalived without `init_file`.
        let v = tokio::fs::read_to_string(&path)
            .await
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        tx.send_if_modified(|cur| {
            let changed = *cur != v;
            *cur = v;
            changed
        });
    }
}

/// How often `linkbeat_interfaces` are polled.
pub const LINKBEAT_INTERVAL: Duration = Duration::from_millis(500);

/// Follows link state (IFF_UP && IFF_RUNNING) of every interface by name, from rtnetlink
/// link notifications plus an initial dump. The interfaces in `polled` (`linkbeat_interfaces`,
/// `linkbeat_use_polling`) are instead polled every [`LINKBEAT_INTERVAL`] with
/// [`poll_link`]: for drivers whose carrier changes netlink does not report.
pub async fn link_task(
    tx: watch::Sender<HashMap<String, bool>>,
    mut polled: watch::Receiver<Vec<String>>,
) -> anyhow::Result<()> {
    let (conn, handle, mut msgs) = rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?;
    tokio::spawn(conn);
    let mut dump = handle.link().get().execute();
    let mut init = HashMap::new();
    while let Some(Ok(m)) = dump.next().await {
        if let Some((name, up)) = link_state(&m) {
            init.insert(name, up);
        }
    }
    let set = |map: &mut HashMap<String, bool>, name: String, up: bool| {
        let changed = map.get(&name) != Some(&up);
        map.insert(name, up);
        changed
    };
    for name in polled.borrow().iter() {
        init.insert(name.clone(), poll_link(name));
    }
    tx.send_replace(init);
    let mut tick = tokio::time::interval(LINKBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polled_open = true;
    loop {
        let polling = !polled.borrow().is_empty();
        tokio::select! {
            r = polled.changed(), if polled_open => polled_open = r.is_ok(),
            m = msgs.next() => {
                let Some((msg, _)) = m else { break };
                let NetlinkPayload::InnerMessage(m) = msg.payload else { continue };
                let (upd, del) = match &m {
                    RouteNetlinkMessage::NewLink(l) => (link_state(l), false),
                    RouteNetlinkMessage::DelLink(l) => (link_state(l), true),
                    _ => (None, false),
                };
                if let Some((name, up)) = upd
                    && !polled.borrow().contains(&name)
                {
                    tx.send_if_modified(|map| set(map, name, up && !del));
                }
            }
            _ = tick.tick(), if polling => {
                let names = polled.borrow().clone();
                let states: Vec<(String, bool)> =
                    names.into_iter().map(|n| { let up = poll_link(&n); (n, up) }).collect();
                tx.send_if_modified(|map| {
                    states.into_iter().fold(false, |c, (n, up)| set(map, n, up) | c)
                });
            }
        }
    }
    Ok(())
}

/// Link state of `ifname` by ioctl, as keepalived's linkbeat polling reads it: admin up
/// (SIOCGIFFLAGS IFF_UP) and link detected (SIOCETHTOOL ETHTOOL_GLINK), or IFF_RUNNING where
/// the driver has no ethtool link report. An interface that does not exist is down.
pub fn poll_link(ifname: &str) -> bool {
    const ETHTOOL_GLINK: u32 = 0x0000_000a;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return false;
    }
    // SAFETY: a plain datagram socket, closed by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is a valid, owned descriptor.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into req, which lives for the call.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return false;
    }
    // SAFETY: SIOCGIFFLAGS filled ifru_flags.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    if flags & libc::IFF_UP == 0 {
        return false;
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL writes one ethtool_value into `value`, alive for the call.
    if unsafe { libc::ioctl(raw, libc::SIOCETHTOOL, &mut req) } == 0 {
        return value.data != 0;
    }
    flags & libc::IFF_RUNNING != 0
}

fn link_state(m: &netlink_packet_route::link::LinkMessage) -> Option<(String, bool)> {
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    let f = m.header.flags;
    Some((
        name,
        f.contains(LinkFlags::Up) && f.contains(LinkFlags::Running),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(ok: bool, weight: Option<i32>) -> Input {
        Input {
            ok,
            weight,
            reverse: false,
        }
    }

    #[test]
    fn weights_and_faults() {
        assert_eq!(evaluate(100, &[], &[]), (false, 100));
        // Negative weight applies while failing, positive while succeeding.
        assert_eq!(
            evaluate(100, &[i(false, Some(-30)), i(true, Some(20))], &[]),
            (false, 90)
        );
        assert_eq!(
            evaluate(100, &[i(true, Some(-30)), i(false, Some(20))], &[]),
            (false, 100)
        );
        // Unweighted failure: FAULT.
        assert!(evaluate(100, &[i(false, None)], &[]).0);
        // Clamped to 1..=254; the owner ignores weights.
        assert_eq!(evaluate(10, &[i(false, Some(-50))], &[]), (false, 1));
        assert_eq!(evaluate(250, &[i(true, Some(50))], &[]), (false, 254));
        assert_eq!(evaluate(255, &[i(false, Some(-50))], &[]), (false, 255));
        // reverse: a negative weight applies while the script succeeds.
        assert_eq!(
            evaluate(
                100,
                &[Input {
                    ok: true,
                    weight: Some(-30),
                    reverse: true
                }],
                &[]
            ),
            (false, 70)
        );
        // track_file: value × weight, or FAULT on nonzero without weight.
        assert_eq!(
            evaluate(
                100,
                &[],
                &[FileInput {
                    value: 2,
                    weight: Some(-10)
                }]
            ),
            (false, 80)
        );
        assert!(
            evaluate(
                100,
                &[],
                &[FileInput {
                    value: 1,
                    weight: None
                }]
            )
            .0
        );
    }

    #[test]
    fn rise_and_fall_debounce() {
        let mut rf = RiseFall {
            ok: true,
            ..RiseFall::new(2, 3)
        };
        assert!(rf.push(false));
        assert!(rf.push(false));
        assert!(rf.push(true)); // streak reset
        assert!(rf.push(false) && rf.push(false));
        assert!(!rf.push(false)); // third consecutive failure
        assert!(!rf.push(true));
        assert!(rf.push(true));
    }

    #[test]
    fn command_split() {
        assert_eq!(
            split_command("/bin/sh -c 'exit 1'"),
            vec!["/bin/sh", "-c", "exit 1"]
        );
        assert_eq!(split_command("  a  \"b c\" ''"), vec!["a", "b c", ""]);
    }

    #[tokio::test]
    async fn script_exit_status_and_timeout() {
        let sc = |l: &str| checkers::Script::parse(l).unwrap();
        let mut c = ScriptConfig {
            name: "t".into(),
            script: sc("/bin/sh -c 'exit 0'"),
            ..Default::default()
        };
        assert!(run_script_once(&c).await);
        c.script = sc("/bin/sh -c 'exit 3'");
        assert!(!run_script_once(&c).await);
        c.script = sc("/bin/sleep 5");
        c.timeout = Duration::from_millis(100);
        let t = std::time::Instant::now();
        assert!(!run_script_once(&c).await);
        assert!(t.elapsed() < Duration::from_secs(2));
        c.script = sc("/nonexistent/script");
        assert!(!run_script_once(&c).await);
    }

    #[tokio::test]
    async fn script_task_reports_running_while_the_script_runs() {
        let c = ScriptConfig {
            name: "slow".into(),
            script: checkers::Script::parse("/bin/sleep 0.4").unwrap(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let (tx, mut rx) = watch::channel(None);
        let (run_tx, mut run_rx) = watch::channel(false);
        let task = tokio::spawn(script_task(c, tx, run_tx));
        run_rx.changed().await.unwrap();
        assert!(*run_rx.borrow_and_update(), "running during the run");
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), Some(true));
        assert!(!*run_rx.borrow(), "idle once it exited");
        task.abort();
    }
}
