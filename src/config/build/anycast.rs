//! lvsd's anycast extension keywords (docs/anycast.md): `anycast_table` / `anycast_protocol` in
//! global_defs and `announce_route [ADDR…]` in a virtual_server. keepalived does not know them;
//! each handler returns true when it consumed the line.

use super::Ctx;
use crate::config::model::{AnycastDefs, Scheduler, VirtualServer};
use crate::config::parser::Node;

/// Routing tables the kernel reserves (unspec, compat, default, main, local).
const RESERVED_TABLES: [i64; 5] = [0, 252, 253, 254, 255];

/// `anycast_table N`, `anycast_protocol P`.
pub(super) fn global_keyword(cx: &mut Ctx, n: &Node, defs: &mut AnycastDefs) -> bool {
    match n.keyword() {
        "anycast_table" => {
            let Some(w) = cx.arg(n, 1, "a routing table number") else {
                return true;
            };
            let Some(t) = cx.int_word(w, "anycast_table", 1, i64::from(u32::MAX)) else {
                return true;
            };
            if RESERVED_TABLES.contains(&t) {
                cx.error(
                    w.span,
                    format!(
                        "anycast_table {t} is a table the kernel uses itself; pick a dedicated \
                         one (default {})",
                        crate::anycast::DEFAULT_TABLE
                    ),
                );
            } else {
                defs.table = Some(t as u32);
            }
            true
        }
        "anycast_protocol" => {
            let Some(w) = cx.arg(n, 1, "a routing protocol number") else {
                return true;
            };
            let Some(p) = cx.int_word(w, "anycast_protocol", 1, 255) else {
                return true;
            };
            // 1-4 are the kernel's own (redirect, kernel, boot, static); zebra (11) and FRR's
            // daemons (186-197) claim theirs and zebra removes such routes at start.
            if p <= 4 || p == 11 || (186..=197).contains(&p) {
                cx.error(
                    w.span,
                    format!(
                        "anycast_protocol {p} belongs to the kernel or FRR; pick an unused \
                         number (default {})",
                        crate::anycast::DEFAULT_PROTOCOL
                    ),
                );
            } else {
                defs.protocol = Some(p as u8);
            }
            true
        }
        _ => false,
    }
}

/// `announce_route` (the virtual server's own addresses) or `announce_route ADDR…`;
/// `anycast_quiesce on|off`.
pub(super) fn virtual_server_keyword(cx: &mut Ctx, n: &Node, vs: &mut VirtualServer) -> bool {
    match n.keyword() {
        "announce_route" => {}
        "anycast_quiesce" => {
            vs.anycast_quiesce = cx.flag(n);
            return true;
        }
        _ => return false,
    }
    let mut addrs = Vec::new();
    for w in n.words.iter().skip(1) {
        match cx.ip_word(w, "announce_route") {
            Some(a) => addrs.push(a),
            None => return true,
        }
    }
    vs.announce_route = Some(addrs);
    true
}

/// After the real servers are built: an announced `mh` service quiesces instead of deleting
/// (unless `anycast_quiesce off`). Several directors behind one router must pick the same
/// real server for a flow; `mh`'s lookup table depends on the kernel's destination list, and
/// a deleted-then-re-added server would come back at its end on this director only.
pub(super) fn finish_virtual_server(vs: &mut VirtualServer) {
    if vs.announce_route.is_none() || vs.scheduler != Scheduler::Mh || !vs.anycast_quiesce {
        return;
    }
    // mh-fallback.
    vs.sched_flags.flag_1 = true;
    for rs in &mut vs.real_servers {
        rs.inhibit_on_failure = true;
    }
}
