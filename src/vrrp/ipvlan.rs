//! `use_ipvlan`: the instance sends and receives its adverts on an L2 ipvlan it creates on its
//! interface, from the ipvlan's own address; the VIPs stay on the instance's interface (the
//! ipvlan shares its MAC). This is what keepalived 2.2.7 does, observed in the IPVS VM
//! (tests/vrrp_vm.rs): the ipvlan `vrrp.<VRID>` (or the given name) in mode l2 with the
//! bridge/private/vepa flag, the address added to it, the VIPs and their GARPs on the parent,
//! the ipvlan deleted at stop. An IPv4 instance without an address cannot start (keepalived
//! keeps it in FAULT).

use anyhow::Context as _;
use futures_util::TryStreamExt;
use netlink_packet_route::link::{
    InfoKind, IpVlanFlags, IpVlanMode, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::LinkIpVlan;

use super::config::{InstanceConfig, Vip};
use super::vip::{Link, Netlink};
use crate::config::model::{IpvlanMode, UseIpvlan};

/// The ipvlan's IFLA_IPVLAN_FLAGS for a mode word.
pub fn flags(mode: IpvlanMode) -> IpVlanFlags {
    match mode {
        IpvlanMode::Bridge => IpVlanFlags::empty(),
        IpvlanMode::Private => IpVlanFlags::Private,
        IpvlanMode::Vepa => IpVlanFlags::Vepa,
    }
}

/// Why the instance cannot run at all: keepalived keeps an IPv4 instance whose `use_ipvlan`
/// has no address in FAULT.
pub fn config_fault(cfg: &InstanceConfig) -> Option<String> {
    let u = cfg.use_ipvlan.as_ref()?;
    (!cfg.is_ipv6() && u.addr.is_none())
        .then(|| format!("use_ipvlan {}: an IPv4 ipvlan requires an address", u.name))
}

/// Creates (or, after a crash, reuses) the ipvlan on `parent`, up, with its address.
pub async fn ensure(nl: &Netlink, parent: &Link, u: &UseIpvlan, v6: bool) -> anyhow::Result<Link> {
    if !v6 && u.addr.is_none() {
        anyhow::bail!(
            "use_ipvlan {}: an IPv4 instance needs the ipvlan's address",
            u.name
        );
    }
    let link =
        match existing(nl, &u.name).await {
            Some(msg) if reusable(&msg, parent.index) => nl.link(&u.name).await?,
            Some(_) => anyhow::bail!(
                "use_ipvlan: {} exists and is not an ipvlan on {}; left alone",
                u.name,
                parent.name
            ),
            None => {
                let msg = LinkIpVlan::new(&u.name, parent.index, IpVlanMode::L2)
                    .flag(flags(u.mode))
                    .up()
                    .build();
                nl.h.link().add(msg).execute().await.with_context(|| {
                    format!("use_ipvlan: creating {} on {}", u.name, parent.name)
                })?;
                nl.link(&u.name).await?
            }
        };
    nl.set_up(link.index).await?;
    if let Some(addr) = u.addr {
        let vip = Vip {
            prefix: u.prefix,
            ..Vip::new(addr)
        };
        nl.add_vip(link.index, &vip)
            .await
            .with_context(|| format!("use_ipvlan: address {addr} on {}", u.name))?;
    }
    tracing::info!("use_ipvlan: {} on {} ({:?})", u.name, parent.name, u.mode);
    Ok(link)
}

/// The link named `name`, if any.
async fn existing(nl: &Netlink, name: &str) -> Option<LinkMessage> {
    let mut s = nl.h.link().get().match_name(name.to_string()).execute();
    s.try_next().await.ok().flatten()
}

/// Whether an existing link is an ipvlan on `parent` (one a previous run left): only such a
/// link is taken over, and so deleted at stop; anything else of that name is not ours.
fn reusable(msg: &LinkMessage, parent: u32) -> bool {
    let mut ipvlan = false;
    let mut lower = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::LinkInfo(infos) => {
                ipvlan |= infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::IpVlan)));
            }
            LinkAttribute::Link(ix) => lower = Some(*ix),
            _ => {}
        }
    }
    ipvlan && lower == Some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_ipvlan_without_address_is_a_fault() {
        let mut cfg = InstanceConfig {
            vips: vec![Vip::new("10.0.0.1".parse().unwrap())],
            ..Default::default()
        };
        cfg.use_ipvlan = Some(UseIpvlan {
            name: "vrrp.1".into(),
            addr: None,
            prefix: 0,
            mode: IpvlanMode::Bridge,
        });
        assert!(config_fault(&cfg).is_some());
        cfg.vips = vec![Vip::new("fd00::1".parse().unwrap())];
        assert_eq!(config_fault(&cfg), None, "IPv6 uses the link-local address");
    }

    #[test]
    fn only_an_ipvlan_on_the_parent_is_taken_over() {
        let msg = |kind: InfoKind, lower: u32| {
            let mut m = LinkMessage::default();
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
            m.attributes.push(LinkAttribute::Link(lower));
            m
        };
        assert!(reusable(&msg(InfoKind::IpVlan, 3), 3));
        assert!(!reusable(&msg(InfoKind::IpVlan, 4), 3), "on another parent");
        assert!(!reusable(&msg(InfoKind::MacVlan, 3), 3), "a macvlan");
        assert!(!reusable(&LinkMessage::default(), 3), "a plain interface");
    }

    #[test]
    fn mode_words_map_to_the_kernel_flags() {
        assert_eq!(flags(IpvlanMode::Bridge).bits(), 0);
        assert_eq!(flags(IpvlanMode::Private).bits(), 1);
        assert_eq!(flags(IpvlanMode::Vepa).bits(), 2);
    }
}
