//! `GRPC_CHECK` (lvsd extension): the standard gRPC health protocol, `grpc.health.v1.Health/Check`
//! over HTTP/2 (h2c, or TLS with ALPN `h2`). Up when the server answers `SERVING` for the
//! configured service ("" = the server as a whole).
//!
//! The two messages are encoded by hand: `HealthCheckRequest { string service = 1; }` and
//! `HealthCheckResponse { ServingStatus status = 1; }` are one field each, so a protobuf code
//! generator (a build-time `protoc`, generated code, a gRPC framework) would be far more than
//! the ~40 lines it replaces. Unknown fields in the response are skipped as protobuf requires.

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;

use crate::outcome::{FailReason, Observed, Outcome};
use crate::spec::{GrpcSpec, Spec};

/// The path of the health method.
pub const PATH: &str = "/grpc.health.v1.Health/Check";
/// A health answer is a few bytes; anything longer is not read.
const MAX_BODY: usize = 4096;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The request body: one gRPC message (flag 0, big-endian length) holding the service name.
pub fn encode_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1, length-delimited
        varint(service.len() as u64, &mut msg);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

/// `status` of the first message of a response body (0 when absent, as proto3 defaults it).
pub fn decode_status(body: &[u8]) -> Result<u64, String> {
    let (&flag, rest) = body.split_first().ok_or("empty response body")?;
    if flag != 0 {
        return Err("compressed response (lvsd does not ask for compression)".into());
    }
    let len = rest
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .ok_or("truncated message header")?;
    let msg = rest.get(4..4 + len).ok_or("truncated message")?;
    let mut i = 0;
    let mut status = 0;
    while i < msg.len() {
        let key = read_varint(msg, &mut i).ok_or("bad field key")?;
        match (key >> 3, key & 7) {
            (1, 0) => status = read_varint(msg, &mut i).ok_or("bad status")?,
            (_, 0) => {
                read_varint(msg, &mut i).ok_or("bad varint field")?;
            }
            (_, 1) => i += 8,
            (_, 5) => i += 4,
            (_, 2) => {
                let n = read_varint(msg, &mut i).ok_or("bad length")? as usize;
                i = i.checked_add(n).ok_or("bad length")?;
            }
            (_, w) => return Err(format!("unsupported wire type {w}")),
        }
    }
    if i > msg.len() {
        return Err("truncated field".into());
    }
    Ok(status)
}

fn status_name(s: u64) -> String {
    match s {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => format!("status {n}"),
    }
}

/// One health call.
pub async fn check(spec: &Spec, g: &GrpcSpec, observed: &mut Observed) -> Outcome {
    let during = if g.service.is_empty() {
        "the gRPC health check".to_string()
    } else {
        format!("the gRPC health check of `{}`", g.service)
    };
    let deadline = tokio::time::Instant::now() + spec.timing.connect_timeout;
    let run = call(spec, g, &during, observed);
    match tokio::time::timeout_at(deadline, run).await {
        Ok(Ok(())) => Outcome::PASS,
        Ok(Err(e)) => Outcome::Fail(e),
        Err(_) => Outcome::Fail(FailReason::Timeout {
            during,
            after: spec.timing.connect_timeout,
        }),
    }
}

async fn call(
    spec: &Spec,
    g: &GrpcSpec,
    during: &str,
    observed: &mut Observed,
) -> Result<(), FailReason> {
    let authority = g
        .authority
        .clone()
        .unwrap_or_else(|| spec.target.to_string());
    let scheme = if g.tls { "https" } else { "http" };
    let req = Request::post(format!("{scheme}://{authority}{PATH}"))
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
        .header(header::USER_AGENT, "lvsd-health-check")
        .body(Full::new(Bytes::from(encode_request(&g.service))))
        .map_err(|e| FailReason::Setup(format!("gRPC request: {e}")))?;
    let tcp = crate::tcp::connect(spec.target, &spec.bind, spec.timing.connect_timeout).await?;
    let proto = |detail: String| FailReason::Protocol {
        during: during.to_string(),
        detail,
    };
    let resp = if g.tls {
        let host = g
            .authority
            .as_deref()
            .map(|a| a.split(':').next().unwrap_or(a));
        let tls = crate::tls::handshake_alpn(
            tcp,
            spec.target.ip(),
            host,
            true,
            &g.verify,
            None,
            &[b"h2"],
        )
        .await?;
        observed.cert_not_after = crate::tls::leaf_not_after(&tls, &g.verify);
        crate::h2::send(tls, req, MAX_BODY).await
    } else {
        crate::h2::send(tcp, req, MAX_BODY).await
    }
    .map_err(proto)?;
    if resp.status != 200 {
        return Err(proto(format!("HTTP status {}", resp.status)));
    }
    // A trailers-only answer carries grpc-status in the headers.
    let meta = resp.trailers.as_ref().unwrap_or(&resp.headers);
    let grpc_status = meta.get("grpc-status").and_then(|v| v.to_str().ok());
    match grpc_status {
        Some("0") => {}
        Some(code) => {
            let msg = meta
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            return Err(proto(
                format!("grpc-status {code} {msg}").trim_end().to_string(),
            ));
        }
        None => return Err(proto("no grpc-status".into())),
    }
    match decode_status(&resp.body).map_err(proto)? {
        1 => Ok(()),
        s => Err(proto(format!("answered {}", status_name(s)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_encoding() {
        assert_eq!(encode_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("db"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        let long = "x".repeat(200);
        let r = encode_request(&long);
        assert_eq!(&r[5..8], &[0x0a, 0xc8, 0x01]);
        assert_eq!(decode_status(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(decode_status(&[0, 0, 0, 0, 0]), Ok(0));
        // An unknown string field before the status is skipped.
        assert_eq!(
            decode_status(&[0, 0, 0, 0, 6, 0x12, 2, b'h', b'i', 0x08, 2]),
            Ok(2)
        );
        assert!(decode_status(&[1, 0, 0, 0, 0]).is_err());
        assert!(decode_status(&[0, 0, 0, 0, 9, 0x08]).is_err());
        assert!(decode_status(&[0, 0, 0, 0, 2, 0x12, 9]).is_err());
        assert!(decode_status(&[]).is_err());
    }
}
