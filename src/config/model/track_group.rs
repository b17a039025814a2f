//! `track_group NAME { group { VI_1 VI_2 } }` (keepalived.conf(5) "Static track groups").

use serde::Serialize;

use super::Span;

/// The instances that go to FAULT while a `static_ipaddress` / `static_routes` /
/// `static_rules` entry naming this group (`track_group NAME`) is deleted and cannot be put back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackGroup {
    pub name: String,
    /// Member `vrrp_instance` names.
    pub group: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}
