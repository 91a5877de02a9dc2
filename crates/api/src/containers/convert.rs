//! `GET /containers/json` and `GET /containers/{id}/json`: records in Docker's shapes.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use silo_engine::{Container, ContainerStatus};

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

/// Docker's zero time, shown for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub async fn list(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    if params.non_empty("filters").is_some_and(|f| f != "{}") {
        return Err(ApiError::not_implemented(
            "silo does not support container list filters yet",
        ));
    }
    let now = Utc::now();
    let rows: Vec<Value> = state
        .engine
        .list_containers(params.flag("all"))?
        .iter()
        .map(|c| summary(c, now))
        .collect();
    Ok(Json(rows).into_response())
}

pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = state.engine.container(&id)?;
    Ok(Json(details(&c)).into_response())
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

/// One row of `docker ps`.
pub fn summary(c: &Container, now: DateTime<Utc>) -> Value {
    let command = c
        .argv()
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image_name,
        "ImageID": c.image_id,
        "Command": command,
        "Created": c.created.timestamp(),
        "Ports": [],
        "Labels": c.config.labels,
        "State": c.state.status.as_str(),
        "Status": status_text(c, now),
        "HostConfig": {"NetworkMode": "none"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

/// `Up 3 seconds`, `Exited (0) 2 seconds ago`, `Created`: the STATUS column.
pub fn status_text(c: &Container, now: DateTime<Utc>) -> String {
    let since = |t: Option<DateTime<Utc>>| human_duration(now - t.unwrap_or(now));
    match c.state.status {
        ContainerStatus::Running => format!("Up {}", since(c.state.started_at)),
        ContainerStatus::Paused => format!("Up {} (Paused)", since(c.state.started_at)),
        ContainerStatus::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            since(c.state.finished_at)
        ),
        ContainerStatus::Created => "Created".to_string(),
        ContainerStatus::Restarting => "Restarting".to_string(),
        ContainerStatus::Removing => "Removal In Progress".to_string(),
        ContainerStatus::Dead => "Dead".to_string(),
    }
}

/// Go's `units.HumanDuration`, which `docker ps` uses.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        s if s < 1 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => plural(s, "second"),
        s if s / 60 == 1 => "About a minute".to_string(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if (s as f64 / 3600.0).round() == 1.0 => "About an hour".to_string(),
        s if s < 48 * 3600 => plural((s as f64 / 3600.0).round() as i64, "hour"),
        s if s < 7 * 24 * 3600 * 2 => plural(s / (24 * 3600), "day"),
        s if s < 30 * 24 * 3600 * 3 => plural(s / (7 * 24 * 3600), "week"),
        s if s < 365 * 24 * 3600 * 2 => plural(s / (30 * 24 * 3600), "month"),
        s => plural(s / (365 * 24 * 3600), "year"),
    }
}

/// `docker inspect` of a container.
pub fn details(c: &Container) -> Value {
    let st = &c.state;
    let status = st.status;
    let cfg = &c.config;
    let hc = &c.host_config;
    json!({
        "Id": c.id,
        "Created": time(Some(c.created)),
        "Path": c.path(),
        "Args": c.args(),
        "State": {
            "Status": status.as_str(),
            "Running": matches!(status, ContainerStatus::Running | ContainerStatus::Paused),
            "Paused": status == ContainerStatus::Paused,
            "Restarting": status == ContainerStatus::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": status == ContainerStatus::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": time(st.started_at),
            "FinishedAt": time(st.finished_at),
        },
        "Image": c.image_id,
        "Name": c.name,
        "RestartCount": 0,
        "Driver": "overlayfs",
        "Platform": "linux",
        "Config": {
            "Hostname": if cfg.hostname.is_empty() { &c.id[..12.min(c.id.len())] } else { cfg.hostname.as_str() },
            "User": cfg.user,
            "Tty": cfg.tty,
            "OpenStdin": false,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
            "Image": c.image_name,
            "WorkingDir": cfg.working_dir,
            "Labels": cfg.labels,
        },
        "HostConfig": {
            "Memory": hc.memory,
            "NanoCpus": hc.nano_cpus,
            "CpuShares": hc.cpu_shares,
            "PidsLimit": hc.pids_limit,
            "AutoRemove": hc.auto_remove,
            "NetworkMode": "none",
            "RestartPolicy": {
                "Name": if hc.restart_policy.name.is_empty() { "no" } else { hc.restart_policy.name.as_str() },
                "MaximumRetryCount": hc.restart_policy.maximum_retry_count,
            },
            "LogConfig": {"Type": "json-file", "Config": {}},
        },
        "Mounts": [],
        "NetworkSettings": {"Networks": {}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(TimeDelta::zero()), "Less than a second");
        assert_eq!(human_duration(TimeDelta::seconds(3)), "3 seconds");
        assert_eq!(human_duration(TimeDelta::seconds(70)), "About a minute");
        assert_eq!(human_duration(TimeDelta::seconds(600)), "10 minutes");
        assert_eq!(human_duration(TimeDelta::seconds(3 * 3600)), "3 hours");
        assert_eq!(human_duration(TimeDelta::days(3)), "3 days");
    }
}
