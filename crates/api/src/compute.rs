//! `/compute/systems`: the compute service's own view, a silo extension for `silo compute ls`
//! and `silo compute inspect` (the `hcsdiag list` analog).
//!
//! - `GET /compute/systems` → `[SystemSummary]` (`{"id","owner","isolation","state"}`)
//! - `GET /compute/systems/{id}` → `{"summary": SystemSummary, "properties": Properties}`, the
//!   properties with the process list and statistics; 404 for an unknown id.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/compute/systems", get(list))
        .route("/compute/systems/{id}", get(inspect))
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let systems = state.engine.compute_systems().await?;
    Ok(Json(systems).into_response())
}

async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (summary, properties) = state.engine.compute_system(&id).await?;
    Ok(Json(json!({"summary": summary, "properties": properties})).into_response())
}
