//! An endless HTTP body against a digest check: the check times out and memory stays flat.
//! Alone in its test binary so that no other test's allocations blur the RSS reading.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use checkers::{CheckKind, HttpSpec, Outcome, Spec, Timing, UrlSpec, check};
use support::Behaviour;

#[tokio::test]
async fn endless_body_times_out_with_bounded_memory() {
    let sent = Arc::new(AtomicU64::new(0));
    let addr = support::raw(Behaviour::Endless(sent.clone())).await;
    let mut url = UrlSpec::new("/big");
    url.digest = Some(md5_hex(b""));
    let http = HttpSpec {
        urls: vec![url],
        ..Default::default()
    };
    let timing = Timing {
        connect_timeout: Duration::from_secs(2),
        ..Timing::default()
    };
    let spec = Spec {
        timing,
        ..Spec::new(addr, CheckKind::Http(http))
    };
    let before = support::rss();
    let t = Instant::now();
    let out = check(&spec).await;
    assert!(
        t.elapsed() < Duration::from_millis(2700),
        "took {:?}",
        t.elapsed()
    );
    let Outcome::Fail(r) = out else {
        panic!("an endless body passed")
    };
    let grown = support::rss().saturating_sub(before);
    assert_eq!(
        r.to_string(),
        "timeout after 2 s waiting for the body of /big"
    );
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("streamed {sent} bytes, RSS grew {grown} bytes");
    assert!(sent > 8 << 20, "server sent only {sent} bytes");
    assert!(
        grown < 4 << 20 && grown * 2 < sent,
        "RSS grew {grown} bytes while {sent} were streamed"
    );
}

fn md5_hex(data: &[u8]) -> String {
    let mut r = checkers::digest::ResponseReader::new();
    r.feed(
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len()).as_bytes(),
        &mut |_| {},
    )
    .unwrap();
    r.feed(data, &mut |_| {}).unwrap();
    r.hex_digest()
}
