//! keepalived.conf front end: text → typed [`Config`] plus compiler-style [`Diagnostic`]s.
//!
//! Pipeline (each stage pure except where noted):
//! 1. [`preproc`] reads files (the only disk access besides `host`): comments, `@id`/`@^id`
//!    conditional lines, `$NAME=value` parameters and substitution, `include` with globs
//!    relative to the including file and cycle detection; [`lexer`] cuts each line into word,
//!    `{`, `}` tokens, each with its [`Span`].
//! 2. [`parser`] builds a tree of statements and blocks (`{` on the same or the next line;
//!    a missing `{` after a top-level block keyword is warned about and assumed, as keepalived
//!    does; an unclosed block is warned about at the line that opened it and closed at the end
//!    of the file, as keepalived does).
//!    Memory: the parser takes tokens as the preprocessor makes them (no token stream), each
//!    finished top-level block is stored as one compact encoded [`tree::Entry`], and a file's
//!    text is released once read (a late diagnostic reads its line back): `-t` on a large
//!    configuration peaks under 4× the file's size (`examples/config_mem.rs` profiles it).
//! 3. `build` consumes the tree one top-level block at a time (decoded as it is reached),
//!    with the keyword table of [`keywords`] (aliases, deprecations, did-you-mean, what lvsd
//!    does not implement) and produces the [`model`] with keepalived's
//!    defaults and inheritance. Keywords lvsd accepts without acting on are noted
//!    (`lvsd does not implement X: …`) and listed by [`Config::unimplemented`].
//! 4. [`validate`] checks cross-references and ranges (pure); [`host`] checks the machine
//!    (interfaces, scripts, script security) and runs only when asked (`-t`, daemon start).
//!
//! Policy, mirroring keepalived 2.2.7 (checked by the differential rig, `tests/config_parity.rs`,
//! against `keepalived -t` on a corpus of 600+ files): where keepalived warns and carries on —
//! which is nearly always, skipping the offending object — lvsd emits a [`Severity::Warning`]
//! at the same line and applies the same fallback; where keepalived refuses, lvsd emits an
//! [`Severity::Error`] and [`load`] fails. lvsd's own findings (keepalived says nothing, or
//! says it without changing its verdict) are [`Severity::Note`]s: printed, never changing the
//! verdict. `strict` turns warnings and notes into errors.

mod build;
pub mod diag;
pub mod host;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod preproc;
pub mod summary;
pub mod tree;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diag::{Category, Diagnostic, FileId, Location, Severity, SourceMap, Span};
pub use model::Config;

/// How to load a configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Selects `@id` lines (`--config-id`). None: the short host name, as keepalived does.
    pub config_id: Option<String>,
    /// `--strict`: every warning is an error.
    pub strict: bool,
    /// Run the host checks (interfaces exist, scripts exist and are executable, script
    /// security), as `keepalived -t` does. Off for pure parsing (tests, `config dump`).
    pub check_host: bool,
}

/// A configuration that loaded, possibly with warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Warnings only (errors make [`load`] fail), in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file read, for later diagnostics pointing at model spans.
    pub sources: SourceMap,
}

/// The configuration was refused. `diagnostics` holds every problem found (errors and the
/// warnings seen along the way), in file order.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.error_count();
        match self.diagnostics.iter().find(|d| d.is_error()) {
            Some(first) if n == 1 => write!(f, "configuration refused: {}", first.message),
            _ => write!(f, "configuration refused: {n} errors"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Loads, validates and (if `opts.check_host`) host-checks the configuration at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    load_with_probe(path, opts, &host::System)
}

/// As [`load`], with the host checks asking `probe` instead of this machine (tests, or a
/// check "as if on" another director).
pub fn load_with_probe(
    path: &Path,
    opts: &LoadOptions,
    probe: &dyn host::Probe,
) -> Result<Loaded, LoadError> {
    let config_id = opts.config_id.clone().unwrap_or_else(short_hostname);
    let (tree, sources, diagnostics) = preproc::parse_file(path, &config_id);
    finish(tree, sources, diagnostics, opts, probe)
}

/// Loads configuration text as if read from `name` (includes resolve relative to it).
pub fn load_str(text: &str, name: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let config_id = opts.config_id.clone().unwrap_or_else(short_hostname);
    let (tree, sources, diagnostics) = preproc::parse_str(text, name, &config_id);
    finish(tree, sources, diagnostics, opts, &host::System)
}

fn finish(
    tree: tree::Tree,
    sources: SourceMap,
    mut diagnostics: Vec<Diagnostic>,
    opts: &LoadOptions,
    probe: &dyn host::Probe,
) -> Result<Loaded, LoadError> {
    // The build consumes the tree, freeing it as the model grows.
    let mut config = build::build(tree, &sources, &mut diagnostics);
    config.files = sources.paths();
    validate::validate(&mut config, &sources, &mut diagnostics);
    if opts.check_host {
        host::check(&config, &sources, probe, &mut diagnostics);
    }
    if opts.strict {
        for d in &mut diagnostics {
            if d.severity != Severity::Error {
                d.severity = Severity::Error;
                d.notes
                    .push("note: warnings are errors with --strict".into());
            }
        }
    }
    // Stable order: by file then line; unlocated (whole-config) diagnostics last.
    diagnostics.sort_by_key(|d| {
        d.location
            .as_ref()
            .map(|l| {
                (
                    0,
                    config.files.iter().position(|p| *p == l.path),
                    l.line,
                    l.col,
                )
            })
            .unwrap_or((1, None, 0, 0))
    });
    if diagnostics.iter().any(Diagnostic::is_error) {
        Err(LoadError { diagnostics })
    } else {
        Ok(Loaded {
            config,
            diagnostics,
            sources,
        })
    }
}

/// keepalived's default config id: the host name up to the first dot.
pub fn short_hostname() -> String {
    let full = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    full.split('.').next().unwrap_or("").to_string()
}

/// The default configuration file, as keepalived's.
pub fn default_path() -> PathBuf {
    PathBuf::from("/etc/keepalived/keepalived.conf")
}
