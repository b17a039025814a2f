//! Preprocessing: files → one token stream.
//!
//! Per line, in keepalived's order (keepalived.conf(5), "ADVANCED CONFIGURATION"):
//! - a leading `@ID` keeps the line only when ID is the config id, `@^ID` only when it is not;
//! - `~SEQ(var, [start,] [step,] end)`, `~SEQx(…)` (hex) and `~LST(var, v1, v2…)` repeat the
//!   rest of the line once per value of `$var`;
//! - `$NAME=value` defines a parameter (the rest of the line; a trailing `\` continues it over
//!   several lines); predefined: `_PWD` (the file's directory), `_INSTANCE` (config id),
//!   `_HASH`, `_BANG`;
//! - substitution is textual and happens at use, recursively: `${NAME}` anywhere, `$NAME` when
//!   followed by a blank or the end; undefined names stay as written (scripts use `$1`). The
//!   result may hold words, braces, a condition or (multiline values) several lines, each
//!   processed again. Tokens from substituted text point at the first `$` of the line.
//! - comments (`#`, `!` outside quotes) are dropped by the lexer;
//! - `include PATTERN` reads every file the glob matches, relative to the including file's
//!   directory, in sorted order. Include cycles and runaway depth are errors; a pattern matching
//!   nothing is a warning. As glob(3) in keepalived, `**` is `*` (one path component): it
//!   never recurses, so a symlink loop cannot make it loop.
//! - bounded work: the whole load (every file and include) reads at most [`MAX_FILES`]
//!   files and [`MAX_INPUT_BYTES`] bytes, and expansion (parameters, `~SEQ` products,
//!   multiline values) produces at most [`MAX_EXPANDED_BYTES`] bytes and [`MAX_EXPANDED_LINES`]
//!   lines; the first limit reached is one error and the rest of the input is not read.
//!   Only regular files are read: a directory, FIFO or device is refused by name.
//!
//! This is the only module of the config front end that reads files (besides `host`, and
//! [`SourceMap`] reading one line back for a late diagnostic's excerpt).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, FileId, Severity, SourceMap, Span};
use super::lexer::{Tok, Token, lex_into};
use super::parser::Parser;
use super::tree::Tree;

/// Maximum include nesting, far beyond any real configuration.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Maximum rounds of parameter substitution in one line (a parameter naming another).
const MAX_SUBST_ROUNDS: usize = 16;
/// Maximum nesting of substituted lines (a multiline value holding `$X` lines).
const MAX_SUBST_DEPTH: usize = 16;
/// Longest line parameter substitution may produce. (Under `cfg(fuzzing)` 16 KiB: up to
/// [`MAX_SUBST_ROUNDS`] passes over a 1 MiB line took a quarter of a second per input under
/// comparison tracing, and the fuzzer's corpus filled with such lines.)
const MAX_EXPANSION: usize = if cfg!(fuzzing) { 16 << 10 } else { 1 << 20 };
/// Most files one load reads, counting a file each time it is included (a diamond of
/// includes re-reads files exponentially).
pub const MAX_FILES: usize = if cfg!(fuzzing) { 64 } else { 4096 };
/// Most bytes one load reads, over all files. (Under `cfg(fuzzing)` both limits are far
/// smaller: an `include /*/*` of the fuzzing machine's own files would otherwise make each
/// such input read tens of MiB.)
pub const MAX_INPUT_BYTES: u64 = if cfg!(fuzzing) { 1 << 20 } else { 64 << 20 };
/// Most bytes of text one load hands to the lexer, after expansion.
pub const MAX_EXPANDED_BYTES: usize = if cfg!(fuzzing) { 256 << 10 } else { 16 << 20 };
/// (Under `cfg(fuzzing)` the expansion limits are 64 to 100 times smaller, so the fuzzer spends its
/// time on new paths rather than on bounded but slow expansions.)
/// Most lines one load processes, after expansion (`~SEQ` products, multiline values), empty
/// ones included.
pub const MAX_EXPANDED_LINES: usize = if cfg!(fuzzing) { 5_000 } else { 500_000 };

/// What the load has consumed so far, against the limits above.
#[derive(Debug, Default)]
struct Budget {
    files: usize,
    input_bytes: u64,
    expanded_bytes: usize,
    lines: usize,
    /// A limit was reached (and reported): nothing more is read or produced.
    exhausted: bool,
}

#[derive(Debug, Default)]
pub struct Preprocessed {
    pub tokens: Vec<Token>,
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where a logical line comes from, and how deep in expansion it was made.
#[derive(Clone, Copy)]
struct At<'p> {
    id: FileId,
    lineno: u32,
    path: &'p Path,
    /// For a line made by expansion: the column of what produced it (its tokens point there).
    approx_col: Option<u32>,
    /// Expansions (substitution, ~SEQ) that produced it.
    depth: usize,
}

impl At<'_> {
    fn span(&self, col: u32) -> Span {
        Span {
            file: self.id,
            line: self.lineno,
            col,
        }
    }

    /// A line this one expands to, produced at `col`.
    fn expanded(self, col: u32) -> Self {
        At {
            approx_col: Some(col),
            depth: self.depth + 1,
            ..self
        }
    }
}

struct Pre<'a> {
    out: Preprocessed,
    config_id: &'a str,
    params: HashMap<String, String>,
    /// Canonical paths of the files being read (include chain), for cycle detection.
    stack: Vec<PathBuf>,
    /// A multiline `$NAME= \` definition being read: (name, value so far).
    collecting: Option<(String, String)>,
    budget: Budget,
    /// Streaming mode: each line's tokens go straight to the parser instead of piling up in
    /// `out.tokens`.
    parser: Option<Parser>,
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

/// The statement tree of `path` and everything it includes, parsed as it is read (the token
/// stream is never held whole), with the sources and every diagnostic so far.
pub fn parse_file(path: &Path, config_id: &str) -> (Tree, SourceMap, Vec<Diagnostic>) {
    let mut p = Pre::new(config_id);
    p.parser = Some(Parser::default());
    p.file(path, None);
    p.finish_parse()
}

/// As [`parse_file`], for `text` read as if it were the file `name`.
pub fn parse_str(text: &str, name: &Path, config_id: &str) -> (Tree, SourceMap, Vec<Diagnostic>) {
    let mut p = Pre::new(config_id);
    p.parser = Some(Parser::default());
    p.stack.push(canonical(name));
    p.text(text.to_string(), name.to_path_buf());
    p.finish_parse()
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl<'a> Pre<'a> {
    fn new(config_id: &'a str) -> Self {
        Pre {
            out: Preprocessed::default(),
            config_id,
            params: HashMap::from([
                ("_INSTANCE".to_string(), config_id.to_string()),
                // Plain, as keepalived's: outside quotes they start a comment (a line can be
                // disabled with `${_HASH}`), inside quotes they are text.
                ("_HASH".to_string(), "#".to_string()),
                ("_BANG".to_string(), "!".to_string()),
            ]),
            stack: Vec::new(),
            collecting: None,
            budget: Budget::default(),
            parser: None,
        }
    }

    fn finish_parse(mut self) -> (Tree, SourceMap, Vec<Diagnostic>) {
        let Preprocessed {
            sources,
            mut diagnostics,
            ..
        } = self.out;
        let tree = match self.parser.take() {
            Some(p) => p.finish(&sources, &mut diagnostics),
            None => Tree::default(),
        };
        (tree, sources, diagnostics)
    }

    fn diag(&self, severity: Severity, span: Span, msg: impl Into<String>) -> Diagnostic {
        self.out.sources.diagnostic(severity, span, msg)
    }

    /// Reports `msg` at the include statement `from`, or unlocated for the main file.
    fn file_error(&mut self, from: Option<Span>, msg: String) {
        let d = match from {
            Some(span) => self.diag(Severity::Error, span, msg),
            None => Diagnostic::error(msg),
        };
        self.out.diagnostics.push(d);
    }

    /// Stops the load with one error: a limit of [`Budget`] was reached.
    fn exhaust(&mut self, span: Option<Span>, msg: String) {
        if !self.budget.exhausted {
            self.budget.exhausted = true;
            let msg = format!("{msg}; the rest of the configuration is not read");
            self.file_error(span, msg);
        }
    }

    /// Reads one file; `from` is the include statement that asked for it.
    fn file(&mut self, path: &Path, from: Option<Span>) {
        if self.budget.exhausted {
            return;
        }
        let canon = canonical(path);
        if self.stack.contains(&canon) {
            let msg = format!("include cycle: {} includes itself", path.display());
            self.file_error(from, msg);
            return;
        }
        self.budget.files += 1;
        if self.budget.files > MAX_FILES {
            let msg = format!(
                "includes read more than {MAX_FILES} files (a file included many times over?)"
            );
            self.exhaust(from, msg);
            return;
        }
        let bytes = match self.read_regular(path) {
            Ok(b) => b,
            Err(ReadError::Io(msg)) => return self.file_error(from, msg),
            Err(ReadError::Budget(msg)) => return self.exhaust(from, msg),
        };
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
        let (mut text, exact) = match String::from_utf8(bytes) {
            Ok(s) => (s, true),
            Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
        };
        // A byte-order mark (editors on Windows) is not part of the first keyword.
        let exact = if text.starts_with('\u{feff}') {
            text.replace_range(..3, "");
            false
        } else {
            exact
        };
        self.stack.push(canon);
        let id = self.text(text, path.to_path_buf());
        self.stack.pop();
        // A later diagnostic reads its line from the file again (offsets match only when the
        // text is the file's bytes unchanged).
        if exact {
            self.out.sources.release(id);
        }
    }

    /// Reads `path` if it is a regular file, within what is left of [`MAX_INPUT_BYTES`].
    /// Checked before opening: opening a FIFO blocks, a device never ends.
    fn read_regular(&mut self, path: &Path) -> Result<Vec<u8>, ReadError> {
        use std::io::Read;
        let cannot = |e: std::io::Error| {
            ReadError::Io(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            ))
        };
        let meta = std::fs::metadata(path).map_err(cannot)?;
        if let Some(kind) = not_regular(&meta) {
            return Err(ReadError::Io(format!(
                "cannot read configuration file {}: it is {kind}, not a regular file",
                path.display()
            )));
        }
        let left = MAX_INPUT_BYTES - self.budget.input_bytes;
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(left)).unwrap_or(0));
        // One byte more than allowed tells a file over the limit (its size may lie: /proc).
        file.take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        self.budget.input_bytes += bytes.len() as u64;
        if self.budget.input_bytes > MAX_INPUT_BYTES {
            return Err(ReadError::Budget(format!(
                "reading {} takes the configuration over {} MiB",
                path.display(),
                MAX_INPUT_BYTES >> 20
            )));
        }
        Ok(bytes)
    }

    fn text(&mut self, text: String, path: PathBuf) -> FileId {
        let text: Arc<str> = text.into();
        let id = self.out.sources.add(path.clone(), text.clone());
        // `${_PWD}`: the directory of the file being read (keepalived's predefined parameter).
        let pwd = path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .unwrap_or(Path::new("."));
        let pwd = std::fs::canonicalize(pwd).unwrap_or_else(|_| pwd.to_path_buf());
        let saved = self
            .params
            .insert("_PWD".into(), pwd.to_string_lossy().into_owned());
        for (i, line) in text.lines().enumerate() {
            if self.budget.exhausted {
                break;
            }
            let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.physical(line, id, lineno, &path);
        }
        if let Some((name, value)) = self.collecting.take() {
            // A multiline definition ending the file with a `\`: keep what was collected.
            self.params.insert(name, value);
        }
        match saved {
            Some(v) => self.params.insert("_PWD".into(), v),
            None => self.params.remove("_PWD"),
        };
        id
    }

    fn physical(&mut self, line: &str, id: FileId, lineno: u32, path: &Path) {
        // Continuation of a multiline `$NAME= \` definition.
        if let Some((name, mut value)) = self.collecting.take() {
            // A `\\` ends the line even after a comment: the comment is dropped, the
            // definition goes on.
            let more = line.trim_end().ends_with('\\');
            let code = &line[..code_end(line)];
            let (body, _) = continuation(code);
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(body.trim());
            if more {
                self.collecting = Some((name, value));
            } else {
                self.params.insert(name, value);
            }
            return;
        }
        let at = At {
            id,
            lineno,
            path,
            approx_col: None,
            depth: 0,
        };
        self.logical(line, at);
    }

    /// One logical line: conditional, `~SEQ`/`~LST`, definition, substitution, then include or
    /// tokens. `at.approx_col` is set once the text no longer matches the file (after
    /// substitution): tokens past it point at it.
    fn logical(&mut self, line: &str, at: At) {
        if !self.within_limits(line, at) {
            return;
        }
        let Some(text) = self.condition(line) else {
            return;
        };
        let text: &str = &text;
        let body = text.trim_start();
        if body.starts_with("~SEQ") || body.starts_with("~LST") {
            return self.sequence_line(text, body, at);
        }
        if self.definition(body) {
            return;
        }
        if text.contains('$') && self.substitution(text, at) {
            return;
        }
        self.tokens(text, at);
    }

    /// Whether a line may still be read: expansion counts against the whole load's budget, and
    /// substitution nests only so deep (past either, reported and dropped).
    fn within_limits(&mut self, line: &str, at: At) -> bool {
        if self.budget.exhausted {
            return false;
        }
        let span = at.span(at.approx_col.unwrap_or(1));
        if at.approx_col.is_some() {
            // Produced by expansion: counts against the whole load's expansion budget.
            self.budget.lines += 1;
            if self.budget.lines > MAX_EXPANDED_LINES {
                let msg = format!(
                    "expansion (parameters, ~SEQ/~LST) produces more than {MAX_EXPANDED_LINES} lines"
                );
                self.exhaust(Some(span), msg);
                return false;
            }
            if !self.charge(line.len(), span) {
                return false;
            }
        }
        if at.depth > MAX_SUBST_DEPTH {
            let d = self.diag(
                Severity::Error,
                span,
                "parameter substitution nests too deep (a parameter that expands to itself?)",
            );
            self.out.diagnostics.push(d);
            return false;
        }
        true
    }

    /// `@ID` / `@^ID` at the start of a line: the line without the prefix (blanked out so
    /// columns stay right) when it is for this config id, None when it is not.
    fn condition<'t>(&self, text: &'t str) -> Option<Cow<'t, str>> {
        let lead = text.len() - text.trim_start().len();
        if !text[lead..].starts_with('@') {
            return Some(Cow::Borrowed(text));
        }
        let end = text[lead..]
            .find(|c: char| c.is_whitespace())
            .map_or(text.len(), |e| lead + e);
        let cond = &text[lead + 1..end];
        let keep = match cond.strip_prefix('^') {
            Some(id) => id != self.config_id,
            None => cond == self.config_id,
        };
        keep.then(|| Cow::Owned(format!("{}{}", " ".repeat(end), &text[end..])))
    }

    /// `~SEQ(var, [start,] [step,] end)`, `~SEQx(…)` and `~LST(var, v1, v2, …)`: the rest of
    /// the line once per value, with $var set.
    fn sequence_line(&mut self, text: &str, body: &str, at: At) {
        let col = at
            .approx_col
            .unwrap_or((text.len() - body.len()) as u32 + 1);
        match sequence(body, &self.params) {
            Ok(Sequence { vars, rows, rest }) => {
                let rest = rest.to_string();
                for row in rows {
                    if self.budget.exhausted {
                        break;
                    }
                    for (var, v) in vars.iter().zip(row) {
                        self.params.insert(var.clone(), v);
                    }
                    self.logical(&rest, at.expanded(col));
                }
            }
            // keepalived logs a bad sequence and skips the line; only the limit on values
            // (which keepalived does not have) refuses the file.
            Err((severity, msg)) => {
                let d = self.diag(severity, at.span(col), msg);
                self.out.diagnostics.push(d);
            }
        }
    }

    /// `$NAME=value` definitions (value to the end of the code; `\` continues it): true if
    /// `body` is one.
    fn definition(&mut self, body: &str) -> bool {
        let Some(def) = body.strip_prefix('$') else {
            return false;
        };
        let Some(eq) = def.find('=') else {
            return false;
        };
        let name = &def[..eq];
        if !is_param_name(name) {
            return false;
        }
        let rest = &def[eq + 1..];
        let more = rest.trim_end().ends_with('\\');
        let value = &rest[..code_end(rest)];
        let (value, _) = continuation(value);
        let value = value.trim().to_string();
        if more {
            self.collecting = Some((name.to_string(), value));
        } else {
            self.params.insert(name.to_string(), value);
        }
        true
    }

    /// Counts `bytes` of expanded text against the load's budget; false (reported, and nothing
    /// more is read) past it.
    fn charge(&mut self, bytes: usize, span: Span) -> bool {
        self.budget.expanded_bytes += bytes;
        if self.budget.expanded_bytes > MAX_EXPANDED_BYTES {
            let msg = format!(
                "expansion (parameters, ~SEQ/~LST) produces more than {} MiB of text",
                MAX_EXPANDED_BYTES >> 20
            );
            self.exhaust(Some(span), msg);
            return false;
        }
        true
    }

    /// Parameter substitution, textual as keepalived's: a value may hold several words,
    /// braces, a conditional, or (multiline definitions) several lines. True if the line was
    /// substituted (its pieces are then read in its place).
    fn substitution(&mut self, text: &str, at: At) -> bool {
        let code = &text[..code_end(text)];
        let Some(new) = substitute(code, &self.params) else {
            return false;
        };
        if new.len() > MAX_EXPANSION {
            let span = at.span(at.approx_col.unwrap_or(1));
            let d = self.diag(
                Severity::Error,
                span,
                format!("parameter substitution makes this line longer than {MAX_EXPANSION} bytes"),
            );
            self.out.diagnostics.push(d);
            // The refused text was produced all the same: it counts, or a ~SEQ of such lines
            // would make a few hundred bytes cost minutes (found by the config fuzzer).
            self.charge(new.len(), span);
            return true;
        }
        let col = at.approx_col.unwrap_or_else(|| {
            let dollar = code.find('$').unwrap_or(0);
            code[..dollar].chars().count() as u32 + 1
        });
        for piece in new.split('\n') {
            if self.budget.exhausted {
                break;
            }
            self.logical(piece, at.expanded(col));
        }
        true
    }

    /// A line as it reaches the lexer: `include PATTERN`, or its tokens and end of line to the
    /// parser.
    fn tokens(&mut self, text: &str, at: At) {
        let start = self.out.tokens.len();
        let lexed = lex_into(text, at.id, at.lineno, 0, &mut self.out.tokens);
        if let Some((col, msg)) = lexed.error {
            let col = at.approx_col.map_or(col, |a| col.min(a));
            let d = self.diag(Severity::Error, at.span(col), msg);
            self.out.diagnostics.push(d);
        }
        if let Some(a) = at.approx_col {
            for t in &mut self.out.tokens[start..] {
                t.span.col = t.span.col.min(a);
            }
        }
        let eol_col = at.approx_col.unwrap_or(lexed.end_col);
        if self.include_line(start, at.path) {
            return;
        }
        if self.out.tokens.len() == start && lexed.comment.is_none() {
            return;
        }
        self.out.tokens.push(Token {
            tok: Tok::Eol {
                comment: lexed.comment,
                comment_brace: lexed.comment_brace,
            },
            span: at.span(eol_col),
        });
        if let Some(parser) = &mut self.parser {
            for t in self.out.tokens.drain(start..) {
                parser.push(t, &self.out.sources, &mut self.out.diagnostics);
            }
        }
    }

    /// `include PATTERN` (the line's tokens from `start`): read in its place. True if the line
    /// was one.
    fn include_line(&mut self, start: usize, path: &Path) -> bool {
        let line_tokens = &self.out.tokens[start..];
        let Some(Tok::Word {
            text: kw,
            quoted: false,
        }) = line_tokens.first().map(|t| &t.tok)
        else {
            return false;
        };
        if kw != "include" {
            return false;
        }
        let span = line_tokens[0].span;
        let pattern = line_tokens.get(1).and_then(Token::word).map(str::to_string);
        self.out.tokens.truncate(start);
        match pattern {
            None => {
                let d = self.diag(
                    Severity::Error,
                    span,
                    "`include` needs a file name or pattern",
                );
                self.out.diagnostics.push(d);
            }
            Some(pattern) => self.include(&pattern, path, span),
        }
        true
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
        let full_str = collapse_double_star(&full.to_string_lossy());
        let limit = MAX_FILES + 1 - self.budget.files.min(MAX_FILES);
        let paths = match bounded_glob(&full_str, limit) {
            Ok(v) => v,
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
            // keepalived 2.2.7 says "Config files missing" and exits 0 from `-t`: a note.
            let d = self.diag(
                Severity::Note,
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

/// Directory entries one include pattern may look at: `include /*/*/*/*` would otherwise
/// walk the whole file system before the file budget ever counts (found by the fuzzer).
/// (Under `cfg(fuzzing)` 256: a third of the fuzzer's time went on `stat`s of the fuzzing
/// machine's own directories.)
const MAX_GLOB_ENTRIES: usize = if cfg!(fuzzing) { 256 } else { 200_000 };

/// The files (not directories; a FIFO or device is kept, to be refused by name) `pattern`
/// matches, sorted, at most `limit` of them, looking at no more than [`MAX_GLOB_ENTRIES`]
/// directory entries. The glob crate's walker has no such bound, so the components are
/// expanded here level by level, each matched with the crate's `Pattern`.
fn bounded_glob(pattern: &str, limit: usize) -> Result<Vec<PathBuf>, String> {
    let mut level = vec![PathBuf::from(if pattern.starts_with('/') {
        "/"
    } else {
        ""
    })];
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut seen = 0usize;
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        if !comp.contains(['*', '?', '[']) {
            next.extend(
                level
                    .iter()
                    .map(|d| d.join(comp))
                    .filter(|p| last || p.is_dir()),
            );
        } else {
            let pat = glob::Pattern::new(comp).map_err(|e| e.to_string())?;
            for dir in &level {
                let here = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                let Ok(rd) = std::fs::read_dir(here) else {
                    continue;
                };
                for e in rd.flatten() {
                    seen += 1;
                    if seen > MAX_GLOB_ENTRIES {
                        return Err(format!(
                            "it looks at more than {MAX_GLOB_ENTRIES} directory entries"
                        ));
                    }
                    let name = e.file_name();
                    if pat.matches(&name.to_string_lossy()) {
                        let p = dir.join(&name);
                        if last || p.is_dir() {
                            next.push(p);
                        }
                    }
                }
            }
        }
        level = next;
    }
    let mut v: Vec<PathBuf> = level
        .into_iter()
        .filter(|p| p.exists() && !p.is_dir())
        .collect();
    v.sort();
    v.truncate(limit);
    Ok(v)
}

/// `**` → `*`: glob(3), which keepalived uses, has no recursive wildcard, and the glob crate's
/// `**` follows symlinked directories (a link to `.` makes it loop).
fn collapse_double_star(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && out.ends_with('*')) {
            out.push(c);
        }
    }
    out
}

enum ReadError {
    /// The file cannot be read (reported, the load goes on).
    Io(String),
    /// A limit of [`Budget`] was reached.
    Budget(String),
}

/// What a file that is not a regular file is, for the error message.
fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    }
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Byte index where the code of a line ends: at a `#` or `!` outside quotes.
fn code_end(s: &str) -> usize {
    let mut quote: Option<u8> = None;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == b'\\' && i + 1 < b.len() && (b[i + 1] == q || b[i + 1] == b'\\') => {
                i += 1
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'#' || c == b'!' => return i,
            None => {}
        }
        i += 1;
    }
    b.len()
}

/// Strips a trailing `\` (line continuation): (text, continues).
fn continuation(s: &str) -> (&str, bool) {
    let t = s.trim_end();
    match t.strip_suffix('\\') {
        Some(body) => (body, true),
        None => (s, false),
    }
}

/// Replaces defined parameters, repeatedly (a value may name other parameters): `${NAME}`
/// anywhere, `$NAME` only when followed by whitespace or the end, as keepalived. None when
/// nothing was replaced.
fn substitute(s: &str, params: &HashMap<String, String>) -> Option<String> {
    let mut cur = s.to_string();
    let mut changed = false;
    for _ in 0..MAX_SUBST_ROUNDS {
        let (next, did) = subst_once(&cur, params);
        if !did {
            break;
        }
        changed = true;
        cur = next;
        // A multiline value: its lines are processed one by one, each substituted when it
        // is reached, so a definition among them applies to the lines after it.
        if cur.len() > MAX_EXPANSION || cur.contains('\n') {
            break;
        }
    }
    changed.then_some(cur)
}

/// One left-to-right pass.
fn subst_once(s: &str, params: &HashMap<String, String>) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        if out.len() > MAX_EXPANSION {
            // Already too long: the caller refuses the line; stop before it grows further.
            return (out, true);
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let found = if let Some(braced) = after.strip_prefix('{') {
            // Only a name can be between the braces: looking no further than the name keeps a
            // line of many unclosed `${` linear (a search for `}` from each was quadratic).
            let end = braced
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(braced.len());
            braced[end..]
                .starts_with('}')
                .then(|| (&braced[..end], end + 2))
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            // Unbraced names must end the word.
            let ends_word = after[end..].chars().next().is_none_or(char::is_whitespace);
            ends_word.then_some((&after[..end], end))
        };
        match found.and_then(|(name, used)| {
            params
                .get(name)
                .filter(|_| is_param_name(name))
                .map(|v| (v, used))
        }) {
            Some((v, used)) => {
                out.push_str(v);
                changed = true;
                rest = &after[used..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, changed)
}

/// Most values one `~SEQ`/`~LST` may produce.
const MAX_SEQUENCE: usize = if cfg!(fuzzing) { 1_000 } else { 100_000 };

/// A parsed `~SEQ`/`~SEQx`/`~LST`: the rest of the line is read once per row, with each of
/// `vars` set to the row's value at the same position.
struct Sequence<'s> {
    vars: Vec<String>,
    rows: Vec<Vec<String>>,
    rest: &'s str,
}

type SeqError = (Severity, String);

/// Parses `~SEQ(var, [start,] [step,] end) rest`, `~SEQx(…)` (hex values),
/// `~LST(var, v1, v2, …) rest` or `~LST({var1,var2}, {v1,v2}, …) rest`. Numeric arguments
/// may be parameters (`$N`, `${N}`), substituted first as keepalived does.
fn sequence<'s>(s: &'s str, params: &HashMap<String, String>) -> Result<Sequence<'s>, SeqError> {
    let warn = |m: String| (Severity::Warning, m);
    let (kind, after) = if let Some(a) = s.strip_prefix("~SEQx(") {
        ("SEQx", a)
    } else if let Some(a) = s.strip_prefix("~SEQ(") {
        ("SEQ", a)
    } else if let Some(a) = s.strip_prefix("~LST(") {
        ("LST", a)
    } else {
        return Err(warn(format!(
            "unknown sequence `{}`: expected ~SEQ(…), ~SEQx(…) or ~LST(…); the line is ignored",
            s.split_whitespace().next().unwrap_or("")
        )));
    };
    let (args, rest) = split_args(after).ok_or_else(|| {
        warn(format!(
            "~{kind}( without a closing `)`; the line is ignored"
        ))
    })?;
    if kind == "LST" {
        return list(args, rest).map_err(warn);
    }
    let args: Vec<String> = args
        .iter()
        .map(|a| match a {
            Arg::One(a) => Ok(substitute(a, params).unwrap_or_else(|| a.to_string())),
            Arg::Group(_) => Err(warn(format!(
                "~{kind} takes no {{…}} group; the line is ignored"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let var = args[0].as_str();
    if !is_param_name(var) {
        return Err(warn(format!(
            "~{kind}: `{var}` is not a parameter name; the line is ignored"
        )));
    }
    let num = |a: &str| -> Result<i64, SeqError> {
        let parsed = match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
            Some(h) => i64::from_str_radix(h, 16),
            None => a.parse::<i64>(),
        };
        parsed.map_err(|_| {
            warn(format!(
                "~{kind}: `{a}` is not a number; the line is ignored"
            ))
        })
    };
    let (start, step, end) = match &args[1..] {
        [end] => {
            let end = num(end)?;
            (if end < 0 { -1 } else { 1 }, None, end)
        }
        [start, end] => (num(start)?, None, num(end)?),
        [start, step, end] => (num(start)?, Some(num(step)?), num(end)?),
        _ => {
            return Err(warn(format!(
                "~{kind} takes (var, [start,] [step,] end); the line is ignored"
            )));
        }
    };
    let step = step.unwrap_or(if end >= start { 1 } else { -1 });
    if step == 0 || (step > 0) != (end >= start) && start != end {
        return Err(warn(format!(
            "~{kind}: step {step} never gets from {start} to {end}; the line is ignored"
        )));
    }
    let mut rows = Vec::new();
    let mut v = start;
    while (step > 0 && v <= end) || (step < 0 && v >= end) {
        if rows.len() >= MAX_SEQUENCE {
            return Err((
                Severity::Error,
                format!("~{kind} produces more than {MAX_SEQUENCE} values"),
            ));
        }
        rows.push(vec![if kind == "SEQx" {
            format!("{v:x}")
        } else {
            v.to_string()
        }]);
        v = match v.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(Sequence {
        vars: vec![var.to_string()],
        rows,
        rest,
    })
}

/// `~LST`'s arguments: a variable and its values, or a `{…}` group of variables and one group
/// of as many values per row.
fn list<'s>(args: Vec<Arg<'_>>, rest: &'s str) -> Result<Sequence<'s>, String> {
    let vars: Vec<String> = match &args[0] {
        Arg::One(v) => vec![v.to_string()],
        Arg::Group(g) => g.iter().map(|v| v.to_string()).collect(),
    };
    if let Some(bad) = vars.iter().find(|v| !is_param_name(v)) {
        return Err(format!(
            "~LST: `{bad}` is not a parameter name; the line is ignored"
        ));
    }
    let mut rows = Vec::new();
    for a in &args[1..] {
        let row: Vec<String> = match a {
            Arg::One(v) => vec![v.to_string()],
            Arg::Group(g) => g.iter().map(|v| v.to_string()).collect(),
        };
        if row.len() != vars.len() || row.iter().any(|v| v.contains(char::is_whitespace)) {
            return Err(format!(
                "invalid ~LST: each value must be one word, {} per row; the line is ignored",
                vars.len()
            ));
        }
        rows.push(row);
    }
    if rows.len() > MAX_SEQUENCE {
        return Err(format!("~LST has more than {MAX_SEQUENCE} values"));
    }
    Ok(Sequence { vars, rows, rest })
}

/// One argument of a sequence: a word, or a `{a,b,…}` group.
enum Arg<'a> {
    One(&'a str),
    Group(Vec<&'a str>),
}

/// Splits `a, {b, c}, d) rest` into arguments (trimmed) and the text after the `)`.
fn split_args(s: &str) -> Option<(Vec<Arg<'_>>, &str)> {
    let mut args = Vec::new();
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        let (arg, after) = if let Some(g) = t.strip_prefix('{') {
            let close = g.find('}')?;
            let items = g[..close].split(',').map(str::trim).collect();
            (Arg::Group(items), &g[close + 1..])
        } else {
            let end = t.find([',', ')'])?;
            (Arg::One(t[..end].trim()), &t[end..])
        };
        args.push(arg);
        let after = after.trim_start();
        if let Some(r) = after.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = after.strip_prefix(')') {
            return Some((args, r));
        } else {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: &Preprocessed) -> Vec<String> {
        p.tokens
            .iter()
            .map(|t| match &t.tok {
                Tok::Word { text, .. } => text.to_string(),
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
            "$IF=eth1\n$VIP=10.0.0.1/24 dev ${IF}\ninterface $IF\n${VIP}\nscript \"x $1 ${IF}\"\n",
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
    fn substitution_follows_keepalived_rules() {
        // From keepalived.conf(5): replacement happens at use, recursively.
        let p = preprocess_str(
            "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n\
             $ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n$X=1\nx $X.y ${UNDEF} \"$1\"\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(
            words(&p),
            [
                "10.2.0.100/32",
                ";",
                "10.2.10.100/32",
                ";",
                "x",
                "$X.y",
                "${UNDEF}",
                "$1",
                ";"
            ]
        );
    }

    #[test]
    fn a_parameter_may_carry_a_condition() {
        let text = "$IF_MAIN=@main\n$IF_MAIN priority 240\n@main $P=1\n@backup $P=2\nprio $P\n";
        let p = preprocess_str(text, Path::new("k.conf"), "main");
        assert_eq!(words(&p), ["priority", "240", ";", "prio", "1", ";"]);
        let p = preprocess_str(text, Path::new("k.conf"), "backup");
        assert_eq!(words(&p), ["prio", "2", ";"]);
    }

    #[test]
    fn multiline_definitions_expand_to_lines() {
        let text = "$INSTANCE= \\\n vrrp_instance VI_${NUM} { \\\n  @high priority 130 \\\n  @low priority 120 \\\n \
                    virtual_router_id ${NUM} # id \\\n }\n$NUM=1\n$INSTANCE\n$NUM=2\n$INSTANCE\n";
        let p = preprocess_str(text, Path::new("k.conf"), "low");
        assert_eq!(
            words(&p),
            [
                "vrrp_instance",
                "VI_1",
                "{",
                ";",
                "priority",
                "120",
                ";",
                "virtual_router_id",
                "1",
                ";",
                "}",
                ";",
                "vrrp_instance",
                "VI_2",
                "{",
                ";",
                "priority",
                "120",
                ";",
                "virtual_router_id",
                "2",
                ";",
                "}",
                ";"
            ]
        );
        // Expanded tokens point at the line and column that used the parameter.
        assert!(
            p.tokens
                .iter()
                .take(12)
                .all(|t| t.span.line == 8 && t.span.col == 1)
        );
    }

    #[test]
    fn sequence_and_list_blocks() {
        let p = preprocess_str(
            "~SEQ(SUBNET, 0, 2) ip 10.0.${SUBNET}.1\n~SEQx(A, 0x90, 0x10, 0xa0) ~LST(B, x, y) f::${A}:${B}\n\
             ~SEQ(N, 3) n$N ${_HASH}x\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(
            words(&p),
            [
                "ip", "10.0.0.1", ";", "ip", "10.0.1.1", ";", "ip", "10.0.2.1", ";", "f::90:x",
                ";", "f::90:y", ";", "f::a0:x", ";", "f::a0:y", ";", "n1", ";", "n2", ";", "n3",
                ";"
            ]
        );
        let p = preprocess_str(
            "~SEQ(I, 1, 0, 5) x\n~SEQ(I, 1, 1000000000) x\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(p.diagnostics.len(), 2, "{:?}", p.diagnostics);
    }

    // Each form below was run through keepalived 2.2.7 (`keepalived -t -l -D`, the expansion
    // read back from its "Unknown keyword" lines); the expected words are its output.

    #[test]
    fn sequence_arguments_may_be_parameters() {
        let p = preprocess_str(
            "$N=3\n$S=2\n~SEQ(I, $S, $N) a${I}\n~SEQx(H, ${S}, 0xb) b${H}\n~LST(V, $S, x) c$V\n",
            Path::new("k.conf"),
            "h",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            words(&p),
            [
                "a2", ";", "a3", ";", "b2", ";", "b3", ";", "b4", ";", "b5", ";", "b6", ";", "b7",
                ";", "b8", ";", "b9", ";", "ba", ";", "bb", ";", "c2", ";", "cx", ";"
            ]
        );
    }

    #[test]
    fn list_of_groups_sets_several_parameters_per_row() {
        let p = preprocess_str(
            "~LST({P,Q},{1,2},{3,4}) f_${P}_${Q}\n~LST(V, a, b) ~LST(W, 1, 2) g${V}${W}\n",
            Path::new("k.conf"),
            "h",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            words(&p),
            [
                "f_1_2", ";", "f_3_4", ";", "ga1", ";", "ga2", ";", "gb1", ";", "gb2", ";"
            ]
        );
        // A bad list is skipped with a warning, as keepalived logs it and goes on.
        let p = preprocess_str(
            "~LST(V,a b,c) x\n~SEQx(H, 1, c) y\n",
            Path::new("k.conf"),
            "h",
        );
        assert!(words(&p).is_empty());
        assert_eq!(p.diagnostics.len(), 2);
        assert!(
            p.diagnostics
                .iter()
                .all(|d| d.severity == Severity::Warning)
        );
    }

    #[test]
    fn sequences_inside_multiline_parameters() {
        let p = preprocess_str(
            "$A=1\n$MS= \\\n~SEQ(I, $A, 2) e${I} \\\nf\n$MS\n",
            Path::new("k.conf"),
            "h",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(words(&p), ["e1", ";", "e2", ";", "f", ";"]);
    }

    #[test]
    fn a_multiline_parameter_reassigning_another_applies_to_the_lines_after() {
        let p = preprocess_str(
            "$Y=1\n$MA= \\\n$Y=7 \\\nn_${Y}\no_${Y}\n$MA\np_${Y}\n             $Q=$Y\n$MB= \\\n$Y=${Q}9 \\\nq_${Y}\n$MB\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(
            words(&p),
            ["o_1", ";", "n_7", ";", "p_7", ";", "q_$Y9", ";"]
        );
    }

    #[test]
    fn hash_and_bang_parameters_start_comments_outside_quotes() {
        let p = preprocess_str(
            "${_HASH} hidden line\nkept ${_HASH}x\nb_${_BANG} y\n\"k${_HASH}k\" z\n",
            Path::new("k.conf"),
            "h",
        );
        assert_eq!(words(&p), [";", "kept", ";", "b_", ";", "k#k", "z", ";"]);
    }

    #[test]
    fn self_referencing_parameters_stop_with_an_error() {
        let p = preprocess_str("$A=$A $A\nx $A\n", Path::new("k.conf"), "h");
        assert!(
            p.diagnostics.iter().any(|d| d.is_error()),
            "{:?}",
            p.diagnostics
        );
    }

    /// A file's text is not kept once read; a diagnostic made afterwards (by the builder,
    /// validation, host checks) still shows its line, read again from the file.
    #[test]
    fn diagnostics_after_the_read_show_the_line_again() {
        let dir = std::env::temp_dir().join(format!("lvsd-reread-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("k.conf");
        std::fs::write(&path, "global_defs {\n  rooter_id x \u{e9}\r\n}\n").unwrap();
        let (tree, sources, diags) = parse_file(&path, "h");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(tree.len(), 1);
        let span = Span {
            file: FileId(0),
            line: 2,
            col: 3,
        };
        let d = sources.diagnostic(Severity::Warning, span, "late");
        let loc = d.location.as_ref().unwrap();
        assert_eq!(loc.source_line, "  rooter_id x \u{e9}");
        // Gone from disk: the position is still reported, without an excerpt.
        let (_, sources, _) = parse_file(&path, "h");
        std::fs::remove_file(&path).unwrap();
        let d = sources.diagnostic(Severity::Warning, span, "late");
        assert_eq!(d.line(), Some(2));
        assert_eq!(d.location.as_ref().unwrap().source_line, "");
        let _ = std::fs::remove_dir_all(&dir);
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
    fn missing_include_is_a_note() {
        // keepalived 2.2.7: "Config files missing", and `-t` exits 0.
        let p = preprocess_str(
            "include /nonexistent/lvsd/*.conf\n",
            Path::new("/tmp/k.conf"),
            "h",
        );
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].severity, Severity::Note);
    }
}
