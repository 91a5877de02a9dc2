//! `GET /containers/{id}/logs`: the json-file log as Docker's multiplexed stream.
//!
//! Without a TTY every line is framed stdcopy-style: an 8-byte header (stream byte 1 = stdout,
//! 2 = stderr, three zero bytes, big-endian u32 length) then the payload. `follow=1` polls the
//! log every [`FOLLOW_POLL`] and ends once the container has stopped and the last lines are out.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use silo_engine::{Engine, LogLine, LogOptions, LogStream};

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

/// How often `follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let mut opts = LogOptions {
        stdout: params.flag("stdout"),
        stderr: params.flag("stderr"),
        since: parse_time("since", params.non_empty("since"))?,
        until: parse_time("until", params.non_empty("until"))?,
        tail: None,
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match params.non_empty("tail") {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("invalid value for tail: {n:?}")))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let timestamps = params.flag("timestamps");
    let engine = state.engine;
    let c = engine.container(&id)?;
    let follow = params.flag("follow");
    if !follow {
        opts.tail = tail;
        let lines = engine.container_logs(&c.id, &opts)?;
        let mut out = BytesMut::new();
        for line in &lines {
            frame(&mut out, line, timestamps);
        }
        return Ok(response(Body::from(out.freeze())));
    }
    let follower = Follower {
        engine,
        id: c.id,
        opts,
        tail,
        timestamps,
        seen: None,
        done: false,
    };
    let stream = futures::stream::unfold(follower, |mut f| async move {
        let chunk = f.next().await?;
        Some((chunk, f))
    });
    Ok(response(Body::from_stream(stream)))
}

fn response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, MULTIPLEXED)], body).into_response()
}

/// Docker's `since`/`until`: unix seconds with optional fraction (what the CLI sends).
fn parse_time(what: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let bad = || ApiError::invalid(format!("invalid value for {what}: {v:?}"));
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let digits: String = frac.chars().take(9).collect();
    let nanos: u32 = format!("{digits:0<9}").parse().map_err(|_| bad())?;
    if secs == 0 && nanos == 0 {
        return Ok(None);
    }
    Utc.timestamp_opt(secs, nanos)
        .single()
        .map(Some)
        .ok_or_else(bad)
}

/// Appends one stdcopy frame.
fn frame(out: &mut BytesMut, line: &LogLine, timestamps: bool) {
    let stream = match line.stream {
        LogStream::Stdout => 1u8,
        LogStream::Stderr => 2u8,
    };
    let mut payload = String::new();
    if timestamps {
        payload.push_str(&line.time.to_rfc3339_opts(SecondsFormat::Nanos, true));
        payload.push(' ');
    }
    payload.push_str(&line.log);
    out.put_u8(stream);
    out.put_slice(&[0, 0, 0]);
    out.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    out.put_slice(payload.as_bytes());
}

/// State of a `follow=1` stream.
struct Follower {
    engine: Engine,
    id: String,
    opts: LogOptions,
    tail: Option<usize>,
    timestamps: bool,
    /// Lines already considered (sent, or skipped by `tail`); `None` before the first read.
    seen: Option<usize>,
    done: bool,
}

impl Follower {
    /// The next chunk of frames; `None` ends the stream.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if self.done {
                return None;
            }
            // Read the state before the log so the lines written before an exit are included.
            let running = match self.engine.container(&self.id) {
                Ok(c) => c.state.status.is_live(),
                Err(_) => false,
            };
            let lines = match self.engine.container_logs(&self.id, &self.opts) {
                Ok(lines) => lines,
                Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
            };
            let start = match self.seen {
                Some(n) => n.min(lines.len()),
                None => self.tail.map_or(0, |t| lines.len().saturating_sub(t)),
            };
            self.seen = Some(lines.len());
            if !running {
                self.done = true;
            }
            if start < lines.len() {
                let mut out = BytesMut::new();
                for line in &lines[start..] {
                    frame(&mut out, line, self.timestamps);
                }
                return Some(Ok(out.freeze()));
            }
            if self.done {
                return None;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_dockers_header() {
        let line = LogLine {
            log: "hello\n".into(),
            stream: LogStream::Stderr,
            time: Utc::now(),
        };
        let mut out = BytesMut::new();
        frame(&mut out, &line, false);
        assert_eq!(&out[..8], &[2, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(&out[8..], b"hello\n");
    }

    #[test]
    fn since_is_unix_seconds_with_fraction() {
        let t = parse_time("since", Some("1700000000.5")).unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert_eq!(parse_time("since", Some("0")).unwrap(), None);
        assert!(parse_time("since", Some("x")).is_err());
    }
}
