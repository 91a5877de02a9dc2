//! Writing images as a docker-archive tar.

use std::collections::HashSet;
use std::io::{Read, Write};

use silo_storage::{Compression, Digest};
use tokio::io::AsyncWrite;

use super::ArchiveManifest;
use crate::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST};
use crate::pull::task_failed;
use crate::service::{ImageService, Matched};
use crate::{ImageError, ImageRecord};

/// An image to write, with the tags the archive should carry for it.
struct Selected {
    image: ImageRecord,
    tags: Vec<String>,
}

impl ImageService {
    /// Writes the named images (references or ids) to `out` as one docker-archive tar.
    pub async fn save<W>(&self, names: &[String], out: W) -> Result<(), ImageError>
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let mut selected: Vec<Selected> = Vec::new();
        for name in names {
            let (image, matched) = self.find_matched(name)?;
            let tag = match matched {
                Matched::Reference(r) if r.digest().is_none() => Some(r.familiar()),
                _ => None,
            };
            match selected.iter_mut().find(|s| s.image.id == image.id) {
                Some(s) => s.tags.extend(tag),
                None => selected.push(Selected {
                    image,
                    tags: tag.into_iter().collect(),
                }),
            }
        }
        let this = self.clone();
        let _content_guard = self.inner.gc_lock.read().await;
        tokio::task::spawn_blocking(move || {
            let writer = tokio_util::io::SyncIoBridge::new(out);
            this.write_archive(&selected, writer)
        })
        .await
        .map_err(|e| task_failed("save images", e))?
    }

    fn write_archive(&self, selected: &[Selected], out: impl Write) -> Result<(), ImageError> {
        let mut tar = tar::Builder::new(out);
        let stream_err = |source| ImageError::Stream {
            op: "write archive",
            source,
        };
        append_dir(&mut tar, "blobs/").map_err(stream_err)?;
        append_dir(&mut tar, "blobs/sha256/").map_err(stream_err)?;
        let mut written: HashSet<String> = HashSet::new();
        let mut manifests = Vec::new();
        let mut index_entries = Vec::new();
        for Selected { image, tags } in selected {
            let config = self.inner.content.read(&Digest::parse(&image.id)?)?;
            if written.insert(image.id.clone()) {
                append_file(&mut tar, &blob_path(&image.id), &config).map_err(stream_err)?;
            }
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            for layer in &image.layers {
                let size = self.uncompressed_size(layer)?;
                if written.insert(layer.diff_id.clone()) {
                    self.append_layer(&mut tar, layer, size)?;
                }
                layer_paths.push(blob_path(&layer.diff_id));
                layer_descs.push(serde_json::json!({
                    "mediaType": OCI_LAYER_TAR, "digest": layer.diff_id, "size": size,
                }));
            }
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": image.id, "size": config.len()},
                "layers": layer_descs,
            }))
            .map_err(ImageError::Encode)?;
            let manifest_digest = Digest::of(&manifest).to_string();
            if written.insert(manifest_digest.clone()) {
                append_file(&mut tar, &blob_path(&manifest_digest), &manifest)
                    .map_err(stream_err)?;
            }
            let annotations = tags.first().map(|t| {
                serde_json::json!({
                    "io.containerd.image.name": t,
                    "org.opencontainers.image.ref.name": t.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("latest"),
                })
            });
            index_entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": manifest_digest,
                "size": manifest.len(), "annotations": annotations,
            }));
            manifests.push(ArchiveManifest {
                config: blob_path(&image.id),
                repo_tags: (!tags.is_empty()).then(|| tags.clone()),
                layers: layer_paths,
            });
        }
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries,
        });
        append_file(&mut tar, "index.json", &to_json(&index)?).map_err(stream_err)?;
        append_file(&mut tar, "manifest.json", &to_json(&manifests)?).map_err(stream_err)?;
        append_file(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(stream_err)?;
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(stream_err)
    }

    /// Bytes of the uncompressed tar of a layer: recorded at unpack for Linux layers, counted
    /// by decompressing for layers that are only stored (Windows).
    fn uncompressed_size(&self, layer: &crate::LayerRecord) -> Result<u64, ImageError> {
        let diff_id = Digest::parse(&layer.diff_id)?;
        if self.inner.layers.contains(&diff_id) {
            return Ok(self.inner.layers.size(&diff_id)?);
        }
        let mut reader = self.open_uncompressed(layer)?;
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|source| ImageError::Stream {
            op: "measure layer",
            source,
        })
    }

    fn open_uncompressed(&self, layer: &crate::LayerRecord) -> Result<Box<dyn Read>, ImageError> {
        let blob = Digest::parse(&layer.blob_digest)?;
        let mut file = self.inner.content.open_blob(&blob)?;
        let mut head = [0u8; 8];
        let n = file.read(&mut head).map_err(|source| ImageError::Stream {
            op: "read layer",
            source,
        })?;
        let stream = std::io::Cursor::new(head[..n].to_vec()).chain(file);
        Ok(silo_storage::decompress(
            stream,
            Compression::detect(&head[..n]),
        )?)
    }

    fn append_layer<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        layer: &crate::LayerRecord,
        size: u64,
    ) -> Result<(), ImageError> {
        let reader = self.open_uncompressed(layer)?;
        let mut header = file_header(size);
        tar.append_data(&mut header, blob_path(&layer.diff_id), reader.take(size))
            .map_err(|source| ImageError::Stream {
                op: "write layer to archive",
                source,
            })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(ImageError::Encode)
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(0);
    header
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = file_header(data.len() as u64);
    tar.append_data(&mut header, path, data)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mtime(0);
    tar.append_data(&mut header, path, std::io::empty())
}
