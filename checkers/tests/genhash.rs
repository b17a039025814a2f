//! `genhash` output compared byte for byte with keepalived's `/usr/bin/genhash` (Debian package
//! `keepalived`) against the same loopback servers. The verbose dump is compared too, minus the
//! response-time line.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use checkers::HttpProtocol;
use checkers::genhash::{Options, run};
use support::Behaviour;

const KEEPALIVED_GENHASH: &str = "/usr/bin/genhash";

fn opts(target: SocketAddr, url: &str) -> Options {
    Options {
        target,
        url: url.to_string(),
        ssl: false,
        sni: false,
        virtualhost: None,
        protocol: HttpProtocol::Http10,
        timeout: Duration::from_secs(1),
        fwmark: None,
        verbose: false,
    }
}

fn args(o: &Options) -> Vec<String> {
    let mut a = vec![
        "-s".to_string(),
        o.target.ip().to_string(),
        "-p".to_string(),
        o.target.port().to_string(),
        "-u".to_string(),
        o.url.clone(),
        "-t".to_string(),
        o.timeout.as_secs().to_string(),
    ];
    match o.protocol {
        HttpProtocol::Http10 => {}
        HttpProtocol::Http10Close => a.extend(["-P".to_string(), "1.0c".to_string()]),
        HttpProtocol::Http11 | HttpProtocol::Http2 => {
            a.extend(["-P".to_string(), "1.1".to_string()])
        }
    }
    if o.ssl {
        a.push("-S".to_string());
    }
    if o.sni {
        a.push("-I".to_string());
    }
    if o.verbose {
        a.push("-v".to_string());
    }
    if let Some(v) = &o.virtualhost {
        a.extend(["-V".to_string(), v.clone()]);
    }
    a
}

fn without_timing(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.starts_with("Global response time"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs both and asserts equal output (stdout, and stderr); returns ours, stderr appended.
async fn same(o: Options) -> String {
    assert!(
        std::path::Path::new(KEEPALIVED_GENHASH).exists(),
        "{KEEPALIVED_GENHASH} missing: install the Debian package keepalived"
    );
    let theirs = tokio::process::Command::new(KEEPALIVED_GENHASH)
        .args(args(&o))
        .output()
        .await
        .unwrap();
    assert!(
        theirs.status.success(),
        "keepalived genhash failed: {theirs:?}"
    );
    let (mut ours, mut ours_err) = (Vec::new(), Vec::new());
    run(&o, &mut ours, &mut ours_err).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ours_err),
        String::from_utf8_lossy(&theirs.stderr),
        "stderr for {}",
        o.url
    );
    if o.verbose {
        assert_eq!(
            without_timing(&ours),
            without_timing(&theirs.stdout),
            "verbose output for {}",
            o.url
        );
    } else {
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs.stdout),
            "output for {}",
            o.url
        );
    }
    ours.extend(ours_err);
    String::from_utf8_lossy(&ours).into_owned()
}

async fn both_modes(addr: SocketAddr, url: &str) -> String {
    let out = same(opts(addr, url)).await;
    same(Options {
        verbose: true,
        ..opts(addr, url)
    })
    .await;
    out
}

#[tokio::test]
async fn plain_chunked_short_and_error_responses() {
    let plain = support::raw(Behaviour::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n",
    ))
    .await;
    assert_eq!(
        both_modes(plain, "/index.html").await,
        "b1946ac92492d2347c6235b4d2611184\n"
    );

    let chunked = support::raw(Behaviour::Reply(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n\n\r\n0\r\n\r\n",
    ))
    .await;
    both_modes(chunked, "/").await;

    let short = support::raw(Behaviour::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhello world",
    ))
    .await;
    // md5("hel"): the body is capped at Content-Length.
    assert_eq!(
        both_modes(short, "/").await,
        "46356afe55fa3cea9cbe73ad442cad47\n"
    );

    let error = support::raw(Behaviour::Reply(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown",
    ))
    .await;
    both_modes(error, "/").await;

    let no_length = support::raw(Behaviour::Reply(b"HTTP/1.0 200 OK\r\n\r\nsome body")).await;
    both_modes(no_length, "/").await;

    let empty = support::raw(Behaviour::Reply(b"HTTP/1.0 204 No Content\r\n\r\n")).await;
    both_modes(empty, "/").await;

    // 40 000 bytes: several reads, each dumped as its own piece in verbose mode.
    let mut big = b"HTTP/1.0 200 OK\r\nContent-Length: 40000\r\n\r\n".to_vec();
    big.extend((0..40_000u32).map(|i| (i % 251) as u8));
    let big = support::raw(Behaviour::Reply(big.leak())).await;
    both_modes(big, "/big").await;
}

#[tokio::test]
async fn hyper_server_with_virtualhost_and_protocols() {
    let (addr, _log) = support::hyper_plain(|p| {
        if p == "/x" {
            (200, b"page body\n")
        } else {
            (404, b"not found")
        }
    })
    .await;
    for protocol in [
        HttpProtocol::Http10,
        HttpProtocol::Http10Close,
        HttpProtocol::Http11,
    ] {
        let mut o = opts(addr, "/x");
        o.protocol = protocol;
        o.virtualhost = Some("www.example.test".to_string());
        assert_eq!(same(o).await, format!("{}\n", md5_hex(b"page body\n")));
    }
    same(opts(addr, "/missing")).await;
}

#[tokio::test]
async fn tls() {
    let cert = support::cert();
    let (addr, _log) = support::hyper_tls(|_| (200, b"secret page\n"), &cert).await;
    let out = same(Options {
        ssl: true,
        ..opts(addr, "/")
    })
    .await;
    assert_eq!(out.len(), 33);
    let sni = Options {
        ssl: true,
        sni: true,
        virtualhost: Some("www.example.test".into()),
        ..opts(addr, "/")
    };
    assert_eq!(same(sni).await, out);
}

#[tokio::test]
async fn ipv6() {
    let addr = support::raw_at(
        "[::1]:0",
        Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
    )
    .await;
    assert_eq!(
        both_modes(addr, "/v6").await,
        "900150983cd24fb0d6963f7d28e17f72\n"
    );
}

#[tokio::test]
async fn failures_print_the_same_line() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = l.local_addr().unwrap();
    drop(l);
    assert_eq!(same(opts(refused, "/")).await, "Connection failed\n");
    same(Options {
        verbose: true,
        ..opts(refused, "/")
    })
    .await;

    let silent = support::raw(Behaviour::Silent).await;
    assert_eq!(same(opts(silent, "/")).await, "Timeout WEB read\n");

    let mid = support::raw(Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Le")).await;
    assert_eq!(
        both_modes(mid, "/").await,
        "no data received from remote webserver\n"
    );

    let garbage = support::raw(Behaviour::Reply(b"\x00\x01\x02garbage\r\n\r\nzzz")).await;
    both_modes(garbage, "/").await;

    // TLS against a server that answers the ClientHello with plain text. (A server that closes
    // before the handshake makes keepalived's own message racy: not compared.)
    let junk = support::raw(Behaviour::GarbageOnFirstRead).await;
    let out = same(Options {
        ssl: true,
        ..opts(junk, "/")
    })
    .await;
    assert_eq!(out, "SSL handshake/communication error connecting to\n");
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
