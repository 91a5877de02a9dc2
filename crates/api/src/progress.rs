//! Docker's streaming JSON progress: one JSON object per line, flushed as produced.
//!
//! Long operations (pull, push, load) run in their own task and report [`Progress`] events; this
//! module turns them into Docker's `jsonmessage` lines. The response is committed only when the
//! first event arrives: an operation that fails before reporting anything (an invalid reference,
//! an unknown image) still gets a proper status code and `{"message"}` body. Once lines have been
//! sent, a failure becomes an `{"errorDetail":…,"error":…}` line, which the docker CLI prints
//! before exiting 1. A client that hangs up does not cancel the operation; it just stops
//! receiving.

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{ErrorDetail, ProgressDetail};
use bytes::Bytes;
use serde::Serialize;
use silo_engine::{Progress, ProgressSender};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;

/// One line of Docker's JSON stream (`jsonmessage.JSONMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// `{"status": …}`.
    pub fn status(status: impl Into<String>) -> Self {
        JsonMessage {
            status: Some(status.into()),
            ..Default::default()
        }
    }

    /// `{"stream": …}`, which the CLI prints verbatim.
    pub fn stream(text: impl Into<String>) -> Self {
        JsonMessage {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    /// `{"errorDetail":{"message":…},"error":…}`.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: Some(message.clone()),
            }),
            error: Some(message),
            ..Default::default()
        }
    }

    /// `{"progressDetail":{},"aux":…}`: data for the client's aux callback, not printed.
    pub fn aux(aux: serde_json::Value) -> Self {
        JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(aux),
            ..Default::default()
        }
    }

    /// The line as sent: JSON and a `\r\n`, as dockerd writes it.
    pub fn to_line(&self) -> Bytes {
        let mut line = serde_json::to_vec(self)
            .unwrap_or_else(|_| br#"{"error":"unencodable message"}"#.to_vec());
        line.extend_from_slice(b"\r\n");
        Bytes::from(line)
    }
}

impl From<Progress> for JsonMessage {
    fn from(event: Progress) -> Self {
        match event {
            Progress::Status { id, status } => JsonMessage {
                status: Some(status),
                id,
                ..Default::default()
            },
            Progress::Bytes {
                id,
                action,
                current,
                total,
            } => {
                let total = total.unwrap_or(0);
                JsonMessage {
                    status: Some(action.as_status().to_string()),
                    progress_detail: Some(ProgressDetail {
                        current: Some(clamp_i64(current)),
                        total: (total > 0).then(|| clamp_i64(total)),
                    }),
                    progress: Some(progress_bar(current, total)),
                    id: Some(id),
                    ..Default::default()
                }
            }
        }
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Docker's `units.HumanSize`: decimal units, four significant digits (`1.235MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g4(size), UNITS[unit])
}

/// Go's `%.4g` for the non-negative values `human_size` produces.
fn format_g4(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    // Round to 4 significant digits first; the exponent decides fixed vs. scientific notation.
    let sci = format!("{value:.3e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..4).contains(&exp) {
        let (mantissa, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(3 - exp).unwrap_or(0);
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Docker's `JSONProgress.String()` as a daemon renders it (a 200-column terminal, so the bar is
/// always drawn; no time estimate because the daemon sends no start time).
pub fn progress_bar(current: u64, total: u64) -> String {
    if current == 0 && total == 0 {
        return String::new();
    }
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let percent = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(percent), " ".repeat(50 - percent));
    let numbers = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

/// Run `operation` with a progress sender and answer with Docker's JSON stream.
///
/// `finish` turns the operation's result into the closing lines. If the operation fails before it
/// reported anything, the error is returned as a normal error response instead.
pub async fn progress_response<T, E, Fut>(
    operation: impl FnOnce(ProgressSender) -> Fut,
    finish: impl FnOnce(T) -> Vec<JsonMessage> + Send + 'static,
) -> Result<Response, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut task = tokio::spawn(operation(ProgressSender::new(tx)));

    // Wait for the first event or for the end of the operation, whichever comes first.
    let (first, done) = tokio::select! {
        biased;
        Some(event) = events.recv() => (event, None),
        joined = &mut task => match events.try_recv() {
            Ok(event) => (event, Some(joined)),
            Err(_) => {
                // Nothing was sent yet: a failure gets a real status code.
                let value = joined.map_err(join_error)?.map_err(Into::into)?;
                let lines: Vec<Bytes> = finish(value).iter().map(JsonMessage::to_line).collect();
                return Ok(stream_response(Body::from(lines.concat())));
            }
        },
    };

    let (lines, body) = line_channel();
    tokio::spawn(async move {
        let mut client_gone = false;
        forward(&lines, first, &mut client_gone).await;
        let joined = match done {
            Some(joined) => joined,
            None => loop {
                tokio::select! {
                    biased;
                    Some(event) = events.recv() => forward(&lines, event, &mut client_gone).await,
                    joined = &mut task => break joined,
                }
            },
        };
        while let Ok(event) = events.try_recv() {
            forward(&lines, event, &mut client_gone).await;
        }
        for message in closing_lines(joined, finish) {
            if lines.send(Ok(message.to_line())).await.is_err() {
                break;
            }
        }
    });
    Ok(stream_response(body))
}

type LineSender = mpsc::Sender<Result<Bytes, Infallible>>;

/// A bounded line channel and the body that drains it.
fn line_channel() -> (LineSender, Body) {
    let (tx, rx) = mpsc::channel(256);
    (tx, Body::from_stream(ReceiverStream::new(rx)))
}

/// Send one event to the client. Byte counters that find the buffer full are dropped rather than
/// slowing down the operation (the next one supersedes them); status lines wait for room.
async fn forward(lines: &LineSender, event: Progress, client_gone: &mut bool) {
    if *client_gone {
        return;
    }
    let droppable = matches!(event, Progress::Bytes { .. });
    let line = Ok(JsonMessage::from(event).to_line());
    let delivered = if droppable {
        !matches!(
            lines.try_send(line),
            Err(mpsc::error::TrySendError::Closed(_))
        )
    } else {
        lines.send(line).await.is_ok()
    };
    *client_gone = !delivered;
}

fn closing_lines<T, E: Into<ApiError>>(
    joined: Result<Result<T, E>, tokio::task::JoinError>,
    finish: impl FnOnce(T) -> Vec<JsonMessage>,
) -> Vec<JsonMessage> {
    match joined {
        Ok(Ok(value)) => finish(value),
        Ok(Err(err)) => {
            let err: ApiError = err.into();
            tracing::warn!("streamed operation failed: {err}");
            vec![JsonMessage::error(err.message())]
        }
        Err(err) => vec![JsonMessage::error(join_error(err).message())],
    }
}

fn join_error(err: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("operation task failed: {err}"))
}

/// A 200 response with Docker's JSON stream content type.
pub fn stream_response(body: Body) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use silo_engine::ProgressAction;

    #[test]
    fn human_sizes_match_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(4_300_000), "4.3MB");
        assert_eq!(human_size(999_999), "1000kB");
        assert_eq!(human_size(52_428_800), "52.43MB");
    }

    #[test]
    fn bar_like_docker() {
        assert_eq!(
            progress_bar(1_200_000, 4_300_000),
            format!("[{}>{}]    1.2MB/4.3MB", "=".repeat(13), " ".repeat(37))
        );
        assert_eq!(
            progress_bar(10, 10),
            format!("[{}>] {:>8}/10B", "=".repeat(50), "10B")
        );
        assert_eq!(progress_bar(0, 0), "");
        assert_eq!(progress_bar(2048, 0), " 2.048kB");
        assert_eq!(
            progress_bar(20, 10),
            format!("[{}>] {:>8}", "=".repeat(50), "20B")
        );
    }

    #[test]
    fn bytes_event_becomes_downloading_line() {
        let msg = JsonMessage::from(Progress::Bytes {
            id: "abc123def456".into(),
            action: ProgressAction::Downloading,
            current: 5,
            total: Some(10),
        });
        let v: serde_json::Value = serde_json::from_slice(&msg.to_line()).unwrap();
        assert_eq!(v["status"], "Downloading");
        assert_eq!(v["id"], "abc123def456");
        assert_eq!(
            v["progressDetail"],
            serde_json::json!({"current": 5, "total": 10})
        );
        assert!(v["progress"]
            .as_str()
            .unwrap()
            .starts_with("[=========================>"));
    }

    #[test]
    fn error_line_shape() {
        let v: serde_json::Value =
            serde_json::from_slice(&JsonMessage::error("boom").to_line()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorDetail": {"message": "boom"}, "error": "boom"})
        );
    }

    async fn body_lines(resp: Response) -> Vec<serde_json::Value> {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn error_before_any_event_is_a_status() {
        let err = progress_response(
            |_p| async { Err::<(), _>(ApiError::invalid("bad reference")) },
            |_| vec![],
        )
        .await
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.message(), "bad reference");
    }

    #[tokio::test]
    async fn error_after_events_is_an_error_line() {
        let resp = progress_response(
            |p| async move {
                p.send(Progress::status("Pulling from library/busybox"));
                tokio::task::yield_now().await;
                p.send(Progress::layer("abc", "Pulling fs layer"));
                Err::<(), _>(ApiError::internal("connection reset"))
            },
            |_| vec![],
        )
        .await
        .unwrap();
        let lines = body_lines(resp).await;
        assert_eq!(lines[0]["status"], "Pulling from library/busybox");
        assert_eq!(lines[1]["id"], "abc");
        assert_eq!(lines[2]["error"], "connection reset");
        assert_eq!(lines.len(), 3);
    }

    #[tokio::test]
    async fn success_appends_closing_lines() {
        let resp = progress_response(
            |p| async move {
                p.send(Progress::status(
                    "Status: Downloaded newer image for busybox:latest",
                ));
                Ok::<_, ApiError>(7)
            },
            |n| vec![JsonMessage::status(format!("done {n}"))],
        )
        .await
        .unwrap();
        let lines = body_lines(resp).await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["status"], "done 7");
    }
}
