//! keepalived's HTTP body digest, as a pure streaming reader of raw response bytes.
//!
//! The digest is the MD5 of the bytes that follow the header block *as received*: the body is
//! capped at `Content-Length` when the header is present, and is otherwise read to the end of
//! the connection; `Transfer-Encoding: chunked` is **not** decoded, so the chunk framing is part
//! of what is hashed. This is what `genhash` prints and what configs carry, so it must not change.
//!
//! Memory is bounded: the header block is held (up to [`MAX_HEAD`]) and the body only streams
//! through the hasher.

use md5::{Digest, Md5};

/// Largest header block accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// The parsed status line and the headers the checker cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Length`, when present and a number.
    pub content_length: Option<u64>,
}

/// A part of the response, as handed to the caller's sink (genhash prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// The whole header block, terminating blank line included.
    Head(&'a [u8]),
    /// Body bytes counted in the digest.
    Body(&'a [u8]),
}

/// Why the header block could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP response.
    Invalid(String),
    /// Larger than [`MAX_HEAD`].
    TooLarge,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Invalid(e) => write!(f, "not an HTTP response ({e})"),
            HeadError::TooLarge => write!(f, "header block larger than {} KiB", MAX_HEAD / 1024),
        }
    }
}

/// Feeds on raw response bytes; see the module doc.
#[derive(Debug, Clone, Default)]
pub struct ResponseReader {
    head_buf: Vec<u8>,
    head: Option<Head>,
    /// Body bytes still counted (None: until EOF).
    remaining: Option<u64>,
    body_len: u64,
    md5: Md5,
    /// genhash mode: a header block that is not HTTP still ends at the blank line.
    lenient: bool,
}

impl ResponseReader {
    /// A reader waiting for the header block.
    pub fn new() -> Self {
        Self::default()
    }

    /// The parsed head, once the header block is complete.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Body bytes hashed so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether the body is complete (Content-Length reached); without Content-Length only the
    /// end of the connection completes it.
    pub fn is_done(&self) -> bool {
        self.head.is_some() && self.remaining == Some(0)
    }

    /// A reader as genhash uses it: whatever precedes the first blank line is the header block,
    /// HTTP or not (status 0 when it is not).
    pub fn lenient() -> Self {
        ResponseReader {
            lenient: true,
            ..Self::default()
        }
    }

    /// Takes the next bytes read from the connection.
    pub fn feed(&mut self, data: &[u8], sink: &mut dyn FnMut(Part<'_>)) -> Result<(), HeadError> {
        if self.head.is_some() {
            self.body(data, sink);
            return Ok(());
        }
        // keepalived ends the header block at the first CRLF CRLF only (a bare LF LF is not one).
        let from = self.head_buf.len().saturating_sub(3);
        self.head_buf.extend_from_slice(data);
        let Some(end) = self.head_buf[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        else {
            if self.head_buf.len() > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            return Ok(());
        };
        let len = from + end + 4;
        if len > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let head = match parse_head(&self.head_buf[..len]) {
            Ok(h) => h,
            Err(_) if self.lenient => Head {
                status: 0,
                content_length: None,
            },
            Err(e) => return Err(e),
        };
        self.head = Some(head.clone());
        let content_length = head.content_length;
        self.remaining = content_length;
        let buf = std::mem::take(&mut self.head_buf);
        sink(Part::Head(&buf[..len]));
        self.body(&buf[len..], sink);
        Ok(())
    }

    fn body(&mut self, data: &[u8], sink: &mut dyn FnMut(Part<'_>)) {
        let take = match self.remaining {
            Some(r) => usize::try_from(r).map_or(data.len(), |r| r.min(data.len())),
            None => data.len(),
        };
        if take == 0 {
            return;
        }
        let part = &data[..take];
        self.md5.update(part);
        self.body_len += take as u64;
        if let Some(r) = &mut self.remaining {
            *r -= take as u64;
        }
        sink(Part::Body(part));
    }

    /// The raw MD5 of the body.
    pub fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    /// The digest of the body as 32 lowercase hex digits (as genhash prints it).
    pub fn hex_digest(&self) -> String {
        hex(&self.md5.clone().finalize())
    }
}

fn parse_head(block: &[u8]) -> Result<Head, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(block) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HeadError::Invalid("incomplete header block".into()));
        }
        Err(e) => return Err(HeadError::Invalid(e.to_string())),
    }
    let status = resp
        .code
        .ok_or_else(|| HeadError::Invalid("no status".into()))?;
    let content_length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    Ok(Head {
        status,
        content_length,
    })
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(chunks: &[&[u8]]) -> (Option<Head>, String, bool) {
        let mut r = ResponseReader::new();
        for c in chunks {
            r.feed(c, &mut |_| {}).unwrap();
        }
        (r.head().cloned(), r.hex_digest(), r.is_done())
    }

    #[test]
    fn plain_body_with_content_length() {
        let (head, d, done) = digest_of(&[b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"]);
        assert_eq!(
            head,
            Some(Head {
                status: 200,
                content_length: Some(6)
            })
        );
        // md5("hello\n"), as `md5sum` prints it.
        assert_eq!(d, "b1946ac92492d2347c6235b4d2611184");
        assert!(done);
    }

    #[test]
    fn content_length_caps_and_split_reads_do_not_matter() {
        let whole = digest_of(&[b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcdef"]);
        let split = digest_of(&[
            b"HTTP/1.1 200 OK\r\ncont",
            b"ent-length: 3\r\n\r",
            b"\na",
            b"bcdef",
        ]);
        assert_eq!(whole.1, "900150983cd24fb0d6963f7d28e17f72"); // md5("abc")
        assert_eq!(whole, split);
    }

    #[test]
    fn chunk_framing_is_hashed() {
        let (_, d, done) = digest_of(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ]);
        let mut want = Md5::new();
        want.update(b"3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(d, hex(&want.finalize()));
        assert!(!done, "without Content-Length only EOF ends the body");
    }

    #[test]
    fn lf_only_is_not_a_header_end_and_lenient_accepts_garbage() {
        let mut r = ResponseReader::new();
        r.feed(b"HTTP/1.0 200 OK\nContent-Length: 3\n\nabc", &mut |_| {})
            .unwrap();
        assert!(r.head().is_none());
        let mut r = ResponseReader::lenient();
        r.feed(b"\x00\x01garbage\r\n\r\nzzz", &mut |_| {}).unwrap();
        assert_eq!(r.head().map(|h| h.status), Some(0));
        assert_eq!(r.hex_digest(), "f3abb86bd34cf4d52698f14c0da1dc60"); // md5("zzz"), as genhash
    }

    #[test]
    fn garbage_and_oversized_heads_are_errors() {
        let mut r = ResponseReader::new();
        assert!(matches!(
            r.feed(b"\x00\x01garbage\r\n\r\n", &mut |_| {}),
            Err(HeadError::Invalid(_))
        ));
        let mut r = ResponseReader::new();
        r.feed(b"HTTP/1.1 200 OK\r\n", &mut |_| {}).unwrap();
        let line = [b"X-Pad: ".as_slice(), &[b'a'; 1000], b"\r\n"].concat();
        let mut res = Ok(());
        for _ in 0..70 {
            res = r.feed(&line, &mut |_| {});
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res, Err(HeadError::TooLarge));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512), cut in 0usize..512) {
            let mut r = ResponseReader::new();
            let cut = cut.min(data.len());
            let _ = r.feed(&data[..cut], &mut |_| {}).and_then(|()| r.feed(&data[cut..], &mut |_| {}));
        }
    }
}
