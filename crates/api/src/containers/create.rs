//! `POST /containers/create`: Docker's create body → the engine's [`CreateRequest`].
//!
//! Options silo cannot honour yet are refused (400 for a pty, 501 for the rest) rather than
//! silently dropped, so a client never gets a container that differs from what it asked for.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, HostConfig};
use silo_engine::{CreateRequest, RestartPolicy};

use crate::error::ApiError;
use crate::params::{ApiJson, Params};
use crate::AppState;

pub async fn create(
    State(state): State<AppState>,
    params: Params,
    ApiJson(body): ApiJson<ContainerCreateBody>,
) -> Result<Response, ApiError> {
    let req = request(body)?;
    let id = state
        .engine
        .create_container(params.non_empty("name"), req)
        .await?;
    let answer = ContainerCreateResponse {
        id,
        warnings: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn unsupported(what: &str) -> ApiError {
    ApiError::not_implemented(format!("silo does not support {what} yet"))
}

/// Validates the body and keeps what silo honours.
pub fn request(body: ContainerCreateBody) -> Result<CreateRequest, ApiError> {
    if body.tty == Some(true) {
        return Err(ApiError::invalid("tty is not supported yet"));
    }
    let image = body.image.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::invalid("config cannot be empty in order to create a container")
    })?;
    let hc = body.host_config.unwrap_or_default();
    check_host_config(&hc)?;
    let restart_policy = hc
        .restart_policy
        .map(|p| RestartPolicy {
            name: p
                .name
                .and_then(|n| serde_json::to_value(n).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            maximum_retry_count: p.maximum_retry_count.unwrap_or_default(),
        })
        .unwrap_or_default();
    Ok(CreateRequest {
        image,
        cmd: body.cmd.filter(|c| !c.is_empty()),
        entrypoint: body.entrypoint.filter(|e| !e.is_empty()),
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir,
        user: body.user,
        hostname: body.hostname.filter(|h| !h.is_empty()),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        host_config: silo_engine::HostConfig {
            memory: hc.memory.unwrap_or_default(),
            nano_cpus: hc.nano_cpus.unwrap_or_default(),
            cpu_shares: hc.cpu_shares.unwrap_or_default(),
            pids_limit: hc.pids_limit,
            auto_remove: hc.auto_remove.unwrap_or_default(),
            restart_policy,
        },
    })
}

/// Refuses host options that would change what the container is if ignored.
fn check_host_config(hc: &HostConfig) -> Result<(), ApiError> {
    fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
        v.as_ref().is_some_and(|v| !v.is_empty())
    }
    if non_empty(&hc.binds) || non_empty(&hc.mounts) {
        return Err(unsupported("volumes and bind mounts"));
    }
    if hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(unsupported("published ports"));
    }
    if hc.privileged == Some(true) {
        return Err(unsupported("--privileged"));
    }
    if non_empty(&hc.cap_add) || non_empty(&hc.cap_drop) {
        return Err(unsupported("--cap-add/--cap-drop"));
    }
    match hc.network_mode.as_deref() {
        None | Some("") | Some("default") | Some("none") => {}
        Some(mode) => {
            return Err(unsupported(&format!(
                "network mode {mode:?} (containers get a private loopback-only network)"
            )))
        }
    }
    if hc.init == Some(true) {
        return Err(unsupported("--init"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tty_is_a_bad_request_and_binds_are_not_implemented() {
        let err = request(body(serde_json::json!({"Image": "busybox", "Tty": true}))).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = request(body(serde_json::json!({
            "Image": "busybox", "HostConfig": {"Binds": ["/a:/b"]}
        })))
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn keeps_what_silo_honours() {
        let req = request(body(serde_json::json!({
            "Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "Labels": {"k": "v"},
            "HostConfig": {"Memory": 1048576, "NetworkMode": "default",
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}
        })))
        .unwrap();
        assert_eq!(req.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(req.host_config.memory, 1048576);
        assert_eq!(req.host_config.restart_policy.name, "on-failure");
        assert_eq!(req.labels["k"], "v");
    }
}
