//! TLS for TCP listeners, as dockerd's `--tls`/`--tlsverify`.
//!
//! With `verify_clients`, a client must present a certificate signed by the CA or the handshake
//! fails (`--tlsverify`). The ring provider is named explicitly: other crates in the workspace
//! pull in aws-lc-rs as well, and rustls refuses to guess between two installed providers.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::error::ApiError;

/// Certificates for a TLS listener (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA that signs client certificates; required with `verify_clients`.
    pub ca: Option<PathBuf>,
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// Reject clients without a certificate signed by `ca`.
    pub verify_clients: bool,
}

impl TlsConfig {
    /// Load the files and build an acceptor.
    pub fn acceptor(&self) -> Result<TlsAcceptor, ApiError> {
        let provider = Arc::new(ring::default_provider());
        let certs = load_certs(&self.cert)?;
        let key = load_key(&self.key)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("protocol versions", e))?;
        let builder = if self.verify_clients {
            let ca = self.ca.as_ref().ok_or_else(|| {
                ApiError::invalid("TLS client verification needs a CA certificate (tlscacert)")
            })?;
            builder.with_client_cert_verifier(client_verifier(ca, provider)?)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| tls_error(&format!("server certificate {}", self.cert.display()), e))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn client_verifier(
    ca: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn tokio_rustls::rustls::server::danger::ClientCertVerifier>, ApiError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| tls_error(&format!("CA certificate {}", ca.display()), e))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| tls_error(&format!("CA certificate {}", ca.display()), e))
}

fn tls_error(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("TLS setup: {what}: {err}"))
}

fn open(path: &Path) -> Result<BufReader<File>, ApiError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| ApiError::invalid(format!("TLS setup: open {}: {e}", path.display())))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(&format!("read {}", path.display()), e))?;
    if certs.is_empty() {
        return Err(ApiError::invalid(format!(
            "TLS setup: no certificate found in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, ApiError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| tls_error(&format!("read {}", path.display()), e))?
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "TLS setup: no private key found in {}",
                path.display()
            ))
        })
}
