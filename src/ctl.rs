//! `lvsd ctl`: talks to a running daemon over its control socket (see [`crate::api`]), or over
//! TCP with `--api ADDR` (read-only, unless the daemon has a `--ctl-token-file` and the same
//! token is given here). `status` renders `/status` as tables; `reload` asks for a reload and
//! reports its outcome (the exit code says whether the new configuration was taken).
//!
//! The connection options are accepted before or after the action
//! (`lvsd ctl --api X status` = `lvsd ctl status --api X`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::api;

#[derive(Debug, Clone, clap::Args)]
pub struct CtlArgs {
    /// The daemon's control socket [default: /run/lvsd.sock, or the daemon's --ctl-socket].
    #[arg(long, env = "LVSD_SOCKET", value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Talk TCP to this --metrics-listen address instead of the socket.
    #[arg(
        long,
        env = "LVSD_API",
        value_name = "ADDR",
        global = true,
        conflicts_with = "socket"
    )]
    pub api: Option<SocketAddr>,
    /// With --api: send this file's token (the daemon's --ctl-token-file) for state changes.
    #[arg(long, value_name = "FILE", global = true, requires = "api")]
    pub token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum CtlCommand {
    /// Show VRRP instances, tracking scripts, virtual and real servers, reloads.
    Status {
        /// Print the raw /status JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Reload the configuration (like SIGHUP) and wait for the result.
    Reload,
    /// drain / disable / enable / events (lvsd runtime control).
    #[command(flatten)]
    Runtime(crate::runtime_ctl::RuntimeCommand),
}

/// Where `lvsd ctl` connects.
#[derive(Debug, Clone)]
pub enum Target {
    Unix(PathBuf),
    Tcp {
        addr: SocketAddr,
        token: Option<String>,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "{}", p.display()),
            Target::Tcp { addr, .. } => write!(f, "{addr}"),
        }
    }
}

impl CtlArgs {
    pub fn target(&self) -> anyhow::Result<Target> {
        if let Some(addr) = self.api {
            let token = match &self.token_file {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("reading the token file {}", f.display()))?
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            return Ok(Target::Tcp { addr, token });
        }
        Ok(Target::Unix(
            self.socket
                .clone()
                .unwrap_or_else(crate::pidfile::RunPaths::default_socket),
        ))
    }
}

pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let target = args.target()?;
    match args.command {
        CtlCommand::Runtime(c) => crate::runtime_ctl::run(&target, c).await,
        CtlCommand::Status { json } => {
            let (code, body) =
                request_to(&target, Method::GET, "/status", Duration::from_secs(10)).await?;
            if code != StatusCode::OK {
                bail!("{target} answered /status with {code}: {}", body.trim());
            }
            if json {
                println!("{body}");
                return Ok(ExitCode::SUCCESS);
            }
            let value: Value = serde_json::from_str(&body)
                .with_context(|| format!("{target} sent invalid /status JSON"))?;
            print!("{}", render_status(&value, now_unix_ms()));
            Ok(ExitCode::SUCCESS)
        }
        CtlCommand::Reload => {
            let timeout = api::RELOAD_TIMEOUT + Duration::from_secs(5);
            let (code, body) = request_to(&target, Method::POST, "/reload", timeout).await?;
            if code == StatusCode::OK {
                println!("{}", body.trim());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("reload failed ({code}): {}", body.trim());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// [`run`] for a synchronous `main`: on a small current-thread runtime of its own.
pub fn run_blocking(args: CtlArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(run(args))
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One HTTP/1.1 request to the daemon over TCP (no token); the body is returned as text.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, String)> {
    let target = Target::Tcp { addr, token: None };
    request_to(&target, method, path, timeout).await
}

/// One HTTP/1.1 request to the daemon; the body is returned as text.
pub async fn request_to(
    target: &Target,
    method: Method,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, String)> {
    let exchange = async {
        let mut req = Request::builder().method(method).uri(path);
        match target {
            Target::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p).await.with_context(|| {
                    format!(
                        "cannot reach lvsd's control socket {} (is lvsd running? as root? \
                         started with --ctl-socket elsewhere?)",
                        p.display()
                    )
                })?;
                req = req.header(header::HOST, "localhost");
                exchange(stream, req).await
            }
            Target::Tcp { addr, token } => {
                let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| {
                    format!(
                        "cannot reach lvsd at {addr} (is it running with --metrics-listen {addr}?)"
                    )
                })?;
                req = req.header(header::HOST, addr.to_string());
                if let Some(t) = token {
                    req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
                }
                exchange(stream, req).await
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("lvsd at {target} did not answer {path} within {timeout:?}"))?
}

async fn exchange<S>(stream: S, req: http::request::Builder) -> anyhow::Result<(StatusCode, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        // Errors surface through the request below.
        let _ = conn.await;
    });
    let req = req
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let resp = sender
        .send_request(req)
        .await
        .context("sending the request")?;
    let code = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("reading the response")?
        .to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// `/status` JSON as the tables `lvsd ctl status` prints. Tolerates missing fields (an older or
/// newer daemon): they print as `-`.
pub fn render_status(status: &Value, now_ms: u64) -> String {
    let s = |v: &Value| -> String {
        match v {
            Value::Null => "-".into(),
            Value::String(s) => printable(s),
            other => printable(&other.to_string()),
        }
    };
    let ago = |v: &Value| -> String {
        match v.as_u64() {
            Some(ms) => format!("{} ago", human(now_ms.saturating_sub(ms))),
            None => "-".into(),
        }
    };
    let mut out = vrrp_table(&list(&status["vrrp"]), &s, &ago);
    out.push_str(&scripts_table(&list(&status["vrrp_scripts"]), &s));
    out.push_str(&bfd_table(&list(&status["bfd"]), &s, &ago));
    for vs in list(&status["virtual_servers"]) {
        out.push_str(&virtual_server_table(&vs, &s, &ago));
    }
    let r = &status["reload"];
    let last = match &r["last_error"] {
        Value::Null => "ok".to_string(),
        e => format!("FAILED: {}", s(e)),
    };
    out.push_str(&format!(
        "config {}: loaded {}, last reload {last}; {} reloads ok, {} failed\n",
        s(&r["config_file"]),
        ago(&r["last_reload_unix_ms"]),
        s(&r["successes"]),
        s(&r["failures"]),
    ));
    out
}

/// A JSON array's elements (none for anything else).
fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// The VRRP instances: state, priority in force / configured, master, since when, VIPs.
fn vrrp_table(
    vrrp: &[Value],
    s: &dyn Fn(&Value) -> String,
    ago: &dyn Fn(&Value) -> String,
) -> String {
    if vrrp.is_empty() {
        return String::new();
    }
    let rows = vrrp
        .iter()
        .map(|v| {
            vec![
                s(&v["name"]),
                s(&v["interface"]),
                s(&v["vrid"]),
                s(&v["state"]),
                format!("{}/{}", s(&v["effective_priority"]), s(&v["base_priority"])),
                s(&v["master_addr"]),
                ago(&v["since_unix_ms"]),
                list(&v["vips"]).iter().map(s).collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "VRRP INSTANCE",
            "INTERFACE",
            "VRID",
            "STATE",
            "PRIO",
            "MASTER",
            "SINCE",
            "VIPS",
        ],
        rows,
        "",
    );
    out.push('\n');
    out
}

/// The tracked scripts and their last verdict.
fn scripts_table(scripts: &[Value], s: &dyn Fn(&Value) -> String) -> String {
    if scripts.is_empty() {
        return String::new();
    }
    let rows = scripts
        .iter()
        .map(|v| {
            let ok = match v["ok"].as_bool() {
                Some(true) => "good",
                Some(false) => "BAD",
                None => "-",
            };
            vec![s(&v["name"]), ok.into()]
        })
        .collect();
    let mut out = table(&["TRACK SCRIPT", "STATUS"], rows, "");
    out.push('\n');
    out
}

/// One virtual server: its quorum line, then its real servers.
fn virtual_server_table(
    vs: &Value,
    s: &dyn Fn(&Value) -> String,
    ago: &dyn Fn(&Value) -> String,
) -> String {
    let quorum = match vs["quorum_up"].as_bool() {
        Some(true) => "quorum up",
        Some(false) => "QUORUM DOWN",
        None => "quorum ?",
    };
    let sorry = if vs["sorry_server_active"].as_bool() == Some(true) {
        ", sorry server active"
    } else {
        ""
    };
    let mut out = format!(
        "{}  {}  {quorum} (live weight {} / quorum {}){sorry}\n",
        s(&vs["key"]),
        s(&vs["scheduler"]),
        s(&vs["live_weight"]),
        s(&vs["quorum"]),
    );
    let rows = list(&vs["real_servers"])
        .iter()
        .map(|r| {
            let addr = match (r["address"].as_str(), r["port"].as_u64()) {
                (Some(a), Some(p)) if a.contains(':') => format!("[{a}]:{p}"),
                (Some(a), Some(p)) => format!("{a}:{p}"),
                _ => "-".into(),
            };
            let up = match r["up"].as_bool() {
                Some(true) => "up",
                Some(false) => "DOWN",
                None => "-",
            };
            vec![
                addr,
                up.into(),
                s(&r["weight"]),
                s(&r["live_weight"]),
                ago(&r["last_check_unix_ms"]),
                s(&r["transitions"]),
                s(&r["last_failure"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "REAL SERVER",
            "STATE",
            "WEIGHT",
            "LIVE",
            "CHANGED",
            "TRANSITIONS",
            "LAST FAILURE",
        ],
        rows,
        "  ",
    ));
    out.push('\n');
    out
}

/// The BFD sessions: state (ours/the peer's), diagnostic, intervals in force, detection time.
fn bfd_table(
    sessions: &[Value],
    s: &dyn Fn(&Value) -> String,
    ago: &dyn Fn(&Value) -> String,
) -> String {
    if sessions.is_empty() {
        return String::new();
    }
    let ms = |v: &Value| match v.as_u64() {
        Some(us) => format!("{}ms", us / 1000),
        None => "-".into(),
    };
    let rows = sessions
        .iter()
        .map(|v| {
            vec![
                s(&v["name"]),
                s(&v["neighbor"]),
                s(&v["source"]),
                format!("{}/{}", s(&v["state"]), s(&v["remote_state"])),
                format!("{}/{}", ms(&v["tx_interval_us"]), ms(&v["rx_interval_us"])),
                ms(&v["detection_time_us"]),
                ago(&v["since_unix_ms"]),
                s(&v["diag"]),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "BFD SESSION",
            "NEIGHBOR",
            "SOURCE",
            "STATE/REMOTE",
            "TX/RX",
            "DETECT",
            "SINCE",
            "DIAGNOSTIC",
        ],
        rows,
        "",
    );
    out.push('\n');
    out
}

/// Control characters (a newline in an instance name) would break the table: show them escaped.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn human(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn table(headers: &[&str], rows: Vec<Vec<String>>, indent: &str) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfd_sessions_get_a_table() {
        let v: Value = serde_json::from_str(
            r#"{"bfd":[{"name":"b1","neighbor":"10.0.0.2","source":null,"state":"Up",
                "remote_state":"Up","tx_interval_us":300000,"rx_interval_us":300000,
                "detection_time_us":900000,"since_unix_ms":1000,"diag":"No Diagnostic"}]}"#,
        )
        .unwrap();
        let out = render_status(&v, 61_000);
        let line = out
            .lines()
            .find(|l| l.starts_with("b1 "))
            .unwrap_or_default();
        for w in [
            "10.0.0.2",
            "Up/Up",
            "300ms/300ms",
            "900ms",
            "1m00s ago",
            "No Diagnostic",
        ] {
            assert!(line.contains(w), "{w} not in {out}");
        }
        assert!(out.starts_with("BFD SESSION"), "{out}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59_999), "59s");
        assert_eq!(human(133_000), "2m13s");
        assert_eq!(human(7_260_000), "2h01m");
        assert_eq!(human(90_000_000), "1d01h");
    }

    #[test]
    fn missing_fields_print_as_dashes_not_panics() {
        let out = render_status(&serde_json::json!({"vrrp": [{"name": "VI_1"}]}), 0);
        assert!(out.contains("VI_1"), "{out}");
        assert!(out.contains("config -"), "{out}");
        let out = render_status(&serde_json::json!(42), 0);
        assert!(out.starts_with("config -"), "{out}");
    }

    #[test]
    fn control_characters_cannot_break_rows() {
        let out = render_status(
            &serde_json::json!({"vrrp": [{"name": "VI\n1\u{1b}[31m", "state": "MASTER"}]}),
            0,
        );
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.contains("VI\\n1\\u{1b}[31m") && row.contains("MASTER"),
            "{out}"
        );
    }

    #[test]
    fn columns_line_up() {
        let out = table(
            &["A", "BB"],
            vec![
                vec!["long cell".into(), "x".into()],
                vec!["s".into(), "y".into()],
            ],
            "",
        );
        let col: Vec<usize> = out.lines().map(|l| l.rfind(' ').unwrap_or(0)).collect();
        assert_eq!(out.lines().count(), 3);
        assert!(col.windows(2).all(|w| w[0] == w[1]), "{out}");
    }
}
