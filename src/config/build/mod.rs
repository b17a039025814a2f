//! Statement tree → [`Config`]: one handler per keyword, keepalived's defaults, inheritance
//! (virtual_server → real_server → checker) and cross-references (track_script → vrrp_script).
//!
//! Handlers never fail: a bad value is a diagnostic plus keepalived's fallback (usually "keep
//! the default"), so one typo never hides the rest of the file's problems.

mod anycast;
pub(in crate::config) mod bfd;
mod checker;
pub(in crate::config) mod checker_table;
mod checker_target;
mod garp_group;
pub(in crate::config) mod global;
pub(in crate::config) mod global_defs;
mod ipvlan;
mod lvs;
mod nft;
mod process;
mod routes;
mod rtnames;
pub(in crate::config) mod sync_group;
pub(in crate::config) mod top_level;
mod track_group;
pub(in crate::config) mod track_process;
pub(in crate::config) mod url;
mod url_regex;
mod values;
pub(in crate::config) mod virtual_server;
mod vmac_mac;
mod vrrp;
mod vrrp_extra;
pub(in crate::config) mod vrrp_instance;
pub(in crate::config) mod vrrp_script;

use super::diag::{Diagnostic, Severity, SourceMap, Span};
use super::keywords::Context;
use super::keywords::table::{Arity, Entry, Status};
use super::model::{Config, IgnoredKeyword};
use super::parser::Node;
use super::tree::Tree;

pub(in crate::config) struct Ctx<'a> {
    sources: &'a SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    ignored: Vec<IgnoredKeyword>,
    /// Diagnostics issued for the current line, to cap floods.
    line_count: ((super::diag::FileId, u32), usize),
    /// Names of the `vrrp_track_process` blocks, wherever they are in the file.
    processes: Vec<String>,
    /// Names of the `virtual_server_group` blocks, wherever they are in the file.
    vs_groups: Vec<String>,
    /// Did-you-mean searches left for this load (see [`MAX_SUGGESTIONS`]).
    suggestions_left: usize,
}

/// Unknown keywords that get a did-you-mean search, per load: past that many typos the
/// warnings go on without suggestions, so a file of garbage costs no more than its size.
/// (Under `cfg(fuzzing)` 8: with comparison tracing the search is most of each execution's
/// cost, and 8 per input still cover it.)
const MAX_SUGGESTIONS: usize = if cfg!(fuzzing) { 8 } else { 256 };

/// Warnings kept per source line.
const MAX_PER_LINE: usize = 4;

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, span: Span, msg: String, note: Option<String>) {
        // A line of garbage words could otherwise yield one diagnostic per word: past a few,
        // more say nothing new (and each copies part of the line). Errors are always kept.
        let key = (span.file, span.line);
        if self.line_count.0 == key {
            self.line_count.1 += 1;
        } else {
            self.line_count = (key, 1);
        }
        if self.line_count.1 > MAX_PER_LINE && severity != Severity::Error {
            return;
        }
        let mut d = self.sources.diagnostic(severity, span, msg);
        if let Some(n) = note {
            d = d.with_note(n);
        }
        self.diags.push(d);
    }
    /// Whether the line of `span` already has [`MAX_PER_LINE`] warnings.
    fn line_full(&self, span: Span) -> bool {
        self.line_count.0 == (span.file, span.line) && self.line_count.1 >= MAX_PER_LINE
    }
    pub(super) fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Severity::Warning, span, msg.into(), None);
    }
    pub(super) fn warn_note(
        &mut self,
        span: Span,
        msg: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, msg.into(), Some(note.into()));
    }
    /// A problem keepalived answers by skipping the object (instance, virtual server, digest):
    /// a warning — keepalived 2.2.7 still runs the rest, and `-t` exits 5.
    pub(super) fn skip(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Severity::Warning, span, msg.into(), None);
    }
    /// A value of an lvsd extension keyword that cannot be honoured safely (no keepalived
    /// verdict to match): the configuration is refused.
    pub(super) fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Severity::Error, span, msg.into(), None);
    }
    /// lvsd's own finding, which keepalived does not make: never changes `-t`'s verdict.
    pub(super) fn note(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Severity::Note, span, msg.into(), None);
    }

    /// Handles a keyword the block's handler did not model: records keepalived keywords lvsd
    /// ignores, warns about unknown ones with a suggestion. Blocks under an unknown keyword are
    /// skipped whole.
    pub(super) fn other(&mut self, node: &Node, ctx: Context) {
        self.other_in(node, ctx, ctx.name());
    }

    /// As [`Ctx::other`], naming the enclosing block `block` in messages (e.g. `TCP_CHECK`).
    pub(super) fn other_in(&mut self, node: &Node, ctx: Context, block: &str) {
        let kw = node.keyword();
        if kw.is_empty() {
            self.warn(
                node.span(),
                "`{` without a keyword before it; the block is ignored",
            );
            return;
        }
        if let Some(spec) = ctx.lookup(kw) {
            // Modelled keywords reaching here are ones this block does not support in this
            // position (e.g. a checker option in MISC_CHECK); keepalived ignores those too.
            let effect = match spec.status {
                Status::Ignored(e) => Some(self.unimplemented(node.span(), kw, ctx, e)),
                _ => None,
            };
            self.ignored.push(IgnoredKeyword {
                keyword: kw.to_string(),
                context: ctx.name().to_string(),
                span: node.span(),
                unimplemented: effect,
            });
            return;
        }
        if ctx != Context::TopLevel
            && super::keywords::is_top_level_block(kw)
            && !matches!(kw, "track_file" | "vrrp_track_file")
        {
            self.warn_note(
                node.span(),
                format!("`{kw}` cannot appear inside {block}"),
                "help: is a `}` missing before this line?",
            );
            return;
        }
        if self.line_full(node.span()) {
            // Past the per-line cap the warning would be dropped: skip the did-you-mean
            // search, which is what a flood of expanded lines costs.
            return;
        }
        let msg = format!("unknown keyword `{kw}` in {block}");
        let ignored = if node.block.is_some() {
            "note: the block is ignored"
        } else {
            "note: the line is ignored"
        };
        let suggestion = match self.suggestions_left.checked_sub(1) {
            Some(left) => {
                self.suggestions_left = left;
                ctx.suggest(kw)
            }
            None => None,
        };
        match suggestion {
            Some(s) => self.warn_note(node.span(), msg, format!("help: did you mean `{s}`?")),
            None => self.warn_note(node.span(), msg, ignored),
        }
    }

    /// `lvsd does not implement X: what that means`: a note (keepalived accepts the keyword,
    /// so `-t`'s verdict does not change), logged as a warning at start-up and listed by
    /// [`Config::unimplemented`].
    fn unimplemented(&mut self, span: Span, kw: &str, ctx: Context, effect: &str) -> String {
        let d = self
            .sources
            .diagnostic(
                Severity::Note,
                span,
                format!(
                    "lvsd does not implement `{kw}` in {}: {}",
                    ctx.name(),
                    effect
                ),
            )
            .with_category(super::diag::Category::Unimplemented);
        self.diags.push(d);
        effect.to_string()
    }

    /// Notes a keyword lvsd models without acting on, and records it for `Config::unimplemented`.
    fn record_not_acting(&mut self, node: &Node, ctx: Context, effect: &str) {
        let kw = node.keyword();
        let effect = self.unimplemented(node.span(), kw, ctx, effect);
        self.ignored.push(IgnoredKeyword {
            keyword: kw.to_string(),
            context: ctx.name().to_string(),
            span: node.span(),
            unimplemented: Some(effect),
        });
    }

    /// Whether `node` has what `arity` requires; if not, warns at its `file:line:col`.
    fn arity_ok(&mut self, node: &Node, arity: Arity) -> bool {
        match arity {
            Arity::None | Arity::Rest => true,
            Arity::One(what) => self.arg(node, 1, what).is_some(),
            Arity::AtLeast(n, what) => self.arg(node, n, what).is_some(),
            Arity::Block => self.need_block(node).is_some(),
        }
    }

    /// Warns when a keyword that takes a block has none.
    pub(super) fn need_block<'n>(&mut self, node: &'n Node) -> Option<&'n [Node]> {
        match &node.block {
            Some(b) => Some(&b.children),
            None => {
                self.warn(
                    node.span(),
                    format!("`{}` needs a `{{ … }}` block; ignored", node.keyword()),
                );
                None
            }
        }
    }
}

/// One line of a table-driven block: finds its keyword in `table` (name or alias), notes it
/// if lvsd does not act on it, checks its arity and calls its handler on the block's state.
/// Keywords not in the table, and those accepted without effect, go to [`Ctx::other`].
pub(super) fn dispatch<S>(cx: &mut Ctx, ctx: Context, table: &[Entry<S>], node: &Node, st: &mut S) {
    dispatch_in(cx, ctx, ctx.name(), table, node, st);
}

/// As [`dispatch`], naming the enclosing block `block` in messages (e.g. `TCP_CHECK`).
pub(super) fn dispatch_in<S>(
    cx: &mut Ctx,
    ctx: Context,
    block: &str,
    table: &[Entry<S>],
    node: &Node,
    st: &mut S,
) {
    let kw = node.keyword();
    let Some(e) = table.iter().find(|e| e.spec.matches(kw)) else {
        return cx.other_in(node, ctx, block);
    };
    let Some(handler) = e.handler else {
        return cx.other_in(node, ctx, block);
    };
    if let Status::NotActing(effect) = e.spec.status {
        cx.record_not_acting(node, ctx, effect);
    }
    if cx.arity_ok(node, e.spec.arity) {
        handler(cx, node, st);
    }
}

/// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] … }`.
fn linkbeat_interfaces(cx: &mut Ctx, node: &Node, config: &mut Config) {
    let Some(children) = cx.need_block(node) else {
        return;
    };
    for l in children {
        let words: Vec<&str> = l.words.iter().map(|w| w.text.as_str()).collect();
        match words.as_slice() {
            [name] | [name, "MII" | "ETHTOOL" | "IOCTL"] if l.block.is_none() => {
                config.linkbeat_interfaces.push(name.to_string())
            }
            _ => cx.warn(
                l.span(),
                "expected `INTERFACE [MII|ETHTOOL|IOCTL]` in linkbeat_interfaces; ignored",
            ),
        }
    }
}

/// The names of the top-level `kw NAME { … }` blocks.
fn block_names(tree: &Tree, kw: &str) -> Vec<String> {
    tree.iter()
        .filter(|n| n.keyword() == kw)
        .filter_map(|n| n.name().map(str::to_string))
        .collect()
}

/// Builds the model from the parsed tree; problems go to `diags`. The tree is consumed: each
/// top-level block is freed once built, so the tree and the model are never both whole in
/// memory.
pub(super) fn build(tree: Tree, sources: &SourceMap, diags: &mut Vec<Diagnostic>) -> Config {
    let mut cx = Ctx {
        sources,
        diags,
        ignored: Vec::new(),
        line_count: ((super::diag::FileId(u32::MAX), 0), 0),
        processes: block_names(&tree, "vrrp_track_process"),
        vs_groups: block_names(&tree, "virtual_server_group"),
        suggestions_left: MAX_SUGGESTIONS,
    };
    let mut config = Config::default();
    let pending = vrrp::Pending::default();

    // global_defs first: instances and checkers take defaults from it wherever it appears.
    for node in tree.iter().filter(|n| n.keyword() == "global_defs") {
        let node = &node.node();
        // Several global_defs blocks (often one per included file) merge, as in keepalived.
        global_defs::global_defs(&mut cx, node, &mut config);
    }
    // Then what others refer to by name (FILE_CHECK → track_file), wherever it is written.
    for node in &tree {
        if !matches!(
            node.keyword(),
            "vrrp_script"
                | "track_file"
                | "vrrp_track_file"
                | "bfd_instance"
                | "vrrp_track_process"
        ) {
            continue;
        }
        let node = &node.node();
        match node.keyword() {
            "vrrp_script" => vrrp_script::vrrp_script(&mut cx, node, &mut config),
            "bfd_instance" => bfd::bfd_instance(&mut cx, node, &mut config),
            "track_file" | "vrrp_track_file" => vrrp_script::track_file(&mut cx, node, &mut config),
            "vrrp_track_process" => track_process::block(&mut cx, node, &mut config),
            _ => {}
        }
    }
    let mut top = top_level::Top { config, pending };
    for node in tree {
        dispatch(
            &mut cx,
            Context::TopLevel,
            top_level::Top::TABLE,
            &node,
            &mut top,
        );
    }
    let top_level::Top {
        mut config,
        pending,
    } = top;
    vrrp::resolve(&mut cx, &mut config, pending);
    track_process::resolve(&mut config);
    track_group::resolve(&mut cx, &mut config);
    config.ignored = cx.ignored;
    config
}
