//! silo's Docker Engine API server.
//!
//! [`router`] builds the axum application (usable in tests with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on unix sockets and TCP/TLS listeners. Layout: one module per API resource
//! (`system`, `images`, `distribution`), with the cross-cutting pieces beside them: `version`
//! (prefix stripping and standard headers), `error` (the only kind → HTTP mapping), `params`
//! (extractors), `auth` (`X-Registry-Auth`), `progress` (Docker's JSON progress stream),
//! `filters`, `listeners` and `tls`.

mod auth;
mod compute;
mod containers;
mod distribution;
mod error;
mod events;
mod filters;
mod host;
mod images;
mod listeners;
mod networks;
mod params;
mod progress;
mod system;
mod tls;
mod version;

use std::future::Future;

use axum::extract::Request;
use axum::http::Method;
use axum::{middleware, Router};
use silo_engine::Engine;

pub use error::{status_for, ApiError};
pub use listeners::Listener;
pub use tls::TlsConfig;
pub use version::{ApiVersion, API_VERSION, MIN_API_VERSION};

/// Shared state of the engine-backed handlers.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
}

/// The API as an axum application: versioned and unversioned paths, Docker's headers and errors.
pub fn router(engine: Engine) -> Router {
    app(engine_routes().with_state(AppState { engine }))
}

/// Every route whose handler needs the engine.
fn engine_routes() -> Router<AppState> {
    Router::new()
        .merge(system::engine_routes())
        .merge(images::routes())
        .merge(containers::routes())
        .merge(distribution::routes())
        .merge(events::routes())
        .merge(compute::routes())
        .merge(networks::routes())
}

/// Serve the API for `engine` on `listeners` until `shutdown` completes.
pub async fn serve(
    engine: Engine,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ApiError> {
    listeners::serve_router(router(engine), listeners, shutdown).await
}

/// Everything around the engine-backed routes: engine-free endpoints, the 404/501 fallback, and
/// the version middleware. The middleware wraps a router that only has a fallback, so it runs
/// before routing and the inner router sees the path without its version prefix.
fn app(engine_routes: Router) -> Router {
    let api = Router::new()
        .merge(system::routes())
        .merge(engine_routes)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn(version::versioned))
}

/// Docker API resources silo does not serve yet: answered 501, not 404, so a client learns the
/// daemon is silo and not that the object is missing. `containers` stays listed: its routes
/// silo serves are matched before the fallback, the rest (attach, exec, top, ...) answer 501.
const DOCKER_RESOURCES: &[&str] = &[
    "containers",
    "exec",
    "build",
    "events",
    "networks",
    "volumes",
    "swarm",
    "nodes",
    "services",
    "tasks",
    "secrets",
    "configs",
    "plugins",
    "session",
    "system",
    "commit",
    "grpc",
];

async fn fallback(method: Method, req: Request) -> ApiError {
    let path = req.uri().path();
    let resource = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    // `/images/...` and `/distribution/...` are routed in full: anything left there is unknown.
    if DOCKER_RESOURCES.contains(&resource) {
        ApiError::not_implemented(format!("silo does not implement {method} {path} yet"))
    } else {
        ApiError::not_found("page not found")
    }
}

/// Handler for Docker API endpoints that exist but are not implemented by silo yet.
pub(crate) async fn not_implemented(method: Method, req: Request) -> ApiError {
    ApiError::not_implemented(format!(
        "silo does not implement {method} {} yet",
        req.uri().path()
    ))
}

/// A known path with the wrong method: dockerd answers these as not found.
async fn method_not_allowed() -> ApiError {
    ApiError::not_found("page not found")
}

/// Run a synchronous engine call off the async workers.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
        .map_err(Into::into)
}

#[cfg(test)]
mod tests;
