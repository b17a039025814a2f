//! Whole-config checks that need more than one block, applied with keepalived's outcome:
//! warnings that drop or clear the offending setting (keepalived 2.2.7 refuses none of these:
//! `-t` exits 5 and it runs the rest). Pure: no file system, no interfaces (that is
//! [`super::host`]).

use std::collections::HashMap;

use super::diag::{Diagnostic, Severity, SourceMap};
use super::model::{
    AuthType, Config, Family, Forward, InitialState, VirtualServer, VrrpInstance, VsAddress,
};

pub fn validate(config: &mut Config, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    let mut out = Out {
        sources,
        diags,
        notes: Vec::new(),
    };
    // Instances keepalived drops (index), after the per-instance checks.
    let mut dropped: Vec<usize> = Vec::new();
    for (idx, vi) in config.vrrp_instances.iter_mut().enumerate() {
        if instance_addresses(&mut out, vi) {
            dropped.push(idx);
        } else if vi.interface.is_none() {
            interfaceless(&mut out, vi);
        }
        instance_state(&mut out, vi);
        instance_options(&mut out, vi);
    }
    duplicate_instances(&mut out, config, &mut dropped);
    let mut idx = 0;
    config.vrrp_instances.retain(|_| {
        idx += 1;
        !dropped.contains(&(idx - 1))
    });
    sync_groups(&mut out, config);
    sync_group_weights(&mut out, config);
    if let Some(d) = &config.global.lvs_sync_daemon
        && let Some(inst) = &d.instance
        && config.vrrp_instance(inst).is_none()
    {
        // keepalived 2.2.7 says nothing: lvsd's own finding.
        out.note(
            d.span,
            format!("lvs_sync_daemon names vrrp_instance {inst}, which is not defined"),
        );
    }

    virtual_servers(&mut out, config);
    // lvsd's own findings come after keepalived's.
    let Out { diags, notes, .. } = out;
    diags.extend(notes);
}

/// A unicast instance without `interface`. keepalived 2.2.7 refuses these too ("Unknown
/// interface!", its issue #2270, fixed in 2.2.8): `-t` says so with its exit code; lvsd runs
/// the instance as keepalived.conf(5) documents.
fn interfaceless(out: &mut Out, vi: &VrrpInstance) {
    let how = match &vi.vrf {
        Some(v) => format!("bound to VRF {v}"),
        None => "bound to no interface".to_string(),
    };
    out.warn(
        vi.span,
        format!(
            "({}) no `interface`: keepalived 2.2.7 refuses a unicast instance without one (fixed in 2.2.8); lvsd runs it {how}",
            vi.name
        ),
    );
}

/// Where the checks put what they find: keepalived's warnings as they come, lvsd's own
/// findings (keepalived says nothing) as notes added at the end.
struct Out<'s> {
    sources: &'s SourceMap,
    diags: &'s mut Vec<Diagnostic>,
    notes: Vec<Diagnostic>,
}

impl Out<'_> {
    fn warn(&mut self, span: super::diag::Span, msg: String) {
        let d = self.sources.diagnostic(Severity::Warning, span, msg);
        self.diags.push(d);
    }
    fn note(&mut self, span: super::diag::Span, msg: String) {
        let d = self.sources.diagnostic(Severity::Note, span, msg);
        self.notes.push(d);
    }
}

/// An instance's addresses of the wrong family, and its interface: true if keepalived drops
/// the instance.
fn instance_addresses(out: &mut Out, vi: &mut VrrpInstance) -> bool {
    let mut dropped = false;
    let name = vi.name.clone();
    // Addresses of the wrong family cannot be carried in this instance's adverts.
    let fam = vi.family;
    vi.virtual_ipaddress.retain(|a| {
        if Family::of(&a.addr) == fam {
            true
        } else {
            out.warn(
                a.span,
                format!(
                    "({name}) {} is not of the instance's address family ({}); ignored — put mixed families in virtual_ipaddress_excluded",
                    a.addr,
                    if fam == Family::Inet { "IPv4" } else { "IPv6" }
                ),
            );
            false
        }
    });
    if vi.interface.is_none() && vi.unicast_peers.is_empty() {
        out.warn(
            vi.span,
            format!(
                "({name}) no `interface`: a multicast vrrp_instance needs one; the instance is ignored"
            ),
        );
        dropped = true;
    }
    dropped
}

/// Strict mode and AH authentication against the initial state.
fn instance_state(out: &mut Out, vi: &mut VrrpInstance) {
    let name = vi.name.clone();
    if vi.strict_mode {
        if vi.state == InitialState::Master && vi.priority != 255 {
            out.warn(
                vi.priority_span.unwrap_or(vi.span),
                format!(
                    "({name}) strict mode: state MASTER must match being address owner (priority 255); starting as BACKUP"
                ),
            );
            vi.state = InitialState::Backup;
        }
        if let Some(a) = vi.authentication.take() {
            out.warn(
                a.span,
                format!("({name}) strict mode does not support authentication; ignored"),
            );
        }
        if !vi.unicast_peers.is_empty() {
            // keepalived 2.2.7 says nothing: lvsd's own finding.
            out.note(
                vi.span,
                format!("({name}) strict mode does not support unicast peers"),
            );
        }
    }
    if vi.state == InitialState::Master
        && let Some(a) = &vi.authentication
        && a.auth_type == AuthType::Ah
    {
        out.warn(
            a.span,
            format!(
                "({name}) initial state MASTER is incompatible with AH authentication; starting as BACKUP"
            ),
        );
        vi.state = InitialState::Backup;
    }
}

/// VIPs, VRRPv3 authentication, tracking the own interface, advert_int of VRRPv2.
fn instance_options(out: &mut Out, vi: &mut VrrpInstance) {
    let name = vi.name.clone();
    if vi.virtual_ipaddress.is_empty() {
        out.warn(
            vi.span,
            format!("({name}) no VIP specified; at least one is sensible"),
        );
    }
    if vi.version == 3
        && let Some(a) = vi.authentication.take()
    {
        out.warn(
            a.span,
            format!("({name}) VRRPv3 has no authentication; ignored"),
        );
    }
    if let Some(own) = vi.interface.clone() {
        vi.track_interfaces.retain(|t| {
            if t.name == own && t.weight == 0 {
                out.warn(t.span, format!("({name}) ignoring track_interface {own}: it is the instance's own interface"));
                false
            } else {
                true
            }
        });
    }
    if vi.version == 2 && vi.advert_int.subsec_nanos() != 0 {
        out.warn(
            vi.span,
            format!(
                "({name}) VRRPv2 adverts carry whole seconds; advert_int {:?} rounded",
                vi.advert_int
            ),
        );
        let secs = vi.advert_int.as_secs_f64().round().max(1.0) as u64;
        vi.advert_int = std::time::Duration::from_secs(secs);
    }
}

/// Instances keepalived drops as duplicates: a VRID used twice on one interface and family
/// (multicast, or overlapping unicast peers), a name defined twice.
fn duplicate_instances(out: &mut Out, config: &Config, dropped: &mut Vec<usize>) {
    // Duplicate VRID on one interface and family (multicast, or overlapping unicast peers).
    let mut seen: HashMap<(Option<String>, Family, u8), usize> = HashMap::new();
    for (i, vi) in config.vrrp_instances.iter().enumerate() {
        let key = (vi.interface.clone(), vi.family, vi.virtual_router_id);
        if let Some(&j) = seen.get(&key) {
            let other = &config.vrrp_instances[j];
            let disjoint_unicast = !vi.unicast_peers.is_empty()
                && !other.unicast_peers.is_empty()
                && !vi
                    .unicast_peers
                    .iter()
                    .any(|p| other.unicast_peers.iter().any(|q| q.addr == p.addr));
            let other_group = vi.mcast_dst_ip.is_some() && vi.mcast_dst_ip != other.mcast_dst_ip;
            if !disjoint_unicast && !other_group {
                dropped.push(i);
                out.warn(
                    vi.virtual_router_id_span,
                    format!(
                        "({}) virtual_router_id {} is already used by {} on interface {} (line {}); the instance is ignored",
                        vi.name,
                        vi.virtual_router_id,
                        other.name,
                        vi.interface.as_deref().unwrap_or("-"),
                        other.virtual_router_id_span.line
                    ),
                );
            }
        } else {
            seen.insert(key, i);
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, vi) in config.vrrp_instances.iter().enumerate() {
        if let Some(prev) = names.insert(&vi.name, vi.span.line as usize) {
            dropped.push(i);
            out.warn(
                vi.span,
                format!(
                    "vrrp_instance {} is defined twice (first at line {prev}); this one is ignored",
                    vi.name
                ),
            );
        }
    }
}

/// Sync groups: members must exist and belong to one group only.
fn sync_groups(out: &mut Out, config: &mut Config) {
    let mut member_of: HashMap<String, String> = HashMap::new();
    for g in &mut config.vrrp_sync_groups {
        let gname = g.name.clone();
        let span = g.span;
        let instances: Vec<String> = config
            .vrrp_instances
            .iter()
            .map(|v| v.name.clone())
            .collect();
        g.group.retain(|m| {
            if !instances.contains(m) {
                out.warn(
                    span,
                    format!("vrrp_sync_group {gname}: vrrp_instance {m} is not defined; ignored"),
                );
                return false;
            }
            if let Some(prev) = member_of.insert(m.clone(), gname.clone()) {
                out.warn(
                    span,
                    format!(
                        "vrrp_sync_group {gname}: {m} is already in sync group {prev}; ignored"
                    ),
                );
                return false;
            }
            true
        });
        match g.group.len() {
            0 => out.warn(
                span,
                format!("sync group {gname} has no virtual router(s); removing"),
            ),
            1 => out.warn(
                span,
                format!(
                    "sync group {gname} has only 1 virtual router(s) - this probably isn't what you want"
                ),
            ),
            _ => {}
        }
    }
    config.vrrp_sync_groups.retain(|g| !g.group.is_empty());
}

/// keepalived ignores weighted tracking in the members of a sync group unless the group
/// says `sync_group_tracking_weight`: the group moves as one, so one member's priority
/// must not differ. The deprecated `global_tracking` means the same (keepalived 2.2.7).
fn sync_group_weights(out: &mut Out, config: &mut Config) {
    for g in &config.vrrp_sync_groups {
        if g.sync_group_tracking_weight || g.global_tracking {
            continue;
        }
        for vi in config
            .vrrp_instances
            .iter_mut()
            .filter(|v| g.group.contains(&v.name))
        {
            let name = vi.name.clone();
            vi.track_scripts.retain(|t| {
                if t.weight == 0 {
                    return true;
                }
                out.warn(
                    t.span,
                    format!(
                        "({name}) ignoring tracked script {} with weights due to SYNC group",
                        t.name
                    ),
                );
                false
            });
            vi.track_interfaces.retain(|t| {
                if t.weight == 0 {
                    return true;
                }
                out.warn(
                    t.span,
                    format!(
                        "({name}) ignoring tracked interface {} with weights due to SYNC group",
                        t.name
                    ),
                );
                false
            });
            vi.track_files.retain(|t| {
                if t.weight == 0 {
                    return true;
                }
                out.warn(
                    t.span,
                    format!(
                        "({name}) ignoring tracked file {} with weights due to SYNC group",
                        t.name
                    ),
                );
                false
            });
        }
    }
}

/// Virtual servers keepalived runs without (unknown group, defined twice) and real servers it
/// ignores (other family, defined twice).
/// A service over a group with a `fwmark` entry: its real servers' ports mean nothing there.
/// keepalived 2.2.7 warns (and, as for a fwmark service, keeps the port).
fn group_fwmark_ports(out: &mut Out, config: &Config, vs: &VirtualServer) {
    let VsAddress::Group { name } = &vs.address else {
        return;
    };
    let has_mark = config.virtual_server_group(name).is_some_and(|g| {
        g.entries
            .iter()
            .any(|e| matches!(e, super::model::VsgEntry::Fwmark { .. }))
    });
    for rs in vs.real_servers.iter().filter(|rs| has_mark && rs.port != 0) {
        out.warn(
            rs.span,
            format!(
                "fwmark virtual server group {name}, real server {} has port {} specified - the port is ignored for the group's fwmark entries",
                rs.addr, rs.port
            ),
        );
    }
}

fn virtual_servers(out: &mut Out, config: &mut Config) {
    let mut keys: HashMap<String, u32> = HashMap::new();
    let groups: Vec<String> = config
        .virtual_server_groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let mut keep = Vec::with_capacity(config.virtual_servers.len());
    for mut vs in std::mem::take(&mut config.virtual_servers) {
        if let VsAddress::Group { name } = &vs.address
            && !groups.contains(name)
        {
            // keepalived 2.2.7 says nothing and runs without this virtual server.
            out.note(
                vs.span,
                format!(
                    "virtual_server group {name}: no virtual_server_group of that name; ignored"
                ),
            );
            continue;
        }
        group_fwmark_ports(out, config, &vs);
        let key = vs_key(&vs);
        if let Some(line) = keys.get(&key) {
            // keepalived 2.2.7 says nothing (and fails to add the second at run time).
            out.note(
                vs.span,
                format!(
                    "virtual_server {key} is already defined at line {line}; this one is ignored"
                ),
            );
            continue;
        }
        keys.insert(key, vs.span.line);
        let fam = vs.family;
        let mut seen_rs: HashMap<(std::net::IpAddr, u16), u32> = HashMap::new();
        vs.real_servers.retain(|rs| {
            let tunnelled = matches!(rs.forward, Forward::Tun { .. });
            if !tunnelled && Family::of(&rs.addr) != fam {
                out.warn(
                    rs.span,
                    format!(
                        "real_server {} is not of the virtual server's address family; ignored",
                        rs.addr
                    ),
                );
                return false;
            }
            if let Some(line) = seen_rs.insert((rs.addr, rs.port), rs.span.line) {
                out.warn(
                    rs.span,
                    format!(
                        "real_server {} {} is already defined at line {line}; ignored",
                        rs.addr, rs.port
                    ),
                );
                return false;
            }
            true
        });
        keep.push(vs);
    }
    config.virtual_servers = keep;
}

/// The identity of a virtual server as ipvsadm shows it.
fn vs_key(vs: &VirtualServer) -> String {
    let proto = match vs.protocol {
        super::model::Protocol::Tcp => "TCP",
        super::model::Protocol::Udp => "UDP",
        super::model::Protocol::Sctp => "SCTP",
    };
    match &vs.address {
        VsAddress::Inet { addr, port } => {
            format!("{proto} {}", std::net::SocketAddr::new(*addr, *port))
        }
        VsAddress::Fwmark { mark } => format!("FWM {mark} {:?}", vs.family),
        VsAddress::Group { name } => format!("{proto} group {name}"),
    }
}
