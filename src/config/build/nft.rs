//! global_defs `nftables [TABLE]`, `nftables_priority`, `nftables_counters`,
//! `nftables_ifindex`, `nftables_ipvs [TABLE]`, `nftables_ipvs_priority`,
//! `nftables_ipvs_start_fwmark`; returns true when it consumed the line.

use super::Ctx;
use crate::config::model::NftDefs;
use crate::config::parser::Node;

/// nft takes table names as identifiers: a letter, then letters, digits, `_`, `-`, `.`, `/`.
fn table_name(cx: &mut Ctx, n: &Node, default: &str) -> Option<String> {
    let Some(w) = n.words.get(1) else {
        return Some(default.to_string());
    };
    let ok = w.text.len() <= 255
        && w.text.starts_with(|c: char| c.is_ascii_alphabetic())
        && w.text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if ok {
        Some(w.text.to_string())
    } else {
        cx.warn(
            w.span,
            format!(
                "`{}` {} is not an nftables table name; using {default}",
                n.keyword(),
                w.text
            ),
        );
        Some(default.to_string())
    }
}

fn priority(cx: &mut Ctx, n: &Node) -> Option<i32> {
    cx.int(n, i64::from(i32::MIN), i64::from(i32::MAX))
        .map(|v| v as i32)
}

pub(super) fn global_keyword(cx: &mut Ctx, n: &Node, d: &mut NftDefs) -> bool {
    match n.keyword() {
        "nftables" => d.table = table_name(cx, n, crate::nft::vrrp::DEFAULT_TABLE),
        "nftables_priority" => d.priority = priority(cx, n).or(d.priority),
        "nftables_counters" => d.counters = true,
        "nftables_ifindex" => d.ifindex = true,
        "nftables_ipvs" => d.ipvs = table_name(cx, n, crate::nft::ipvs::DEFAULT_TABLE),
        "nftables_ipvs_priority" => d.ipvs_priority = priority(cx, n).or(d.ipvs_priority),
        "nftables_ipvs_start_fwmark" => {
            d.ipvs_start_fwmark = cx
                .int(n, 1, i64::from(u32::MAX))
                .map(|v| v as u32)
                .or(d.ipvs_start_fwmark)
        }
        _ => return false,
    }
    true
}
