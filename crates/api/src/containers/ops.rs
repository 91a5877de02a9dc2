//! `restart`, `rename`, `update` and `prune` of containers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{
    ContainerPruneResponse, ContainerUpdateBody, ContainerUpdateResponse, HostConfig,
};
use silo_engine::{RestartPolicy, UpdateRequest};

use super::filter::prune_filter;
use super::stop_params;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{ApiJson, Params};
use crate::AppState;

/// `POST /containers/{id}/restart?t=&signal=`.
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (signal, timeout) = stop_params(&params)?;
    state.engine.restart_container(&id, signal, timeout).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let name = params
        .non_empty("name")
        .ok_or_else(|| ApiError::invalid("Neither old nor new names may be empty"))?;
    state.engine.rename_container(&id, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/update`: memory, memory-swap, cpus, cpu-shares, cpu quota/period,
/// pids-limit and the restart policy; other resources are refused (501).
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContainerUpdateBody>,
) -> Result<Response, ApiError> {
    let req = update_request(body)?;
    let warnings = state.engine.update_container(&id, req).await?;
    Ok(Json(ContainerUpdateResponse {
        warnings: Some(warnings),
    })
    .into_response())
}

/// The docker CLI sends every field, zero when not given: zero (and an empty restart policy
/// name) means "leave as it is".
pub fn update_request(body: ContainerUpdateBody) -> Result<UpdateRequest, ApiError> {
    // The resource fields are HostConfig's, under the same names: one refusal list for both.
    let as_host: HostConfig = serde_json::to_value(&body)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::internal(format!("update body: {e}")))?;
    super::options::check_unsupported(&as_host)?;
    if body.ulimits.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(ApiError::not_implemented(
            "silo does not support updating ulimits of a container",
        ));
    }
    if body.init.is_some() {
        return Err(ApiError::not_implemented(
            "silo does not support changing --init of an existing container",
        ));
    }
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    let restart_policy = body.restart_policy.and_then(|p| {
        let name = p
            .name
            .and_then(|n| serde_json::to_value(n).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        (!name.is_empty()).then(|| RestartPolicy {
            name,
            maximum_retry_count: p.maximum_retry_count.unwrap_or_default(),
        })
    });
    Ok(UpdateRequest {
        memory: set(body.memory),
        memory_swap: set(body.memory_swap),
        nano_cpus: set(body.nano_cpus),
        cpu_shares: set(body.cpu_shares),
        cpu_quota: set(body.cpu_quota),
        cpu_period: set(body.cpu_period),
        pids_limit: body.pids_limit,
        restart_policy,
    })
}

/// `POST /containers/prune?filters=` (`label`, `label!`, `until`).
pub async fn prune(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let filters = Filters::parse(params.get("filters"))?;
    let keep = prune_filter(&filters)?;
    let report = state.engine.prune_containers(keep).await?;
    Ok(Json(ContainerPruneResponse {
        containers_deleted: Some(report.deleted),
        space_reclaimed: Some(i64::try_from(report.space_reclaimed).unwrap_or(i64::MAX)),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ContainerUpdateBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cli_zeroes_mean_unchanged() {
        let req = update_request(body(serde_json::json!({
            "CpuShares": 0, "Memory": 67108864, "CgroupParent": "", "BlkioWeight": 0,
            "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "MemoryReservation": 0,
            "MemorySwap": 0, "NanoCpus": 500000000, "PidsLimit": 20,
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}
        })))
        .unwrap();
        assert_eq!(req.memory, Some(67108864));
        assert_eq!(req.memory_swap, None);
        assert_eq!(req.nano_cpus, Some(500_000_000));
        assert_eq!(req.pids_limit, Some(20));
        assert!(req.restart_policy.is_none());
        let req = update_request(body(serde_json::json!({
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}
        })))
        .unwrap();
        assert_eq!(req.restart_policy.unwrap().maximum_retry_count, 2);
        let err = update_request(body(serde_json::json!({"CpusetCpus": "0"}))).unwrap_err();
        assert_eq!(err.status(), 501);
    }
}
