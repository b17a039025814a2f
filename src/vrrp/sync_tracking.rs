//! What an instance tracks: its own `track_interface` / `track_script` / `track_file` lines,
//! then those of its `vrrp_sync_group`. keepalived applies a sync group's trackers to every
//! member instance, with their weights (a weight-0 tracker takes each member to FAULT); the
//! members' own weighted trackers are dropped by the config layer unless the group says
//! `sync_group_tracking_weight` (or the deprecated `global_tracking`), so the members'
//! priorities move together.

use crate::config::model as m;
use crate::scripts::Scripts;

use super::config::{TrackFileRef, Tracked};

/// The sync groups `i` is a member of (the config layer keeps an instance in one at most).
fn groups<'c>(
    c: &'c m::Config,
    i: &'c m::VrrpInstance,
) -> impl Iterator<Item = &'c m::VrrpSyncGroup> {
    c.vrrp_sync_groups
        .iter()
        .filter(|g| g.group.contains(&i.name))
}

fn weight(w: i32) -> Option<i32> {
    (w != 0).then_some(w)
}

/// `track_script` lines; a disabled script's tracker is removed: the instance runs as if
/// untracked (keepalived removes an unsafe script from what tracks it).
pub(super) fn scripts(c: &m::Config, scripts: &Scripts, i: &m::VrrpInstance) -> Vec<Tracked> {
    i.track_scripts
        .iter()
        .chain(groups(c, i).flat_map(|g| &g.track_scripts))
        .filter(|t| {
            c.vrrp_script(&t.name)
                .is_some_and(|s| scripts.get(&s.script).is_some())
        })
        .map(|t| Tracked {
            name: t.name.clone(),
            weight: weight(t.weight),
            reverse: t.reverse,
        })
        .collect()
}

/// `track_interface` lines.
pub(super) fn interfaces(c: &m::Config, i: &m::VrrpInstance) -> Vec<Tracked> {
    i.track_interfaces
        .iter()
        .chain(groups(c, i).flat_map(|g| &g.track_interfaces))
        .map(|t| Tracked {
            name: t.name.clone(),
            weight: weight(t.weight),
            reverse: t.reverse,
        })
        .collect()
}

/// `track_file` lines: priority += value × weight (negated by reverse); weight 0 → FAULT on a
/// nonzero value.
pub(super) fn files(c: &m::Config, i: &m::VrrpInstance) -> Vec<TrackFileRef> {
    i.track_files
        .iter()
        .chain(groups(c, i).flat_map(|g| &g.track_files))
        .filter_map(|t| {
            let f = c.track_file(&t.name)?;
            let w = if t.reverse { -t.weight } else { t.weight };
            Some(TrackFileRef {
                path: f.file.display().to_string(),
                weight: weight(w),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{LoadOptions, load_str};
    use crate::vrrp::config::{TrackFileRef, Tracked, VrrpConfig};

    const CONF: &str = r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
}
track_file tf {
    file /tmp/prio
    weight 0
}
vrrp_sync_group G {
    group {
        A
        B
    }
    track_interface {
        eth1 weight 7
    }
    track_script {
        chk
    }
    track_file {
        tf weight 5
    }
}
vrrp_sync_group H {
    group {
        C
        D
    }
    global_tracking
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        10.0.0.2
    }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 3
    virtual_ipaddress {
        10.0.0.3
    }
    track_interface {
        eth1 weight 9
    }
}
vrrp_instance D {
    interface eth0
    virtual_router_id 4
    virtual_ipaddress {
        10.0.0.4
    }
}
"#;

    #[test]
    fn sync_group_trackers_apply_to_every_member_with_their_weights() {
        let l = load_str(CONF, Path::new("t.conf"), &LoadOptions::default()).unwrap();
        let text: Vec<String> = l.diagnostics.iter().map(|d| d.to_string()).collect();
        // As keepalived 2.2.7: the member's own weighted script is dropped (group G), C's
        // weighted interface is kept (global_tracking), which is deprecated.
        assert!(
            text.iter()
                .any(|d| d
                    .contains("(A) ignoring tracked script chk with weights due to SYNC group")),
            "{text:?}"
        );
        assert!(!text.iter().any(|d| d.contains("(C) ignoring")), "{text:?}");
        assert!(
            text.iter().any(|d| d.contains("global_tracking")),
            "{text:?}"
        );
        assert!(
            !text.iter().any(|d| d.contains("does not implement")),
            "{text:?}"
        );
        let c = VrrpConfig::from_model(&l.config);
        for i in &c.instances[..2] {
            assert_eq!(
                i.track_interfaces,
                vec![Tracked {
                    name: "eth1".into(),
                    weight: Some(7),
                    reverse: false
                }],
                "{}",
                i.name
            );
            assert_eq!(
                i.track_scripts,
                vec![Tracked {
                    name: "chk".into(),
                    weight: Some(-20),
                    reverse: false
                }],
                "{}",
                i.name
            );
            assert_eq!(
                i.track_files,
                vec![TrackFileRef {
                    path: "/tmp/prio".into(),
                    weight: Some(5)
                }]
            );
        }
        assert_eq!(c.instances[2].track_interfaces[0].weight, Some(9));
        assert!(c.instances[3].track_interfaces.is_empty());
    }
}
