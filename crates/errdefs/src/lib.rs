//! One error vocabulary for every silo service.
//!
//! Each crate keeps its own `thiserror` enum and implements [`HasKind`]; the API layer is the only
//! place that turns an [`ErrorKind`] into a transport status (HTTP code). This mirrors containerd's
//! errdefs: callers match on the class of failure, never on message text.

use std::fmt;

/// The class of a failure, independent of which service produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist.
    NotFound,
    /// An object with that name or id already exists.
    AlreadyExists,
    /// The request itself is malformed or names something invalid.
    InvalidArgument,
    /// The request conflicts with the current state of another object (e.g. image in use).
    Conflict,
    /// The object is not in a state that allows the operation.
    FailedPrecondition,
    /// Nothing to do: the object is already in the requested state.
    NotModified,
    /// The caller may not do this (credentials refused, policy).
    PermissionDenied,
    /// A dependency (registry, kernel feature, peer process) cannot be reached right now.
    Unavailable,
    /// The operation or option is not supported by silo.
    NotImplemented,
    /// A bug or an unexpected host failure.
    Internal,
}

impl ErrorKind {
    /// A short lowercase name, used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Conflict => "conflict",
            ErrorKind::FailedPrecondition => "failed precondition",
            ErrorKind::NotModified => "not modified",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotImplemented => "not implemented",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every service error so the edge can classify it without knowing its type.
pub trait HasKind {
    /// The class of this failure.
    fn kind(&self) -> ErrorKind;
}
