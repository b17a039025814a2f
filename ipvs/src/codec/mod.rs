//! IPVS generic-netlink messages as bytes (linux/ip_vs.h), with no sockets.
//!
//! A message is a genl header (command, version 1) followed by attributes:
//!
//! ```text
//! IpvsMessage { cmd: IpvsCmd, attrs: Vec<CmdAttr> }
//!   CmdAttr::Service(Vec<SvcAttr>)    IPVS_CMD_ATTR_SERVICE (nested)   service.rs
//!   CmdAttr::Dest(Vec<DestAttr>)      IPVS_CMD_ATTR_DEST (nested)      dest.rs
//!   CmdAttr::Daemon(Vec<DaemonAttr>)  IPVS_CMD_ATTR_DAEMON (nested)    daemon.rs
//!   CmdAttr::TimeoutTcp/TcpFin/Udp    IPVS_CMD_ATTR_TIMEOUT_* (u32 s)
//!   CmdAttr::InfoVersion/ConnTabSize  IPVS_INFO_ATTR_* (only in the SET_INFO reply to GET_INFO,
//!                                     where attribute numbers 1..2 mean info, not service/dest)
//! ```
//!
//! Each `*Attr` enum keeps unknown attributes as `Other(DefaultNla)`, so newer kernels parse.
//! Request constructors (`IpvsMessage::new_service`, …) build from the model; reply readers
//! (`service_from_attrs`, …) build the model back. Parsing never panics on arbitrary bytes
//! (property-tested in tests/).

mod addr;
mod daemon;
mod dest;
pub mod frame;
mod service;
mod stats;
#[cfg(test)]
mod tests;

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator,
    Parseable, ParseableParametrized, emit_u32, parse_u32,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

pub use daemon::{DaemonAttr, daemon_attrs, daemon_del_attrs, daemon_from_attrs};
pub use dest::{DestAttr, dest_attrs, dest_from_attrs, dest_key_attrs};
pub use service::{SvcAttr, key_attrs, service_attrs, service_from_attrs};

use crate::model::{
    Af, DaemonConfig, DaemonState, Dest, DestKey, Info, Service, ServiceKey, Timeouts,
};
use service::attrs_len;

/// Family name to resolve through nlctrl.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// Family version.
pub const IPVS_GENL_VERSION: u8 = 1;

/// `IPVS_CMD_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsCmd {
    /// Add a service; also the command of service dump replies.
    NewService,
    /// Edit a service.
    SetService,
    /// Delete a service.
    DelService,
    /// Get/dump services.
    GetService,
    /// Add a destination; also the command of destination dump replies.
    NewDest,
    /// Edit a destination.
    SetDest,
    /// Delete a destination.
    DelDest,
    /// Dump the destinations of a service.
    GetDest,
    /// Start a sync daemon; also the command of daemon dump replies.
    NewDaemon,
    /// Stop a sync daemon.
    DelDaemon,
    /// Dump sync daemons.
    GetDaemon,
    /// Set timeouts; also the command of the GET_CONFIG reply.
    SetConfig,
    /// Get timeouts.
    GetConfig,
    /// Only the command of the GET_INFO reply.
    SetInfo,
    /// Get version and connection table size.
    GetInfo,
    /// Zero counters (of one service, or all).
    Zero,
    /// Delete every service.
    Flush,
    /// Any other value.
    Other(u8),
}

impl From<IpvsCmd> for u8 {
    fn from(c: IpvsCmd) -> u8 {
        match c {
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            IpvsCmd::NewDaemon => 9,
            IpvsCmd::DelDaemon => 10,
            IpvsCmd::GetDaemon => 11,
            IpvsCmd::SetConfig => 12,
            IpvsCmd::GetConfig => 13,
            IpvsCmd::SetInfo => 14,
            IpvsCmd::GetInfo => 15,
            IpvsCmd::Zero => 16,
            IpvsCmd::Flush => 17,
            IpvsCmd::Other(n) => n,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        match n {
            1 => IpvsCmd::NewService,
            2 => IpvsCmd::SetService,
            3 => IpvsCmd::DelService,
            4 => IpvsCmd::GetService,
            5 => IpvsCmd::NewDest,
            6 => IpvsCmd::SetDest,
            7 => IpvsCmd::DelDest,
            8 => IpvsCmd::GetDest,
            9 => IpvsCmd::NewDaemon,
            10 => IpvsCmd::DelDaemon,
            11 => IpvsCmd::GetDaemon,
            12 => IpvsCmd::SetConfig,
            13 => IpvsCmd::GetConfig,
            14 => IpvsCmd::SetInfo,
            15 => IpvsCmd::GetInfo,
            16 => IpvsCmd::Zero,
            17 => IpvsCmd::Flush,
            n => IpvsCmd::Other(n),
        }
    }
}

const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;
const IPVS_CMD_ATTR_DAEMON: u16 = 3;
const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;
const IPVS_INFO_ATTR_VERSION: u16 = 1;
const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

/// A top-level attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdAttr {
    /// The service nest.
    Service(Vec<SvcAttr>),
    /// The destination nest.
    Dest(Vec<DestAttr>),
    /// The sync-daemon nest.
    Daemon(Vec<DaemonAttr>),
    /// TCP timeout, seconds.
    TimeoutTcp(u32),
    /// TCP FIN timeout, seconds.
    TimeoutTcpFin(u32),
    /// UDP timeout, seconds.
    TimeoutUdp(u32),
    /// Version code (GET_INFO reply only).
    InfoVersion(u32),
    /// Connection table size (GET_INFO reply only).
    InfoConnTabSize(u32),
    /// Anything else.
    Other(DefaultNla),
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(a) => attrs_len(a),
            CmdAttr::Dest(a) => attrs_len(a),
            CmdAttr::Daemon(a) => attrs_len(a),
            CmdAttr::TimeoutTcp(_)
            | CmdAttr::TimeoutTcpFin(_)
            | CmdAttr::TimeoutUdp(_)
            | CmdAttr::InfoVersion(_)
            | CmdAttr::InfoConnTabSize(_) => 4,
            CmdAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
            CmdAttr::Dest(_) => IPVS_CMD_ATTR_DEST | NLA_F_NESTED,
            CmdAttr::Daemon(_) => IPVS_CMD_ATTR_DAEMON | NLA_F_NESTED,
            CmdAttr::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            CmdAttr::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            CmdAttr::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            CmdAttr::InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            CmdAttr::InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            CmdAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            CmdAttr::Service(a) => a.as_slice().emit(buf),
            CmdAttr::Dest(a) => a.as_slice().emit(buf),
            CmdAttr::Daemon(a) => a.as_slice().emit(buf),
            CmdAttr::TimeoutTcp(v)
            | CmdAttr::TimeoutTcpFin(v)
            | CmdAttr::TimeoutUdp(v)
            | CmdAttr::InfoVersion(v)
            | CmdAttr::InfoConnTabSize(v) => {
                // Only fails on a short buffer; Emitable sized it from value_len().
                let _ = emit_u32(buf, *v);
            }
            CmdAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl CmdAttr {
    fn parse(buf: &NlaBuffer<&[u8]>, cmd: IpvsCmd) -> Result<Self, DecodeError> {
        let v = buf.value();
        if cmd == IpvsCmd::SetInfo {
            return Ok(match buf.kind() {
                IPVS_INFO_ATTR_VERSION => {
                    CmdAttr::InfoVersion(parse_u32(v).context("invalid IPVS_INFO_ATTR_VERSION")?)
                }
                IPVS_INFO_ATTR_CONN_TAB_SIZE => CmdAttr::InfoConnTabSize(
                    parse_u32(v).context("invalid IPVS_INFO_ATTR_CONN_TAB_SIZE")?,
                ),
                _ => CmdAttr::Other(DefaultNla::parse(buf).context("invalid IPVS_INFO_ATTR")?),
            });
        }
        Ok(match buf.kind() {
            IPVS_CMD_ATTR_SERVICE => CmdAttr::Service(
                service::parse_svc_attrs(v).context("invalid IPVS_CMD_ATTR_SERVICE")?,
            ),
            IPVS_CMD_ATTR_DEST => {
                CmdAttr::Dest(dest::parse_dest_attrs(v).context("invalid IPVS_CMD_ATTR_DEST")?)
            }
            IPVS_CMD_ATTR_DAEMON => CmdAttr::Daemon(
                daemon::parse_daemon_attrs(v).context("invalid IPVS_CMD_ATTR_DAEMON")?,
            ),
            IPVS_CMD_ATTR_TIMEOUT_TCP => {
                CmdAttr::TimeoutTcp(parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => CmdAttr::TimeoutTcpFin(
                parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?,
            ),
            IPVS_CMD_ATTR_TIMEOUT_UDP => {
                CmdAttr::TimeoutUdp(parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => CmdAttr::Other(DefaultNla::parse(buf).context("invalid IPVS_CMD_ATTR")?),
        })
    }
}

/// One IPVS generic-netlink message (the payload after the netlink header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// Top-level attributes.
    pub attrs: Vec<CmdAttr>,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd.into()
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        attrs_len(&self.attrs)
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Self::parse_attrs(IpvsCmd::from(header.cmd), buf)
    }
}

impl IpvsMessage {
    /// Parses the attributes (after the genl header) of a message with command `cmd`.
    pub fn parse_attrs(cmd: IpvsCmd, buf: &[u8]) -> Result<Self, DecodeError> {
        let attrs = NlasIterator::new(buf)
            .map(|nla| nla.and_then(|nla| CmdAttr::parse(&nla, cmd)))
            .collect::<Result<Vec<_>, _>>()
            .context("invalid IPVS message")?;
        Ok(IpvsMessage { cmd, attrs })
    }
}

/// Dump fast path: the service of a service dump entry, straight from its attribute bytes.
pub fn service_entry(_cmd: IpvsCmd, attrs: &[u8]) -> Result<Service, DecodeError> {
    nest(attrs, IPVS_CMD_ATTR_SERVICE, service::service_from_nest)
        .unwrap_or_else(|| Err("reply without IPVS_CMD_ATTR_SERVICE".into()))
}

/// Dump fast path: the destination of a destination dump entry, straight from its bytes.
pub fn dest_entry(svc_af: Af, attrs: &[u8]) -> Result<Dest, DecodeError> {
    nest(attrs, IPVS_CMD_ATTR_DEST, |b| {
        dest::dest_from_nest(b, svc_af)
    })
    .unwrap_or_else(|| Err("reply without IPVS_CMD_ATTR_DEST".into()))
}

/// Runs `f` on the first top-level attribute of `kind`; `None` if there is none.
fn nest<T>(
    attrs: &[u8],
    kind: u16,
    f: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
) -> Option<Result<T, DecodeError>> {
    for nla in NlasIterator::new(attrs) {
        match nla {
            Err(e) => return Some(Err(e.context("invalid IPVS message"))),
            Ok(nla) if nla.kind() == kind => {
                let len = usize::from(nla.length());
                return Some(match nla.into_inner().get(4..len) {
                    Some(v) => f(v),
                    None => Err("attribute shorter than its header".into()),
                });
            }
            Ok(_) => {}
        }
    }
    None
}

/// Request constructors: one per kernel verb.
impl IpvsMessage {
    fn with(cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> Self {
        IpvsMessage { cmd, attrs }
    }
    /// NEW_SERVICE (`ipvsadm -A`).
    pub fn new_service(s: &Service) -> Self {
        Self::with(
            IpvsCmd::NewService,
            vec![CmdAttr::Service(service_attrs(s))],
        )
    }
    /// SET_SERVICE (`ipvsadm -E`).
    pub fn set_service(s: &Service) -> Self {
        Self::with(
            IpvsCmd::SetService,
            vec![CmdAttr::Service(service_attrs(s))],
        )
    }
    /// DEL_SERVICE (`ipvsadm -D`).
    pub fn del_service(k: &ServiceKey) -> Self {
        Self::with(IpvsCmd::DelService, vec![CmdAttr::Service(key_attrs(k))])
    }
    /// GET_SERVICE with NLM_F_DUMP: every service.
    pub fn get_services() -> Self {
        Self::with(IpvsCmd::GetService, vec![])
    }
    /// GET_SERVICE without NLM_F_DUMP: one service (the kernel answers ESRCH if it is absent).
    pub fn get_service(k: &ServiceKey) -> Self {
        Self::with(IpvsCmd::GetService, vec![CmdAttr::Service(key_attrs(k))])
    }
    /// NEW_DEST (`ipvsadm -a`).
    pub fn new_dest(k: &ServiceKey, d: &Dest) -> Self {
        Self::with(
            IpvsCmd::NewDest,
            vec![CmdAttr::Service(key_attrs(k)), CmdAttr::Dest(dest_attrs(d))],
        )
    }
    /// SET_DEST (`ipvsadm -e`).
    pub fn set_dest(k: &ServiceKey, d: &Dest) -> Self {
        Self::with(
            IpvsCmd::SetDest,
            vec![CmdAttr::Service(key_attrs(k)), CmdAttr::Dest(dest_attrs(d))],
        )
    }
    /// DEL_DEST (`ipvsadm -d`).
    pub fn del_dest(k: &ServiceKey, d: &DestKey) -> Self {
        Self::with(
            IpvsCmd::DelDest,
            vec![
                CmdAttr::Service(key_attrs(k)),
                CmdAttr::Dest(dest_key_attrs(d)),
            ],
        )
    }
    /// GET_DEST with NLM_F_DUMP: the destinations of one service.
    pub fn get_dests(k: &ServiceKey) -> Self {
        Self::with(IpvsCmd::GetDest, vec![CmdAttr::Service(key_attrs(k))])
    }
    /// NEW_DAEMON (`ipvsadm --start-daemon`).
    pub fn new_daemon(d: &DaemonConfig) -> Self {
        Self::with(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(daemon_attrs(d))])
    }
    /// DEL_DAEMON (`ipvsadm --stop-daemon`).
    pub fn del_daemon(state: DaemonState) -> Self {
        Self::with(
            IpvsCmd::DelDaemon,
            vec![CmdAttr::Daemon(daemon_del_attrs(state))],
        )
    }
    /// GET_DAEMON with NLM_F_DUMP.
    pub fn get_daemons() -> Self {
        Self::with(IpvsCmd::GetDaemon, vec![])
    }
    /// SET_CONFIG (`ipvsadm --set`); zero fields are left unchanged by the kernel.
    pub fn set_timeouts(t: &Timeouts) -> Self {
        Self::with(
            IpvsCmd::SetConfig,
            vec![
                CmdAttr::TimeoutTcp(t.tcp),
                CmdAttr::TimeoutTcpFin(t.tcp_fin),
                CmdAttr::TimeoutUdp(t.udp),
            ],
        )
    }
    /// GET_CONFIG.
    pub fn get_timeouts() -> Self {
        Self::with(IpvsCmd::GetConfig, vec![])
    }
    /// GET_INFO.
    pub fn get_info() -> Self {
        Self::with(IpvsCmd::GetInfo, vec![])
    }
    /// ZERO (`ipvsadm -Z`), of one service or of everything.
    pub fn zero(k: Option<&ServiceKey>) -> Self {
        Self::with(
            IpvsCmd::Zero,
            k.map(|k| vec![CmdAttr::Service(key_attrs(k))])
                .unwrap_or_default(),
        )
    }
    /// FLUSH (`ipvsadm -C`).
    pub fn flush() -> Self {
        Self::with(IpvsCmd::Flush, vec![])
    }
}

/// Reply readers: model values out of received messages.
impl IpvsMessage {
    /// The service of a service dump reply.
    pub fn service(&self) -> Result<Service, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                CmdAttr::Service(s) => Some(service_from_attrs(s)),
                _ => None,
            })
            .unwrap_or_else(|| Err("reply without IPVS_CMD_ATTR_SERVICE".into()))
    }
    /// The destination of a destination dump reply; `svc_af` is the service's family.
    pub fn dest(&self, svc_af: crate::model::Af) -> Result<Dest, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                CmdAttr::Dest(d) => Some(dest_from_attrs(d, svc_af)),
                _ => None,
            })
            .unwrap_or_else(|| Err("reply without IPVS_CMD_ATTR_DEST".into()))
    }
    /// The daemon of a daemon dump reply.
    pub fn daemon(&self) -> Result<DaemonConfig, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                CmdAttr::Daemon(d) => Some(daemon_from_attrs(d)),
                _ => None,
            })
            .unwrap_or_else(|| Err("reply without IPVS_CMD_ATTR_DAEMON".into()))
    }
    /// The timeouts of a GET_CONFIG reply.
    pub fn timeouts(&self) -> Timeouts {
        let mut t = Timeouts::default();
        for a in &self.attrs {
            match a {
                CmdAttr::TimeoutTcp(v) => t.tcp = *v,
                CmdAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                CmdAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        t
    }
    /// The info of a GET_INFO reply.
    pub fn info(&self) -> Result<Info, DecodeError> {
        let (mut version, mut size) = (None, None);
        for a in &self.attrs {
            match a {
                CmdAttr::InfoVersion(v) => version = Some(*v),
                CmdAttr::InfoConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        Ok(Info {
            version: version.ok_or("GET_INFO reply without IPVS_INFO_ATTR_VERSION")?,
            conn_tab_size: size.ok_or("GET_INFO reply without IPVS_INFO_ATTR_CONN_TAB_SIZE")?,
        })
    }
}
