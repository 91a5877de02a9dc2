//! Registry errors: what was being done, to which reference, and the class of failure.
//!
//! `oci-client` reports failures in several shapes (an OCI error envelope, a bare HTTP status,
//! a transport error, a digest error inside an `io::Error` mid-stream); [`RegistryError::from_oci`]
//! folds them into the few classes callers act on.

use std::fmt;

use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use silo_errdefs::{ErrorKind, HasKind};

/// The registry operation that failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    FetchManifest,
    FetchBlob,
    CheckBlob,
    PushBlob,
    PushManifest,
    Login,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::FetchManifest => "fetch manifest",
            Op::FetchBlob => "fetch blob",
            Op::CheckBlob => "check blob",
            Op::PushBlob => "push blob",
            Op::PushManifest => "push manifest",
            Op::Login => "log in to",
        })
    }
}

/// Errors of the registry client. `target` is the reference (or `name@digest` for blobs, or the
/// registry for logins) so every message says what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An `insecure-registries` entry is neither `host[:port]` nor a CIDR.
    #[error("invalid insecure-registries entry {entry:?}: expected host, host:port or CIDR")]
    InvalidInsecureRegistry { entry: String },
    /// A `registry-mirrors` entry is not an `http(s)://host[:port]` URL.
    #[error("invalid registry mirror {entry:?}: {reason}")]
    InvalidMirror { entry: String, reason: &'static str },
    /// The manifest, blob or repository does not exist.
    #[error("{op} {target}: not found: {detail}")]
    NotFound {
        op: Op,
        target: String,
        detail: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("{op} {target}: access denied by {registry}: {detail}")]
    PermissionDenied {
        op: Op,
        target: String,
        registry: String,
        detail: String,
    },
    /// The registry could not be reached (refused, DNS, timeout, 429/5xx).
    #[error("{op} {target}: registry {registry} unavailable: {detail}")]
    Unavailable {
        op: Op,
        target: String,
        registry: String,
        detail: String,
    },
    /// The registry answered a TLS handshake with plain HTTP: it is an HTTP-only registry that
    /// is not configured as insecure.
    #[error("{op} {target}: registry {registry} speaks plain HTTP, not HTTPS (server gave HTTP response to HTTPS client); if it is meant to be reached without TLS, add it to insecure-registries (silod --insecure-registry {registry})")]
    PlainHttpRegistry {
        op: Op,
        target: String,
        registry: String,
    },
    /// Content does not hash to the digest it was asked for or announced with.
    #[error("{op} {target}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        op: Op,
        target: String,
        expected: String,
        actual: String,
    },
    /// A digest string that is not `sha256:<64 hex>` / `sha512:<128 hex>`.
    #[error("{op} {target}: invalid digest {digest:?}")]
    InvalidDigest {
        op: Op,
        target: String,
        digest: String,
    },
    /// A manifest of a type silo does not handle (schema 1, artifacts, ...).
    #[error("{op} {target}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        op: Op,
        target: String,
        media_type: String,
    },
    /// A manifest that is not JSON of the shape its media type promises.
    #[error("manifest {digest}: invalid {media_type}: {source}")]
    InvalidManifest {
        digest: String,
        media_type: String,
        source: serde_json::Error,
    },
    /// Anything else the registry or transport reported.
    #[error("{op} {target}: registry {registry} failed: {detail}")]
    Registry {
        op: Op,
        target: String,
        registry: String,
        status: Option<u16>,
        detail: String,
    },
}

impl HasKind for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::NotFound { .. } => ErrorKind::NotFound,
            RegistryError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            RegistryError::Unavailable { .. } => ErrorKind::Unavailable,
            RegistryError::PlainHttpRegistry { .. } => ErrorKind::FailedPrecondition,
            RegistryError::UnsupportedMediaType { .. } => ErrorKind::NotImplemented,
            RegistryError::InvalidInsecureRegistry { .. }
            | RegistryError::InvalidMirror { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::InvalidDigest { .. }
            | RegistryError::InvalidManifest { .. } => ErrorKind::InvalidArgument,
            RegistryError::Registry { .. } => ErrorKind::Internal,
        }
    }
}

/// The class of an HTTP status, shared by the several error shapes that carry one.
fn by_status(op: Op, target: &str, registry: &str, status: u16, detail: String) -> RegistryError {
    let (op, target, registry) = (op, target.to_string(), registry.to_string());
    match status {
        404 => RegistryError::NotFound { op, target, detail },
        401 | 403 => RegistryError::PermissionDenied {
            op,
            target,
            registry,
            detail,
        },
        408 | 429 | 502 | 503 | 504 => RegistryError::Unavailable {
            op,
            target,
            registry,
            detail,
        },
        _ => RegistryError::Registry {
            op,
            target,
            registry,
            status: Some(status),
            detail,
        },
    }
}

impl RegistryError {
    /// Classifies an `oci-client` error for `op` on `target` at `registry`.
    pub(crate) fn from_oci(
        op: Op,
        target: &str,
        registry: &str,
        err: OciDistributionError,
    ) -> RegistryError {
        let detail = err.to_string();
        let status = match &err {
            OciDistributionError::RegistryError { envelope, .. } => {
                match envelope.errors.first().map(|e| &e.code) {
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound,
                    ) => 404,
                    Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => 401,
                    Some(OciErrorCode::Toomanyrequests) => 429,
                    _ => 0,
                }
            }
            OciDistributionError::ServerError { code, .. } => *code,
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => 401,
            OciDistributionError::ImageManifestNotFoundError(_) => 404,
            OciDistributionError::DigestError(d) => return from_digest_error(op, target, d),
            OciDistributionError::RequestError(e) => match e.status() {
                Some(s) => s.as_u16(),
                None if e.is_connect() && speaks_plain_http(e) => {
                    return RegistryError::PlainHttpRegistry {
                        op,
                        target: target.to_string(),
                        registry: registry.to_string(),
                    };
                }
                None if e.is_connect() || e.is_timeout() || e.is_request() => {
                    return RegistryError::Unavailable {
                        op,
                        target: target.to_string(),
                        registry: registry.to_string(),
                        detail: error_chain(e),
                    };
                }
                None => 0,
            },
            OciDistributionError::IoError(e) => {
                return RegistryError::from_io(op, target, registry, e)
            }
            _ => 0,
        };
        if status == 0 {
            return RegistryError::Registry {
                op,
                target: target.to_string(),
                registry: registry.to_string(),
                status: None,
                detail,
            };
        }
        by_status(op, target, registry, status, detail)
    }

    /// Classifies a mid-stream error: a digest check failing, or the connection dropping.
    pub(crate) fn from_io(
        op: Op,
        target: &str,
        registry: &str,
        err: &std::io::Error,
    ) -> RegistryError {
        if let Some(d) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DigestError>())
        {
            return from_digest_error(op, target, d);
        }
        RegistryError::Unavailable {
            op,
            target: target.to_string(),
            registry: registry.to_string(),
            detail: error_chain(err),
        }
    }

    /// A failure from a plain HTTP response (used by login, which `oci-client` cannot do).
    pub(crate) fn from_status(
        op: Op,
        target: &str,
        registry: &str,
        status: u16,
        body: &str,
    ) -> RegistryError {
        let detail = format!("HTTP {status}: {}", body.trim());
        by_status(op, target, registry, status, detail)
    }
}

fn from_digest_error(op: Op, target: &str, err: &DigestError) -> RegistryError {
    match err {
        DigestError::VerificationError { expected, actual } => RegistryError::DigestMismatch {
            op,
            target: target.to_string(),
            expected: expected.clone(),
            actual: actual.clone(),
        },
        other => RegistryError::InvalidDigest {
            op,
            target: target.to_string(),
            digest: other.to_string(),
        },
    }
}

/// `err` and its sources, so "connection refused" is not hidden behind "error sending request".
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

/// rustls reports an HTTP answer to its ClientHello as a record of invalid content type; the
/// error chain's text is the only place reqwest exposes it without depending on rustls here.
fn speaks_plain_http(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.to_string().contains("InvalidContentType") {
            return true;
        }
        source = e.source();
    }
    false
}
