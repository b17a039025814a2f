//! Cuts one physical line of keepalived.conf into tokens.
//!
//! Words are separated by blanks; `{` and `}` are tokens of their own even when glued to a word;
//! `#` or `!` outside quotes starts a comment that runs to the end of the line (keepalived
//! accepts both anywhere). `"…"` and `'…'` quote blanks, braces and comment characters; inside
//! quotes a backslash escapes a quote or a backslash. A quoted section may be glued to plain
//! text (`a"b c"d` is the one word `ab cd`), like a shell word.

use super::diag::{FileId, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word {
        text: String,
        quoted: bool,
    },
    Open,
    Close,
    /// End of a physical line. `comment` is the column where a comment started, and
    /// `comment_brace` whether that comment contains a `{` (a common slip: the block's `{`
    /// hidden behind `#`).
    Eol {
        comment: Option<u32>,
        comment_brace: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

impl Token {
    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// A lexing problem on the line: `(column, message)`.
pub type LexError = (u32, String);

/// The tokens of one line (without the trailing `Eol`), the comment info and any error.
#[derive(Debug, Default)]
pub struct LineTokens {
    pub tokens: Vec<Token>,
    pub comment: Option<u32>,
    pub comment_brace: bool,
    pub error: Option<LexError>,
}

/// Lexes `line` (no newline) at 1-based `lineno` of `file`. `col_base` is added to every
/// column (0 for a physical line; used when re-lexing substituted text).
pub fn lex_line(line: &str, file: FileId, lineno: u32, col_base: u32) -> LineTokens {
    let mut out = LineTokens::default();
    let mut chars = line.chars().peekable();
    let mut col: u32 = col_base;
    let mut cur = Word::default();
    let span = |c: u32| Span {
        file,
        line: lineno,
        col: c,
    };

    while let Some(c) = chars.next() {
        col += 1;
        match c {
            ' ' | '\t' | '\r' | '\x0b' | '\x0c' => cur.flush(&mut out.tokens, span),
            '#' | '!' => {
                cur.flush(&mut out.tokens, span);
                out.comment = Some(col);
                out.comment_brace = chars.any(|c| c == '{');
                return out;
            }
            '{' | '}' => {
                cur.flush(&mut out.tokens, span);
                out.tokens.push(Token {
                    tok: if c == '{' { Tok::Open } else { Tok::Close },
                    span: span(col),
                });
            }
            '"' | '\'' => {
                cur.begin(col);
                cur.quoted = true;
                let open_col = col;
                let mut closed = false;
                while let Some(q) = chars.next() {
                    col += 1;
                    if q == c {
                        closed = true;
                        break;
                    }
                    if q == '\\' {
                        if let Some(&n) = chars.peek() {
                            if n == c || n == '\\' {
                                cur.text.push(n);
                                chars.next();
                                col += 1;
                                continue;
                            }
                        }
                    }
                    cur.text.push(q);
                }
                if !closed {
                    out.error = Some((
                        open_col,
                        format!("unterminated quoted string (missing closing {c})"),
                    ));
                    cur.flush(&mut out.tokens, span);
                    return out;
                }
            }
            '$' if chars.peek() == Some(&'{') => {
                // `${NAME}` is one piece of a word, braces included.
                cur.begin(col);
                cur.text.push('$');
                for n in chars.by_ref() {
                    col += 1;
                    cur.text.push(n);
                    if n == '}' {
                        break;
                    }
                }
            }
            _ => {
                cur.begin(col);
                cur.text.push(c);
            }
        }
    }
    cur.flush(&mut out.tokens, span);
    out
}

/// The word being accumulated.
#[derive(Default)]
struct Word {
    text: String,
    start: u32,
    quoted: bool,
    active: bool,
}

impl Word {
    fn begin(&mut self, col: u32) {
        if !self.active {
            self.active = true;
            self.start = col;
        }
    }
    fn flush(&mut self, tokens: &mut Vec<Token>, span: impl Fn(u32) -> Span) {
        if self.active {
            tokens.push(Token {
                tok: Tok::Word {
                    text: std::mem::take(&mut self.text),
                    quoted: self.quoted,
                },
                span: span(self.start),
            });
            self.active = false;
            self.quoted = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        lex_line(line, FileId(0), 1, 0)
            .tokens
            .into_iter()
            .map(|t| match t.tok {
                Tok::Word { text, .. } => text,
                Tok::Open => "{".into(),
                Tok::Close => "}".into(),
                Tok::Eol { .. } => "\\n".into(),
            })
            .collect()
    }

    #[test]
    fn words_braces_and_comments() {
        assert_eq!(
            words("  vrrp_instance VI_1{ # x {"),
            ["vrrp_instance", "VI_1", "{"]
        );
        assert_eq!(words("a}b"), ["a", "}", "b"]);
        assert_eq!(words("weight 1 ! comment"), ["weight", "1"]);
        assert_eq!(words("\t\tpath /a#b"), ["path", "/a"]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            words(r#"script "/bin/sh -c 'kill -0 $(cat /run/x.pid)'" root"#),
            ["script", "/bin/sh -c 'kill -0 $(cat /run/x.pid)'", "root"]
        );
        assert_eq!(words(r#"x "a \"b\" \\ # {}""#), ["x", r#"a "b" \ # {}"#]);
        assert_eq!(words("x 'it''s'"), ["x", "its"]);
    }

    #[test]
    fn columns_count_characters() {
        let t = lex_line("  étoile {", FileId(0), 3, 0).tokens;
        assert_eq!((t[0].span.line, t[0].span.col), (3, 3));
        assert_eq!(t[1].span.col, 10);
    }

    #[test]
    fn unterminated_quote_is_reported_at_the_quote() {
        let l = lex_line("script \"/bin/true", FileId(0), 1, 0);
        assert_eq!(l.error.map(|e| e.0), Some(8));
    }

    #[test]
    fn comment_brace_is_noticed() {
        let l = lex_line("vrrp_instance VI_102 # name {", FileId(0), 1, 0);
        assert_eq!(l.comment, Some(22));
        assert!(l.comment_brace);
    }
}
