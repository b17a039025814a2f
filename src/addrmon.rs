//! `-a/--address-monitoring`: one log line per address netlink reports added or removed on
//! this host (any interface, IPv4 and IPv6), as keepalived's option does.

use futures_util::StreamExt;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::MulticastGroup;

/// Subscribes to the address groups and logs until the netlink socket closes.
pub async fn run() -> anyhow::Result<()> {
    let (conn, _handle, mut msgs) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    tokio::spawn(conn);
    tracing::info!("address monitoring: logging every address change");
    while let Some((msg, _)) = msgs.next().await {
        if let NetlinkPayload::InnerMessage(m) = msg.payload {
            match &m {
                RouteNetlinkMessage::NewAddress(a) => {
                    tracing::info!("address monitoring: {}", describe("added", a))
                }
                RouteNetlinkMessage::DelAddress(a) => {
                    tracing::info!("address monitoring: {}", describe("removed", a))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// `added 10.0.0.1/24 on eth0 (index 2)`.
pub fn describe(what: &str, a: &AddressMessage) -> String {
    let addr = a
        .attributes
        .iter()
        .find_map(|x| match x {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        });
    let label = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Label(l) => Some(l.clone()),
        _ => None,
    });
    format!(
        "{what} {}/{} on {} (index {})",
        addr.map_or("?".to_string(), |ip| ip.to_string()),
        a.header.prefix_len,
        label.unwrap_or_else(|| "?".into()),
        a.header.index
    )
}
