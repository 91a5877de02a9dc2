//! `push`: sends an image's blobs and its manifest, byte for byte as stored, to a registry.
//! Because manifests are kept exactly as pulled (or as silo wrote them), a pushed image keeps
//! its digest — Windows images included.

use futures::{StreamExt, TryStreamExt};
use silo_storage::Digest;

use crate::pull::short;
use crate::reference::Reference;
use crate::registry::Credentials;
use crate::service::{digest_reference, ImageService};
use crate::store::RefKind;
use crate::{ImageError, Progress, ProgressSender};

const CONCURRENT_UPLOADS: usize = 3;

/// What a push sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The tag pushed (`latest`).
    pub tag: String,
    /// Digest of the manifest in the registry.
    pub digest: String,
    /// Size of the manifest in bytes (what Docker prints as `size:`).
    pub size: u64,
}

impl ImageService {
    /// Pushes the image named `name` (a reference; the tag defaults to `latest`) to the
    /// registry and repository the name points at.
    pub async fn push(
        &self,
        name: &str,
        credentials: &Credentials,
        progress: ProgressSender,
    ) -> Result<Pushed, ImageError> {
        let target = Reference::parse(name)?;
        let image = self.find(name)?;
        let registry = &self.inner.registry;
        progress.send(Progress::status(format!(
            "The push refers to repository [{}]",
            target.familiar_name()
        )));
        for layer in image.layers.iter().rev() {
            progress.send(Progress::layer(short(&layer.blob_digest), "Preparing"));
        }
        let blobs: Vec<(String, String)> = image
            .layers
            .iter()
            .rev()
            .map(|l| (l.blob_digest.clone(), short(&l.blob_digest)))
            .chain(std::iter::once((image.id.clone(), String::new())))
            .collect();
        futures::stream::iter(blobs)
            .map(|(digest, id)| {
                let target = &target;
                let progress = &progress;
                async move {
                    if registry.blob_exists(target, &digest, credentials).await? {
                        if !id.is_empty() {
                            progress.send(Progress::layer(&id, "Layer already exists"));
                        }
                        return Ok::<(), ImageError>(());
                    }
                    if !id.is_empty() {
                        progress.send(Progress::layer(&id, "Pushing"));
                    }
                    let parsed = Digest::parse(&digest)?;
                    let path = self.inner.content.blob_path(&parsed);
                    let data = tokio::fs::read(&path)
                        .await
                        .map_err(|source| ImageError::Io {
                            op: "read blob to push",
                            path,
                            source,
                        })?;
                    registry
                        .push_blob(target, &digest, data.into(), credentials)
                        .await?;
                    if !id.is_empty() {
                        progress.send(Progress::layer(&id, "Pushed"));
                    }
                    Ok(())
                }
            })
            .buffer_unordered(CONCURRENT_UPLOADS)
            .try_collect::<Vec<()>>()
            .await?;

        let manifest_digest = Digest::parse(&image.manifest_digest)?;
        let manifest = self.inner.content.read(&manifest_digest)?;
        let size = manifest.len() as u64;
        let digest = registry
            .push_manifest_bytes(&target, manifest, &image.manifest_media_type, credentials)
            .await?;
        let tag = target.tag().unwrap_or("latest").to_string();
        self.inner.meta.add_ref(
            &image.id,
            &digest_reference(&target, &digest)?,
            RefKind::Digest,
        )?;
        Ok(Pushed { tag, digest, size })
    }
}
