//! Errors of the image service. Every variant names the image, reference, digest or path
//! involved; `kind()` classifies it for the API.

use std::path::PathBuf;

use silo_errdefs::{ErrorKind, HasKind};

use crate::platform::PlatformError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;

/// A failure of an image operation.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the name, tag, digest or id prefix.
    #[error("No such image: {name}")]
    NoSuchImage { name: String },
    /// An id prefix matches several images.
    #[error("image id prefix {prefix} is ambiguous: it matches {count} images")]
    AmbiguousId { prefix: String, count: usize },
    /// The reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// No manifest fits the wanted platform.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Content or layer storage failed.
    #[error(transparent)]
    Storage(#[from] silo_storage::StorageError),
    /// The SQLite metadata store failed.
    #[error("{op} ({path}): {source}")]
    Database {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A stored record no longer parses (the database was edited by hand or is corrupt).
    #[error("image {id}: stored {what} is corrupt")]
    CorruptRecord { id: String, what: &'static str },
    /// Encoding metadata failed (a bug).
    #[error("encode image metadata: {0}")]
    Encode(#[source] serde_json::Error),
    /// A manifest, index or config is not valid JSON of the expected shape.
    #[error("{what} {digest} is invalid: {reason}")]
    InvalidDocument {
        what: &'static str,
        digest: String,
        reason: String,
    },
    /// A manifest or layer uses a media type silo does not handle.
    #[error("{reference}: unsupported media type {media_type}")]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },
    /// The image is for another platform than the one asked for.
    #[error("image {reference} is for {found}, not {wanted}")]
    PlatformMismatch {
        reference: String,
        wanted: String,
        found: String,
    },
    /// A Windows (or other non-Linux) image asked for as a Linux root filesystem.
    #[error("image {image} is a {os} image: its layers are kept for push and save, never used as a Linux root filesystem")]
    NotLinuxRootfs { image: String, os: String },
    /// Deleting the image needs `force`.
    #[error("conflict: unable to delete {short_id} (must be forced) - {reason}")]
    MustForce { short_id: String, reason: String },
    /// A tag target that carries a digest.
    #[error("refusing to create a tag with a digest reference: {target}")]
    TagWithDigest { target: String },
    /// A docker-archive or import tarball is malformed.
    #[error("invalid archive: {reason}")]
    InvalidArchive { reason: String },
    /// An import `--change` instruction is not understood.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange {
        change: String,
        reason: &'static str,
    },
    /// A host I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stream from or to a client broke.
    #[error("{op}: {source}")]
    Stream {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A background task died.
    #[error("{op}: task failed: {reason}")]
    Task { op: &'static str, reason: String },
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        use ImageError::*;
        match self {
            NoSuchImage { .. } => ErrorKind::NotFound,
            AmbiguousId { .. } => ErrorKind::InvalidArgument,
            Reference(e) => e.kind(),
            Platform(e) => e.kind(),
            Registry(e) => e.kind(),
            Storage(e) => e.kind(),
            PlatformMismatch { .. } => ErrorKind::NotFound,
            MustForce { .. } => ErrorKind::Conflict,
            NotLinuxRootfs { .. } => ErrorKind::FailedPrecondition,
            InvalidDocument { .. }
            | UnsupportedMediaType { .. }
            | InvalidArchive { .. }
            | InvalidChange { .. }
            | TagWithDigest { .. } => ErrorKind::InvalidArgument,
            Stream { .. } => ErrorKind::InvalidArgument,
            Database { .. } | CorruptRecord { .. } | Encode(_) | Io { .. } | Task { .. } => {
                ErrorKind::Internal
            }
        }
    }
}
