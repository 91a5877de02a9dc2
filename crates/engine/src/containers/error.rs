//! Errors of container operations, classified for the API.

use std::path::PathBuf;

use silo_compute::ComputeError;
use silo_errdefs::{ErrorKind, HasKind};

/// A container operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No container has that id, name or id prefix.
    #[error("No such container: {0}")]
    NotFound(String),
    /// No exec has that id.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// An id prefix matches more than one container.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    /// The name is taken.
    #[error("Conflict. The container name \"{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    /// The name breaks Docker's rules.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// The request is missing something or asks for something invalid.
    #[error("{0}")]
    InvalidConfig(String),
    /// The request asks for something silo does not do yet.
    #[error("{0}")]
    NotSupported(String),
    /// Nothing to do (start of a running container, stop of a stopped one).
    #[error("container {0} is already in the requested state")]
    NotModified(String),
    /// The container's state forbids the operation.
    #[error("{0}")]
    State(String),
    /// No compute service was given to the engine.
    #[error("containers are not available: the daemon has no compute service")]
    NoRuntime,
    /// The daemon runs without a network service (CNI plugins or nftables missing).
    #[error("networks are not available: the daemon has no network service (see its log for why); use --network none or host")]
    NoNetwork,
    /// The network service failed.
    #[error(transparent)]
    Network(#[from] silo_network::NetworkError),
    /// The compute service failed.
    #[error(transparent)]
    Compute(#[from] ComputeError),
    /// The container database failed.
    #[error("container database {path}: {source}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A record could not be encoded or decoded.
    #[error("container record {id}: {source}")]
    Record {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    /// A host file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HasKind for ContainerError {
    fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::NotFound(_) | ContainerError::NoSuchExec(_) => ErrorKind::NotFound,
            ContainerError::Ambiguous(_)
            | ContainerError::InvalidName(_)
            | ContainerError::InvalidConfig(_) => ErrorKind::InvalidArgument,
            ContainerError::NameInUse { .. } | ContainerError::State(_) => ErrorKind::Conflict,
            ContainerError::NotSupported(_) => ErrorKind::NotImplemented,
            ContainerError::NotModified(_) => ErrorKind::NotModified,
            ContainerError::NoRuntime | ContainerError::NoNetwork => ErrorKind::Unavailable,
            ContainerError::Network(e) => e.kind(),
            ContainerError::Compute(e) => e.kind(),
            ContainerError::Database { .. }
            | ContainerError::Record { .. }
            | ContainerError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Wraps an I/O failure on `path` with what was being done (`map_err(io("write", &path))`).
pub(super) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.to_path_buf();
    move |source| ContainerError::Io {
        action,
        path,
        source,
    }
}
