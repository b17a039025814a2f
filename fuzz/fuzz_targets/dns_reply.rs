//! DNS_CHECK's reply parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 2 {
        let id = u16::from_be_bytes([data[0], data[1]]);
        let _ = checkers::dns::judge(id, data);
        let _ = checkers::dns::judge(id ^ 1, data);
    }
});
