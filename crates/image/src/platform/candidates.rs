//! Index entries as the resolver sees them, read from a parsed index or from its raw JSON.

use oci_spec::image::ImageIndex;
use serde::Deserialize;

use super::{Platform, PlatformError};

/// One entry of an image index, as the resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub platform: Option<Platform>,
}

/// The candidates of an index's raw JSON, in index order (ties are broken by that order).
///
/// Prefer this to [`candidates_from_index`]: oci-spec 0.10 (de)serialises `Platform::os_version`
/// as `osVersion` instead of the spec's `os.version` (youki-dev/oci-spec-rs#163), so a parsed
/// [`ImageIndex`] has lost every Windows entry's version. Both spellings are read here.
pub fn candidates_from_index_json(bytes: &[u8]) -> Result<Vec<Candidate>, PlatformError> {
    #[derive(Deserialize)]
    struct RawIndex {
        #[serde(default)]
        manifests: Vec<RawEntry>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawEntry {
        #[serde(default)]
        media_type: String,
        digest: String,
        size: i64,
        platform: Option<RawPlatform>,
    }
    #[derive(Deserialize)]
    struct RawPlatform {
        os: String,
        architecture: String,
        variant: Option<String>,
        #[serde(rename = "os.version", alias = "osVersion")]
        os_version: Option<String>,
    }
    let index: RawIndex =
        serde_json::from_slice(bytes).map_err(|source| PlatformError::InvalidIndex { source })?;
    Ok(index
        .manifests
        .into_iter()
        .map(|e| Candidate {
            digest: e.digest,
            media_type: e.media_type,
            size: e.size,
            platform: e.platform.map(|p| Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant,
                os_version: p.os_version,
            }),
        })
        .collect())
}

/// The candidates of a parsed index, in index order. Windows entries lose their `os.version`
/// in oci-spec 0.10's parser; use [`candidates_from_index_json`] on the original bytes instead.
pub fn candidates_from_index(index: &ImageIndex) -> Vec<Candidate> {
    index
        .manifests()
        .iter()
        .map(|d| Candidate {
            digest: d.digest().to_string(),
            media_type: d.media_type().to_string(),
            size: i64::try_from(d.size()).unwrap_or(i64::MAX),
            platform: d.platform().as_ref().map(|p| Platform {
                os: p.os().to_string(),
                architecture: p.architecture().to_string(),
                variant: p.variant().clone(),
                os_version: p.os_version().clone(),
            }),
        })
        .collect()
}
