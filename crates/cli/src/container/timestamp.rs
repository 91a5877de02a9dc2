//! docker's `timetypes.GetTimestamp` for `--since`/`--until`: a Go duration (`42m`, `1h30m`) is
//! that long before now, an RFC 3339 time or date is itself, a Unix timestamp
//! (`1700000000[.123]`) passes through. The result is docker's `seconds.nanoseconds` string.

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// `value` as `seconds.nanoseconds` relative to `now`.
pub fn timestamp(value: &str, now: DateTime<Utc>) -> Result<String> {
    let value = value.trim();
    if let Some(nanos) = go_duration(value) {
        let t = now - chrono::Duration::nanoseconds(nanos);
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, layout) {
            let t = t.and_utc();
            return Ok(format!(
                "{}.{:09}",
                t.timestamp(),
                t.timestamp_subsec_nanos()
            ));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(format!("{}.000000000", t.and_utc().timestamp()));
        }
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !secs.is_empty() && digits(secs) && digits(frac) && frac.len() <= 9 {
        return Ok(format!("{secs}.{frac:0<9}"));
    }
    bail!("invalid value for time {value:?}: expected a duration (10m), an RFC 3339 time or a Unix timestamp")
}

/// Whole seconds of a [`timestamp`] (the logs endpoint takes integers in bollard's API).
pub fn seconds(value: &str, now: DateTime<Utc>) -> Result<i32> {
    let ts = timestamp(value, now)?;
    let secs = ts.split_once('.').map_or(ts.as_str(), |(s, _)| s);
    Ok(secs.parse::<i64>()?.clamp(0, i64::from(i32::MAX)) as i32)
}

/// Go's `time.ParseDuration`, in nanoseconds; `None` if `s` is not a duration.
pub fn go_duration(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * unit;
    }
    let total = total as i64;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid")
    }

    #[test]
    fn durations_dates_and_unix_times() {
        assert_eq!(go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("abc"), None);
        assert_eq!(timestamp("10m", now()).expect("ok"), "1699999400.000000000");
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z", now()).expect("ok"),
            "1700000000.000000000"
        );
        assert_eq!(
            timestamp("2023-11-14", now()).expect("ok"),
            "1699920000.000000000"
        );
        assert_eq!(
            timestamp("1700000000.5", now()).expect("ok"),
            "1700000000.500000000"
        );
        assert!(timestamp("yesterday", now()).is_err());
        assert_eq!(seconds("1m", now()).expect("ok"), 1_699_999_940);
    }
}
