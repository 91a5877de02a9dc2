//! The image service: one handle over the content store, the layer store, the metadata
//! database and the registry client. Every image verb is a method here, implemented in its own
//! module (`pull.rs`, `push.rs`, `archive/`, `import.rs`, `remove.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use silo_storage::{ContentStore, LayerStore};
use tokio::sync::RwLock;

use crate::reference::Reference;
use crate::registry::{RegistryClient, RegistryOptions};
use crate::store::MetadataStore;
use crate::{ImageError, ImageRecord};

/// Where the image service keeps its state and how it reaches registries.
#[derive(Debug, Clone)]
pub struct ImageServiceConfig {
    /// Root directory: `content/`, `layers/` and `images.db` live below it.
    pub root: PathBuf,
    pub registry: RegistryOptions,
}

/// The image service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ImageService {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) content: ContentStore,
    pub(crate) layers: LayerStore,
    pub(crate) meta: MetadataStore,
    pub(crate) registry: RegistryClient,
    /// Operations that add content hold it shared; garbage collection holds it exclusively,
    /// so a blob committed by a pull that has not recorded its image yet is never collected.
    pub(crate) gc_lock: RwLock<()>,
}

/// How a name given by a user matched an image.
#[derive(Debug, Clone)]
pub enum Matched {
    /// Through a tag or digest reference (normalised form).
    Reference(Reference),
    /// Through its id or an id prefix.
    Id,
}

impl ImageService {
    /// Opens the stores under `config.root`, cleaning up whatever an interrupted operation left.
    pub fn open(config: ImageServiceConfig) -> Result<Self, ImageError> {
        std::fs::create_dir_all(&config.root).map_err(|source| ImageError::Io {
            op: "create image root",
            path: config.root.clone(),
            source,
        })?;
        let content = ContentStore::open(config.root.join("content"))?;
        let layers = LayerStore::open(config.root.join("layers"))?;
        let meta = MetadataStore::open(&config.root.join("images.db"))?;
        let registry = RegistryClient::new(config.registry.clone());
        Ok(ImageService {
            inner: Arc::new(Inner {
                content,
                layers,
                meta,
                registry,
                gc_lock: RwLock::new(()),
            }),
        })
    }

    /// The content store (read-only use by callers: paths of blobs).
    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    /// The layer store (callers use `fs_path` to build root filesystems).
    pub fn layers(&self) -> &LayerStore {
        &self.inner.layers
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        self.inner.meta.list()
    }

    /// Finds an image by reference (`busybox`, `busybox:1.36`, `repo@sha256:…`), full id
    /// (`sha256:…` or 64 hex) or unique id prefix, as Docker does.
    pub fn find(&self, name: &str) -> Result<ImageRecord, ImageError> {
        self.find_matched(name).map(|(record, _)| record)
    }

    /// Like [`find`](Self::find), also saying how the name matched.
    pub fn find_matched(&self, name: &str) -> Result<(ImageRecord, Matched), ImageError> {
        let not_found = || ImageError::NoSuchImage {
            name: name.to_string(),
        };
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let looks_like_id = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if looks_like_id && hex.len() == 64 {
            return self
                .record(&format!("sha256:{hex}"))?
                .map(|r| (r, Matched::Id))
                .ok_or_else(not_found);
        }
        if !name.starts_with("sha256:") {
            match Reference::parse(name) {
                Ok(reference) => {
                    if let Some(id) = self.inner.meta.resolve_ref(&reference.to_string())? {
                        if let Some(record) = self.record(&id)? {
                            return Ok((record, Matched::Reference(reference)));
                        }
                    }
                }
                // Not a reference, but still an id prefix: look it up below.
                Err(_) if looks_like_id => {}
                Err(e) => return Err(e.into()),
            }
        }
        if looks_like_id {
            let ids = self.inner.meta.ids_with_prefix(hex)?;
            match ids.as_slice() {
                [] => {}
                [id] => {
                    return self
                        .record(id)?
                        .map(|r| (r, Matched::Id))
                        .ok_or_else(not_found)
                }
                many => {
                    return Err(ImageError::AmbiguousId {
                        prefix: name.to_string(),
                        count: many.len(),
                    })
                }
            }
        }
        Err(not_found())
    }

    fn record(&self, id: &str) -> Result<Option<ImageRecord>, ImageError> {
        self.inner.meta.get(id)
    }

    /// Adds `target` (`repo[:tag]`, tag defaults to `latest`) as a tag of the image `source`.
    pub fn tag(&self, source: &str, target: &str) -> Result<ImageRecord, ImageError> {
        let image = self.find(source)?;
        let target = Reference::parse(target)?;
        if target.digest().is_some() {
            return Err(ImageError::TagWithDigest {
                target: target.to_string(),
            });
        }
        self.inner
            .meta
            .add_ref(&image.id, &target, crate::store::RefKind::Tag)?;
        self.find(&image.id)
    }
}

impl ImageService {
    /// The unpacked layer directories of a Linux image, base first: what a container's root
    /// filesystem is stacked from. Windows images are refused: their layers (`Files/`,
    /// `Hives/`) are stored and pushed as they are, never used as a Linux root filesystem.
    pub fn rootfs_layers(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, ImageError> {
        if image.os() != "linux" {
            return Err(ImageError::NotLinuxRootfs {
                image: image.short_id().to_string(),
                os: image.os(),
            });
        }
        image
            .layers
            .iter()
            .map(|layer| {
                let diff_id = silo_storage::Digest::parse(&layer.diff_id)?;
                if !self.inner.layers.contains(&diff_id) {
                    return Err(silo_storage::StorageError::LayerNotFound { diff_id }.into());
                }
                Ok(self.inner.layers.fs_path(&diff_id))
            })
            .collect()
    }
}

/// The reference `name@digest` (no tag) for recording a repo digest.
pub(crate) fn digest_reference(r: &Reference, digest: &str) -> Result<Reference, ImageError> {
    Ok(Reference::parse(&format!("{}@{}", r.name(), digest))?)
}
