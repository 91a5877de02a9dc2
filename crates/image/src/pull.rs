//! `pull`: reference → manifest (choosing a platform from an index) → config → layers.
//!
//! Each missing layer is downloaded once and fed, chunk by chunk, to two blocking workers at the
//! same time: one writes the blob into the content store (which verifies its digest on commit),
//! the other decompresses and unpacks it into the layer store (which verifies the diff_id from
//! the already-verified config). Download and unpack overlap instead of running one after the
//! other. The image is recorded only after every layer is committed, so a crash mid-pull leaves
//! no half image; a second pull reuses whatever blobs and layers were completed.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use silo_storage::{Compression, Digest};
use tokio::sync::mpsc;

use crate::media::{self, Document};
use crate::platform::{self, Platform};
use crate::reference::Reference;
use crate::registry::Credentials;
use crate::service::{digest_reference, ImageService};
use crate::store::{NewImage, RefKind};
use crate::{ImageError, ImageRecord, LayerRecord, Progress, ProgressAction, ProgressSender};

/// How many layers download at once (Docker's default too).
const CONCURRENT_LAYERS: usize = 3;
/// Chunks buffered between the network and each disk worker.
const PIPE_DEPTH: usize = 32;
/// Report download progress at most every this many bytes.
const PROGRESS_STEP: u64 = 512 * 1024;

/// What to pull besides the reference.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; the host's platform when absent.
    pub platform: Option<String>,
    /// Host Windows version to match `windows/*` entries against (silo extension).
    pub os_version: Option<String>,
    pub credentials: Credentials,
}

struct LayerJob {
    index: usize,
    digest: String,
    media_type: String,
    size: u64,
    diff_id: Digest,
}

impl ImageService {
    /// Pulls `reference`, reporting progress per layer, and returns the stored image.
    pub async fn pull(
        &self,
        reference: &str,
        options: PullOptions,
        progress: ProgressSender,
    ) -> Result<ImageRecord, ImageError> {
        let reference = Reference::parse(reference)?;
        let _content_guard = self.inner.gc_lock.read().await;
        let creds = &options.credentials;
        let wanted = wanted_platform(&options)?;
        let tag_or_digest = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        progress.send(Progress::layer(
            tag_or_digest,
            format!("Pulling from {}", reference.familiar_name()),
        ));

        let top = self
            .inner
            .registry
            .fetch_manifest(&reference, creds)
            .await?;
        let (manifest_bytes, manifest_digest, manifest_media_type) =
            match media::parse_document(&top.bytes, &top.media_type, &top.digest)? {
                Document::Manifest(_) => (
                    top.bytes.clone(),
                    top.digest.clone(),
                    top.media_type.clone(),
                ),
                Document::Index => {
                    // From the raw bytes: oci-spec's parsed index loses `os.version`.
                    let candidates = platform::candidates_from_index_json(&top.bytes)?;
                    let report = platform::resolve(&candidates, &wanted, None);
                    let chosen = report
                        .chosen_digest()
                        .map(str::to_string)
                        .ok_or(())
                        .or_else(|()| report.into_result().map(|c| c.digest))?;
                    let m = self
                        .inner
                        .registry
                        .fetch_manifest_by_digest(&reference, &chosen, creds)
                        .await?;
                    (m.bytes, m.digest, m.media_type)
                }
            };
        let manifest =
            match media::parse_document(&manifest_bytes, &manifest_media_type, &manifest_digest)? {
                Document::Manifest(m) => m,
                Document::Index => {
                    return Err(ImageError::InvalidDocument {
                        what: "manifest",
                        digest: manifest_digest,
                        reason: "an index entry points at another index".into(),
                    })
                }
            };
        let manifest_digest_parsed = Digest::parse(&manifest_digest)?;
        self.inner
            .content
            .put_verified(&manifest_bytes, &manifest_digest_parsed)?;

        let (config_bytes, config) = self.fetch_config(&reference, &manifest, creds).await?;
        check_platform(&reference, &config, options.platform.as_deref(), &wanted)?;
        let config_digest = manifest.config().digest().to_string();
        let windows = config.os().to_string() == "windows";
        let jobs = layer_jobs(&manifest, &config, &config_digest)?;

        let existed = self.inner.meta.get(&config_digest)?.is_some();
        for job in &jobs {
            if !self.layer_present(job, windows) {
                progress.send(Progress::layer(short(&job.digest), "Pulling fs layer"));
            }
        }
        let mut fetched: Vec<(usize, LayerRecord, u64)> = futures::stream::iter(jobs)
            .map(|job| self.fetch_layer(&reference, job, windows, creds, &progress))
            .buffer_unordered(CONCURRENT_LAYERS)
            .try_collect()
            .await?;
        fetched.sort_by_key(|(i, _, _)| *i);
        let size = fetched.iter().map(|(_, _, s)| s).sum();
        let layers = fetched.into_iter().map(|(_, l, _)| l).collect();

        let mut refs = vec![(digest_reference(&reference, &top.digest)?, RefKind::Digest)];
        if reference.digest().is_none() {
            refs.push((reference.clone(), RefKind::Tag));
        }
        let image = NewImage {
            id: config_digest.clone(),
            manifest_digest,
            manifest_media_type,
            config_json: config_bytes,
            layers,
            size,
        };
        self.inner.meta.commit(&image, &refs)?;
        progress.send(Progress::status(format!("Digest: {}", top.digest)));
        let verb = if existed {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        progress.send(Progress::status(format!(
            "Status: {verb} {}",
            reference.familiar()
        )));
        self.find(&config_digest)
    }

    async fn fetch_config(
        &self,
        reference: &Reference,
        manifest: &ImageManifest,
        creds: &Credentials,
    ) -> Result<(Vec<u8>, ImageConfiguration), ImageError> {
        let digest_str = manifest.config().digest().to_string();
        let digest = Digest::parse(&digest_str)?;
        let bytes = if self.inner.content.contains(&digest) {
            self.inner.content.read(&digest)?
        } else {
            let bytes = self
                .inner
                .registry
                .fetch_blob(reference, &digest_str, creds)
                .await?;
            self.inner.content.put_verified(&bytes, &digest)?;
            bytes
        };
        let config = ImageConfiguration::from_reader(bytes.as_slice()).map_err(|e| {
            ImageError::InvalidDocument {
                what: "image config",
                digest: digest_str,
                reason: e.to_string(),
            }
        })?;
        Ok((bytes, config))
    }

    fn layer_present(&self, job: &LayerJob, windows: bool) -> bool {
        Digest::parse(&job.digest)
            .map(|d| self.inner.content.contains(&d))
            .unwrap_or(false)
            && (windows || self.inner.layers.contains(&job.diff_id))
    }

    /// Makes one layer present: blob in the content store and (for Linux images) unpacked.
    /// Returns its index, record and uncompressed size.
    async fn fetch_layer(
        &self,
        reference: &Reference,
        job: LayerJob,
        windows: bool,
        creds: &Credentials,
        progress: &ProgressSender,
    ) -> Result<(usize, LayerRecord, u64), ImageError> {
        let id = short(&job.digest);
        let blob = Digest::parse(&job.digest)?;
        let record = LayerRecord {
            blob_digest: job.digest.clone(),
            media_type: job.media_type.clone(),
            blob_size: job.size,
            diff_id: job.diff_id.to_string(),
        };
        if self.layer_present(&job, windows) {
            progress.send(Progress::layer(&id, "Already exists"));
            let size = self.layer_size(&job, windows)?;
            return Ok((job.index, record, size));
        }
        if self.inner.content.contains(&blob) {
            // Downloaded by an interrupted pull, never unpacked.
            self.unpack_stored(&blob, &job.diff_id, &id, progress)
                .await?;
        } else {
            self.download_layer(reference, &job, windows, creds, progress)
                .await?;
        }
        progress.send(Progress::layer(&id, "Pull complete"));
        let size = self.layer_size(&job, windows)?;
        Ok((job.index, record, size))
    }

    fn layer_size(&self, job: &LayerJob, windows: bool) -> Result<u64, ImageError> {
        if windows {
            Ok(job.size)
        } else {
            Ok(self.inner.layers.content_size(&job.diff_id)?)
        }
    }

    async fn unpack_stored(
        &self,
        blob: &Digest,
        diff_id: &Digest,
        id: &str,
        progress: &ProgressSender,
    ) -> Result<(), ImageError> {
        let layers = self.inner.layers.clone();
        let path = self.inner.content.blob_path(blob);
        let diff_id = diff_id.clone();
        let progress = progress.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut report = extract_reporter(&progress, &id);
            layers.unpack(&path, Some(&diff_id), &mut report)
        })
        .await
        .map_err(|e| task_failed("unpack layer", e))??;
        Ok(())
    }

    async fn download_layer(
        &self,
        reference: &Reference,
        job: &LayerJob,
        windows: bool,
        creds: &Credentials,
        progress: &ProgressSender,
    ) -> Result<(), ImageError> {
        let id = short(&job.digest);
        let blob = Digest::parse(&job.digest)?;
        let mut stream = self
            .inner
            .registry
            .blob_stream(reference, &job.digest, creds)
            .await?;

        let (blob_tx, blob_rx) = mpsc::channel::<Bytes>(PIPE_DEPTH);
        let content = self.inner.content.clone();
        let expected_size = job.size;
        let ingest_worker =
            tokio::task::spawn_blocking(move || write_blob(content, blob, expected_size, blob_rx));

        // Windows layers are stored, never unpacked.
        let (unpack_tx, unpack_worker) = if windows {
            (None, None)
        } else {
            let (tx, rx) = mpsc::channel::<Bytes>(PIPE_DEPTH);
            let layers = self.inner.layers.clone();
            let compression = Compression::from_media_type(&job.media_type);
            let diff_id = job.diff_id.clone();
            let progress = progress.clone();
            let id = id.clone();
            let worker = tokio::task::spawn_blocking(move || {
                let mut report = extract_reporter(&progress, &id);
                unpack_stream(layers, rx, compression, diff_id, &mut report)
            });
            (Some(tx), Some(worker))
        };
        let mut unpack_tx = unpack_tx;

        let mut done = 0u64;
        let mut reported = 0u64;
        let mut download_error = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    download_error = Some(ImageError::from(e));
                    break;
                }
            };
            done += chunk.len() as u64;
            if let Some(tx) = &unpack_tx {
                // The unpacker stops reading only when it failed; its error is reported below.
                if tx.send(chunk.clone()).await.is_err() {
                    unpack_tx = None;
                }
            }
            if blob_tx.send(chunk).await.is_err() {
                break;
            }
            if done - reported >= PROGRESS_STEP {
                reported = done;
                progress.send(Progress::Bytes {
                    id: id.clone(),
                    action: ProgressAction::Downloading,
                    current: done,
                    total: Some(job.size),
                });
            }
        }
        drop(blob_tx);
        drop(unpack_tx);
        if let Some(e) = download_error {
            // Let the workers see the closed pipes and clean up their temporaries.
            let _ = ingest_worker.await;
            if let Some(w) = unpack_worker {
                let _ = w.await;
            }
            return Err(e);
        }
        progress.send(Progress::layer(&id, "Verifying Checksum"));
        ingest_worker
            .await
            .map_err(|e| task_failed("store layer blob", e))??;
        progress.send(Progress::layer(&id, "Download complete"));
        if let Some(worker) = unpack_worker {
            worker.await.map_err(|e| task_failed("unpack layer", e))??;
        }
        Ok(())
    }
}

fn write_blob(
    content: silo_storage::ContentStore,
    digest: Digest,
    size: u64,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<(), ImageError> {
    use std::io::Write;
    let mut ingest = content.ingest(Some(digest), Some(size))?;
    while let Some(chunk) = rx.blocking_recv() {
        ingest
            .write_all(&chunk)
            .map_err(|source| ImageError::Stream {
                op: "write layer blob",
                source,
            })?;
    }
    ingest.commit()?;
    Ok(())
}

fn unpack_stream(
    layers: silo_storage::LayerStore,
    rx: mpsc::Receiver<Bytes>,
    compression: Option<Compression>,
    diff_id: Digest,
    report: &mut dyn FnMut(u64),
) -> Result<(), ImageError> {
    use std::io::Read;
    let mut reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    // An unknown media type: sniff the compression from the first bytes, then put them back.
    let mut head = Vec::with_capacity(8);
    if compression.is_none() {
        (&mut reader)
            .take(8)
            .read_to_end(&mut head)
            .map_err(|source| ImageError::Stream {
                op: "read layer",
                source,
            })?;
    }
    let compression = compression.unwrap_or_else(|| Compression::detect(&head));
    let stream = std::io::Cursor::new(head).chain(reader);
    if compression == Compression::None {
        layers.unpack_reader(stream, Some(&diff_id), report)?;
        return Ok(());
    }
    // Inflate on its own thread so decompression and file creation use both cores instead of
    // taking turns on one.
    let (tx, rx) = mpsc::channel::<Bytes>(PIPE_DEPTH);
    let inflater = std::thread::Builder::new()
        .name("silo-inflate".into())
        .spawn(move || inflate_into(stream, compression, tx))
        .map_err(|source| ImageError::Stream {
            op: "start decompression thread",
            source,
        })?;
    let unpacked = layers.unpack_reader(
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
        Some(&diff_id),
        report,
    );
    let inflated = inflater.join().map_err(|_| ImageError::Task {
        op: "decompress layer",
        reason: "decompression thread panicked".into(),
    })?;
    // A decompression error explains a truncated tar better than the unpacker's view of it.
    inflated?;
    unpacked?;
    Ok(())
}

/// Decompresses `stream` into `tx` in chunks; stops early if the unpacker hung up.
fn inflate_into(
    stream: impl std::io::Read,
    compression: Compression,
    tx: mpsc::Sender<Bytes>,
) -> Result<(), ImageError> {
    const CHUNK: usize = 256 * 1024;
    let mut decoded = silo_storage::decompress(stream, compression)?;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = read_up_to(&mut decoded, &mut buf).map_err(|source| ImageError::Stream {
            op: "decompress layer",
            source,
        })?;
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        if tx.blocking_send(Bytes::from(buf)).is_err() {
            return Ok(());
        }
    }
}

/// Fills `buf` as far as the reader allows; 0 only at end of stream.
fn read_up_to(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the chunks a download sends, as a blocking `Read`. End of the channel is end of file.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn extract_reporter<'a>(progress: &'a ProgressSender, id: &'a str) -> impl FnMut(u64) + 'a {
    move |current| {
        progress.send(Progress::Bytes {
            id: id.to_string(),
            action: ProgressAction::Extracting,
            current,
            total: None,
        })
    }
}

fn wanted_platform(options: &PullOptions) -> Result<Platform, ImageError> {
    let mut wanted = match &options.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    if let Some(v) = &options.os_version {
        wanted.os_version = Some(v.clone());
    }
    Ok(wanted)
}

/// A single-manifest image must be for the platform asked for; without an explicit request,
/// any Linux image is taken (as Docker does), never a Windows one.
fn check_platform(
    reference: &Reference,
    config: &ImageConfiguration,
    requested: Option<&str>,
    wanted: &Platform,
) -> Result<(), ImageError> {
    let os = config.os().to_string();
    let arch = config.architecture().to_string();
    let matches = os == wanted.os && arch == wanted.architecture;
    if matches || (requested.is_none() && os == "linux") {
        return Ok(());
    }
    Err(ImageError::PlatformMismatch {
        reference: reference.familiar(),
        wanted: wanted.to_string(),
        found: format!("{os}/{arch}"),
    })
}

fn layer_jobs(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
    config_digest: &str,
) -> Result<Vec<LayerJob>, ImageError> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::InvalidDocument {
            what: "image config",
            digest: config_digest.to_string(),
            reason: format!(
                "{} diff_ids for {} layers in the manifest",
                diff_ids.len(),
                manifest.layers().len()
            ),
        });
    }
    manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .enumerate()
        .map(|(index, (desc, diff_id))| {
            Ok(LayerJob {
                index,
                digest: desc.digest().to_string(),
                media_type: desc.media_type().to_string(),
                size: desc.size(),
                diff_id: Digest::parse(diff_id)?,
            })
        })
        .collect()
}

pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex[..hex.len().min(12)].to_string()
}

pub(crate) fn task_failed(op: &'static str, e: tokio::task::JoinError) -> ImageError {
    ImageError::Task {
        op,
        reason: e.to_string(),
    }
}
