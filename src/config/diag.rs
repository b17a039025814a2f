//! Compiler-style diagnostics: `file:line:col: warning|error: message`, then the source line
//! and a caret under the column, then optional `help:`/`note:` lines.
//!
//! A [`Diagnostic`] owns everything it renders (path and source line are copied in), so it
//! outlives the loader and can be printed by anyone. [`SourceMap`] keeps the text of every file
//! read, so later stages (host checks, reload, runtime faults) can still point into the config.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// Index of a file in [`SourceMap`] / [`crate::config::model::Config::files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct FileId(pub u32);

/// A position in a config file: 1-based line, 1-based column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// lvsd's own finding that keepalived does not make (or makes without affecting its
    /// verdict): printed, never changes `-t`'s exit code (except under `--strict`).
    Note,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What a diagnostic is about, for exit codes (keepalived `-t` distinguishes script security).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The file's text or meaning.
    #[default]
    Config,
    /// Something on this host (interface, script file, a script disabled as unsafe under
    /// `enable_script_security`, as keepalived's exit 5) — only from `-t` / startup checks.
    Host,
    /// keepalived's SECURITY VIOLATION: scripts would run without `enable_script_security`.
    ScriptSecurity,
    /// A keepalived keyword lvsd accepts but does not act on (`lvsd does not implement X`).
    Unimplemented,
}

/// Where a diagnostic points, with the line's text for the caret display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: PathBuf,
    pub line: u32,
    pub col: u32,
    /// The source line (without newline), or empty if unavailable. Lines longer than
    /// [`EXCERPT`] characters are cut to a window around the column, marked with `…`.
    pub source_line: String,
    /// Column of the caret within `source_line` (equals `col` unless the line was cut).
    pub excerpt_col: u32,
}

/// Longest source line shown whole in a diagnostic.
pub const EXCERPT: usize = 200;
/// Longest message kept whole (a 100k-character word must not make a 100k-character message).
const MAX_MESSAGE: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub category: Category,
    pub message: String,
    /// None for whole-file / whole-config problems (e.g. file not found).
    pub location: Option<Location>,
    /// Extra lines rendered as `  = help: …` / `  = note: …`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.chars().count() > MAX_MESSAGE {
            let head: String = message.chars().take(MAX_MESSAGE - 60).collect();
            let tail: String = {
                let t: Vec<char> = message.chars().rev().take(60).collect();
                t.into_iter().rev().collect()
            };
            message = format!("{head}…{tail}");
        }
        Diagnostic {
            severity,
            category: Category::Config,
            message,
            location: None,
            notes: Vec::new(),
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }
    pub fn note(message: impl Into<String>) -> Self {
        Self::new(Severity::Note, message)
    }
    /// A note: lvsd's own finding, which does not change `-t`'s verdict.
    pub fn is_note(&self) -> bool {
        self.severity == Severity::Note
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn with_category(mut self, category: Category) -> Self {
        self.category = category;
        self
    }
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
    /// Line number, if located (tests and sorting).
    pub fn line(&self) -> Option<u32> {
        self.location.as_ref().map(|l| l.line)
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// ```text
    /// keepalived.conf:10:9: warning: unknown keyword `route_id` in global_defs
    ///    |
    /// 10 |         route_id LVS_DEVEL
    ///    |         ^
    ///    = help: did you mean `router_id`?
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            None => writeln!(f, "{}: {}", self.severity, self.message)?,
            Some(loc) => {
                writeln!(
                    f,
                    "{}:{}:{}: {}: {}",
                    loc.path.display(),
                    loc.line,
                    loc.col,
                    self.severity,
                    self.message
                )?;
                if !loc.source_line.is_empty() {
                    let num = loc.line.to_string();
                    let pad = " ".repeat(num.len());
                    // Tabs are kept in the caret line so the caret lines up under the
                    // terminal's rendering of the source line.
                    let mut caret = String::new();
                    for c in loc
                        .source_line
                        .chars()
                        .take(loc.excerpt_col.saturating_sub(1) as usize)
                    {
                        caret.push(if c == '\t' { '\t' } else { ' ' });
                    }
                    writeln!(f, "{pad} |")?;
                    writeln!(f, "{num} | {}", display_line(&loc.source_line))?;
                    writeln!(f, "{pad} | {caret}^")?;
                }
            }
        }
        for n in &self.notes {
            writeln!(f, "  = {n}")?;
        }
        Ok(())
    }
}

/// Very long lines are shown shortened so a 100k-character line does not flood the terminal.
/// Control characters (binary input) are shown as U+FFFD, one per character, so the caret
/// still lines up.
fn display_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// The text of every file the loader read, indexed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
struct SourceFile {
    path: PathBuf,
    /// The text, while the preprocessor reads it; afterwards only if it differs from the
    /// file's bytes (see [`SourceMap::release`]).
    text: Option<Arc<str>>,
    /// Byte offset of the start of each line: computed at release, or when a diagnostic
    /// first needs it.
    line_starts: std::sync::OnceLock<Vec<u32>>,
    /// The file, opened when a diagnostic needs a line of a released text.
    file: std::sync::OnceLock<Option<Arc<std::fs::File>>>,
}

/// Longest line read back from a released file for an excerpt.
const MAX_REREAD_LINE: usize = 1 << 16;

impl SourceFile {
    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            // Files are far below 4 GiB (the preprocessor reads at most 64 MiB in all).
            let text = self.text.as_deref().unwrap_or("");
            std::iter::once(0)
                .chain(
                    text.match_indices('\n')
                        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX)),
                )
                .collect()
        })
    }

    /// Bytes `start..end` of the text: from memory, or read again from the file.
    fn slice(&self, start: usize, end: usize) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(t) = &self.text {
            return t.get(start..end).map(std::borrow::Cow::Borrowed);
        }
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let file = self.file.get_or_init(|| {
            // Non-blocking open, then only a regular file: a FIFO put there since would block.
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.path)
                .ok()?;
            f.metadata().ok()?.is_file().then(|| Arc::new(f))
        });
        let mut buf = vec![0; end.saturating_sub(start).min(MAX_REREAD_LINE)];
        let n = file.as_ref()?.read_at(&mut buf, start as u64).ok()?;
        buf.truncate(n);
        Some(std::borrow::Cow::Owned(
            String::from_utf8_lossy(&buf).into_owned(),
        ))
    }
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, text: Arc<str>) -> FileId {
        self.files.push(SourceFile {
            path,
            text: Some(text),
            line_starts: std::sync::OnceLock::new(),
            file: std::sync::OnceLock::new(),
        });
        FileId(self.files.len() as u32 - 1)
    }
    /// The preprocessor is done with file `id`, whose text is exactly the bytes of its path:
    /// only the line index is kept, and a later diagnostic reads its line from the file again.
    /// So a large configuration is not in memory twice (as text and as model) while it is
    /// built.
    pub fn release(&mut self, id: FileId) {
        if let Some(f) = self.files.get_mut(id.0 as usize) {
            f.line_starts();
            f.text = None;
        }
    }
    pub fn path(&self, id: FileId) -> Option<&Path> {
        self.files.get(id.0 as usize).map(|f| f.path.as_path())
    }
    /// The text of file `id`, while it is held (see [`SourceMap::release`]).
    pub fn text(&self, id: FileId) -> Option<&str> {
        self.files.get(id.0 as usize)?.text.as_deref()
    }
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
    /// The text of a 1-based line, without its line terminator.
    pub fn line(&self, id: FileId, line: u32) -> Option<std::borrow::Cow<'_, str>> {
        let f = self.files.get(id.0 as usize)?;
        let idx = (line as usize).checked_sub(1)?;
        let starts = f.line_starts();
        let start = *starts.get(idx)? as usize;
        let end = match starts.get(idx + 1) {
            Some(&e) => e as usize - 1,
            None => match &f.text {
                Some(t) => t.len(),
                // The last line of a released file: up to the end of the file.
                None => start + MAX_REREAD_LINE,
            },
        };
        let s = f.slice(start, end)?;
        Some(match s {
            std::borrow::Cow::Borrowed(b) => {
                std::borrow::Cow::Borrowed(b.strip_suffix('\r').unwrap_or(b))
            }
            std::borrow::Cow::Owned(mut o) => {
                if o.ends_with('\r') {
                    o.pop();
                }
                std::borrow::Cow::Owned(o)
            }
        })
    }
    pub fn location(&self, span: Span) -> Location {
        let full = self.line(span.file, span.line).unwrap_or_default();
        let (source_line, excerpt_col) = excerpt(&full, span.col);
        Location {
            path: self
                .path(span.file)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            line: span.line,
            col: span.col,
            source_line,
            excerpt_col,
        }
    }
    /// A diagnostic pointing at `span`.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(severity, message).at(self.location(span))
    }
}

/// `line` whole if short, else a window of [`EXCERPT`] characters around `col`.
fn excerpt(line: &str, col: u32) -> (String, u32) {
    if line.len() <= EXCERPT || line.chars().nth(EXCERPT).is_none() {
        return (line.to_string(), col);
    }
    let start = (col as usize).saturating_sub(1).saturating_sub(EXCERPT / 2);
    let mut out = String::new();
    let mut caret = col as usize - start;
    if start > 0 {
        out.push('…');
        caret += 1;
    }
    let mut chars = line.chars().skip(start);
    out.extend(chars.by_ref().take(EXCERPT));
    if chars.next().is_some() {
        out.push('…');
    }
    (out, caret as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_source_and_caret() {
        let mut sm = SourceMap::default();
        let id = sm.add("k.conf".into(), "global_defs {\n\trouter_idd x\n}\n".into());
        let d = sm
            .diagnostic(
                Severity::Warning,
                Span {
                    file: id,
                    line: 2,
                    col: 2,
                },
                "unknown keyword `router_idd`",
            )
            .with_note("help: did you mean `router_id`?");
        let s = d.to_string();
        assert_eq!(
            s,
            "k.conf:2:2: warning: unknown keyword `router_idd`\n  |\n2 | \trouter_idd x\n  | \t^\n  = help: did you mean `router_id`?\n"
        );
    }

    #[test]
    fn long_lines_are_shortened() {
        let mut sm = SourceMap::default();
        let id = sm.add("k.conf".into(), "x".repeat(100_000).into());
        let d = sm.diagnostic(
            Severity::Error,
            Span {
                file: id,
                line: 1,
                col: 1,
            },
            "too long",
        );
        assert!(d.to_string().len() < 600);
    }
}
