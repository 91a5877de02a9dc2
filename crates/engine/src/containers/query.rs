//! list, inspect and logs: read-only views of the records and the json-file logs.

use chrono::{DateTime, Utc};

use super::error::ContainerError;
use super::model::{Container, LogLine, LogStream};
use crate::{Engine, Result};

/// What `docker logs` asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// Inclusive lower bound.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
    /// Only the last N lines.
    pub tail: Option<usize>,
}

impl Engine {
    /// `docker ps`: running containers, or all with `all`; newest first.
    pub fn list_containers(&self, all: bool) -> Result<Vec<Container>> {
        let records = self.containers.store().all()?;
        Ok(records
            .into_iter()
            .filter(|c| all || c.state.status.is_live())
            .collect())
    }

    /// One container by id, name or unique id prefix.
    pub fn container(&self, key: &str) -> Result<Container> {
        Ok(self.containers.store().find(key)?)
    }

    /// The container's log lines so far, filtered by stream, time and tail.
    pub fn container_logs(&self, key: &str, opts: &LogOptions) -> Result<Vec<LogLine>> {
        let c = self.container(key)?;
        let runtime = self.containers.runtime()?;
        let dir = runtime.state_root.join(&c.id);
        let lines = match silo_shim::logs::read_logs(&dir, opts.since, opts.until, None) {
            Ok(lines) => lines,
            // Never started: no log yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(ContainerError::Io {
                    action: "read logs in",
                    path: dir,
                    source,
                }
                .into())
            }
        };
        let mut lines: Vec<LogLine> = lines
            .into_iter()
            .filter(|l| match l.stream {
                LogStream::Stdout => opts.stdout,
                LogStream::Stderr => opts.stderr,
            })
            .collect();
        if let Some(n) = opts.tail {
            lines.drain(..lines.len().saturating_sub(n));
        }
        Ok(lines)
    }
}
