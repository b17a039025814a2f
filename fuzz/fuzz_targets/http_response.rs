//! The HTTP_GET/SSL_GET checkers' response reader (header block, Content-Length, body MD5),
//! strict and genhash-lenient, fed in the pieces the first byte chooses.
#![no_main]

use checkers::digest::ResponseReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    for mut reader in [ResponseReader::new(), ResponseReader::lenient()] {
        let mut seen = 0usize;
        for piece in data.chunks(chunk) {
            let r = reader.feed(piece, &mut |p| {
                seen += match p {
                    checkers::digest::Part::Head(h) | checkers::digest::Part::Body(h) => h.len(),
                }
            });
            if r.is_err() {
                break;
            }
        }
        assert!(
            seen <= data.len(),
            "reader emitted more bytes than it was fed"
        );
        assert!(reader.body_len() <= data.len() as u64);
        let _ = reader.hex_digest();
        let _ = reader.head();
    }
});
