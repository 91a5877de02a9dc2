//! Media types silo reads and writes, and parsing of manifests and indexes from raw bytes.
//!
//! Docker v2 manifests and manifest lists have the same shape as OCI manifests and indexes, so
//! both parse into the `oci-spec` types; the original bytes are always kept alongside so a push
//! sends exactly what was pulled.

use oci_spec::image::{ImageIndex, ImageManifest};

use crate::ImageError;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A top-level document fetched for a reference.
#[derive(Debug)]
pub enum Document {
    /// A valid index. Its entries are read from the raw bytes (see
    /// `platform::candidates_from_index_json`): oci-spec's parsed index loses `os.version`.
    Index,
    Manifest(Box<ImageManifest>),
}

/// Parses manifest or index bytes. The media type from the registry wins; the document's own
/// `mediaType` field decides when the registry sent a generic one.
pub fn parse_document(
    bytes: &[u8],
    media_type: &str,
    digest: &str,
) -> Result<Document, ImageError> {
    let invalid = |reason: String| ImageError::InvalidDocument {
        what: "manifest",
        digest: digest.to_string(),
        reason,
    };
    let declared = serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|e| invalid(e.to_string()))?
        .get("mediaType")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let kind = match media_type {
        OCI_INDEX | DOCKER_LIST | OCI_MANIFEST | DOCKER_MANIFEST => media_type.to_string(),
        _ => declared.unwrap_or_else(|| media_type.to_string()),
    };
    match kind.as_str() {
        OCI_INDEX | DOCKER_LIST => ImageIndex::from_reader(bytes)
            .map(|_| Document::Index)
            .map_err(|e| invalid(e.to_string())),
        OCI_MANIFEST | DOCKER_MANIFEST => ImageManifest::from_reader(bytes)
            .map(|m| Document::Manifest(Box::new(m)))
            .map_err(|e| invalid(e.to_string())),
        other => Err(ImageError::UnsupportedMediaType {
            reference: digest.to_string(),
            media_type: other.to_string(),
        }),
    }
}

/// The media type to give a layer blob of the given compression in a manifest silo writes.
pub fn layer_media_type(compression: silo_storage::Compression) -> &'static str {
    match compression {
        silo_storage::Compression::None => OCI_LAYER_TAR,
        silo_storage::Compression::Gzip => OCI_LAYER_GZIP,
        silo_storage::Compression::Zstd => OCI_LAYER_ZSTD,
    }
}

/// Builds an OCI manifest for a config and layers silo created (import, load).
pub fn build_manifest(
    config_digest: &str,
    config_size: u64,
    layers: &[crate::LayerRecord],
) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": l.media_type,
                "digest": l.blob_digest,
                "size": l.blob_size,
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    // Serialising a json! value cannot fail.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_list_by_declared_media_type() {
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,
            "digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1879"}}]}"#;
        match parse_document(list, "application/octet-stream", "sha256:x").unwrap() {
            Document::Index => {}
            Document::Manifest(_) => panic!("expected an index"),
        }
    }

    #[test]
    fn rejects_unknown_media_type() {
        let err =
            parse_document(br#"{"mediaType":"text/plain"}"#, "text/plain", "sha256:x").unwrap_err();
        assert!(err
            .to_string()
            .contains("unsupported media type text/plain"));
    }

    #[test]
    fn built_manifest_parses_back() {
        let layer = crate::LayerRecord {
            blob_digest: format!("sha256:{}", "a".repeat(64)),
            media_type: OCI_LAYER_GZIP.into(),
            blob_size: 10,
            diff_id: format!("sha256:{}", "b".repeat(64)),
        };
        let bytes = build_manifest(&format!("sha256:{}", "c".repeat(64)), 5, &[layer]);
        match parse_document(&bytes, OCI_MANIFEST, "sha256:x").unwrap() {
            Document::Manifest(m) => assert_eq!(m.layers().len(), 1),
            Document::Index => panic!("expected a manifest"),
        }
    }
}
