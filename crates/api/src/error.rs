//! The one place where a failure becomes an HTTP answer.
//!
//! Every handler returns [`ApiError`]; services report an [`ErrorKind`] through [`HasKind`] and
//! this module alone maps the kind to a status code and Docker's error body
//! `{"message": "..."}`. axum's own rejections (bad JSON, bad query strings) are converted here
//! too, so a client never sees a plain-text error.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use silo_engine::EngineError;
use silo_errdefs::{ErrorKind, HasKind};

/// A failed request: what went wrong (its kind) and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
}

impl ApiError {
    /// An error of `kind` with `message` shown to the client as is.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// The request is malformed (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// The object or the path does not exist (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// silo does not do this (yet) (501).
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }

    /// A bug or an unexpected host failure (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The class of this failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        status_for(self.kind)
    }
}

impl HasKind for ApiError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// The table: error kind → HTTP status, as Docker's errdefs → HTTP mapping does it.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::FailedPrecondition => StatusCode::CONFLICT,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Docker's error body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(kind = %self.kind, "{}", self.message);
        } else {
            tracing::debug!(kind = %self.kind, "{}", self.message);
        }
        // 304 must not carry a body.
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        let body = serde_json::to_vec(&ErrorBody {
            message: &self.message,
        })
        .unwrap_or_else(|_| br#"{"message":"internal error"}"#.to_vec());
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        ApiError::new(err.kind(), err.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::invalid(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::invalid(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_docker_status() {
        let table = [
            (ErrorKind::NotFound, 404),
            (ErrorKind::AlreadyExists, 409),
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::Conflict, 409),
            (ErrorKind::FailedPrecondition, 409),
            (ErrorKind::NotModified, 304),
            (ErrorKind::PermissionDenied, 403),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::Internal, 500),
        ];
        for (kind, code) in table {
            assert_eq!(status_for(kind).as_u16(), code, "{kind}");
        }
    }

    #[tokio::test]
    async fn body_is_docker_error_json() {
        let resp = ApiError::not_found("No such image: nope:latest").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message": "No such image: nope:latest"})
        );
    }

    #[tokio::test]
    async fn not_modified_has_no_body() {
        let resp = ApiError::new(ErrorKind::NotModified, "already").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(bytes.is_empty());
    }
}
