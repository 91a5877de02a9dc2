//! Connection hijacking: `POST /containers/{id}/attach` (and, through [`hijack`], attached
//! `POST /exec/{id}/start`), plus resize, pause and unpause.
//!
//! The client asks for `Upgrade: tcp`; the answer is `101 UPGRADED` and from then on the HTTP
//! connection is a raw byte pipe. Everything the client writes is the process's stdin; a
//! half-close (the CLI's `CloseWrite` when its stdin ends) is stdin's end of file. Everything
//! the client reads is the process's output: Docker's stdcopy frames (8-byte header: stream
//! 1 or 2, three zero bytes, big-endian length) without a terminal, the raw bytes with one.
//!
//! The compute service's stream is connected before the 101 goes out, so a client that starts
//! the container as soon as the attach returns (the CLI does) loses no output.

use std::future::Future;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use silo_engine::{AttachOptions, AttachStream, LogOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

/// Content type of a hijacked stream with stdcopy frames.
const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
/// Content type of a hijacked terminal stream.
const RAW: &str = "application/vnd.docker.raw-stream";

pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    mut req: Request,
) -> Result<Response, ApiError> {
    let upgrade = upgrade_of(&mut req)?;
    let opts = AttachOptions {
        stdin: params.flag("stdin"),
        stdout: params.flag("stdout"),
        stderr: params.flag("stderr"),
    };
    let (stream_live, with_logs) = (params.flag("stream"), params.flag("logs"));
    if !stream_live && !with_logs {
        return Err(ApiError::invalid(
            "at least one of stream or logs must be set",
        ));
    }
    let c = state.engine.container(&id)?;
    let prelude = if with_logs {
        past_output(&state, &c.id, opts, c.config.tty).await?
    } else {
        Vec::new()
    };
    let attachment = if stream_live {
        Some(state.engine.attach_container(&c.id, opts).await?)
    } else {
        None
    };
    let tty = c.config.tty;
    let send_stdin = opts.stdin && c.config.open_stdin;
    Ok(hijack(upgrade, tty, move |client| async move {
        match attachment {
            Some(a) => splice(client, a.stream, tty, send_stdin, prelude, async {}).await,
            None => finish(client, &prelude).await,
        }
    }))
}

/// The upgrade handle hyper left in the request, or Docker's complaint when the client did
/// not ask to upgrade (dockerd would hijack anyway; hyper cannot).
pub(crate) fn upgrade_of(req: &mut Request) -> Result<OnUpgrade, ApiError> {
    let asked = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let on = req.extensions_mut().remove::<OnUpgrade>();
    match on {
        Some(on) if asked => Ok(on),
        _ => Err(ApiError::invalid(
            "this endpoint hijacks the connection: send Connection: Upgrade and Upgrade: tcp",
        )),
    }
}

/// Answers `101 UPGRADED` and runs `serve` on the raw connection once hyper hands it over.
pub(crate) fn hijack<F, Fut>(upgrade: OnUpgrade, tty: bool, serve: F) -> Response
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded)).await,
            Err(e) => tracing::debug!("attach: upgrade failed: {e}"),
        }
    });
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MULTIPLEXED }),
    );
    res
}

/// The container's logged output as the attach stream would have carried it (`logs=1`).
async fn past_output(
    state: &AppState,
    id: &str,
    opts: AttachOptions,
    tty: bool,
) -> Result<Vec<u8>, ApiError> {
    let log_opts = LogOptions {
        stdout: opts.stdout,
        stderr: opts.stderr,
        ..LogOptions::default()
    };
    let engine = state.engine.clone();
    let id = id.to_string();
    let lines = crate::blocking(move || engine.container_logs(&id, &log_opts)).await?;
    let mut out = Vec::new();
    for line in lines {
        let stream = match line.stream {
            silo_engine::LogStream::Stdout => 1,
            silo_engine::LogStream::Stderr => 2,
        };
        push_output(&mut out, stream, line.log.as_bytes(), tty);
    }
    Ok(out)
}

/// Appends one chunk of output in the client's format.
fn push_output(out: &mut Vec<u8>, stream: u8, data: &[u8], tty: bool) {
    if !tty {
        out.extend_from_slice(&[stream, 0, 0, 0]);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
}

async fn finish<C: AsyncWrite + Unpin>(mut client: C, prelude: &[u8]) {
    let _ = client.write_all(prelude).await;
    let _ = client.shutdown().await;
}

/// Pumps between the hijacked client and the process until the process's output ends:
/// stdin (when `send_stdin`) client → process with its end of file passed on as a half-close,
/// output process → client (headers stripped with a terminal). `before_close` runs between the
/// end of the output and the client's end of file, e.g. to wait for an exec's exit code.
pub(crate) async fn splice<C>(
    client: C,
    process: AttachStream,
    tty: bool,
    send_stdin: bool,
    prelude: Vec<u8>,
    before_close: impl Future<Output = ()>,
) where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut proc_r, mut proc_w) = process.into_split();
    let stdin = tokio::spawn(async move {
        if send_stdin {
            if let Err(e) = tokio::io::copy(&mut client_r, &mut proc_w).await {
                tracing::debug!("attach: stdin: {e}");
            }
            // The client's input ended: so does the process's, if it was opened stdin-once.
            let _ = proc_w.shutdown().await;
        }
        // Hold the write half until the output is done: dropping it would also half-close.
        std::future::pending::<()>().await;
    });
    if client_w.write_all(&prelude).await.is_ok() {
        let copied = if tty {
            copy_payloads(&mut proc_r, &mut client_w).await
        } else {
            tokio::io::copy(&mut proc_r, &mut client_w).await.map(drop)
        };
        if let Err(e) = copied {
            tracing::debug!("attach: output: {e}");
        }
    }
    before_close.await;
    stdin.abort();
    let _ = client_w.flush().await;
    let _ = client_w.shutdown().await;
}

/// Copies the payloads of stdcopy frames, dropping their headers (the terminal case).
async fn copy_payloads<R, W>(from: &mut R, to: &mut W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while left > 0 {
            let n = left.min(buf.len());
            from.read_exact(&mut buf[..n]).await?;
            to.write_all(&buf[..n]).await?;
            left -= n;
        }
        to.flush().await?;
    }
}

/// `h` and `w` of a resize request.
pub(crate) fn size_of(params: &Params) -> Result<(u16, u16), ApiError> {
    let dim = |key: &str| -> Result<u16, ApiError> {
        params
            .non_empty(key)
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid value for {key}")))
    };
    Ok((dim("w")?, dim("h")?))
}

pub async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (width, height) = size_of(&params)?;
    state.engine.resize_container(&id, width, height).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.engine.pause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.engine.unpause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn terminal_output_loses_its_frame_headers() {
        let mut framed = Vec::new();
        push_output(&mut framed, 1, b"hello ", false);
        push_output(&mut framed, 2, b"world", false);
        assert_eq!(&framed[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
        let mut out = Vec::new();
        copy_payloads(&mut &framed[..], &mut out).await.unwrap();
        assert_eq!(out, b"hello world");
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_error() {
        let framed = [1u8, 0, 0, 0, 0, 0, 0, 9, b'a'];
        let mut out = Vec::new();
        assert!(copy_payloads(&mut &framed[..], &mut out).await.is_err());
    }

    #[test]
    fn resize_needs_numbers() {
        let p = Params::from_pairs([("h", "24"), ("w", "80")]);
        assert_eq!(size_of(&p).unwrap(), (80, 24));
        let p = Params::from_pairs([("h", "x")]);
        assert_eq!(size_of(&p).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
