//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked unless
//! detached), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ExecStartConfig, ProcessConfig};
use serde_json::json;
use silo_engine::ExecInfo;

use super::attach::{hijack, size_of, splice, upgrade_of};
use crate::error::ApiError;
use crate::params::{ApiJson, Params};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// Docker's `ConsoleSize`: `[height, width]`.
fn console_size(v: Option<Vec<usize>>) -> Result<Option<(u16, u16)>, ApiError> {
    match v.as_deref() {
        None | Some([]) | Some([0, 0]) => Ok(None),
        Some(&[h, w]) => {
            let dim = |n: usize| {
                u16::try_from(n).map_err(|_| ApiError::invalid("console size out of range"))
            };
            Ok(Some((dim(w)?, dim(h)?)))
        }
        Some(_) => Err(ApiError::invalid("ConsoleSize must be [height, width]")),
    }
}

async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExecConfig>,
) -> Result<Response, ApiError> {
    let config = silo_engine::ExecConfig {
        cmd: body.cmd.unwrap_or_default(),
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir,
        user: body.user,
        tty: body.tty.unwrap_or_default(),
        attach_stdin: body.attach_stdin.unwrap_or_default(),
        attach_stdout: body.attach_stdout.unwrap_or_default(),
        attach_stderr: body.attach_stderr.unwrap_or_default(),
        privileged: body.privileged.unwrap_or_default(),
        console_size: console_size(body.console_size)?,
        detach_keys: body.detach_keys.unwrap_or_default(),
    };
    let exec_id = state.engine.create_exec(&id, config)?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))).into_response())
}

async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let upgrade = upgrade_of(&mut req).ok();
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|e| ApiError::invalid(format!("read body: {e}")))?;
    let body: ExecStartConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExecStartConfig::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(e.to_string()))?
    };
    let detach = body.detach.unwrap_or_default();
    let size = console_size(body.console_size)?;
    if detach {
        state.engine.start_exec(&id, true, body.tty, size).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let upgrade = upgrade.ok_or_else(|| {
        ApiError::invalid(
            "an attached exec hijacks the connection: send Connection: Upgrade and Upgrade: tcp",
        )
    })?;
    let info = state.engine.inspect_exec(&id)?;
    let started = state.engine.start_exec(&id, false, body.tty, size).await?;
    let Some(exec) = started else {
        return Err(ApiError::internal("attached exec started without a stream"));
    };
    let engine = state.engine.clone();
    let send_stdin = info.config.attach_stdin;
    let tty = exec.tty;
    Ok(hijack(upgrade, tty, move |client| async move {
        let exited = async {
            // The client inspects the exec as soon as its stream ends: record the exit first.
            let wait = engine.exec_exited(&id);
            if tokio::time::timeout(std::time::Duration::from_secs(5), wait)
                .await
                .is_err()
            {
                tracing::warn!("exec {id}: output ended but no exit after 5 s");
            }
        };
        splice(client, exec.stream, tty, send_stdin, Vec::new(), exited).await;
    }))
}

async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let info = state.engine.inspect_exec(&id)?;
    Ok(Json(inspect_body(info)).into_response())
}

fn inspect_body(info: ExecInfo) -> ExecInspectResponse {
    let cfg = info.config;
    let (entrypoint, arguments) = match cfg.cmd.split_first() {
        Some((first, rest)) => (Some(first.clone()), Some(rest.to_vec())),
        None => (None, None),
    };
    ExecInspectResponse {
        can_remove: Some(false),
        detach_keys: Some(cfg.detach_keys),
        id: Some(info.id),
        running: Some(info.running),
        exit_code: info.exit_code.map(i64::from),
        process_config: Some(ProcessConfig {
            privileged: Some(cfg.privileged),
            user: Some(cfg.user.unwrap_or_default()),
            tty: Some(cfg.tty),
            entrypoint,
            arguments,
        }),
        open_stdin: Some(cfg.attach_stdin),
        open_stderr: Some(cfg.attach_stderr),
        open_stdout: Some(cfg.attach_stdout),
        container_id: Some(info.container_id),
        pid: Some(i64::from(info.pid)),
    }
}

async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (width, height) = size_of(&params)?;
    state.engine.resize_exec(&id, width, height).await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_size_is_height_then_width() {
        assert_eq!(console_size(Some(vec![24, 80])).unwrap(), Some((80, 24)));
        assert_eq!(console_size(None).unwrap(), None);
        assert_eq!(console_size(Some(vec![0, 0])).unwrap(), None);
        assert!(console_size(Some(vec![1, 2, 3])).is_err());
        assert!(console_size(Some(vec![1, 1 << 20])).is_err());
    }
}
