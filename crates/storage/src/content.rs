//! The content store: immutable blobs addressed by their sha256 digest.
//!
//! Layout: `<root>/blobs/sha256/<hex>` for committed blobs and `<root>/ingest/` for writes in
//! progress. A blob only appears under `blobs/` through an atomic rename after its digest and
//! size were verified and its data fsynced, so a reader never sees partial content and a crash
//! (even `kill -9` mid-download) leaves at most a temp file, which [`ContentStore::open`] deletes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Result, StorageError};
use crate::fsutil;

/// A content-addressed blob store rooted at a directory. Cheap to clone; clones share the root.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: Arc<PathBuf>,
}

impl ContentStore {
    /// Opens (creating if needed) a store at `root` and discards interrupted ingests.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = ContentStore {
            root: Arc::new(root.into()),
        };
        for dir in [store.blobs_dir(), store.ingest_dir()] {
            fs::create_dir_all(&dir).map_err(|e| StorageError::io("create directory", &dir, e))?;
        }
        let ingest = store.ingest_dir();
        fsutil::clear_dir(&ingest)
            .map_err(|e| StorageError::io("clear interrupted ingests in", &ingest, e))?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where the blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Maps "no such file" to [`StorageError::BlobNotFound`] so callers can match on it.
    fn blob_err(&self, op: &'static str, digest: &Digest, e: io::Error) -> StorageError {
        if e.kind() == io::ErrorKind::NotFound {
            StorageError::BlobNotFound {
                digest: digest.clone(),
            }
        } else {
            StorageError::io(op, self.blob_path(digest), e)
        }
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        fs::metadata(self.blob_path(digest))
            .map(|m| m.len())
            .map_err(|e| self.blob_err("stat blob", digest, e))
    }

    /// Reads a whole blob into memory (manifests, configs: small things).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        fs::read(self.blob_path(digest)).map_err(|e| self.blob_err("read blob", digest, e))
    }

    /// Opens a blob for streaming (layers: big things).
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.blob_path(digest)).map_err(|e| self.blob_err("open blob", digest, e))
    }

    /// Stores `bytes` and returns their digest; storing existing content is a cheap no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if !self.contains(&digest) {
            self.put_verified(bytes, &digest)?;
        }
        Ok(digest)
    }

    /// Stores `bytes`, failing (and storing nothing) unless they hash to `expected`.
    pub fn put_verified(&self, bytes: &[u8], expected: &Digest) -> Result<()> {
        let mut ingest = self.ingest(Some(expected.clone()), Some(bytes.len() as u64))?;
        let path = ingest.path.clone();
        ingest
            .write_all(bytes)
            .map_err(|e| StorageError::io("write ingest", path, e))?;
        ingest.commit().map(drop)
    }

    /// Starts a streaming write. Write the content into the returned [`Ingest`], then
    /// [`Ingest::commit`] it; dropping it instead discards everything written.
    pub fn ingest(&self, expected: Option<Digest>, expected_size: Option<u64>) -> Result<Ingest> {
        let path = self.ingest_dir().join(fsutil::unique_name("ingest-"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StorageError::io("create ingest file", &path, e))?;
        Ok(Ingest {
            store: self.clone(),
            file: Some(file),
            path,
            hasher: Sha256::new(),
            written: 0,
            expected,
            expected_size,
        })
    }

    /// Deletes a blob.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        fs::remove_file(self.blob_path(digest)).map_err(|e| self.blob_err("delete blob", digest, e))
    }

    /// Every blob with its size, sorted by digest. Stray files that are not digests are skipped.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        let entries = fs::read_dir(&dir).map_err(|e| StorageError::io("list blobs in", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list blobs in", &dir, e))?;
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                tracing::warn!(path = %entry.path().display(), "ignoring stray file in blob store");
                continue;
            };
            match entry.metadata() {
                Ok(m) => out.push((digest, m.len())),
                // Deleted concurrently: it is simply no longer listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("stat blob", entry.path(), e)),
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A blob being written. Hashes as it writes; only [`Ingest::commit`] makes it visible.
#[derive(Debug)]
pub struct Ingest {
    store: ContentStore,
    /// `None` once committed, so `Drop` knows there is nothing to clean up.
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    written: u64,
    expected: Option<Digest>,
    expected_size: Option<u64>,
}

impl Ingest {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies size and digest, makes the data durable and moves the blob into place.
    /// On any failure the temp file is removed and nothing is stored.
    pub fn commit(mut self) -> Result<Digest> {
        // Taking the file means Drop will not try to delete it again after a successful rename;
        // on the error paths below we delete explicitly.
        let file = self.file.take().ok_or_else(|| {
            StorageError::io(
                "commit ingest",
                &self.path,
                io::Error::other("already committed"),
            )
        })?;
        let result = self.finish(file);
        if result.is_err() {
            let _ = fs::remove_file(&self.path);
        }
        result
    }

    fn finish(&mut self, file: File) -> Result<Digest> {
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if let Some(size) = self.expected_size {
            if size != self.written {
                return Err(StorageError::SizeMismatch {
                    expected_digest: self.expected.clone(),
                    expected: size,
                    actual: self.written,
                });
            }
        }
        if let Some(expected) = &self.expected {
            if *expected != actual {
                return Err(StorageError::DigestMismatch {
                    what: "blob",
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let target = self.store.blob_path(&actual);
        if target.exists() {
            // Content-addressed: an existing blob with this digest is already this content.
            let _ = fs::remove_file(&self.path);
            return Ok(actual);
        }
        file.sync_all()
            .map_err(|e| StorageError::io("fsync ingest", &self.path, e))?;
        drop(file);
        fs::rename(&self.path, &target)
            .map_err(|e| StorageError::io("commit blob to", &target, e))?;
        let dir = self.store.blobs_dir();
        fsutil::fsync_dir(&dir).map_err(|e| StorageError::io("fsync", &dir, e))?;
        Ok(actual)
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
