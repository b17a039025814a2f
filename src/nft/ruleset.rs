//! A wanted nftables table, its rendering as one atomic nft script, the shape it has once
//! listed back (`nft -j`), and [`converge`]: list, compare, replace or delete.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::backend::Nft;

/// One set or map: its nft type (`ipv4_addr`, `ipv6_addr . iface_index`,
/// `ipv4_addr . inet_service : mark`) and elements, each in nft syntax (`10.0.0.1`,
/// `fe80::1 . "eth0"`, `10.0.0.1-10.0.0.3 . 80 : 1000`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Set {
    pub name: String,
    pub kind: String,
    /// `flags constant` and the like, verbatim.
    pub flags: Option<String>,
    /// A map (`kind` has ` : TYPE`), not a set.
    pub is_map: bool,
    /// A counter per element.
    pub counter: bool,
    pub elements: BTreeSet<String>,
}

/// One rule: the nft text, and what its listing reduces to (see [`rule_signature`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub text: String,
    pub signature: Vec<String>,
}

/// A chain; `hook` is `Some(("filter", "input", -1))` for a base chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub hook: Option<(String, String, i32)>,
    pub rules: Vec<Rule>,
}

/// A whole table lvsd owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `ip`, `ip6` or `inet`.
    pub family: String,
    pub name: String,
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
}

/// What a table looks like for comparison: sets with elements, chains with hook, priority and
/// rule signatures. Counter values and handles are left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    pub sets: BTreeMap<String, BTreeSet<String>>,
    pub chains: BTreeMap<String, ChainShape>,
}

/// A chain's hook and priority (base chains), and its rule signatures in order.
pub type ChainShape = (Option<(String, i64)>, Vec<Vec<String>>);

impl Table {
    /// Replaces whatever table of that name exists with this one, in one transaction (the
    /// leading `add table` makes the `delete` succeed when there is none).
    pub fn script(&self) -> String {
        let (f, t) = (&self.family, &self.name);
        let mut s = format!("add table {f} {t}\ndelete table {f} {t}\nadd table {f} {t}\n");
        for set in &self.sets {
            let flags = set
                .flags
                .as_ref()
                .map(|x| format!(" flags {x};"))
                .unwrap_or_default();
            let elems = if set.elements.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = set
                    .elements
                    .iter()
                    .map(|e| match (set.counter, e.split_once(" : ")) {
                        (false, _) => e.clone(),
                        (true, Some((k, v))) => format!("{k} counter : {v}"),
                        (true, None) => format!("{e} counter"),
                    })
                    .collect();
                format!(" elements = {{ {} }};", list.join(", "))
            };
            let (what, counter) = (
                if set.is_map { "map" } else { "set" },
                if set.counter { " counter;" } else { "" },
            );
            s += &format!(
                "add {what} {f} {t} {} {{ type {};{flags}{counter}{elems} }}\n",
                set.name, set.kind
            );
        }
        for c in &self.chains {
            match &c.hook {
                Some((ty, hook, prio)) => {
                    s += &format!(
                        "add chain {f} {t} {} {{ type {ty} hook {hook} priority {prio}; policy accept; }}\n",
                        c.name
                    )
                }
                None => s += &format!("add chain {f} {t} {}\n", c.name),
            }
        }
        for c in &self.chains {
            for r in &c.rules {
                s += &format!("add rule {f} {t} {} {}\n", c.name, r.text);
            }
        }
        s
    }

    /// The shape `nft -j list table` gives once [`Table::script`] is applied.
    pub fn shape(&self) -> Shape {
        Shape {
            sets: self
                .sets
                .iter()
                .map(|s| {
                    let elems = s.elements.iter().map(|e| e.replace('"', "")).collect();
                    (s.name.clone(), elems)
                })
                .collect(),
            chains: self
                .chains
                .iter()
                .map(|c| {
                    let hook = c.hook.as_ref().map(|(_, h, p)| (h.clone(), i64::from(*p)));
                    let rules = c.rules.iter().map(|r| r.signature.clone()).collect();
                    (c.name.clone(), (hook, rules))
                })
                .collect(),
        }
    }
}

/// The deletion script of a table (succeeds whether or not it exists).
pub fn delete_script(family: &str, name: &str) -> String {
    format!("add table {family} {name}\ndelete table {family} {name}\n")
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(kv) if kv.len() == 2 => {
            format!("{} : {}", value_text(&kv[0]), value_text(&kv[1]))
        }
        Value::Object(o) => {
            if let Some(e) = o.get("elem") {
                return value_text(&e["val"]);
            }
            if let Some(m) = o.get("map") {
                return format!("map {}", value_text(&m["data"]));
            }
            if let Some(Value::Array(parts)) = o.get("concat") {
                return parts.iter().map(value_text).collect::<Vec<_>>().join(" . ");
            }
            if let Some(p) = o.get("prefix") {
                return format!("{}/{}", value_text(&p["addr"]), value_text(&p["len"]));
            }
            if let Some(Value::Array(items)) = o.get("set") {
                let mut v: Vec<String> = items.iter().map(value_text).collect();
                v.sort();
                return format!("{{{}}}", v.join(","));
            }
            if let Some(r) = o.get("range") {
                return format!("{}-{}", value_text(&r[0]), value_text(&r[1]));
            }
            v.to_string()
        }
        _ => v.to_string(),
    }
}

/// A listed rule reduced to what lvsd decides: matched values (sets as `@name`), counters,
/// `meta mark set` values and verdicts.
pub fn rule_signature(expr: &[Value]) -> Vec<String> {
    let mut sig = Vec::new();
    for st in expr {
        let Some((k, v)) = st.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match k.as_str() {
            "match" => sig.push(value_text(&v["right"])),
            "counter" => sig.push("counter".into()),
            "goto" | "jump" => sig.push(format!("{k} {}", value_text(&v["target"]))),
            "mangle" => sig.push(format!("set {}", value_text(&v["value"]))),
            other => sig.push(other.to_string()),
        }
    }
    sig
}

/// The shape of a `nft -j list table` answer.
pub fn observed_shape(listing: &Value) -> Shape {
    let mut shape = Shape::default();
    let Some(items) = listing["nftables"].as_array() else {
        return shape;
    };
    for item in items {
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let elems = s["elem"]
                .as_array()
                .map(|a| a.iter().map(value_text).collect())
                .unwrap_or_default();
            shape
                .sets
                .insert(s["name"].as_str().unwrap_or("").into(), elems);
        } else if let Some(c) = item.get("chain") {
            let hook = c["hook"]
                .as_str()
                .map(|h| (h.to_string(), c["prio"].as_i64().unwrap_or(i64::MIN)));
            shape
                .chains
                .entry(c["name"].as_str().unwrap_or("").into())
                .or_default()
                .0 = hook;
        } else if let Some(r) = item.get("rule") {
            let sig = rule_signature(r["expr"].as_array().map_or(&[][..], Vec::as_slice));
            shape
                .chains
                .entry(r["chain"].as_str().unwrap_or("").into())
                .or_default()
                .1
                .push(sig);
        }
    }
    shape
}

/// An `nft list table` text reduced for comparing what two programs wrote: trimmed lines,
/// counter values and set elements left out (their order is the kernel's hash order; compare
/// them through [`observed_shape`]).
pub fn comparable_text(listing: &str) -> String {
    let mut text = String::new();
    let mut in_elements = false;
    for line in listing.lines() {
        let l = line.trim();
        if in_elements || l.starts_with("elements = {") {
            in_elements = !l.ends_with('}');
            continue;
        }
        let mut words = Vec::new();
        let mut it = l.split_whitespace();
        while let Some(w) = it.next() {
            words.push(w);
            if w == "packets" || w == "bytes" {
                it.next();
            }
        }
        text += &words.join(" ");
        text += "\n";
    }
    text
}

/// What [`converge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Written,
    Deleted,
}

/// Brings table `family name` to `want`: None deletes it.
pub async fn converge(
    nft: &dyn Nft,
    family: &str,
    name: &str,
    want: Option<&Table>,
) -> anyhow::Result<Outcome> {
    let have = nft.list(family, name).await?;
    match (want, have) {
        (None, None) => Ok(Outcome::Unchanged),
        (None, Some(_)) => {
            nft.apply(&delete_script(family, name)).await?;
            Ok(Outcome::Deleted)
        }
        (Some(t), have) => {
            if have.is_some_and(|h| observed_shape(&h) == t.shape()) {
                return Ok(Outcome::Unchanged);
            }
            nft.apply(&t.script()).await?;
            Ok(Outcome::Written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_reduces_to_the_shape_lvsd_decides() {
        let listing: Value = serde_json::from_str(
            r#"{"nftables":[{"metainfo":{}},{"table":{"family":"ip6","name":"kt"}},
            {"set":{"name":"vips","type":"ipv6_addr","elem":["fd00::2","fd00::1"]}},
            {"set":{"name":"ll","type":["ipv6_addr","iface_index"],"elem":[{"concat":["fe80::100","lo"]}]}},
            {"chain":{"name":"in","type":"filter","hook":"input","prio":-1,"policy":"accept"}},
            {"chain":{"name":"in_ll"}},
            {"rule":{"chain":"in","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":{"prefix":{"addr":"fe80::","len":10}}}},{"goto":{"target":"in_ll"}}]}},
            {"rule":{"chain":"in","expr":[{"match":{"op":"==","left":{},"right":"@vips"}},{"counter":{"packets":3,"bytes":9}},{"drop":null}]}}]}"#,
        )
        .unwrap_or_default();
        let s = observed_shape(&listing);
        assert_eq!(
            s.sets["vips"],
            ["fd00::1", "fd00::2"].map(String::from).into()
        );
        assert_eq!(s.sets["ll"], ["fe80::100 . lo".to_string()].into());
        assert_eq!(s.chains["in"].0, Some(("input".into(), -1)));
        assert_eq!(
            s.chains["in"].1,
            vec![
                vec!["fe80::/10".to_string(), "goto in_ll".into()],
                vec!["@vips".into(), "counter".into(), "drop".into()],
            ]
        );
        assert_eq!(s.chains["in_ll"], (None, vec![]));
    }

    #[test]
    fn script_replaces_the_table_atomically() {
        let t = Table {
            family: "ip".into(),
            name: "k".into(),
            sets: vec![Set {
                name: "vips".into(),
                kind: "ipv4_addr".into(),
                flags: None,
                is_map: false,
                counter: false,
                elements: ["10.0.0.1".to_string()].into(),
            }],
            chains: vec![Chain {
                name: "in".into(),
                hook: Some(("filter".into(), "input".into(), -1)),
                rules: vec![Rule {
                    text: "ip daddr @vips drop".into(),
                    signature: vec!["@vips".into(), "drop".into()],
                }],
            }],
        };
        assert_eq!(
            t.script(),
            "add table ip k\ndelete table ip k\nadd table ip k\n\
             add set ip k vips { type ipv4_addr; elements = { 10.0.0.1 }; }\n\
             add chain ip k in { type filter hook input priority -1; policy accept; }\n\
             add rule ip k in ip daddr @vips drop\n"
        );
    }
}
