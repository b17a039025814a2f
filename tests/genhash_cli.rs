//! `lvsd genhash` (the binary, as operators run it) against keepalived's `/usr/bin/genhash`:
//! same stdout, stderr and exit status for the same loopback server; usage errors exit 1 in both.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

const KEEPALIVED_GENHASH: &str = "/usr/bin/genhash";

/// Serves `reply` to every connection after reading the request head.
fn server(reply: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(reply);
        }
    });
    port
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

fn lvsd(args: &[&str]) -> Output {
    let mut all = vec!["genhash"];
    all.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_lvsd"), &all)
}

#[test]
fn same_output_as_keepalived() {
    assert!(
        std::path::Path::new(KEEPALIVED_GENHASH).exists(),
        "{KEEPALIVED_GENHASH} missing: install the Debian package keepalived"
    );
    let chunked =
        server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nlvsd\r\n0\r\n\r\n")
            .to_string();
    let mid = server(b"HTTP/1.1 200 OK\r\nContent-Le").to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-s", "127.0.0.1", "-p", &chunked, "-u", "/"],
        vec![
            "--server",
            "127.0.0.1",
            "--port",
            &chunked,
            "--url",
            "/x",
            "-P",
            "1.1",
            "-V",
            "www.example.test",
        ],
        vec!["-s", "127.0.0.1", "-p", &mid, "-u", "/", "-t", "2"],
    ];
    for args in cases {
        let (ours, theirs) = (lvsd(&args), run(KEEPALIVED_GENHASH, &args));
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
    }
}

#[test]
fn usage_errors_exit_1() {
    for args in [
        &["-s", "not-an-ip", "-p", "80", "-u", "/"][..],
        &["-s", "127.0.0.1", "-u", "/"],
    ] {
        let ours = lvsd(args);
        assert_eq!(ours.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&ours.stderr).contains("Usage"),
            "{args:?}"
        );
        if std::path::Path::new(KEEPALIVED_GENHASH).exists() {
            assert_eq!(
                run(KEEPALIVED_GENHASH, args).status.code(),
                Some(1),
                "{args:?}"
            );
        }
    }
}
