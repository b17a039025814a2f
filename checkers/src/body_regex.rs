//! A url's `regex`: the response body (the bytes after the header block, as the digest sees
//! them) must match it, or with `regex_no_match` must not.
//!
//! keepalived uses PCRE2; lvsd uses the `regex` crate (linear time, no JIT stack to size).
//! What differs, and how it is bridged:
//! - Patterns with look-around (`(?=…)`, `(?<!…)`) or back-references (`\1`) are PCRE-only:
//!   they are rejected at load with the position of the problem, never silently changed.
//! - PCRE2's `$` (without `multiline` or `dollar_endonly`) also matches before a final
//!   newline; `regex`'s only at the very end. A subject ending in `\n` is therefore tried again
//!   without that newline, which gives PCRE2's answer for such patterns.
//! - `firstline` is applied as a bound on where the match may start (before the first `\n`).
//! - PCRE2 without `utf`/`ucp` works on bytes with ASCII classes; so does lvsd (`unicode`
//!   off) unless `utf` or `ucp` is given.
//! - `regex_stack START MAX`: there is no JIT stack; MAX bounds the matcher's memory instead
//!   (the `regex` size limits), so a pattern too large for it is refused at load.
//! - The options that only tune PCRE2's optimiser or callouts (`auto_callout`,
//!   `no_auto_possess`, `no_dotstar_anchor`, `no_start_optimize`, `use_offset_limit`,
//!   `dupnames`, `never_backslash_c`) change nothing here; the syntax variants `regex` does
//!   not have (`alt_bsux`, `alt_circumflex`, `alt_verbnames`, `allow_empty_class`,
//!   `match_unset_backref`) are reported by [`parse_options`].

use regex::bytes::{Regex, RegexBuilder};

use crate::spec::{RegexOptions, RegexSpec};

/// Bodies are read for a regex up to this many bytes past `regex_max_offset` (or from the
/// start, without it), so a huge or endless page costs bounded memory.
pub const MAX_SUBJECT: usize = 1 << 20;

/// How many body bytes a regex needs read.
pub fn subject_cap(spec: &RegexSpec) -> usize {
    spec.max_offset.map_or(MAX_SUBJECT, |m| {
        m.saturating_add(64 * 1024).min(MAX_SUBJECT)
    })
}

/// What one `regex_options` word does: `Ok(true)` applied, `Ok(false)` no effect on what
/// matches, `Err(why)` unknown or not available.
pub fn apply_option(o: &mut RegexOptions, word: &str) -> Result<bool, &'static str> {
    match word {
        "caseless" => o.caseless = true,
        "multiline" => o.multiline = true,
        "dotall" => o.dotall = true,
        "extended" => o.extended = true,
        "ungreedy" => o.ungreedy = true,
        "utf" | "ucp" => o.unicode = Some(true),
        "never_utf" | "never_ucp" => o.unicode = Some(false),
        "firstline" => o.firstline = true,
        "dollar_endonly" => o.dollar_endonly = true,
        "no_auto_capture" => o.no_auto_capture = true,
        "auto_callout" | "no_auto_possess" | "no_dotstar_anchor" | "no_start_optimize"
        | "use_offset_limit" | "dupnames" | "never_backslash_c" => return Ok(false),
        "alt_bsux"
        | "alt_circumflex"
        | "alt_verbnames"
        | "allow_empty_class"
        | "match_unset_backref" => {
            return Err("a PCRE2 syntax variant lvsd's regex engine does not have");
        }
        _ => return Err("not a regex option keepalived knows"),
    }
    Ok(true)
}

/// Compiles a url's regex with its options; the error is the engine's, with the position.
pub fn compile(spec: &RegexSpec) -> Result<Regex, String> {
    let o = &spec.options;
    let mut b = RegexBuilder::new(&spec.pattern);
    b.case_insensitive(o.caseless)
        .multi_line(o.multiline)
        .dot_matches_new_line(o.dotall)
        .ignore_whitespace(o.extended)
        .swap_greed(o.ungreedy)
        .unicode(o.unicode.unwrap_or(false));
    if let Some(max) = spec.stack_max {
        b.size_limit(max).dfa_size_limit(max);
    }
    b.build().map_err(|e| e.to_string())
}

/// Whether `re` finds a match in `body` that starts within the offsets.
pub fn found(re: &Regex, spec: &RegexSpec, body: &[u8]) -> bool {
    let mut max = spec.max_offset.unwrap_or(usize::MAX);
    if spec.options.firstline {
        let first_nl = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        max = max.min(first_nl);
    }
    let in_bounds = |subject: &[u8]| {
        spec.min_offset <= subject.len()
            && re
                .find_at(subject, spec.min_offset)
                .is_some_and(|m| m.start() <= max)
    };
    if in_bounds(body) {
        return true;
    }
    // PCRE2's `$` before a final newline (see the module doc).
    let pcre_dollar = !spec.options.dollar_endonly && !spec.options.multiline;
    match body.strip_suffix(b"\n") {
        Some(trimmed) if pcre_dollar && spec.pattern.contains('$') => in_bounds(trimmed),
        _ => false,
    }
}

/// The check's verdict: `None` passes.
pub fn verdict(re: &Regex, spec: &RegexSpec, body: &[u8]) -> Option<bool> {
    let hit = found(re, spec, body);
    (hit == spec.no_match).then_some(hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: &str) -> RegexSpec {
        RegexSpec {
            pattern: p.to_string(),
            ..RegexSpec::default()
        }
    }

    #[test]
    fn options_offsets_and_pcre_dollar() {
        let mut s = spec("status: ok$");
        let re = compile(&s).unwrap();
        assert!(
            found(&re, &s, b"x\nstatus: ok\n"),
            "PCRE2 $ before final newline"
        );
        s.options.dollar_endonly = true;
        assert!(!found(&re, &s, b"x\nstatus: ok\n"));

        let mut s = spec("OK");
        assert!(!found(&compile(&s).unwrap(), &s, b"all ok"));
        apply_option(&mut s.options, "caseless").unwrap();
        assert!(found(&compile(&s).unwrap(), &s, b"all ok"));

        let mut s = spec("ok");
        let re = compile(&s).unwrap();
        s.min_offset = 3;
        assert!(!found(&re, &s, b"ok ..."));
        assert!(found(&re, &s, b"...ok"));
        s.max_offset = Some(4);
        assert!(!found(&re, &s, b".....ok"));
        s.min_offset = 0;
        s.options.firstline = true;
        assert!(!found(&re, &s, b"x\nok"));

        let s = RegexSpec {
            no_match: true,
            ..spec("error")
        };
        let re = compile(&s).unwrap();
        assert_eq!(verdict(&re, &s, b"fine"), None);
        assert_eq!(verdict(&re, &s, b"an error"), Some(true));

        assert!(
            compile(&spec("(a)\\1")).is_err(),
            "back-references are PCRE-only"
        );
        assert!(apply_option(&mut RegexOptions::default(), "bogus").is_err());
        assert_eq!(
            apply_option(&mut RegexOptions::default(), "no_start_optimize"),
            Ok(false)
        );
    }
}
