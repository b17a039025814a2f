//! Preprocessing: files → one token stream.
//!
//! Per physical line, in keepalived's order: comments are dropped (by the lexer); a leading
//! `@ID` keeps the line only when ID is the config id, `@^ID` only when it is not; a line
//! `$NAME=value` defines a parameter (the value is the rest of the line); `${NAME}` and `$NAME`
//! are replaced by defined parameters (undefined ones are left as written, as keepalived does,
//! since scripts legitimately contain `$1`); `include PATTERN` reads every file the glob matches,
//! relative to the including file's directory, in sorted order. Include cycles and runaway
//! depth are errors; a pattern matching nothing is a warning.
//!
//! This is the only module of the config front end that reads files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, FileId, Severity, SourceMap, Span};
use super::lexer::{Tok, Token, lex_line};

/// Maximum include nesting, far beyond any real configuration.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Maximum rounds of parameter substitution in one word (a parameter naming another).
const MAX_SUBST_ROUNDS: usize = 8;

#[derive(Debug, Default)]
pub struct Preprocessed {
    pub tokens: Vec<Token>,
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

struct Pre<'a> {
    out: Preprocessed,
    config_id: &'a str,
    params: HashMap<String, String>,
    /// Canonical paths of the files being read (include chain), for cycle detection.
    stack: Vec<PathBuf>,
}

/// Reads and preprocesses `path` and everything it includes.
pub fn preprocess_file(path: &Path, config_id: &str) -> Preprocessed {
    let mut p = Pre::new(config_id);
    p.file(path, None);
    p.out
}

/// Preprocesses `text` as if it were the file `name`.
pub fn preprocess_str(text: &str, name: &Path, config_id: &str) -> Preprocessed {
    let mut p = Pre::new(config_id);
    p.stack.push(canonical(name));
    p.text(text.to_string(), name.to_path_buf());
    p.out
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl<'a> Pre<'a> {
    fn new(config_id: &'a str) -> Self {
        Pre {
            out: Preprocessed::default(),
            config_id,
            params: HashMap::new(),
            stack: Vec::new(),
        }
    }

    fn diag(&self, severity: Severity, span: Span, msg: impl Into<String>) -> Diagnostic {
        self.out.sources.diagnostic(severity, span, msg)
    }

    /// Reads one file; `from` is the include statement that asked for it.
    fn file(&mut self, path: &Path, from: Option<Span>) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let msg = format!("cannot read configuration file {}: {e}", path.display());
                let d = match from {
                    Some(span) => self.diag(Severity::Error, span, msg),
                    None => Diagnostic::error(msg),
                };
                self.out.diagnostics.push(d);
                return;
            }
        };
        let canon = canonical(path);
        if self.stack.contains(&canon) {
            let msg = format!("include cycle: {} includes itself", path.display());
            let d = match from {
                Some(span) => self.diag(Severity::Error, span, msg),
                None => Diagnostic::error(msg),
            };
            self.out.diagnostics.push(d);
            return;
        }
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            // Binary input: report where, and read nothing of it.
            let line = 1 + bytes[..nul].iter().filter(|&&b| b == b'\n').count() as u32;
            let text: String = String::from_utf8_lossy(&bytes).replace('\0', "\u{fffd}");
            let id = self.out.sources.add(path.to_path_buf(), text.into());
            let d = self.diag(
                Severity::Error,
                Span {
                    file: id,
                    line,
                    col: 1,
                },
                "this is not a text file (NUL byte); is this really keepalived.conf?",
            );
            self.out.diagnostics.push(d);
            return;
        }
        // keepalived reads bytes; comments in legacy encodings (GBK, Latin-1) must not stop
        // us, so invalid UTF-8 is replaced rather than rejected.
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        self.stack.push(canon);
        self.text(text, path.to_path_buf());
        self.stack.pop();
    }

    fn text(&mut self, text: String, path: PathBuf) {
        let text: Arc<str> = text.into();
        let id = self.out.sources.add(path.clone(), text.clone());
        for (i, line) in text.lines().enumerate() {
            let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.line(line, id, lineno, &path);
        }
    }

    fn line(&mut self, line: &str, id: FileId, lineno: u32, path: &Path) {
        let lexed = lex_line(line, id, lineno, 0);
        if let Some((col, msg)) = lexed.error {
            let d = self.diag(
                Severity::Error,
                Span {
                    file: id,
                    line: lineno,
                    col,
                },
                msg,
            );
            self.out.diagnostics.push(d);
        }
        let mut tokens = lexed.tokens;
        let eol = Token {
            tok: Tok::Eol {
                comment: lexed.comment,
                comment_brace: lexed.comment_brace,
            },
            span: Span {
                file: id,
                line: lineno,
                col: line.chars().count() as u32 + 1,
            },
        };

        // @ID / @^ID conditional lines.
        if let Some(Tok::Word {
            text,
            quoted: false,
        }) = tokens.first().map(|t| &t.tok)
            && let Some(cond) = text.strip_prefix('@')
        {
            let keep = match cond.strip_prefix('^') {
                Some(id) => id != self.config_id,
                None => cond == self.config_id,
            };
            if !keep {
                return;
            }
            tokens.remove(0);
        }

        // $NAME=value definitions.
        if let Some(Tok::Word {
            text,
            quoted: false,
        }) = tokens.first().map(|t| &t.tok)
            && let Some(def) = text.strip_prefix('$')
            && let Some((name, _)) = def.split_once('=')
            && is_param_name(name)
        {
            let name = name.to_string();
            let value = definition_value(line, lexed.comment);
            self.params.insert(name, value);
            return;
        }

        // Parameter substitution.
        if !self.params.is_empty()
            && tokens
                .iter()
                .any(|t| t.word().is_some_and(|w| w.contains('$')))
        {
            tokens = self.substitute(tokens);
        }

        // include PATTERN
        if let Some(Tok::Word {
            text,
            quoted: false,
        }) = tokens.first().map(|t| &t.tok)
            && text == "include"
        {
            let span = tokens[0].span;
            match tokens.get(1).and_then(Token::word) {
                None => {
                    let d = self.diag(
                        Severity::Error,
                        span,
                        "`include` needs a file name or pattern",
                    );
                    self.out.diagnostics.push(d);
                }
                Some(pattern) => {
                    let pattern = pattern.to_string();
                    self.include(&pattern, path, span);
                }
            }
            return;
        }

        self.out.tokens.extend(tokens);
        self.out.tokens.push(eol);
    }

    fn substitute(&self, tokens: Vec<Token>) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        for t in tokens {
            match &t.tok {
                Tok::Word { text, quoted } if text.contains('$') => {
                    let mut s = text.clone();
                    for _ in 0..MAX_SUBST_ROUNDS {
                        let (next, changed) = subst_once(&s, &self.params);
                        s = next;
                        if !changed {
                            break;
                        }
                    }
                    if *quoted {
                        out.push(Token {
                            tok: Tok::Word {
                                text: s,
                                quoted: true,
                            },
                            span: t.span,
                        });
                    } else {
                        // A parameter may expand to several words (or braces): re-lex, keeping
                        // the original word's position for every piece.
                        let re = lex_line(&s, t.span.file, t.span.line, 0);
                        for mut piece in re.tokens {
                            piece.span = t.span;
                            out.push(piece);
                        }
                    }
                }
                _ => out.push(t),
            }
        }
        out
    }

    fn include(&mut self, pattern: &str, including: &Path, span: Span) {
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            let d = self.diag(
                Severity::Error,
                span,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
            );
            self.out.diagnostics.push(d);
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            including
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(pattern)
        };
        let full_str = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_str) {
            Ok(paths) => {
                let mut v: Vec<PathBuf> = paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                let d = self.diag(
                    Severity::Error,
                    span,
                    format!("bad include pattern `{pattern}`: {e}"),
                );
                self.out.diagnostics.push(d);
                return;
            }
        };
        if paths.is_empty() {
            let d = self.diag(
                Severity::Warning,
                span,
                format!("include `{pattern}` matches no file (looked for {full_str})"),
            );
            self.out.diagnostics.push(d);
            return;
        }
        for p in paths {
            self.file(&p, Some(span));
        }
    }
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The text after the first `=` of a definition line, up to a comment, trimmed.
fn definition_value(line: &str, comment_col: Option<u32>) -> String {
    let upto: String = match comment_col {
        Some(c) => line.chars().take(c.saturating_sub(1) as usize).collect(),
        None => line.to_string(),
    };
    upto.split_once('=')
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// One left-to-right substitution pass of `${NAME}` / `$NAME`.
fn subst_once(s: &str, params: &HashMap<String, String>) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match params.get(name) {
            Some(v) if is_param_name(name) => {
                out.push_str(v);
                changed = true;
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: &Preprocessed) -> Vec<String> {
        p.tokens
            .iter()
            .map(|t| match &t.tok {
                Tok::Word { text, .. } => text.clone(),
                Tok::Open => "{".into(),
                Tok::Close => "}".into(),
                Tok::Eol { .. } => ";".into(),
            })
            .collect()
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        let p = preprocess_str(
            "@main router_id a\n@^main router_id b\n@backup x\n",
            Path::new("k.conf"),
            "main",
        );
        assert_eq!(words(&p), ["router_id", "a", ";"]);
        let p = preprocess_str(
            "@main router_id a\n@^main router_id b\n",
            Path::new("k.conf"),
            "other",
        );
        assert_eq!(words(&p), ["router_id", "b", ";"]);
    }

    #[test]
    fn parameters_are_substituted() {
        let p = preprocess_str(
            "$IF=eth1\n$VIP=10.0.0.1/24 dev ${IF}\ninterface $IF\n${VIP}\nscript \"x $1 $IF\"\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(
            words(&p),
            [
                "interface",
                "eth1",
                ";",
                "10.0.0.1/24",
                "dev",
                "eth1",
                ";",
                "script",
                "x $1 eth1",
                ";"
            ]
        );
        assert_eq!(p.tokens[4].span.line, 4);
    }

    #[test]
    fn includes_are_relative_sorted_and_cycles_refused() {
        let dir = std::env::temp_dir().join(format!("lvsd-preproc-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("conf.d"));
        std::fs::write(dir.join("main.conf"), "include conf.d/*.conf\nend\n").unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "b\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "a\ninclude ../main.conf\n").unwrap();
        let p = preprocess_file(&dir.join("main.conf"), "h");
        assert_eq!(words(&p), ["a", ";", "b", ";", "end", ";"]);
        assert_eq!(p.diagnostics.len(), 1);
        assert!(
            p.diagnostics[0].message.contains("include cycle"),
            "{:?}",
            p.diagnostics
        );
        assert_eq!(p.diagnostics[0].line(), Some(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_include_warns() {
        let p = preprocess_str(
            "include /nonexistent/lvsd/*.conf\n",
            Path::new("/tmp/k.conf"),
            "h",
        );
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].severity, Severity::Warning);
    }
}
