//! Reading a docker-archive tar (Docker's `save` output, old or new layout) into the store.

use std::collections::HashMap;
use std::io::Read;

use silo_storage::{Compression, Digest};
use tokio::io::AsyncRead;

use super::ArchiveManifest;
use crate::media::{build_manifest, layer_media_type};
use crate::pull::{short, task_failed};
use crate::reference::Reference;
use crate::service::ImageService;
use crate::store::{NewImage, RefKind};
use crate::{ImageError, LayerRecord, Progress, ProgressSender};

/// Files up to this size are kept in memory while the archive streams by (manifests, configs);
/// larger ones go straight into the content store.
const SMALL_FILE: u64 = 1 << 20;

/// One image a load added (or found already present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: String,
    /// Tags from the archive, familiar form; empty when the archive named none.
    pub tags: Vec<String>,
}

/// Where a file of the archive ended up while streaming.
enum Staged {
    Memory(Vec<u8>),
    Blob(Digest, u64),
}

impl ImageService {
    /// Loads every image of a docker-archive stream.
    pub async fn load<R>(
        &self,
        input: R,
        progress: ProgressSender,
    ) -> Result<Vec<Loaded>, ImageError>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let this = self.clone();
        let loaded = {
            let _content_guard = self.inner.gc_lock.read().await;
            tokio::task::spawn_blocking(move || {
                let reader = tokio_util::io::SyncIoBridge::new(input);
                this.load_archive(reader, &progress)
            })
            .await
            .map_err(|e| task_failed("load images", e))??
        };
        // Drop whatever the archive carried that no image uses.
        self.collect_garbage().await?;
        Ok(loaded)
    }

    fn load_archive(
        &self,
        input: impl Read,
        progress: &ProgressSender,
    ) -> Result<Vec<Loaded>, ImageError> {
        let mut staged = self.stage_archive(input, progress)?;
        let manifest_json = match staged.remove("manifest.json") {
            Some(Staged::Memory(bytes)) => bytes,
            _ => {
                return Err(ImageError::InvalidArchive {
                    reason: "no manifest.json (is this a docker save archive?)".into(),
                })
            }
        };
        let entries: Vec<ArchiveManifest> =
            serde_json::from_slice(&manifest_json).map_err(|e| ImageError::InvalidArchive {
                reason: format!("manifest.json: {e}"),
            })?;
        entries
            .iter()
            .map(|entry| self.load_entry(entry, &mut staged, progress))
            .collect()
    }

    /// Streams the tar once: small files to memory, the rest into the content store.
    fn stage_archive(
        &self,
        input: impl Read,
        progress: &ProgressSender,
    ) -> Result<HashMap<String, Staged>, ImageError> {
        let bad = |e: std::io::Error| ImageError::InvalidArchive {
            reason: format!("not a readable tar stream: {e}"),
        };
        let mut archive = tar::Archive::new(input);
        let mut staged = HashMap::new();
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(bad)?.to_string_lossy().to_string();
            let path = path.trim_start_matches("./").to_string();
            let size = entry.header().size().map_err(bad)?;
            if size <= SMALL_FILE {
                let mut bytes = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut bytes).map_err(bad)?;
                staged.insert(path, Staged::Memory(bytes));
            } else {
                let mut ingest = self.inner.content.ingest(None, Some(size))?;
                let id = short(&path.replace('/', ""));
                progress.send(Progress::layer(&id, "Loading layer"));
                std::io::copy(&mut entry, &mut ingest).map_err(bad)?;
                let digest = ingest.commit()?;
                staged.insert(path, Staged::Blob(digest, size));
            }
        }
        Ok(staged)
    }

    fn blob_of(
        &self,
        staged: &mut HashMap<String, Staged>,
        path: &str,
    ) -> Result<(Digest, u64), ImageError> {
        match staged.get(path) {
            Some(Staged::Blob(d, size)) => Ok((d.clone(), *size)),
            Some(Staged::Memory(bytes)) => {
                let digest = self.inner.content.put(bytes)?;
                let size = bytes.len() as u64;
                staged.insert(path.to_string(), Staged::Blob(digest.clone(), size));
                Ok((digest, size))
            }
            None => Err(ImageError::InvalidArchive {
                reason: format!("manifest.json names {path}, which is not in the archive"),
            }),
        }
    }

    fn load_entry(
        &self,
        entry: &ArchiveManifest,
        staged: &mut HashMap<String, Staged>,
        progress: &ProgressSender,
    ) -> Result<Loaded, ImageError> {
        let (config_digest, _) = self.blob_of(staged, &entry.config)?;
        let config_bytes = self.inner.content.read(&config_digest)?;
        let config = oci_spec::image::ImageConfiguration::from_reader(config_bytes.as_slice())
            .map_err(|e| ImageError::InvalidArchive {
                reason: format!("{}: {e}", entry.config),
            })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != entry.layers.len() {
            return Err(ImageError::InvalidArchive {
                reason: format!(
                    "{} lists {} layers but its config has {} diff_ids",
                    entry.config,
                    entry.layers.len(),
                    diff_ids.len()
                ),
            });
        }
        let windows = config.os().to_string() == "windows";
        let mut layers = Vec::new();
        let mut size = 0;
        for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
            let (blob, blob_size) = self.blob_of(staged, path)?;
            let diff_id = Digest::parse(diff_id)?;
            let compression = self.blob_compression(&blob)?;
            if compression == Compression::None && blob != diff_id {
                return Err(ImageError::InvalidArchive {
                    reason: format!("layer {path} has digest {blob}, its config says {diff_id}"),
                });
            }
            if windows {
                size += blob_size;
            } else {
                let id = short(diff_id.as_str());
                let mut report = |n| {
                    progress.send(Progress::Bytes {
                        id: id.clone(),
                        action: crate::ProgressAction::Loading,
                        current: n,
                        total: None,
                    })
                };
                let path = self.inner.content.blob_path(&blob);
                size += self
                    .inner
                    .layers
                    .unpack(&path, Some(&diff_id), &mut report)?
                    .content_size;
            }
            layers.push(LayerRecord {
                blob_digest: blob.to_string(),
                media_type: layer_media_type(compression).to_string(),
                blob_size,
                diff_id: diff_id.to_string(),
            });
        }
        let manifest = build_manifest(config_digest.as_str(), config_bytes.len() as u64, &layers);
        let manifest_digest = self.inner.content.put(&manifest)?;
        let mut refs = Vec::new();
        for tag in entry.repo_tags.iter().flatten() {
            refs.push((Reference::parse(tag)?, RefKind::Tag));
        }
        let image = NewImage {
            id: config_digest.to_string(),
            manifest_digest: manifest_digest.to_string(),
            manifest_media_type: crate::media::OCI_MANIFEST.to_string(),
            config_json: config_bytes,
            layers,
            size,
        };
        self.inner.meta.commit(&image, &refs)?;
        Ok(Loaded {
            id: image.id,
            tags: refs.iter().map(|(r, _)| r.familiar()).collect(),
        })
    }

    pub(crate) fn blob_compression(&self, blob: &Digest) -> Result<Compression, ImageError> {
        let mut file = self.inner.content.open_blob(blob)?;
        let mut head = [0u8; 8];
        let n = file.read(&mut head).map_err(|source| ImageError::Io {
            op: "read blob",
            path: self.inner.content.blob_path(blob),
            source,
        })?;
        Ok(Compression::detect(&head[..n]))
    }
}
