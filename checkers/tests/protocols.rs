//! SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK and TCP_CHECK against loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use checkers::{
    CheckKind, DnsSpec, DnsType, FileSpec, Outcome, PingSpec, SmtpSpec, Spec, TcpSpec, Timing,
    UdpSpec, check,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

const TIMEOUT: Duration = Duration::from_millis(800);

fn spec(target: SocketAddr, kind: CheckKind) -> Spec {
    Spec {
        timing: Timing {
            connect_timeout: TIMEOUT,
            ..Timing::default()
        },
        ..Spec::new(target, kind)
    }
}

async fn timed(s: &Spec) -> Outcome {
    let t = Instant::now();
    let o = check(s).await;
    assert!(
        t.elapsed() < TIMEOUT + Duration::from_millis(300),
        "took {:?}: {o}",
        t.elapsed()
    );
    o
}

fn free_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// An SMTP server answering greeting and HELO with the given replies; logs the HELO line.
async fn smtp_server(
    greeting: &'static str,
    helo_reply: &'static str,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = s.into_split();
                let mut rd = BufReader::new(rd);
                if greeting.is_empty() {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let _ = wr.write_all(greeting.as_bytes()).await;
                let mut line = String::new();
                if rd.read_line(&mut line).await.is_ok() {
                    let _ = tx.send(line.trim_end().to_string());
                    let _ = wr.write_all(helo_reply.as_bytes()).await;
                }
                line.clear();
                let _ = rd.read_line(&mut line).await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn smtp() {
    let (addr, mut helo) = smtp_server(
        "220-mx.example.test ESMTP\r\n220 ready\r\n",
        "250 mx.example.test hello\r\n",
    )
    .await;
    let mut s = spec(
        addr,
        CheckKind::Smtp(SmtpSpec {
            helo_name: "lvsd.example.test".into(),
        }),
    );
    assert_eq!(timed(&s).await, Outcome::PASS);
    assert_eq!(helo.recv().await.unwrap(), "HELO lvsd.example.test");

    let (addr, _) = smtp_server("554 no service\r\n", "").await;
    s.target = addr;
    assert_eq!(
        timed(&s).await.to_string(),
        r#"SMTP greeting answered "554 no service""#
    );

    let (addr, _) = smtp_server("220 ready\r\n", "421 busy\r\n").await;
    s.target = addr;
    assert_eq!(
        timed(&s).await.to_string(),
        r#"SMTP HELO answered "421 busy""#
    );

    let (addr, _) = smtp_server("", "").await;
    s.target = addr;
    assert_eq!(
        timed(&s).await.to_string(),
        "timeout after 800 ms waiting for the SMTP exchange"
    );
}

/// A DNS server answering every query with this RCODE, echoing id and question.
async fn dns_server(rcode: u8) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // QR
            r[3] = 0x80 | rcode; // RA + rcode
            let _ = sock.send_to(&r, from).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns() {
    let ok = dns_server(0).await;
    let mut s = spec(
        ok,
        CheckKind::Dns(DnsSpec {
            qtype: DnsType::A,
            name: "www.example.test".into(),
        }),
    );
    assert_eq!(timed(&s).await, Outcome::PASS);
    s.target = dns_server(2).await;
    assert_eq!(
        timed(&s).await.to_string(),
        "DNS server answered SERVFAIL (rcode 2)"
    );
    s.target = free_udp_port();
    let out = timed(&s).await.to_string();
    assert!(out.contains("Connection refused"), "{out}");
}

#[tokio::test]
async fn udp() {
    // Nothing listens: the kernel's port unreachable fails the probe.
    let closed = free_udp_port();
    let mut s = spec(closed, CheckKind::Udp(UdpSpec::default()));
    let out = timed(&s).await.to_string();
    assert!(
        out.starts_with(&format!("UDP {closed} unreachable")),
        "{out}"
    );

    // A silent listener passes when no reply is required ...
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.target = silent.local_addr().unwrap();
    assert_eq!(timed(&s).await, Outcome::PASS);
    // ... and times out when one is.
    s.kind = CheckKind::Udp(UdpSpec {
        require_reply: Some(vec![]),
        ..UdpSpec::default()
    });
    assert!(!timed(&s).await.is_pass());

    // An echo server: the reply must match the pattern (x = any nibble).
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    s.target = echo_addr;
    let payload = vec![0xAB, 0x1F, 0x00];
    s.kind = CheckKind::Udp(UdpSpec {
        payload: payload.clone(),
        require_reply: Some(vec![(0xAB, 0xFF), (0x10, 0xF0)]),
        ..UdpSpec::default()
    });
    assert_eq!(timed(&s).await, Outcome::PASS);
    s.kind = CheckKind::Udp(UdpSpec {
        payload: payload.clone(),
        require_reply: Some(vec![(0xAC, 0xFF)]),
        ..UdpSpec::default()
    });
    assert_eq!(
        timed(&s).await.to_string(),
        "UDP reply does not match require_reply"
    );
    s.kind = CheckKind::Udp(UdpSpec {
        payload,
        require_reply: Some(vec![]),
        min_reply_length: 4,
        max_reply_length: 255,
    });
    assert_eq!(
        timed(&s).await.to_string(),
        "UDP reply of 3 bytes (expected 4-255)"
    );
}

#[tokio::test]
async fn ping_loopback_v4_and_v6() {
    for target in ["127.0.0.1:0", "[::1]:0"] {
        let s = spec(target.parse().unwrap(), CheckKind::Ping(PingSpec {}));
        assert_eq!(timed(&s).await, Outcome::PASS, "{target}");
    }
}

#[tokio::test]
async fn file_and_tcp() {
    let path = std::env::temp_dir().join(format!("checkers-file-{}", std::process::id()));
    std::fs::write(&path, "5\n").unwrap();
    let f = FileSpec {
        path: path.clone(),
        weight: 3,
        reverse: false,
        dynamic: true,
    };
    let s = spec("127.0.0.1:0".parse().unwrap(), CheckKind::File(f.clone()));
    assert_eq!(timed(&s).await, Outcome::Pass { weight: Some(15) });
    std::fs::remove_file(&path).unwrap();
    assert!(timed(&s).await.to_string().starts_with("cannot read "));

    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = spec(l.local_addr().unwrap(), CheckKind::Tcp(TcpSpec {}));
    assert_eq!(timed(&s).await, Outcome::PASS);
    drop(l);
    assert_eq!(timed(&s).await.to_string(), "connection refused");
}

#[tokio::test]
async fn bindto_and_bind_port_are_the_source() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A port just released by a UDP socket: free for TCP in practice on a test host.
    let port = free_udp_port().port();
    let mut s = spec(l.local_addr().unwrap(), CheckKind::Tcp(TcpSpec {}));
    s.bind = checkers::Bind {
        addr: Some("127.0.0.2".parse().unwrap()),
        port: Some(port),
        ..Default::default()
    };
    let accept = tokio::spawn(async move { l.accept().await.map(|(_, peer)| peer) });
    assert_eq!(timed(&s).await, Outcome::PASS);
    let peer = accept.await.unwrap().unwrap();
    assert_eq!(peer, SocketAddr::new("127.0.0.2".parse().unwrap(), port));
}
