//! Top-level `track_group NAME { group { … } }` and the `track_group NAME` option of static
//! addresses, routes and rules (keepalived.conf(5) "Static track groups"): the references are
//! checked once every block is read, with keepalived 2.2.7's messages.

use super::Ctx;
use crate::config::model::{Config, Span, TrackGroup};
use crate::config::parser::Node;

pub(super) fn block(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(name) = cx.arg(node, 1, "a name").map(|w| w.text.clone()) else {
        return;
    };
    let Some(children) = cx.need_block(node) else {
        return;
    };
    let mut g = TrackGroup {
        name: name.to_string(),
        group: Vec::new(),
        span: node.span(),
    };
    for c in children {
        match c.keyword() {
            "group" => {
                for l in c.block.iter().flat_map(|b| b.children.iter()) {
                    g.group.extend(l.words.iter().map(|w| w.text.to_string()));
                }
            }
            kw => cx.warn(
                c.span(),
                format!("unknown keyword `{kw}` in track_group; ignored"),
            ),
        }
    }
    config.track_groups.push(g);
}

/// Drops references to undefined track groups, and a static rule's group when the rule has
/// no `dev`/`iif` (keepalived cannot track it), with keepalived's warnings; notes members that
/// name no instance.
pub(super) fn resolve(cx: &mut Ctx, config: &mut Config) {
    let known: Vec<String> = config.track_groups.iter().map(|g| g.name.clone()).collect();
    let check = |cx: &mut Ctx, tg: &mut Option<String>, span: Span| {
        if let Some(n) = tg
            && !known.contains(n)
        {
            cx.warn(span, format!("track_group {n} not found"));
            *tg = None;
        }
    };
    for a in &mut config.static_ipaddresses {
        check(cx, &mut a.track_group, a.span);
    }
    for r in &mut config.static_routes {
        check(cx, &mut r.spec.track_group, r.span);
    }
    for r in &mut config.static_rules {
        check(cx, &mut r.spec.track_group, r.span);
        if r.spec.track_group.is_some() && r.spec.iif.is_none() {
            cx.warn(
                r.span,
                "Static rule cannot have track_group if dev/iif not specified",
            );
            r.spec.track_group = None;
        }
    }
    for g in &config.track_groups {
        for m in &g.group {
            if config.vrrp_instance(m).is_none() {
                cx.note(
                    g.span,
                    format!("track_group {}: vrrp_instance {m} is not defined", g.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{LoadOptions, load_str};

    #[test]
    fn track_group_blocks_and_references_as_keepalived_checks_them() {
        let l = load_str(
            r#"
track_group TG {
    group {
        A
        NOPE
    }
    bogus 1
}
static_ipaddress {
    10.79.0.1/24 dev eth1 track_group TG
    10.79.0.2/24 dev eth1 track_group MISSING
}
static_routes {
    10.99.0.0/24 via 10.78.0.254 dev eth0 track_group TG
}
static_rules {
    from 10.99.0.0/24 table 100 track_group TG
    from 10.98.0.0/24 table 100 iif eth0 priority 10 track_group TG
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.78.0.101
    }
}
"#,
            Path::new("t.conf"),
            &LoadOptions::default(),
        )
        .unwrap();
        let text: Vec<String> = l.diagnostics.iter().map(|d| d.to_string()).collect();
        let has = |s: &str| text.iter().any(|d| d.contains(s));
        assert!(has("unknown keyword `bogus` in track_group"), "{text:?}");
        assert!(has("track_group MISSING not found"), "{text:?}");
        assert!(
            has("Static rule cannot have track_group if dev/iif not specified"),
            "{text:?}"
        );
        assert!(has("vrrp_instance NOPE is not defined"), "{text:?}");
        assert!(!has("does not implement"), "{text:?}");
        let c = &l.config;
        assert_eq!(c.track_groups[0].group, ["A", "NOPE"]);
        let groups: Vec<Option<&str>> = c
            .static_ipaddresses
            .iter()
            .map(|a| a.track_group.as_deref())
            .collect();
        assert_eq!(groups, [Some("TG"), None]);
        assert_eq!(c.static_routes[0].spec.track_group.as_deref(), Some("TG"));
        let rules: Vec<Option<&str>> = c
            .static_rules
            .iter()
            .map(|r| r.spec.track_group.as_deref())
            .collect();
        assert_eq!(rules, [None, Some("TG")]);
    }
}
