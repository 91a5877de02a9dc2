//! Requests bollard has no typed call for: silo's `/distribution/{ref}/resolve`, and pull/push
//! whose typed results drop the per-layer `id` (bollard's `PushImageInfo` has none) or cannot
//! carry silo's `os_version` query parameter.
//!
//! bollard keeps its request builder private but lets a client rewrite each request. We issue a
//! GET through a bollard call that returns the raw body and rewrite its method, path and
//! headers on the way out, so these requests still use bollard's transports (unix, tcp, TLS)
//! and its status-code handling (`Error response from daemon: …`).

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http::{HeaderValue, Method};

use crate::connect::Client;

const PLACEHOLDER: &str = "silo-raw-request";

/// A request to send; `path_and_query` starts with `/` and is already encoded.
#[derive(Debug)]
pub struct RawRequest {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
}

impl RawRequest {
    pub fn get(path_and_query: String) -> RawRequest {
        RawRequest {
            method: Method::GET,
            path_and_query,
            headers: Vec::new(),
        }
    }

    pub fn post(path_and_query: String) -> RawRequest {
        RawRequest {
            method: Method::POST,
            ..RawRequest::get(path_and_query)
        }
    }
}

impl Client {
    /// Sends `req` and streams the response body. Non-2xx answers become bollard's
    /// `DockerResponseServerError`, exactly as for typed calls.
    pub fn raw(
        &self,
        req: RawRequest,
    ) -> impl Stream<Item = Result<Bytes, bollard::errors::Error>> + Unpin + 'static {
        let RawRequest {
            method,
            path_and_query,
            headers,
        } = req;
        let marker = format!("/images/{PLACEHOLDER}/get");
        let docker = self
            .docker
            .clone()
            .with_request_modifier(move |mut request| {
                let uri = request.uri().to_string();
                // Keep scheme, authority and any `/vX.Y` prefix bollard chose; swap the rest.
                if let Some(at) = uri.find(&marker) {
                    if let Ok(new) = format!("{}{}", &uri[..at], path_and_query).parse() {
                        *request.uri_mut() = new;
                    }
                }
                *request.method_mut() = method.clone();
                for (name, value) in &headers {
                    if let Ok(value) = HeaderValue::from_str(value) {
                        request.headers_mut().insert(*name, value);
                    }
                }
                request
            });
        docker.export_image(PLACEHOLDER).boxed()
    }

    /// Sends a GET and parses the whole answer as JSON.
    pub async fn raw_json(&self, path_and_query: String) -> anyhow::Result<serde_json::Value> {
        let body: Vec<Bytes> = self
            .raw(RawRequest::get(path_and_query))
            .try_collect()
            .await?;
        Ok(serde_json::from_slice(&body.concat())?)
    }
}

/// Percent-encodes a query string; everything but RFC 3986 unreserved characters is escaped.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An image reference placed in a URL path: kept as typed (docker does not escape the `/` and
/// `:` of `127.0.0.1:5000/win:ltsc`), except characters that would break the request line.
pub fn path_ref(reference: &str) -> String {
    reference
        .replace('%', "%25")
        .replace(' ', "%20")
        .replace('?', "%3F")
        .replace('#', "%23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escapes_reserved_characters() {
        assert_eq!(
            query(&[
                ("platform", "windows/amd64"),
                ("os_version", "10.0.17763.2000")
            ]),
            "platform=windows%2Famd64&os_version=10.0.17763.2000"
        );
        assert_eq!(query(&[("m", "a b&c")]), "m=a%20b%26c");
    }

    #[test]
    fn path_ref_keeps_slashes_and_colons() {
        assert_eq!(
            path_ref("127.0.0.1:5000/win:ltsc"),
            "127.0.0.1:5000/win:ltsc"
        );
        assert_eq!(path_ref("x@sha256:ab"), "x@sha256:ab");
        assert_eq!(path_ref("a b?"), "a%20b%3F");
    }
}
