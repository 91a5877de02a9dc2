//! The network service's errors, each with the class the API turns into a status.

use std::net::IpAddr;
use std::path::PathBuf;

use silo_errdefs::{ErrorKind, HasKind};

use crate::host::HostError;
use crate::ipam::IpamError;

/// A failure of the network service.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network name {0:?} matches several networks: use an id")]
    Ambiguous(String),
    #[error("network with name {0} already exists")]
    NameInUse(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    NotSupported(String),
    #[error(
        "error while removing network: network {name} id {id} has active endpoints ({containers})"
    )]
    InUse {
        name: String,
        id: String,
        containers: String,
    },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("Address already in use: {addr} is taken by another endpoint on this network")]
    AddressInUse { addr: IpAddr },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },
    #[error("invalid pool request: {0}")]
    Ipam(#[from] IpamError),
    #[error("{0}")]
    Host(#[from] HostError),
    #[error("network database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("network database {}: corrupt record: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HasKind for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotFound(_) | NetworkError::NotAttached { .. } => ErrorKind::NotFound,
            NetworkError::Ambiguous(_) | NetworkError::InvalidConfig(_) => {
                ErrorKind::InvalidArgument
            }
            NetworkError::Ipam(IpamError::Exhausted(_) | IpamError::NoFreeSubnet { .. }) => {
                ErrorKind::Unavailable
            }
            NetworkError::Ipam(_) => ErrorKind::InvalidArgument,
            NetworkError::NameInUse(_) => ErrorKind::Conflict,
            NetworkError::InUse { .. }
            | NetworkError::AddressInUse { .. }
            | NetworkError::AlreadyAttached { .. } => ErrorKind::Conflict,
            NetworkError::Predefined(_) => ErrorKind::PermissionDenied,
            NetworkError::NotSupported(_) => ErrorKind::NotImplemented,
            NetworkError::Host(HostError::PortAllocated { .. }) => ErrorKind::Conflict,
            NetworkError::Host(HostError::NotInstalled { .. }) => ErrorKind::Unavailable,
            NetworkError::Host(HostError::Invalid { .. }) => ErrorKind::InvalidArgument,
            NetworkError::Host(_) => ErrorKind::Internal,
            NetworkError::Database { .. }
            | NetworkError::Corrupt { .. }
            | NetworkError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Results of the network service.
pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
