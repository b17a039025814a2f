//! `garp_group { … }` (keepalived.conf(5) "VRRP gratuitous ARP and unsolicited neighbour
//! advert delay group(s)").

use super::Ctx;
use crate::config::model::{Config, GarpGroup};
use crate::config::parser::Node;

pub(super) fn garp_group(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut g = GarpGroup {
        garp_interval: None,
        gna_interval: None,
        interfaces: Vec::new(),
        span: node.span(),
    };
    let mut by_interface = false;
    let mut by_interfaces = false;
    for c in children {
        let kw = c.keyword();
        match kw {
            "garp_interval" | "gna_interval" => {
                if let Some(w) = cx.arg(c, 1, "a time in seconds")
                    && let Some(d) = cx.timer_word(w, kw, false)
                {
                    if kw == "garp_interval" {
                        g.garp_interval = Some(d);
                    } else {
                        g.gna_interval = Some(d);
                    }
                }
            }
            "interface" => {
                if let Some(w) = cx.arg(c, 1, "an interface name") {
                    g.interfaces.push(w.text.to_string());
                    by_interface = true;
                }
            }
            "interfaces" => {
                for i in c.block.iter().flat_map(|b| b.children.iter()) {
                    g.interfaces.push(i.keyword().to_string());
                }
                by_interfaces = true;
            }
            _ => cx.warn(
                c.span(),
                format!("unknown keyword `{kw}` in garp_group; ignored"),
            ),
        }
    }
    if by_interface && by_interfaces {
        cx.warn(
            node.span(),
            "garp_group: use either `interface` or `interfaces`, not both",
        );
    }
    if g.interfaces.is_empty() {
        cx.warn(node.span(), "garp_group without interfaces; ignored");
        return;
    }
    config.garp_groups.push(g);
}
