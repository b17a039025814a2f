//! The resolved, typed configuration: what the director, the checkers, VRRP and metrics consume.
//!
//! Everything here is plain data with keepalived's defaults already applied and inheritance
//! already resolved (global → instance for GARP timers and VRRP version; virtual_server →
//! real_server → checker for checker timers, alpha, virtualhost). Consumers never need the AST.
//! Items a later diagnostic may point at (reload, host checks, runtime faults) keep their
//! [`Span`]; render one with [`crate::config::SourceMap::diagnostic`].
//!
//! Names mirror keepalived's keywords so that `lvsd config dump --json` reads like the file.
//! Split as `build/` is: `global.rs`, `vrrp.rs`, `lvs.rs`, `checker.rs`.

use std::path::PathBuf;

use serde::Serialize;

pub use super::diag::{FileId, Span};

mod bfd;
mod checker;
mod garp_group;
mod global;
mod ipvlan;
mod lvs;
mod nft;
mod process;
mod route;
mod track_group;
mod track_process;
mod vrrp;

pub use bfd::*;
pub use checker::*;
pub use garp_group::GarpGroup;
pub use global::*;
pub use ipvlan::{IpvlanMode, UseIpvlan};
pub use lvs::*;
pub use nft::*;
pub use process::*;
pub use route::*;
pub use track_group::TrackGroup;
pub use track_process::*;
pub use vrrp::*;

/// A whole keepalived.conf after preprocessing, parsing, defaults and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Config {
    /// The files read, in include order (index = [`FileId`]).
    pub files: Vec<PathBuf>,
    pub global: GlobalDefs,
    /// `vrrp_script NAME { … }` blocks, in file order.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file NAME { … }` (alias `vrrp_track_file`) blocks.
    pub track_files: Vec<TrackFile>,
    /// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] … }`: the interfaces whose link state
    /// is polled (lvsd reads ethtool's link report, else IFF_RUNNING, whatever type is named).
    pub linkbeat_interfaces: Vec<String>,
    /// `vrrp_track_process NAME { … }` blocks.
    pub track_processes: Vec<TrackProcess>,
    pub vrrp_sync_groups: Vec<VrrpSyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `garp_group { … }` blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub garp_groups: Vec<GarpGroup>,
    /// `track_group NAME { group { … } }` blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_groups: Vec<TrackGroup>,
    /// `static_ipaddress { … }`: addresses configured at startup whatever the VRRP state.
    pub static_ipaddresses: Vec<VirtualAddress>,
    /// `static_routes { … }`.
    pub static_routes: Vec<VirtualRoute>,
    /// `static_rules { … }`, held while lvsd runs (`crate::routes`).
    pub static_rules: Vec<VirtualRule>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// `bfd_instance NAME { … }` blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bfd_instances: Vec<BfdInstance>,
    /// Top-level `SSL { … }` block used by SSL_GET checkers (None: auto-generated context).
    pub ssl: Option<SslConfig>,
    /// Keywords keepalived knows and lvsd accepts but does not act on (SNMP, DBus, nftables,
    /// process priorities…). Kept so `-d` and `config dump` can show what was not applied.
    pub ignored: Vec<IgnoredKeyword>,
    /// Top-level `use_pid_dir`: pid files go to /run/keepalived (see `crate::pidfile`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub use_pid_dir: bool,
    /// Top-level `instance NAME`: pid file names carry `_NAME`, in /run/keepalived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// lvsd extension (`anycast_table`, `anycast_protocol` in global_defs): where health-gated
    /// VIP routes go (docs/anycast.md).
    pub anycast: AnycastDefs,
    /// global_defs `nftables*` and `nftables_ipvs*` (see [`crate::nft`]).
    pub nft: NftDefs,
    /// Process keywords lvsd acts on (scheduling, umask, namespaces…; see `process.rs`).
    #[serde(skip_serializing_if = "ProcessDefs::is_default")]
    pub process: ProcessDefs,
}

/// lvsd extension, global_defs `anycast_table N` / `anycast_protocol P`: the kernel routing
/// table and protocol number of the routes `announce_route` virtual servers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct AnycastDefs {
    /// None: the default (crate::anycast::DEFAULT_TABLE).
    pub table: Option<u32>,
    /// None: the default (crate::anycast::DEFAULT_PROTOCOL).
    pub protocol: Option<u8>,
}

impl Config {
    pub fn vrrp_script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }
    pub fn track_file(&self, name: &str) -> Option<&TrackFile> {
        self.track_files.iter().find(|s| s.name == name)
    }
    pub fn bfd_instance(&self, name: &str) -> Option<&BfdInstance> {
        self.bfd_instances.iter().find(|b| b.name == name)
    }
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|s| s.name == name)
    }
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|s| s.name == name)
    }
    /// Every keyword of this configuration that lvsd accepts but does not implement, in file
    /// order: for the start-up warnings, the metric and `/status`.
    pub fn unimplemented(&self) -> impl Iterator<Item = &IgnoredKeyword> {
        self.ignored.iter().filter(|k| k.unimplemented.is_some())
    }
    /// [`Config::unimplemented`] as the lines lvsd logs at start-up and lists in `/status`:
    /// `FILE:LINE:COL: lvsd does not implement X (in BLOCK): what that means`.
    pub fn unimplemented_lines(&self) -> Vec<String> {
        self.unimplemented()
            .map(|k| {
                let file = self
                    .files
                    .get(k.span.file.0 as usize)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                format!(
                    "{file}:{}:{}: lvsd does not implement {} (in {}): {}",
                    k.span.line,
                    k.span.col,
                    k.keyword,
                    k.context,
                    k.unimplemented.as_deref().unwrap_or("")
                )
            })
            .collect()
    }
}

/// A keyword accepted for compatibility but without effect in lvsd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredKeyword {
    pub keyword: String,
    /// Enclosing block keyword ("global_defs", "vrrp_instance", …).
    pub context: String,
    pub span: Span,
    /// For a keyword lvsd does not implement: what that means for this configuration (the
    /// text of `lvsd does not implement X: …`). None: a keyword keepalived itself ignores in
    /// this position.
    pub unimplemented: Option<String>,
}

/// A script or program to run, as keepalived takes it: `PATH ARGS…` (quoted when it has
/// arguments) optionally followed by `username [groupname]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The command line as written (after parameter substitution).
    pub command: String,
    /// `command` split into words the way keepalived does (quotes and backslashes honoured).
    /// Never empty: a script with no words is rejected at load time.
    pub argv: Vec<String>,
    /// Run as this user/group; None: the global `script_user`, else `keepalived_script` if
    /// it exists, else root (see `crate::scripts`).
    pub user: Option<ScriptUser>,
    pub span: Span,
}

#[derive(Debug, Clone, Eq, Serialize)]
pub struct ScriptUser {
    pub user: String,
    /// None: the user's primary group.
    pub group: Option<String>,
    /// Where the user is named (host checks point here).
    #[serde(skip)]
    pub span: Span,
}

/// Equal when they name the same user and group, wherever written.
impl PartialEq for ScriptUser {
    fn eq(&self, o: &Self) -> bool {
        self.user == o.user && self.group == o.group
    }
}
