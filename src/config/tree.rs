//! The parsed configuration as compact top-level entries.
//!
//! The parser's [`Node`] (a `Vec` of `String` words and a `Vec` of children per block) costs
//! several allocations per line: for a large configuration the tree alone was ten times the
//! size of the file. So each finished top-level statement is encoded into one byte buffer —
//! words, quoting, every span (file:line:col, lines as deltas) and nested blocks — and
//! decoded back into a [`Node`] only when the builder reaches it. The builder consumes the
//! [`Tree`] one top-level block at a time, so at most one block exists as [`Node`]s at once.

use super::diag::{FileId, Span};
use super::parser::{Block, Node, Word};

/// Top-level statements, in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tree {
    entries: Vec<Entry>,
}

/// One encoded top-level statement (with its block, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    bytes: Box<[u8]>,
}

impl Tree {
    /// Number of top-level statements.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Appends a finished top-level statement.
    pub fn push(&mut self, node: &Node) {
        let mut e = Encoder::default();
        e.node(node);
        self.entries.push(Entry {
            bytes: e.out.into_boxed_slice(),
        });
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }
    /// Every statement decoded (tests, small inputs).
    pub fn into_nodes(self) -> Vec<Node> {
        self.into_iter().collect()
    }
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl From<Vec<Node>> for Tree {
    fn from(nodes: Vec<Node>) -> Tree {
        let mut t = Tree::default();
        for n in &nodes {
            t.push(n);
        }
        t
    }
}

/// Decodes each statement as it is reached, freeing its encoding.
impl IntoIterator for Tree {
    type Item = Node;
    type IntoIter = std::iter::Map<std::vec::IntoIter<Entry>, fn(Entry) -> Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().map(|e| e.node())
    }
}

impl<'a> IntoIterator for &'a Tree {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl Entry {
    /// The statement's first word (`""` for an anonymous block), without decoding the rest.
    pub fn keyword(&self) -> &str {
        self.word_text(0).unwrap_or("")
    }
    /// The second word (a block's name: `vrrp_instance NAME`), if any.
    pub fn name(&self) -> Option<&str> {
        self.word_text(1)
    }
    /// The statement as a [`Node`].
    pub fn node(&self) -> Node {
        let mut d = Decoder::new(&self.bytes);
        d.node().unwrap_or_default()
    }

    fn word_text(&self, index: usize) -> Option<&str> {
        let mut d = Decoder::new(&self.bytes);
        let n = d.varint()? as usize;
        if index >= n {
            return None;
        }
        for _ in 0..index {
            d.word_raw()?;
        }
        d.word_raw().map(|(text, _)| text)
    }
}

/// Variable-length integers (7 bits a byte), line numbers as deltas from the previous span.
#[derive(Default)]
struct Encoder {
    out: Vec<u8>,
    line: u32,
}

impl Encoder {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }
    fn span(&mut self, s: Span) {
        self.varint(u64::from(s.file.0));
        // Zigzag: lines mostly grow, but a block's close follows its children.
        let delta = i64::from(s.line) - i64::from(self.line);
        self.varint(((delta << 1) ^ (delta >> 63)) as u64);
        self.line = s.line;
        self.varint(u64::from(s.col));
    }
    fn node(&mut self, n: &Node) {
        self.varint(n.words.len() as u64);
        for w in &n.words {
            self.varint(((w.text.len() as u64) << 1) | u64::from(w.quoted));
            self.out.extend_from_slice(w.text.as_bytes());
            self.span(w.span);
        }
        match &n.block {
            None => self.out.push(0),
            Some(b) => {
                self.out.push(1);
                self.span(b.open);
                self.varint(b.children.len() as u64);
                for c in &b.children {
                    self.node(c);
                }
                self.span(b.close);
            }
        }
    }
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            pos: 0,
            line: 0,
        }
    }
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }
    fn span(&mut self) -> Option<Span> {
        let file = FileId(self.u32()?);
        let z = self.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.line = u32::try_from(i64::from(self.line) + delta).ok()?;
        let col = self.u32()?;
        Some(Span {
            file,
            line: self.line,
            col,
        })
    }
    /// A word's text and quoting, with its span read past.
    fn word_raw(&mut self) -> Option<(&'a str, bool)> {
        let (text, quoted) = self.text()?;
        self.span()?;
        Some((text, quoted))
    }
    fn text(&mut self) -> Option<(&'a str, bool)> {
        let h = self.varint()?;
        let len = usize::try_from(h >> 1).ok()?;
        let end = self.pos.checked_add(len)?;
        let text = std::str::from_utf8(self.bytes.get(self.pos..end)?).ok()?;
        self.pos = end;
        Some((text, h & 1 == 1))
    }
    fn node(&mut self) -> Option<Node> {
        let n = self.varint()? as usize;
        // Each word takes at least 4 bytes: a corrupt count cannot make a huge allocation.
        let mut words = Vec::with_capacity(n.min(self.bytes.len() / 4));
        for _ in 0..n {
            let (text, quoted) = self.text()?;
            let span = self.span()?;
            words.push(Word {
                text: text.into(),
                quoted,
                span,
            });
        }
        let block = match self.byte()? {
            0 => None,
            _ => {
                let open = self.span()?;
                let k = self.varint()? as usize;
                let mut children = Vec::with_capacity(k.min(self.bytes.len() / 2));
                for _ in 0..k {
                    children.push(self.node()?);
                }
                let close = self.span()?;
                Some(Block {
                    open,
                    children,
                    close,
                })
            }
        };
        Some(Node { words, block })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, quoted: bool, line: u32, col: u32) -> Word {
        Word {
            text: text.into(),
            quoted,
            span: Span {
                file: FileId(3),
                line,
                col,
            },
        }
    }

    #[test]
    fn round_trip_keeps_words_spans_and_blocks() {
        let inner = Node {
            words: vec![word("path", false, 9, 17), word("/a b", true, 9, 22)],
            block: None,
        };
        let node = Node {
            words: vec![
                word("real_server", false, 8, 5),
                word("10.0.0.1", false, 8, 17),
            ],
            block: Some(Block {
                open: Span {
                    file: FileId(3),
                    line: 8,
                    col: 31,
                },
                children: vec![inner.clone(), Node::default(), inner],
                close: Span {
                    file: FileId(3),
                    line: 200_000,
                    col: 5,
                },
            }),
        };
        let anonymous = Node {
            words: vec![],
            block: Some(Block::default()),
        };
        let tree = Tree::from(vec![node.clone(), anonymous.clone()]);
        assert_eq!(tree.len(), 2);
        let e: Vec<&Entry> = tree.iter().collect();
        assert_eq!(e[0].keyword(), "real_server");
        assert_eq!(e[0].name(), Some("10.0.0.1"));
        assert_eq!(e[1].keyword(), "");
        assert_eq!(e[1].name(), None);
        assert_eq!(tree.into_nodes(), vec![node, anonymous]);
    }

    #[test]
    fn a_damaged_entry_decodes_to_nothing_rather_than_panicking() {
        for bytes in [&[0xff_u8; 12][..], &[5, 200], &[]] {
            let e = Entry {
                bytes: bytes.into(),
            };
            let _ = (e.keyword(), e.name(), e.node());
        }
    }
}
