//! Manifests as fetched: original bytes, media type and digest, verified before anyone sees them.

use oci_spec::image::{ImageIndex, ImageManifest};
use sha2::{Digest, Sha256, Sha512};

use super::{
    Op, RegistryError, MANIFEST_MEDIA_TYPES, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
};
use crate::platform::{candidates_from_index_json, Candidate};

/// A manifest exactly as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The original bytes: store and push these, never a re-serialisation.
    pub bytes: Vec<u8>,
    /// One of [`MANIFEST_MEDIA_TYPES`].
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
}

/// A parsed manifest. Docker v2 lists and manifests parse into the OCI types (same shape).
// Short-lived parse result, matched on right away: boxing would only add noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestKind {
    Index(ImageIndex),
    Manifest(ImageManifest),
}

impl FetchedManifest {
    /// Whether this is an index / manifest list (resolve a platform first).
    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_TYPE_OCI_INDEX || self.media_type == MEDIA_TYPE_DOCKER_LIST
    }

    /// Parses the bytes according to the media type.
    pub fn parse(&self) -> Result<ManifestKind, RegistryError> {
        let invalid = |source| RegistryError::InvalidManifest {
            digest: self.digest.clone(),
            media_type: self.media_type.clone(),
            source,
        };
        if self.is_index() {
            serde_json::from_slice(&self.bytes)
                .map(ManifestKind::Index)
                .map_err(invalid)
        } else {
            serde_json::from_slice(&self.bytes)
                .map(ManifestKind::Manifest)
                .map_err(invalid)
        }
    }

    /// The index entries for [`crate::platform::resolve`], read from the original bytes so that
    /// Windows `os.version`s survive (see [`candidates_from_index_json`]).
    pub fn candidates(&self) -> Result<Vec<Candidate>, RegistryError> {
        candidates_from_index_json(&self.bytes).map_err(|_| match self.parse() {
            Err(e) => e,
            Ok(_) => RegistryError::UnsupportedMediaType {
                op: Op::FetchManifest,
                target: self.digest.clone(),
                media_type: self.media_type.clone(),
            },
        })
    }
}

pub(crate) fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Checks `data` against `expected` (`sha256:` or `sha512:`).
pub(super) fn verify(
    op: Op,
    target: &str,
    expected: &str,
    data: &[u8],
) -> Result<(), RegistryError> {
    let actual = match expected.split_once(':') {
        Some(("sha512", _)) => format!("sha512:{}", hex::encode(Sha512::digest(data))),
        _ => sha256_digest(data),
    };
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            op,
            target: target.to_string(),
            expected: expected.into(),
            actual,
        })
    }
}

/// Verifies a fetched manifest against its pin and works out its media type from the body
/// (`oci-client` does not expose the Content-Type; every schema-2 manifest names its type, and
/// OCI ones without `mediaType` are told apart by `manifests` vs `layers`).
pub(super) fn finish_manifest(
    target: &str,
    pinned: Option<&str>,
    bytes: Vec<u8>,
) -> Result<FetchedManifest, RegistryError> {
    if let Some(pinned) = pinned {
        verify(Op::FetchManifest, target, pinned, &bytes)?;
    }
    let digest = sha256_digest(&bytes);
    let media_type = sniff_media_type(&bytes).map_err(|source| RegistryError::InvalidManifest {
        digest: digest.clone(),
        media_type: "manifest".into(),
        source,
    })?;
    if !MANIFEST_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(RegistryError::UnsupportedMediaType {
            op: Op::FetchManifest,
            target: target.into(),
            media_type,
        });
    }
    Ok(FetchedManifest {
        bytes,
        media_type,
        digest,
    })
}

fn sniff_media_type(bytes: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        schema_version: Option<i64>,
    }
    let probe: Probe = serde_json::from_slice(bytes)?;
    Ok(
        match (probe.media_type, probe.manifests, probe.schema_version) {
            (Some(mt), _, _) => mt,
            (None, _, Some(1)) => "application/vnd.docker.distribution.manifest.v1+json".into(),
            (None, Some(_), _) => MEDIA_TYPE_OCI_INDEX.into(),
            (None, None, _) => MEDIA_TYPE_OCI_MANIFEST.into(),
        },
    )
}
