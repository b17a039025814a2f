//! `vrrp_track_process NAME { … }` and the `track_process { NAME … }` lines that use it.

use std::time::Duration;

use serde::Serialize;

use super::Span;

/// How the configured parameters must match a process's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum ParamMatch {
    /// Every argument equals one configured parameter, no more, no fewer (the default).
    #[default]
    Exact,
    /// The first N arguments equal the N parameters; more may follow.
    Partial,
    /// As exact, but the last argument may be longer than the last parameter.
    Initial,
}

/// One `vrrp_track_process` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackProcess {
    pub name: String,
    /// `process NAME [PARAM …]`: the command name (or argv\[0\] with parameters or
    /// `full_command`).
    pub process: String,
    pub params: Vec<String>,
    /// `param_match` present: parameters (even none) are compared.
    pub param_match: Option<ParamMatch>,
    pub full_command: bool,
    /// Default 1.
    pub weight: i32,
    pub weight_reverse: bool,
    /// Default 1.
    pub quorum: u32,
    /// Default: no maximum.
    pub quorum_max: u32,
    pub fork_delay: Duration,
    pub terminate_delay: Duration,
    pub span: Span,
}

/// A `track_process` line in an instance or a sync group: `NAME [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackProcessRef {
    pub name: String,
    /// Resolved: the line's weight, else the block's.
    pub weight: i32,
    pub reverse: bool,
    pub span: Span,
}
