//! The shim ↔ daemon protocol, spoken over `<state>/shim.sock`.
//!
//! Framing: one JSON document per line, in both directions; every request gets exactly one
//! response, in order. A connection must open with [`Request::Hello`]; the shim refuses a client
//! speaking another [`PROTOCOL_VERSION`] with [`ProtocolError::VersionMismatch`] and closes the
//! connection, so mismatched daemon and shim binaries fail loudly instead of misreading fields.
//!
//! Lifecycle seen through the protocol: `Created` (only with `run --no-start`) → `Start` →
//! `Running` → the container exits → the shim writes `exit.json`, then reports `Stopped` with its
//! [`ExitRecord`] → `Shutdown`. Until `Shutdown` the shim keeps answering `State` and `Wait`, so a
//! daemon restarted after the exit still learns it.
//!
//! Bump [`PROTOCOL_VERSION`] on any change a peer of the previous version would misread; adding
//! an optional response field is not such a change.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use silo_errdefs::{ErrorKind, HasKind};

/// The version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

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
    /// Resize the container's pty.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Close the shim's end of the container's stdin, so it reads EOF once the daemon's writer
    /// closes too.
    CloseStdin,
    /// Block until the container has exited; answered with [`Response::Exit`].
    Wait,
    /// Stop serving and exit. Only allowed once the container has stopped.
    Shutdown,
}

/// The container's status as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created by the runtime, PID 1 not yet executing the user's program.
    Created,
    /// Running the user's program.
    Running,
    /// Exited; the exit record is final.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
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
    /// Answer to `Wait`.
    Exit(ExitRecord),
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
            ProtocolError::FailedPrecondition { .. } => ErrorKind::FailedPrecondition,
            ProtocolError::NotImplemented { .. } => ErrorKind::NotImplemented,
            ProtocolError::Runtime { .. } => ErrorKind::Internal,
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
            Request::Wait,
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
