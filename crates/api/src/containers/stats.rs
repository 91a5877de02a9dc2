//! `GET /containers/{id}/top` and `GET /containers/{id}/stats`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::ContainerTopResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use silo_engine::{ContainerStats, Engine};

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

/// Docker's zero time, used for `preread` of the first sample.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `GET /containers/{id}/top?ps_args=` (default `-ef`).
pub async fn top(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let ps_args = params.non_empty("ps_args").unwrap_or("-ef");
    let top = state.engine.top_container(&id, ps_args).await?;
    Ok(Json(ContainerTopResponse {
        titles: Some(top.titles),
        processes: Some(top.processes),
    })
    .into_response())
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

fn cpu_stats(s: &ContainerStats) -> Value {
    let mut v = json!({
        "cpu_usage": {
            "total_usage": s.cpu_total,
            "usage_in_kernelmode": s.cpu_system,
            "usage_in_usermode": s.cpu_user,
        },
        "throttling_data": {
            "periods": 0,
            "throttled_periods": s.throttled_periods,
            "throttled_time": s.throttled_time,
        },
    });
    if s.running {
        v["system_cpu_usage"] = json!(s.system_cpu);
        v["online_cpus"] = json!(s.online_cpus);
    }
    v
}

/// One `docker stats` object: `now` with `pre` as the previous sample (or none).
pub fn stats_json(now: &ContainerStats, pre: Option<&ContainerStats>) -> Value {
    let empty = ContainerStats::default();
    let pre = pre.unwrap_or(&empty);
    let memory = if now.running {
        json!({
            "usage": now.memory_usage,
            "max_usage": now.memory_max_usage,
            "limit": now.memory_limit,
            "failcnt": now.oom_kills,
            "stats": {},
        })
    } else {
        json!({})
    };
    let pids = if now.running {
        let mut p = json!({"current": now.pids_current});
        if let Some(limit) = now.pids_limit {
            p["limit"] = json!(limit);
        }
        p
    } else {
        json!({})
    };
    json!({
        "id": now.id,
        "name": now.name,
        "read": time(now.read),
        "preread": time(pre.read),
        "num_procs": 0,
        "pids_stats": pids,
        "cpu_stats": cpu_stats(now),
        "precpu_stats": cpu_stats(pre),
        "memory_stats": memory,
        "blkio_stats": {
            "io_service_bytes_recursive": null,
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "storage_stats": {},
        "networks": {},
    })
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: one object per second while streaming;
/// `stream=false` answers once, after a second sample so the CPU percentage can be computed
/// (Docker's behaviour), unless `one-shot=true`.
pub async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let stream = params.get("stream").is_none() || params.flag("stream");
    let one_shot = params.flag("one-shot");
    if one_shot && stream {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let engine = state.engine.clone();
    let first = engine.container_stats(&id).await?;
    if !stream {
        let answer = if one_shot || !first.running {
            stats_json(&first, None)
        } else {
            tokio::time::sleep(Engine::STATS_INTERVAL).await;
            let second = engine.container_stats(&id).await?;
            stats_json(&second, Some(&first))
        };
        return Ok(Json(answer).into_response());
    }
    let id = first.id.clone();
    let body = futures::stream::unfold(
        (engine, id, None::<ContainerStats>, Some(first)),
        |(engine, id, pre, next)| async move {
            let now = match next {
                Some(now) => now,
                None => {
                    tokio::time::sleep(Engine::STATS_INTERVAL).await;
                    engine.container_stats(&id).await.ok()?
                }
            };
            let line = format!("{}\n", stats_json(&now, pre.as_ref()));
            let running = now.running;
            // A stopped container gets one object of zeros, then the stream ends.
            let state = if running || pre.is_none() {
                (engine, id, Some(now), None)
            } else {
                return None;
            };
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), state))
        },
    );
    let body = Body::from_stream(body);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_have_dockers_shape() {
        let pre = ContainerStats {
            id: "abc".into(),
            name: "/web".into(),
            read: Some(Utc::now()),
            running: true,
            cpu_total: 1_000,
            system_cpu: 10_000,
            online_cpus: 2,
            memory_usage: 4096,
            memory_limit: 1 << 20,
            pids_current: 2,
            pids_limit: Some(10),
            ..ContainerStats::default()
        };
        let now = ContainerStats {
            cpu_total: 2_000,
            system_cpu: 20_000,
            ..pre.clone()
        };
        let v = stats_json(&now, Some(&pre));
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 2000);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 1000);
        assert_eq!(v["cpu_stats"]["system_cpu_usage"], 20000);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["usage"], 4096);
        assert_eq!(v["memory_stats"]["limit"], 1 << 20);
        assert_eq!(v["pids_stats"]["current"], 2);
        assert_eq!(v["pids_stats"]["limit"], 10);
        assert_eq!(v["name"], "/web");
        let first = stats_json(&now, None);
        assert_eq!(first["preread"], ZERO_TIME);
    }
}
