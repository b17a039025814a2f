//! Route and rule lines: `virtual_routes` / `static_routes` and `virtual_rules` /
//! `static_rules`, typed and checked as keepalived 2.2.7 does: the `ip route add` /
//! `ip rule add` option set (names from /etc/iproute2 resolved, see `rtnames`), invalid
//! values reported at their word and the line ignored, and keepalived's warnings (untrackable
//! routes, rules without a preference or an action). `crate::routes` installs the result.

use std::net::IpAddr;

use super::{Ctx, rtnames};
use crate::config::diag::Span;
use crate::config::model::{
    NextHop, PROTO_KEEPALIVED, Prefix, RouteKind, RouteMetric, RouteMetricValue, RouteSpec,
    RuleAction, RuleSpec, TABLE_MAIN, VirtualRoute, VirtualRule,
};
use crate::config::parser::{Node, Word};

/// The words of one line, consumed left to right; every value error names its word.
struct Words<'a> {
    w: &'a [Word],
    i: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a Word> {
        let w = self.w.get(self.i)?;
        self.i += 1;
        Some(w)
    }
}

/// A bad line: where and why; the caller warns and drops the line.
type Bad = (Span, String);

fn value<'a>(ws: &mut Words<'a>, key: &Word) -> Result<&'a Word, Bad> {
    ws.next()
        .ok_or_else(|| (key.span, format!("`{}` needs a value", key.text)))
}

fn parsed<T>(v: &Word, what: &str, r: Option<T>) -> Result<T, Bad> {
    r.ok_or_else(|| (v.span, format!("invalid {what} `{}`", v.text)))
}

/// `tos` / `dsfield`: a name from rt_dsfield or a number whose ECN bits are 0 (the kernel
/// refuses the others).
fn tos(v: &Word) -> Result<u8, Bad> {
    let t = parsed(v, "tos", rtnames::dsfield(&v.text))?;
    if t & 3 != 0 {
        return Err((
            v.span,
            format!("invalid tos `{}`: the ECN bits must be 0", v.text),
        ));
    }
    Ok(t)
}

fn ip(v: &Word, what: &str) -> Result<IpAddr, Bad> {
    parsed(v, what, v.text.parse().ok())
}

fn prefix(v: &Word, v6: bool, what: &str) -> Result<Prefix, Bad> {
    parsed(v, what, Prefix::parse(&v.text, v6))
}

fn num<T: TryFrom<u32>>(v: &Word, what: &str) -> Result<T, Bad> {
    parsed(
        v,
        what,
        rtnames::number(&v.text).and_then(|n| T::try_from(n).ok()),
    )
}

/// `N[/M]` (fwmark), `A-B` (ranges, a single number is A-A).
fn split_num(v: &Word, what: &str, sep: char) -> Result<(u32, Option<u32>), Bad> {
    let (a, b) = match v.text.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (v.text.as_str(), None),
    };
    let bad = || (v.span, format!("invalid {what} `{}`", v.text));
    let a = rtnames::number(a).ok_or_else(bad)?;
    let b = b.map(|b| rtnames::number(b).ok_or_else(bad)).transpose()?;
    Ok((a, b))
}

/// rtt / rttvar / rto_min: milliseconds (a bare number, as keepalived reads it, or with a
/// `ms`/`s`/`us` unit), in the kernel's unit (ms × `scale`); keepalived raises values below
/// 200 ms to 200 ms, with a warning.
fn rtt(v: &Word, scale: u32, warnings: &mut Vec<Bad>) -> Result<u32, Bad> {
    let t = v.text.as_str();
    let bad = || (v.span, format!("invalid time `{t}`"));
    let (n, mult) = if let Some(n) = t.strip_suffix("ms").or_else(|| t.strip_suffix("msec")) {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("us").or_else(|| t.strip_suffix("usec")) {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix("sec").or_else(|| t.strip_suffix('s')) {
        (n, 1000.0)
    } else {
        (t, 1.0)
    };
    let mut ms: f64 = n.parse().map_err(|_| bad())?;
    ms *= mult;
    if !(0.0..=f64::from(u32::MAX / 8)).contains(&ms) {
        return Err(bad());
    }
    if ms < 200.0 {
        warnings.push((
            v.span,
            format!("`{t}` is below the minimum of 200ms; using 200ms"),
        ));
        ms = 200.0;
    }
    Ok((ms * f64::from(scale)) as u32)
}

/// RTAX numbers of the numeric metrics `ip route` takes.
fn metric_number(k: &str) -> Option<u8> {
    Some(match k {
        "mtu" => 2,
        "window" => 3,
        "rtt" => 4,
        "rttvar" => 5,
        "ssthresh" => 6,
        "cwnd" => 7,
        "advmss" => 8,
        "reordering" => 9,
        "hoplimit" => 10,
        "initcwnd" => 11,
        "features" => 12,
        "rto_min" => 13,
        "initrwnd" => 14,
        "quickack" => 15,
        "fastopen_no_cookie" => 17,
        _ => return None,
    })
}

fn metric(ws: &mut Words<'_>, key: &Word, warnings: &mut Vec<Bad>) -> Result<RouteMetric, Bad> {
    let k = key.text.as_str();
    let mut v = value(ws, key)?;
    let lock = v.text == "lock";
    if lock {
        v = value(ws, key)?;
    }
    let value = match k {
        "congctl" => RouteMetricValue::CongCtl(v.text.to_string()),
        "rtt" => RouteMetricValue::Number(4, rtt(v, 8, warnings)?),
        "rttvar" => RouteMetricValue::Number(5, rtt(v, 4, warnings)?),
        "rto_min" => RouteMetricValue::Number(13, rtt(v, 1, warnings)?),
        "features" => match v.text.as_str() {
            "ecn" => RouteMetricValue::Number(12, 1),
            _ => return Err((v.span, format!("unknown route feature `{}`", v.text))),
        },
        "quickack" | "fastopen_no_cookie" => {
            let n: u32 = num(v, k)?;
            if n > 1 {
                return Err((v.span, format!("`{k}` must be 0 or 1")));
            }
            RouteMetricValue::Number(metric_number(k).unwrap_or(0), n)
        }
        _ => RouteMetricValue::Number(metric_number(k).unwrap_or(0), num(v, k)?),
    };
    Ok(RouteMetric { value, lock })
}

/// The `nexthop …` groups that end a multipath route line.
fn nexthops(ws: &mut Words<'_>) -> Result<Vec<NextHop>, Bad> {
    let mut out: Vec<NextHop> = Vec::new();
    while let Some(k) = ws.next() {
        if k.text == "nexthop" {
            out.push(NextHop {
                weight: 1,
                ..NextHop::default()
            });
            continue;
        }
        let Some(nh) = out.last_mut() else {
            return Err((k.span, "expected `nexthop`".into()));
        };
        match k.text.as_str() {
            "via" | "gw" => {
                let mut v = value(ws, k)?;
                if matches!(v.text.as_str(), "inet" | "inet6") {
                    v = value(ws, k)?;
                }
                nh.via = Some(ip(v, "nexthop gateway")?);
            }
            "dev" => nh.dev = Some(value(ws, k)?.text.to_string()),
            "weight" => {
                let v = value(ws, k)?;
                let w: u16 = num(v, "nexthop weight")?;
                if !(1..=256).contains(&w) {
                    return Err((v.span, format!("nexthop weight {w} is outside 1..=256")));
                }
                nh.weight = w;
            }
            "onlink" => nh.onlink = true,
            "realms" => {
                let v = value(ws, k)?;
                nh.realms = Some(parsed(v, "realms", rtnames::realms(&v.text))?);
            }
            "no_track" | "inet6" => {}
            t => return Err((k.span, format!("unknown nexthop option `{t}`"))),
        }
    }
    if out.iter().any(|n| n.via.is_none() && n.dev.is_none()) {
        return Err((ws.w[0].span, "a nexthop needs `via` or `dev`".into()));
    }
    Ok(out)
}

/// Parses one route line into `spec` (no_track returned separately).
/// `via [inet|inet6] ADDR` (or the deprecated `gw`).
fn gateway(ws: &mut Words, k: &Word, warnings: &mut Vec<Bad>) -> Result<IpAddr, Bad> {
    if k.text == "gw" {
        warnings.push((
            k.span,
            "\"gw\" for routes is deprecated; use \"via\"".into(),
        ));
    }
    let mut v = value(ws, k)?;
    if matches!(v.text.as_str(), "inet" | "inet6") {
        v = value(ws, k)?;
    }
    ip(v, "route gateway")
}

/// `pref low|medium|high` as the kernel's ICMPV6_ROUTER_PREF_* value.
fn pref(v: &Word) -> Result<u8, Bad> {
    match v.text.as_str() {
        "low" => Ok(3),
        "medium" => Ok(0),
        "high" => Ok(1),
        _ => Err((v.span, format!("invalid pref `{}`", v.text))),
    }
}

fn route_spec(
    l: &Node,
    spec: &mut RouteSpec,
    no_track: &mut bool,
    warnings: &mut Vec<Bad>,
) -> Result<(), Bad> {
    let v6 = l
        .words
        .iter()
        .any(|w| w.text.contains(':') || w.text == "inet6");
    let mut ws = Words { w: &l.words, i: 0 };
    while let Some(k) = ws.next() {
        let t = k.text.as_str();
        match t {
            "src" => spec.src = Some(ip(value(&mut ws, k)?, "route src")?),
            "via" | "gw" => spec.via = Some(gateway(&mut ws, k, warnings)?),
            "or" => {
                warnings.push((
                    k.span,
                    "\"or\" for routes is deprecated; use \"nexthop\"".into(),
                ));
                spec.or_via = Some(ip(value(&mut ws, k)?, "route `or` gateway")?);
            }
            "dev" | "oif" => spec.dev = Some(value(&mut ws, k)?.text.to_string()),
            "from" => spec.from = Some(prefix(value(&mut ws, k)?, v6, "route from")?),
            "table" => {
                let v = value(&mut ws, k)?;
                spec.table = parsed(v, "routing table", rtnames::table(&v.text))?;
            }
            "metric" | "preference" | "priority" => {
                spec.metric = Some(num(value(&mut ws, k)?, "route metric")?)
            }
            "scope" => {
                let v = value(&mut ws, k)?;
                spec.scope = Some(parsed(v, "scope", rtnames::scope(&v.text))?);
            }
            "protocol" => {
                let v = value(&mut ws, k)?;
                spec.protocol = parsed(v, "protocol", rtnames::protocol(&v.text))?;
            }
            "tos" | "dsfield" => spec.tos = Some(tos(value(&mut ws, k)?)?),
            "realms" => {
                let v = value(&mut ws, k)?;
                spec.realms = Some(parsed(v, "realms", rtnames::realms(&v.text))?);
            }
            "pref" => spec.pref = Some(pref(value(&mut ws, k)?)?),
            "expires" => spec.expires = Some(num(value(&mut ws, k)?, "expires")?),
            "track_group" => spec.track_group = Some(value(&mut ws, k)?.text.to_string()),
            "nexthop" => {
                ws.i -= 1;
                spec.nexthops = nexthops(&mut ws)?;
            }
            "encap" | "nhid" | "vrf" | "ttl-propagate" => {
                return Err((k.span, format!("lvsd does not install routes with `{t}`")));
            }
            "no_track" => *no_track = true,
            "onlink" => spec.onlink = true,
            "append" => {
                // rtnetlink's add request has no NLM_F_APPEND; said, not silently dropped.
                warnings.push((
                    k.span,
                    "lvsd adds the route as `ip route add` does; `append` has no effect".into(),
                ));
                spec.append = true;
            }
            "inet6" => spec.inet6 = true,
            "to" => spec.dst = Some(prefix(value(&mut ws, k)?, v6, "destination")?),
            "congctl" => spec.metrics.push(metric(&mut ws, k, warnings)?),
            _ if metric_number(t).is_some() => spec.metrics.push(metric(&mut ws, k, warnings)?),
            _ if RouteKind::parse(t).is_some() && spec.dst.is_none() => {
                spec.kind = RouteKind::parse(t).unwrap_or_default()
            }
            _ if spec.dst.is_none() => match Prefix::parse(t, v6) {
                Some(p) => spec.dst = Some(p),
                None => {
                    return Err((
                        k.span,
                        format!(
                            "`{t}` is not a valid destination (invalid IP; unknown route keyword)"
                        ),
                    ));
                }
            },
            _ => return Err((k.span, format!("unexpected `{t}` in route"))),
        }
    }
    Ok(())
}

/// A `virtual_routes` / `static_routes` line, with keepalived 2.2.7's checks.
pub(super) fn route(cx: &mut Ctx, l: &Node) -> Option<VirtualRoute> {
    if l.words.is_empty() || l.block.is_some() {
        cx.warn(l.span(), "unexpected block in a route list; ignored");
        return None;
    }
    let mut spec = RouteSpec {
        table: TABLE_MAIN,
        protocol: PROTO_KEEPALIVED,
        ..RouteSpec::default()
    };
    let mut no_track = false;
    let mut warnings = Vec::new();
    let parsed = route_spec(l, &mut spec, &mut no_track, &mut warnings);
    for (span, msg) in warnings {
        cx.warn(span, msg);
    }
    if let Err((span, msg)) = parsed {
        cx.warn(span, format!("{msg}; the route is ignored"));
        return None;
    }
    let Some(to) = spec.dst else {
        cx.warn(l.span(), "route without a destination; ignored");
        return None;
    };
    if spec.kind.is_reject() && (spec.via.is_some() || spec.dev.is_some()) {
        cx.warn(
            l.span(),
            format!(
                "a {:?} route takes no gateway or device; the route is ignored",
                spec.kind
            )
            .to_lowercase(),
        );
        return None;
    }
    // keepalived recognises its tracked routes by their protocol (it resets it before it
    // looks for the interface, so an untrackable line is reset too).
    if !no_track && spec.protocol != PROTO_KEEPALIVED {
        cx.warn(
            l.span(),
            format!("route cannot be tracked if protocol is not keepalived ({PROTO_KEEPALIVED}); resetting protocol"),
        );
        spec.protocol = PROTO_KEEPALIVED;
    }
    // keepalived follows a route's interface to know whether it is still installed.
    // (keepalived 2.2.7 asks for the line's own `dev`, nexthop ones do not count.)
    if spec.dev.is_none() && !no_track {
        cx.warn(
            l.span(),
            format!("cannot track route {to} with no interface specified; not tracking"),
        );
        no_track = true;
    }
    Some(VirtualRoute {
        to: Some(to),
        src: spec.src,
        via: spec.via,
        dev: spec.dev.clone(),
        table: l
            .words
            .iter()
            .position(|w| w.text == "table")
            .and_then(|i| l.words.get(i + 1))
            .map(|w| w.text.to_string()),
        metric: spec.metric,
        scope: l
            .words
            .iter()
            .position(|w| w.text == "scope")
            .and_then(|i| l.words.get(i + 1))
            .map(|w| w.text.to_string()),
        route_type: (spec.kind != RouteKind::Unicast)
            .then(|| format!("{:?}", spec.kind).to_lowercase()),
        no_track,
        spec,
        words: l.words.iter().map(|w| w.text.to_string()).collect(),
        span: l.span(),
    })
}

/// keepalived's preference for a rule that names none.
const DEFAULT_RULE_PREFERENCE: u32 = 16384;

/// Parses one rule line into `spec`; returns whether a preference was given.
fn rule_spec(l: &Node, r: &mut RuleSpec, no_track: &mut bool) -> Result<bool, Bad> {
    let v6 = l
        .words
        .iter()
        .any(|w| w.text.contains(':') || w.text == "inet6");
    let mut preference = false;
    let mut ws = Words { w: &l.words, i: 0 };
    while let Some(k) = ws.next() {
        let t = k.text.as_str();
        match t {
            "from" => r.from = Some(prefix(value(&mut ws, k)?, v6, "rule from address")?),
            "to" => r.to = Some(prefix(value(&mut ws, k)?, v6, "rule to address")?),
            "priority" | "preference" => {
                r.preference = num(value(&mut ws, k)?, "rule preference")?;
                preference = true;
            }
            "table" | "lookup" => {
                let v = value(&mut ws, k)?;
                r.table = Some(parsed(v, "routing table", rtnames::table(&v.text))?);
                r.action = RuleAction::Table;
            }
            "goto" => {
                r.goto = Some(num(value(&mut ws, k)?, "goto target")?);
                r.action = RuleAction::Goto;
            }
            "iif" | "dev" => r.iif = Some(value(&mut ws, k)?.text.to_string()),
            "oif" => r.oif = Some(value(&mut ws, k)?.text.to_string()),
            "fwmark" => {
                let (m, mask) = split_num(value(&mut ws, k)?, "fwmark", '/')?;
                r.fwmark = Some(m);
                r.fwmask = mask;
            }
            "tos" | "dsfield" => r.tos = Some(tos(value(&mut ws, k)?)?),
            "realms" => {
                let v = value(&mut ws, k)?;
                r.realms = Some(parsed(v, "realms", rtnames::realms(&v.text))?);
            }
            "suppress_prefixlength" => {
                r.suppress_prefixlength = Some(num(value(&mut ws, k)?, "suppress_prefixlength")?)
            }
            "suppress_ifgroup" => {
                r.suppress_ifgroup = Some(num(value(&mut ws, k)?, "suppress_ifgroup")?)
            }
            "uidrange" => {
                let v = value(&mut ws, k)?;
                let (a, b) = split_num(v, "uidrange", '-')?;
                r.uidrange = Some((a, b.unwrap_or(a)));
            }
            "sport" | "dport" => {
                let v = value(&mut ws, k)?;
                let (a, b) = split_num(v, t, '-')?;
                let a =
                    u16::try_from(a).map_err(|_| (v.span, format!("invalid {t} `{}`", v.text)))?;
                let b = u16::try_from(b.unwrap_or(u32::from(a)))
                    .map_err(|_| (v.span, format!("invalid {t} `{}`", v.text)))?;
                if t == "sport" {
                    r.sport = Some((a, b));
                } else {
                    r.dport = Some((a, b));
                }
            }
            "ipproto" => {
                let v = value(&mut ws, k)?;
                r.ipproto = Some(match v.text.to_ascii_lowercase().as_str() {
                    "tcp" => 6,
                    "udp" => 17,
                    "icmp" => 1,
                    "ipv6-icmp" | "icmpv6" => 58,
                    "sctp" => 132,
                    _ => num(v, "ipproto")?,
                });
            }
            "protocol" => {
                let v = value(&mut ws, k)?;
                r.protocol = parsed(v, "protocol", rtnames::protocol(&v.text))?;
            }
            "tun_id" => {
                let v = value(&mut ws, k)?;
                r.tun_id = Some(parsed(v, "tun_id", v.text.parse().ok())?);
            }
            "type" => {
                let v = value(&mut ws, k)?;
                r.action = rule_type(v)?;
            }
            "track_group" => r.track_group = Some(value(&mut ws, k)?.text.to_string()),
            "not" => r.not = true,
            "no_track" => *no_track = true,
            "inet6" => r.inet6 = true,
            "l3mdev" => r.l3mdev = true,
            "nop" | "blackhole" | "prohibit" | "unreachable" => r.action = rule_type(k)?,
            _ => return Err((k.span, format!("unknown rule option `{t}`"))),
        }
    }
    Ok(preference)
}

fn rule_type(v: &Word) -> Result<RuleAction, Bad> {
    Ok(match v.text.as_str() {
        "nop" => RuleAction::Nop,
        "blackhole" => RuleAction::Blackhole,
        "prohibit" => RuleAction::Prohibit,
        "unreachable" => RuleAction::Unreachable,
        "unicast" => RuleAction::Table,
        t => return Err((v.span, format!("unknown rule type `{t}`"))),
    })
}

/// A `virtual_rules` / `static_rules` line, with keepalived 2.2.7's checks.
pub(super) fn rule(cx: &mut Ctx, l: &Node) -> Option<VirtualRule> {
    if l.words.is_empty() || l.block.is_some() {
        cx.warn(l.span(), "unexpected block in a rule list; ignored");
        return None;
    }
    let mut r = RuleSpec {
        preference: DEFAULT_RULE_PREFERENCE,
        ..RuleSpec::default()
    };
    let mut no_track = false;
    let preference = match rule_spec(l, &mut r, &mut no_track) {
        Ok(p) => p,
        Err((span, msg)) => {
            cx.warn(span, format!("{msg}; the rule is ignored"));
            return None;
        }
    };
    let has_action =
        r.table.is_some() || r.goto.is_some() || r.l3mdev || r.action != RuleAction::Table;
    if !has_action {
        cx.warn(
            l.span(),
            "no action specified for rule (table, goto, blackhole…); ignored",
        );
        return None;
    }
    if r.from
        .zip(r.to)
        .is_some_and(|(f, t)| f.addr.is_ipv6() != t.addr.is_ipv6())
    {
        cx.warn(
            l.span(),
            "rule mixes IPv4 and IPv6 addresses; the rule is ignored",
        );
        return None;
    }
    // keepalived marks (and recognises) its tracked rules by protocol; a no_track rule keeps
    // what the line says (none by default).
    if !no_track {
        if r.protocol != 0 && r.protocol != PROTO_KEEPALIVED {
            cx.warn(
                l.span(),
                format!("rule cannot be tracked if protocol is not keepalived ({PROTO_KEEPALIVED}); resetting protocol"),
            );
        }
        r.protocol = PROTO_KEEPALIVED;
    }
    if !preference {
        cx.warn(
            l.span(),
            format!("rule has no preference specified; setting it to {DEFAULT_RULE_PREFERENCE}, which is probably not what you want"),
        );
    }
    let word_after = |k: &[&str]| {
        l.words
            .iter()
            .position(|w| k.contains(&w.text.as_str()))
            .and_then(|i| l.words.get(i + 1))
            .map(|w| w.text.to_string())
    };
    let action = match r.action {
        RuleAction::Goto => r.goto.map(|g| format!("goto {g}")),
        RuleAction::Table => None,
        a => Some(format!("{a:?}").to_lowercase()),
    };
    Some(VirtualRule {
        from: r.from,
        to: r.to,
        preference: r.preference,
        iif: r.iif.clone(),
        oif: r.oif.clone(),
        fwmark: word_after(&["fwmark"]),
        table: word_after(&["table", "lookup"]),
        action,
        not: r.not,
        no_track,
        spec: r,
        words: l.words.iter().map(|w| w.text.to_string()).collect(),
        span: l.span(),
    })
}
