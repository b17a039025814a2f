//! What the service runs, from the configuration model.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::packet::{PORT_MULTI_HOP, PORT_SINGLE_HOP};
use super::session::SessionConfig;
use crate::config::model;

/// One `bfd_instance`, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub name: String,
    pub neighbor: IpAddr,
    pub source: Option<IpAddr>,
    pub session: SessionConfig,
    /// TTL / hop limit sent.
    pub ttl: u8,
    /// How far below 255 a received TTL may be (255: not checked).
    pub max_hops: u8,
    /// RFC 5883 (port 4784) rather than RFC 5881 (3784).
    pub multihop: bool,
    /// Events go to VRRP (`track_bfd`) / the checkers (`BFD_CHECK`).
    pub vrrp: bool,
    pub checker: bool,
}

impl SessionSpec {
    pub fn from_model(b: &model::BfdInstance) -> SessionSpec {
        // Neither `vrrp` nor `checker` (or both): both are told.
        let both = b.to_vrrp == b.to_checker;
        SessionSpec {
            name: b.name.clone(),
            neighbor: b.neighbor_ip,
            source: b.source_ip,
            session: SessionConfig {
                min_rx: b.min_rx,
                min_tx: b.min_tx,
                idle_tx: b.idle_tx.max(Duration::from_millis(1)),
                multiplier: b.multiplier,
                passive: b.passive,
            },
            // RFC 5881 §5: single-hop packets go out with TTL 255 (IPv6 too, unlike
            // keepalived's documented default of 64, which a single-hop peer must drop).
            ttl: b.ttl.unwrap_or(255),
            max_hops: b.max_hops,
            multihop: b.multihop,
            vrrp: both || b.to_vrrp,
            checker: both || b.to_checker,
        }
    }
    pub fn multihop(&self) -> bool {
        self.multihop
    }
    pub fn port(&self) -> u16 {
        if self.multihop() {
            PORT_MULTI_HOP
        } else {
            PORT_SINGLE_HOP
        }
    }
    pub fn dest(&self) -> SocketAddr {
        SocketAddr::new(self.neighbor, self.port())
    }
    /// The received TTL rule: at least 255 − max_hops (so exactly 255 by default, RFC 5881
    /// §5), anything with 255.
    pub fn ttl_ok(&self, ttl: Option<u8>) -> bool {
        self.max_hops == 255 || ttl.is_some_and(|t| u16::from(t) + u16::from(self.max_hops) >= 255)
    }
    /// Whether a change needs a new socket / session rather than new timers.
    pub fn same_endpoint(&self, o: &SessionSpec) -> bool {
        self.neighbor == o.neighbor
            && self.source == o.source
            && self.ttl == o.ttl
            && self.max_hops == o.max_hops
            && self.multihop == o.multihop
    }
}

/// Every bfd_instance of a configuration.
pub fn specs(c: &model::Config) -> Vec<SessionSpec> {
    c.bfd_instances
        .iter()
        .map(SessionSpec::from_model)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::{LoadOptions, load_str};
    use crate::vrrp::{Tracked, VrrpConfig};

    fn load(text: &str) -> (model::Config, Vec<String>) {
        let l = load_str(text, Path::new("t.conf"), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
        let d = l.diagnostics.iter().map(|d| d.to_string()).collect();
        (l.config, d)
    }

    const CONF: &str = r#"
bfd_instance def {
    neighbour_ip 10.0.0.2
}
bfd_instance tuned {
    neighbor_ip fd00::2
    source_ip fd00::1
    min_rx 3.312
    min_tx 200
    idle_tx 2000
    multiplier 3
    passive
    hoplimit 250
    max_hops 5
    weight -20 reverse
    checker
}
bfd_instance mh {
    neighbor_ip 10.9.0.2
    multihop
}
bfd_instance bad {
    neighbor_ip 10.0.0.9
    min_rx 0
    idle_tx 999
    multiplier 256
}
bfd_instance nope {
    passive
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_bfd {
        def
        tuned weight 10
        ghost
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    virtual_ipaddress {
        10.0.0.101/24
    }
}
vrrp_sync_group G {
    group {
        VI_2
    }
    track_bfd {
        mh
    }
}
"#;

    #[test]
    fn bfd_instance_keywords_defaults_and_keepalived_ranges() {
        let (c, diags) = load(CONF);
        let s = specs(&c);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["def", "tuned", "mh", "bad"], "no neighbor: dropped");
        let d = &s[0];
        assert_eq!(d.session, SessionConfig::default());
        assert_eq!((d.ttl, d.max_hops, d.multihop()), (255, 0, false));
        assert_eq!(d.dest().port(), 3784);
        assert!(d.vrrp && d.checker);
        let t = &s[1];
        assert_eq!(t.session.min_rx, Duration::from_micros(3312));
        assert_eq!(t.session.min_tx, Duration::from_millis(200));
        assert_eq!(t.session.idle_tx, Duration::from_secs(2));
        assert_eq!((t.session.multiplier, t.session.passive), (3, true));
        assert_eq!((t.ttl, t.max_hops), (250, 5));
        assert!(!t.vrrp && t.checker, "`checker` only");
        assert!(t.ttl_ok(Some(250)) && !t.ttl_ok(Some(249)));
        assert_eq!(t.dest().port(), 3784, "max_hops alone: keepalived's port");
        let m = &s[2];
        assert!(m.multihop() && m.max_hops == 255 && m.dest().port() == 4784);
        // Out of range values are warned about and keep the defaults, as keepalived does.
        assert_eq!(s[3].session, SessionConfig::default());
        let text = diags.join("\n");
        for w in [
            "min_rx value 0 is not valid",
            "idle_tx value 999 is not valid",
            "BFD instance nope has no neighbor address",
            "(VI_1) track bfd ghost not found",
        ] {
            assert!(text.contains(w), "{w} missing from:\n{text}");
        }
        assert!(text.contains("256"), "{text}");
        let b = c.bfd_instance("tuned").unwrap();
        assert_eq!((b.weight, b.weight_reverse), (-20, true));
    }

    #[test]
    fn track_bfd_reaches_the_instances_with_weights_and_the_sync_group() {
        let (c, _) = load(CONF);
        let v = VrrpConfig::from_model(&c);
        let vi1 = v.instances.iter().find(|i| i.name == "VI_1").unwrap();
        assert_eq!(
            vi1.track_bfds,
            [
                Tracked {
                    name: "def".into(),
                    weight: None,
                    reverse: false
                },
                Tracked {
                    name: "tuned".into(),
                    weight: Some(10),
                    reverse: true
                },
            ]
        );
        // The sync group's unweighted tracker is every member's.
        let vi2 = v.instances.iter().find(|i| i.name == "VI_2").unwrap();
        assert_eq!(vi2.track_bfds.len(), 1);
        assert_eq!(vi2.track_bfds[0].name, "mh");
    }
}
