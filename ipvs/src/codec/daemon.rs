//! `IPVS_DAEMON_ATTR_*`: the sync-daemon nest, and [`DaemonConfig`] ↔ attributes.
//!
//! STATE is `IP_VS_STATE_MASTER` (1) or `IP_VS_STATE_BACKUP` (2); MCAST_GROUP is an IPv4
//! address in network order, MCAST_GROUP6 16 bytes; MCAST_PORT is host order (unlike service ports; checked against
//! `ipvsadm -L --daemon`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable, emit_u16,
    emit_u32, parse_string, parse_u8, parse_u16, parse_u32,
};

use crate::model::{DaemonConfig, DaemonState};

const IPVS_DAEMON_ATTR_STATE: u16 = 1;
const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

const IP_VS_STATE_MASTER: u32 = 1;
const IP_VS_STATE_BACKUP: u32 = 2;

/// One attribute of the daemon nest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// `IP_VS_STATE_*`.
    State(u32),
    /// Multicast interface.
    McastIfn(String),
    /// Sync id.
    SyncId(u32),
    /// Payload size.
    SyncMaxlen(u16),
    /// IPv4 group.
    McastGroup(Ipv4Addr),
    /// IPv6 group.
    McastGroup6(Ipv6Addr),
    /// Port (host order on the wire).
    McastPort(u16),
    /// TTL.
    McastTtl(u8),
    /// Anything else.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            DaemonAttr::State(_) | DaemonAttr::SyncId(_) | DaemonAttr::McastGroup(_) => 4,
            DaemonAttr::McastIfn(s) => s.len() + 1,
            DaemonAttr::SyncMaxlen(_) | DaemonAttr::McastPort(_) => 2,
            DaemonAttr::McastGroup6(_) => 16,
            DaemonAttr::McastTtl(_) => 1,
            DaemonAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DaemonAttr::State(_) => IPVS_DAEMON_ATTR_STATE,
            DaemonAttr::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            DaemonAttr::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            DaemonAttr::SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            DaemonAttr::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            DaemonAttr::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            DaemonAttr::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            DaemonAttr::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            DaemonAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        // emit_* only fail on a short buffer; Emitable sized it from value_len().
        match self {
            DaemonAttr::State(v) | DaemonAttr::SyncId(v) => {
                let _ = emit_u32(buf, *v);
            }
            DaemonAttr::McastIfn(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            DaemonAttr::SyncMaxlen(v) => {
                let _ = emit_u16(buf, *v);
            }
            DaemonAttr::McastPort(v) => {
                let _ = emit_u16(buf, *v);
            }
            DaemonAttr::McastGroup(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastGroup6(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastTtl(v) => buf[0] = *v,
            DaemonAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => {
                DaemonAttr::State(parse_u32(v).context("invalid IPVS_DAEMON_ATTR_STATE")?)
            }
            IPVS_DAEMON_ATTR_MCAST_IFN => {
                DaemonAttr::McastIfn(parse_string(v).context("invalid IPVS_DAEMON_ATTR_MCAST_IFN")?)
            }
            IPVS_DAEMON_ATTR_SYNC_ID => {
                DaemonAttr::SyncId(parse_u32(v).context("invalid IPVS_DAEMON_ATTR_SYNC_ID")?)
            }
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => DaemonAttr::SyncMaxlen(
                parse_u16(v).context("invalid IPVS_DAEMON_ATTR_SYNC_MAXLEN")?,
            ),
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                let b: [u8; 4] = v
                    .try_into()
                    .map_err(|_| DecodeError::invalid_ip_address(v.len()))?;
                DaemonAttr::McastGroup(Ipv4Addr::from(b))
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let b: [u8; 16] = v
                    .try_into()
                    .map_err(|_| DecodeError::invalid_ip_address(v.len()))?;
                DaemonAttr::McastGroup6(Ipv6Addr::from(b))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                DaemonAttr::McastPort(parse_u16(v).context("invalid IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => {
                DaemonAttr::McastTtl(parse_u8(v).context("invalid IPVS_DAEMON_ATTR_MCAST_TTL")?)
            }
            _ => DaemonAttr::Other(DefaultNla::parse(buf).context("invalid IPVS_DAEMON_ATTR")?),
        })
    }
}

/// Parses the payload of an `IPVS_CMD_ATTR_DAEMON` nest into attributes.
pub(crate) fn parse_daemon_attrs(payload: &[u8]) -> Result<Vec<DaemonAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DaemonAttr::parse(&nla)))
        .collect()
}

fn state_to_kernel(s: DaemonState) -> u32 {
    match s {
        DaemonState::Master => IP_VS_STATE_MASTER,
        DaemonState::Backup => IP_VS_STATE_BACKUP,
    }
}

/// The attributes of NEW_DAEMON (zero-valued optional fields are left to kernel defaults).
pub fn daemon_attrs(d: &DaemonConfig) -> Vec<DaemonAttr> {
    let mut out = vec![
        DaemonAttr::State(state_to_kernel(d.state)),
        DaemonAttr::McastIfn(super::service::capped(&d.mcast_ifn)),
        DaemonAttr::SyncId(d.sync_id),
    ];
    if d.sync_maxlen != 0 {
        out.push(DaemonAttr::SyncMaxlen(d.sync_maxlen));
    }
    match d.mcast_group {
        Some(IpAddr::V4(a)) => out.push(DaemonAttr::McastGroup(a)),
        Some(IpAddr::V6(a)) => out.push(DaemonAttr::McastGroup6(a)),
        None => {}
    }
    if d.mcast_port != 0 {
        out.push(DaemonAttr::McastPort(d.mcast_port));
    }
    if d.mcast_ttl != 0 {
        out.push(DaemonAttr::McastTtl(d.mcast_ttl));
    }
    out
}

/// The attributes of DEL_DAEMON: the state selects which daemon stops.
pub fn daemon_del_attrs(state: DaemonState) -> Vec<DaemonAttr> {
    vec![DaemonAttr::State(state_to_kernel(state))]
}

/// Builds a [`DaemonConfig`] from the attributes of a GET_DAEMON reply.
pub fn daemon_from_attrs(attrs: &[DaemonAttr]) -> Result<DaemonConfig, DecodeError> {
    let mut d = DaemonConfig::new(DaemonState::Master, "", 0);
    let mut state = None;
    for a in attrs {
        match a {
            DaemonAttr::State(IP_VS_STATE_MASTER) => state = Some(DaemonState::Master),
            DaemonAttr::State(IP_VS_STATE_BACKUP) => state = Some(DaemonState::Backup),
            DaemonAttr::State(n) => return Err(format!("unknown sync daemon state {n}").into()),
            DaemonAttr::McastIfn(s) => d.mcast_ifn = s.clone(),
            DaemonAttr::SyncId(v) => d.sync_id = *v,
            DaemonAttr::SyncMaxlen(v) => d.sync_maxlen = *v,
            DaemonAttr::McastGroup(a) => d.mcast_group = Some(IpAddr::V4(*a)),
            DaemonAttr::McastGroup6(a) => d.mcast_group = Some(IpAddr::V6(*a)),
            DaemonAttr::McastPort(v) => d.mcast_port = *v,
            DaemonAttr::McastTtl(v) => d.mcast_ttl = *v,
            DaemonAttr::Other(_) => {}
        }
    }
    d.state = state.ok_or("sync daemon without IPVS_DAEMON_ATTR_STATE")?;
    Ok(d)
}
