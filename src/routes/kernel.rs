//! The rtnetlink edge for routes and rules: dumps (filtered by the kernel: strict checking,
//! one table per request), `ip route add|del`, `ip rule add|del`, interface indexes, and the
//! route/rule/link multicast groups that wake the writer. Addresses go through the VRRP
//! address edge ([`crate::vrrp::vip::Netlink`]), the one seam for `ip addr`.

use std::collections::HashMap;

use futures_util::{Stream, StreamExt, TryStreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteMessage};
use netlink_packet_route::rule::RuleMessage;
use rtnetlink::{IpVersion, MulticastGroup};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

#[derive(Clone)]
pub struct Netlink {
    h: rtnetlink::Handle,
}

impl Netlink {
    /// Connects in the current network namespace; needs a tokio runtime.
    pub fn connect() -> Result<Netlink, Error> {
        let (conn, h, _) = rtnetlink::new_connection_with_strict_check()?;
        tokio::spawn(conn);
        Ok(Netlink { h })
    }

    /// Interface name → index.
    pub async fn links(&self) -> Result<HashMap<String, u32>, Error> {
        let msgs: Vec<LinkMessage> = self.h.link().get().execute().try_collect().await?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((n.clone(), m.header.index)),
                    _ => None,
                })
            })
            .collect())
    }

    /// The routes of one table and family (every protocol).
    pub async fn routes(&self, v6: bool, table: u32) -> Result<Vec<RouteMessage>, Error> {
        let mut m = RouteMessage::default();
        m.header.address_family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        m.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        m.attributes.push(RouteAttribute::Table(table));
        match self.h.route().get(m).execute().try_collect().await {
            Ok(v) => Ok(v),
            // IPv6 tables exist only once a route is in them.
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn rules(&self, v6: bool) -> Result<Vec<RuleMessage>, Error> {
        let v = if v6 { IpVersion::V6 } else { IpVersion::V4 };
        Ok(self.h.rule().get(v).execute().try_collect().await?)
    }

    /// `ip route add` (or `ip route append`: after any route of the same key).
    pub async fn add_route(&self, m: RouteMessage, append: bool) -> Result<(), Error> {
        let r = if append {
            self.append_route(m).await
        } else {
            self.h.route().add(m).execute().await
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Err("a different route with the same destination, metric and table exists (File exists)".into()),
            Err(e) => Err(e.into()),
        }
    }

    /// RTM_NEWROUTE with NLM_F_CREATE | NLM_F_APPEND (rtnetlink's request has no append).
    async fn append_route(&self, m: RouteMessage) -> Result<(), rtnetlink::Error> {
        use netlink_packet_core::{NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST};
        let mut req = netlink_packet_core::NetlinkMessage::from(RouteNetlinkMessage::NewRoute(m));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        let mut h = self.h.clone();
        let mut resp = h.request(req)?;
        while let Some(msg) = resp.next().await {
            if let NetlinkPayload::Error(e) = msg.payload {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
        }
        Ok(())
    }

    /// `ip route del`; a route already gone is success.
    pub async fn del_route(&self, m: RouteMessage) -> Result<(), Error> {
        match self.h.route().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn add_rule(&self, m: RuleMessage) -> Result<(), Error> {
        let mut req = self.h.rule().add();
        *req.message_mut() = m;
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn del_rule(&self, m: RuleMessage) -> Result<(), Error> {
        match self.h.rule().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::ESRCH)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The routes the writer holds, by [`super::msg::RouteKey`]: a route event for any other
/// destination (a BGP table churning in `main`) wakes nothing.
pub type Watched =
    std::sync::Arc<std::sync::RwLock<std::collections::HashSet<super::msg::RouteKey>>>;

/// A stream that yields once per rule, address or link change and per change of a watched
/// route (the payload is not needed: the writer re-dumps what it manages).
pub fn changes(watched: Watched) -> Result<impl Stream<Item = ()> + Send + Unpin, Error> {
    let (conn, _h, msgs) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Rule,
        MulticastGroup::Ipv6Rule,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Link,
    ])?;
    tokio::spawn(conn);
    Ok(msgs.filter_map(move |(m, _)| {
        let wake = match m.payload {
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r),
            ) => {
                let key = super::msg::route_key(&r);
                watched.read().map_or(true, |w| w.contains(&key))
            }
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewRule(_)
                | RouteNetlinkMessage::DelRule(_)
                | RouteNetlinkMessage::NewAddress(_)
                | RouteNetlinkMessage::DelAddress(_)
                | RouteNetlinkMessage::NewLink(_)
                | RouteNetlinkMessage::DelLink(_),
            ) => true,
            _ => false,
        };
        std::future::ready(wake.then_some(()))
    }))
}
