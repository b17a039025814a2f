//! Route and rule lines: `virtual_routes` / `static_routes` and `virtual_rules` /
//! `static_rules`, typed and checked as keepalived 2.2.7 does (invalid addresses, untrackable
//! routes, rules without a preference or an action). lvsd does not program them yet; see
//! `Config::unimplemented`.

use super::Ctx;
use crate::config::model::{Prefix, VirtualRoute, VirtualRule};
use crate::config::parser::Node;

/// A `virtual_routes` / `static_routes` line, with keepalived 2.2.7's checks.
pub(super) fn route(cx: &mut Ctx, l: &Node) -> Option<VirtualRoute> {
    if l.words.is_empty() || l.block.is_some() {
        cx.warn(l.span(), "unexpected block in a route list; ignored");
        return None;
    }
    let mut r = VirtualRoute {
        to: None,
        src: None,
        via: None,
        dev: None,
        table: None,
        metric: None,
        scope: None,
        route_type: None,
        no_track: false,
        words: l.words.iter().map(|w| w.text.clone()).collect(),
        span: l.span(),
    };
    const WITH_VALUE: &[&str] = &[
        "src",
        "via",
        "gw",
        "dev",
        "oif",
        "table",
        "metric",
        "preference",
        "priority",
        "scope",
        "or",
        "proto",
        "protocol",
        "tos",
        "dsfield",
        "realms",
        "mtu",
        "hoplimit",
        "advmss",
        "initcwnd",
        "initrwnd",
        "rtt",
        "rttvar",
        "window",
        "cwnd",
        "ssthresh",
        "features",
        "quickack",
        "congctl",
        "pref",
        "expires",
        "rto_min",
        "nexthop",
        "weight",
        "encap",
        "track_group",
        "fastopen_no_cookie",
    ];
    let mut i = 0;
    while let Some(k) = l.words.get(i) {
        let t = k.text.as_str();
        if WITH_VALUE.contains(&t) {
            let Some(v) = l.words.get(i + 1) else {
                cx.warn(k.span, format!("`{t}` needs a value"));
                break;
            };
            match t {
                "src" => r.src = cx.ip_word(v, "route src"),
                "via" | "gw" => r.via = cx.ip_word(v, "route gateway"),
                "dev" | "oif" => r.dev = Some(v.text.clone()),
                "table" => r.table = Some(v.text.clone()),
                "metric" | "preference" | "priority" => {
                    r.metric = cx.int_word(v, t, 0, u32::MAX as i64).map(|v| v as u32)
                }
                "scope" => r.scope = Some(v.text.clone()),
                _ => {}
            }
            i += 2;
            continue;
        }
        match t {
            "no_track" => r.no_track = true,
            "onlink" | "pervasive" => {}
            "blackhole" | "unreachable" | "prohibit" | "throw" => {
                r.route_type = Some(t.to_string())
            }
            "to" => {}
            _ if r.to.is_none() => {
                match Prefix::parse(t, l.words.iter().any(|w| w.text.contains(':'))) {
                    Some(p) => r.to = Some(p),
                    None => {
                        cx.warn(
                        k.span,
                        format!("`{t}` is not a valid destination (invalid IP; unknown route keyword); the route is ignored"),
                    );
                        return None;
                    }
                }
            }
            _ => cx.warn(k.span, format!("unexpected `{t}` in route")),
        }
        i += 1;
    }
    let Some(to) = r.to else {
        cx.warn(l.span(), "route without a destination; ignored");
        return None;
    };
    // keepalived follows a route's interface to know whether it is still installed.
    if r.dev.is_none() && !r.no_track {
        cx.warn(
            l.span(),
            format!("cannot track route {to} with no interface specified; not tracking"),
        );
        r.no_track = true;
    }
    Some(r)
}

/// keepalived's preference for a rule that names none.
const DEFAULT_RULE_PREFERENCE: u32 = 16384;

/// A `virtual_rules` / `static_rules` line, with keepalived 2.2.7's checks.
pub(super) fn rule(cx: &mut Ctx, l: &Node) -> Option<VirtualRule> {
    if l.words.is_empty() || l.block.is_some() {
        cx.warn(l.span(), "unexpected block in a rule list; ignored");
        return None;
    }
    let v6 = l.words.iter().any(|w| w.text.contains(':'));
    let mut r = VirtualRule {
        from: None,
        to: None,
        preference: DEFAULT_RULE_PREFERENCE,
        iif: None,
        oif: None,
        fwmark: None,
        table: None,
        action: None,
        not: false,
        no_track: false,
        words: l.words.iter().map(|w| w.text.clone()).collect(),
        span: l.span(),
    };
    let mut preference = false;
    /// Options with a value that lvsd keeps only in `words`.
    const OTHER_VALUED: &[&str] = &[
        "tos",
        "dsfield",
        "realms",
        "uidrange",
        "suppress_prefixlength",
        "suppress_ifgroup",
        "sport",
        "dport",
        "ipproto",
        "protocol",
        "tun_id",
        "type",
    ];
    let mut i = 0;
    while let Some(k) = l.words.get(i) {
        let t = k.text.as_str();
        let value = l.words.get(i + 1);
        let takes_value = matches!(
            t,
            "from"
                | "to"
                | "priority"
                | "preference"
                | "pref"
                | "iif"
                | "oif"
                | "fwmark"
                | "table"
                | "goto"
        ) || OTHER_VALUED.contains(&t);
        if takes_value {
            let Some(v) = value else {
                cx.warn(
                    k.span,
                    format!("rule option `{t}` needs a value; the rule is ignored"),
                );
                return None;
            };
            match t {
                "from" | "to" => match Prefix::parse(&v.text, v6) {
                    Some(p) if t == "from" => r.from = Some(p),
                    Some(p) => r.to = Some(p),
                    None => {
                        cx.warn(
                            v.span,
                            format!("invalid rule {t} address {}; the rule is ignored", v.text),
                        );
                        return None;
                    }
                },
                "priority" | "preference" | "pref" => {
                    match cx.int_word(v, "rule preference", 0, u32::MAX as i64) {
                        Some(p) => {
                            r.preference = p as u32;
                            preference = true;
                        }
                        None => return None,
                    }
                }
                "iif" => r.iif = Some(v.text.clone()),
                "oif" => r.oif = Some(v.text.clone()),
                "fwmark" => r.fwmark = Some(v.text.clone()),
                "table" => r.table = Some(v.text.clone()),
                "goto" => r.action = Some(format!("goto {}", v.text)),
                "type" => r.action = Some(v.text.clone()),
                _ => {}
            }
            i += 2;
            continue;
        }
        match t {
            "not" => r.not = true,
            "no_track" => r.no_track = true,
            "nop" | "blackhole" | "prohibit" | "unreachable" | "l3mdev" => {
                r.action = Some(t.to_string())
            }
            _ => {
                cx.warn(
                    k.span,
                    format!("unknown rule option `{t}`; the rule is ignored"),
                );
                return None;
            }
        }
        i += 1;
    }
    if r.table.is_none() && r.action.is_none() {
        cx.warn(
            l.span(),
            "no action specified for rule (table, goto, blackhole…); ignored",
        );
        return None;
    }
    if !preference {
        cx.warn(
            l.span(),
            format!("rule has no preference specified; setting it to {DEFAULT_RULE_PREFERENCE}, which is probably not what you want"),
        );
    }
    Some(r)
}
