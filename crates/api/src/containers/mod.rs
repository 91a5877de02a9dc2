//! `/containers/...`: create, start, stop, kill, wait, remove (here), list and inspect in
//! [`convert`], logs in [`logs`]. Container routes silo does not serve yet (attach, exec, top,
//! stats, pause, ...) are not routed, so the fallback answers them 501.

mod convert;
mod create;
mod logs;

use std::time::Duration;

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
    if params
        .non_empty("signal")
        .is_some_and(|s| parse_signal(s) != Ok(SIGTERM))
    {
        return Err(ApiError::not_implemented(
            "silo does not support a stop signal other than SIGTERM yet",
        ));
    }
    let timeout = match params.non_empty("t") {
        None => None,
        Some(t) => {
            let secs: i64 = t
                .parse()
                .map_err(|_| ApiError::invalid(format!("invalid value for t: {t:?}")))?;
            // Docker: a negative timeout waits forever; approximate it with a long wait.
            Some(Duration::from_secs(
                u64::try_from(secs).unwrap_or(u64::from(u32::MAX)),
            ))
        }
    };
    let phase = state.engine.stop_container(&id, timeout).await?;
    tracing::debug!(container = %id, ?phase, "stopped");
    Ok(StatusCode::NO_CONTENT.into_response())
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
    if params.flag("v") || params.flag("link") {
        return Err(ApiError::not_implemented(
            "silo has no volumes or links to remove yet",
        ));
    }
    state
        .engine
        .remove_container(&id, params.flag("force"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The only stop signal silo sends so far.
const SIGTERM: i32 = 15;

/// A signal as Docker accepts it: a number, or a name with or without `SIG`.
fn parse_signal(s: &str) -> Result<i32, ApiError> {
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(ApiError::invalid(format!("invalid signal: {s}")))
        };
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "WINCH" => 28,
        _ => return Err(ApiError::invalid(format!("invalid signal: {s}"))),
    };
    Ok(n)
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
