//! A blocking client for `<state>/shim.sock`, for the daemon and for tests.
//!
//! Blocking on purpose: each call is one short line each way, except `wait`, which a caller
//! runs on a connection (and thread) of its own.

use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use silo_errdefs::{ErrorKind, HasKind};

use crate::protocol::{
    self, ExitRecord, ProtocolError, Request, Response, StateInfo, PROTOCOL_VERSION,
};

/// Failures talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached or the connection broke.
    #[error("shim {socket}: {op}: {source}")]
    Io {
        /// Socket path.
        socket: PathBuf,
        /// What we were doing.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The shim answered with an error.
    #[error("shim {socket}: {source}")]
    Shim {
        /// Socket path.
        socket: PathBuf,
        /// The shim's typed error.
        #[source]
        source: ProtocolError,
    },
    /// The shim's answer made no sense for the request.
    #[error("shim {socket}: unexpected response to {request}: {response}")]
    Unexpected {
        /// Socket path.
        socket: PathBuf,
        /// The request's name.
        request: &'static str,
        /// The response, as text.
        response: String,
    },
}

impl HasKind for ClientError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Io { .. } => ErrorKind::Unavailable,
            ClientError::Shim { source, .. } => source.kind(),
            ClientError::Unexpected { .. } => ErrorKind::Internal,
        }
    }
}

/// A connection to one shim, past the `Hello`.
#[derive(Debug)]
pub struct ShimClient {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    shim_pid: u32,
}

impl ShimClient {
    /// Connects and says hello with this build's protocol version.
    pub fn connect(socket: &Path) -> Result<Self, ClientError> {
        Self::connect_with_version(socket, PROTOCOL_VERSION)
    }

    /// Connects claiming `version` (tests use it to check the mismatch path).
    pub fn connect_with_version(socket: &Path, version: u32) -> Result<Self, ClientError> {
        let io_err = |op| {
            let socket = socket.to_path_buf();
            move |source| ClientError::Io { socket, op, source }
        };
        let writer = UnixStream::connect(socket).map_err(io_err("connect"))?;
        let reader = BufReader::new(writer.try_clone().map_err(io_err("connect"))?);
        let mut client = ShimClient {
            socket: socket.to_path_buf(),
            reader,
            writer,
            shim_pid: 0,
        };
        match client.call(&Request::Hello { version })? {
            Response::Hello { shim_pid, .. } => {
                client.shim_pid = shim_pid;
                Ok(client)
            }
            other => Err(client.unexpected("hello", &other)),
        }
    }

    /// The shim's pid, as it reported in `Hello`.
    pub fn shim_pid(&self) -> u32 {
        self.shim_pid
    }

    /// Sends one request and reads its response; a [`Response::Error`] becomes `Err`.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let socket = &self.socket;
        let io_err = |op| {
            move |source| ClientError::Io {
                socket: socket.clone(),
                op,
                source,
            }
        };
        protocol::write_message(&mut self.writer, req).map_err(io_err("send"))?;
        let line = protocol::read_line(&mut self.reader)
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
            Response::Error(source) => Err(ClientError::Shim {
                socket: self.socket.clone(),
                source,
            }),
            resp => Ok(resp),
        }
    }

    /// The container's state.
    pub fn state(&mut self) -> Result<StateInfo, ClientError> {
        match self.call(&Request::State)? {
            Response::State(info) => Ok(info),
            other => Err(self.unexpected("state", &other)),
        }
    }

    /// Starts a container created with `--no-start`.
    pub fn start(&mut self) -> Result<(), ClientError> {
        self.done(&Request::Start, "start")
    }

    /// Signals PID 1 (or every process with `all`).
    pub fn kill(&mut self, signal: i32, all: bool) -> Result<(), ClientError> {
        self.done(&Request::Kill { signal, all }, "kill")
    }

    /// Closes the container's stdin.
    pub fn close_stdin(&mut self) -> Result<(), ClientError> {
        self.done(&Request::CloseStdin, "close_stdin")
    }

    /// Blocks until the container has exited.
    pub fn wait(&mut self) -> Result<ExitRecord, ClientError> {
        match self.call(&Request::Wait)? {
            Response::Exit(exit) => Ok(exit),
            other => Err(self.unexpected("wait", &other)),
        }
    }

    /// Tells the shim to exit (the container must have stopped).
    pub fn shutdown(&mut self) -> Result<(), ClientError> {
        self.done(&Request::Shutdown, "shutdown")
    }

    fn done(&mut self, req: &Request, name: &'static str) -> Result<(), ClientError> {
        match self.call(req)? {
            Response::Done => Ok(()),
            other => Err(self.unexpected(name, &other)),
        }
    }

    fn unexpected(&self, request: &'static str, resp: &Response) -> ClientError {
        ClientError::Unexpected {
            socket: self.socket.clone(),
            request,
            response: format!("{resp:?}"),
        }
    }
}
