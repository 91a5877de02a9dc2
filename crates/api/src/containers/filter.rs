//! `GET /containers/json?filters=` and `POST /containers/prune?filters=`: Docker's container
//! filters, plus the timestamps `since`/`until` take (shared with `/events`).

use chrono::{DateTime, TimeZone, Utc};
use silo_engine::{Container, ContainerStatus, Engine};

use crate::error::ApiError;
use crate::filters::Filters;

/// The filter keys dockerd accepts for `docker ps`.
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// A parsed `docker ps` filter set, ready to test records.
#[derive(Debug, Default)]
pub struct ListFilter {
    filters: Filters,
    /// Image ids the `ancestor` values resolved to, plus the values themselves.
    ancestors: Vec<String>,
    before: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    exited: Vec<i32>,
}

impl ListFilter {
    /// Validates `filters` (400 for unknown keys and bad values, 404 for a `before`/`since`
    /// container that does not exist).
    pub fn new(filters: Filters, engine: &Engine) -> Result<Self, ApiError> {
        filters.validate(LIST_FILTERS)?;
        for status in filters.get("status") {
            if !STATUSES.contains(&status.as_str()) {
                return Err(ApiError::invalid(format!(
                    "Invalid filter 'status={status}'"
                )));
            }
        }
        for health in filters.get("health") {
            if !["starting", "healthy", "unhealthy", "none"].contains(&health.as_str()) {
                return Err(ApiError::invalid(format!(
                    "Unrecognised filter value for health: {health}"
                )));
            }
        }
        filters.bool("is-task")?;
        let exited = filters
            .get("exited")
            .iter()
            .map(|v| {
                v.parse::<i32>()
                    .map_err(|_| ApiError::invalid(format!("invalid filter 'exited={v}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ancestors = Vec::new();
        for value in filters.get("ancestor") {
            ancestors.push(value.clone());
            if let Ok(image) = engine.image(value) {
                ancestors.push(image.id);
            }
        }
        let created_of = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
            match filters.get(key).first() {
                None => Ok(None),
                Some(reference) => Ok(Some(engine.container(reference)?.created)),
            }
        };
        let before = created_of("before")?;
        let since = created_of("since")?;
        Ok(ListFilter {
            filters,
            ancestors,
            before,
            since,
            exited,
        })
    }

    /// Whether the filter asks about non-running containers, which implies `all`.
    pub fn implies_all(&self) -> bool {
        self.filters.contains("status") || self.filters.contains("exited")
    }

    /// Whether `c` passes every filter (values of one key are alternatives).
    pub fn matches(&self, c: &Container) -> bool {
        let f = &self.filters;
        let any = |key: &str, test: &dyn Fn(&str) -> bool| {
            let values = f.get(key);
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let status = c.state.status.as_str();
        any("status", &|v| v == status)
            && any("id", &|v| c.id.starts_with(v))
            && any("name", &|v| name_matches(v, &c.name))
            && f.match_labels("label", |k| c.config.labels.get(k).map(String::as_str))
            && (self.ancestors.is_empty()
                || self
                    .ancestors
                    .iter()
                    .any(|a| *a == c.image_id || *a == c.image_name))
            && (self.exited.is_empty()
                || (c.state.status == ContainerStatus::Exited
                    && self.exited.contains(&c.state.exit_code)))
            && self.before.is_none_or(|t| c.created < t)
            && self.since.is_none_or(|t| c.created > t)
            && any("isolation", &|v| matches!(v, "process" | "default"))
            && any("health", &|v| v == "none")
            && any("is-task", &|v| matches!(v, "false" | "0"))
            && any("network", &|v| v == "none")
            // No container has volumes, published or exposed ports.
            && f.get("volume").is_empty()
            && f.get("publish").is_empty()
            && f.get("expose").is_empty()
    }
}

/// Docker matches names with a regular expression against `/name`; silo understands the
/// forms people use: a substring, optionally anchored with `^` and `$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let bare = name.trim_start_matches('/');
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    let core_bare = core.trim_start_matches('/');
    [name, bare].iter().any(|n| match (start, end) {
        (true, true) => *n == core || *n == core_bare,
        (true, false) => {
            n.starts_with(core) || (core.starts_with('/') && bare.starts_with(core_bare))
        }
        (false, true) => n.ends_with(core),
        (false, false) => n.contains(core),
    })
}

/// `POST /containers/prune` filters: `label`, `label!` and `until`.
pub fn prune_filter(filters: &Filters) -> Result<impl Fn(&Container) -> bool, ApiError> {
    let filter = crate::filters::PruneFilter::new(filters)?;
    Ok(move |c: &Container| {
        filter.matches(|k| c.config.labels.get(k).map(String::as_str), c.created)
    })
}

/// Docker's timestamps (`GetTimestamp`): unix seconds with an optional fraction, RFC 3339
/// (with or without zone), a date, or a Go duration (`10m`, `1h30m`) meaning that long ago.
pub fn parse_time(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let bad = || ApiError::invalid(format!("invalid time value {value:?}"));
    let v = value.trim();
    if let Some(d) = go_duration(v) {
        return Ok(now - d);
    }
    if let Ok(secs) = v.parse::<f64>() {
        if !v.contains(['e', 'E']) {
            let (whole, frac) = v.split_once('.').unwrap_or((v, "0"));
            let s: i64 = whole.parse().map_err(|_| bad())?;
            let nanos: u32 = format!("{frac:0<9}")[..9].parse().map_err(|_| bad())?;
            let _ = secs;
            return Utc.timestamp_opt(s, nanos).single().ok_or_else(bad);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(bad);
    }
    Err(bad())
}

/// Go's `time.ParseDuration` for positive values with h, m, s, ms, us, ns units.
fn go_duration(v: &str) -> Option<chrono::TimeDelta> {
    if v.is_empty() || !v.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[unit_end..];
    }
    Some(chrono::TimeDelta::nanoseconds(total as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_dockers_common_patterns() {
        assert!(name_matches("web", "/my-web-1"));
        assert!(name_matches("^web", "/web-1"));
        assert!(name_matches("^/web", "/web-1"));
        assert!(!name_matches("^web", "/my-web"));
        assert!(name_matches("web$", "/my-web"));
        assert!(name_matches("^web$", "/web"));
        assert!(!name_matches("^web$", "/web2"));
    }

    #[test]
    fn timestamps_in_dockers_forms() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(parse_time("0", now).unwrap().timestamp(), 0);
        let t = parse_time("1700000000.5", now).unwrap();
        assert_eq!(
            (t.timestamp(), t.timestamp_subsec_millis()),
            (1_700_000_000, 500)
        );
        assert_eq!(
            parse_time("10m", now).unwrap(),
            now - chrono::TimeDelta::minutes(10)
        );
        assert_eq!(
            parse_time("1h30m", now).unwrap(),
            now - chrono::TimeDelta::minutes(90)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 0).unwrap()
        );
        assert!(parse_time("2023-11-14", now).is_ok());
        assert_eq!(parse_time("soon", now).unwrap_err().status(), 400);
    }
}
