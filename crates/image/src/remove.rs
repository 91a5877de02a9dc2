//! `rmi`, `image prune` and garbage collection of content no image refers to.

use std::collections::HashSet;

use silo_storage::Digest;

use crate::reference::Reference;
use crate::service::{ImageService, Matched};
use crate::ImageError;

/// One line of a removal: Docker prints `Untagged:` and `Deleted:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A reference (familiar form) was removed.
    Untagged(String),
    /// An image (by id) was removed.
    Deleted(String),
}

impl ImageService {
    /// Removes a reference or an image, as `docker rmi` does: removing a tag of an image that
    /// has other tags only untags it; removing the last tag, or the image by id, deletes it.
    /// Deleting by id an image tagged in several places needs `force`.
    pub async fn remove(&self, name: &str, force: bool) -> Result<Vec<Removed>, ImageError> {
        let (image, matched) = self.find_matched(name)?;
        let mut removed = Vec::new();
        match matched {
            Matched::Reference(reference) => {
                self.inner.meta.remove_ref(&reference.to_string())?;
                removed.push(Removed::Untagged(reference.familiar()));
                let remaining_tags = image
                    .repo_tags
                    .len()
                    .saturating_sub(usize::from(reference.digest().is_none()));
                if remaining_tags > 0 {
                    return Ok(removed);
                }
            }
            Matched::Id => {
                if image.repo_tags.len() > 1 && !force {
                    return Err(ImageError::MustForce {
                        short_id: image.short_id().to_string(),
                        reason: "image is referenced in multiple repositories".into(),
                    });
                }
            }
        }
        for name in image.repo_tags.iter().chain(&image.repo_digests) {
            let Ok(reference) = Reference::parse(name) else {
                continue;
            };
            if self.inner.meta.remove_ref(&reference.to_string())? {
                removed.push(Removed::Untagged(name.clone()));
            }
        }
        self.inner.meta.remove_image(&image.id)?;
        removed.push(Removed::Deleted(image.id.clone()));
        self.collect_garbage().await?;
        Ok(removed)
    }

    /// Removes dangling images (no tags), or every image when `all` (no container uses images
    /// yet; the engine filters those in use before calling this). Returns what was removed and
    /// the bytes reclaimed.
    pub async fn prune(
        &self,
        all: bool,
        keep: &HashSet<String>,
    ) -> Result<(Vec<Removed>, u64), ImageError> {
        let mut removed = Vec::new();
        for image in self.list()? {
            if keep.contains(&image.id) || (!all && !image.repo_tags.is_empty()) {
                continue;
            }
            for name in image.repo_tags.iter().chain(&image.repo_digests) {
                removed.push(Removed::Untagged(name.clone()));
            }
            self.inner.meta.remove_image(&image.id)?;
            removed.push(Removed::Deleted(image.id.clone()));
        }
        let reclaimed = self.collect_garbage().await?;
        Ok((removed, reclaimed))
    }

    /// Deletes blobs and unpacked layers that no recorded image refers to; returns bytes freed.
    /// Waits for in-flight pulls, loads and imports, whose content is not recorded yet.
    pub async fn collect_garbage(&self) -> Result<u64, ImageError> {
        let _exclusive = self.inner.gc_lock.write().await;
        let mut blobs = HashSet::new();
        let mut diff_ids = HashSet::new();
        for image in self.list()? {
            blobs.insert(image.id.clone());
            blobs.insert(image.manifest_digest.clone());
            for layer in &image.layers {
                blobs.insert(layer.blob_digest.clone());
                diff_ids.insert(layer.diff_id.clone());
            }
        }
        let mut freed = 0;
        for (digest, size) in self.inner.content.list()? {
            if !blobs.contains(digest.as_str()) {
                self.inner.content.delete(&digest)?;
                freed += size;
            }
        }
        for diff_id in self.inner.layers.list()? {
            if !diff_ids.contains(diff_id.as_str()) {
                freed += self.inner.layers.size(&diff_id).unwrap_or(0);
                self.inner.layers.remove(&diff_id)?;
            }
        }
        Ok(freed)
    }

    /// `image history`: the config's history, newest first, with layer sizes matched to the
    /// entries that created a layer.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryRow>, ImageError> {
        let image = self.find(name)?;
        let history = image.config.history().clone().unwrap_or_default();
        let mut sizes = image.layers.iter().map(|l| {
            Digest::parse(&l.diff_id)
                .ok()
                .and_then(|d| self.inner.layers.content_size(&d).ok())
                .unwrap_or(l.blob_size)
        });
        let mut rows: Vec<HistoryRow> = history
            .iter()
            .map(|h| {
                let size = if h.empty_layer().unwrap_or(false) {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                };
                HistoryRow {
                    id: "<missing>".into(),
                    created: h
                        .created()
                        .as_deref()
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                        .map(|t| t.timestamp())
                        .unwrap_or(0),
                    created_by: h.created_by().clone().unwrap_or_default(),
                    tags: Vec::new(),
                    size,
                    comment: h.comment().clone().unwrap_or_default(),
                }
            })
            .collect();
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = image.id.clone();
            top.tags = image.repo_tags.clone();
        } else {
            rows.push(HistoryRow {
                id: image.id.clone(),
                created: 0,
                created_by: String::new(),
                tags: image.repo_tags.clone(),
                size: image.size,
                comment: String::new(),
            });
        }
        Ok(rows)
    }
}

/// One row of `image history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}
