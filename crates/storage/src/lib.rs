//! silo storage: the content store, safe layer unpacking and the layer store.
//!
//! - [`ContentStore`]: immutable blobs addressed by sha256, written crash-safely.
//! - [`unpack_layer`]: turns one (uncompressed) OCI layer tar into an overlayfs lower
//!   directory and refuses anything that could write outside it.
//! - [`LayerStore`]: one unpacked tree per diff_id, shared by every image that uses it.
//!
//! This crate knows nothing about images or containers; the image crate decides what to pull
//! and the engine decides what to mount.

mod compression;
mod content;
mod digest;
mod error;
mod fsutil;
mod layers;
mod unpack;

pub use compression::{decompress, Compression};
pub use content::{ContentStore, Ingest};
pub use digest::Digest;
pub use error::{Result, StorageError};
pub use layers::{LayerStore, UnpackedLayer};
pub use unpack::{unpack_layer, UnpackOptions, UnpackStats};
