//! Registry credentials, as Docker's `AuthConfig` carries them.

use std::fmt;

use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};

/// Credentials from `X-Registry-Auth` or `POST /auth`; empty strings mean "not given", as in
/// Docker's `AuthConfig`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Sent as a bearer token. Docker's OAuth refresh-token exchange is not implemented.
    pub identity_token: String,
}

impl Credentials {
    /// No credentials.
    pub fn anonymous() -> Credentials {
        Credentials::default()
    }

    /// Username and password.
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
            ..Default::default()
        }
    }

    /// The `oci-client` form: identity token, else username/password, else anonymous.
    pub(crate) fn to_auth(&self) -> RegistryAuth {
        if !self.identity_token.is_empty() {
            RegistryAuth::Bearer(self.identity_token.clone())
        } else if !self.username.is_empty() {
            RegistryAuth::Basic(self.username.clone(), self.password.clone())
        } else {
            RegistryAuth::Anonymous
        }
    }

    /// Distinguishes cached clients without keeping another copy of the secrets as a key.
    pub(super) fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [&self.username, &self.password, &self.identity_token] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().into()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("identity_token", &redact(&self.identity_token))
            .finish()
    }
}
