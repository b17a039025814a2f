//! Value parsers shared by the keyword handlers. Each reports its own diagnostic and returns
//! None on a bad value, so the caller keeps its default.

use std::net::IpAddr;
use std::time::Duration;

use super::Ctx;
use crate::config::model::{Script, ScriptUser};
use crate::config::parser::{Node, Word};

impl Ctx<'_> {
    /// Argument `i` (1-based after the keyword), warning when missing.
    pub(super) fn arg<'n>(&mut self, node: &'n Node, i: usize, what: &str) -> Option<&'n Word> {
        match node.words.get(i) {
            Some(w) => Some(w),
            None => {
                let kw = node.keyword();
                self.warn(node.span(), format!("`{kw}` needs {what}; ignored"));
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn int_word(&mut self, w: &Word, kw: &str, min: i64, max: i64) -> Option<i64> {
        match w.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(v) => {
                self.warn(
                    w.span,
                    format!("`{kw}` {v} is outside {min}..={max}; ignored"),
                );
                None
            }
            Err(_) => {
                self.warn(
                    w.span,
                    format!("`{kw}` expects an integer, not `{}`; ignored", w.text),
                );
                None
            }
        }
    }

    /// `kw N` with N in `min..=max`.
    pub(super) fn int(&mut self, node: &Node, min: i64, max: i64) -> Option<i64> {
        let w = self.arg(node, 1, "a number")?;
        self.int_word(w, node.keyword(), min, max)
    }

    pub(super) fn u32_arg(&mut self, node: &Node) -> Option<u32> {
        self.int(node, 0, u32::MAX as i64).map(|v| v as u32)
    }

    /// keepalived TIMER: decimal seconds with microsecond resolution, 0..=4294.967295 unless
    /// `min_positive` (then at least 1 µs).
    pub(super) fn timer_word(
        &mut self,
        w: &Word,
        kw: &str,
        min_positive: bool,
    ) -> Option<Duration> {
        match parse_seconds(&w.text) {
            Some(d) if min_positive && d.is_zero() => {
                self.warn_note(
                    w.span,
                    format!(
                        "`{kw}` {} is invalid: it must be at least 0.000001; ignored",
                        w.text
                    ),
                    "note: keepalived says: number outside range [0.000001, 4294.967295]",
                );
                None
            }
            Some(d) if d.as_micros() > 4_294_967_295 => {
                self.warn(
                    w.span,
                    format!(
                        "`{kw}` {} is too long (at most 4294.967295 s); ignored",
                        w.text
                    ),
                );
                None
            }
            Some(d) => Some(d),
            None => {
                self.warn(
                    w.span,
                    format!(
                        "`{kw}` expects seconds (e.g. 3 or 0.5), not `{}`; ignored",
                        w.text
                    ),
                );
                None
            }
        }
    }

    pub(super) fn timer(&mut self, node: &Node) -> Option<Duration> {
        let w = self.arg(node, 1, "a time in seconds")?;
        self.timer_word(w, node.keyword(), false)
    }

    /// Whole seconds as keepalived's `<INTEGER>` seconds options.
    pub(super) fn secs(&mut self, node: &Node, max: i64) -> Option<Duration> {
        self.int(node, 0, max)
            .map(|v| Duration::from_secs(v as u64))
    }

    /// Optional boolean argument: absent → true; on/off/true/false/yes/no.
    pub(super) fn flag(&mut self, node: &Node) -> bool {
        match node.words.get(1) {
            None => true,
            Some(w) => match w.text.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                _ => {
                    self.warn(
                        w.span,
                        format!(
                            "`{}` expects on/off, true/false or yes/no, not `{}`; taken as on",
                            node.keyword(),
                            w.text
                        ),
                    );
                    true
                }
            },
        }
    }

    pub(super) fn ip_word(&mut self, w: &Word, what: &str) -> Option<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.warn(
                    w.span,
                    format!("`{}` is not a valid IP address for {what}; ignored", w.text),
                );
                None
            }
        }
    }

    pub(super) fn ip(&mut self, node: &Node) -> Option<IpAddr> {
        let w = self.arg(node, 1, "an IP address")?;
        self.ip_word(w, &format!("`{}`", node.keyword()))
    }

    pub(super) fn port_word(&mut self, w: &Word, what: &str) -> Option<u16> {
        match w.text.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.warn(
                    w.span,
                    format!(
                        "`{}` is not a valid port (0..=65535) for {what}; ignored",
                        w.text
                    ),
                );
                None
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node) -> Option<String> {
        // keepalived reads only the first value; say so rather than drop the rest silently
        // (`url { path / digest … }` on one line loses the digest).
        if let Some(extra) = node.words.get(2) {
            self.warn(
                extra.span,
                format!(
                    "`{}` takes one value; `{}` and what follows are ignored",
                    node.keyword(),
                    extra.text
                ),
            );
        }
        self.arg(node, 1, "a value").map(|w| w.text.to_string())
    }

    /// `kw SCRIPT [user [group]]` with the script at argument `at`.
    pub(super) fn script_at(&mut self, node: &Node, at: usize) -> Option<Script> {
        let w = self.arg(node, at, "a script path")?;
        let argv = split_command(&w.text);
        if argv.is_empty() {
            self.warn(
                w.span,
                format!("`{}` has an empty script; ignored", node.keyword()),
            );
            return None;
        }
        let user = node.words.get(at + 1).map(|u| ScriptUser {
            user: u.text.to_string(),
            group: node.words.get(at + 2).map(|g| g.text.to_string()),
            span: u.span,
        });
        if node.words.len() > at + 3 {
            self.warn(
                node.words[at + 3].span,
                "unexpected words after the script's user and group; ignored",
            );
        }
        Some(Script {
            command: w.text.to_string(),
            argv,
            user,
            span: w.span,
        })
    }

    pub(super) fn script(&mut self, node: &Node) -> Option<Script> {
        self.script_at(node, 1)
    }

    pub(super) fn user(&mut self, node: &Node) -> Option<ScriptUser> {
        let u = self.arg(node, 1, "a user name")?;
        Some(ScriptUser {
            user: u.text.to_string(),
            group: node.words.get(2).map(|g| g.text.to_string()),
            span: u.span,
        })
    }

    /// `weight N [reverse|no_reverse|noreverse]` starting at argument `at`, N in ±`limit`.
    pub(super) fn weight_at(
        &mut self,
        node: &Node,
        at: usize,
        limit: i64,
    ) -> (Option<i32>, Option<bool>) {
        let mut weight = None;
        let mut reverse = None;
        let mut i = at;
        while let Some(w) = node.words.get(i) {
            match w.text.as_str() {
                "weight" => match node.words.get(i + 1) {
                    Some(v) => {
                        weight = self.int_word(v, "weight", -limit, limit).map(|v| v as i32);
                        i += 1;
                    }
                    None => self.warn(w.span, "`weight` needs a number; ignored"),
                },
                "reverse" => reverse = Some(true),
                "no_reverse" | "noreverse" => reverse = Some(false),
                _ => self.warn(
                    w.span,
                    format!("unexpected `{}`; expected `weight N [reverse]`", w.text),
                ),
            }
            i += 1;
        }
        (weight, reverse)
    }
}

/// Decimal seconds → Duration (at most 6 decimals are significant).
pub(super) fn parse_seconds(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u32 = 0;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += u32::from(b - b'0') * 10u32.pow(5 - i as u32);
    }
    Duration::from_secs(secs).checked_add(Duration::from_micros(micros.into()))
}

pub(crate) use checkers::split_command;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("0.000001"), Some(Duration::from_micros(1)));
        assert_eq!(parse_seconds(".25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("1s"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("."), None);
    }

    #[test]
    fn command_words() {
        assert_eq!(
            split_command(r#"/bin/sh -c 'test -f "/x y"' a\ b"#),
            ["/bin/sh", "-c", "test -f \"/x y\"", "a b"]
        );
        assert!(split_command("   ").is_empty());
    }
}
