//! Moving images in and out: pull and import (`POST /images/create`), push, save (`get`), load.

use silo_image::reference::parse_repository_tag;
use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use silo_engine::{Engine, ProgressSender, PushResult};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::auth::registry_credentials;
use crate::error::ApiError;
use crate::params::Params;
use crate::progress::{progress_response, stream_response, JsonMessage};
use crate::AppState;

/// `POST /images/create`: pull (`fromImage`) or import (`fromSrc`).
pub async fn create(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(src) = params.non_empty("fromSrc") {
        if src != "-" {
            return Err(ApiError::invalid("importing from a URL is not supported"));
        }
        return import(state.engine, &params, body).await;
    }
    let image = params
        .non_empty("fromImage")
        .ok_or_else(|| ApiError::invalid("missing parameter: fromImage or fromSrc"))?;
    let reference = pull_reference(image, params.non_empty("tag"))?;
    let platform = params.non_empty("platform").map(str::to_string);
    let os_version = params.non_empty("os_version").map(str::to_string);
    let creds = registry_credentials(&headers)?;
    let engine = state.engine;
    progress_response(
        move |progress| async move {
            engine
                .pull_with(
                    &reference,
                    platform.as_deref(),
                    os_version.as_deref(),
                    creds,
                    progress,
                )
                .await
        },
        |_record| Vec::new(),
    )
    .await
}

/// An image name and a separate `tag` parameter combined (a tag that is a digest pins the
/// name), as a full reference.
pub fn pull_reference(image: &str, tag: Option<&str>) -> Result<String, ApiError> {
    parse_repository_tag(image, tag)
        .map(|r| r.to_string())
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// The request body as an `AsyncRead`.
fn body_reader(body: Body) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
    StreamReader::new(body.into_data_stream().map_err(io::Error::other))
}

/// `POST /images/create?fromSrc=-&repo=&tag=&changes=&message=&platform=`.
async fn import(engine: Engine, params: &Params, body: Body) -> Result<Response, ApiError> {
    let target = params
        .non_empty("repo")
        .map(|repo| match params.non_empty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        });
    let changes: Vec<String> = params
        .get_all("changes")
        .into_iter()
        .map(str::to_string)
        .collect();
    let record = engine
        .import(
            body_reader(body),
            target.as_deref(),
            changes,
            params.non_empty("message"),
            params.non_empty("platform"),
        )
        .await?;
    Ok(stream_response(Body::from(
        JsonMessage::status(record.id).to_line(),
    )))
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    engine: Engine,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let reference = pull_reference(name, params.non_empty("tag"))?;
    let creds = registry_credentials(headers)?;
    progress_response(
        move |progress| async move { engine.push(&reference, creds, progress).await },
        push_result_lines,
    )
    .await
}

/// dockerd's closing lines: the status the CLI prints, then the aux record for its callback
/// (the CLI skips printing any message that has `aux`, so they must be separate).
fn push_result_lines(result: PushResult) -> Vec<JsonMessage> {
    vec![
        JsonMessage::status(format!(
            "{}: digest: {} size: {}",
            result.tag, result.digest, result.size
        )),
        JsonMessage::aux(serde_json::json!({
            "Tag": result.tag,
            "Digest": result.digest,
            "Size": result.size,
        })),
    ]
}

/// `POST /images/load?quiet=`.
pub async fn load(
    State(state): State<AppState>,
    params: Params,
    body: Body,
) -> Result<Response, ApiError> {
    let quiet = params.flag("quiet");
    let engine = state.engine;
    let input = body_reader(body);
    progress_response(
        move |progress| async move {
            let progress = if quiet {
                ProgressSender::discard()
            } else {
                progress
            };
            engine.load(input, progress).await
        },
        |loaded| {
            loaded
                .into_iter()
                .map(|name| JsonMessage::stream(loaded_line(&name)))
                .collect()
        },
    )
    .await
}

/// The engine reports `Loaded image: …` lines; a bare name or id is worded the same way.
fn loaded_line(line: &str) -> String {
    let line = line.trim_end_matches('\n');
    if line.starts_with("Loaded image") {
        format!("{line}\n")
    } else if line.starts_with("sha256:") {
        format!("Loaded image ID: {line}\n")
    } else {
        format!("Loaded image: {line}\n")
    }
}

/// `GET /images/get?names=a&names=b`.
pub async fn save_many(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let names: Vec<String> = params
        .get_all("names")
        .into_iter()
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(ApiError::invalid("missing parameter: names"));
    }
    save(state.engine, names).await
}

const SAVE_CHUNK: usize = 64 * 1024;

/// Stream `engine.save(names)` as a tar. A failure before the first byte is a normal error
/// response; a failure later is logged and aborts the body, so the client sees a broken transfer
/// rather than a tar that merely looks short.
pub async fn save(engine: Engine, names: Vec<String>) -> Result<Response, ApiError> {
    let (writer, mut reader) = tokio::io::duplex(SAVE_CHUNK);
    let mut task: JoinHandle<Result<(), silo_engine::EngineError>> =
        tokio::spawn(async move { engine.save(names, writer).await });

    let mut first = Vec::with_capacity(SAVE_CHUNK);
    let mut finished = None;
    tokio::select! {
        read = reader.read_buf(&mut first) => {
            read.map_err(|e| ApiError::internal(format!("save: {e}")))?;
        }
        joined = &mut task => finished = Some(joined),
    }
    if finished.is_none() && first.is_empty() {
        // End of stream before any byte: save is over, and its result decides the answer.
        finished = Some((&mut task).await);
    }
    let tail = match finished {
        // Done before streaming: everything it wrote is still buffered in the pipe.
        Some(joined) => {
            joined.map_err(|e| ApiError::internal(format!("save: {e}")))??;
            None
        }
        None => Some(task),
    };

    let outcome = futures::stream::once(async move {
        let task = tail?;
        match task.await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(io::Error::other(err.to_string())),
            Err(err) => Some(io::Error::other(err.to_string())),
        }
    })
    .filter_map(|err| async move {
        err.map(|e| {
            tracing::error!("image save failed mid-stream: {e}");
            Err(e)
        })
    });
    let stream = futures::stream::once(async move { Ok::<_, io::Error>(Bytes::from(first)) })
        .chain(ReaderStream::new(reader))
        .chain(outcome);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-tar"),
        )],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_image_and_tag_combine() {
        let full = |image, tag| pull_reference(image, tag).unwrap();
        assert_eq!(full("busybox", None), "docker.io/library/busybox:latest");
        assert_eq!(
            full("busybox", Some("1.36")),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            full("127.0.0.1:5000/team/app", Some("v1")),
            "127.0.0.1:5000/team/app:v1"
        );
        assert_eq!(
            full("busybox", Some("sha256:0000000000000000000000000000000000000000000000000000000000000000")),
            "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        );
        let err = pull_reference("Busybox", None).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn push_closing_lines() {
        let lines = push_result_lines(PushResult {
            tag: "v1".into(),
            digest: "sha256:dd".into(),
            size: 528,
        });
        let v: Vec<serde_json::Value> = lines
            .iter()
            .map(|m| serde_json::from_slice(&m.to_line()).unwrap())
            .collect();
        assert_eq!(
            v[0],
            serde_json::json!({"status": "v1: digest: sha256:dd size: 528"})
        );
        assert_eq!(
            v[1],
            serde_json::json!({"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:dd", "Size": 528}})
        );
    }

    #[test]
    fn loaded_lines() {
        assert_eq!(
            loaded_line("busybox:latest"),
            "Loaded image: busybox:latest\n"
        );
        assert_eq!(loaded_line("sha256:abc"), "Loaded image ID: sha256:abc\n");
        assert_eq!(
            loaded_line("Loaded image: busybox:latest"),
            "Loaded image: busybox:latest\n"
        );
        assert_eq!(
            loaded_line("Loaded image ID: sha256:abc\n"),
            "Loaded image ID: sha256:abc\n"
        );
    }
}
