//! Token stream → tree of statements. A statement is the words of one line; it owns a block
//! when a `{` follows on the same line or as the first token of a following line.
//!
//! Recovery, as keepalived: a top-level block keyword (`vrrp_instance X`) not followed by `{`
//! gets a warning and the following lines become its body anyway; a `}` with no open block is
//! warned about and ignored; a `{` with no keyword opens a block that is ignored. An unclosed
//! block is a warning pointing at the line that opened it (closed at the end, as keepalived). The parser is iterative, so deep
//! nesting cannot overflow the stack; nesting beyond [`MAX_DEPTH`] is an error.

use super::diag::{Diagnostic, Severity, SourceMap, Span};
use super::keywords;
use super::lexer::{Tok, Token};
use super::tree::Tree;

/// Deeper than any keepalived construct (virtual_server > real_server > HTTP_GET > url is 4).
pub const MAX_DEPTH: usize = 16;

/// A word's text: inline up to 24 bytes (nearly every keepalived.conf word), so lexing and
/// decoding a line cost no allocation per word.
pub type Text = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: Text,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// Never empty, except for a stray anonymous `{ … }` block.
    pub words: Vec<Word>,
    pub block: Option<Block>,
}

impl Node {
    pub fn keyword(&self) -> &str {
        self.words.first().map(|w| w.text.as_str()).unwrap_or("")
    }
    /// Position of the statement (its first word, or the `{` of an anonymous block).
    pub fn span(&self) -> Span {
        self.words
            .first()
            .map(|w| w.span)
            .or(self.block.as_ref().map(|b| b.open))
            .unwrap_or_default()
    }
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }
    pub fn children(&self) -> &[Node] {
        self.block
            .as_ref()
            .map(|b| b.children.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    pub open: Span,
    pub children: Vec<Node>,
    /// The closing `}` (keepalived reports a block's missing parts at this line); the open
    /// span if the block was never closed.
    pub close: Span,
}

struct Frame {
    node: Node,
    /// The `{` was assumed (missing in the file).
    implicit: bool,
}

/// Builds the statement tree. Problems go to `diags`.
pub fn parse(tokens: Vec<Token>, sources: &SourceMap, diags: &mut Vec<Diagnostic>) -> Vec<Node> {
    let mut p = Parser::default();
    for t in tokens {
        p.push(t, sources, diags);
    }
    p.finish(sources, diags).into_nodes()
}

/// The parser as a token sink: the preprocessor feeds it one token at a time, so the token
/// stream of a whole configuration never exists in memory at once (only the tree does).
#[derive(Default)]
pub struct Parser {
    top: Tree,
    stack: Vec<Frame>,
    /// Words of the current line.
    cur: Vec<Word>,
    /// A finished line that may still get a `{` from the next line, with the Eol's comment
    /// info.
    pending: Option<(Node, Option<u32>, bool)>,
    last_extra: Option<(super::diag::FileId, u32)>,
    /// Nesting went past [`MAX_DEPTH`]: the rest of the input is ignored.
    stopped: bool,
}

/// A statement of exactly the words collected (no spare capacity: the tree of a large
/// configuration is made of millions of these).
fn statement(cur: &mut Vec<Word>) -> Node {
    let mut words = Vec::with_capacity(cur.len());
    words.append(cur);
    Node { words, block: None }
}

impl Parser {
    /// Adds a finished statement to the open block, or to the tree (encoded) at the top.
    fn emit(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(f) => f
                .node
                .block
                .get_or_insert_with(Block::default)
                .children
                .push(node),
            None => self.top.push(&node),
        }
    }

    fn flush_pending(&mut self) {
        if let Some((node, ..)) = self.pending.take() {
            self.emit(node);
        }
    }

    /// Takes the next token.
    pub fn push(&mut self, t: Token, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
        if self.stopped {
            return;
        }
        match t.tok {
            Tok::Word { text, quoted } => {
                if let Some((node, comment, brace)) = self.pending.take() {
                    // The previous line had no `{` after it. A top-level block keyword must
                    // have one: assume it, like keepalived's VRRP parser.
                    if self.stack.is_empty()
                        && needs_block(node.keyword())
                        && !node.words.is_empty()
                    {
                        self.assume_open(node, comment, brace, sources, diags);
                    } else {
                        self.emit(node);
                    }
                }
                self.cur.push(Word {
                    text,
                    quoted,
                    span: t.span,
                });
            }
            Tok::Eol {
                comment,
                comment_brace,
            } => {
                if !self.cur.is_empty() {
                    self.flush_pending();
                    let node = statement(&mut self.cur);
                    self.pending = Some((node, comment, comment_brace));
                }
            }
            Tok::Open => {
                let words = if !self.cur.is_empty() {
                    self.flush_pending();
                    statement(&mut self.cur).words
                } else if let Some((node, ..)) = self.pending.take() {
                    node.words
                } else {
                    Vec::new()
                };
                if self.stack.len() >= MAX_DEPTH {
                    diags.push(sources.diagnostic(
                        Severity::Error,
                        t.span,
                        format!("blocks nested more than {MAX_DEPTH} deep; the rest of the file is not read"),
                    ));
                    // Close what is open so far so the tree stays well formed.
                    close_all(&mut self.top, &mut self.stack);
                    self.stopped = true;
                    return;
                }
                self.stack.push(Frame {
                    node: Node {
                        words,
                        block: Some(Block {
                            open: t.span,
                            children: Vec::new(),
                            close: t.span,
                        }),
                    },
                    implicit: false,
                });
            }
            Tok::Close => {
                self.flush_pending();
                if !self.cur.is_empty() {
                    let node = statement(&mut self.cur);
                    self.emit(node);
                }
                match self.stack.pop() {
                    Some(mut frame) => {
                        if let Some(b) = &mut frame.node.block {
                            b.children.shrink_to_fit();
                            b.close = t.span;
                        }
                        self.emit(frame.node)
                    }
                    // One warning per line is enough for a run of `}}}}`.
                    None if self.last_extra == Some((t.span.file, t.span.line)) => {}
                    None => {
                        self.last_extra = Some((t.span.file, t.span.line));
                        diags.push(sources.diagnostic(
                            Severity::Warning,
                            t.span,
                            "extra `}` with no open block; ignored",
                        ))
                    }
                }
            }
        }
    }

    /// A top-level block keyword without its `{`: warn, and read what follows as its body.
    fn assume_open(
        &mut self,
        node: Node,
        comment: Option<u32>,
        brace: bool,
        sources: &SourceMap,
        diags: &mut Vec<Diagnostic>,
    ) {
        let name = node
            .words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let line = node.span().line;
        let (span, note) = match (comment, brace) {
            (Some(col), true) => (
                Span { col, ..node.span() },
                "note: the `{` on this line is inside a comment; move it before the `#`/`!`"
                    .to_string(),
            ),
            _ => (
                node.span(),
                format!("note: the lines after line {line} are read as its body"),
            ),
        };
        diags.push(
            sources
                .diagnostic(
                    Severity::Warning,
                    span,
                    format!("missing `{{` after `{name}`"),
                )
                .with_note(note),
        );
        self.stack.push(Frame {
            node: Node {
                block: Some(Block {
                    open: span,
                    children: Vec::new(),
                    close: span,
                }),
                ..node
            },
            implicit: true,
        });
    }

    /// The tree; unclosed blocks are reported, innermost last, at the line that opened each.
    pub fn finish(mut self, sources: &SourceMap, diags: &mut Vec<Diagnostic>) -> Tree {
        self.flush_pending();
        if !self.cur.is_empty() {
            let node = statement(&mut self.cur);
            self.emit(node);
        }
        for frame in &self.stack {
            let name = frame
                .node
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let span = frame.node.span();
            let what = if name.is_empty() {
                "`{`".to_string()
            } else {
                format!("`{name}`")
            };
            // keepalived 2.2.7 closes it at the end of the file, says so and runs (`-t`: 5).
            let mut d = sources.diagnostic(
                Severity::Warning,
                span,
                format!(
                    "missing `}}`: the block {what} opened here is never closed; closed at the end of the file"
                ),
            );
            if frame.implicit {
                d = d.with_note("note: its `{` was assumed (see the warning above)");
            }
            diags.push(d);
        }
        close_all(&mut self.top, &mut self.stack);
        self.top.shrink_to_fit();
        self.top
    }
}

/// Top-level keywords that are statements, not blocks (`net_namespace NAME`, `instance NAME`):
/// no `{` is assumed after them.
const TOP_LEVEL_STATEMENTS: &[&str] = &[
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "linkbeat_use_polling",
];

/// A top-level keyword whose missing `{` is assumed.
fn needs_block(kw: &str) -> bool {
    keywords::is_top_level_block(kw) && !TOP_LEVEL_STATEMENTS.contains(&kw)
}

fn close_all(top: &mut Tree, stack: &mut Vec<Frame>) {
    while let Some(frame) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent
                .node
                .block
                .get_or_insert_with(Block::default)
                .children
                .push(frame.node),
            None => top.push(&frame.node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::preproc::preprocess_str;
    use std::path::Path;

    fn tree(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
        let p = preprocess_str(text, Path::new("t.conf"), "h");
        let mut d = p.diagnostics;
        let t = parse(p.tokens, &p.sources, &mut d);
        (t, d)
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let w = n
                    .words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                match &n.block {
                    Some(b) => format!("{w}{{{}}}", shape(&b.children)),
                    None => w,
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    #[test]
    fn braces_same_line_next_line_and_inline() {
        let (t, d) = tree("a x {\n b 1\n}\nc\n{\n d\n}\ne { f } g\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(shape(&t), "a x{b 1};c{d};e{f};g");
    }

    #[test]
    fn missing_open_brace_hidden_in_comment() {
        let (t, d) = tree("vrrp_instance VI_102 # name {\n state MASTER\n}\n");
        assert_eq!(shape(&t), "vrrp_instance VI_102{state MASTER}");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(
            d[0].location.as_ref().map(|l| (l.line, l.col)),
            Some((1, 22))
        );
    }

    #[test]
    fn missing_close_brace_points_at_opener() {
        let (_, d) = tree("global_defs {\n}\nvrrp_instance X {\n  state MASTER\n");
        assert_eq!(d.len(), 1);
        // keepalived closes it at the end and runs (`-t`: 5): a warning.
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[0].line(), Some(3));
    }

    #[test]
    fn top_level_statements_take_no_block() {
        // keepalived 2.2.7 `-t`: clean (exit 0).
        let (t, d) =
            tree("net_namespace foo\ninstance bar\nuse_pid_dir\nglobal_defs {\n router_id a\n}\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            shape(&t),
            "net_namespace foo;instance bar;use_pid_dir;global_defs{router_id a}"
        );
    }

    #[test]
    fn extra_close_brace_warns() {
        let (t, d) = tree("a\n}\nb\n");
        assert_eq!(shape(&t), "a;b");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line(), Some(2));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "x {\n".repeat(100_000);
        let (_, d) = tree(&text);
        assert!(
            d.iter()
                .any(|d| d.is_error() && d.message.contains("nested"))
        );
    }
}
