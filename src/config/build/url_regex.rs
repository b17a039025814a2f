//! A url's `regex_options`, `regex_min_offset`, `regex_max_offset`, `regex_stack`, and the
//! check at load that the pattern compiles with them (checkers/src/body_regex.rs runs it).

use super::Ctx;
use crate::config::model::UrlCheck;
use crate::config::parser::Node;

/// Handles a `regex_*` option of a url; false if `n` is not one.
pub(super) fn option(cx: &mut Ctx, n: &Node, u: &mut UrlCheck) -> bool {
    const MAX: i64 = i32::MAX as i64;
    match n.keyword() {
        "regex_options" => {
            let mut probe = checkers::RegexOptions::default();
            for w in n.args() {
                match checkers::body_regex::apply_option(&mut probe, &w.text) {
                    Ok(_) => u.regex_options.push(w.text.to_string()),
                    Err(why) => {
                        cx.warn(w.span, format!("regex option `{}`: {why}; ignored", w.text))
                    }
                }
            }
        }
        "regex_min_offset" => {
            u.regex_min_offset = cx.int(n, 0, MAX).map_or(0, |v| v as usize);
        }
        "regex_max_offset" => {
            u.regex_max_offset = cx.int(n, 0, MAX).map(|v| v as usize);
        }
        "regex_stack" => {
            let args = n.args();
            let num = |i: usize| args.get(i).and_then(|w| w.text.parse::<usize>().ok());
            match (num(0), num(1)) {
                (Some(start), Some(max)) if start <= max && max > 0 => {
                    u.regex_stack = Some((start, max))
                }
                _ => cx.warn(
                    n.span(),
                    "`regex_stack` needs START and MAX byte sizes (START <= MAX); ignored",
                ),
            }
        }
        _ => return false,
    }
    true
}

impl UrlCheck {
    /// The spec the checker runs for this url's regex.
    pub fn regex_spec(&self) -> Option<checkers::RegexSpec> {
        let pattern = self.regex.clone()?;
        let mut options = checkers::RegexOptions::default();
        for w in &self.regex_options {
            let _ = checkers::body_regex::apply_option(&mut options, w);
        }
        Some(checkers::RegexSpec {
            pattern,
            no_match: self.regex_no_match,
            options,
            min_offset: self.regex_min_offset,
            max_offset: self.regex_max_offset,
            stack_max: self.regex_stack.map(|(_, max)| max),
        })
    }
}

/// Reports a pattern that does not compile (the url is then checked without it, so the
/// error is never silent).
pub(super) fn validate(cx: &mut Ctx, u: &mut UrlCheck) {
    // Options without a `regex` do nothing (keepalived says nothing about them either).
    let Some(s) = u.regex_spec() else {
        return;
    };
    if let Some(max) = u.regex_max_offset
        && max < u.regex_min_offset
    {
        cx.warn(
            u.span,
            format!(
                "regex_max_offset {max} is below regex_min_offset {}: nothing can match",
                u.regex_min_offset
            ),
        );
    }
    if let Err(e) = checkers::body_regex::compile(&s) {
        cx.warn_note(
            u.span,
            format!(
                "regex {:?} does not compile; the url is checked without it",
                s.pattern
            ),
            format!(
                "note: lvsd's regex engine has no look-around or back-references (PCRE2 \
                 features); {}",
                e.lines().last().unwrap_or_default().trim()
            ),
        );
        u.regex = None;
    }
}
