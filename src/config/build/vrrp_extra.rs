//! `garp_extra_if [all] SECS` (vrrp_instance; 0 turns it off) and `vrrp_garp_extra_if [all]
//! SECS` (global_defs, 1..86400): periodic gratuitous ARPs / unsolicited NAs, while MASTER, for
//! the VIPs on interfaces other than the instance's: by default only those on VMAC (macvlan)
//! interfaces, with `all` every one (keepalived.conf(5)). Also global_defs `max_auto_priority`
//! and `min_auto_priority_delay` (see `crate::tuning::auto_priority`).

use std::time::Duration;

use super::Ctx;
use crate::config::model::{GarpExtraIf, ProcessDefs};
use crate::config::parser::Node;

/// The value of the line, None when it is invalid (warned; the previous value stays):
/// `Some(None)` turns the feature off (instance `0`).
pub(super) fn garp_extra_if(cx: &mut Ctx, n: &Node, min: i64) -> Option<Option<GarpExtraIf>> {
    let kw = n.keyword().to_string();
    let mut words = n.words.iter().skip(1);
    let mut w = words.next();
    let all = w.is_some_and(|w| w.text == "all");
    if all {
        w = words.next();
    }
    let Some(w) = w else {
        cx.warn(n.span(), format!("`{kw}` specified without time; ignored"));
        return None;
    };
    let secs = cx.int_word(w, &kw, min, 86_400)?;
    Some((secs > 0).then(|| GarpExtraIf {
        interval: Duration::from_secs(secs as u64),
        all,
    }))
}

/// global_defs `max_auto_priority [-1..99]` and `min_auto_priority_delay USECS`; false for
/// any other keyword.
pub(super) fn auto_priority_keyword(cx: &mut Ctx, n: &Node, p: &mut ProcessDefs) -> bool {
    match n.keyword() {
        "max_auto_priority" => match n.words.get(1) {
            // Without a value: the highest SCHED_RR priority.
            None => p.max_auto_priority = 99,
            Some(w) => {
                if let Some(v) = cx.int_word(w, "max_auto_priority", -1, 99) {
                    p.max_auto_priority = v as i32;
                }
            }
        },
        "min_auto_priority_delay" => {
            if let Some(v) = cx.int(n, 1, 10_000_000) {
                p.min_auto_priority_delay = Some(Duration::from_micros(v as u64));
            }
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::model::GarpExtraIf;
    use crate::config::{LoadOptions, load_str};

    fn inst(name: &str, vrid: u8, line: &str) -> String {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n {line}\n virtual_ipaddress {{\n  10.0.0.{vrid}\n }}\n}}\n"
        )
    }

    #[test]
    fn instance_values_override_the_global_one_and_bad_ones_are_ignored() {
        let text = format!(
            "global_defs {{\n vrrp_garp_extra_if all 100\n}}\n{}{}{}{}{}",
            inst("A", 1, ""),
            inst("B", 2, "garp_extra_if 30"),
            inst("C", 3, "garp_extra_if 0"),
            inst("D", 4, "garp_extra_if 90000"),
            inst("E", 5, "garp_extra_if all"),
        );
        let l = load_str(&text, Path::new("t.conf"), &LoadOptions::default()).unwrap();
        let d: Vec<String> = l.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            d.iter()
                .any(|x| x.contains("`garp_extra_if` 90000 is outside 0..=86400")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.contains("`garp_extra_if` specified without time")),
            "{d:?}"
        );
        assert!(!d.iter().any(|x| x.contains("does not implement")), "{d:?}");
        let e: Vec<Option<GarpExtraIf>> = l
            .config
            .vrrp_instances
            .iter()
            .map(|i| i.garp.extra_if)
            .collect();
        let g = |s, all| {
            Some(GarpExtraIf {
                interval: Duration::from_secs(s),
                all,
            })
        };
        assert_eq!(
            e,
            [g(100, true), g(30, false), None, g(100, true), g(100, true)]
        );
    }
}
