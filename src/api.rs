//! The operations API (HTTP/1.1, hyper), served on two kinds of listener:
//!
//! - the **control socket**, a unix socket that is always on (default `/run/lvsd.sock`, see
//!   [`crate::pidfile::RunPaths`]; mode 0600, or 0660 with `--ctl-socket-group`). Filesystem
//!   permissions are the authorisation: whoever can connect may use every route. `lvsd ctl`
//!   talks to it.
//! - the **metrics listener**, TCP, only with `--metrics-listen ADDR`. It serves the
//!   [`Access::Read`] routes to anyone who can reach it; [`Access::Control`] routes only with
//!   `Authorization: Bearer TOKEN` when the operator configured `--ctl-token-file` (without it
//!   they answer 403 and point at the control socket).
//!
//! # Routes
//!
//! Every endpoint is one line of [`ROUTES`]: method, path, access class, handler. To add a
//! state-changing endpoint, write a [`Handler`] (use [`read_body`] for a bounded request body
//! and [`text`] / [`json`] for answers), give [`Api`] the channel it needs to reach the daemon
//! (as `reload` does), and add a line with [`Access::Control`]; the listener rules above then
//! apply to it without further code.
//!
//! | method | path       | access  | what                                          |
//! |--------|------------|---------|-----------------------------------------------|
//! | GET    | `/metrics` | read    | Prometheus text / OpenMetrics                 |
//! | GET    | `/status`  | read    | the [`StatusHub`] snapshot as JSON            |
//! | GET    | `/healthz` | read    | `ok`                                          |
//! | POST   | `/reload`  | control | reload like SIGHUP; 200 or 422 with the error |
//! | GET    | `/`        | read    | the status page ([`crate::status_page`])      |
//! | GET    | `/events`  | read    | server-sent events ([`crate::runtime_api`])   |
//! | GET    | `/events.json` | read | the recent events as JSON                    |
//! | POST   | `/operator/drain`, `/operator/disable`, `/operator/enable` | control | `?vs=…&rs=…&timeout=…` |
//!
//! # Browser attacks
//!
//! On TCP a request whose `Host` is neither the address the client connected to, the listen
//! address, nor a loopback name (`localhost`, 127.0.0.0/8, `::1`) is refused with 421 (DNS
//! rebinding), and one carrying an `Origin` other than `http://` + that `Host` with 403 (CSRF).
//! On the unix socket any `Origin` is refused (browsers never reach it legitimately).
//!
//! # Bounds
//!
//! Each listener has a connection budget ([`DEFAULT_BUDGET`]); when it is full, the connection
//! that has been idle (no request in flight) the longest is closed to admit the new one, so
//! idle or slow clients cannot starve scrapes and `lvsd ctl`. Request heads must arrive within
//! [`HEADER_TIMEOUT`], a connection idle for [`IDLE_TIMEOUT`] is closed, and one lives at most
//! [`CONNECTION_TIMEOUT`]. Bodies are read only by handlers that ask, up to a limit. Every error
//! becomes a response or a closed connection, never a daemon failure.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::{self, IpvsDump, IpvsScrape, Metrics};
use crate::status::StatusHub;

/// Default suggestion for `--metrics-listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9165";
/// Connections one listener keeps open at once (see "Bounds" in the module doc).
pub const DEFAULT_BUDGET: usize = 4096;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// A kernel dump slower than this is reported as `lvsd_ipvs_scrape_success 0`.
pub const IPVS_DUMP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `POST /reload` waits for the daemon's answer.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(90);
/// Largest request body [`read_body`] accepts by default.
pub const MAX_BODY: usize = 64 * 1024;

/// Reads the kernel IPVS table for one scrape (the daemon wraps `ipvs::Client::dump()` and
/// `/proc/net/ip_vs_stats`; tests pass a closure returning a fixed dump).
pub type IpvsDumper =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<IpvsDump>> + Send>> + Send + Sync>;

/// The production [`IpvsDumper`]: one `ipvs::Client::dump()` (services, destinations, counters)
/// plus the whole-kernel totals from `/proc/net/ip_vs_stats`, per scrape.
pub fn kernel_dumper(client: ipvs::Client) -> IpvsDumper {
    Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            let table = client.dump().await?;
            let totals = tokio::task::spawn_blocking(metrics::read_proc_totals)
                .await
                .ok()
                .flatten();
            Ok(IpvsDump::from_table(&table, totals))
        })
    })
}

/// A reload asked for over `POST /reload` (by `lvsd ctl reload`). The daemon performs it exactly
/// as on SIGHUP and answers `Ok(())` or the operator-facing error.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// What the endpoints serve from.
#[derive(Clone)]
pub struct Api {
    pub status: StatusHub,
    pub metrics: Metrics,
    /// None on a VRRP-only daemon: no IPVS series.
    pub ipvs: Option<IpvsDumper>,
    /// None: `POST /reload` answers 503.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

/// Boxed so that `/events` can stream.
pub type Resp = Response<crate::runtime_api::Body>;
pub type Req = Request<Incoming>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = Resp> + Send>>;
/// One endpoint: gets the request, answers it.
pub type Handler = fn(Arc<Api>, Req) -> HandlerFuture;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads state: every listener serves it.
    Read,
    /// Changes state: the control socket, or TCP with the operator's token.
    Control,
}

/// One line of the routing table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

/// The routing table (see the module doc).
pub static ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/metrics",
        access: Access::Read,
        handler: metrics_handler,
    },
    Route {
        method: Method::GET,
        path: "/status",
        access: Access::Read,
        handler: status_handler,
    },
    Route {
        method: Method::GET,
        path: "/healthz",
        access: Access::Read,
        handler: healthz_handler,
    },
    Route {
        method: Method::POST,
        path: "/reload",
        access: Access::Control,
        handler: reload_handler,
    },
    Route {
        method: Method::GET,
        path: "/",
        access: Access::Read,
        handler: |api, _req| Box::pin(async move { crate::status_page::page(&api.status) }),
    },
    Route {
        method: Method::GET,
        path: "/events",
        access: Access::Read,
        handler: |api, req| Box::pin(async move { crate::runtime_api::events(&api.status, &req) }),
    },
    Route {
        method: Method::GET,
        path: "/events.json",
        access: Access::Read,
        handler: |api, _req| Box::pin(async move { crate::runtime_api::events_json(&api.status) }),
    },
    Route {
        method: Method::POST,
        path: "/operator/drain",
        access: Access::Control,
        handler: operator_handler,
    },
    Route {
        method: Method::POST,
        path: "/operator/disable",
        access: Access::Control,
        handler: operator_handler,
    },
    Route {
        method: Method::POST,
        path: "/operator/enable",
        access: Access::Control,
        handler: operator_handler,
    },
];

fn operator_handler(api: Arc<Api>, req: Req) -> HandlerFuture {
    Box::pin(async move {
        crate::runtime_api::operator_request(&api.status, req.uri().path(), req.uri().query())
    })
}

/// A bearer token for control requests over TCP (`--ctl-token-file`).
#[derive(Clone)]
pub struct Token(Arc<Vec<u8>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads the token file (first line, trimmed). Refuses an empty token and a file other
    /// users can read or write.
    pub fn from_file(path: &Path) -> anyhow::Result<Token> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?;
        if meta.mode() & 0o077 != 0 {
            anyhow::bail!(
                "token file {} is accessible to other users (mode {:o}); chmod 600 it",
                path.display(),
                meta.mode() & 0o777
            );
        }
        if meta.len() > 4096 {
            anyhow::bail!("token file {} is larger than 4 KiB", path.display());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.len() < 16 {
            anyhow::bail!(
                "token file {}: the token must be at least 16 characters",
                path.display()
            );
        }
        Ok(Token(Arc::new(token.as_bytes().to_vec())))
    }

    pub fn new(token: &str) -> Token {
        Token(Arc::new(token.as_bytes().to_vec()))
    }

    /// Constant-time comparison with an `Authorization` header value.
    fn matches(&self, authorization: Option<&header::HeaderValue>) -> bool {
        let Some(given) = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let (a, b) = (given.trim().as_bytes(), self.0.as_slice());
        let mut diff = a.len() ^ b.len();
        for (i, &x) in b.iter().enumerate() {
            diff |= usize::from(x ^ a.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// Where and how one listener serves.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `--metrics-listen`: read routes; control routes with the token, if any.
    Tcp {
        listen: SocketAddr,
        token: Option<Token>,
    },
    /// The control socket: every route. `group`: owner group of the socket (mode 0660).
    Unix { path: PathBuf, group: Option<u32> },
}

/// Limits of one listener (see "Bounds" in the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub budget: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            budget: DEFAULT_BUDGET,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Where a listener ended up: the bound TCP address or the socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Binds `listen` as a read-only metrics listener (no control routes) and spawns the server;
/// returns the bound address (useful with port 0) and the task, which ends when `shutdown`
/// completes.
pub async fn spawn(
    listen: SocketAddr,
    api: Api,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let endpoint = Endpoint::Tcp {
        listen,
        token: None,
    };
    let (bound, task) = spawn_endpoint(endpoint, Limits::default(), api, shutdown).await?;
    match bound {
        Bound::Tcp(a) => Ok((a, task)),
        Bound::Unix(p) => Err(std::io::Error::other(format!(
            "expected a TCP listener, bound {}",
            p.display()
        ))),
    }
}

/// Binds `endpoint` and spawns its server. Binding errors are returned so the daemon can refuse
/// to start with a clear message.
pub async fn spawn_endpoint(
    endpoint: Endpoint,
    limits: Limits,
    api: Api,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(Bound, JoinHandle<()>)> {
    let api = Arc::new(api);
    let tracker = Arc::new(Tracker::new(limits.budget));
    match endpoint {
        Endpoint::Tcp { listen, token } => {
            let listener = TcpListener::bind(listen).await?;
            let local = listener.local_addr()?;
            tracing::info!(%local, "metrics listener on {local} (/metrics /status /healthz)");
            let task = tokio::spawn(serve_tcp(
                listener, listen, token, api, tracker, limits, shutdown,
            ));
            Ok((Bound::Tcp(local), task))
        }
        Endpoint::Unix { path, group } => {
            let listener = UnixListener::from_std(bind_unix(&path, group)?)?;
            tracing::info!(socket = %path.display(), "control socket listening");
            let task = tokio::spawn(serve_unix(listener, api, tracker, limits, shutdown));
            Ok((Bound::Unix(path), task))
        }
    }
}

/// A unix stream socket at `path`, created with mode 0600 (0660 and group `group`) from the
/// start: the mode is set on the socket before `bind` creates the file, so there is no window
/// in which another user could connect. A stale socket file (left by a killed lvsd: nobody
/// accepts on it) is replaced; a live one or any other file there is an error.
pub fn bind_unix(
    path: &Path,
    group: Option<u32>,
) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by another process", path.display()),
                ));
            }
            std::fs::remove_file(path)?
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    nix::sys::stat::fchmod(&sock, nix::sys::stat::Mode::from_bits_truncate(mode))
        .map_err(std::io::Error::from)?;
    sock.bind(&socket2::SockAddr::unix(path)?)?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    sock.listen(128)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// How a connection may use the routes.
#[derive(Clone)]
enum Peer {
    /// TCP: the address the client connected to, the configured listen address, the token.
    Tcp {
        local: SocketAddr,
        listen: SocketAddr,
        token: Option<Token>,
    },
    Unix,
}

async fn serve_tcp(
    listener: TcpListener,
    listen: SocketAddr,
    token: Option<Token>,
    api: Arc<Api>,
    tracker: Arc<Tracker>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer_addr) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let peer = Peer::Tcp {
            local,
            listen,
            token: token.clone(),
        };
        let _ = stream.set_nodelay(true);
        admit(stream, peer, &peer_addr.to_string(), &api, &tracker, limits);
    }
}

async fn serve_unix(
    listener: UnixListener,
    api: Arc<Api>,
    tracker: Arc<Tracker>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let uid = stream.peer_cred().map(|c| c.uid()).ok();
        admit(
            stream,
            Peer::Unix,
            &format!("uid {}", uid.map_or("?".into(), |u| u.to_string())),
            &api,
            &tracker,
            limits,
        );
    }
}

async fn accept_failed(e: &std::io::Error) {
    // EMFILE and friends: back off instead of spinning.
    tracing::warn!(error = %e, "operations API: accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Registers the connection (evicting the oldest idle one if the budget is full) and serves it
/// on its own task.
fn admit<S>(
    stream: S,
    peer: Peer,
    who: &str,
    api: &Arc<Api>,
    tracker: &Arc<Tracker>,
    limits: Limits,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(slot) = tracker.admit() else {
        tracing::debug!(%who, "operations API: connection budget full of busy connections");
        return;
    };
    let api = api.clone();
    let who = who.to_string();
    tokio::spawn(async move {
        let close = slot.close.clone();
        let service_slot = slot.clone();
        let service = service_fn(move |req| {
            let api = api.clone();
            let peer = peer.clone();
            let busy = service_slot.busy();
            async move {
                let resp = handle(api, &peer, req).await;
                drop(busy);
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let deadline = tokio::time::sleep(CONNECTION_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = &mut conn => {
                    if let Err(e) = r {
                        tracing::debug!(%who, error = %e, "operations API: connection error");
                    }
                    break;
                }
                () = close.notified() => {
                    tracing::debug!(%who, "operations API: idle connection evicted");
                    break;
                }
                () = &mut deadline => break,
                () = tokio::time::sleep(limits.idle_timeout / 4) => {
                    if slot.idle_for() >= Some(limits.idle_timeout) {
                        break;
                    }
                }
            }
        }
    });
}

/// The connections of one listener: who is idle since when, and how to close them.
struct Tracker {
    budget: usize,
    inner: Mutex<TrackerInner>,
}

#[derive(Default)]
struct TrackerInner {
    next_id: u64,
    conns: HashMap<u64, Entry>,
}

struct Entry {
    /// None while a request is in flight.
    idle_since: Option<Instant>,
    close: Arc<Notify>,
}

impl Tracker {
    fn new(budget: usize) -> Tracker {
        Tracker {
            budget: budget.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new connection; when the budget is full the oldest idle connection is told
    /// to close and its slot is reused. None: every connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut inner = self.lock();
        if inner.conns.len() >= self.budget {
            let oldest = inner
                .conns
                .iter()
                .filter_map(|(id, e)| e.idle_since.map(|t| (t, *id)))
                .min()?
                .1;
            if let Some(e) = inner.conns.remove(&oldest) {
                e.close.notify_one();
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let close = Arc::new(Notify::new());
        inner.conns.insert(
            id,
            Entry {
                idle_since: Some(Instant::now()),
                close: close.clone(),
            },
        );
        Some(Slot {
            id,
            close,
            tracker: self.clone(),
            _owner: Arc::new(SlotOwner {
                id,
                tracker: self.clone(),
            }),
        })
    }

    fn set_idle(&self, id: u64, idle: bool) {
        if let Some(e) = self.lock().conns.get_mut(&id) {
            e.idle_since = idle.then(Instant::now);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

/// One connection's registration; the entry goes when the last clone is dropped.
#[derive(Clone)]
struct Slot {
    id: u64,
    close: Arc<Notify>,
    tracker: Arc<Tracker>,
    _owner: Arc<SlotOwner>,
}

struct SlotOwner {
    id: u64,
    tracker: Arc<Tracker>,
}

impl Drop for SlotOwner {
    fn drop(&mut self) {
        self.tracker.lock().conns.remove(&self.id);
    }
}

/// Marks the connection busy until dropped.
struct Busy(Slot);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.tracker.set_idle(self.0.id, true);
    }
}

impl Slot {
    fn busy(&self) -> Busy {
        self.tracker.set_idle(self.id, false);
        Busy(self.clone())
    }

    fn idle_for(&self) -> Option<Duration> {
        self.tracker
            .lock()
            .conns
            .get(&self.id)
            .and_then(|e| e.idle_since)
            .map(|t| t.elapsed())
    }
}

/// A plain-text answer.
pub fn text(code: StatusCode, body: impl Into<Bytes>) -> Resp {
    respond(code, "text/plain; charset=utf-8", body.into())
}

/// A JSON answer.
pub fn json(code: StatusCode, value: &impl serde::Serialize) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => respond(code, "application/json", body.into()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("json: {e}\n")),
    }
}

fn respond(code: StatusCode, content_type: &str, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body).boxed_unsync());
    *resp.status_mut() = code;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// The request body, at most `limit` bytes, within [`HEADER_TIMEOUT`] × 2; an answer to send
/// back otherwise (413, 408, 400).
pub async fn read_body(req: Req, limit: usize) -> Result<Bytes, Resp> {
    let body = Limited::new(req.into_body(), limit);
    match tokio::time::timeout(HEADER_TIMEOUT * 2, body.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes\n"),
        )),
        Ok(Err(e)) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("request body: {e}\n"),
        )),
        Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n")),
    }
}

async fn handle(api: Arc<Api>, peer: &Peer, req: Req) -> Resp {
    if let Some(refusal) = check_browser_headers(peer, &req) {
        return refusal;
    }
    let path = req.uri().path();
    let mut path_known = false;
    for route in ROUTES {
        if route.path != path {
            continue;
        }
        path_known = true;
        if route.method != req.method() {
            continue;
        }
        if route.access == Access::Control && !may_control(peer, &req) {
            return text(
                StatusCode::FORBIDDEN,
                format!(
                    "{} {} changes state: use the control socket (`lvsd ctl`) or configure \
                     --ctl-token-file and send its token\n",
                    route.method, route.path
                ),
            );
        }
        return (route.handler)(api, req).await;
    }
    if path_known {
        let allow: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.as_str())
            .collect();
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return resp;
    }
    let list: Vec<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    text(
        StatusCode::NOT_FOUND,
        format!("not found; endpoints: {}\n", list.join(", ")),
    )
}

fn may_control(peer: &Peer, req: &Req) -> bool {
    match peer {
        Peer::Unix => true,
        Peer::Tcp { token, .. } => token
            .as_ref()
            .is_some_and(|t| t.matches(req.headers().get(header::AUTHORIZATION))),
    }
}

/// DNS rebinding (foreign `Host`) and cross-origin requests (foreign `Origin`): the refusal to
/// send, if any.
fn check_browser_headers(peer: &Peer, req: &Req) -> Option<Resp> {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{0}"));
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|h| h.to_str().unwrap_or("\u{0}"));
    match peer {
        Peer::Unix => origin.map(|o| {
            text(
                StatusCode::FORBIDDEN,
                format!("cross-origin request from {o:?} refused\n"),
            )
        }),
        Peer::Tcp { local, listen, .. } => {
            // HTTP/1.0 clients may omit Host; browsers never do.
            if let Some(h) = host
                && !host_allowed(h, *local, *listen)
            {
                return Some(text(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!(
                        "Host {h:?} is not this listener ({local}) or a loopback name; \
                         use the address\n"
                    ),
                ));
            }
            match (origin, host) {
                (None, _) => None,
                (Some(o), Some(h)) if origin_matches(o, h) => None,
                (Some(o), _) => Some(text(
                    StatusCode::FORBIDDEN,
                    format!("cross-origin request from {o:?} refused\n"),
                )),
            }
        }
    }
}

fn origin_matches(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("http://")
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// Whether a `Host` header names this listener: the address the client connected to, the
/// listen address, or a loopback name; a port, if given, must be the listener's.
pub fn host_allowed(host: &str, local: SocketAddr, listen: SocketAddr) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if port.is_some_and(|p| p != local.port()) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name == "localhost." {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => {
            ip.is_loopback()
                || ip == local.ip()
                || (ip == listen.ip() && !listen.ip().is_unspecified())
                || ip.to_canonical() == local.ip().to_canonical()
        }
        Err(_) => false,
    }
}

/// `name[:port]` or `[v6][:port]`; None when malformed.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        return match after {
            "" => Some((name, None)),
            p => Some((name, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match host.split_once(':') {
        None if !host.is_empty() => Some((host, None)),
        Some((name, port)) if !name.is_empty() => Some((name, Some(port.parse().ok()?))),
        _ => None,
    }
}

fn metrics_handler(api: Arc<Api>, req: Req) -> HandlerFuture {
    let wants_openmetrics = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    Box::pin(async move { metrics_response(&api, wants_openmetrics).await })
}

fn status_handler(api: Arc<Api>, _req: Req) -> HandlerFuture {
    Box::pin(async move { json(StatusCode::OK, &api.status.snapshot()) })
}

fn healthz_handler(_api: Arc<Api>, _req: Req) -> HandlerFuture {
    Box::pin(async { text(StatusCode::OK, "ok\n") })
}

fn reload_handler(api: Arc<Api>, _req: Req) -> HandlerFuture {
    Box::pin(async move { reload_response(&api).await })
}

async fn metrics_response(api: &Api, openmetrics: bool) -> Resp {
    let ipvs = match &api.ipvs {
        None => IpvsScrape::Disabled,
        Some(dump) => match tokio::time::timeout(IPVS_DUMP_TIMEOUT, dump()).await {
            Ok(Ok(d)) => IpvsScrape::Dumped(Arc::new(d)),
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "metrics: IPVS dump failed");
                IpvsScrape::Failed
            }
            Err(_) => {
                tracing::warn!("metrics: IPVS dump timed out");
                IpvsScrape::Failed
            }
        },
    };
    let status = Arc::new(api.status.snapshot());
    let registry = api.metrics.clone();
    // Rendering thousands of destinations takes tens of milliseconds: keep it off the async
    // workers, where the VRRP advert timers run.
    let rendered = tokio::task::spawn_blocking(move || {
        let body = metrics::render(&registry, status, ipvs);
        if openmetrics {
            (metrics::OPENMETRICS_CONTENT_TYPE, body)
        } else {
            (
                metrics::PROMETHEUS_TEXT_CONTENT_TYPE,
                metrics::to_prometheus_text(&body),
            )
        }
    })
    .await;
    match rendered {
        Ok((content_type, body)) => respond(StatusCode::OK, content_type, body.into()),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering metrics failed: {e}\n"),
        ),
    }
}

async fn reload_response(api: &Api) -> Resp {
    let Some(tx) = &api.reload else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "reload is not available on this daemon\n",
        );
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(ReloadRequest { reply }).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "daemon is shutting down\n");
    }
    match tokio::time::timeout(RELOAD_TIMEOUT, answer).await {
        Ok(Ok(Ok(()))) => text(StatusCode::OK, "reloaded\n"),
        Ok(Ok(Err(e))) => text(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")),
        Ok(Err(_)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "daemon dropped the reload request\n",
        ),
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "reload did not finish in time; check the logs\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_that_name_the_listener_pass() {
        let local = a("127.0.0.1:9165");
        for h in [
            "127.0.0.1:9165",
            "127.0.0.1",
            "localhost:9165",
            "LOCALHOST",
            "[::1]:9165",
            "127.0.0.2:9165",
        ] {
            assert!(host_allowed(h, local, local), "{h}");
        }
        let wild = a("0.0.0.0:9165");
        let mgmt = a("192.0.2.7:9165");
        assert!(host_allowed("192.0.2.7:9165", mgmt, wild));
        assert!(host_allowed("[::ffff:192.0.2.7]:9165", mgmt, wild));
    }

    #[test]
    fn foreign_hosts_are_refused() {
        let local = a("127.0.0.1:9165");
        for h in [
            "evil.example",
            "evil.example:9165",
            "127.0.0.1.nip.io:9165",
            "localhost.evil.example",
            "127.0.0.1:80",
            "192.0.2.7:9165",
            "",
            ":9165",
            "[::1",
            "[::1]x",
            "0.0.0.0:9165",
        ] {
            assert!(!host_allowed(h, local, a("0.0.0.0:9165")), "{h}");
        }
    }

    #[test]
    fn origin_must_be_the_listener_itself() {
        assert!(origin_matches("http://127.0.0.1:9165", "127.0.0.1:9165"));
        assert!(!origin_matches("http://evil.example", "127.0.0.1:9165"));
        assert!(!origin_matches("https://127.0.0.1:9165", "127.0.0.1:9165"));
        assert!(!origin_matches("null", "127.0.0.1:9165"));
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = Token::new("0123456789abcdef");
        let h = |s: &str| header::HeaderValue::from_str(s).unwrap();
        assert!(t.matches(Some(&h("Bearer 0123456789abcdef"))));
        assert!(!t.matches(Some(&h("Bearer 0123456789abcde"))));
        assert!(!t.matches(Some(&h("Bearer 0123456789abcdefg"))));
        assert!(!t.matches(Some(&h("Basic 0123456789abcdef"))));
        assert!(!t.matches(None));
    }

    #[test]
    fn a_full_budget_evicts_the_oldest_idle_connection() {
        let t = Arc::new(Tracker::new(3));
        let s1 = t.admit().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let s2 = t.admit().unwrap();
        let s3 = t.admit().unwrap();
        // s2 becomes busy; s1 is the oldest idle.
        let _busy = s2.busy();
        let s4 = t.admit().unwrap();
        assert_eq!(t.len(), 3);
        // s1 was told to close: its permit is stored.
        {
            let notified = s1.close.notified();
            tokio::pin!(notified);
            assert!(futures_util::FutureExt::now_or_never(notified.as_mut()).is_some());
        }
        // Everyone busy: no slot.
        let _b3 = s3.busy();
        let _b4 = s4.busy();
        assert!(t.admit().is_none());
        drop(s1);
        assert_eq!(t.len(), 3, "an evicted slot no longer counts");
    }
}
