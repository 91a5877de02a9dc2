//! `GET /events`: the engine's events as Docker's JSON lines, with `since`, `until` and
//! `filters` (`type`, `event`, `container`, `image`, `label`, ...).
//!
//! Past events come from the engine's bounded history (the last [`silo_engine::EVENT_HISTORY`]);
//! with `until` in the past the answer ends after them (`docker events --since 0 --until
//! <now>` terminates), with `until` in the future the stream ends at that time, and without
//! `until` it follows live events until the client goes away.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use silo_engine::Event;
use tokio::sync::broadcast::error::RecvError;

use crate::containers::parse_time;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::Params;
use crate::AppState;

/// The filter keys dockerd accepts for events.
const EVENT_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// Which events a client asked for.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    filters: Filters,
    since: Option<i64>,
    until: Option<i64>,
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl EventFilter {
    pub fn new(params: &Params, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let filters = Filters::parse(params.get("filters"))?;
        filters.validate(EVENT_FILTERS)?;
        let time = |key| -> Result<Option<i64>, ApiError> {
            params
                .non_empty(key)
                .map(|v| parse_time(v, now).map(nanos))
                .transpose()
        };
        let since = time("since")?;
        let until = time("until")?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err(ApiError::invalid(
                    "`since` time must be before `until` time",
                ));
            }
        }
        Ok(EventFilter {
            filters,
            since,
            until,
        })
    }

    /// Whether `e` is wanted (ignoring time).
    pub fn matches(&self, e: &Event) -> bool {
        let f = &self.filters;
        let any = |key: &str, test: &dyn Fn(&str) -> bool| {
            let values = f.get(key);
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let attr = |k: &str| e.attributes.get(k).map(String::as_str);
        // `exec_start: sh` is matched by `exec_start`.
        let action = e.action.split(':').next().unwrap_or_default().trim();
        let is = |kind: &str| e.kind == kind;
        any("type", &|v| v == e.kind)
            && any("event", &|v| v == e.action || v == action)
            && any("container", &|v| {
                is("container")
                    && (e.actor_id == v
                        || (v.len() >= 12 && e.actor_id.starts_with(v))
                        || attr("name") == Some(v))
            })
            && any("image", &|v| {
                attr("image") == Some(v)
                    || (is("image") && (e.actor_id == v || attr("name") == Some(v)))
            })
            && f.match_labels("label", attr)
            && any("scope", &|v| v == "local")
            && [
                "config", "daemon", "network", "node", "plugin", "secret", "service", "volume",
            ]
            .iter()
            .all(|k| {
                // silo publishes no such objects: a filter on them matches only its type.
                f.get(k).is_empty()
            })
    }

    fn in_time(&self, e: &Event) -> bool {
        self.since.is_none_or(|s| e.time_nano >= s) && self.until.is_none_or(|u| e.time_nano <= u)
    }
}

/// Docker's `events.Message`, including the legacy `status`/`id`/`from` fields.
pub fn message(e: &Event) -> Value {
    let attributes: HashMap<&String, &String> = e.attributes.iter().collect();
    let mut v = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.actor_id, "Attributes": attributes},
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    if e.kind == "container" || e.kind == "image" {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor_id);
        if let Some(image) = e.attributes.get("image") {
            v["from"] = json!(image);
        }
    }
    v
}

fn line(e: &Event) -> Result<Bytes, std::convert::Infallible> {
    Ok(Bytes::from(format!("{}\n", message(e))))
}

async fn events(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let now = Utc::now();
    let filter = EventFilter::new(&params, now)?;
    let (history, mut live) = state.engine.events().subscribe_with_history();
    // Past events only when asked for with `since` (Docker's behaviour).
    let past: Vec<Event> = if filter.since.is_some() {
        history
            .iter()
            .filter(|e| filter.in_time(e) && filter.matches(e))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let last_seq = history.last().map_or(0, |e| e.seq);
    let until = filter.until;
    let ended = until.is_some_and(|u| u <= nanos(now));
    let past_stream = futures::stream::iter(past.iter().map(line).collect::<Vec<_>>());
    let live_stream = async_stream(move |tx| async move {
        if ended {
            return;
        }
        let deadline = until.map(|u| {
            let wait = (u - nanos(Utc::now())).max(0) as u64;
            tokio::time::Instant::now() + std::time::Duration::from_nanos(wait)
        });
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(100 * 365 * 86_400);
        let deadline = deadline.unwrap_or(far);
        loop {
            // Ends at `until`, or as soon as the client has gone away.
            let next = tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                next = live.recv() => next,
            };
            match next {
                Ok(e) if e.seq <= last_seq => {}
                Ok(e) => {
                    if filter.in_time(&e) && filter.matches(&e) && tx.send(line(&e)).await.is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("events subscriber lagged; {n} events skipped");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(past_stream, live_stream));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A stream fed by a task through a small channel; the task stops when the client is gone.
fn async_stream<F, Fut>(
    f: F,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::convert::Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn event(kind: &'static str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            kind,
            action: action.into(),
            actor_id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            time_nano: 1_700_000_000_000_000_000,
            seq: 1,
        }
    }

    fn filter(json: &str) -> EventFilter {
        let params = Params::from_pairs([("filters", json)]);
        EventFilter::new(&params, Utc::now()).unwrap()
    }

    #[test]
    fn filters_select_like_dockers() {
        let die = event(
            "container",
            "die",
            "abcdef0123456789",
            &[
                ("name", "web"),
                ("image", "busybox"),
                ("exitCode", "0"),
                ("env", "prod"),
            ],
        );
        let tag = event("image", "tag", "sha256:1", &[("name", "busybox:latest")]);
        assert!(filter(r#"{"type":["container"]}"#).matches(&die));
        assert!(!filter(r#"{"type":["container"]}"#).matches(&tag));
        assert!(filter(r#"{"event":["die","stop"]}"#).matches(&die));
        assert!(!filter(r#"{"event":["start"]}"#).matches(&die));
        assert!(filter(r#"{"container":["web"]}"#).matches(&die));
        assert!(filter(r#"{"container":["abcdef0123456789"]}"#).matches(&die));
        assert!(!filter(r#"{"container":["db"]}"#).matches(&die));
        assert!(filter(r#"{"image":["busybox"]}"#).matches(&die));
        assert!(filter(r#"{"image":["busybox:latest"]}"#).matches(&tag));
        assert!(filter(r#"{"label":["env=prod"]}"#).matches(&die));
        assert!(!filter(r#"{"label":["env=dev"]}"#).matches(&die));
        let params = Params::from_pairs([("filters", r#"{"bogus":["x"]}"#)]);
        assert_eq!(
            EventFilter::new(&params, Utc::now()).unwrap_err().status(),
            400
        );
    }

    #[test]
    fn messages_have_dockers_fields() {
        let e = event("container", "start", "abc", &[("image", "busybox")]);
        let v = message(&e);
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["status"], "start");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["time"], 1_700_000_000);
    }
}
