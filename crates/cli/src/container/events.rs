//! `silo events`: the daemon's event stream, printed as docker prints it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use chrono::{DateTime, Local, Offset, Utc};
use futures::StreamExt;
use serde_json::Value;

use super::args::EventsArgs;
use super::timestamp::timestamp;
use crate::args::filter_map;
use crate::connect::Client;
use crate::format::template::Template;

pub async fn events(client: &Client, args: &EventsArgs) -> Result<ExitCode> {
    let template = match args.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(t) => Some(Template::parse(t)?),
    };
    let now = Utc::now();
    let filters = filter_map(&args.filters);
    let options = EventsOptions {
        since: args
            .since
            .as_deref()
            .map(|s| timestamp(s, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|u| timestamp(u, now))
            .transpose()?,
        filters: (!filters.is_empty()).then_some(filters),
    };
    let mut stream = client.docker.events(Some(options));
    while let Some(event) = stream.next().await {
        let event = event?;
        let line = match &template {
            Some(t) => t.execute(&serde_json::to_value(&event)?)?,
            None => plain_line(&event),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-22T08:20:43.123456789Z container start 3f2a… (image=busybox, name=web)`.
pub fn plain_line(event: &EventMessage) -> String {
    let mut s = String::new();
    let when = match (event.time_nano, event.time) {
        (Some(n), _) if n != 0 => DateTime::<Utc>::from_timestamp_nanos(n).into(),
        (_, Some(t)) if t != 0 => DateTime::<Utc>::from_timestamp(t, 0),
        _ => None,
    };
    if let Some(when) = when {
        s.push_str(&rfc3339_nano_fixed(&when.with_timezone(&Local)));
        s.push(' ');
    }
    let value = serde_json::to_value(event).unwrap_or(Value::Null);
    let typ = value
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let action = event.action.as_deref().unwrap_or_default();
    let actor = event.actor.as_ref();
    let id = actor.and_then(|a| a.id.as_deref()).unwrap_or_default();
    s.push_str(&format!("{typ} {action} {id}"));
    let mut attrs: Vec<(&String, &String)> = actor
        .and_then(|a| a.attributes.as_ref())
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    attrs.sort();
    if !attrs.is_empty() {
        let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// Go's `2006-01-02T15:04:05.000000000Z07:00`: nine fraction digits, `Z` for UTC.
fn rfc3339_nano_fixed<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let offset = t.offset().fix().local_minus_utc();
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!("{}{zone}", t.format("%Y-%m-%dT%H:%M:%S%.9f"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessageTypeEnum};

    #[test]
    fn docker_event_line() {
        let event = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(
                    [("name", "web"), ("image", "busybox")]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_000_000_001),
            ..Default::default()
        };
        let line = plain_line(&event);
        assert!(
            line.ends_with(" container start abc (image=busybox, name=web)"),
            "{line}"
        );
        let utc = DateTime::<Utc>::from_timestamp_nanos(1_700_000_000_000_000_001);
        assert_eq!(rfc3339_nano_fixed(&utc), "2023-11-14T22:13:20.000000001Z");
    }
}
