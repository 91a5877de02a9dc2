//! Writing json-file logs: line splitting like Docker's copier, rotation like its `LogFile`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{format_time, LogConfig, Stream, LOG_FILE};

/// Longest message written as one entry. Docker's copier reads with a 16 KiB buffer and flushes a
/// line that fills it as a partial entry (no trailing `\n`); readers concatenate partials.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Splits a byte stream into log messages: each complete line (with its `\n`), or a 16 KiB chunk
/// of a longer line, or whatever is left at end of stream.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `data`, calling `emit` for every message it completes.
    pub fn push<E>(&mut self, mut data: &[u8], mut emit: E) -> io::Result<()>
    where
        E: FnMut(&[u8]) -> io::Result<()>,
    {
        while !data.is_empty() {
            let room = MAX_MESSAGE - self.pending.len();
            let take = data.len().min(room);
            match data[..take].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.pending.extend_from_slice(&data[..=nl]);
                    data = &data[nl + 1..];
                }
                None => {
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.pending.len() < MAX_MESSAGE {
                        continue;
                    }
                }
            }
            emit(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Emits a trailing partial line at end of stream.
    pub fn finish<E>(&mut self, mut emit: E) -> io::Result<()>
    where
        E: FnMut(&[u8]) -> io::Result<()>,
    {
        if !self.pending.is_empty() {
            emit(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: Stream,
    time: &'a str,
}

/// Appends entries to `<dir>/log.json`, rotating by size.
///
/// Each entry goes to the file with a single `write`, unbuffered: a reader (or a daemon restarted
/// after a crash) sees every line the container wrote, without the cost of an fsync.
#[derive(Debug)]
pub struct LogWriter {
    dir: PathBuf,
    config: LogConfig,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (or continues) the log in `dir`.
    pub fn open(dir: &Path, config: LogConfig) -> io::Result<Self> {
        let file = open_append(&dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            config,
            file,
            size,
        })
    }

    /// Writes one entry, stamped now.
    pub fn write(&mut self, stream: Stream, msg: &[u8]) -> io::Result<()> {
        self.write_at(stream, msg, Utc::now())
    }

    /// Writes one entry with the given time. Invalid UTF-8 becomes U+FFFD, as in Docker.
    pub fn write_at(&mut self, stream: Stream, msg: &[u8], time: DateTime<Utc>) -> io::Result<()> {
        let log = String::from_utf8_lossy(msg);
        let time = format_time(&time);
        let mut line = serde_json::to_vec(&Entry {
            log: &log,
            stream,
            time: &time,
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        // Docker checks before writing: a file may exceed max-size by one entry, never more.
        if self.config.max_size.is_some_and(|max| self.size >= max) {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// `log.json.(n-2)` → `.(n-1)`, …, `log.json` → `.1`, then a fresh `log.json`; with
    /// `max_file` 1 the current file is truncated instead.
    fn rotate(&mut self) -> io::Result<()> {
        let current = self.dir.join(LOG_FILE);
        if self.config.max_file > 1 {
            for i in (1..self.config.max_file - 1).rev() {
                let from = rotated(&self.dir, i);
                if from.exists() {
                    fs::rename(&from, rotated(&self.dir, i + 1))?;
                }
            }
            fs::rename(&current, rotated(&self.dir, 1))?;
            self.file = open_append(&current)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Path of the `n`-th rotated file (`n` ≥ 1).
pub(super) fn rotated(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{LOG_FILE}.{n}"))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> DateTime<Utc> {
        "2026-11-22T06:50:00.123456789Z".parse().unwrap()
    }

    #[test]
    fn exact_line_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), LogConfig::default()).unwrap();
        w.write_at(Stream::Stdout, b"hello\n", t()).unwrap();
        w.write_at(Stream::Stderr, b"a \"q\"\t\xff", t()).unwrap();
        let text = fs::read_to_string(dir.path().join("log.json")).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"log":"hello\n","stream":"stdout","time":"2026-11-22T06:50:00.123456789Z"}"#,
                "\n",
                r#"{"log":"a \"q\"\t\ufffd","stream":"stderr","time":"2026-11-22T06:50:00.123456789Z"}"#,
                "\n"
            )
            .replace(r"\ufffd", "\u{fffd}")
        );
    }

    #[test]
    fn splitter_cuts_lines_and_long_chunks() {
        let mut s = LineSplitter::default();
        let mut out: Vec<Vec<u8>> = Vec::new();
        s.push(b"a\nb", |m| {
            out.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        s.push(b"c\n\n", |m| {
            out.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        let long = vec![b'x'; MAX_MESSAGE * 2 + 5];
        s.push(&long, |m| {
            out.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        s.finish(|m| {
            out.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(out[0], b"a\n");
        assert_eq!(out[1], b"bc\n");
        assert_eq!(out[2], b"\n");
        assert_eq!(out[3].len(), MAX_MESSAGE);
        assert_eq!(out[4].len(), MAX_MESSAGE);
        assert_eq!(out[5], b"xxxxx");
        assert_eq!(out.len(), 6);
    }

    #[test]
    fn rotation_boundary() {
        let dir = tempfile::tempdir().unwrap();
        // Each entry is 77 bytes; with max 154 two entries fit, the third rotates.
        let cfg = LogConfig {
            max_size: Some(154),
            max_file: 3,
        };
        let mut w = LogWriter::open(dir.path(), cfg).unwrap();
        let size = |p: &str| fs::metadata(dir.path().join(p)).map(|m| m.len()).ok();
        w.write_at(Stream::Stdout, b"line-1\n", t()).unwrap();
        assert_eq!(size("log.json"), Some(77));
        w.write_at(Stream::Stdout, b"line-2\n", t()).unwrap();
        assert_eq!(size("log.json"), Some(154));
        assert_eq!(size("log.json.1"), None);
        w.write_at(Stream::Stdout, b"line-3\n", t()).unwrap();
        assert_eq!(size("log.json"), Some(77));
        assert_eq!(size("log.json.1"), Some(154));
        for i in 4..=7 {
            w.write_at(Stream::Stdout, format!("line-{i}\n").as_bytes(), t())
                .unwrap();
        }
        // 7 entries, 2 per file, 3 files kept: line-1 and line-2 are gone.
        assert_eq!(size("log.json.3"), None);
        let all = super::super::read_logs(dir.path(), None, None, None).unwrap();
        let logs: Vec<_> = all.iter().map(|l| l.log.as_str()).collect();
        assert_eq!(
            logs,
            ["line-3\n", "line-4\n", "line-5\n", "line-6\n", "line-7\n"]
        );
    }

    #[test]
    fn single_file_truncates_and_reopen_continues() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            max_size: Some(100),
            max_file: 1,
        };
        let mut w = LogWriter::open(dir.path(), cfg).unwrap();
        w.write_at(
            Stream::Stdout,
            b"line-1 is long enough to fill the file to the max size of one hundred\n",
            t(),
        )
        .unwrap();
        drop(w);
        let mut w = LogWriter::open(dir.path(), cfg).unwrap();
        w.write_at(Stream::Stdout, b"line-2\n", t()).unwrap();
        let all = super::super::read_logs(dir.path(), None, None, None).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].log, "line-2\n");
        assert!(!dir.path().join("log.json.1").exists());
    }
}
