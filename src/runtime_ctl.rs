//! `lvsd ctl drain | disable | enable | events`: the client side of [`crate::runtime_api`].
//!
//! `drain` asks the daemon to drain and then follows `/status` until the server shows
//! `drained` (its active connections reached 0, or the timeout passed), printing the
//! connection count as it goes; `--no-wait` returns at once. `events` prints the event stream,
//! reconnecting with `Last-Event-ID` so nothing is missed across a dropped connection.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::ctl::{Target, request_to};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RuntimeCommand {
    /// Drain a real server (or a whole virtual server): weight 0, wait for its active
    /// connections to end (or the timeout), then take it out. Stays so across restarts.
    Drain {
        /// Virtual server: "TCP 10.0.0.1:80", or unambiguously "10.0.0.1:80", "FWM 1".
        vs: String,
        /// Real server IP[:PORT]; omitted: every real server of the virtual server.
        rs: Option<String>,
        /// Longest wait for connections to end (30, 30s, 5m…; default 300s).
        #[arg(long, value_name = "D")]
        timeout: Option<String>,
        /// Return once the drain started instead of waiting for it to finish.
        #[arg(long)]
        no_wait: bool,
    },
    /// Take a real server (or a whole virtual server) out now; health checks keep running.
    Disable { vs: String, rs: Option<String> },
    /// Put it back (with `slow_start`, its weight ramps up).
    Enable { vs: String, rs: Option<String> },
    /// Follow the event stream: VRRP transitions, real servers up/down, quorum, reloads,
    /// operator actions.
    Events {
        /// Print the raw JSON of each event.
        #[arg(long)]
        json: bool,
        /// Exit after this many events (not counting the initial snapshot).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn operator_path(verb: &str, vs: &str, rs: Option<&str>, timeout: Option<&str>) -> String {
    let mut p = format!("/operator/{verb}?vs={}", enc(vs));
    if let Some(rs) = rs {
        p.push_str(&format!("&rs={}", enc(rs)));
    }
    if let Some(t) = timeout {
        p.push_str(&format!("&timeout={}", enc(t)));
    }
    p
}

pub async fn run(api: &Target, cmd: RuntimeCommand) -> anyhow::Result<ExitCode> {
    let t = Duration::from_secs(10);
    let (verb, vs, rs, timeout, wait) = match &cmd {
        RuntimeCommand::Events { json, count } => return events(api, *json, *count).await,
        RuntimeCommand::Drain {
            vs,
            rs,
            timeout,
            no_wait,
        } => ("drain", vs, rs, timeout.as_deref(), !no_wait),
        RuntimeCommand::Disable { vs, rs } => ("disable", vs, rs, None, false),
        RuntimeCommand::Enable { vs, rs } => ("enable", vs, rs, None, false),
    };
    let path = operator_path(verb, vs, rs.as_deref(), timeout);
    let (code, body) = request_to(api, Method::POST, &path, t).await?;
    if code != StatusCode::OK {
        eprintln!("{verb} refused ({code}): {}", body.trim());
        return Ok(ExitCode::FAILURE);
    }
    println!("{}", body.trim());
    if wait {
        wait_drained(api, vs, rs.as_deref()).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows `/status` until every concerned real server shows `drained`.
async fn wait_drained(api: &Target, vs: &str, rs: Option<&str>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let (code, body) = request_to(api, Method::GET, "/status", Duration::from_secs(10)).await?;
        if code != StatusCode::OK {
            bail!("/status answered {code}");
        }
        let st: Value = serde_json::from_str(&body).context("invalid /status JSON")?;
        let servers = matching(&st, vs, rs);
        if servers.is_empty() {
            bail!("{vs} {} no longer in the configuration", rs.unwrap_or(""));
        }
        let active: u64 = servers
            .iter()
            .map(|s| s["active_conns"].as_u64().unwrap_or(0))
            .sum();
        if servers.iter().all(|s| s["operator"] == "drained") {
            println!(
                "drained after {:.1} s; taken out",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        let line = format!("waiting: {active} active connection(s)");
        if line != last {
            println!("{line}");
            last = line;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The real servers of `/status` a drain concerns (`vs` matched like the daemon does).
fn matching<'a>(st: &'a Value, vs: &str, rs: Option<&str>) -> Vec<&'a Value> {
    static EMPTY: Vec<Value> = Vec::new();
    let vss = st["virtual_servers"].as_array().unwrap_or(&EMPTY);
    let keys = vss.iter().filter_map(|v| v["key"].as_str());
    let Ok(key) = crate::director::operator::resolve_vs(keys, vs) else {
        return Vec::new();
    };
    vss.iter()
        .filter(|v| v["key"] == key.as_str())
        .flat_map(|v| v["real_servers"].as_array().unwrap_or(&EMPTY))
        .filter(|s| {
            let Some(rs) = rs else { return true };
            let ip = s["address"].as_str().unwrap_or("");
            let port = s["port"].as_u64().unwrap_or(0);
            let want = rs.trim_matches(['[', ']']);
            let full = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            full == rs || ip == want
        })
        .collect()
}

/// Prints the stream until `count` events were seen (forever without), reconnecting.
async fn events(api: &Target, json: bool, count: Option<u64>) -> anyhow::Result<ExitCode> {
    let mut last_id: Option<u64> = None;
    let mut seen = 0u64;
    let mut failures = 0u32;
    loop {
        match stream_once(api, json, count, &mut last_id, &mut seen).await {
            Ok(true) => return Ok(ExitCode::SUCCESS),
            Ok(false) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures >= 5 {
                    return Err(e.context("event stream"));
                }
                eprintln!("event stream interrupted ({e:#}); reconnecting");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One connection; `Ok(true)` when `count` was reached.
/// A connection to the daemon, unix or TCP.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

async fn connect(api: &Target) -> anyhow::Result<Box<dyn Io>> {
    let t = Duration::from_secs(10);
    Ok(match api {
        Target::Unix(p) => Box::new(
            tokio::time::timeout(t, tokio::net::UnixStream::connect(p))
                .await
                .context("connect timed out")?
                .with_context(|| format!("cannot reach lvsd's control socket {}", p.display()))?,
        ),
        Target::Tcp { addr, .. } => Box::new(
            tokio::time::timeout(t, tokio::net::TcpStream::connect(addr))
                .await
                .context("connect timed out")?
                .with_context(|| format!("cannot reach lvsd at {addr}"))?,
        ),
    })
}

async fn stream_once(
    api: &Target,
    json: bool,
    count: Option<u64>,
    last_id: &mut Option<u64>,
    seen: &mut u64,
) -> anyhow::Result<bool> {
    let stream = connect(api).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/events")
        .header(header::ACCEPT, "text/event-stream");
    req = match api {
        Target::Unix(_) => req.header(header::HOST, "localhost"),
        Target::Tcp { addr, .. } => req.header(header::HOST, addr.to_string()),
    };
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    // Read routes need no token, but a configured one does no harm.
    if let Target::Tcp { token: Some(t), .. } = api {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new())?)
        .await?;
    if resp.status() != StatusCode::OK {
        let body = resp.into_body().collect().await?.to_bytes();
        bail!("/events: {}", String::from_utf8_lossy(&body).trim());
    }
    let mut body = resp.into_body();
    let mut buf = String::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(data));
        // A server that never ends a message must not grow this without bound.
        if buf.len() > 4 << 20 {
            bail!("event larger than 4 MiB");
        }
        while let Some(end) = buf.find("\n\n") {
            let msg: String = buf.drain(..end + 2).collect();
            if print_message(&msg, json, last_id) {
                *seen += 1;
                if count.is_some_and(|c| *seen >= c) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in ms.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// Prints one SSE message; true if it was an event (not a snapshot or comment).
fn print_message(msg: &str, json: bool, last_id: &mut Option<u64>) -> bool {
    let (mut kind, mut data, mut id) = ("message", String::new(), None);
    for line in msg.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            kind = v;
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        }
    }
    if data.is_empty() {
        return false;
    }
    let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
    match kind {
        "snapshot" => {
            let st = &v["status"];
            let n = |k: &str| st[k].as_array().map_or(0, |a| a.len());
            println!(
                "# snapshot at event {}: {} VRRP instance(s), {} virtual server(s)",
                v["seq"],
                n("vrrp"),
                n("virtual_servers")
            );
            if json {
                println!("{data}");
            }
            false
        }
        "lagged" => {
            println!(
                "# {} event(s) missed (too slow); a snapshot follows",
                v["missed"]
            );
            false
        }
        _ => {
            *last_id = id.or(*last_id);
            if json {
                println!("{data}");
            } else {
                println!(
                    "#{} {} {:<11} {} {}",
                    v["seq"],
                    clock(v["unix_ms"].as_u64().unwrap_or(0)),
                    v["kind"].as_str().unwrap_or(kind),
                    v["subject"].as_str().unwrap_or(""),
                    v["message"].as_str().unwrap_or("")
                );
            }
            true
        }
    }
}
