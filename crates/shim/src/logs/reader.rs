//! Reading json-file logs back, oldest first, for `docker logs --since/--until/--tail`.

use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::writer::rotated;
use super::{Stream, LOG_FILE};

/// One entry of a json-file log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogLine {
    /// The text, with its trailing `\n` unless it was a partial (over-long or unterminated) line.
    pub log: String,
    /// Where it came from.
    pub stream: Stream,
    /// When the shim read it.
    pub time: DateTime<Utc>,
}

/// Reads every entry in `dir` (rotated files first, oldest to newest), keeps those with
/// `since <= time < until` (Docker's bounds: since inclusive, until exclusive), then the last
/// `tail` of them.
///
/// Lines that do not parse are skipped: the last line of a file may be cut short if the host
/// crashed mid-write, and one torn line must not hide the rest of the log.
pub fn read_logs(
    dir: &Path,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    tail: Option<usize>,
) -> io::Result<Vec<LogLine>> {
    let mut files = Vec::new();
    let mut n = 1;
    while rotated(dir, n).exists() {
        files.push(rotated(dir, n));
        n += 1;
    }
    files.reverse();
    files.push(dir.join(LOG_FILE));

    let mut out = Vec::new();
    for path in files {
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("read {}: {e}", path.display()),
                ))
            }
        };
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<LogLine>(line) else {
                continue;
            };
            if since.is_some_and(|s| entry.time < s) || until.is_some_and(|u| entry.time >= u) {
                continue;
            }
            out.push(entry);
        }
    }
    if let Some(tail) = tail {
        let skip = out.len().saturating_sub(tail);
        out.drain(..skip);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{LogConfig, LogWriter};
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        format!("2026-11-22T06:50:{s:02}Z").parse().unwrap()
    }

    #[test]
    fn reads_all_files_in_order_with_filters() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            max_size: Some(1),
            max_file: 10,
        };
        let mut w = LogWriter::open(dir.path(), cfg).unwrap();
        for s in 0..6 {
            let stream = if s % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            w.write_at(stream, format!("m{s}\n").as_bytes(), at(s))
                .unwrap();
        }
        // Every entry rotated into its own file.
        assert!(dir.path().join("log.json.5").exists());
        // A torn last line is skipped.
        fs::write(
            dir.path().join("log.json.6"),
            "{\"log\":\"old\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T06:49:00Z\"}\n{\"log\":",
        )
        .unwrap();

        let logs = |since, until, tail| -> Vec<String> {
            read_logs(dir.path(), since, until, tail)
                .unwrap()
                .into_iter()
                .map(|l| l.log)
                .collect()
        };
        assert_eq!(
            logs(None, None, None),
            ["old\n", "m0\n", "m1\n", "m2\n", "m3\n", "m4\n", "m5\n"]
        );
        assert_eq!(logs(Some(at(2)), Some(at(4)), None), ["m2\n", "m3\n"]);
        assert_eq!(logs(Some(at(1)), None, Some(2)), ["m4\n", "m5\n"]);
        assert_eq!(logs(None, None, Some(0)), Vec::<String>::new());
        let all = read_logs(dir.path(), Some(at(1)), Some(at(2)), None).unwrap();
        assert_eq!(all[0].stream, Stream::Stderr);
        assert_eq!(all[0].time, at(1));
    }

    #[test]
    fn missing_dir_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_logs(&dir.path().join("nope"), None, None, None)
            .unwrap()
            .is_empty());
    }
}
