//! Registry credentials from docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): the base64 `user:password` in `auths`. Credential helpers and
//! `silo login` are not implemented yet.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Docker Hub's key in `auths`, kept from the v1 API days.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Debug, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What the daemon expects in `X-Registry-Auth` (moby's `registry.AuthConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
}

impl AuthConfig {
    /// The header value: URL-safe base64 of the JSON, as the docker CLI sends it.
    pub fn header(&self) -> String {
        URL_SAFE.encode(serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }
}

/// The registry host of a user-typed reference, by docker's rule: the first component is a
/// host only if it has a `.` or `:` or is `localhost`.
pub fn registry_host(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Credentials for the registry of `reference`, or empty ones when none are stored.
pub fn for_reference(reference: &str) -> AuthConfig {
    let Some(path) = config_path() else {
        return AuthConfig::default();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return AuthConfig::default();
    };
    lookup(&text, registry_host(reference)).unwrap_or_default()
}

fn config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// Looks `host` up in a config file's text; keys may carry a scheme and a path.
pub fn lookup(config_text: &str, host: &str) -> Option<AuthConfig> {
    let config: ConfigFile = serde_json::from_str(config_text).ok()?;
    let wanted = if host == "docker.io" {
        "index.docker.io"
    } else {
        host
    };
    let (key, entry) = config.auths.iter().find(|(key, _)| {
        let bare = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let bare = bare.split('/').next().unwrap_or(bare);
        bare == wanted || (host == "docker.io" && bare == "docker.io")
    })?;
    let mut auth = AuthConfig {
        serveraddress: if host == "docker.io" {
            DOCKER_HUB_KEY.into()
        } else {
            key.clone()
        },
        identitytoken: entry.identitytoken.clone().unwrap_or_default(),
        ..AuthConfig::default()
    };
    if let Some(encoded) = &entry.auth {
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        auth.username = user.to_string();
        auth.password = password.to_string();
    }
    Some(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"auths": {
        "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
        "127.0.0.1:5000": {"auth": "dXNlcjpwYXNzOndvcmQ="}
    }}"#;

    #[test]
    fn registry_host_follows_docker() {
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("user/app:v1"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000/win:ltsc"), "127.0.0.1:5000");
        assert_eq!(registry_host("localhost/x"), "localhost");
        assert_eq!(registry_host("ghcr.io/o/r"), "ghcr.io");
    }

    #[test]
    fn finds_credentials_by_host() {
        let hub = lookup(CONFIG, "docker.io").expect("hub");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        assert_eq!(hub.serveraddress, DOCKER_HUB_KEY);
        let local = lookup(CONFIG, "127.0.0.1:5000").expect("local");
        assert_eq!(local.password, "pass:word");
        assert!(lookup(CONFIG, "ghcr.io").is_none());
        assert!(lookup("not json", "docker.io").is_none());
    }

    #[test]
    fn header_is_url_safe_base64_json() {
        let h = AuthConfig::default().header();
        assert_eq!(h, "e30=");
    }
}
