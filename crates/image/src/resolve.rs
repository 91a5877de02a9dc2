//! `image resolve`: which manifest of a reference fits a platform (and, for Windows, a host
//! version and isolation), with the reason for every entry — asked of the registry, without
//! pulling anything.

use crate::media::{self, Document};
use crate::platform::{self, Candidate, Isolation, Platform, ResolveReport};
use crate::reference::Reference;
use crate::registry::Credentials;
use crate::service::ImageService;
use crate::ImageError;

impl ImageService {
    /// Explains which entry of `reference` fits `wanted` with `isolation` (any when `None`).
    pub async fn resolve(
        &self,
        reference: &str,
        wanted: &Platform,
        isolation: Option<Isolation>,
        credentials: &Credentials,
    ) -> Result<ResolveReport, ImageError> {
        let reference = Reference::parse(reference)?;
        let top = self
            .inner
            .registry
            .fetch_manifest(&reference, credentials)
            .await?;
        let (candidates, index_digest) =
            match media::parse_document(&top.bytes, &top.media_type, &top.digest)? {
                Document::Index => (
                    // From the raw bytes: oci-spec's parsed index loses `os.version`.
                    platform::candidates_from_index_json(&top.bytes)?,
                    Some(top.digest.clone()),
                ),
                Document::Manifest(manifest) => {
                    // A single manifest: its platform is in its config.
                    let config = self
                        .inner
                        .registry
                        .fetch_blob(&reference, manifest.config().digest().as_ref(), credentials)
                        .await?;
                    let config =
                        oci_spec::image::ImageConfiguration::from_reader(config.as_slice())
                            .map_err(|e| ImageError::InvalidDocument {
                                what: "image config",
                                digest: manifest.config().digest().to_string(),
                                reason: e.to_string(),
                            })?;
                    let candidate = Candidate {
                        digest: top.digest.clone(),
                        media_type: top.media_type.clone(),
                        size: top.bytes.len() as i64,
                        platform: Some(Platform {
                            os: config.os().to_string(),
                            architecture: config.architecture().to_string(),
                            variant: config.variant().clone(),
                            os_version: config.os_version().clone(),
                        }),
                    };
                    (vec![candidate], None)
                }
            };
        Ok(platform::resolve(&candidates, wanted, isolation)
            .with_source(reference.familiar(), index_digest))
    }
}
