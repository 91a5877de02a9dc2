//! API versioning: `/v1.51/images/json` and `/images/json` are the same endpoint.
//!
//! This middleware runs before routing. It strips a `/v{major}.{minor}` prefix, refuses versions
//! outside [`MIN_API_VERSION`, `API_VERSION`], records the negotiated [`ApiVersion`] in the
//! request extensions, and stamps every response with the headers dockerd sends.

use std::fmt;

use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The API version silo speaks.
pub const API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 51,
};
/// The oldest API version silo accepts.
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 40,
};
/// `Server:` header value.
pub const SERVER: &str = concat!("silo/", env!("CARGO_PKG_VERSION"), " (linux)");

/// The API version a request asked for (the current one when its path has no prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What a path says about its version.
#[derive(Debug, PartialEq, Eq)]
pub enum VersionedPath<'a> {
    /// No version prefix.
    Plain,
    /// A supported version; `rest` is the path without the prefix (always starts with `/`).
    Supported { version: ApiVersion, rest: &'a str },
    /// A version prefix outside the supported range.
    Unsupported(ApiError),
}

/// Split a path into its version prefix and the rest.
pub fn split_version(path: &str) -> VersionedPath<'_> {
    let Some(after) = path.strip_prefix("/v") else {
        return VersionedPath::Plain;
    };
    let (raw, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    if raw.is_empty() || !raw.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return VersionedPath::Plain;
    }
    let parts: Option<Vec<u32>> = raw.split('.').map(|p| p.parse().ok()).collect();
    let Some(parts) = parts else {
        return VersionedPath::Plain;
    };
    let asked = (
        parts.first().copied().unwrap_or(0),
        parts.get(1).copied().unwrap_or(0),
        parts.len() > 2,
    );
    let min = (MIN_API_VERSION.major, MIN_API_VERSION.minor, false);
    let max = (API_VERSION.major, API_VERSION.minor, false);
    if asked < min {
        return VersionedPath::Unsupported(ApiError::invalid(format!(
            "client version {raw} is too old. Minimum supported API version is {MIN_API_VERSION}, \
             please upgrade your client to a newer version"
        )));
    }
    if asked > max {
        return VersionedPath::Unsupported(ApiError::invalid(format!(
            "client version {raw} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    VersionedPath::Supported {
        version: ApiVersion {
            major: asked.0,
            minor: asked.1,
        },
        rest,
    }
}

/// Middleware: strip the version prefix, check it, record it; add the standard headers.
pub async fn versioned(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let version = match split_version(&path) {
        VersionedPath::Plain => API_VERSION,
        VersionedPath::Unsupported(err) => return with_standard_headers(err.into_response()),
        VersionedPath::Supported { version, rest } => {
            match rewrite_path(req.uri(), rest) {
                Ok(uri) => *req.uri_mut() = uri,
                Err(err) => return with_standard_headers(err.into_response()),
            }
            version
        }
    };
    req.extensions_mut().insert(version);
    with_standard_headers(next.run(req).await)
}

fn rewrite_path(uri: &Uri, path: &str) -> Result<Uri, ApiError> {
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query)
            .map_err(|e| ApiError::invalid(format!("invalid request path: {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| ApiError::invalid(format!("invalid request path: {e}")))
}

/// Headers dockerd puts on every response.
pub fn with_standard_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static("1.51"),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(axum::http::header::SERVER, HeaderValue::from_static(SERVER));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_header_matches_constant() {
        assert_eq!(API_VERSION.to_string(), "1.51");
    }

    #[test]
    fn prefixes() {
        assert_eq!(split_version("/images/json"), VersionedPath::Plain);
        assert_eq!(split_version("/volumes"), VersionedPath::Plain);
        assert_eq!(
            split_version("/v1.51/images/json"),
            VersionedPath::Supported {
                version: API_VERSION,
                rest: "/images/json"
            }
        );
        assert_eq!(
            split_version("/v1.40/_ping"),
            VersionedPath::Supported {
                version: MIN_API_VERSION,
                rest: "/_ping"
            }
        );
        assert_eq!(
            split_version("/v1.45"),
            VersionedPath::Supported {
                version: ApiVersion {
                    major: 1,
                    minor: 45
                },
                rest: "/"
            }
        );
    }

    #[test]
    fn out_of_range() {
        let VersionedPath::Unsupported(err) = split_version("/v1.39/info") else {
            panic!("1.39 accepted");
        };
        assert_eq!(
            err.message(),
            "client version 1.39 is too old. Minimum supported API version is 1.40, please upgrade your client to a newer version"
        );
        let VersionedPath::Unsupported(err) = split_version("/v1.52/info") else {
            panic!("1.52 accepted");
        };
        assert_eq!(
            err.message(),
            "client version 1.52 is too new. Maximum supported API version is 1.51"
        );
        assert!(matches!(
            split_version("/v2.0/info"),
            VersionedPath::Unsupported(_)
        ));
        assert!(matches!(
            split_version("/v1.51.1/info"),
            VersionedPath::Unsupported(_)
        ));
    }
}
