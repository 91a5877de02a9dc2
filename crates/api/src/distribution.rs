//! `/distribution/{name}/...`: what a registry holds for a reference.
//!
//! `resolve` is a silo extension: it reports which manifest of a reference would be chosen for a
//! platform (and why every other entry was rejected), without pulling. It answers 200 even when
//! nothing fits; the report says so.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::registry_credentials;
use crate::error::ApiError;
use crate::params::Params;
use crate::{host, AppState};

/// What a request asks about the reference before it in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributionAction {
    /// `GET /distribution/{name}/json` (Docker's distribution inspect).
    Inspect,
    /// `GET /distribution/{name}/resolve` (silo).
    Resolve,
}

/// Split `{name}/{action}` (the tail after `/distribution/`) at its last slash.
pub fn split_distribution_path(rest: &str) -> Option<(&str, DistributionAction)> {
    let (name, action) = rest.rsplit_once('/')?;
    let action = match action {
        "json" => DistributionAction::Inspect,
        "resolve" => DistributionAction::Resolve,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, action))
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/distribution/{*rest}", get(distribution))
}

async fn distribution(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match split_distribution_path(&rest) {
        Some((_, DistributionAction::Inspect)) => Err(ApiError::not_implemented(
            "silo does not implement GET /distribution/{name}/json yet",
        )),
        Some((name, DistributionAction::Resolve)) => {
            let platform = params
                .non_empty("platform")
                .map_or_else(|| format!("linux/{}", host::go_arch()), str::to_string);
            let creds = registry_credentials(&headers)?;
            let report = state
                .engine
                .resolve(
                    name,
                    &platform,
                    params.non_empty("os_version"),
                    params.non_empty("isolation"),
                    creds,
                )
                .await?;
            Ok(Json(report).into_response())
        }
        None => Err(ApiError::not_found("page not found")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(
            split_distribution_path("127.0.0.1:5000/team/app:v1/resolve"),
            Some(("127.0.0.1:5000/team/app:v1", DistributionAction::Resolve))
        );
        assert_eq!(
            split_distribution_path("busybox@sha256:00ff/json"),
            Some(("busybox@sha256:00ff", DistributionAction::Inspect))
        );
        assert_eq!(split_distribution_path("busybox"), None);
        assert_eq!(split_distribution_path("busybox/other"), None);
        assert_eq!(split_distribution_path("/resolve"), None);
    }
}
