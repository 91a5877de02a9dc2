//! Docker-compatible image references.
//!
//! Users type short names (`busybox`, `user/app:v1`, `127.0.0.1:5000/x@sha256:…`); registries,
//! the store and the API need one canonical form. [`Reference::parse`] applies Docker's
//! normalisation (`docker.io` default registry, `library/` for official images, `latest` when
//! neither tag nor digest is given) so that two spellings of the same image compare equal, and
//! [`Reference::familiar`] gives back the short form Docker prints in `docker images`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use silo_errdefs::{ErrorKind, HasKind};

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The namespace Docker Hub's official images live in.
const OFFICIAL_NAMESPACE: &str = "library/";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Docker's limit on the length of `registry/repository`.
const MAX_NAME_LEN: usize = 255;

/// Why a string is not a valid reference. Every variant names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input was empty.
    #[error("invalid reference format: empty reference")]
    Empty,
    /// The input does not follow the reference grammar.
    #[error("invalid reference format: {input:?}: {reason}")]
    Format { input: String, reason: &'static str },
    /// The repository part has uppercase letters (Docker refuses these rather than folding them).
    #[error("invalid reference format: repository name must be lowercase (in {input:?})")]
    Uppercase { input: String },
    /// `registry/repository` is longer than 255 characters.
    #[error("invalid reference format: repository name must not be more than 255 characters (in {input:?})")]
    NameTooLong { input: String },
    /// The tag does not match `[\w][\w.-]{0,127}`.
    #[error("invalid reference format: invalid tag {tag:?} (in {input:?})")]
    Tag { input: String, tag: String },
    /// The digest is not `sha256:<64 hex>` (or `sha512:<128 hex>`).
    #[error("invalid reference format: invalid digest {digest:?} (in {input:?})")]
    Digest { input: String, digest: String },
    /// A bare 64-hex string is an image id, never a repository name (Docker's rule).
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexName { input: String },
}

impl HasKind for ReferenceError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// A normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalises a reference the way `docker pull` does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if input.len() == 64 && is_lower_hex(input) {
            return Err(ReferenceError::HexName {
                input: input.to_string(),
            });
        }
        let format = |reason| ReferenceError::Format {
            input: input.to_string(),
            reason,
        };

        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|()| ReferenceError::Digest {
                    input: input.to_string(),
                    digest: digest.to_string(),
                })?;
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag is whatever follows the last ':' after the last '/', so `host:5000/x` has none.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = (&rest[..last_slash + i], &rest[last_slash + i + 1..]);
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::Tag {
                        input: input.to_string(),
                        tag: tag.to_string(),
                    });
                }
                (name, Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(format("missing repository name"));
        }

        let (registry, repository) = split_registry(name);
        if !is_valid_registry(registry) {
            return Err(format("invalid registry host"));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase {
                input: input.to_string(),
            });
        }
        if !repository.split('/').all(is_valid_component) {
            return Err(format("invalid repository name"));
        }
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("{OFFICIAL_NAMESPACE}{repository}")
        } else {
            repository.to_string()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong {
                input: input.to_string(),
            });
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any. Digest-only references have none.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Docker's short name without tag or digest: `busybox`, `user/app`, `127.0.0.1:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_REGISTRY {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_NAMESPACE) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// Docker's short form with tag and digest: `busybox:latest`, `busybox@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with `tag` as target; any digest is dropped, since a tag and a digest
    /// together would make the tag meaningless for fetching.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::Tag {
                input: self.to_string(),
                tag: tag.to_string(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest`; the tag is kept for display, as Docker does.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        validate_digest(digest).map_err(|()| ReferenceError::Digest {
            input: self.to_string(),
            digest: digest.to_string(),
        })?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// Whether the registry is on this host (localhost, 127.0.0.0/8, ::1). Docker always talks
    /// plain HTTP to these, so a local test registry needs no `insecure-registries` entry.
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback_host(&self.registry)
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Combines the API's `fromImage` and `tag` query parameters (`POST /images/create`).
///
/// `tag` may be a tag or a digest (`sha256:…`) and overrides whatever `repo` carries; an empty
/// `tag` means "none given", as the docker CLI sends it.
pub fn parse_repository_tag(repo: &str, tag: Option<&str>) -> Result<Reference, ReferenceError> {
    let reference = Reference::parse(repo)?;
    match tag.filter(|t| !t.is_empty()) {
        None => Ok(reference),
        // Docker pins the bare name: `busybox:1.36` + `sha256:…` is `busybox@sha256:…`.
        Some(t) if t.contains(':') => Reference {
            tag: None,
            ..reference
        }
        .with_digest(t),
        Some(t) => reference.with_tag(t),
    }
}

/// Whether a `host[:port]` names this machine.
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let host = host_of(registry);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of `host[:port]`, without IPv6 brackets.
pub(crate) fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.rsplit_once(':').map_or(registry, |(host, _)| host)
}

/// Docker's rule: the first component is a registry only if it looks like a host.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
pub(crate) fn validate_digest(digest: &str) -> Result<(), ()> {
    let (algo, hex) = digest.split_once(':').ok_or(())?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(()),
    };
    if hex.len() == len && is_lower_hex(hex) {
        Ok(())
    } else {
        Err(())
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_valid_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

/// A DNS name or IPv4 address with optional port, or a bracketed IPv6 address with optional port.
fn is_valid_registry(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match (after, after.strip_prefix(':')) {
            ("", _) => (None, None),
            (_, Some(port)) => (None, Some(port)),
            _ => return false,
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.is_none_or(|h| {
        !h.is_empty()
            && h.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    })
}

#[cfg(test)]
mod tests;
