//! The image as the store keeps it: what `images` lists and `image inspect` shows.

use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

/// One layer of an image, as referenced by its manifest and its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as stored and pushed (compressed for registry layers).
    pub blob_digest: String,
    /// Media type of the blob (`application/vnd.oci.image.layer.v1.tar+gzip`, docker's, ...).
    pub media_type: String,
    /// Size in bytes of the blob.
    pub blob_size: u64,
    /// Digest of the uncompressed tar (`rootfs.diff_ids[i]` of the config).
    pub diff_id: String,
}

/// An image in the store. Its id is the digest of its config blob, as in Docker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    /// Tags in Docker's familiar form: `busybox:latest`, `127.0.0.1:5000/team/app:v1`.
    pub repo_tags: Vec<String>,
    /// Digests the image is known by in registries, familiar form: `busybox@sha256:...`.
    pub repo_digests: Vec<String>,
    /// Digest of the manifest this image was pulled by or created with.
    pub manifest_digest: String,
    /// Media type of that manifest (OCI or Docker v2).
    pub manifest_media_type: String,
    /// The parsed image config.
    pub config: ImageConfiguration,
    /// Layers, base first.
    pub layers: Vec<LayerRecord>,
    /// Bytes of file content in the layers (what Docker reports as `Size`); for Windows
    /// images, which are never unpacked, the size of the stored layer blobs.
    pub size: u64,
    /// When the image entered this store.
    pub loaded_at: DateTime<Utc>,
    /// When a tag was last added to it, if ever.
    pub last_tag_time: Option<DateTime<Utc>>,
}

impl ImageRecord {
    /// Operating system of the image (`linux`, `windows`).
    pub fn os(&self) -> String {
        self.config.os().to_string()
    }

    /// True for images whose layers are Windows layers (`Files/`, `Hives/`): stored and pushed,
    /// never unpacked or offered as a Linux root filesystem.
    pub fn is_windows(&self) -> bool {
        self.os() == "windows"
    }

    /// The id without its `sha256:` prefix, shortened to 12 characters as Docker shows it.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}
