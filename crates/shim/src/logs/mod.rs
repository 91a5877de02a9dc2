//! Docker's `json-file` log format, written by the shim and read back by the daemon.
//!
//! One JSON object per line, `{"log":"hello\n","stream":"stdout","time":"…Z"}`, with the time in
//! Go's RFC3339Nano (UTC, trailing zeros of the fraction trimmed). Files are `log.json` (newest),
//! then `log.json.1`, `log.json.2`, … older ones when rotation is on. Keeping Docker's format
//! means existing tooling (and people's habits) work on silo's log files unchanged.

mod reader;
mod writer;

pub use reader::{read_logs, LogLine};
pub use writer::{LineSplitter, LogWriter, MAX_MESSAGE};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The current log file's name; rotated files append `.1`, `.2`, ….
pub const LOG_FILE: &str = "log.json";

/// Which of the container's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Rotation settings (Docker's `max-size` and `max-file` log options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Rotate once the current file has reached this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// How many files to keep in all, the current one included (at least 1).
    pub max_file: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: None,
            max_file: 1,
        }
    }
}

/// A `max-size` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid log size {0:?}: expected a number with an optional k, m, g, t or p suffix")]
pub struct SizeError(pub String);

impl silo_errdefs::HasKind for SizeError {
    fn kind(&self) -> silo_errdefs::ErrorKind {
        silo_errdefs::ErrorKind::InvalidArgument
    }
}

/// Parses a size the way Docker's `max-size` does (go-units `RAMInBytes`): a decimal number,
/// optional space, optional k/m/g/t/p with an optional `i` and `b`, case-insensitive, powers of
/// 1024. `"10m"` = 10 MiB, `"1.5k"` = 1536, `"123"` = 123 bytes. `-1` means unlimited (`None`).
pub fn parse_size(s: &str) -> Result<Option<u64>, SizeError> {
    let err = || SizeError(s.to_string());
    let t = s.trim();
    if t == "-1" {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(err()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(err());
    }
    Ok(Some(bytes as u64))
}

/// Formats `t` as Go's RFC3339Nano in UTC: `2026-11-22T06:50:00.1234Z` (no trailing zeros, no
/// fraction at all on a whole second), which is what Docker writes.
pub fn format_time(t: &DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("10m"), Ok(Some(10 * 1024 * 1024)));
        assert_eq!(parse_size("10M"), Ok(Some(10 * 1024 * 1024)));
        assert_eq!(parse_size("10mb"), Ok(Some(10 * 1024 * 1024)));
        assert_eq!(parse_size("10 MiB"), Ok(Some(10 * 1024 * 1024)));
        assert_eq!(parse_size("1k"), Ok(Some(1024)));
        assert_eq!(parse_size("1.5k"), Ok(Some(1536)));
        assert_eq!(parse_size("2g"), Ok(Some(2 << 30)));
        assert_eq!(parse_size("123"), Ok(Some(123)));
        assert_eq!(parse_size("123b"), Ok(Some(123)));
        assert_eq!(parse_size("-1"), Ok(None));
        for bad in ["", "m", "10x", "1..2k", ".5k", "-5m", "10mm"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn times_are_rfc3339_nano() {
        let t: DateTime<Utc> = "2026-11-22T06:50:00.123456789Z".parse().unwrap();
        assert_eq!(format_time(&t), "2026-11-22T06:50:00.123456789Z");
        let t: DateTime<Utc> = "2026-11-22T06:50:00.120Z".parse().unwrap();
        assert_eq!(format_time(&t), "2026-11-22T06:50:00.12Z");
        let t: DateTime<Utc> = "2026-11-22T06:50:00Z".parse().unwrap();
        assert_eq!(format_time(&t), "2026-11-22T06:50:00Z");
    }
}
