//! A blocking client for `<state>/shim.sock`, for the daemon and for tests.
//!
//! Blocking on purpose: each call is one short line each way, except `wait`, which a caller
//! runs on a connection (and thread) of its own.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use silo_errdefs::{ErrorKind, HasKind};

use crate::protocol::{
    self, AttachReply, AttachRequest, ExecInfo, ExecSpec, ExitRecord, ProtocolError, Request,
    Response, StateInfo, PROTOCOL_VERSION,
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

    /// Starts a detached exec; returns its pid.
    pub fn exec(&mut self, spec: ExecSpec) -> Result<i32, ClientError> {
        match self.call(&Request::Exec(spec))? {
            Response::ExecStarted { pid } => Ok(pid),
            other => Err(self.unexpected("exec", &other)),
        }
    }

    /// An exec's pid and, once it exited, its exit record.
    pub fn exec_state(&mut self, id: &str) -> Result<ExecInfo, ClientError> {
        match self.call(&Request::ExecState { id: id.into() })? {
            Response::ExecState(info) => Ok(info),
            other => Err(self.unexpected("exec_state", &other)),
        }
    }

    /// Blocks until an exec has exited.
    pub fn exec_wait(&mut self, id: &str) -> Result<ExitRecord, ClientError> {
        match self.call(&Request::ExecWait { id: id.into() })? {
            Response::Exit(exit) => Ok(exit),
            other => Err(self.unexpected("exec_wait", &other)),
        }
    }

    /// Signals an exec.
    pub fn exec_kill(&mut self, id: &str, signal: i32) -> Result<(), ClientError> {
        let req = Request::ExecKill {
            id: id.into(),
            signal,
        };
        self.done(&req, "exec_kill")
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

/// An attach connection past its handshake.
#[derive(Debug)]
pub struct Attached {
    /// Frames to read with [`read_frame`]; bytes written are stdin.
    pub conn: UnixStream,
    /// The process has a terminal (all output is stream 1).
    pub tty: bool,
    /// The exec's pid, when the request started one.
    pub pid: Option<i32>,
}

/// Attaches to a process's streams on `<state>/attach.sock` (blocking), or starts an exec on
/// the connection when `req.exec` is set.
pub fn attach(socket: &Path, req: &AttachRequest) -> Result<Attached, ClientError> {
    let io_err = |op| {
        let socket = socket.to_path_buf();
        move |source| ClientError::Io { socket, op, source }
    };
    let mut conn = UnixStream::connect(socket).map_err(io_err("connect"))?;
    protocol::write_message(&mut conn, req).map_err(io_err("send"))?;
    let line = read_reply_line(&mut conn).map_err(io_err("receive"))?;
    let reply: AttachReply = serde_json::from_slice(&line)
        .map_err(|e| io_err("decode")(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    match reply {
        AttachReply::Attached { tty, pid, .. } => Ok(Attached { conn, tty, pid }),
        AttachReply::Error { error } => Err(ClientError::Shim {
            socket: socket.to_path_buf(),
            source: error,
        }),
    }
}

/// Reads the handshake's reply one byte at a time: the frames that follow must stay unread.
fn read_reply_line(conn: &mut UnixStream) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if conn.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "shim closed the attach connection",
            ));
        }
        if byte[0] == b'\n' {
            return Ok(line);
        }
        line.push(byte[0]);
        if line.len() > protocol::MAX_MESSAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
        }
    }
}

/// Reads one stdcopy frame: `(stream, payload)`, or `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Writes one stdcopy frame (for tests and tools that produce the format).
pub fn write_frame(w: &mut impl Write, stream: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    w.write_all(&protocol::frame_header(stream, len))?;
    w.write_all(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 1, b"out").unwrap();
        write_frame(&mut buf, 2, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((1, b"out".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((2, Vec::new())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        assert!(read_frame(&mut &buf[..5]).is_err());
    }
}
