//! [`ComputeError`]: which operation on which system failed, and why, classified for the API edge.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use silo_errdefs::{ErrorKind, HasKind};

use crate::document::{DocumentError, Isolation};
use crate::spec::SpecError;
use crate::state::{Operation, State};

/// A failed compute operation: "start compute system 3f2a…: compute system is running".
#[derive(Debug, thiserror::Error)]
pub struct ComputeError {
    /// What was attempted.
    pub op: Operation,
    /// The system's id; empty for operations on the service as a whole (`list`).
    pub id: String,
    /// Why it failed.
    #[source]
    pub cause: Cause,
}

impl fmt::Display for ComputeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() {
            write!(f, "{} compute systems: {}", self.op, self.cause)
        } else {
            write!(f, "{} compute system {}: {}", self.op, self.id, self.cause)
        }
    }
}

/// The reason behind a [`ComputeError`]; each variant has one [`ErrorKind`].
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The document was refused (InvalidArgument).
    #[error("invalid document: {0}")]
    InvalidDocument(#[from] DocumentError),
    /// The OCI spec could not be generated, e.g. an unknown user (the spec error's kind).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// No system with that id (NotFound).
    #[error("no such compute system")]
    NotFound,
    /// A system with that id exists already (AlreadyExists).
    #[error("compute system already exists")]
    AlreadyExists,
    /// The system's state forbids the operation (FailedPrecondition).
    #[error("compute system is {state}")]
    InvalidState {
        /// The state it is in.
        state: State,
    },
    /// The addressed process is gone or never existed (NotFound).
    #[error("no such process {pid}")]
    ProcessNotFound {
        /// The pid asked for.
        pid: u32,
    },
    /// The process has no terminal to resize, or no stdin to close (FailedPrecondition).
    #[error("process {pid} has no {what}")]
    NoSuchStream {
        /// The process.
        pid: u32,
        /// `"terminal"` or `"stdin"`.
        what: &'static str,
    },
    /// The backend cannot do this at all (NotImplemented).
    #[error("{what} is not supported with {isolation} isolation")]
    NotSupported {
        /// The feature asked for.
        what: &'static str,
        /// The backend asked.
        isolation: Isolation,
    },
    /// A wait on the platform ran out of time (Unavailable).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A host file operation failed (Internal).
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("write", "mount overlay on", ...).
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A failure inside a backend (runtime, shim, VM), with the class the backend chose.
    #[error("{source}")]
    Backend {
        /// How the edge should classify it.
        kind: ErrorKind,
        /// The backend's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Cause {
    /// The error class of this cause.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Cause::InvalidDocument(_) => ErrorKind::InvalidArgument,
            Cause::Spec(e) => e.kind(),
            Cause::NotFound | Cause::ProcessNotFound { .. } => ErrorKind::NotFound,
            Cause::AlreadyExists => ErrorKind::AlreadyExists,
            Cause::InvalidState { .. } | Cause::NoSuchStream { .. } => {
                ErrorKind::FailedPrecondition
            }
            Cause::NotSupported { .. } => ErrorKind::NotImplemented,
            Cause::Timeout(_) => ErrorKind::Unavailable,
            Cause::Io { .. } => ErrorKind::Internal,
            Cause::Backend { kind, .. } => *kind,
        }
    }
}

impl ComputeError {
    /// Builds an error for `op` on system `id`.
    pub fn new(op: Operation, id: impl Into<String>, cause: impl Into<Cause>) -> Self {
        ComputeError {
            op,
            id: id.into(),
            cause: cause.into(),
        }
    }

    /// The guard every operation runs first: Ok when `state` allows `op`, otherwise
    /// FailedPrecondition naming the state.
    pub fn check_state(op: Operation, id: &str, state: State) -> Result<(), ComputeError> {
        if state.allows(op) {
            Ok(())
        } else {
            Err(ComputeError::new(op, id, Cause::InvalidState { state }))
        }
    }
}

impl HasKind for ComputeError {
    fn kind(&self) -> ErrorKind {
        self.cause.kind()
    }
}

/// Result of a compute operation.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
