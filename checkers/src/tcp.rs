//! `TCP_CHECK`, and the connect step every TCP-based checker shares (bind address, port,
//! interface and fwmark applied before connecting to the exact target).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};

use crate::outcome::{FailReason, Outcome};
use crate::spec::{Bind, Spec};

/// Connects to `target` from `bind` within `timeout`.
pub(crate) async fn connect(
    target: SocketAddr,
    bind: &Bind,
    timeout: Duration,
) -> Result<TcpStream, FailReason> {
    let sock =
        socket(target, bind).map_err(|e| FailReason::Connect(format!("socket setup: {e}")))?;
    match tokio::time::timeout(timeout, sock.connect(target)).await {
        Err(_) => Err(FailReason::ConnectTimeout(timeout)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(FailReason::ConnectRefused)
        }
        Ok(Err(e)) => Err(FailReason::Connect(e.to_string())),
        Ok(Ok(stream)) => {
            // Checks are request/response: do not let Nagle delay the request.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

fn socket(target: SocketAddr, bind: &Bind) -> io::Result<TcpSocket> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    apply_bind(&SockRef::from(&sock), bind)?;
    if bind.addr.is_some() || bind.port.is_some() {
        if bind.port.is_some() {
            sock.set_reuseaddr(true)?;
        }
        let ip = bind.addr.unwrap_or(if target.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        });
        sock.bind(SocketAddr::new(ip, bind.port.unwrap_or(0)))?;
    }
    Ok(sock)
}

/// Interface and mark, for any socket kind.
pub(crate) fn apply_bind(sock: &SockRef<'_>, bind: &Bind) -> io::Result<()> {
    if let Some(ifname) = &bind.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    if let Some(mark) = bind.fwmark {
        sock.set_mark(mark)?;
    }
    Ok(())
}

/// `TCP_CHECK`: passes when the connection is accepted within `connect_timeout`.
pub async fn check(spec: &Spec) -> Outcome {
    connect(spec.target, &spec.bind, spec.timing.connect_timeout)
        .await
        .map(drop)
        .into()
}
