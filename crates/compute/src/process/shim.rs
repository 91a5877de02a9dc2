//! Talking to one container's `silo-shim`: starting it, one-shot requests, waiting for the exit,
//! and `silo-shim cleanup` when it died.
//!
//! One-shot requests open a fresh connection each time, on a blocking thread: the shim serves
//! every connection on a thread of its own, a connection costs a socket and a hello, and no
//! connection state can go stale across a daemon restart. `wait` instead speaks the protocol
//! asynchronously on tokio's socket, because it may block for the container's whole life and
//! must not pin one of tokio's blocking threads per container.

use std::io;
use std::path::{Path, PathBuf};

use silo_errdefs::{ErrorKind, HasKind};
use silo_shim::protocol::{AttachReply, AttachRequest, Request, Response, PROTOCOL_VERSION};
use silo_shim::{ClientError, ExitRecord, ShimClient, StateInfo};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::error::{Cause, ComputeError};
use crate::state::Operation;

/// A shim request failed; carries the shim's own error and its class.
pub fn shim_error(op: Operation, id: &str, e: ClientError) -> ComputeError {
    ComputeError::new(
        op,
        id,
        Cause::Backend {
            kind: e.kind(),
            source: Box::new(e),
        },
    )
}

/// A failure of the shim binary itself (it could not be run or refused the container).
pub fn exec_error(op: Operation, id: &str, message: String) -> ComputeError {
    ComputeError::new(
        op,
        id,
        Cause::Backend {
            kind: ErrorKind::Internal,
            source: message.into(),
        },
    )
}

/// How `silo-shim run` wires the first process's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunIo {
    /// Keep stdin open for attached clients.
    pub open_stdin: bool,
    /// A client's half-close closes stdin.
    pub stdin_once: bool,
    /// A pseudo-terminal (config.json says `process.terminal`).
    pub tty: bool,
}

impl RunIo {
    /// The wiring a process's parameters ask for.
    pub fn of(params: &crate::document::ProcessParameters) -> Self {
        RunIo {
            open_stdin: params.open_stdin,
            stdin_once: params.stdin_once,
            tty: params.terminal,
        }
    }
}

/// Paths of one container's shim.
#[derive(Debug, Clone)]
pub struct ShimPaths {
    /// The shim binary.
    pub binary: PathBuf,
    /// Bundle and shim state share one directory, `<state_root>/<id>`, to keep the socket path
    /// short (`sun_path` holds 108 bytes).
    pub dir: PathBuf,
}

impl ShimPaths {
    /// `<dir>/shim.sock`.
    pub fn socket(&self) -> PathBuf {
        self.dir.join(silo_shim::SOCKET_FILE)
    }

    /// Runs `silo-shim run --no-start` and returns once the container is Created.
    pub async fn run(
        &self,
        id: &str,
        io: RunIo,
        log: &crate::document::LogSettings,
    ) -> Result<(), ComputeError> {
        // `=` form: clap would read a separate `-1` as a flag.
        let max_size = format!(
            "--log-max-size={}",
            log.max_size.map_or("-1".to_string(), |n| n.to_string())
        );
        let max_file = format!("--log-max-file={}", log.max_file.max(1));
        let mut args = vec!["run", "--no-start", max_size.as_str(), max_file.as_str()];
        if io.open_stdin {
            args.push("--open-stdin");
        }
        if io.stdin_once {
            args.push("--stdin-once");
        }
        if io.tty {
            args.push("--tty");
        }
        self.invoke(Operation::Create, id, &args).await
    }

    /// Runs `silo-shim cleanup`: kills what is left of a container whose shim died, removes its
    /// cgroups and leaves an exit record (SIGKILL) if the shim wrote none.
    pub async fn cleanup(&self, op: Operation, id: &str) -> Result<(), ComputeError> {
        self.invoke(op, id, &["cleanup"]).await
    }

    /// Runs `silo-shim VERB [flags] --id ID --bundle DIR --state DIR` and turns a failure into
    /// an error carrying the shim's own message.
    async fn invoke(&self, op: Operation, id: &str, verb: &[&str]) -> Result<(), ComputeError> {
        let out = tokio::process::Command::new(&self.binary)
            .args(verb)
            .args(["--id", id, "--bundle"])
            .arg(&self.dir)
            .arg("--state")
            .arg(&self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|source| {
                ComputeError::new(
                    op,
                    id,
                    Cause::Io {
                        action: "run",
                        path: self.binary.clone(),
                        source,
                    },
                )
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(exec_error(
            op,
            id,
            format!(
                "{} {}: {}",
                self.binary.display(),
                verb[0],
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }

    /// One request on a fresh blocking connection.
    pub async fn call<T, F>(&self, op: Operation, id: &str, f: F) -> Result<T, ClientError>
    where
        T: Send + 'static,
        F: FnOnce(&mut ShimClient) -> Result<T, ClientError> + Send + 'static,
    {
        let socket = self.socket();
        let joined = tokio::task::spawn_blocking(move || {
            let mut client = ShimClient::connect(&socket)?;
            f(&mut client)
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(ClientError::Io {
                socket: self.socket(),
                op: op.as_str(),
                source: io::Error::other(format!("client thread for {id}: {e}")),
            })
        })
    }

    /// Attaches on `<dir>/attach.sock` and completes the handshake: what is left to read is
    /// frames only.
    /// Returns the stream and, when the request started an exec, its pid.
    pub async fn attach(
        &self,
        req: &AttachRequest,
    ) -> Result<(tokio::net::UnixStream, Option<i32>), ClientError> {
        let socket = self.dir.join(silo_shim::ATTACH_SOCKET_FILE);
        let io_err = |op: &'static str| {
            let socket = socket.clone();
            move |source: io::Error| ClientError::Io { socket, op, source }
        };
        let mut stream = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(io_err("connect"))?;
        let mut line =
            serde_json::to_vec(req).map_err(|e| io_err("encode")(io::Error::other(e)))?;
        line.push(b'\n');
        stream.write_all(&line).await.map_err(io_err("send"))?;
        // Byte by byte: a buffered reader would swallow the first frames.
        let mut reply = Vec::new();
        loop {
            let byte = stream.read_u8().await.map_err(io_err("receive"))?;
            if byte == b'\n' {
                break;
            }
            reply.push(byte);
            if reply.len() > silo_shim::protocol::MAX_MESSAGE {
                let e = io::Error::new(io::ErrorKind::InvalidData, "attach reply too long");
                return Err(io_err("receive")(e));
            }
        }
        let reply: AttachReply = serde_json::from_slice(&reply)
            .map_err(|e| io_err("decode")(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        match reply {
            AttachReply::Attached { pid, .. } => Ok((stream, pid)),
            AttachReply::Error { error } => Err(ClientError::Shim {
                socket,
                source: error,
            }),
        }
    }

    /// The shim's view of the container.
    pub async fn state(&self, op: Operation, id: &str) -> Result<StateInfo, ClientError> {
        self.call(op, id, |c| c.state()).await
    }

    /// Waits for the exit over an async connection.
    pub async fn wait(&self) -> Result<ExitRecord, ClientError> {
        self.wait_for(Request::Wait).await
    }

    /// Waits for exec `id`'s exit over an async connection.
    pub async fn exec_wait(&self, id: &str) -> Result<ExitRecord, ClientError> {
        self.wait_for(Request::ExecWait { id: id.into() }).await
    }

    /// Sends a request answered with an exit record, possibly much later, on an async
    /// connection of its own.
    async fn wait_for(&self, wait: Request) -> Result<ExitRecord, ClientError> {
        let socket = self.socket();
        let io_err = |op: &'static str| {
            let socket = socket.clone();
            move |source: io::Error| ClientError::Io { socket, op, source }
        };
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(io_err("connect"))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        // Both requests in one write; the shim answers them in order.
        let mut out = String::new();
        for req in [
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
            wait,
        ] {
            let line =
                serde_json::to_string(&req).map_err(|e| io_err("encode")(io::Error::other(e)))?;
            out.push_str(&line);
            out.push('\n');
        }
        write
            .write_all(out.as_bytes())
            .await
            .map_err(io_err("send"))?;
        // Two responses in order: Hello, then Exit (or an Error for either).
        for _ in 0..2 {
            let line = lines
                .next_line()
                .await
                .map_err(io_err("receive"))?
                .ok_or_else(|| {
                    io_err("receive")(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "shim closed the connection",
                    ))
                })?;
            let resp: Response = serde_json::from_str(&line)
                .map_err(|e| io_err("decode")(io::Error::new(io::ErrorKind::InvalidData, e)))?;
            match resp {
                Response::Hello { .. } => continue,
                Response::Exit(exit) => return Ok(exit),
                Response::Error(source) => return Err(ClientError::Shim { socket, source }),
                other => {
                    return Err(ClientError::Unexpected {
                        socket,
                        request: "wait",
                        response: format!("{other:?}"),
                    })
                }
            }
        }
        Err(ClientError::Unexpected {
            socket,
            request: "wait",
            response: "no exit after hello".into(),
        })
    }
}

/// Whether a client error means "nobody is listening": the shim is gone.
pub fn shim_gone(e: &ClientError) -> bool {
    matches!(e, ClientError::Io { op: "connect", .. })
}

/// Whether the connection broke mid-request (reset, closed, broken pipe) rather than the shim
/// answering: the shim may be dying, or gone by the time we ask again.
pub fn broken(e: &ClientError) -> bool {
    matches!(e, ClientError::Io { source, .. } if matches!(
        source.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe
    ))
}

/// Reads `<dir>/exit.json`, mapping failures to a compute error.
pub fn read_exit(op: Operation, id: &str, dir: &Path) -> Result<Option<ExitRecord>, ComputeError> {
    silo_shim::exit::read_exit(dir).map_err(|source| {
        ComputeError::new(
            op,
            id,
            Cause::Io {
                action: "read",
                path: dir.join(silo_shim::EXIT_FILE),
                source,
            },
        )
    })
}
