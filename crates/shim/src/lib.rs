//! silo-shim: one small supervisor process per container.
//!
//! The shim starts its container from an OCI bundle, owns the container's stdio and json-file
//! log, reaps it and records its exit status in `<state>/exit.json`. Because the shim — not the
//! daemon — is the container's parent, `silod` can be restarted or killed without the container
//! noticing; the daemon reconnects over `<state>/shim.sock` (see [`protocol`]). Live streams
//! (attach, terminals, execs' output and stdin) go over `<state>/attach.sock` in Docker's
//! stdcopy framing; execs are started by a single-threaded helper (`silo-shim exec-process`) so
//! the multi-threaded supervisor never forks through libcontainer itself.
//!
//! The library half (protocol, client, log reader/writer) has no runtime dependency, so the
//! daemon can link it with `default-features = false`. The supervisor half (feature `runtime`)
//! runs containers through youki's `libcontainer`, behind the small [`runtime::Runtime`] trait so
//! an external OCI runtime could be dropped in.

pub mod client;
pub mod exit;
pub mod logs;
pub mod protocol;
pub mod sys;

#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod supervisor;

pub use client::{ClientError, ShimClient};
pub use protocol::{
    AttachReply, AttachRequest, ExitRecord, ProtocolError, Request, Response, StateInfo, Status,
};

/// The socket's file name inside the state directory.
pub const SOCKET_FILE: &str = "shim.sock";
/// The attach socket's file name inside the state directory (see [`protocol`]'s "Attach").
pub const ATTACH_SOCKET_FILE: &str = "attach.sock";
/// The longest socket file name in a state directory: what must fit in `sun_path` (108 bytes)
/// after the directory's path.
pub const LONGEST_SOCKET_FILE: usize = if SOCKET_FILE.len() > ATTACH_SOCKET_FILE.len() {
    SOCKET_FILE.len()
} else {
    ATTACH_SOCKET_FILE.len()
};
/// The exit record's file name inside the state directory.
pub const EXIT_FILE: &str = "exit.json";
