//! The thin adapter from the configuration model to what the director runs: virtual servers
//! become kernel services (one per address, group member or fwmark), real servers become
//! kernel destinations plus checker specs, scripts become the [`notify::Script`]s resolved
//! (user, security) by [`crate::scripts`]; a disabled script is left out (a disabled
//! MISC_CHECK is removed from its real server, as keepalived does).
//!
//! Nothing here decides health or membership; see `desired.rs` for that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs::{Af, Dest, Service, ServiceFlags, ServiceKey, TunnelType};

use super::desired::{RsSpec, SorrySpec, VsSpec};
use super::spec::{DirectorSpec, Globals, RealServer, VirtualServer};
use crate::config::model as cfg;
use crate::notify;
use crate::scripts::Scripts;

/// A group range larger than this is cut (with a warning): one kernel service per address.
const MAX_GROUP_ADDRESSES: u128 = 65_536;

/// Builds the director's spec from a loaded configuration. Problems that the loader lets
/// through (a huge group range) are returned as warnings, never errors. Scripts are resolved
/// on this host ([`Scripts::resolve`]); see [`director_spec_with`].
pub fn director_spec(config: &cfg::Config) -> (DirectorSpec, Vec<String>) {
    director_spec_with(config, &Scripts::resolve(config))
}

/// [`director_spec`] with the scripts already resolved (once per load, shared with VRRP).
pub fn director_spec_with(config: &cfg::Config, scripts: &Scripts) -> (DirectorSpec, Vec<String>) {
    let mut warnings = Vec::new();
    let virtual_servers = config
        .virtual_servers
        .iter()
        .map(|vs| virtual_server(config, scripts, vs, &mut warnings))
        .collect();
    let g = &config.global;
    let secs = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_secs() as u32);
    let timeouts = (g.lvs_timeouts.tcp.is_some()
        || g.lvs_timeouts.tcpfin.is_some()
        || g.lvs_timeouts.udp.is_some())
    .then(|| ipvs::Timeouts {
        tcp: secs(g.lvs_timeouts.tcp),
        tcp_fin: secs(g.lvs_timeouts.tcpfin),
        udp: secs(g.lvs_timeouts.udp),
    });
    let sync_daemon = g.lvs_sync_daemon.as_ref().map(|d| {
        let mut dc =
            ipvs::DaemonConfig::new(ipvs::DaemonState::Master, &d.interface, u32::from(d.id));
        dc.sync_maxlen = d.maxlen.map_or(0, |m| m.min(u32::from(u16::MAX)) as u16);
        dc.mcast_group = d.group;
        dc.mcast_port = d.port.unwrap_or(0);
        dc.mcast_ttl = d.ttl.unwrap_or(0);
        dc
    });
    let spec = DirectorSpec {
        virtual_servers,
        globals: Globals {
            lvs_flush: g.lvs_flush,
            flush_on_stop: g.lvs_flush_on_stop == cfg::LvsFlushOnStop::Yes,
            timeouts,
            sync_daemon,
            sync_instance: g.lvs_sync_daemon.as_ref().and_then(|d| d.instance.clone()),
            nft_ipvs: crate::nft::ipvs::plan(config),
            rs_init_notifies: config.process.rs_init_notifies,
        },
    };
    (spec, warnings)
}

fn protocol(p: cfg::Protocol) -> ipvs::Protocol {
    match p {
        cfg::Protocol::Tcp => ipvs::Protocol::Tcp,
        cfg::Protocol::Udp => ipvs::Protocol::Udp,
        cfg::Protocol::Sctp => ipvs::Protocol::Sctp,
    }
}

fn af(f: cfg::Family) -> Af {
    match f {
        cfg::Family::Inet6 => Af::Inet6,
        _ => Af::Inet,
    }
}

/// Display key, as ipvsadm prints a service ("TCP 10.0.0.1:80", "FWM 1") or "TCP group web".
pub fn vs_id(vs: &cfg::VirtualServer) -> String {
    let proto = match vs.protocol {
        cfg::Protocol::Tcp => "TCP",
        cfg::Protocol::Udp => "UDP",
        cfg::Protocol::Sctp => "SCTP",
    };
    match &vs.address {
        cfg::VsAddress::Inet { addr, port } => format!("{proto} {}", SocketAddr::new(*addr, *port)),
        cfg::VsAddress::Fwmark { mark } => match vs.family {
            cfg::Family::Inet6 => format!("FWM {mark} IPv6"),
            _ => format!("FWM {mark}"),
        },
        cfg::VsAddress::Group { name } => format!("{proto} group {name}"),
    }
}

fn service_keys(
    config: &cfg::Config,
    vs: &cfg::VirtualServer,
    warnings: &mut Vec<String>,
) -> Vec<ServiceKey> {
    let proto = protocol(vs.protocol);
    match &vs.address {
        cfg::VsAddress::Inet { addr, port } => vec![ServiceKey::Inet {
            addr: *addr,
            protocol: proto,
            port: *port,
        }],
        cfg::VsAddress::Fwmark { mark } => vec![ServiceKey::fwmark(af(vs.family), *mark)],
        cfg::VsAddress::Group { name } => {
            // nftables_ipvs: one fwmark service for the whole group (see crate::nft::ipvs).
            if let Some((family, mark)) = crate::nft::ipvs::fwmark_for(config, vs) {
                return vec![ServiceKey::fwmark(af(family), mark)];
            }
            let Some(group) = config.virtual_server_group(name) else {
                warnings.push(format!("virtual_server group {name}: no such group"));
                return Vec::new();
            };
            let mut keys = Vec::new();
            for e in &group.entries {
                match e {
                    cfg::VsgEntry::Range {
                        first, last, port, ..
                    } => {
                        let addrs = expand(*first, *last);
                        if addrs.len() as u128 >= MAX_GROUP_ADDRESSES {
                            warnings.push(format!(
                                "virtual_server_group {name}: range {first}-{last} cut to {MAX_GROUP_ADDRESSES} addresses"
                            ));
                        }
                        keys.extend(addrs.into_iter().map(|addr| ServiceKey::Inet {
                            addr,
                            protocol: proto,
                            port: *port,
                        }));
                    }
                    cfg::VsgEntry::Fwmark { mark, family, .. } => {
                        keys.push(ServiceKey::fwmark(af(family.unwrap_or(vs.family)), *mark));
                    }
                }
            }
            keys
        }
    }
}

/// Addresses first..=last (same family; empty if reversed), at most `MAX_GROUP_ADDRESSES`.
fn expand(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            (a..=b)
                .take(MAX_GROUP_ADDRESSES as usize)
                .map(|x| IpAddr::V4(Ipv4Addr::from(x)))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            (a..=b)
                .take(MAX_GROUP_ADDRESSES as usize)
                .map(|x| IpAddr::V6(Ipv6Addr::from(x)))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// A persistence granularity as a prefix length: a dotted IPv4 mask or a number.
fn netmask(g: &str, af: Af) -> Option<u8> {
    if let Ok(m) = g.parse::<Ipv4Addr>() {
        let bits = u32::from(m);
        return (bits.leading_ones() + bits.trailing_zeros() == 32)
            .then_some(bits.leading_ones() as u8);
    }
    g.parse::<u8>().ok().filter(|p| *p <= af.max_prefix())
}

fn service(vs: &cfg::VirtualServer, key: ServiceKey) -> Service {
    let scheduler = ipvs::Scheduler::from_name(vs.scheduler.name());
    let mut s = Service::new(key, scheduler);
    let mut flags = 0;
    if vs.sched_flags.flag_1 {
        flags |= ServiceFlags::SCHED1;
    }
    if vs.sched_flags.flag_2 {
        flags |= ServiceFlags::SCHED2;
    }
    if vs.sched_flags.flag_3 {
        flags |= ServiceFlags::SCHED3;
    }
    if vs.ops {
        flags |= ServiceFlags::ONEPACKET;
    }
    s.flags = ServiceFlags(flags);
    if let Some(p) = &vs.persistence {
        s = s.persistent(p.timeout.as_secs().min(u64::from(u32::MAX)) as u32);
        if let Some(m) = p.granularity.as_deref().and_then(|g| netmask(g, key.af())) {
            s.netmask = m;
        }
    }
    s.pe_name = vs.persistence_engine.clone();
    s
}

fn dest(addr: IpAddr, port: u16, forward: cfg::Forward, weight: i64) -> Dest {
    let (fwd, tun_type, tun_port, tun_flags) = match forward {
        cfg::Forward::Nat => (ipvs::Forward::Masq, TunnelType::Ipip, 0, 0),
        cfg::Forward::Dr => (ipvs::Forward::DirectRoute, TunnelType::Ipip, 0, 0),
        cfg::Forward::Tun { tunnel, checksum } => {
            let (t, p) = match tunnel {
                cfg::TunnelType::Ipip => (TunnelType::Ipip, 0),
                cfg::TunnelType::Gue { port } => (TunnelType::Gue, port),
                cfg::TunnelType::Gre => (TunnelType::Gre, 0),
            };
            // IP_VS_TUNNEL_ENCAP_FLAG_{NOCSUM,CSUM,REMCSUM} = 0, 1, 2.
            let f = match checksum {
                cfg::TunnelChecksum::Nocsum => 0,
                cfg::TunnelChecksum::Csum => 1,
                cfg::TunnelChecksum::Remcsum => 2,
            };
            (ipvs::Forward::Tunnel, t, p, f)
        }
    };
    let mut d = Dest::new(addr, port, fwd).weight(weight.clamp(0, i64::from(i32::MAX)) as u32);
    d.tun_type = tun_type;
    d.tun_port = tun_port;
    d.tun_flags = tun_flags;
    d
}

fn virtual_server(
    config: &cfg::Config,
    scripts: &Scripts,
    vs: &cfg::VirtualServer,
    warnings: &mut Vec<String>,
) -> VirtualServer {
    let services: Vec<Service> = service_keys(config, vs, warnings)
        .into_iter()
        .map(|k| service(vs, k))
        .collect();
    // A group's fwmark service (nftables_ipvs): as keepalived, real servers it does not NAT
    // to get port 0 (the packet is forwarded unchanged).
    let nft_mark = crate::nft::ipvs::fwmark_for(config, vs).is_some();
    let port = |p: u16, f: cfg::Forward| {
        if nft_mark && f != cfg::Forward::Nat {
            0
        } else {
            p
        }
    };
    let real_servers: Vec<RealServer> = vs
        .real_servers
        .iter()
        .map(|rs| RealServer {
            dest: {
                let mut d = dest(
                    rs.addr,
                    port(rs.port, rs.forward),
                    rs.forward,
                    i64::from(rs.weight),
                );
                d.u_threshold = rs.uthreshold;
                d.l_threshold = rs.lthreshold;
                d
            },
            checks: rs
                .checkers
                .iter()
                .flat_map(|c| check_specs(config, scripts, rs, c))
                .collect(),
            bfd: rs.bfd_checks.clone(),
            notify_up: boxed_script(scripts, &rs.notify_up),
            notify_down: boxed_script(scripts, &rs.notify_down),
        })
        .collect();
    let core = VsSpec {
        id: vs_id(vs),
        quorum: u64::from(vs.quorum),
        hysteresis: u64::from(vs.hysteresis),
        sorry: vs
            .sorry_server
            .as_ref()
            .map(|s| SorrySpec { inhibit: s.inhibit }),
        real_servers: vs
            .real_servers
            .iter()
            .zip(&real_servers)
            .map(|(rs, r)| RsSpec {
                addr: SocketAddr::new(rs.addr, rs.port),
                weight: i64::from(rs.weight),
                inhibit_on_failure: rs.inhibit_on_failure,
                checked: !r.checks.is_empty() || !r.bfd.is_empty(),
                alpha: rs.alpha,
                slow_start: rs.slow_start,
            })
            .collect(),
    };
    // ha_suspend waits for the service addresses (a fwmark has none: cleared at load).
    let mut ha_suspend: Vec<IpAddr> = Vec::new();
    if vs.ha_suspend {
        ha_suspend.extend(services.iter().filter_map(|s| match s.key {
            ServiceKey::Inet { addr, .. } => Some(addr),
            ServiceKey::Fwmark { .. } => None,
        }));
        ha_suspend.dedup();
    }
    VirtualServer {
        core,
        services,
        real_servers,
        sorry: vs
            .sorry_server
            .as_ref()
            .map(|s| dest(s.addr, port(s.port, s.forward), s.forward, 1)),
        quorum_up: script(scripts, &vs.quorum_up),
        quorum_down: script(scripts, &vs.quorum_down),
        ha_suspend,
        omega: vs.omega,
    }
}

fn tls_verify(v: &cfg::TlsVerifySetting) -> checkers::TlsVerify {
    match v {
        cfg::TlsVerifySetting::Off => checkers::TlsVerify::None,
        cfg::TlsVerifySetting::SystemRoots => checkers::TlsVerify::SystemRoots,
        cfg::TlsVerifySetting::CaFile(p) => checkers::TlsVerify::CaFile(p.clone()),
    }
}

/// The runnable script, None when absent or disabled.
fn script(scripts: &Scripts, s: &Option<cfg::Script>) -> Option<notify::Script> {
    scripts.get(s.as_ref()?).cloned()
}

fn boxed_script(scripts: &Scripts, s: &Option<Box<cfg::Script>>) -> Option<notify::Script> {
    scripts.get(s.as_deref()?).cloned()
}

/// One checker block as the checks it runs: one, or one per SMTP_CHECK `host` (the real server
/// is up only while all pass, as every check of it must).
pub fn check_specs(
    config: &cfg::Config,
    scripts: &Scripts,
    rs: &cfg::RealServer,
    c: &cfg::Checker,
) -> Vec<checkers::Spec> {
    let Some(spec) = check_spec(config, scripts, rs, c) else {
        return Vec::new();
    };
    match &c.kind {
        cfg::CheckerKind::Smtp(s) if !s.hosts.is_empty() => s
            .hosts
            .iter()
            .map(|h| checkers::Spec {
                target: SocketAddr::new(h.target.ip, h.target.port),
                timing: timing(&h.timing),
                bind: bind(&h.target),
                ..spec.clone()
            })
            .collect(),
        _ => vec![spec],
    }
}

fn timing(t: &cfg::CheckTiming) -> checkers::Timing {
    checkers::Timing {
        delay_loop: t.delay_loop,
        connect_timeout: t.connect_timeout,
        retry: t.retry,
        delay_before_retry: t.delay_before_retry,
        warmup: Some(t.warmup),
        alpha: t.alpha,
    }
}

fn bind(t: &cfg::CheckTarget) -> checkers::Bind {
    checkers::Bind {
        addr: t.bindto,
        port: t.bind_port,
        interface: t.bind_if.clone(),
        fwmark: t.fwmark,
    }
}

/// One checker block as a checker spec. `None` for a FILE_CHECK whose track_file is unknown
/// (the loader reports that) and for a MISC_CHECK whose script is disabled ([`Scripts`]).
pub fn check_spec(
    config: &cfg::Config,
    scripts: &Scripts,
    rs: &cfg::RealServer,
    c: &cfg::Checker,
) -> Option<checkers::Spec> {
    use checkers::CheckKind;
    let kind = match &c.kind {
        cfg::CheckerKind::Http(h) => {
            let spec = http_spec(config, rs, h);
            if h.tls {
                CheckKind::Ssl(spec)
            } else {
                CheckKind::Http(spec)
            }
        }
        cfg::CheckerKind::Tcp => CheckKind::Tcp(checkers::TcpSpec {}),
        cfg::CheckerKind::Smtp(s) => CheckKind::Smtp(checkers::SmtpSpec {
            helo_name: s
                .helo_name
                .clone()
                .or_else(|| config.global.smtp_helo_name.clone())
                .unwrap_or_else(|| checkers::SmtpSpec::default().helo_name),
        }),
        cfg::CheckerKind::Dns(d) => CheckKind::Dns(dns_spec(d)),
        cfg::CheckerKind::Misc(m) => CheckKind::Misc(checkers::MiscSpec {
            script: scripts.get(&m.script)?.clone(),
            timeout: Some(m.timeout),
            dynamic: m.dynamic,
        }),
        cfg::CheckerKind::Udp(u) => CheckKind::Udp(udp_spec(u)),
        cfg::CheckerKind::Ping => CheckKind::Ping(checkers::PingSpec {}),
        cfg::CheckerKind::Grpc(g) => CheckKind::Grpc(checkers::GrpcSpec {
            service: g.service.clone(),
            tls: g.tls,
            verify: tls_verify(&g.tls_verify),
            authority: g.authority.clone(),
        }),
        cfg::CheckerKind::File(f) => {
            let tf = config.track_file(&f.track_file)?;
            CheckKind::File(checkers::FileSpec {
                path: tf.file.clone(),
                weight: i64::from(f.weight),
                reverse: f.reverse,
                dynamic: f.dynamic,
            })
        }
    };
    Some(checkers::Spec {
        target: SocketAddr::new(c.target.ip, c.target.port),
        kind,
        timing: timing(&c.timing),
        bind: bind(&c.target),
    })
}

/// An HTTP_GET / SSL_GET block as the checkers' HTTP spec.
fn http_spec(config: &cfg::Config, rs: &cfg::RealServer, h: &cfg::HttpCheck) -> checkers::HttpSpec {
    use checkers::{HttpProtocol, HttpSpec, UrlSpec};
    HttpSpec {
        urls: h
            .urls
            .iter()
            .map(|u| UrlSpec {
                path: u.path.clone(),
                status_codes: u.status_codes.iter().map(|&(a, b)| a..=b).collect(),
                digest: u.digest.clone(),
                virtualhost: u.virtualhost.clone(),
                regex: u.regex_spec(),
            })
            .collect(),
        protocol: match h.http_protocol {
            cfg::HttpProtocol::Http10 => HttpProtocol::Http10,
            cfg::HttpProtocol::Http10Close => HttpProtocol::Http10Close,
            cfg::HttpProtocol::Http11 => HttpProtocol::Http11,
            cfg::HttpProtocol::Http2 => HttpProtocol::Http2,
        },
        virtualhost: rs.virtualhost.clone(),
        enable_sni: h.enable_sni,
        sni_name: h.sni_name.clone(),
        fast_recovery: h.fast_recovery,
        verify: tls_verify(&h.tls_verify),
        // keepalived presents the global `SSL { certificate key }` pair, if both are set.
        client_cert: config.ssl.as_ref().and_then(|ssl| {
            Some(checkers::ClientCert {
                cert: ssl.certificate.clone()?,
                key: ssl.key.clone()?,
            })
        }),
    }
}

/// A DNS_CHECK block as the checkers' DNS spec.
fn dns_spec(d: &cfg::DnsCheck) -> checkers::DnsSpec {
    checkers::DnsSpec {
        qtype: match d.query_type {
            cfg::DnsType::A => checkers::DnsType::A,
            cfg::DnsType::Ns => checkers::DnsType::Ns,
            cfg::DnsType::Cname => checkers::DnsType::Cname,
            cfg::DnsType::Soa => checkers::DnsType::Soa,
            cfg::DnsType::Mx => checkers::DnsType::Mx,
            cfg::DnsType::Txt => checkers::DnsType::Txt,
            cfg::DnsType::Aaaa => checkers::DnsType::Aaaa,
        },
        name: d.name.clone(),
    }
}

/// A UDP_CHECK block as the checkers' UDP spec (the reply pattern with its mask, 0xff where
/// the mask is shorter).
fn udp_spec(u: &cfg::UdpCheck) -> checkers::UdpSpec {
    checkers::UdpSpec {
        payload: u.payload.clone().unwrap_or_default(),
        require_reply: u.require_reply.as_ref().map(|p| {
            p.bytes
                .iter()
                .zip(p.mask.iter().chain(std::iter::repeat(&0xff)))
                .map(|(b, m)| (*b, *m))
                .collect()
        }),
        min_reply_length: u.min_reply_length as usize,
        max_reply_length: u.max_reply_length as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_inclusively_and_are_capped() {
        let v = expand("10.0.0.250".parse().unwrap(), "10.0.1.2".parse().unwrap());
        assert_eq!(v.len(), 9);
        assert_eq!(v[8], "10.0.1.2".parse::<IpAddr>().unwrap());
        assert!(expand("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()).is_empty());
        let big = expand(
            "10.0.0.0".parse().unwrap(),
            "10.255.255.255".parse().unwrap(),
        );
        assert_eq!(big.len() as u128, MAX_GROUP_ADDRESSES);
        let v6 = expand(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::3".parse().unwrap(),
        );
        assert_eq!(v6.len(), 3);
    }

    #[test]
    fn granularity_masks() {
        assert_eq!(netmask("255.255.255.0", Af::Inet), Some(24));
        assert_eq!(netmask("255.0.255.0", Af::Inet), None);
        assert_eq!(netmask("64", Af::Inet6), Some(64));
        assert_eq!(netmask("129", Af::Inet6), None);
    }
}
