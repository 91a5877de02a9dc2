//! silo compute: the Host Compute Service analog.
//!
//! The engine describes a container as a [`ComputeSystemDocument`] and hands it to a
//! [`ComputeService`]; from then on it drives a [`ComputeSystem`] and the [`Process`]es in it.
//! This crate knows nothing of the Docker API, and the engine knows nothing of namespaces or VMs:
//! `--isolation=process` and `--isolation=hyperv` are two implementations of the same traits,
//! and callers never learn which one they hold.
//!
//! # Vocabulary
//!
//! - **compute system**: one isolated environment built from one document — a set of namespaces
//!   and a cgroup on the host kernel, or a micro-VM. Identified by its document's `id`.
//! - **first process** (init process): `document.process`, started by [`ComputeSystem::start`].
//!   The system lives exactly as long as it does: when it exits the system is Stopped, and any
//!   other process in it is killed.
//! - **process**: the first process or one added by [`ComputeSystem::create_process`] (exec).
//! - **shutdown** vs **terminate**: shutdown asks (the stop signal, then a timeout, then a kill);
//!   terminate kills at once. The [`ExitType`] of the resulting [`ExitStatus`] says which one
//!   ended the system: GracefulExit, ForcedExit, or UnexpectedExit when neither did.
//!
//! # Lifecycle
//!
//! `create` → Created → `start` → Running ⇄ (`pause`/`resume`) Paused; the first process exiting,
//! `shutdown` or `terminate` lead to Stopped; `delete` releases everything (cgroup, mounts,
//! sandbox mount, state directory) in reverse order of acquisition. A Stopped system is never
//! restarted: the engine creates a new one from the same document.
//!
//! # Errors by state
//!
//! Every method returns a [`ComputeError`] whose [`silo_errdefs::HasKind::kind`] is fixed by the
//! situation, whatever the backend:
//!
//! | method | Created | Running | Paused | Stopped |
//! |---|---|---|---|---|
//! | `start` | ok | FailedPrecondition | FailedPrecondition | FailedPrecondition |
//! | `shutdown` | FailedPrecondition | ok | FailedPrecondition | FailedPrecondition |
//! | `terminate` | ok | ok | ok | FailedPrecondition |
//! | `pause` | FailedPrecondition | ok | FailedPrecondition | FailedPrecondition |
//! | `resume` | FailedPrecondition | FailedPrecondition | ok | FailedPrecondition |
//! | `signal`, `create_process` | FailedPrecondition | ok | FailedPrecondition | FailedPrecondition |
//! | `attach`, `resize_console` | ok | ok | ok | FailedPrecondition |
//! | `modify` | ok | ok | ok | FailedPrecondition |
//! | `delete` | ok | FailedPrecondition | FailedPrecondition | ok |
//! | `properties`, `wait` | ok | ok | ok | ok |
//!
//! The table is [`State::allows`]; backends apply it with [`ComputeError::check_state`] before
//! doing anything. Besides it: an unknown id is NotFound (`open`, and every method of a handle
//! whose system was deleted), a duplicate id on `create` is AlreadyExists, a bad document or
//! exec parameters are InvalidArgument, a request the backend cannot serve (e.g. adding a mount
//! to a process-isolated system) is NotImplemented, a platform wait that times out is
//! Unavailable, and host failures are Internal.
//!
//! # Asynchrony
//!
//! Methods return [`BoxFuture`]s rather than using `async fn` in traits so that the traits stay
//! object-safe: the engine holds `Arc<dyn ComputeSystem>` without knowing the backend.

pub mod document;
mod error;
pub mod host;
pub mod process;
mod properties;
pub mod spec;
mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use document::{
    CapabilitySet, ComputeSystemDocument, ConsoleSize, DocumentError, IdMap, Isolation,
    LogSettings, Mount, MountKind, NetworkNamespace, ProcessParameters, Resources, Rlimit, Rootfs,
    SeccompProfile, Security, User, UserNamespace,
};
pub use error::{Cause, ComputeError, Result};
pub use properties::{
    CpuStats, MemoryStats, PidsStats, ProcessDetails, Properties, PropertyQuery, ResourceUpdate,
    Statistics, Stdio, SystemSummary,
};
pub use state::{Event, ExitStatus, ExitType, Operation, State, SystemEvent};

/// Which of a process's streams an attach carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// Feed the process's stdin from the stream (ignored when the process has no open stdin).
    pub stdin: bool,
    /// Carry standard output (stream 1).
    pub stdout: bool,
    /// Carry standard error (stream 2; with a terminal everything is stream 1).
    pub stderr: bool,
}

/// A live connection to a process's streams: reading yields Docker stdcopy frames (8-byte
/// header, stream 1 stdout / 2 stderr; with a terminal only stream 1); writing feeds stdin;
/// shutting down the write half is stdin EOF; EOF on read once the process exited and its
/// output was drained.
pub type AttachStream = tokio::net::UnixStream;

/// How an added process's streams are connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessIo {
    /// None: detached (stdio /dev/null, output discarded).
    pub attach: Option<AttachOptions>,
}

/// What `create_process` returns: the process, and its attach stream when one was asked for.
pub type AddedProcess = (Arc<dyn Process>, Option<AttachStream>);

/// A boxed, sendable future: what every trait method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The entry point: creates and finds compute systems. One implementation per backend, plus
/// (in the engine) a dispatcher that routes `create` by [`ComputeSystemDocument::isolation`].
pub trait ComputeService: Send + Sync {
    /// Validates `document` and builds the system without starting anything inside it: rootfs
    /// assembled, cgroup created, namespaces (or VM) ready. The new system is Created and an
    /// [`Event::Created`] is published. `stdio` is the first process's.
    ///
    /// Errors: InvalidArgument for a bad document, AlreadyExists for a duplicate id,
    /// NotImplemented when the document asks for something this backend lacks. A failed create
    /// leaves nothing behind.
    fn create(
        &self,
        document: ComputeSystemDocument,
        stdio: Stdio,
    ) -> BoxFuture<'_, Result<Arc<dyn ComputeSystem>>>;

    /// A handle on an existing system, e.g. after the daemon restarted. NotFound if unknown.
    fn open<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Arc<dyn ComputeSystem>>>;

    /// Every system this service knows, in any state.
    fn list(&self) -> BoxFuture<'_, Result<Vec<SystemSummary>>>;

    /// Events of every system from now on. A slow subscriber loses the oldest events (and is
    /// told so by the channel) rather than stalling the service.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<SystemEvent>;
}

/// One compute system (the `cow.Container` of hcsshim). Handles are cheap to share; every
/// method takes `&self` so `wait` can run while another task calls `shutdown`.
pub trait ComputeSystem: Send + Sync + std::fmt::Debug {
    /// The document's id.
    fn id(&self) -> &str;

    /// The backend running this system.
    fn isolation(&self) -> Isolation;

    /// Starts the first process: Created → Running, publishes [`Event::Started`].
    fn start(&self) -> BoxFuture<'_, Result<()>>;

    /// Graceful stop: sends `signal` to the first process, waits up to `timeout` for it to exit,
    /// then kills everything. Returns the exit status, whose exit type says which phase ended it
    /// (GracefulExit if the signal sufficed, ForcedExit if the kill was needed). Running only.
    fn shutdown(&self, signal: i32, timeout: Duration) -> BoxFuture<'_, Result<ExitStatus>>;

    /// Kills every process at once (a paused system is thawed so the kill lands) and returns
    /// the exit status, normally ForcedExit. Allowed until Stopped.
    fn terminate(&self) -> BoxFuture<'_, Result<ExitStatus>>;

    /// Freezes every process: Running → Paused.
    fn pause(&self) -> BoxFuture<'_, Result<()>>;

    /// Thaws: Paused → Running.
    fn resume(&self) -> BoxFuture<'_, Result<()>>;

    /// Sends `signal` to the first process (`docker kill`). Running only.
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>>;

    /// State, pid and, when asked, the process list and resource statistics. Any state.
    fn properties(&self, query: PropertyQuery) -> BoxFuture<'_, Result<Properties>>;

    /// Changes a live system. Limits are validated like the document's (InvalidArgument);
    /// requests the backend cannot serve are NotImplemented. Until Stopped.
    fn modify(&self, update: ResourceUpdate) -> BoxFuture<'_, Result<()>>;

    /// Starts another process in the running system (exec), with the system's namespaces,
    /// cgroup and security settings; `params.capabilities` apply on the default set as for the
    /// first process, `params.env` on top of the first process's environment, and
    /// `params.terminal` gives it a pty. With `io.attach` the returned stream is connected
    /// before the process starts, so no output is lost; stdin closes when its write half is
    /// shut down. Publishes [`Event::ProcessCreated`], and [`Event::ProcessExited`] when it
    /// ends. Running only.
    fn create_process(
        &self,
        params: ProcessParameters,
        io: ProcessIo,
    ) -> BoxFuture<'_, Result<AddedProcess>>;

    /// Connects to the first process's streams. Created, Running or Paused; FailedPrecondition
    /// when Stopped. Attach to a Created system before `start` to miss nothing: every chunk
    /// produced after the attach is delivered (the json-file log stays the complete record; a
    /// client that stops reading is disconnected once it is far behind). Closing the write half
    /// closes the process's stdin when the document set `stdin_once`.
    fn attach(&self, opts: AttachOptions) -> BoxFuture<'_, Result<AttachStream>>;

    /// Sets the first process's terminal size. Created, Running or Paused (the terminal exists
    /// from `create`, and clients resize right after attaching); FailedPrecondition if it has
    /// no terminal or the system is Stopped.
    fn resize_console(&self, width: u16, height: u16) -> BoxFuture<'_, Result<()>>;

    /// Resolves when the system is Stopped, with the first process's exit status; resolves at
    /// once if it already is. Any number of callers may wait.
    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>>;

    /// Releases everything the system holds, in reverse order of acquisition, continuing past
    /// failures (the first one is returned). Publishes [`Event::Deleted`]; afterwards every
    /// method is NotFound. Created or Stopped only.
    fn delete(&self) -> BoxFuture<'_, Result<()>>;
}

/// One process in a compute system (the `cow.Process` of hcsshim). Errors name the system's id
/// and the operation; a process that has exited answers `signal` with NotFound, while `wait`
/// still returns its status.
pub trait Process: Send + Sync + std::fmt::Debug {
    /// The pid the backend addresses it by: the host pid for process isolation, the guest pid
    /// for VM isolation.
    fn pid(&self) -> u32;

    /// Sends `signal`. NotFound once the process has exited.
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>>;

    /// Sets the terminal size; FailedPrecondition if the process has no terminal.
    fn resize_console(&self, width: u16, height: u16) -> BoxFuture<'_, Result<()>>;

    /// Closes the process's stdin so it sees end-of-file (`echo hi | docker exec -i`);
    /// FailedPrecondition if it had none.
    fn close_stdin(&self) -> BoxFuture<'_, Result<()>>;

    /// Resolves when the process has exited, with its status; at once if it already has.
    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>>;
}

/// Convenience for backends: how long `shutdown` waits when the caller has no opinion, the
/// same 10 seconds as `docker stop`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests;
