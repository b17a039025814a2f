//! Command lines as keepalived.conf writes them (`misc_path`, `script`, `notify*`): one parser
//! for every place that runs a program, so a quoting rule never differs between them.

/// Splits a command line into words: unquoted blanks separate; `'…'` keeps everything
/// literally; `"…"` keeps blanks and honours backslash escapes; outside quotes a backslash
/// escapes the next character. An empty quoted string is an (empty) word.
pub fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn quoting_rules() {
        assert_eq!(
            split_command(r#"/bin/sh -c 'test -f "/x y"' a\ b"#),
            vec!["/bin/sh", "-c", r#"test -f "/x y""#, "a b"]
        );
        assert_eq!(
            split_command(r#"  /x 'a\b'  "c \"d\"" e\ f ''  "#),
            vec!["/x", r"a\b", r#"c "d""#, "e f", ""]
        );
        assert!(split_command("   ").is_empty());
    }
}
