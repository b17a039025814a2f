//! The operations endpoint (HTTP/1.1, hyper): `/metrics`, `/status`, `/healthz` and
//! `POST /reload`. Off unless `--metrics-listen ADDR` is given (suggested 127.0.0.1:9165): it has no
//! authentication, so it belongs on loopback or a management network.
//!
//! Everything is read at request time: the latest [`StatusHub`] snapshot and, for `/metrics`, one
//! kernel IPVS dump. Bounded: at most [`MAX_CONNECTIONS`] connections are served at once (the rest
//! wait in the listen backlog), request heads must arrive within [`HEADER_TIMEOUT`], a connection
//! lives at most [`CONNECTION_TIMEOUT`], request bodies are never read. Every error becomes a
//! response or a closed connection, never a daemon failure.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::{self, IpvsDump, IpvsScrape, Metrics};
use crate::status::StatusHub;

/// Default suggestion for `--metrics-listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9165";
pub const MAX_CONNECTIONS: usize = 32;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// A kernel dump slower than this is reported as `lvsd_ipvs_scrape_success 0`.
pub const IPVS_DUMP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `POST /reload` waits for the daemon's answer.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(90);

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

/// What the endpoint serves from.
#[derive(Clone)]
pub struct Api {
    pub status: StatusHub,
    pub metrics: Metrics,
    /// None on a VRRP-only daemon: no IPVS series.
    pub ipvs: Option<IpvsDumper>,
    /// None: `POST /reload` answers 503.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

/// Binds `listen` and spawns the server; returns the bound address (useful with port 0) and the
/// task, which ends when `shutdown` completes. Binding errors are returned so the daemon can
/// refuse to start with a clear message.
pub async fn spawn(
    listen: SocketAddr,
    api: Api,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "operations endpoint listening (/metrics /status /healthz /reload)");
    // VRRP transitions and reloads become events (lvsd runtime API).
    tokio::spawn(crate::events::follow_hub(api.status.clone()));
    let task = tokio::spawn(serve(listener, Arc::new(api), shutdown));
    Ok((local, task))
}

async fn serve(
    listener: TcpListener,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                // The semaphore is never closed; stop serving rather than spin if it ever is.
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "operations endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let api = api.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(route(&api, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "operations endpoint: connection error")
                }
                Err(_) => tracing::debug!(%peer, "operations endpoint: connection timed out"),
            }
        });
    }
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    respond(code, "text/plain; charset=utf-8", body.into())
}

fn respond(code: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = code;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// The runtime routes (`/`, `/events`, and the STATE-CHANGING `POST /operator/*`, which
/// belong on the control socket) first, then this module's.
async fn route(api: &Api, req: Request<Incoming>) -> Response<crate::runtime_api::Body> {
    use http_body_util::BodyExt;
    if let Some(r) = crate::runtime_api::handle(&api.status, &req).await {
        return r;
    }
    handle(api, req).await.map(|b| b.boxed_unsync())
}

async fn handle(api: &Api, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let method = req.method();
    match (path, method) {
        ("/metrics", &Method::GET) => {
            let wants_openmetrics = req
                .headers()
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            metrics_response(api, wants_openmetrics).await
        }
        ("/status", &Method::GET) => match serde_json::to_vec(&api.status.snapshot()) {
            Ok(body) => respond(StatusCode::OK, "application/json", body.into()),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("status: {e}\n")),
        },
        ("/healthz", &Method::GET) => text(StatusCode::OK, "ok\n"),
        ("/reload", &Method::POST) => reload_response(api).await,
        ("/metrics" | "/status" | "/healthz" | "/reload", _) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /status, /healthz or POST /reload\n",
        ),
    }
}

async fn metrics_response(api: &Api, openmetrics: bool) -> Response<Full<Bytes>> {
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

async fn reload_response(api: &Api) -> Response<Full<Bytes>> {
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
