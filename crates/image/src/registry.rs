//! The registry client: manifests and blobs over the OCI distribution API, via `oci-client`.
//!
//! What this layer adds to `oci-client`: Docker's insecure-registry and mirror rules
//! ([`RegistryOptions`]), one error vocabulary ([`RegistryError`]), digest verification we can
//! rely on whatever the registry sends, and byte-exact manifests (a manifest is pushed and stored
//! exactly as fetched, so Windows manifests with foreign layers keep their digest). Platform
//! choice is not done here: `oci-client`'s resolver is disabled and the caller resolves indexes
//! with [`crate::platform::resolve`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;

use crate::reference::{validate_digest, Reference, DEFAULT_REGISTRY};

mod credentials;
mod error;
mod login;
mod manifest;
mod policy;

pub use credentials::Credentials;
pub use error::{Op, RegistryError};
pub(crate) use manifest::sha256_digest;
use manifest::{finish_manifest, verify};
pub use manifest::{FetchedManifest, ManifestKind};
use policy::{InsecurePolicy, Mirror};

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type silo fetches and pushes; also the `Accept` header it sends.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
];

/// Cached `oci-client` clients above this count are dropped (each holds a connection pool).
const MAX_CACHED_CLIENTS: usize = 64;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Daemon settings the client obeys (`insecure-registries`, `registry-mirrors` in daemon.json).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `host:port`, `host` or CIDR (`10.0.0.0/8`): reached over plain HTTP.
    pub insecure: Vec<String>,
    /// `https://mirror.example` URLs tried, in order, before Docker Hub for Docker Hub pulls.
    pub mirrors: Vec<String>,
}

impl RegistryOptions {
    /// Checks every entry (for daemon.json loading): insecure entries must be `host[:port]` or a
    /// CIDR, mirrors `http(s)://host[:port]` URLs.
    pub fn validate(&self) -> Result<(), RegistryError> {
        InsecurePolicy::parse(&self.insecure)?;
        self.mirrors
            .iter()
            .try_for_each(|m| Mirror::parse(m).map(drop))
    }
}

/// A registry client. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

/// (host contacted, plain HTTP, credentials fingerprint).
type ClientKey = (String, bool, [u8; 32]);

struct Inner {
    insecure: InsecurePolicy,
    mirrors: Vec<Mirror>,
    /// One `oci-client` client per (host, plain HTTP, credentials): `oci-client` keeps the first
    /// credentials it sees per registry, so clients must not be shared across credentials.
    clients: Mutex<HashMap<ClientKey, oci_client::Client>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.clients.lock().map_or(0, |c| c.len());
        f.debug_struct("RegistryClient")
            .field("insecure", &self.inner.insecure)
            .field("mirrors", &self.inner.mirrors)
            .field("cached_clients", &cached)
            .finish()
    }
}

/// Where one attempt goes: the `oci-client` reference (possibly redirected to a mirror) and the
/// host actually contacted.
struct Endpoint {
    oci_ref: oci_client::Reference,
    host: String,
    plain_http: bool,
}

impl RegistryClient {
    /// A client obeying `options`. Malformed entries are logged and ignored (never treated as
    /// insecure); the daemon should refuse them at startup with [`RegistryOptions::validate`].
    pub fn new(options: RegistryOptions) -> RegistryClient {
        let mut insecure_entries = Vec::new();
        for entry in options.insecure {
            match InsecurePolicy::parse(std::slice::from_ref(&entry)) {
                Ok(_) => insecure_entries.push(entry),
                Err(e) => tracing::warn!(error = %e, "ignoring insecure-registries entry"),
            }
        }
        let insecure = InsecurePolicy::parse(&insecure_entries).unwrap_or_default();
        let mirrors = options
            .mirrors
            .iter()
            .filter_map(|m| {
                Mirror::parse(m)
                    .inspect_err(|e| tracing::warn!(error = %e, "ignoring registry mirror"))
                    .ok()
            })
            .collect();
        RegistryClient {
            inner: Arc::new(Inner {
                insecure,
                mirrors,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether `registry` (`host[:port]`) is reached over plain HTTP.
    pub async fn is_insecure(&self, registry: &str) -> bool {
        self.inner.insecure.is_insecure(registry).await
    }

    /// Fetches the manifest `r` names (by digest when pinned, else by tag) and verifies its
    /// digest against the pin and the registry's `Docker-Content-Digest`.
    pub async fn fetch_manifest(
        &self,
        r: &Reference,
        creds: &Credentials,
    ) -> Result<FetchedManifest, RegistryError> {
        let target = r.to_string();
        let auth = creds.to_auth();
        self.pull_from(r, creds, |ep, client| {
            let (target, auth) = (&target, &auth);
            async move {
                let (body, _) = client
                    .pull_manifest_raw(&ep.oci_ref, auth, &MANIFEST_MEDIA_TYPES)
                    .await
                    .map_err(|e| RegistryError::from_oci(Op::FetchManifest, target, &ep.host, e))?;
                finish_manifest(target, r.digest(), body.to_vec())
            }
        })
        .await
    }

    /// Fetches the manifest `digest` in `r`'s repository (an entry chosen from an index).
    pub async fn fetch_manifest_by_digest(
        &self,
        r: &Reference,
        digest: &str,
        creds: &Credentials,
    ) -> Result<FetchedManifest, RegistryError> {
        let pinned = r
            .with_digest(digest)
            .map_err(|_| RegistryError::InvalidDigest {
                op: Op::FetchManifest,
                target: r.to_string(),
                digest: digest.to_string(),
            })?;
        self.fetch_manifest(&pinned, creds).await
    }

    /// Streams blob `digest`. The stream ends with a [`RegistryError::DigestMismatch`] item if the
    /// content does not hash to `digest`; the content store verifies again on commit.
    pub async fn blob_stream(
        &self,
        r: &Reference,
        digest: &str,
        creds: &Credentials,
    ) -> Result<BoxStream<'static, Result<Bytes, RegistryError>>, RegistryError> {
        let target = blob_target(r, digest, Op::FetchBlob)?;
        self.pull_from(r, creds, |ep, client| {
            let target = target.clone();
            async move {
                let desc = OciDescriptor {
                    digest: digest.to_string(),
                    ..Default::default()
                };
                let sized = client
                    .pull_blob_stream(&ep.oci_ref, &desc)
                    .await
                    .map_err(|e| RegistryError::from_oci(Op::FetchBlob, &target, &ep.host, e))?;
                let host = ep.host;
                Ok(sized
                    .stream
                    .map_err(move |e| RegistryError::from_io(Op::FetchBlob, &target, &host, &e))
                    .boxed())
            }
        })
        .await
    }

    /// Fetches a small blob (a config) whole, verifying its digest here.
    pub async fn fetch_blob(
        &self,
        r: &Reference,
        digest: &str,
        creds: &Credentials,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut stream = self.blob_stream(r, digest, creds).await?;
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            data.extend_from_slice(&chunk?);
        }
        verify(
            Op::FetchBlob,
            &blob_target(r, digest, Op::FetchBlob)?,
            digest,
            &data,
        )?;
        Ok(data)
    }

    /// Whether the registry already has blob `digest` in `r`'s repository (skip the upload).
    pub async fn blob_exists(
        &self,
        r: &Reference,
        digest: &str,
        creds: &Credentials,
    ) -> Result<bool, RegistryError> {
        let target = blob_target(r, digest, Op::CheckBlob)?;
        let (ep, client) = self.upstream(r, creds).await?;
        client
            .blob_exists(&ep.oci_ref, digest)
            .await
            .map_err(|e| RegistryError::from_oci(Op::CheckBlob, &target, &ep.host, e))
    }

    /// Uploads blob `digest`; refuses locally if `data` does not hash to it.
    pub async fn push_blob(
        &self,
        r: &Reference,
        digest: &str,
        data: Bytes,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let target = blob_target(r, digest, Op::PushBlob)?;
        verify(Op::PushBlob, &target, digest, &data)?;
        let (ep, client) = self.upstream(r, creds).await?;
        client
            .push_blob(&ep.oci_ref, data, digest)
            .await
            .map(drop)
            .map_err(|e| RegistryError::from_oci(Op::PushBlob, &target, &ep.host, e))
    }

    /// Uploads a manifest byte for byte to `r`'s tag (or digest) and returns its digest.
    pub async fn push_manifest_bytes(
        &self,
        r: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
        creds: &Credentials,
    ) -> Result<String, RegistryError> {
        let target = r.to_string();
        if !MANIFEST_MEDIA_TYPES.contains(&media_type) {
            return Err(RegistryError::UnsupportedMediaType {
                op: Op::PushManifest,
                target,
                media_type: media_type.to_string(),
            });
        }
        let digest = sha256_digest(&bytes);
        if let Some(pinned) = r.digest() {
            verify(Op::PushManifest, &target, pinned, &bytes)?;
        }
        let (ep, client) = self.upstream(r, creds).await?;
        let content_type = media_type
            .parse()
            .map_err(|_| RegistryError::UnsupportedMediaType {
                op: Op::PushManifest,
                target: target.clone(),
                media_type: media_type.to_string(),
            })?;
        client
            .push_manifest_raw(&ep.oci_ref, bytes, content_type)
            .await
            .map_err(|e| RegistryError::from_oci(Op::PushManifest, &target, &ep.host, e))?;
        Ok(digest)
    }

    /// Checks credentials against `registry` the way `docker login` does (`POST /auth`).
    pub async fn check_auth(
        &self,
        registry: &str,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let registry = if registry.is_empty() || registry.contains("index.docker.io") {
            "registry-1.docker.io"
        } else {
            registry
        };
        let plain_http = self.is_insecure(registry).await;
        login::check(registry, plain_http, creds).await
    }

    /// Runs `attempt` against each Docker Hub mirror, then the registry itself; the first success
    /// wins. Mirror failures are logged, and the registry's own error is the one returned.
    async fn pull_from<T, F, Fut>(
        &self,
        r: &Reference,
        creds: &Credentials,
        attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: Fn(Endpoint, oci_client::Client) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        if r.registry() == DEFAULT_REGISTRY {
            for mirror in &self.inner.mirrors {
                let mut oci_ref = to_oci(r);
                oci_ref.set_mirror_registry(mirror.host.clone());
                let ep = Endpoint {
                    oci_ref,
                    host: mirror.host.clone(),
                    plain_http: mirror.plain_http,
                };
                let client = self.client_for(&ep, creds).await?;
                match attempt(ep, client).await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        tracing::warn!(mirror = %mirror.host, error = %e, "registry mirror failed, trying next")
                    }
                }
            }
        }
        let (ep, client) = self.upstream(r, creds).await?;
        attempt(ep, client).await
    }

    async fn upstream(
        &self,
        r: &Reference,
        creds: &Credentials,
    ) -> Result<(Endpoint, oci_client::Client), RegistryError> {
        let oci_ref = to_oci(r);
        let host = oci_ref.resolve_registry().to_string();
        let plain_http = self.is_insecure(&host).await;
        let ep = Endpoint {
            oci_ref,
            host,
            plain_http,
        };
        let client = self.client_for(&ep, creds).await?;
        Ok((ep, client))
    }

    /// The cached `oci-client` client for this endpoint and these credentials.
    async fn client_for(
        &self,
        ep: &Endpoint,
        creds: &Credentials,
    ) -> Result<oci_client::Client, RegistryError> {
        let key = (ep.host.clone(), ep.plain_http, creds.fingerprint());
        let cached = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(client) = cached {
            return Ok(client);
        }
        let config = ClientConfig {
            protocol: if ep.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config).map_err(|e| RegistryError::Registry {
            op: Op::FetchManifest,
            target: ep.host.clone(),
            registry: ep.host.clone(),
            status: None,
            detail: format!("cannot build HTTP client: {e}"),
        })?;
        // The auth store is keyed by the host the reference resolves to (a mirror, or
        // index.docker.io for docker.io).
        client
            .store_auth_if_needed(ep.oci_ref.resolve_registry(), &creds.to_auth())
            .await;
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}

fn to_oci(r: &Reference) -> oci_client::Reference {
    let (registry, repository) = (r.registry().to_string(), r.repository().to_string());
    match (r.tag(), r.digest()) {
        (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
            registry,
            repository,
            tag.into(),
            digest.into(),
        ),
        (None, Some(digest)) => {
            oci_client::Reference::with_digest(registry, repository, digest.into())
        }
        (tag, None) => oci_client::Reference::with_tag(
            registry,
            repository,
            tag.unwrap_or(crate::reference::DEFAULT_TAG).into(),
        ),
    }
}

/// `name@digest`, after checking the digest is well formed.
fn blob_target(r: &Reference, digest: &str, op: Op) -> Result<String, RegistryError> {
    validate_digest(digest).map_err(|()| RegistryError::InvalidDigest {
        op,
        target: r.name(),
        digest: digest.to_string(),
    })?;
    Ok(format!("{}@{digest}", r.name()))
}

#[cfg(test)]
mod tests;
