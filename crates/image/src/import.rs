//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image.

use std::io::Read;

use chrono::Utc;
use silo_storage::Digest;
use tokio::io::AsyncRead;

use crate::changes::apply_changes;
use crate::media::{build_manifest, layer_media_type, OCI_MANIFEST};
use crate::platform::Platform;
use crate::pull::task_failed;
use crate::reference::Reference;
use crate::service::ImageService;
use crate::store::{NewImage, RefKind};
use crate::{ImageError, ImageRecord, LayerRecord};

/// What `import` needs besides the tarball.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the new image with.
    pub target: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    /// Commit message, kept as the history comment.
    pub message: Option<String>,
    /// `os/arch[/variant]` to record; the host's by default. Only Linux can be imported.
    pub platform: Option<String>,
}

impl ImageService {
    /// Imports a root filesystem tarball as a new image.
    pub async fn import<R>(
        &self,
        input: R,
        options: ImportOptions,
    ) -> Result<ImageRecord, ImageError>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let target = options
            .target
            .as_deref()
            .map(Reference::parse)
            .transpose()?;
        let platform = match &options.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        if platform.os != "linux" {
            return Err(ImageError::PlatformMismatch {
                reference: options.target.clone().unwrap_or_else(|| "import".into()),
                wanted: "linux".into(),
                found: platform.to_string(),
            });
        }
        let this = self.clone();
        let _content_guard = self.inner.gc_lock.read().await;
        let id = tokio::task::spawn_blocking(move || {
            let reader = tokio_util::io::SyncIoBridge::new(input);
            this.import_blocking(reader, &options, &platform, target.as_ref())
        })
        .await
        .map_err(|e| task_failed("import image", e))??;
        self.find(&id)
    }

    fn import_blocking(
        &self,
        mut input: impl Read,
        options: &ImportOptions,
        platform: &Platform,
        target: Option<&Reference>,
    ) -> Result<String, ImageError> {
        let mut ingest = self.inner.content.ingest(None, None)?;
        let blob_size =
            std::io::copy(&mut input, &mut ingest).map_err(|source| ImageError::Stream {
                op: "receive import tarball",
                source,
            })?;
        let blob = ingest.commit()?;
        let compression = self.blob_compression(&blob)?;
        let unpacked =
            self.inner
                .layers
                .unpack(&self.inner.content.blob_path(&blob), None, &mut |_| {})?;
        let layer = LayerRecord {
            blob_digest: blob.to_string(),
            media_type: layer_media_type(compression).to_string(),
            blob_size,
            diff_id: unpacked.diff_id.to_string(),
        };
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut container_config = serde_json::json!({});
        apply_changes(&mut container_config, &options.changes)?;
        let mut config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": now,
            "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": [unpacked.diff_id.to_string()]},
            "history": [{
                "created": now,
                "created_by": "silo import",
                "comment": options.message.clone().unwrap_or_else(|| "Imported from -".into()),
            }],
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = serde_json::Value::String(variant.clone());
        }
        let config_json = serde_json::to_vec(&config).map_err(ImageError::Encode)?;
        let config_digest: Digest = self.inner.content.put(&config_json)?;
        let layers = vec![layer];
        let manifest = build_manifest(config_digest.as_str(), config_json.len() as u64, &layers);
        let manifest_digest = self.inner.content.put(&manifest)?;
        let image = NewImage {
            id: config_digest.to_string(),
            manifest_digest: manifest_digest.to_string(),
            manifest_media_type: OCI_MANIFEST.to_string(),
            config_json,
            layers,
            size: unpacked.content_size,
        };
        let refs: Vec<_> = target
            .map(|t| (t.clone(), RefKind::Tag))
            .into_iter()
            .collect();
        self.inner.meta.commit(&image, &refs)?;
        Ok(image.id)
    }
}
