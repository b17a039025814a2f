//! The shape of a keyword table entry, and where each block's table is.
//!
//! Every block holds a `&[Entry<S>]` next to its handlers in `build/` (`S` is the state the
//! block's handlers fill in); `specs` reads its names and statuses from there.

use super::Context;
use crate::config::build::{self, Ctx};
use crate::config::parser::Node;

/// What lvsd does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Read and acted on.
    Implemented,
    /// Read into the model but not acted on yet: warned (`lvsd does not implement X`).
    NotActing(&'static str),
    /// Accepted without effect (SNMP, DBus, process tuning…): warned, with the alternative.
    Ignored(&'static str),
}

/// What follows a keyword. The builder checks it before calling the handler: a missing
/// argument or block is a warning at the keyword's `file:line:col` and the line is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Nothing is required (a flag, or optional words the handler reads).
    None,
    /// At least one argument, described as in `` `kw` needs <what>; ignored ``.
    One(&'static str),
    /// At least `n` arguments.
    AtLeast(usize, &'static str),
    /// A `{ … }` block.
    Block,
    /// The handler reads the words itself (order of its checks matters for keepalived parity).
    Rest,
}

impl Arity {
    /// For the keyword reference.
    pub fn describe(self) -> String {
        match self {
            Arity::None | Arity::Rest => String::new(),
            Arity::One(what) => what.to_string(),
            Arity::AtLeast(_, what) => what.to_string(),
            Arity::Block => "`{ … }`".to_string(),
        }
    }
}

/// A keyword as the reference and the diagnostics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    /// Other spellings keepalived accepts for it (`lb_algo` for `lvs_sched`).
    pub aliases: &'static [&'static str],
    pub arity: Arity,
    /// One line for `docs/keywords.md`.
    pub doc: &'static str,
    pub status: Status,
}

impl Spec {
    pub fn matches(&self, kw: &str) -> bool {
        self.name == kw || self.aliases.contains(&kw)
    }
}

/// What a handler does with one line of its block, on the block's state `S`.
pub(in crate::config) type Handler<S> = fn(&mut Ctx<'_>, &Node, &mut S);

/// One keyword of a table-driven block: its [`Spec`] and its handler (none for keywords
/// accepted without effect).
pub(in crate::config) struct Entry<S> {
    pub spec: Spec,
    pub handler: Option<Handler<S>>,
}

/// An implemented keyword.
pub(in crate::config) const fn kw<S>(
    name: &'static str,
    arity: Arity,
    doc: &'static str,
    handler: Handler<S>,
) -> Entry<S> {
    Entry {
        spec: Spec {
            name,
            aliases: &[],
            arity,
            doc,
            status: Status::Implemented,
        },
        handler: Some(handler),
    }
}

/// A keyword accepted without effect: warned with `effect`.
pub(in crate::config) const fn ignored<S>(name: &'static str, effect: &'static str) -> Entry<S> {
    Entry {
        spec: Spec {
            name,
            aliases: &[],
            arity: Arity::Rest,
            doc: "",
            status: Status::Ignored(effect),
        },
        handler: None,
    }
}

impl<S> Entry<S> {
    /// Modelled (the handler reads it) but not acted on: warned with `effect`.
    pub(in crate::config) const fn not_acting(mut self, effect: &'static str) -> Self {
        self.spec.status = Status::NotActing(effect);
        self
    }
    pub(in crate::config) const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.spec.aliases = aliases;
        self
    }
}

/// The specs of a table.
fn of<S>(table: &[Entry<S>]) -> Vec<Spec> {
    table.iter().map(|e| e.spec).collect()
}

/// The keywords of `ctx`, from its table.
pub(super) fn specs(ctx: Context) -> Vec<Spec> {
    match ctx {
        Context::GlobalDefs => of(build::global_defs::Global::TABLE),
        Context::VrrpInstance => of(build::vrrp_instance::Instance::TABLE),
        Context::VirtualServer => of(build::virtual_server::Vs::TABLE),
        Context::RealServer => of(build::virtual_server::Rs::TABLE),
        Context::Checker => of(build::checker_table::Chk::TABLE),
        Context::HttpChecker => of(build::checker_table::Chk::HTTP_TABLE),
        Context::Url => of(build::url::Url::TABLE),
        Context::VrrpScript => of(build::vrrp_script::Vs::TABLE),
        Context::TrackFile => of(build::vrrp_script::Tf::TABLE),
        Context::VrrpSyncGroup => of(build::sync_group::Group::TABLE),
        Context::VrrpTrackProcess => of(build::track_process::Tp::TABLE),
        Context::BfdInstance => of(build::bfd::Bfd::TABLE),
        Context::Ssl => of(build::global::SSL),
        Context::TopLevel => of(build::top_level::Top::TABLE),
    }
}
