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
        text: super::parser::Text,
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
///
/// Works on bytes: every character with a meaning here is ASCII, so multi-byte UTF-8 is
/// always word text; columns count characters (bytes that start one).
pub fn lex_line(line: &str, file: FileId, lineno: u32, col_base: u32) -> LineTokens {
    let mut tokens = Vec::new();
    let info = lex_into(line, file, lineno, col_base, &mut tokens);
    LineTokens {
        tokens,
        comment: info.comment,
        comment_brace: info.comment_brace,
        error: info.error,
    }
}

/// What [`lex_into`] reports besides the tokens.
#[derive(Debug, Default)]
pub struct LineInfo {
    pub comment: Option<u32>,
    pub comment_brace: bool,
    pub error: Option<LexError>,
    /// Column just past the last character of the line.
    pub end_col: u32,
}

/// As [`lex_line`], appending the tokens to `tokens` (no allocation per line).
pub fn lex_into(
    line: &str,
    file: FileId,
    lineno: u32,
    col_base: u32,
    tokens: &mut Vec<Token>,
) -> LineInfo {
    let mut out = LineInfo::default();
    let mut at = Cursor {
        line,
        b: line.as_bytes(),
        i: 0,
        col: col_base,
    };
    let mut cur = Word::default();
    let span = |c: u32| Span {
        file,
        line: lineno,
        col: c,
    };

    while let Some(&c) = at.b.get(at.i) {
        if starts_char(c) {
            at.col += 1;
        }
        match c {
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                cur.flush(tokens, span);
                at.blanks();
            }
            b'#' | b'!' => {
                cur.flush(tokens, span);
                out.comment = Some(at.col);
                out.comment_brace = at.b[at.i..].contains(&b'{');
                out.end_col = at.col + line[at.i..].chars().count() as u32;
                return out;
            }
            b'{' | b'}' => {
                cur.flush(tokens, span);
                tokens.push(Token {
                    tok: if c == b'{' { Tok::Open } else { Tok::Close },
                    span: span(at.col),
                });
                at.i += 1;
            }
            b'"' | b'\'' => {
                let open_col = at.col;
                if !at.quoted(c, &mut cur) {
                    out.error = Some((
                        open_col,
                        format!("unterminated quoted string (missing closing {})", c as char),
                    ));
                    cur.flush(tokens, span);
                    out.end_col = at.col + 1;
                    return out;
                }
            }
            b'$' if at.b.get(at.i + 1) == Some(&b'{') => at.parameter(&mut cur),
            _ => at.plain(&mut cur),
        }
    }
    cur.flush(tokens, span);
    out.end_col = at.col + 1;
    out
}

/// Whether byte `x` starts a character (is not a UTF-8 continuation byte).
fn starts_char(x: u8) -> bool {
    x & 0xc0 != 0x80
}

/// Where the lexer is on the line: byte `i`, and `col`, the column of the character at `i`
/// (1-based once counted: the caller counts the character at `i` before a method runs).
struct Cursor<'a> {
    line: &'a str,
    b: &'a [u8],
    i: usize,
    col: u32,
}

impl Cursor<'_> {
    /// A run of blanks (indentation) in one go: each blank is one column.
    fn blanks(&mut self) {
        self.i += 1;
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
        {
            self.i += 1;
            self.col += 1;
        }
    }

    /// Appends the run `i..end` to the word and moves past it; the run's first character is
    /// already counted.
    fn take(&mut self, end: usize, word: &mut Word) {
        let run = &self.line[self.i..end];
        self.col += (run.bytes().filter(|&x| starts_char(x)).count() as u32).saturating_sub(1);
        word.text.push_str(run);
        self.i = end;
    }

    /// A section quoted by `quote`, appended to the word; false if the line ends first.
    fn quoted(&mut self, quote: u8, word: &mut Word) -> bool {
        let b = self.b;
        word.begin(self.col);
        word.quoted = true;
        self.i += 1;
        while self.i < b.len() {
            let q = b[self.i];
            if starts_char(q) {
                self.col += 1;
            }
            if q == quote {
                self.i += 1;
                return true;
            }
            let i = self.i;
            if q == b'\\' && i + 1 < b.len() && (b[i + 1] == quote || b[i + 1] == b'\\') {
                word.text.push(b[i + 1] as char);
                self.col += 1;
                self.i += 2;
                continue;
            }
            // The run up to the next quote or backslash in one go.
            let end = b[i..]
                .iter()
                .position(|&x| x == quote || x == b'\\')
                .map_or(b.len(), |p| i + p)
                .max(i + 1);
            self.take(end, word);
        }
        false
    }

    /// `${NAME}`: one piece of a word, braces included.
    fn parameter(&mut self, word: &mut Word) {
        word.begin(self.col);
        let i = self.i;
        let end = self.b[i..]
            .iter()
            .position(|&x| x == b'}')
            .map_or(self.b.len(), |p| i + p + 1);
        self.take(end, word);
    }

    /// A run of plain word characters (`$` not followed by `{` is plain text).
    fn plain(&mut self, word: &mut Word) {
        word.begin(self.col);
        let i = self.i;
        let end = self.b[i..]
            .iter()
            .position(|&x| {
                matches!(
                    x,
                    b' ' | b'\t'
                        | b'\r'
                        | 0x0b
                        | 0x0c
                        | b'#'
                        | b'!'
                        | b'{'
                        | b'}'
                        | b'"'
                        | b'\''
                        | b'$'
                )
            })
            .map_or(self.b.len(), |p| i + p);
        self.take(if end == i { i + 1 } else { end }, word);
    }
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
                    // Copied out (inline when short), the buffer kept for the next word.
                    text: super::parser::Text::new(&self.text),
                    quoted: self.quoted,
                },
                span: span(self.start),
            });
            self.text.clear();
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
                Tok::Word { text, .. } => text.to_string(),
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
    fn columns_after_multibyte_text() {
        let t = lex_line("é \"ü x\" 中文 y ${A}z", FileId(0), 1, 0).tokens;
        let cols: Vec<u32> = t.iter().map(|t| t.span.col).collect();
        assert_eq!(cols, [1, 3, 9, 12, 14]);
        assert_eq!(t[1].word(), Some("ü x"));
        assert_eq!(t[4].word(), Some("${A}z"));
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
