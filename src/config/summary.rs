//! A short human summary of a resolved configuration (`lvsd config dump` without `--json`).

use std::fmt::Write;

use super::model::{CheckerKind, Config, Forward, InitialState, Protocol, VsAddress};

pub fn render(c: &Config) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_all(&mut s, c);
    s
}

fn write_all(s: &mut String, c: &Config) -> std::fmt::Result {
    let g = &c.global;
    writeln!(
        s,
        "router_id {}",
        g.router_id.as_deref().unwrap_or("(host name)")
    )?;
    for v in &c.vrrp_instances {
        writeln!(
            s,
            "vrrp_instance {}: {} on {} vrid {} priority {} advert {:?} v{} vips [{}]",
            v.name,
            match v.state {
                InitialState::Master => "MASTER",
                InitialState::Backup => "BACKUP",
            },
            v.interface.as_deref().unwrap_or("-"),
            v.virtual_router_id,
            v.priority,
            v.advert_int,
            v.version,
            v.virtual_ipaddress
                .iter()
                .map(|a| format!("{}/{}", a.addr, a.prefix_len))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        for t in &v.track_scripts {
            writeln!(s, "  track_script {} weight {}", t.name, t.weight)?;
        }
    }
    for vs in &c.virtual_servers {
        let addr = match &vs.address {
            VsAddress::Inet { addr, port } => std::net::SocketAddr::new(*addr, *port).to_string(),
            VsAddress::Fwmark { mark } => format!("fwmark {mark}"),
            VsAddress::Group { name } => format!("group {name}"),
        };
        writeln!(
            s,
            "virtual_server {} {addr}: {} {} delay_loop {:?} quorum {}",
            match vs.protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
            },
            vs.scheduler.name(),
            match vs.forward {
                Forward::Nat => "NAT",
                Forward::Dr => "DR",
                Forward::Tun { .. } => "TUN",
            },
            vs.delay_loop,
            vs.quorum
        )?;
        for rs in &vs.real_servers {
            let checks: Vec<&str> = rs.checkers.iter().map(|c| c.kind.keyword()).collect();
            writeln!(
                s,
                "  real_server {}:{} weight {} checks [{}]",
                rs.addr,
                rs.port,
                rs.weight,
                checks.join(" ")
            )?;
            for ch in &rs.checkers {
                if let CheckerKind::Http(h) = &ch.kind {
                    for u in &h.urls {
                        writeln!(
                            s,
                            "    url {} digest {}",
                            u.path,
                            u.digest.as_deref().unwrap_or("-")
                        )?;
                    }
                }
            }
        }
        if let Some(so) = &vs.sorry_server {
            writeln!(s, "  sorry_server {}:{}", so.addr, so.port)?;
        }
    }
    Ok(())
}
