//! `silo import`: create a filesystem image from a tarball, stdin, a URL, or (silo extension)
//! a directory, which we tar ourselves while sending it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use bollard::query_parameters::CreateImageOptions;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::archive::{file_stream, reader_stream};
use crate::args::ImportArgs;
use crate::connect::Client;

/// Where the filesystem comes from.
#[derive(Debug, PartialEq)]
enum Source {
    Stdin,
    Url(String),
    File(PathBuf),
    Dir(PathBuf),
}

fn classify(source: &str) -> Source {
    if source == "-" {
        Source::Stdin
    } else if source.starts_with("http://") || source.starts_with("https://") {
        Source::Url(source.to_string())
    } else if Path::new(source).is_dir() {
        Source::Dir(PathBuf::from(source))
    } else {
        Source::File(PathBuf::from(source))
    }
}

pub async fn import(client: &Client, args: &ImportArgs) -> Result<ExitCode> {
    let source = classify(&args.source);
    let from_src = match &source {
        Source::Url(url) => url.clone(),
        _ => "-".to_string(),
    };
    let options = CreateImageOptions {
        from_src: Some(from_src),
        repo: args.reference.clone(),
        message: args.message.clone(),
        changes: args.changes.clone(),
        platform: args
            .platform
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        ..Default::default()
    };
    let body = match source {
        Source::Url(_) => None,
        Source::Stdin => Some(bollard::body_try_stream(reader_stream(tokio::io::stdin()))),
        Source::File(path) => Some(bollard::body_try_stream(file_stream(&path).await?)),
        Source::Dir(dir) => Some(bollard::body_try_stream(tar_directory(dir)?)),
    };
    let mut stream = client.docker.create_image(Some(options), body, None);
    let mut out = io::stdout().lock();
    while let Some(info) = stream.next().await {
        // The daemon answers with the new image id as the status (`sha256:…`).
        if let Some(status) = info?.status {
            writeln!(out, "{status}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Tars `dir` on a blocking thread while the request sends what is ready; memory stays bounded
/// by the channel. Modes, ownership and mtimes are kept (tar's complete header mode) and
/// symlinks are stored as links, not followed.
fn tar_directory(dir: PathBuf) -> Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static> {
    let meta = std::fs::metadata(&dir).with_context(|| format!("stat {}", dir.display()))?;
    anyhow::ensure!(meta.is_dir(), "{} is not a directory", dir.display());
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter { tx: tx.clone() };
        if let Err(e) = write_tar(&dir, writer) {
            let context = format!("tar {}: {e}", dir.display());
            // The receiver may be gone already if the request failed; nothing to add then.
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), context)));
        }
    });
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

fn write_tar(dir: &Path, writer: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.flush()
}

/// `Write` that forwards buffers to the request body stream.
#[derive(Debug)]
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "daemon stopped reading"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn classifies_sources() {
        assert_eq!(classify("-"), Source::Stdin);
        assert_eq!(
            classify("https://x/y.tar"),
            Source::Url("https://x/y.tar".into())
        );
        assert_eq!(
            classify("/nonexistent.tar"),
            Source::File("/nonexistent.tar".into())
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            classify(&dir.path().to_string_lossy()),
            Source::Dir(_)
        ));
    }

    #[test]
    fn directory_tar_keeps_modes_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        std::fs::write(bin.join("busybox"), b"#!fake").expect("write");
        std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        symlink("busybox", bin.join("sh")).expect("symlink");
        let mut buf = Vec::new();
        write_tar(dir.path(), &mut buf).expect("tar");
        let mut archive = tar::Archive::new(buf.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let header = entry.header();
            seen.push((
                path,
                header.entry_type(),
                header.mode().expect("mode") & 0o7777,
            ));
            if header.entry_type().is_symlink() {
                let target = entry.link_name().expect("link").expect("some");
                assert_eq!(target.to_string_lossy(), "busybox");
            }
        }
        assert!(seen.contains(&("bin/busybox".into(), tar::EntryType::Regular, 0o755)));
        assert!(seen.iter().any(|(p, t, _)| p == "bin/sh" && t.is_symlink()));
    }
}
