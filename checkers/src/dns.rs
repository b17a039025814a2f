//! `DNS_CHECK`: one query over UDP; the server must answer it (same id, a response) with
//! RCODE NOERROR within `connect_timeout`.

use crate::outcome::{FailReason, Outcome};
use crate::spec::{DnsSpec, Spec};

/// Builds a recursive query for `name` / `qtype` (RFC 1035 §4.1).
pub fn query(id: u16, spec: &DnsSpec) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + spec.name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1
    for label in spec
        .name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return Err(format!("label {label:?} longer than 63 bytes"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&spec.qtype.code().to_be_bytes());
    q.extend_from_slice(&[0, 1]); // IN
    Ok(q)
}

/// Judges a reply to query `id`.
pub fn judge(id: u16, reply: &[u8]) -> Result<(), String> {
    if reply.len() < 12 {
        return Err(format!("reply of {} bytes is too short", reply.len()));
    }
    if reply[..2] != id.to_be_bytes() {
        return Err("reply id does not match the query".to_string());
    }
    if reply[2] & 0x80 == 0 {
        return Err("reply is not a response".to_string());
    }
    match reply[3] & 0x0f {
        0 => Ok(()),
        rcode => {
            let name = match rcode {
                1 => "FORMERR",
                2 => "SERVFAIL",
                3 => "NXDOMAIN",
                4 => "NOTIMP",
                5 => "REFUSED",
                _ => "error",
            };
            Err(format!("server answered {name} (rcode {rcode})"))
        }
    }
}

/// Sends the query and waits for its answer.
pub async fn check(spec: &Spec, dns: &DnsSpec) -> Outcome {
    let id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        & 0xffff) as u16;
    let q = match query(id, dns) {
        Ok(q) => q,
        Err(e) => return Outcome::Fail(FailReason::Setup(e)),
    };
    let sock = match crate::udp::socket(spec.target, &spec.bind) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(FailReason::Dns(format!("socket setup: {e}"))),
    };
    if let Err(e) = sock.send(&q).await {
        return Outcome::Fail(FailReason::Dns(format!(
            "send to {} failed: {e}",
            spec.target
        )));
    }
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + spec.timing.connect_timeout;
    loop {
        match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => {
                return Outcome::Fail(FailReason::Timeout {
                    during: format!("the DNS answer from {}", spec.target),
                    after: spec.timing.connect_timeout,
                });
            }
            Ok(Err(e)) => {
                return Outcome::Fail(FailReason::Dns(format!(
                    "query to {} failed: {e}",
                    spec.target
                )));
            }
            // A stray datagram with another id: keep waiting for ours.
            Ok(Ok(n)) if n >= 2 && buf[..2] != id.to_be_bytes() => continue,
            Ok(Ok(n)) => return judge(id, &buf[..n]).map_err(FailReason::Dns).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DnsType;

    #[test]
    fn query_layout() {
        let q = query(
            0x1234,
            &DnsSpec {
                qtype: DnsType::A,
                name: "example.com.".into(),
            },
        )
        .unwrap();
        assert_eq!(
            q,
            [
                &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0][..],
                b"\x07example\x03com\x00",
                &[0, 1, 0, 1],
            ]
            .concat()
        );
        // The root: a single empty label.
        let root = query(1, &DnsSpec::default()).unwrap();
        assert_eq!(&root[12..], &[0, 0, 6, 0, 1]);
    }

    #[test]
    fn verdicts() {
        let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(judge(0x1234, &r), Ok(()));
        r[3] = 0x83;
        assert_eq!(
            judge(0x1234, &r).unwrap_err(),
            "server answered NXDOMAIN (rcode 3)"
        );
        assert!(judge(0x1235, &r).is_err());
        assert!(judge(0x1234, &r[..5]).is_err());
    }
}
