//! `docker login`: prove credentials against a registry without touching any repository.
//!
//! `oci-client` authenticates per repository and, for Basic-auth registries, never checks the
//! password until a real request is made; Docker instead pings `GET /v2/` and follows the
//! challenge. We do the same with a plain HTTP client: Basic → retry `/v2/` with the
//! credentials; Bearer → ask the token realm for a token with them.

use std::collections::HashMap;

use super::error::{error_chain, Op};
use super::{Credentials, RegistryError, CONNECT_TIMEOUT};

pub(super) async fn check(
    registry: &str,
    plain_http: bool,
    creds: &Credentials,
) -> Result<(), RegistryError> {
    let scheme = if plain_http { "http" } else { "https" };
    let base = format!("{scheme}://{registry}/v2/");
    let unavailable = |e: reqwest::Error| RegistryError::Unavailable {
        op: Op::Login,
        target: registry.to_string(),
        registry: registry.to_string(),
        detail: error_chain(&e),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| RegistryError::Registry {
            op: Op::Login,
            target: registry.to_string(),
            registry: registry.to_string(),
            status: None,
            detail: format!("cannot build HTTP client: {}", error_chain(&e)),
        })?;
    let ping = http.get(&base).send().await.map_err(unavailable)?;
    if ping.status().is_success() {
        // The registry needs no credentials; Docker reports success too.
        return Ok(());
    }
    let challenge = ping
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if ping.status().as_u16() != 401 || challenge.is_empty() {
        let status = ping.status().as_u16();
        let body = ping.text().await.unwrap_or_default();
        return Err(RegistryError::from_status(
            Op::Login,
            registry,
            registry,
            status,
            &body,
        ));
    }
    let (kind, params) = challenge
        .split_once(' ')
        .unwrap_or((challenge.as_str(), ""));
    let request = if kind.eq_ignore_ascii_case("basic") {
        http.get(&base)
    } else if kind.eq_ignore_ascii_case("bearer") {
        let params = parse_challenge_params(params);
        let Some(realm) = params.get("realm") else {
            return Err(RegistryError::from_status(
                Op::Login,
                registry,
                registry,
                401,
                "bearer challenge without realm",
            ));
        };
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        if !creds.username.is_empty() {
            query.push(("account", &creds.username));
        }
        http.get(realm.as_str()).query(&query)
    } else {
        return Err(RegistryError::from_status(
            Op::Login,
            registry,
            registry,
            401,
            &format!("unsupported auth challenge {challenge:?}"),
        ));
    };
    let request = if !creds.identity_token.is_empty() {
        request.bearer_auth(&creds.identity_token)
    } else if !creds.username.is_empty() {
        request.basic_auth(&creds.username, Some(&creds.password))
    } else {
        request
    };
    let response = request.send().await.map_err(unavailable)?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(RegistryError::from_status(
        Op::Login,
        registry,
        registry,
        status,
        &body,
    ))
}

/// `realm="https://auth.example/token",service="registry.example"` → map (quotes removed).
pub(super) fn parse_challenge_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}
