//! The rtnetlink edge: the host routes of one (table, protocol) pair, as `ip route show table
//! N proto P`, `ip route add ADDR/32 dev lo table N proto P`, `ip route del …`.
//!
//! The route is a unicast route through `lo`: FRR 8.4's zebra imports unicast and blackhole
//! routes of an imported table (not `local` ones), and a route via `lo` is inert in the kernel
//! (table N is consulted by no rule; where zebra copies it into main, it still only points at
//! this host, which holds the VIP).

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};

use super::desired::Plan;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The routes of one table and protocol: rtnetlink in production, [`FakeRoutes`] in tests.
pub trait RouteKernel: Send + Sync + 'static {
    /// Host routes (/32, /128) in `table` carrying `protocol`.
    fn dump(
        &self,
        table: u32,
        protocol: u8,
    ) -> impl Future<Output = Result<BTreeSet<IpAddr>, Error>> + Send;
    /// Runs the plan, withdrawals first; stops at the first error.
    fn apply(
        &self,
        table: u32,
        protocol: u8,
        plan: &Plan,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// An in-memory table; `writes` counts every add and delete.
#[derive(Clone, Default)]
pub struct FakeRoutes {
    pub routes: Arc<Mutex<BTreeSet<(u32, u8, IpAddr)>>>,
    pub writes: Arc<Mutex<usize>>,
}

impl RouteKernel for FakeRoutes {
    async fn dump(&self, table: u32, protocol: u8) -> Result<BTreeSet<IpAddr>, Error> {
        let r = self.routes.lock().map_err(|_| "poisoned")?;
        Ok(r.iter()
            .filter(|(t, p, _)| *t == table && *p == protocol)
            .map(|(_, _, a)| *a)
            .collect())
    }
    async fn apply(&self, table: u32, protocol: u8, plan: &Plan) -> Result<(), Error> {
        let mut r = self.routes.lock().map_err(|_| "poisoned")?;
        let mut w = self.writes.lock().map_err(|_| "poisoned")?;
        for a in &plan.del {
            r.remove(&(table, protocol, *a));
            *w += 1;
        }
        for a in &plan.add {
            r.insert((table, protocol, *a));
            *w += 1;
        }
        Ok(())
    }
}

/// The routes edge ([`crate::routes::kernel::Netlink`]: strict dump checking, so the kernel
/// filters the dump by table; a director that also carries a full BGP table does not send it
/// all every pass), plus the index of `lo`.
#[derive(Clone)]
pub struct Netlink {
    nl: crate::routes::kernel::Netlink,
    lo: u32,
}

impl Netlink {
    /// Connects in the current network namespace; needs a tokio runtime.
    pub async fn connect() -> Result<Netlink, Error> {
        let nl = crate::routes::kernel::Netlink::connect()?;
        let lo = *nl.links().await?.get("lo").ok_or("no loopback interface")?;
        Ok(Netlink { nl, lo })
    }

    fn message(table: u32, protocol: u8, family: AddressFamily) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family;
        m.header.protocol = RouteProtocol::from(protocol);
        m.header.kind = RouteType::Unicast;
        m.header.scope = RouteScope::Universe;
        // Tables above 255 only fit the attribute; the header says "see the attribute".
        m.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        m.attributes.push(RouteAttribute::Table(table));
        m
    }

    fn host_route(&self, table: u32, protocol: u8, addr: IpAddr) -> RouteMessage {
        let (family, len) = match addr {
            IpAddr::V4(_) => (AddressFamily::Inet, 32),
            IpAddr::V6(_) => (AddressFamily::Inet6, 128),
        };
        let mut m = Self::message(table, protocol, family);
        m.header.destination_prefix_length = len;
        // As `ip route add … dev lo` (no gateway): link scope.
        m.header.scope = RouteScope::Link;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(addr)));
        m.attributes.push(RouteAttribute::Oif(self.lo));
        m
    }

    async fn dump_family(&self, table: u32, protocol: u8, v6: bool) -> Result<Vec<IpAddr>, Error> {
        let msgs = self.nl.routes(v6, table).await?;
        Ok(msgs
            .into_iter()
            .filter(|m| u8::from(m.header.protocol) == protocol)
            .filter(|m| route_table(m) == table)
            .filter_map(|m| host_destination(&m))
            .collect())
    }
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// The destination of a /32 or /128 route (other prefixes are not ours to manage).
fn host_destination(m: &RouteMessage) -> Option<IpAddr> {
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })?;
    let full = if dst.is_ipv4() { 32 } else { 128 };
    (m.header.destination_prefix_length == full).then_some(dst)
}

impl RouteKernel for Netlink {
    async fn dump(&self, table: u32, protocol: u8) -> Result<BTreeSet<IpAddr>, Error> {
        let mut out: BTreeSet<IpAddr> = self
            .dump_family(table, protocol, false)
            .await?
            .into_iter()
            .collect();
        out.extend(self.dump_family(table, protocol, true).await?);
        Ok(out)
    }

    async fn apply(&self, table: u32, protocol: u8, plan: &Plan) -> Result<(), Error> {
        for a in &plan.del {
            // A route already gone (deleted by hand meanwhile) is success there.
            if let Err(e) = self
                .nl
                .del_route(self.host_route(table, protocol, *a))
                .await
            {
                return Err(format!("ip route del {a} table {table}: {e}").into());
            }
        }
        for a in &plan.add {
            if let Err(e) = self
                .nl
                .add_route(self.host_route(table, protocol, *a), false)
                .await
            {
                return Err(
                    format!("ip route add {a} dev lo table {table} proto {protocol}: {e}").into(),
                );
            }
        }
        Ok(())
    }
}
