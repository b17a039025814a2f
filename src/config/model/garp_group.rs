//! `garp_group { garp_interval …; gna_interval …; interface IF | interfaces { … } }`.

use std::time::Duration;

use serde::Serialize;

use super::Span;

/// One `garp_group`: GARP/NA spacing shared by its interfaces (keepalived.conf(5)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpGroup {
    /// `garp_interval`; None: the global `vrrp_garp_interval`.
    pub garp_interval: Option<Duration>,
    /// `gna_interval`; None: the global `vrrp_gna_interval`.
    pub gna_interval: Option<Duration>,
    /// `interface IF` or the `interfaces { … }` list.
    pub interfaces: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}
