//! Request extractors whose rejections are Docker-style JSON errors.
//!
//! Docker's query strings repeat keys (`names=a&names=b`) and spell booleans loosely (`1`,
//! `true`, `yes`), so query parameters are taken as a list of pairs and read with Docker's rules
//! rather than deserialised into structs.

use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::ApiError;

/// A JSON body; malformed JSON is a 400 with Docker's error body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// The query string as ordered `(key, value)` pairs.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Pairs as given (tests build queries this way).
    #[cfg(test)]
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The first value of `key`, as Go's `r.Form.Get`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` unless it is empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Docker's `BoolValue`: absent, empty, `0`, `no`, `false` and `none` are false.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        Ok(Params(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_docker_booleans() {
        let p = Params::from_pairs([
            ("names", "a"),
            ("names", "b"),
            ("force", "1"),
            ("quiet", "false"),
            ("x", ""),
        ]);
        assert_eq!(p.get_all("names"), ["a", "b"]);
        assert_eq!(p.get("names"), Some("a"));
        assert!(p.flag("force"));
        assert!(!p.flag("quiet"));
        assert!(!p.flag("x"));
        assert!(!p.flag("missing"));
        assert_eq!(p.non_empty("x"), None);
    }
}
