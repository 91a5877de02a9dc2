//! `silo save` and `silo load`: image archives in docker's `save` format, streamed.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::args::{LoadArgs, SaveArgs};
use crate::connect::Client;

const CHUNK: usize = 256 * 1024;

pub async fn save(client: &Client, args: &SaveArgs) -> Result<ExitCode> {
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let mut stream = client.docker.export_images(&names);
    match &args.output {
        Some(path) => {
            // Write beside the target and rename, so a failed save leaves no truncated archive.
            let mut tmp = path.clone().into_os_string();
            tmp.push(".silo-partial");
            let tmp = std::path::PathBuf::from(tmp);
            let written = write_file(&tmp, &mut stream).await;
            let renamed = match written {
                Ok(()) => tokio::fs::rename(&tmp, path)
                    .await
                    .with_context(|| format!("rename {} to {}", tmp.display(), path.display())),
                Err(e) => Err(e),
            };
            if let Err(e) = renamed {
                // Best effort: the error being returned matters more than a leftover temp file.
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        }
        None => {
            let mut out = tokio::io::stdout();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk?).await?;
            }
            out.flush().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn write_file<S>(path: &Path, stream: &mut S) -> Result<()>
where
    S: Stream<Item = Result<Bytes, bollard::errors::Error>> + Unpin,
{
    let mut file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("create {}", path.display()))?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk?)
            .await
            .with_context(|| format!("write {}", path.display()))?;
    }
    file.sync_all()
        .await
        .with_context(|| format!("sync {}", path.display()))
}

pub async fn load(client: &Client, args: &LoadArgs) -> Result<ExitCode> {
    let body = match &args.input {
        Some(path) => file_stream(path).await?.boxed(),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            reader_stream(tokio::io::stdin()).boxed()
        }
    };
    let options = bollard::query_parameters::ImportImageOptions {
        quiet: args.quiet,
        ..Default::default()
    };
    let mut messages = client.docker.import_image_stream(options, body, None);
    let mut out = std::io::stdout().lock();
    while let Some(info) = messages.next().await {
        let info = info?;
        // The daemon reports `Loaded image: …` lines in `stream`; progress lines carry ids.
        if let Some(line) = info.stream.as_deref() {
            write!(out, "{line}")?;
        } else if let (false, Some(status)) = (args.quiet, info.status.as_deref()) {
            if info.progress_detail.is_none() {
                writeln!(out, "{status}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The file at `path` as a stream of chunks, read as it is sent.
pub async fn file_stream(
    path: &Path,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("open {}", path.display()))?;
    Ok(reader_stream(file))
}

/// Any reader as a stream of chunks.
pub fn reader_stream<R>(reader: R) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    futures::stream::try_unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; CHUNK];
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), reader)))
    })
}
