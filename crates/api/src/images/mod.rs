//! `/images/...`: list, inspect, tag, remove, history, prune (here) and the transfers
//! (pull/import, push, save, load) in [`transfer`].
//!
//! Image names carry slashes, colons and `@` (`127.0.0.1:5000/team/app:v1`,
//! `busybox@sha256:…`), which axum cannot match with a segment pattern. So `/images/{*rest}` takes
//! the whole tail and [`split_image_path`] splits off the trailing action.

mod convert;
mod list;
mod transfer;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageHistoryResponseItem, ImagePruneResponse,
};
use silo_engine::Engine;
use silo_errdefs::{ErrorKind, HasKind};

use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::Params;
use crate::{blocking, not_implemented, AppState};

/// What a request does to the image named before it in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    /// `GET /images/{name}/json`
    Inspect,
    /// `POST /images/{name}/tag`
    Tag,
    /// `POST /images/{name}/push`
    Push,
    /// `GET /images/{name}/get`
    Get,
    /// `GET /images/{name}/history`
    History,
}

/// Split `{name}/{action}` (the tail after `/images/`) at its last slash.
pub fn split_image_path(rest: &str) -> Option<(&str, ImageAction)> {
    let (name, action) = rest.rsplit_once('/')?;
    let action = match action {
        "json" => ImageAction::Inspect,
        "tag" => ImageAction::Tag,
        "push" => ImageAction::Push,
        "get" => ImageAction::Get,
        "history" => ImageAction::History,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, action))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list::list))
        .route("/images/create", post(transfer::create))
        .route("/images/get", get(transfer::save_many))
        .route("/images/load", post(transfer::load))
        .route("/images/prune", post(prune))
        .route("/images/search", get(not_implemented))
        .route(
            "/images/{*rest}",
            get(get_image_action).post(post_image_action).delete(remove),
        )
}

async fn get_image_action(
    State(state): State<AppState>,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    match split_image_path(&rest) {
        Some((name, ImageAction::Inspect)) => inspect(state.engine, name.to_string()).await,
        Some((name, ImageAction::History)) => history(state.engine, name.to_string()).await,
        Some((name, ImageAction::Get)) => {
            transfer::save(state.engine, vec![name.to_string()]).await
        }
        _ => Err(page_not_found()),
    }
}

async fn post_image_action(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match split_image_path(&rest) {
        Some((name, ImageAction::Tag)) => tag(state.engine, name.to_string(), &params).await,
        Some((name, ImageAction::Push)) => {
            transfer::push(state.engine, name, &params, &headers).await
        }
        _ => Err(page_not_found()),
    }
}

fn page_not_found() -> ApiError {
    ApiError::not_found("page not found")
}

/// `GET /images/{name}/json`
async fn inspect(engine: Engine, name: String) -> Result<Response, ApiError> {
    let (record, driver) = blocking(move || {
        let record = engine.image(&name)?;
        // A Windows image has no Linux root filesystem to point at: empty driver data.
        let lower_dirs = match engine.image_rootfs(&record) {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == ErrorKind::FailedPrecondition => Vec::new(),
            Err(e) => return Err(e),
        };
        let driver = convert::GraphDriver {
            name: engine.storage_driver(),
            lower_dirs,
        };
        Ok((record, driver))
    })
    .await?;
    Ok(Json(convert::inspect(&record, &driver)).into_response())
}

/// `GET /images/{name}/history`
async fn history(engine: Engine, name: String) -> Result<Response, ApiError> {
    let entries = blocking(move || engine.history(&name)).await?;
    let items: Vec<ImageHistoryResponseItem> =
        entries.into_iter().map(convert::history_item).collect();
    Ok(Json(items).into_response())
}

/// `POST /images/{name}/tag?repo=&tag=` → 201.
async fn tag(engine: Engine, source: String, params: &Params) -> Result<Response, ApiError> {
    let repo = params
        .non_empty("repo")
        .ok_or_else(|| ApiError::invalid("missing parameter: repo"))?;
    let target = match params.non_empty("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    blocking(move || engine.tag(&source, &target)).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=&noprune=`
async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<Vec<ImageDeleteResponseItem>>, ApiError> {
    let force = params.flag("force");
    let prune_parents = !params.flag("noprune");
    let engine = state.engine;
    let items = engine.remove_image(&name, force, prune_parents).await?;
    Ok(Json(items.into_iter().map(convert::delete_item).collect()))
}

/// `POST /images/prune?filters=`: `dangling=false` prunes every unused image.
async fn prune(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<ImagePruneResponse>, ApiError> {
    let filters = Filters::parse(params.get("filters"))?;
    filters.validate(&["dangling", "label", "label!", "until"])?;
    if let Some(key) = ["label", "label!", "until"]
        .into_iter()
        .find(|k| filters.contains(k))
    {
        return Err(ApiError::not_implemented(format!(
            "prune filter '{key}' is not supported yet"
        )));
    }
    let dangling_only = filters.bool("dangling")?.unwrap_or(true);
    let engine = state.engine;
    let report = engine.prune_images(dangling_only).await?;
    Ok(Json(ImagePruneResponse {
        images_deleted: Some(
            report
                .deleted
                .into_iter()
                .map(convert::delete_item)
                .collect(),
        ),
        space_reclaimed: Some(i64::try_from(report.space_reclaimed).unwrap_or(i64::MAX)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_with_slashes_colons_and_digests() {
        assert_eq!(
            split_image_path("busybox/json"),
            Some(("busybox", ImageAction::Inspect))
        );
        assert_eq!(
            split_image_path("127.0.0.1:5000/team/app:v1/json"),
            Some(("127.0.0.1:5000/team/app:v1", ImageAction::Inspect))
        );
        assert_eq!(
            split_image_path("busybox@sha256:0123abcd/history"),
            Some(("busybox@sha256:0123abcd", ImageAction::History))
        );
        assert_eq!(
            split_image_path("localhost:5000/app/push"),
            Some(("localhost:5000/app", ImageAction::Push))
        );
        assert_eq!(
            split_image_path("team/app:v1/tag"),
            Some(("team/app:v1", ImageAction::Tag))
        );
        assert_eq!(
            split_image_path("team/app/get"),
            Some(("team/app", ImageAction::Get))
        );
        // An image called "json" is still addressable.
        assert_eq!(
            split_image_path("json/json"),
            Some(("json", ImageAction::Inspect))
        );
    }

    #[test]
    fn rejects_unknown_or_missing_actions() {
        assert_eq!(split_image_path("busybox"), None);
        assert_eq!(split_image_path("busybox/frobnicate"), None);
        assert_eq!(split_image_path("/json"), None);
        assert_eq!(split_image_path("team/app:v1"), None);
    }
}
