//! `X-Registry-Auth`: registry credentials a client passes along with pull, push and resolve.
//!
//! The header is base64url-encoded JSON (`{"username","password","serveraddress",
//! "identitytoken"}`, or `auth` = base64 of `user:pass`). Clients differ on padding and some use
//! the standard alphabet, so all four variants are accepted. An absent or empty header, or one
//! that decodes to `{}` (the docker CLI's `e30=`), means anonymous.

use axum::http::HeaderMap;
use base64::engine::general_purpose::{
    GeneralPurpose, STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
};
use base64::Engine as _;
use serde::Deserialize;
use silo_engine::RegistryCredentials;

use crate::error::ApiError;

/// The header name.
pub const REGISTRY_AUTH_HEADER: &str = "x-registry-auth";

/// Docker's `AuthConfig` as it travels in the header.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    serveraddress: String,
    #[serde(default)]
    identitytoken: String,
    #[serde(default)]
    registrytoken: String,
}

/// Credentials from the request headers, `None` for anonymous access.
pub fn registry_credentials(headers: &HeaderMap) -> Result<Option<RegistryCredentials>, ApiError> {
    match headers.get(REGISTRY_AUTH_HEADER) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| ApiError::invalid("invalid X-Registry-Auth header: not ASCII"))?;
            decode_registry_auth(value)
        }
    }
}

/// Decode one `X-Registry-Auth` value.
pub fn decode_registry_auth(value: &str) -> Result<Option<RegistryCredentials>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let json = decode_base64(value)
        .ok_or_else(|| ApiError::invalid("invalid X-Registry-Auth header: not base64"))?;
    let config: AuthConfig = serde_json::from_slice(&json)
        .map_err(|e| ApiError::invalid(format!("invalid X-Registry-Auth header: {e}")))?;
    Ok(config.into_credentials())
}

fn decode_base64(value: &str) -> Option<Vec<u8>> {
    const ENGINES: [&GeneralPurpose; 4] =
        [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD, &STANDARD_NO_PAD];
    ENGINES.iter().find_map(|engine| engine.decode(value).ok())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl AuthConfig {
    fn into_credentials(mut self) -> Option<RegistryCredentials> {
        // `auth` is base64("user:pass"); explicit fields win.
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Some((user, pass)) = decode_base64(&self.auth)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
            {
                self.username = user;
                self.password = pass;
            }
        }
        let identity_token =
            non_empty(self.identitytoken).or_else(|| non_empty(self.registrytoken));
        let creds = RegistryCredentials {
            username: non_empty(self.username),
            password: non_empty(self.password),
            identity_token,
            server_address: non_empty(self.serveraddress),
        };
        let anonymous =
            creds.username.is_none() && creds.password.is_none() && creds.identity_token.is_none();
        (!anonymous).then_some(creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(engine: &GeneralPurpose, json: &str) -> String {
        engine.encode(json)
    }

    #[test]
    fn empty_and_braces_are_anonymous() {
        assert!(decode_registry_auth("").unwrap().is_none());
        assert!(decode_registry_auth("e30=").unwrap().is_none());
        assert!(decode_registry_auth("e30").unwrap().is_none());
        assert!(registry_credentials(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn padding_and_alphabet_tolerated() {
        // `?` and `>` make the standard and url-safe alphabets differ.
        let json = r#"{"username":"me","password":"s3cr?t>>","serveraddress":"127.0.0.1:5000"}"#;
        for engine in [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD, &STANDARD_NO_PAD] {
            let creds = decode_registry_auth(&encode(engine, json))
                .unwrap()
                .unwrap();
            assert_eq!(creds.username.as_deref(), Some("me"));
            assert_eq!(creds.password.as_deref(), Some("s3cr?t>>"));
            assert_eq!(creds.server_address.as_deref(), Some("127.0.0.1:5000"));
            assert!(creds.identity_token.is_none());
        }
    }

    #[test]
    fn auth_field_and_identity_token() {
        let json = format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("bob:pw:with:colons"));
        let creds = decode_registry_auth(&URL_SAFE.encode(json))
            .unwrap()
            .unwrap();
        assert_eq!(creds.username.as_deref(), Some("bob"));
        assert_eq!(creds.password.as_deref(), Some("pw:with:colons"));

        let json = r#"{"identitytoken":"tok","serveraddress":"reg"}"#;
        let creds = decode_registry_auth(&URL_SAFE.encode(json))
            .unwrap()
            .unwrap();
        assert_eq!(creds.identity_token.as_deref(), Some("tok"));
    }

    #[test]
    fn garbage_is_400() {
        let err = decode_registry_auth("!!!not base64!!!").unwrap_err();
        assert_eq!(err.status(), 400);
        let err = decode_registry_auth(&URL_SAFE.encode("not json")).unwrap_err();
        assert_eq!(err.status(), 400);
    }
}
