//! The Engine API's progress stream (pull, push, load, import): JSON objects, one per line, as
//! moby's `jsonmessage` package writes them. Decoding is incremental because the daemon flushes
//! at arbitrary byte boundaries.

use anyhow::Result;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JsonMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default, rename = "progressDetail")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(default)]
    pub aux: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ProgressDetail {
    #[serde(default)]
    pub current: Option<i64>,
    #[serde(default)]
    pub total: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
}

impl JsonMessage {
    /// The error this message carries, if it is an error message.
    pub fn error_message(&self) -> Option<String> {
        self.error_detail
            .as_ref()
            .and_then(|d| d.message.clone())
            .or_else(|| self.error.clone())
    }

    /// `(current, total)` when the message reports byte progress (moby's `Progress.String() != ""`).
    pub fn bytes(&self) -> Option<(u64, u64)> {
        let d = self.progress_detail.as_ref()?;
        let current = d.current.unwrap_or(0).max(0) as u64;
        let total = d.total.unwrap_or(0).max(0) as u64;
        (current > 0 || total > 0).then_some((current, total))
    }

    /// The line docker prints for this message on a non-terminal, or `None` when it prints
    /// nothing (byte-progress updates).
    pub fn plain_line(&self) -> Option<String> {
        if self.bytes().is_some() {
            return None;
        }
        if let Some(stream) = &self.stream {
            return Some(stream.trim_end_matches('\n').to_string());
        }
        let status = self.status.as_deref()?;
        Some(match &self.id {
            Some(id) if !id.is_empty() => format!("{id}: {status}"),
            _ => status.to_string(),
        })
    }
}

/// Accumulates bytes and yields every complete message.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<JsonMessage>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<JsonMessage>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(m)) => {
                    out.push(m);
                    consumed = stream.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(e.into()),
                None => {
                    consumed = stream.byte_offset();
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_across_chunk_boundaries() {
        let mut d = Decoder::default();
        let first = d
            .push(br#"{"status":"Pulling from library/busybox","id":"latest"}"#)
            .expect("ok");
        assert_eq!(first.len(), 1);
        let part = d.push(b"\r\n{\"status\":\"Downloa").expect("ok");
        assert!(part.is_empty());
        let rest = d
            .push(br#"ding","id":"abc","progressDetail":{"current":10,"total":100}}"#)
            .expect("ok");
        assert_eq!(rest[0].bytes(), Some((10, 100)));
        assert!(d.push(b"{oops}").is_err());
    }

    #[test]
    fn plain_lines_follow_docker() {
        let m = |s: &str| serde_json::from_str::<JsonMessage>(s).expect("json");
        assert_eq!(
            m(r#"{"status":"Pull complete","id":"abc"}"#)
                .plain_line()
                .as_deref(),
            Some("abc: Pull complete")
        );
        assert_eq!(
            m(r#"{"status":"Digest: sha256:1"}"#)
                .plain_line()
                .as_deref(),
            Some("Digest: sha256:1")
        );
        assert_eq!(
            m(r#"{"status":"Downloading","id":"a","progressDetail":{"current":1,"total":9}}"#)
                .plain_line(),
            None
        );
        assert_eq!(
            m(r#"{"status":"Verifying","id":"a","progressDetail":{}}"#)
                .plain_line()
                .as_deref(),
            Some("a: Verifying")
        );
        assert_eq!(
            m(r#"{"stream":"Loaded image: busybox:latest\n"}"#)
                .plain_line()
                .as_deref(),
            Some("Loaded image: busybox:latest")
        );
        let e = m(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#);
        assert_eq!(e.error_message().as_deref(), Some("boom"));
    }
}
