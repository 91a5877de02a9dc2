//! The layer store: each layer unpacked once per diff_id and shared by every image using it.
//!
//! Layout: `<root>/sha256/<diff_id hex>/{fs/, layer.json}`. A layer is unpacked into
//! `<root>/tmp/<unique>/`, verified, flushed to disk, and only then renamed to its final name
//! in one atomic step, so a layer directory that exists is always complete. Crash leftovers in
//! `tmp/` are deleted by [`LayerStore::open`]. Removal renames the layer into `tmp/` first, so a
//! half-deleted tree is never visible under its diff_id either.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, RenameFlags, CWD};
use sha2::{Digest as _, Sha256};

use crate::compression::{decompress, Compression};
use crate::digest::Digest;
use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::unpack::{unpack_layer, UnpackOptions};

/// How often (in uncompressed bytes) progress is reported.
const PROGRESS_EVERY: u64 = 256 * 1024;
const META_FILE: &str = "layer.json";

/// Unpacked layers keyed by diff_id. Cheap to clone; clones share the root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: Arc<PathBuf>,
}

/// A layer that is present in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedLayer {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar in bytes.
    pub size: u64,
    /// Bytes of regular-file content in the layer: the size Docker reports for an image.
    pub content_size: u64,
    /// The unpacked tree (the overlayfs lower directory).
    pub path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LayerMeta {
    diff_id: Digest,
    size: u64,
    content_size: u64,
}

impl LayerStore {
    /// Opens (creating if needed) a layer store at `root` and discards interrupted unpacks.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = LayerStore {
            root: Arc::new(root.into()),
        };
        for dir in [store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(|e| StorageError::io("create directory", &dir, e))?;
        }
        let tmp = store.tmp_dir();
        fsutil::clear_dir(&tmp)
            .map_err(|e| StorageError::io("clear interrupted unpacks in", &tmp, e))?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(diff_id.hex())
    }

    /// Whether the layer has been unpacked (a layer directory only exists once complete).
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// The unpacked tree of a layer (whether or not it exists).
    pub fn fs_path(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir(diff_id).join("fs")
    }

    /// Uncompressed tar size recorded when the layer was unpacked.
    pub fn size(&self, diff_id: &Digest) -> Result<u64> {
        Ok(self.meta(diff_id)?.size)
    }

    /// Bytes of regular-file content recorded when the layer was unpacked.
    pub fn content_size(&self, diff_id: &Digest) -> Result<u64> {
        Ok(self.meta(diff_id)?.content_size)
    }

    fn meta(&self, diff_id: &Digest) -> Result<LayerMeta> {
        let path = self.layer_dir(diff_id).join(META_FILE);
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::LayerNotFound {
                diff_id: diff_id.clone(),
            },
            _ => StorageError::io("read layer metadata", &path, e),
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StorageError::Metadata { path, source })
    }

    fn existing(&self, diff_id: &Digest) -> Result<UnpackedLayer> {
        let meta = self.meta(diff_id)?;
        Ok(UnpackedLayer {
            diff_id: diff_id.clone(),
            size: meta.size,
            content_size: meta.content_size,
            path: self.fs_path(diff_id),
        })
    }

    /// Unpacks a (possibly gzip- or zstd-compressed) layer blob. The compression is detected
    /// from the blob's magic bytes. Returns at once, without reading the blob, if the layer is
    /// already present.
    pub fn unpack(
        &self,
        blob: &Path,
        expected_diff_id: Option<&Digest>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<UnpackedLayer> {
        if let Some(d) = expected_diff_id.filter(|d| self.contains(d)) {
            return self.existing(d);
        }
        let file = File::open(blob).map_err(|e| StorageError::io("open layer blob", blob, e))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let magic = reader
            .fill_buf()
            .map_err(|e| StorageError::io("read layer blob", blob, e))?;
        let compression = Compression::detect(magic);
        let reader = decompress(reader, compression)?;
        self.unpack_reader(reader, expected_diff_id, progress)
    }

    /// Unpacks an uncompressed layer tar stream, computing its diff_id on the way.
    pub fn unpack_reader(
        &self,
        reader: impl Read,
        expected_diff_id: Option<&Digest>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<UnpackedLayer> {
        if let Some(d) = expected_diff_id.filter(|d| self.contains(d)) {
            return self.existing(d);
        }
        let tmp = self.tmp_dir().join(fsutil::unique_name("unpack-"));
        let result = self.unpack_into(&tmp, reader, expected_diff_id, progress);
        // On success tmp has been renamed away (or must be discarded because another unpack
        // won the race); on failure it holds a partial tree. Either way it goes.
        if let Err(e) = fsutil::remove_all(&tmp) {
            tracing::warn!(path = %tmp.display(), error = %e, "cannot remove unpack scratch directory");
        }
        result
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        reader: impl Read,
        expected: Option<&Digest>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<UnpackedLayer> {
        let fs_dir = tmp.join("fs");
        fs::create_dir_all(&fs_dir)
            .map_err(|e| StorageError::io("create directory", &fs_dir, e))?;
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Sha256::new(),
            count: 0,
            reported: 0,
            progress,
        };
        let stats = unpack_layer(&mut hashing, &fs_dir, &UnpackOptions::default())?;
        // The diff_id covers the whole stream, including the zero blocks (and any padding)
        // after the end-of-archive marker the tar reader stopped at.
        io::copy(&mut hashing, &mut io::sink()).map_err(|source| StorageError::TarRead {
            context: "trailing data after end of archive".into(),
            source,
        })?;
        let size = hashing.count;
        (hashing.progress)(size);
        let diff_id = Digest::from_hasher(hashing.hasher);
        if let Some(expected) = expected {
            if *expected != diff_id {
                return Err(StorageError::DigestMismatch {
                    what: "layer diff_id",
                    expected: expected.clone(),
                    actual: diff_id,
                });
            }
        }
        let meta_path = tmp.join(META_FILE);
        let meta = serde_json::to_vec(&LayerMeta {
            diff_id: diff_id.clone(),
            size,
            content_size: stats.bytes,
        })
        .map_err(|source| StorageError::Metadata {
            path: meta_path.clone(),
            source,
        })?;
        fs::write(&meta_path, meta)
            .map_err(|e| StorageError::io("write layer metadata", &meta_path, e))?;
        // One syncfs instead of an fsync per file: the rename below must not become durable
        // before the tree it publishes.
        let tmp_fd = rustix::fs::open(
            tmp,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StorageError::io("open", tmp, e.into()))?;
        rustix::fs::syncfs(&tmp_fd).map_err(|e| StorageError::io("syncfs", tmp, e.into()))?;

        let target = self.layer_dir(&diff_id);
        let renamed =
            match rustix::fs::renameat_with(CWD, tmp, CWD, &target, RenameFlags::NOREPLACE) {
                // Filesystems without RENAME_NOREPLACE: a plain rename still refuses to replace a
                // non-empty directory, and a published layer is never empty.
                Err(rustix::io::Errno::INVAL) => rustix::fs::rename(tmp, &target),
                other => other,
            };
        match renamed {
            Ok(()) => {
                let dir = self.layers_dir();
                fsutil::fsync_dir(&dir).map_err(|e| StorageError::io("fsync", &dir, e))?;
            }
            // Someone else unpacked the same layer first; theirs is identical, keep it.
            Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => {}
            Err(e) => return Err(StorageError::io("publish layer", &target, e.into())),
        }
        Ok(UnpackedLayer {
            diff_id: diff_id.clone(),
            size,
            content_size: stats.bytes,
            path: self.fs_path(&diff_id),
        })
    }

    /// Deletes a layer. The caller is responsible for knowing no image or container uses it.
    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let dir = self.layer_dir(diff_id);
        let doomed = self.tmp_dir().join(fsutil::unique_name("remove-"));
        fs::rename(&dir, &doomed).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::LayerNotFound {
                diff_id: diff_id.clone(),
            },
            _ => StorageError::io("move layer aside for removal", &dir, e),
        })?;
        fsutil::remove_all(&doomed).map_err(|e| StorageError::io("remove layer", &doomed, e))
    }

    /// All unpacked layers, sorted. Stray entries that are not digests are skipped.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.layers_dir();
        let entries =
            fs::read_dir(&dir).map_err(|e| StorageError::io("list layers in", &dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list layers in", &dir, e))?;
            match entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                Some(d) => out.push(d),
                None => {
                    tracing::warn!(path = %entry.path().display(), "ignoring stray entry in layer store")
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Hashes and counts everything read through it, reporting progress every [`PROGRESS_EVERY`].
struct HashingReader<'p, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    reported: u64,
    progress: &'p mut dyn FnMut(u64),
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count - self.reported >= PROGRESS_EVERY {
            self.reported = self.count;
            (self.progress)(self.count);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
