//! go-units `HumanDuration`, as docker prints "CREATED" columns ("2 hours ago").

use chrono::{DateTime, Utc};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// go-units `HumanDuration` for a duration in nanoseconds.
pub fn human_duration(nanos: i64) -> String {
    let seconds = nanos / SECOND;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = nanos / MINUTE;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go's Duration.Round(time.Hour): halves round away from zero.
    let hours = (nanos + HOUR / 2) / HOUR;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", nanos / HOUR / 24 / 365)
}

/// Docker's `CreatedSince`: "<HumanDuration> ago" for a Unix timestamp in seconds.
pub fn created_since(created: i64, now: DateTime<Utc>) -> String {
    let Some(at) = DateTime::<Utc>::from_timestamp(created, 0) else {
        return "N/A".into();
    };
    let nanos = (now - at).num_nanoseconds().unwrap_or(i64::MAX);
    format!("{} ago", human_duration(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> String {
        human_duration(s * SECOND)
    }

    #[test]
    fn matches_go_units() {
        assert_eq!(human_duration(SECOND / 2), "Less than a second");
        assert_eq!(human_duration(-5 * SECOND), "Less than a second");
        assert_eq!(secs(1), "1 second");
        assert_eq!(secs(47), "47 seconds");
        assert_eq!(secs(60), "About a minute");
        assert_eq!(secs(119), "About a minute");
        assert_eq!(secs(120), "2 minutes");
        assert_eq!(secs(59 * 60 + 59), "59 minutes");
        assert_eq!(secs(3600), "About an hour");
        assert_eq!(secs(3600 + 29 * 60), "About an hour");
        assert_eq!(secs(3600 + 30 * 60), "2 hours");
        assert_eq!(secs(47 * 3600), "47 hours");
        assert_eq!(secs(48 * 3600), "2 days");
        assert_eq!(secs(13 * 24 * 3600), "13 days");
        assert_eq!(secs(14 * 24 * 3600), "2 weeks");
        assert_eq!(secs(59 * 24 * 3600), "8 weeks");
        assert_eq!(secs(60 * 24 * 3600), "2 months");
        assert_eq!(secs(729 * 24 * 3600), "24 months");
        assert_eq!(secs(730 * 24 * 3600), "2 years");
    }

    #[test]
    fn created_since_appends_ago() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid");
        assert_eq!(created_since(1_700_000_000 - 7200, now), "2 hours ago");
        assert_eq!(created_since(1_700_000_000 - 90, now), "About a minute ago");
    }
}
