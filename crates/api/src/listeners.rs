//! Where the API is served: unix sockets and TCP (plain or TLS), with graceful shutdown.
//!
//! Every connection is served by hyper-util's auto builder (HTTP/1.1 and h2c) with upgrades
//! enabled, so handlers can hijack the connection for attach/exec.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use silo_errdefs::ErrorKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::error::ApiError;
use crate::tls::TlsConfig;

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections (hijacked streams never finish on their own).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One address to serve the API on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listener {
    /// A unix socket; a stale socket file is replaced, a live one is an error. `mode` is applied
    /// to the socket file (dockerd uses 0660, owner root).
    Unix { path: PathBuf, mode: u32 },
    /// A TCP address, plain or TLS.
    Tcp {
        addr: SocketAddr,
        tls: Option<TlsConfig>,
    },
}

enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// Serve `router` on `listeners` until `shutdown` completes, then stop accepting, let open
/// connections finish (for up to [`DRAIN_TIMEOUT`]) and remove the unix socket files.
pub async fn serve_router(
    router: Router,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ApiError> {
    if listeners.is_empty() {
        return Err(ApiError::invalid("no listeners configured"));
    }
    let mut bound = Vec::with_capacity(listeners.len());
    for listener in &listeners {
        bound.push(bind(listener).await?);
    }
    let sockets: Vec<PathBuf> = bound
        .iter()
        .filter_map(|b| match b {
            Bound::Unix(_, path) => Some(path.clone()),
            Bound::Tcp(..) => None,
        })
        .collect();

    let (stop_tx, stop) = watch::channel(false);
    // Every connection holds a clone of `drain`; when all are gone, `drained` yields `None`.
    let (drain, mut drained) = mpsc::channel::<()>(1);
    let ctx = ConnContext {
        router,
        stop,
        _drain: drain,
    };
    let mut loops = JoinSet::new();
    for b in bound {
        loops.spawn(accept_loop(b, ctx.clone()));
    }
    drop(ctx);
    shutdown.await;
    tracing::info!("API shutting down");
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    if tokio::time::timeout(DRAIN_TIMEOUT, drained.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            "API shutdown: connections still open after {DRAIN_TIMEOUT:?}, not waiting any longer"
        );
    }
    for path in sockets {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::debug!("remove {}: {e}", path.display());
        }
    }
    Ok(())
}

async fn bind(listener: &Listener) -> Result<Bound, ApiError> {
    match listener {
        Listener::Unix { path, mode } => bind_unix(path, *mode).await,
        Listener::Tcp { addr, tls } => {
            let acceptor = tls.as_ref().map(TlsConfig::acceptor).transpose()?;
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|e| io_error(&format!("listen on tcp://{addr}"), e))?;
            tracing::info!(tls = acceptor.is_some(), "API listening on tcp://{addr}");
            Ok(Bound::Tcp(tcp, acceptor))
        }
    }
}

async fn bind_unix(path: &Path, mode: u32) -> Result<Bound, ApiError> {
    let what = format!("listen on unix://{}", path.display());
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ApiError::new(
                ErrorKind::AlreadyExists,
                format!("{what}: another daemon is listening on it"),
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| io_error(&format!("{what}: remove stale socket"), e))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(&format!("{what}: create {}", dir.display()), e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| io_error(&what, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_error(&format!("{what}: chmod {mode:o}"), e))?;
    // Owner root (group root) when running as root; an unprivileged daemon keeps its own.
    let meta = std::fs::metadata(path).map_err(|e| io_error(&what, e))?;
    if meta.uid() == 0 && meta.gid() != 0 {
        std::os::unix::fs::chown(path, Some(0), Some(0))
            .map_err(|e| io_error(&format!("{what}: chown"), e))?;
    }
    tracing::info!("API listening on unix://{}", path.display());
    Ok(Bound::Unix(listener, path.to_path_buf()))
}

fn io_error(what: &str, err: io::Error) -> ApiError {
    let kind = match err.kind() {
        io::ErrorKind::AddrInUse => ErrorKind::AlreadyExists,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::NotFound => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    ApiError::new(kind, format!("{what}: {err}"))
}

/// What each connection needs: the service, the stop signal, and a drain guard.
#[derive(Clone)]
struct ConnContext {
    router: Router,
    stop: watch::Receiver<bool>,
    _drain: mpsc::Sender<()>,
}

async fn accept_loop(bound: Bound, mut ctx: ConnContext) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut ctx.stop) => return,
            accepted = accept(&bound) => accepted,
        };
        match accepted {
            Ok(Accepted::Unix(stream)) => spawn_connection(stream, ctx.clone()),
            Ok(Accepted::Tcp(stream, None)) => spawn_connection(stream, ctx.clone()),
            Ok(Accepted::Tcp(stream, Some(acceptor))) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => spawn_connection(tls, ctx),
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("API accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Accepted {
    Unix(UnixStream),
    Tcp(tokio::net::TcpStream, Option<TlsAcceptor>),
}

async fn accept(bound: &Bound) -> io::Result<Accepted> {
    match bound {
        Bound::Unix(listener, _) => Ok(Accepted::Unix(listener.accept().await?.0)),
        Bound::Tcp(listener, tls) => {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok(Accepted::Tcp(stream, tls.clone()))
        }
    }
}

fn spawn_connection<I>(io: I, mut ctx: ConnContext)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(io),
            TowerToHyperService::new(ctx.router.clone()),
        );
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stopped(&mut ctx.stop) => {
                // Finish the request in flight, then close.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!("API connection ended: {e}");
        }
    });
}

/// Resolves once shutdown has been signalled (or the signal is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
