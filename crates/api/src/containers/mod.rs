//! `/containers/...`: create, start, stop, kill, wait, remove (here), list and inspect in
//! [`convert`] (list filters in [`filter`]), logs in [`logs`], restart, rename, update and
//! prune in [`ops`], top and stats in [`stats`], attach, resize and pause in [`attach`], exec in [`exec`]. Container routes silo does not serve yet are
//! not routed, so the fallback answers them 501.

mod attach;
mod convert;
mod create;
mod filter;

pub(crate) use filter::parse_time;
mod exec;
mod logs;
mod ops;
mod options;
mod stats;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::json;

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(convert::list))
        .route("/containers/create", post(create::create))
        .route("/containers/{id}/json", get(convert::inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/restart", post(ops::restart))
        .route("/containers/{id}/rename", post(ops::rename))
        .route("/containers/{id}/update", post(ops::update))
        .route("/containers/prune", post(ops::prune))
        .route("/containers/{id}/top", get(stats::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}/pause", post(attach::pause))
        .route("/containers/{id}/unpause", post(attach::unpause))
        .merge(exec::routes())
}

async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.engine.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (signal, timeout) = stop_params(&params)?;
    let phase = state.engine.stop_container(&id, signal, timeout).await?;
    tracing::debug!(container = %id, ?phase, "stopped");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `signal` and `t` of `stop` and `restart`: a signal name or number; seconds (negative waits
/// forever).
pub(crate) fn stop_params(params: &Params) -> Result<(Option<i32>, Option<i64>), ApiError> {
    let signal = params.non_empty("signal").map(parse_signal).transpose()?;
    let timeout = params
        .non_empty("t")
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("invalid value for t: {t:?}")))
        })
        .transpose()?;
    Ok((signal, timeout))
}

async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let signal = match params.non_empty("signal") {
        None => 9,
        Some(s) => parse_signal(s)?,
    };
    state.engine.kill_container(&id, signal).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/wait`. The docker CLI registers this wait before it starts a
/// container and blocks until the response headers arrive, so the headers go out at once
/// (as dockerd does) and the body follows when the condition is met.
async fn wait(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    #[derive(Clone, Copy)]
    enum Condition {
        NotRunning,
        NextExit,
        Removed,
    }
    let condition = match params.non_empty("condition") {
        None | Some("not-running") => Condition::NotRunning,
        Some("next-exit") => Condition::NextExit,
        Some("removed") => Condition::Removed,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "invalid condition {other:?}: expected not-running, next-exit or removed"
            )))
        }
    };
    // An unknown container is a 404 before anything is streamed.
    let engine = state.engine.clone();
    let id = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.container(&id))
            .await
            .map_err(|e| ApiError::internal(format!("look up container: {e}")))??
            .id
    };
    let body = futures::stream::once(async move {
        let result = match condition {
            Condition::NotRunning => engine.wait_container(&id).await,
            Condition::NextExit => engine.wait_container_event(&id, false).await,
            Condition::Removed => engine.wait_container_event(&id, true).await,
        };
        let answer = match result {
            Ok(code) => json!({"StatusCode": code}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(format!("{answer}\n")))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    // `v`: a container's anonymous volumes go with it; silo containers have none (create
    // refuses volumes), so there is nothing more to remove.
    if params.flag("link") {
        return Err(ApiError::not_implemented(
            "silo does not support links, so there is no link to remove",
        ));
    }
    state
        .engine
        .remove_container(&id, params.flag("force"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A signal as Docker accepts it: a number, or a name with or without `SIG`.
fn parse_signal(s: &str) -> Result<i32, ApiError> {
    silo_engine::parse_signal(s).ok_or_else(|| ApiError::invalid(format!("invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_number_and_name() {
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("hup"), Ok(1));
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
