//! The storage error vocabulary.
//!
//! Every variant names the operation and the object (path, digest or tar entry) so a message that
//! reaches a user is actionable on its own; [`HasKind`] classifies it for the API edge.

use std::io;
use std::path::PathBuf;

use silo_errdefs::{ErrorKind, HasKind};

use crate::compression::Compression;
use crate::digest::Digest;

/// Result alias used throughout this crate.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Everything that can go wrong in the content store, layer store or layer unpacker.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A string that should have been `sha256:<64 lowercase hex>` was not.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The rejected input (truncated to keep messages short).
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A host filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. "create blob".
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// No blob with that digest is in the content store.
    #[error("blob {digest} not found")]
    BlobNotFound {
        /// The missing blob.
        digest: Digest,
    },

    /// No layer with that diff_id has been unpacked.
    #[error("layer {diff_id} not found")]
    LayerNotFound {
        /// The missing layer.
        diff_id: Digest,
    },

    /// Content hashed to something other than what the caller (usually a manifest) promised.
    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was verified: "blob" or "layer diff_id".
        what: &'static str,
        /// The digest the content should have had.
        expected: Digest,
        /// The digest the content actually had.
        actual: Digest,
    },

    /// Content had a different length than promised.
    #[error(
        "blob {} size mismatch: expected {expected} bytes, got {actual}",
        digest_label(expected_digest)
    )]
    SizeMismatch {
        /// The digest that was expected, if the caller gave one.
        expected_digest: Option<Digest>,
        /// The size the content should have had.
        expected: u64,
        /// The number of bytes actually written.
        actual: u64,
    },

    /// A layer tar entry that would escape the destination or is not allowed in a layer.
    #[error("refusing layer entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The entry's path as written in the tar.
        entry: String,
        /// Why the entry was refused.
        reason: String,
    },

    /// Materialising a (legitimate) layer entry failed on the host.
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        /// The entry's path as written in the tar.
        entry: String,
        /// The step that failed, e.g. "set xattr trusted.foo".
        op: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The layer stream could not be read or is not a valid tar archive.
    #[error("read layer tar ({context}): {source}")]
    TarRead {
        /// Which part of the archive was being read.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A decompressor could not be set up or failed.
    #[error("{compression} decompression: {source}")]
    Decompress {
        /// The compression in use.
        compression: Compression,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A small metadata file written by this crate could not be decoded.
    #[error("decode {}: {source}", path.display())]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

fn digest_label(d: &Option<Digest>) -> String {
    d.as_ref()
        .map_or_else(|| "(no digest)".to_owned(), Digest::to_string)
}

impl StorageError {
    /// Shorthand for the common "I/O on a path" case.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn unsafe_entry(entry: &str, reason: impl Into<String>) -> Self {
        StorageError::UnsafeEntry {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn entry(entry: &str, op: impl Into<String>, source: io::Error) -> Self {
        StorageError::Entry {
            entry: entry.to_owned(),
            op: op.into(),
            source,
        }
    }
}

impl HasKind for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::InvalidDigest { .. }
            | StorageError::DigestMismatch { .. }
            | StorageError::SizeMismatch { .. }
            | StorageError::UnsafeEntry { .. } => ErrorKind::InvalidArgument,
            StorageError::BlobNotFound { .. } | StorageError::LayerNotFound { .. } => {
                ErrorKind::NotFound
            }
            // A truncated or garbled archive is bad input, not a host failure.
            StorageError::TarRead { source, .. } | StorageError::Decompress { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::InvalidData
                        | io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::Other
                ) =>
            {
                ErrorKind::InvalidArgument
            }
            StorageError::Io { .. }
            | StorageError::Entry { .. }
            | StorageError::TarRead { .. }
            | StorageError::Decompress { .. }
            | StorageError::Metadata { .. } => ErrorKind::Internal,
        }
    }
}
