//! Kernel side of an instance: interface lookups, virtual addresses and the VMAC, through
//! rtnetlink. Equivalent to `ip link show`, `ip addr add|del ... dev D [brd B] [scope S]
//! [label L]` and `ip link add vrrp.51 link eth0 type macvlan mode private`.
//!
//! Adding an address that is already there and deleting one that is gone both succeed: the
//! instance loop states what it wants, it does not remember what it did.

use std::net::{IpAddr, Ipv6Addr};

use futures_util::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, MacVlanMode};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec};

use super::config::Vip;
use super::garp::Mac;

/// An interface as VRRP sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Mac,
    /// Administratively up and carrier present (IFF_UP && IFF_RUNNING).
    pub running: bool,
    /// A macvlan (VMAC) interface.
    pub macvlan: bool,
}

/// rtnetlink failures, with the operation and object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening rtnetlink: {0}")]
    Open(#[source] std::io::Error),
    #[error("interface {0} not found")]
    NoLink(String),
    #[error("{op} {obj}: {source}")]
    Op {
        op: &'static str,
        obj: String,
        source: rtnetlink::Error,
    },
}

const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;
const ENODEV: i32 = 19;

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A cloneable rtnetlink handle (the connection runs on a spawned task).
#[derive(Clone)]
pub struct Netlink {
    pub(super) h: Handle,
    /// The kernel runs one dump per netlink socket at a time and answers a second one with
    /// EBUSY; instances share this socket, so their dumps take turns.
    dump: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Netlink {
    /// Opens a connection in the current network namespace; needs a tokio runtime.
    pub fn new() -> Result<Netlink, Error> {
        let (conn, h, _) = rtnetlink::new_connection().map_err(Error::Open)?;
        tokio::spawn(conn);
        Ok(Netlink {
            h,
            dump: Default::default(),
        })
    }

    fn link_from(msg: LinkMessage) -> Link {
        let mut l = Link {
            index: msg.header.index,
            name: String::new(),
            mac: [0; 6],
            running: msg.header.flags.contains(LinkFlags::Up)
                && msg.header.flags.contains(LinkFlags::Running),
            macvlan: false,
        };
        for a in msg.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n,
                LinkAttribute::Address(m) if m.len() == 6 => l.mac.copy_from_slice(&m),
                LinkAttribute::LinkInfo(infos) => {
                    l.macvlan = infos.iter().any(|i| {
                        matches!(
                            i,
                            netlink_packet_route::link::LinkInfo::Kind(
                                netlink_packet_route::link::InfoKind::MacVlan
                            )
                        )
                    })
                }
                _ => {}
            }
        }
        l
    }

    /// `ip link show` of one interface index.
    pub async fn link_by_index(&self, index: u32) -> Result<Link, Error> {
        let mut s = self.h.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Self::link_from(m)),
            Ok(None) => Err(Error::NoLink(format!("#{index}"))),
            Err(e) => Err(Error::Op {
                op: "get link",
                obj: format!("#{index}"),
                source: e,
            }),
        }
    }

    /// `ip link show NAME`.
    pub async fn link(&self, name: &str) -> Result<Link, Error> {
        let mut s = self.h.link().get().match_name(name.to_string()).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Self::link_from(m)),
            Ok(None) => Err(Error::NoLink(name.to_string())),
            Err(e) if matches!(errno(&e), Some(ENODEV) | Some(ENOENT)) => {
                Err(Error::NoLink(name.to_string()))
            }
            Err(e) => Err(Error::Op {
                op: "get link",
                obj: name.to_string(),
                source: e,
            }),
        }
    }

    /// Addresses on interface `index`, in kernel order (primary first), with their flags.
    pub async fn addresses(
        &self,
        index: u32,
    ) -> Result<Vec<(IpAddr, u8, AddressHeaderFlags)>, Error> {
        let _turn = self.dump.lock().await;
        let msgs: Vec<AddressMessage> = self
            .h
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::Op {
                op: "list addresses",
                obj: format!("ifindex {index}"),
                source: e,
            })?;
        let mut out = Vec::new();
        for m in msgs {
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(a) => Some(*a),
                _ => None,
            });
            let addr = local.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(a) => Some(*a),
                    _ => None,
                })
            });
            if let Some(a) = addr {
                out.push((a, m.header.prefix_len, m.header.flags));
            }
        }
        Ok(out)
    }

    /// The source keepalived would use: the first non-secondary IPv4 address, or the first
    /// link-local IPv6 address, that is not one of `exclude` (our VIPs).
    pub async fn source_address(
        &self,
        index: u32,
        v6: bool,
        exclude: &[IpAddr],
    ) -> Result<Option<IpAddr>, Error> {
        let addrs = self.addresses(index).await?;
        Ok(addrs
            .into_iter()
            .filter(|(a, _, f)| !exclude.contains(a) && !f.contains(AddressHeaderFlags::Secondary))
            .map(|(a, _, _)| a)
            .find(|a| match a {
                IpAddr::V4(_) => !v6,
                IpAddr::V6(a) => v6 && is_link_local(a),
            }))
    }

    /// `ip addr add VIP/PREFIX dev IFINDEX [brd] [scope] [label]` (IPv6: nodad, as keepalived).
    pub async fn add_vip(&self, index: u32, vip: &Vip) -> Result<(), Error> {
        let mut req = self.h.address().add(index, vip.addr, vip.prefix);
        let msg = req.message_mut();
        if let Some(b) = vip.brd {
            msg.attributes
                .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
            msg.attributes.push(AddressAttribute::Broadcast(b));
        } else if vip.addr.is_ipv4() {
            // keepalived sets no broadcast unless asked (`brd`).
            msg.attributes
                .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        }
        if let Some(s) = vip.scope {
            msg.header.scope = AddressScope::from(s);
        } else if let IpAddr::V6(a) = vip.addr
            && is_link_local(&a)
        {
            msg.header.scope = AddressScope::Link;
        }
        if let Some(l) = &vip.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if vip.addr.is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            let preferred = vip.preferred_lft();
            if preferred != u32::MAX {
                let mut lifetimes = CacheInfo::default();
                lifetimes.ifa_preferred = preferred;
                lifetimes.ifa_valid = u32::MAX;
                msg.attributes.push(AddressAttribute::CacheInfo(lifetimes));
            }
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            Err(e) => Err(Error::Op {
                op: "add address",
                obj: vip.display(),
                source: e,
            }),
        }
    }

    /// `ip addr del VIP/PREFIX dev IFINDEX`.
    pub async fn del_vip(&self, index: u32, vip: &Vip) -> Result<(), Error> {
        let msg = self
            .h
            .address()
            .add(index, vip.addr, vip.prefix)
            .message_mut()
            .clone();
        match self.h.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(EADDRNOTAVAIL) | Some(ENODEV) | Some(ENOENT)) => {
                Ok(())
            }
            Err(e) => Err(Error::Op {
                op: "delete address",
                obj: vip.display(),
                source: e,
            }),
        }
    }

    /// `use_vmac`: a private macvlan on `parent` with the VRRP MAC 00:00:5e:00:01:VRID (IPv4)
    /// or 00:00:5e:00:02:VRID (IPv6), or `mac` (`use_vmac NAME MAC`), up; an existing link
    /// of that name is reused.
    pub async fn ensure_vmac(
        &self,
        parent: u32,
        name: &str,
        vrid: u8,
        v6: bool,
        mac: Option<Mac>,
    ) -> Result<Link, Error> {
        if let Ok(l) = self.link(name).await {
            return Ok(l);
        }
        let mac = match mac {
            Some(m) => m.to_vec(),
            None => vec![0, 0, 0x5e, 0, if v6 { 2 } else { 1 }, vrid],
        };
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac)
            .up()
            .build();
        self.h
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| Error::Op {
                op: "create vmac",
                obj: name.to_string(),
                source: e,
            })?;
        self.link(name).await
    }

    /// `ip link del INDEX`.
    pub async fn del_link(&self, index: u32) -> Result<(), Error> {
        match self.h.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(Error::Op {
                op: "delete link",
                obj: format!("ifindex {index}"),
                source: e,
            }),
        }
    }

    /// `ip link set INDEX up`.
    pub async fn set_up(&self, index: u32) -> Result<(), Error> {
        self.h
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| Error::Op {
                op: "set link up",
                obj: format!("ifindex {index}"),
                source: e,
            })
    }
}

pub(crate) fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::Netlink;

    /// Instances share one socket and start together: their address dumps must not collide
    /// (the kernel answers a dump started while another runs with EBUSY).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_address_dumps_on_one_socket_all_succeed() {
        let nl = Netlink::new().expect("rtnetlink socket");
        let lo = nl.link("lo").await.expect("lo").index;
        let dumps: Vec<_> = (0..32)
            .map(|_| {
                let nl = nl.clone();
                tokio::spawn(async move { nl.addresses(lo).await.map(|a| a.len()) })
            })
            .collect();
        for d in dumps {
            let n = d.await.expect("task").expect("address dump");
            assert!(n >= 1, "lo has 127.0.0.1");
        }
    }
}
