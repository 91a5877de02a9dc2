//! The shim ↔ daemon protocol, spoken over `<state>/shim.sock`.
//!
//! Framing: one JSON document per line, in both directions; every request gets exactly one
//! response, in order. A connection must open with [`Request::Hello`]; the shim refuses a client
//! speaking another [`PROTOCOL_VERSION`] with [`ProtocolError::VersionMismatch`] and closes the
//! connection, so mismatched daemon and shim binaries fail loudly instead of misreading fields.
//!
//! Lifecycle seen through the protocol: `Created` (only with `run --no-start`) → `Start` →
//! `Running` (⇄ `Pause`/`Resume` → `Paused`) → the container exits → the shim writes `exit.json`, then reports `Stopped` with its
//! [`ExitRecord`] → `Shutdown`. Until `Shutdown` the shim keeps answering `State` and `Wait`, so a
//! daemon restarted after the exit still learns it.
//!
//! Bump [`PROTOCOL_VERSION`] on any change a peer of the previous version would misread; adding
//! an optional response field is not such a change.
//!
//! # Attach (`<state>/attach.sock`)
//!
//! A second socket carries a process's live streams. The client sends one [`AttachRequest`] line
//! and the shim answers one [`AttachReply`] line; from then on the connection is binary. The shim
//! sends the output in Docker's stdcopy framing ([`frame_header`]: stream 1 stdout, 2 stderr;
//! with a terminal everything is stream 1), only the streams asked for, every chunk produced
//! after the attach. The client's bytes are the process's stdin (when asked for and the process
//! has one); its half-close ends its stdin copy and, for a container started with
//! `--stdin-once` or for an exec, closes the process's stdin. Once the process has exited and
//! its output was drained the shim closes the connection: the client reads end-of-file. The log
//! stays authoritative: a client that falls more than [`ATTACH_BUFFER`] behind for longer than
//! a few seconds is disconnected rather than stalling the container.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use silo_errdefs::{ErrorKind, HasKind};

/// The version this build speaks.
pub const PROTOCOL_VERSION: u32 = 2;

/// Longest line either side accepts; requests and responses are all tiny.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// A request from the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Must come first on every connection.
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// Where is the container? Answered with [`Response::State`].
    State,
    /// Start a container created with `--no-start`.
    Start,
    /// Send `signal` to the container's PID 1, or with `all` to every process in its cgroup.
    Kill {
        /// Signal number (15 = SIGTERM, 9 = SIGKILL).
        signal: i32,
        /// Signal every process of the container, not just PID 1.
        #[serde(default)]
        all: bool,
    },
    /// Freeze every process of the container (cgroup freezer): Running → Paused.
    Pause,
    /// Thaw a paused container: Paused → Running.
    Resume,
    /// Resize the container's pty.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Close the shim's end of the container's stdin, so it reads EOF once the daemon's writer
    /// closes too. With a terminal, which cannot be half-closed, the terminal's end-of-file
    /// character (^D) is typed instead.
    CloseStdin,
    /// Block until the container has exited; answered with [`Response::Exit`].
    Wait,
    /// Start a detached exec (stdio on /dev/null); answered with [`Response::ExecStarted`].
    /// An attached exec is started on `attach.sock` instead ([`AttachRequest::exec`]).
    Exec(ExecSpec),
    /// Where is exec `id`? Answered with [`Response::ExecState`].
    ExecState {
        /// The exec's id.
        id: String,
    },
    /// Block until exec `id` has exited; answered with [`Response::Exit`].
    ExecWait {
        /// The exec's id.
        id: String,
    },
    /// Send `signal` to exec `id`; [`ProtocolError::NoSuchExec`] once it has exited.
    ExecKill {
        /// The exec's id.
        id: String,
        /// Signal number.
        signal: i32,
    },
    /// Resize exec `id`'s pty.
    ExecResize {
        /// The exec's id.
        id: String,
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Close exec `id`'s stdin.
    ExecCloseStdin {
        /// The exec's id.
        id: String,
    },
    /// Stop serving and exit. Only allowed once the container has stopped.
    Shutdown,
}

/// A process to add to the running container (exec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The caller's name for it, unique within this shim: `[A-Za-z0-9_.-]`, at most 64 bytes.
    pub id: String,
    /// The OCI runtime-spec `process` object (args, env, cwd, user, capabilities, terminal,
    /// consoleSize, ...); the runtime joins the container's namespaces and cgroup with it.
    pub process: serde_json::Value,
}

impl ExecSpec {
    /// Whether `process.terminal` asks for a pty.
    pub fn terminal(&self) -> bool {
        self.process
            .get("terminal")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// Checks the id, which names files in the state directory.
    pub fn check_id(&self) -> Result<(), ProtocolError> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 64
            && !self.id.starts_with('.')
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(ProtocolError::BadRequest {
                message: format!("invalid exec id {:?}", self.id),
            })
        }
    }
}

/// Answer to [`Request::ExecState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecInfo {
    /// The exec's id.
    pub id: String,
    /// Its host pid.
    pub pid: i32,
    /// Set once it has exited.
    pub exit: Option<ExitRecord>,
}

/// The container's status as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created by the runtime, PID 1 not yet executing the user's program.
    Created,
    /// Running the user's program.
    Running,
    /// Every process is frozen.
    Paused,
    /// Exited; the exit record is final.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// How the container ended; also the content of `<state>/exit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code, or 128 + signal when killed (the shell's and Docker's convention).
    pub code: i32,
    /// The signal that killed PID 1, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// When the shim reaped PID 1.
    pub exited_at: DateTime<Utc>,
    /// The kernel's OOM killer fired in the container's memory cgroup.
    #[serde(default)]
    pub oom_killed: bool,
}

/// Answer to [`Request::State`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInfo {
    /// Container id.
    pub id: String,
    /// Current status.
    pub status: Status,
    /// Host pid of the container's PID 1 (also reported after the exit, for the record).
    pub pid: Option<i32>,
    /// Set once `status` is `Stopped`.
    pub exit: Option<ExitRecord>,
}

/// A response from the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Answer to `Hello`.
    Hello {
        /// The shim's [`PROTOCOL_VERSION`].
        version: u32,
        /// Container id.
        id: String,
        /// The shim's own pid.
        shim_pid: u32,
    },
    /// Answer to `State`.
    State(StateInfo),
    /// The request was carried out.
    Done,
    /// Answer to `Wait` and `ExecWait`.
    Exit(ExitRecord),
    /// Answer to `Exec`: the exec runs.
    ExecStarted {
        /// Its host pid.
        pid: i32,
    },
    /// Answer to `ExecState`.
    ExecState(ExecInfo),
    /// The request failed.
    Error(ProtocolError),
}

/// Why a request failed, as a typed variant the daemon can match on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProtocolError {
    /// The peers speak different protocol versions.
    #[error("shim protocol version mismatch: shim speaks {shim}, client {client}")]
    VersionMismatch {
        /// The shim's version.
        shim: u32,
        /// The client's version.
        client: u32,
    },
    /// A request other than `Hello` opened the connection.
    #[error("shim protocol: the first request must be hello")]
    HelloRequired,
    /// The line was not a request this shim understands.
    #[error("shim protocol: bad request: {message}")]
    BadRequest {
        /// The decoder's complaint.
        message: String,
    },
    /// The container is not in a status that allows the operation.
    #[error("cannot {op} container {id}: it is {status}")]
    FailedPrecondition {
        /// The refused operation.
        op: String,
        /// Container id.
        id: String,
        /// Its current status.
        status: Status,
    },
    /// The shim does not support this yet.
    #[error("{what} is not implemented by this shim")]
    NotImplemented {
        /// What was asked for.
        what: String,
    },
    /// The process has no terminal to resize.
    #[error("{what} has no terminal")]
    NoTerminal {
        /// The container or exec.
        what: String,
    },
    /// The process has no stdin to close.
    #[error("{what} has no stdin")]
    NoStdin {
        /// The container or exec.
        what: String,
    },
    /// No exec of that id, or (for signals) it has exited.
    #[error("exec {id} does not exist or has exited")]
    NoSuchExec {
        /// The exec's id.
        id: String,
    },
    /// An exec of that id exists already.
    #[error("exec {id} already exists")]
    ExecExists {
        /// The exec's id.
        id: String,
    },
    /// The runtime failed to carry out the operation.
    #[error("{op} container {id}: {message}")]
    Runtime {
        /// The failed operation.
        op: String,
        /// Container id.
        id: String,
        /// The runtime's error chain.
        message: String,
    },
}

impl HasKind for ProtocolError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProtocolError::VersionMismatch { .. } => ErrorKind::Unavailable,
            ProtocolError::HelloRequired | ProtocolError::BadRequest { .. } => {
                ErrorKind::InvalidArgument
            }
            ProtocolError::FailedPrecondition { .. }
            | ProtocolError::NoTerminal { .. }
            | ProtocolError::NoStdin { .. } => ErrorKind::FailedPrecondition,
            ProtocolError::NoSuchExec { .. } => ErrorKind::NotFound,
            ProtocolError::ExecExists { .. } => ErrorKind::AlreadyExists,
            ProtocolError::NotImplemented { .. } => ErrorKind::NotImplemented,
            ProtocolError::Runtime { .. } => ErrorKind::Internal,
        }
    }
}

/// Bytes one attached client may have queued before the output pump waits for it; a client
/// that stays this far behind is disconnected.
pub const ATTACH_BUFFER: usize = 1024 * 1024;

/// stdcopy stream number of standard output (and of a terminal's output).
pub const STREAM_STDOUT: u8 = 1;
/// stdcopy stream number of standard error.
pub const STREAM_STDERR: u8 = 2;

/// The 8-byte stdcopy header before `len` bytes of `stream`: `[stream, 0, 0, 0, len (u32 BE)]`.
pub fn frame_header(stream: u8, len: u32) -> [u8; 8] {
    let n = len.to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// The one line a client sends on `attach.sock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// Copy the client's bytes to the process's stdin.
    #[serde(default)]
    pub stdin: bool,
    /// Send standard output (stream 1).
    #[serde(default)]
    pub stdout: bool,
    /// Send standard error (stream 2).
    #[serde(default)]
    pub stderr: bool,
    /// Start this exec with its streams on this connection (connected before it runs, so no
    /// output is lost), instead of attaching to the container's first process. Its stdin is
    /// closed when the client half-closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSpec>,
}

/// The one line the shim answers on `attach.sock`: `{"ok":true,"tty":…}` or `{"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttachReply {
    /// Attached; binary frames follow.
    Attached {
        /// Always true; tells the two shapes apart on the wire.
        ok: bool,
        /// The process has a terminal: all output is stream 1.
        tty: bool,
        /// The exec's host pid, when the request started one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
    },
    /// Refused; the shim closes the connection.
    Error {
        /// Why.
        error: ProtocolError,
    },
}

impl AttachReply {
    /// A successful reply.
    pub fn attached(tty: bool) -> Self {
        AttachReply::Attached {
            ok: true,
            tty,
            pid: None,
        }
    }
}

/// Checks a client's `Hello`.
pub fn check_version(client: u32) -> Result<(), ProtocolError> {
    if client == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ProtocolError::VersionMismatch {
            shim: PROTOCOL_VERSION,
            client,
        })
    }
}

/// Writes one message as a line.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Reads one line; `Ok(None)` at a clean end of stream. Longer lines than [`MAX_MESSAGE`] fail
/// with `InvalidData`, so a confused peer cannot make us buffer without bound.
pub fn read_line<R: BufRead>(r: &mut R) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = io::Read::take(&mut *r, MAX_MESSAGE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too long",
        ));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(v: T) {
        let mut buf = Vec::new();
        write_message(&mut buf, &v).unwrap();
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let line = read_line(&mut &buf[..]).unwrap().unwrap();
        assert_eq!(serde_json::from_str::<T>(&line).unwrap(), v);
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Hello { version: 1 },
            Request::State,
            Request::Start,
            Request::Kill {
                signal: 15,
                all: true,
            },
            Request::Resize {
                width: 80,
                height: 24,
            },
            Request::CloseStdin,
            Request::Pause,
            Request::Resume,
            Request::Wait,
            Request::Exec(ExecSpec {
                id: "e1".into(),
                process: serde_json::json!({"args": ["true"], "cwd": "/"}),
            }),
            Request::ExecState { id: "e1".into() },
            Request::ExecWait { id: "e1".into() },
            Request::ExecKill {
                id: "e1".into(),
                signal: 9,
            },
            Request::ExecResize {
                id: "e1".into(),
                width: 1,
                height: 2,
            },
            Request::ExecCloseStdin { id: "e1".into() },
            Request::Shutdown,
        ] {
            round_trip(r);
        }
    }

    #[test]
    fn responses_round_trip() {
        let exit = ExitRecord {
            code: 137,
            signal: Some(9),
            exited_at: "2026-11-22T06:50:00.123456789Z".parse().unwrap(),
            oom_killed: true,
        };
        round_trip(Response::State(StateInfo {
            id: "c1".into(),
            status: Status::Stopped,
            pid: Some(42),
            exit: Some(exit.clone()),
        }));
        round_trip(Response::Exit(exit));
        round_trip(Response::Done);
        round_trip(Response::Error(ProtocolError::FailedPrecondition {
            op: "start".into(),
            id: "c1".into(),
            status: Status::Running,
        }));
    }

    #[test]
    fn wire_format_is_readable() {
        let s = serde_json::to_string(&Request::Kill {
            signal: 9,
            all: false,
        })
        .unwrap();
        assert_eq!(s, r#"{"op":"kill","signal":9,"all":false}"#);
        let k: Request = serde_json::from_str(r#"{"op":"kill","signal":15}"#).unwrap();
        assert_eq!(
            k,
            Request::Kill {
                signal: 15,
                all: false
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }

    #[test]
    fn attach_handshake_wire_format() {
        let req: AttachRequest = serde_json::from_str(r#"{"stdin":true,"stdout":true}"#).unwrap();
        assert_eq!(
            req,
            AttachRequest {
                stdin: true,
                stdout: true,
                stderr: false,
                exec: None,
            }
        );
        let bad = ExecSpec {
            id: "../x".into(),
            process: serde_json::Value::Null,
        };
        assert!(bad.check_id().is_err());
        let ok = serde_json::to_string(&AttachReply::attached(true)).unwrap();
        assert_eq!(ok, r#"{"ok":true,"tty":true}"#);
        let err = AttachReply::Error {
            error: ProtocolError::NotImplemented { what: "x".into() },
        };
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(text, r#"{"error":{"kind":"not_implemented","what":"x"}}"#);
        assert_eq!(serde_json::from_str::<AttachReply>(&text).unwrap(), err);
        assert_eq!(frame_header(2, 258), [2, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn version_mismatch_is_typed() {
        assert!(check_version(PROTOCOL_VERSION).is_ok());
        let err = check_version(PROTOCOL_VERSION + 1).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::VersionMismatch {
                shim: PROTOCOL_VERSION,
                client: PROTOCOL_VERSION + 1
            }
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("mismatch"));
    }

    #[test]
    fn overlong_lines_are_refused() {
        let big = vec![b'x'; MAX_MESSAGE + 10];
        assert!(read_line(&mut &big[..]).is_err());
        assert_eq!(read_line(&mut &b""[..]).unwrap(), None);
    }
}
