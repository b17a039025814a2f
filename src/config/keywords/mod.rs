//! keepalived's keyword vocabulary, per block: what lvsd models, what it accepts without acting
//! on (so a valid keepalived.conf never gets an "unknown keyword"), the aliases keepalived
//! accepts and the deprecated spellings it warns about. Unknown keywords are matched against
//! the block's vocabulary for a did-you-mean suggestion.
//!
//! Each keyword is one entry (`table::Entry`: name, aliases, arity, one-line doc, status,
//! handler) in its block's table, next to the handlers in `build/` (`table::specs` says where
//! each block's table is). [`Context::keywords`] reads every block's entries, so the builder's
//! dispatch, suggestions, the `lvsd does not implement X` notes and `docs/keywords.md` come
//! from one place.
//! docs/config-internals.md says how to add a keyword.

pub mod table;

use std::sync::OnceLock;

/// A block kind, for vocabulary lookup and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    TopLevel,
    GlobalDefs,
    VrrpScript,
    TrackFile,
    VrrpTrackProcess,
    VrrpSyncGroup,
    VrrpInstance,
    VirtualServer,
    RealServer,
    Checker,
    HttpChecker,
    Url,
    Ssl,
    BfdInstance,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::TopLevel => "the top level",
            Context::GlobalDefs => "global_defs",
            Context::VrrpScript => "vrrp_script",
            Context::TrackFile => "track_file",
            Context::VrrpTrackProcess => "vrrp_track_process",
            Context::VrrpSyncGroup => "vrrp_sync_group",
            Context::VrrpInstance => "vrrp_instance",
            Context::VirtualServer => "virtual_server",
            Context::RealServer => "real_server",
            Context::Checker => "the checker",
            Context::HttpChecker => "HTTP_GET/SSL_GET",
            Context::Url => "url",
            Context::Ssl => "SSL",
            Context::BfdInstance => "bfd_instance",
        }
    }

    /// Every keyword of this block, in table order: the single source for the builder's
    /// dispatch, did-you-mean, the `lvsd does not implement` notes and `docs/keywords.md`.
    pub fn keywords(self) -> &'static [Spec] {
        static SPECS: [OnceLock<Vec<Spec>>; CONTEXTS.len()] =
            [const { OnceLock::new() }; CONTEXTS.len()];
        SPECS[self as usize].get_or_init(|| table::specs(self))
    }

    /// The entry for `kw` (its name or one of its aliases).
    pub fn lookup(self, kw: &str) -> Option<&'static Spec> {
        self.keywords().iter().find(|s| s.matches(kw))
    }

    /// Every spelling known here (names and aliases), in table order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.keywords()
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
    }

    pub fn knows(self, kw: &str) -> bool {
        self.lookup(kw).is_some()
    }

    /// The closest known keyword to a misspelt one, if it is close enough to be a typo.
    pub fn suggest(self, kw: &str) -> Option<&'static str> {
        suggest(kw, self.names())
    }
}

/// Every block kind, in the order the keyword reference lists them.
pub const CONTEXTS: &[Context] = &[
    Context::TopLevel,
    Context::GlobalDefs,
    Context::VrrpScript,
    Context::TrackFile,
    Context::VrrpTrackProcess,
    Context::VrrpSyncGroup,
    Context::VrrpInstance,
    Context::VirtualServer,
    Context::RealServer,
    Context::Checker,
    Context::HttpChecker,
    Context::Url,
    Context::Ssl,
    Context::BfdInstance,
];

pub use table::{Arity, Spec, Status};

/// One row of the keyword reference: a keyword (or one of its aliases) of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub context: Context,
    /// The keyword this one is another spelling of.
    pub alias_of: Option<&'static str>,
    pub status: Status,
}

/// Every keyword of every block, aliases as rows of their own, in reference order.
pub fn table() -> Vec<Keyword> {
    let mut out = Vec::new();
    for &ctx in CONTEXTS {
        for s in ctx.keywords() {
            out.push(Keyword {
                name: s.name,
                context: ctx,
                alias_of: None,
                status: s.status,
            });
            out.extend(s.aliases.iter().map(|&a| Keyword {
                name: a,
                context: ctx,
                alias_of: Some(s.name),
                status: s.status,
            }));
        }
    }
    out
}

/// `docs/keywords.md`: the keyword reference, generated from the tables (a test keeps the
/// checked-in file equal to this).
pub fn reference_markdown() -> String {
    let t = table();
    let count = |f: fn(&Status) -> bool| t.iter().filter(|k| f(&k.status)).count();
    let mut s = String::from(
        "# keepalived.conf keywords in lvsd\n\n\
         Generated from the keyword tables (`src/config/keywords/`, \
         `keywords::reference_markdown`; docs/config-internals.md says how to add a keyword); \
         `cargo test -p lvsd --test keywords_doc` checks it is current \
         (`LVSD_UPDATE_DOCS=1` rewrites it).\n\n\
         Every keyword of keepalived 2.2.7's grammar that lvsd accepts. **implemented**: read and \
         acted on. **not implemented**: accepted, and reported by `lvsd -t` at `file:line:col` \
         and at start-up as `warning: lvsd does not implement X: …`, counted by the metric \
         `lvsd_config_unimplemented_keywords` and listed in `/status` (`reload.unimplemented`). \
         A keyword not listed is reported as unknown, with a did-you-mean. **takes**: what \
         follows the keyword (a missing argument or block is reported at `file:line:col` and \
         the line ignored).\n\n",
    );
    s += &format!(
        "{} keywords: {} implemented, {} not implemented ({} modelled but not acting, {} accepted without effect).\n",
        t.len(),
        count(|s| *s == Status::Implemented),
        t.len() - count(|s| *s == Status::Implemented),
        count(|s| matches!(s, Status::NotActing(_))),
        count(|s| matches!(s, Status::Ignored(_))),
    );
    for &ctx in CONTEXTS {
        s += &format!(
            "\n## {}\n\n| keyword | takes | status | in lvsd |\n|---|---|---|---|\n",
            ctx.name()
        );
        for k in ctx.keywords() {
            let (status, what) = match k.status {
                Status::Implemented => ("implemented", k.doc.to_string()),
                Status::NotActing(e) | Status::Ignored(e) => ("not implemented", e.to_string()),
            };
            let takes = k.arity.describe();
            s += &format!("| `{}` | {takes} | {status} | {what} |\n", k.name);
            for a in k.aliases {
                s += &format!("| `{a}` | {takes} | {status} | alias of `{}` |\n", k.name);
            }
        }
    }
    s
}

/// Blocks that may start at the top level; a missing `{` after them is assumed.
pub fn is_top_level_block(kw: &str) -> bool {
    Context::TopLevel.knows(kw) && !TOP_LEVEL_LINES.contains(&kw)
}

/// Top-level keywords that are one line, not a block (`instance NAME`, `use_pid_dir`...).
pub const TOP_LEVEL_LINES: &[&str] = &[
    "instance",
    "use_pid_dir",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
];

/// Best match by normalised Damerau-Levenshtein similarity (≥ 0.7), or by prefix for
/// abbreviations (`virtual_router` → `virtual_router_id`).
///
/// Called for every unknown word, so it must be cheap: a candidate is scored only when a lower
/// bound on its distance (from character counts, see [`CharCounts`]) leaves it a chance to
/// beat the best so far. The result is the same as scoring every candidate.
pub fn suggest<'a>(kw: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // No keyword is this long; comparing a huge word would only cost time.
    if kw.len() > 64 {
        return None;
    }
    let lower = kw.to_ascii_lowercase();
    let counts = CharCounts::of(&lower);
    let len = lower.chars().count();
    let mut best: Option<(f64, &'a str)> = None;
    let mut buf = String::new();
    for c in candidates {
        let prefix = lower.len() >= 4 && c.starts_with(lower.as_str());
        let longest = len.max(c.chars().count());
        let bound = counts.distance_bound(c);
        let similarity = |d: usize| {
            if longest == 0 {
                1.0
            } else {
                1.0 - d as f64 / longest as f64
            }
        };
        let ceiling = if prefix { 0.95f64 } else { 0.0 }.max(similarity(bound));
        if best.is_some_and(|(s, _)| ceiling <= s) {
            continue;
        }
        buf.clear();
        buf.extend(c.chars().map(|ch| ch.to_ascii_lowercase()));
        let mut score = strsim::normalized_damerau_levenshtein(&lower, &buf);
        if prefix {
            score = score.max(0.95);
        }
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    // Short words: one edit is still a typo (`rrr` → `rr`).
    best.filter(|&(s, c)| {
        s >= 0.7 || strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()) <= 1
    })
    .map(|(_, c)| c)
}

/// Character counts of a word, folded into 128 buckets (ASCII exactly).
///
/// Every edit (insertion, deletion, substitution, transposition) lowers by at most one both
/// the number of characters one word has in excess of the other and the reverse, so the larger
/// of the two bounds the edit distance from below; folding characters together only lowers it.
struct CharCounts([i16; 128]);

impl CharCounts {
    fn of(word: &str) -> CharCounts {
        let mut n = [0i16; 128];
        for ch in word.chars() {
            let b = &mut n[(ch as u32 & 127) as usize];
            *b = b.saturating_add(1);
        }
        CharCounts(n)
    }

    /// A lower bound on the Damerau-Levenshtein distance to `other` (compared lower-cased).
    fn distance_bound(&self, other: &str) -> usize {
        let mut diff = self.0;
        for ch in other.chars() {
            let b = &mut diff[(ch.to_ascii_lowercase() as u32 & 127) as usize];
            *b = b.saturating_sub(1);
        }
        let (mut excess, mut missing) = (0usize, 0usize);
        for d in diff {
            if d > 0 {
                excess += d as usize;
            } else {
                missing += d.unsigned_abs() as usize;
            }
        }
        excess.max(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_keyword_meant() {
        assert_eq!(Context::GlobalDefs.suggest("route_id"), Some("router_id"));
        assert_eq!(
            Context::VrrpInstance.suggest("virtual_router"),
            Some("virtual_router_id")
        );
        assert_eq!(Context::VrrpInstance.suggest("priorty"), Some("priority"));
        assert_eq!(Context::VirtualServer.suggest("lb_algoo"), Some("lb_algo"));
        assert_eq!(Context::GlobalDefs.suggest("zzzzzz"), None);
    }

    /// The pruned search returns what scoring every candidate returns.
    #[test]
    fn pruned_suggestion_matches_the_full_search() {
        fn full<'a>(kw: &str, cands: &[&'a str]) -> Option<&'a str> {
            let lower = kw.to_ascii_lowercase();
            let mut best: Option<(f64, &'a str)> = None;
            for &c in cands {
                let cl = c.to_ascii_lowercase();
                let mut score = strsim::normalized_damerau_levenshtein(&lower, &cl);
                if lower.len() >= 4 && c.starts_with(lower.as_str()) {
                    score = score.max(0.95);
                }
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, c));
                }
            }
            best.filter(|&(s, c)| {
                s >= 0.7 || strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()) <= 1
            })
            .map(|(_, c)| c)
        }
        let words = [
            "",
            "a",
            "rr",
            "rrr",
            "priorty",
            "PRIORITY",
            "virtual_router",
            "lb_algoo",
            "route_id",
            "intreface",
            "état",
            "HTTP_GETT",
            "real_serv",
            "zzzzzz",
            "delay",
            "wieght",
            "ssl_get",
            "notify_mastr",
            "track_scrpt",
            "v",
            "1",
            "__",
            "garp_master_dela",
            "smtp",
        ];
        for ctx in [
            Context::TopLevel,
            Context::GlobalDefs,
            Context::VrrpInstance,
            Context::VirtualServer,
            Context::RealServer,
            Context::Checker,
            Context::HttpChecker,
        ] {
            let cands: Vec<&str> = ctx.names().collect();
            for w in words {
                assert_eq!(
                    suggest(w, cands.iter().copied()),
                    full(w, &cands),
                    "{w:?} in {}",
                    ctx.name()
                );
            }
            // Every keyword with one character dropped or doubled.
            for c in &cands {
                for w in [&c[1..], &format!("{c}{c}")[..c.len() + 1]] {
                    assert_eq!(suggest(w, cands.iter().copied()), full(w, &cands), "{w:?}");
                }
            }
        }
    }

    #[test]
    fn vocabularies_have_no_duplicates() {
        for ctx in [
            Context::TopLevel,
            Context::GlobalDefs,
            Context::VrrpInstance,
            Context::VirtualServer,
            Context::RealServer,
            Context::Checker,
            Context::HttpChecker,
        ] {
            let mut all: Vec<&str> = ctx.names().collect();
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "{}", ctx.name());
        }
    }
}
