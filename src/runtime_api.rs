//! Runtime-control endpoints (lvsd extensions), routed by [`crate::api::ROUTES`]:
//!
//! - `GET /` — the status page ([`crate::status_page`]).
//! - `GET /events` — server-sent events: a `snapshot` (the whole `/status`) on subscribe, then
//!   every event with `id:` = its sequence number. A client reconnecting with `Last-Event-ID`
//!   gets what it missed replayed (when still in the bounded ring), else a fresh snapshot.
//!   `GET /events.json` — the recent events as JSON (the page's list).
//! - **State-changing** (`POST /operator/drain`, `/operator/disable`, `/operator/enable`, with
//!   `?vs=KEY[&rs=ADDR][&timeout=30s]`): change the operator state in the hub's
//!   [`OperatorStore`](crate::director::operator::OperatorStore), which the director reads.
//!   They are `Access::Control` routes: the control socket, or TCP with the operator's token.
//!
//! Every response is bounded: query strings are limited to [`MAX_QUERY`] bytes, bodies are
//! never read, at most `events::MAX_SUBSCRIBERS` streams are open at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::broadcast;

use crate::director::operator::{self, Command};
use crate::events::Event;
use crate::status::StatusHub;

/// The body type of every response of the endpoint.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub const MAX_QUERY: usize = 1024;
/// A comment line on an idle stream, so dead clients are noticed.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// `GET /events.json`.
pub fn events_json(hub: &StatusHub) -> Response<Body> {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&hub.events.recent()).unwrap_or_default(),
    )
}

pub fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(code, "text/plain; charset=utf-8", body.into())
}

fn json_response(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    respond(code, "application/json", body.into())
}

pub fn respond(code: StatusCode, content_type: &str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).boxed_unsync());
    *resp.status_mut() = code;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn last_event_id<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `%XX` and `+` decoding of one query component.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `key=value` pairs of a query string.
pub fn query_pairs(q: &str) -> Option<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `30`, `30s`, `500ms`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "" | "s" => n.checked_mul(1000)?,
        "ms" => n,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// `POST /operator/{drain,disable,enable}?vs=…[&rs=…][&timeout=…]` (a control route), validated
/// against the running configuration.
pub fn operator_request(hub: &StatusHub, path: &str, query: Option<&str>) -> Response<Body> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY {
        return text(StatusCode::BAD_REQUEST, "query too long\n");
    }
    let Some(pairs) = query_pairs(query) else {
        return text(StatusCode::BAD_REQUEST, "malformed query string\n");
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let cmd = match path {
        "/operator/drain" => {
            let timeout = match get("timeout") {
                None => operator::DEFAULT_DRAIN_TIMEOUT,
                Some(t) => match parse_duration(t) {
                    Some(d) => d,
                    None => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            format!("timeout `{t}`: expected 30, 30s, 500ms, 5m or 1h\n"),
                        );
                    }
                },
            };
            Command::Drain { timeout }
        }
        "/operator/disable" => Command::Disable,
        "/operator/enable" => Command::Enable,
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "not found: try /operator/drain, /operator/disable or /operator/enable\n",
            );
        }
    };
    let Some(vs_name) = get("vs") else {
        return text(StatusCode::BAD_REQUEST, "missing vs=VIRTUAL_SERVER\n");
    };
    let (vs, rs) = match resolve(hub, vs_name, get("rs")) {
        Ok(x) => x,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{e}\n")),
    };
    let msg = hub
        .operator
        .modify(|st| operator::apply(st, &vs, rs, &cmd, now_ms()));
    let subject = rs.map_or_else(|| vs.clone(), |a| format!("{vs} {a}"));
    tracing::info!("operator: {subject} {msg}");
    hub.events.publish("operator", subject.clone(), msg.clone());
    text(StatusCode::OK, format!("{subject} {msg}\n"))
}

/// The configured virtual server and (optionally) real server a request names. A real server
/// may be given as `IP:PORT`, `[IPv6]:PORT` or a bare IP when only one port matches.
fn resolve(
    hub: &StatusHub,
    vs_name: &str,
    rs_name: Option<&str>,
) -> Result<(String, Option<SocketAddr>), String> {
    let vss = hub.virtual_servers.borrow();
    let vs = operator::resolve_vs(vss.iter().map(|v| v.key.as_str()), vs_name)?;
    let Some(rs_name) = rs_name.filter(|r| !r.is_empty()) else {
        return Ok((vs, None));
    };
    let Some(v) = vss.iter().find(|v| v.key == vs) else {
        return Err(format!("no virtual server `{vs}`"));
    };
    let addrs: Vec<SocketAddr> = v
        .real_servers
        .iter()
        .map(|r| SocketAddr::new(r.address, r.port))
        .collect();
    let hits: Vec<SocketAddr> = match rs_name.parse::<SocketAddr>() {
        Ok(a) => addrs.iter().copied().filter(|x| *x == a).collect(),
        Err(_) => match rs_name.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            Ok(ip) => addrs.iter().copied().filter(|x| x.ip() == ip).collect(),
            Err(_) => return Err(format!("real server `{rs_name}`: expected IP or IP:PORT")),
        },
    };
    match hits.as_slice() {
        [one] => Ok((vs, Some(*one))),
        [] => Err(format!(
            "{vs} has no real server {rs_name} (it has: {})",
            addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!("{rs_name}: several ports in {vs}; give IP:PORT")),
    }
}

fn sse_event(e: &Event) -> Bytes {
    let data = serde_json::to_string(e).unwrap_or_default();
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        e.seq, e.kind
    ))
}

fn sse_snapshot(hub: &StatusHub, seq: u64) -> Bytes {
    let data = json!({ "seq": seq, "status": hub.snapshot() });
    Bytes::from(format!("event: snapshot\ndata: {data}\n\n"))
}

/// `GET /events`: the stream (replayed after the request's `Last-Event-ID`, if any).
pub fn events<B>(hub: &StatusHub, req: &Request<B>) -> Response<Body> {
    let after = last_event_id(req);
    let Some(sub) = hub.events.subscribe(after) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams open; try again later\n",
        );
    };
    let mut first: Vec<Bytes> = Vec::new();
    if after.is_none() || sub.gap {
        first.push(sse_snapshot(hub, sub.last_seq));
    }
    first.extend(sub.replay.iter().map(sse_event));
    // Tell EventSource how soon to reconnect after the connection ends.
    first.insert(0, Bytes::from_static(b"retry: 1000\n\n"));
    struct St {
        hub: StatusHub,
        pending: std::collections::VecDeque<Bytes>,
        live: broadcast::Receiver<Event>,
        _permit: tokio::sync::OwnedSemaphorePermit,
    }
    let st = St {
        hub: hub.clone(),
        pending: first.into(),
        live: sub.live,
        _permit: sub.permit,
    };
    let s = stream::unfold(st, |mut st| async move {
        if let Some(b) = st.pending.pop_front() {
            return Some((Ok::<_, Infallible>(Frame::data(b)), st));
        }
        let chunk = match tokio::time::timeout(KEEPALIVE, st.live.recv()).await {
            Err(_) => Bytes::from_static(b": keepalive\n\n"),
            Ok(Ok(e)) => sse_event(&e),
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                // Too slow: say how much was missed and start over from a snapshot.
                let seq = st.hub.events.recent().last().map_or(0, |e| e.seq);
                st.pending.push_back(sse_snapshot(&st.hub, seq));
                Bytes::from(format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"))
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
        };
        Some((Ok(Frame::data(chunk)), st))
    });
    let mut resp = Response::new(StreamBody::new(s).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_duration_parsing() {
        assert_eq!(
            query_pairs("vs=TCP+10.0.0.1%3A80&rs=%5B2001%3Adb8%3A%3A2%5D:80").unwrap(),
            vec![
                ("vs".to_string(), "TCP 10.0.0.1:80".to_string()),
                ("rs".to_string(), "[2001:db8::2]:80".to_string())
            ]
        );
        assert!(query_pairs("vs=%zz").is_none());
        assert!(query_pairs("vs=%4").is_none());
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }
}
