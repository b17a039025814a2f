//! One HTTP/2 request over an established connection (h2c with prior knowledge, or TLS with
//! ALPN `h2`), for gRPC health checks and the HTTP/2 option of `HTTP_GET` / `SSL_GET`. Built
//! on hyper's HTTP/2 client; the caller bounds the whole exchange in time, this bounds the body
//! in memory.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

/// What came back.
#[derive(Debug)]
pub(crate) struct H2Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// At most the requested number of bytes.
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// Aborts the connection task when the request is done or abandoned (timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `req` and reads the response, its body up to `max_body` bytes (the rest is not read)
/// and its trailers. Errors are operator sentences.
pub(crate) async fn send<IO>(
    io: IO,
    req: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<H2Response, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP/2 request: {e}"))?;
    let (parts, mut body) = resp.into_parts();
    let mut buf = BytesMut::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("HTTP/2 response body: {e}"))?;
        match frame.into_data() {
            Ok(d) => {
                let room = max_body.saturating_sub(buf.len());
                buf.extend_from_slice(&d[..d.len().min(room)]);
                if d.len() > room {
                    break;
                }
            }
            Err(f) => {
                if let Ok(t) = f.into_trailers() {
                    trailers = Some(t);
                }
            }
        }
    }
    Ok(H2Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: buf.freeze(),
        trailers,
    })
}
