//! Validation of a [`ComputeSystemDocument`], done once when the service accepts it so that
//! backends can trust every field (the "parse, then hold validated values" split).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use silo_errdefs::{ErrorKind, HasKind};

use super::{
    ComputeSystemDocument, Mount, MountKind, ProcessParameters, Resources, User, SCHEMA_VERSION,
};
use crate::spec::caps::parse_capability;

/// The kernel refuses smaller memory cgroups in practice; Docker uses the same floor.
pub const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;

/// Why a document was refused. Every variant is the caller's mistake (InvalidArgument).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The document was written by a newer silo.
    #[error("unsupported schema version {version} (this silo understands {SCHEMA_VERSION})")]
    UnsupportedSchema {
        /// The version found.
        version: u32,
    },
    /// The id is empty or contains characters unusable in paths and cgroup names.
    #[error("invalid id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No owner was named.
    #[error("owner must not be empty")]
    EmptyOwner,
    /// An isolation name that is neither `process` nor `hyperv`/`vm`.
    #[error("unknown isolation {value:?} (expected process or hyperv)")]
    UnknownIsolation {
        /// The name given.
        value: String,
    },
    /// A path that must be absolute and normalised is not.
    #[error("{field} {path:?}: {reason}")]
    InvalidPath {
        /// Which field holds it.
        field: &'static str,
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The process has no argv.
    #[error("process args must not be empty")]
    EmptyArgs,
    /// An environment entry without `=` or with an empty key.
    #[error("invalid environment entry {entry:?}: expected KEY=value")]
    InvalidEnv {
        /// The entry given.
        entry: String,
    },
    /// A user name or group name that is empty.
    #[error("user must not be empty")]
    EmptyUser,
    /// A bind mount without a source.
    #[error("bind mount on {destination:?} has no source")]
    BindWithoutSource {
        /// Where it was to be mounted.
        destination: PathBuf,
    },
    /// Two mounts on one destination.
    #[error("duplicate mount destination {destination:?}")]
    DuplicateMount {
        /// The repeated destination.
        destination: PathBuf,
    },
    /// `ro`/`rw` in a mount's options; `read_only` says that.
    #[error("mount on {destination:?}: option {option:?} is expressed by read_only")]
    ReadOnlyOption {
        /// The mount's destination.
        destination: PathBuf,
        /// The offending option.
        option: String,
    },
    /// A memory limit below [`MIN_MEMORY_BYTES`].
    #[error("memory limit {bytes} is below the minimum of {MIN_MEMORY_BYTES} bytes")]
    MemoryTooLow {
        /// The limit given.
        bytes: i64,
    },
    /// A swap limit without a memory limit.
    #[error("memory-swap requires a memory limit")]
    SwapWithoutMemory,
    /// A memory+swap limit smaller than the memory limit.
    #[error("memory-swap {swap} must be at least the memory limit {memory} (or -1)")]
    SwapBelowMemory {
        /// The memory+swap limit.
        swap: i64,
        /// The memory limit.
        memory: i64,
    },
    /// Both nano-cpus and a quota/period were given.
    #[error("nano_cpus cannot be combined with cpu_quota or cpu_period")]
    CpuConflict,
    /// A cpu setting outside the range the kernel accepts.
    #[error("{field} {value} is out of range ({range})")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: i64,
        /// The accepted range, for the message.
        range: &'static str,
    },
    /// A capability name the kernel does not have.
    #[error("unknown capability {name:?}")]
    UnknownCapability {
        /// The name given.
        name: String,
    },
    /// A hostname that is not a valid RFC 1123 name of at most 64 bytes.
    #[error("invalid hostname {hostname:?}")]
    InvalidHostname {
        /// The hostname given.
        hostname: String,
    },
    /// A user namespace with an empty map or an empty range.
    #[error("user namespace {which} map must have at least one range, each of size > 0")]
    InvalidIdMap {
        /// `"uid"` or `"gid"`.
        which: &'static str,
    },
    /// An rlimit name that is not one of `RLIMIT_*`.
    #[error("unknown rlimit {name:?}")]
    UnknownRlimit {
        /// The name given.
        name: String,
    },
    /// An rlimit whose soft limit is above its hard limit.
    #[error("rlimit {name}: soft limit {soft} is above hard limit {hard}")]
    RlimitSoftAboveHard {
        /// The limit.
        name: String,
        /// Soft value.
        soft: u64,
        /// Hard value.
        hard: u64,
    },
}

impl HasKind for DocumentError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl ComputeSystemDocument {
    /// Checks every field, returning the first problem found.
    pub fn validate(&self) -> Result<(), DocumentError> {
        if self.schema_version > SCHEMA_VERSION {
            return Err(DocumentError::UnsupportedSchema {
                version: self.schema_version,
            });
        }
        validate_id(&self.id)?;
        if self.owner.is_empty() {
            return Err(DocumentError::EmptyOwner);
        }
        for layer in &self.rootfs.layers {
            absolute("rootfs layer", layer)?;
        }
        absolute("rootfs sandbox", &self.rootfs.sandbox)?;
        validate_mounts(&self.mounts)?;
        self.resources.validate()?;
        if let super::NetworkNamespace::Path { path } = &self.network {
            absolute("network namespace", path)?;
        }
        self.process.validate()?;
        if let Some(hostname) = &self.hostname {
            validate_hostname(hostname)?;
        }
        if let Some(userns) = &self.user_namespace {
            for (which, map) in [("uid", &userns.uid_map), ("gid", &userns.gid_map)] {
                if map.is_empty() || map.iter().any(|m| m.size == 0) {
                    return Err(DocumentError::InvalidIdMap { which });
                }
            }
        }
        for path in self.security.masked_paths.iter().flatten() {
            absolute("masked path", Path::new(path))?;
        }
        for path in self.security.readonly_paths.iter().flatten() {
            absolute("read-only path", Path::new(path))?;
        }
        Ok(())
    }
}

impl ProcessParameters {
    /// Checks the fields of one process; also used for `create_process`.
    pub fn validate(&self) -> Result<(), DocumentError> {
        if self.args.is_empty() {
            return Err(DocumentError::EmptyArgs);
        }
        for entry in &self.env {
            match entry.split_once('=') {
                Some((key, _)) if !key.is_empty() => {}
                _ => {
                    return Err(DocumentError::InvalidEnv {
                        entry: entry.clone(),
                    })
                }
            }
        }
        absolute("cwd", &self.cwd)?;
        if let User::Named { user, group, .. } = &self.user {
            if user.is_empty() || group.as_deref() == Some("") {
                return Err(DocumentError::EmptyUser);
            }
        }
        for name in self.capabilities.add.iter().chain(&self.capabilities.drop) {
            if !name.eq_ignore_ascii_case("ALL") && parse_capability(name).is_none() {
                return Err(DocumentError::UnknownCapability { name: name.clone() });
            }
        }
        if let Some(adj) = self.oom_score_adj {
            range("oom_score_adj", adj.into(), -1000, 1000, "-1000..=1000")?;
        }
        for rlimit in &self.rlimits {
            if crate::spec::rlimit_type(&rlimit.name).is_none() {
                return Err(DocumentError::UnknownRlimit {
                    name: rlimit.name.clone(),
                });
            }
            if rlimit.soft > rlimit.hard {
                return Err(DocumentError::RlimitSoftAboveHard {
                    name: rlimit.name.clone(),
                    soft: rlimit.soft,
                    hard: rlimit.hard,
                });
            }
        }
        Ok(())
    }
}

impl Resources {
    /// Checks the limits; also used for `modify`.
    pub fn validate(&self) -> Result<(), DocumentError> {
        if let Some(bytes) = self.memory_bytes {
            if bytes < MIN_MEMORY_BYTES {
                return Err(DocumentError::MemoryTooLow { bytes });
            }
        }
        match (self.memory_swap, self.memory_bytes) {
            (Some(-1) | None, _) => {}
            (Some(_), None) => return Err(DocumentError::SwapWithoutMemory),
            (Some(swap), Some(memory)) if swap < memory => {
                return Err(DocumentError::SwapBelowMemory { swap, memory })
            }
            (Some(_), Some(_)) => {}
        }
        if self.nano_cpus.is_some() && (self.cpu_quota.is_some() || self.cpu_period.is_some()) {
            return Err(DocumentError::CpuConflict);
        }
        if let Some(nano) = self.nano_cpus {
            range("nano_cpus", nano, 1, i64::MAX, "> 0")?;
        }
        if let Some(quota) = self.cpu_quota {
            range("cpu_quota", quota, 1000, i64::MAX, ">= 1000 µs")?;
        }
        if let Some(period) = self.cpu_period {
            let period = i64::try_from(period).unwrap_or(i64::MAX);
            range("cpu_period", period, 1000, 1_000_000, "1000..=1000000 µs")?;
        }
        if let Some(shares) = self.cpu_shares {
            let shares = i64::try_from(shares).unwrap_or(i64::MAX);
            range("cpu_shares", shares, 2, 262_144, "2..=262144")?;
        }
        if let Some(pids) = self.pids_limit {
            range("pids_limit", pids, -1, i64::MAX, ">= -1")?;
        }
        Ok(())
    }
}

/// Ids become directory and cgroup names, so they are restricted to what is safe in both.
fn validate_id(id: &str) -> Result<(), DocumentError> {
    let reason = if id.is_empty() {
        Some("must not be empty")
    } else if id.len() > 128 {
        Some("must be at most 128 characters")
    } else if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must start with a letter or digit")
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Some("may only contain letters, digits, '_', '.' and '-'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DocumentError::InvalidId {
            id: id.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn validate_mounts(mounts: &[Mount]) -> Result<(), DocumentError> {
    let mut seen = HashSet::new();
    for mount in mounts {
        absolute("mount destination", &mount.destination)?;
        if mount.destination == Path::new("/") {
            return Err(DocumentError::InvalidPath {
                field: "mount destination",
                path: mount.destination.clone(),
                reason: "must not be the root",
            });
        }
        if !seen.insert(&mount.destination) {
            return Err(DocumentError::DuplicateMount {
                destination: mount.destination.clone(),
            });
        }
        if mount.kind == MountKind::Bind {
            match &mount.source {
                Some(source) => absolute("bind source", source)?,
                None => {
                    return Err(DocumentError::BindWithoutSource {
                        destination: mount.destination.clone(),
                    })
                }
            }
        }
        if let Some(option) = mount.options.iter().find(|o| *o == "ro" || *o == "rw") {
            return Err(DocumentError::ReadOnlyOption {
                destination: mount.destination.clone(),
                option: option.clone(),
            });
        }
    }
    Ok(())
}

/// RFC 1123 labels joined by dots, at most 64 bytes (the kernel's limit for `sethostname`).
fn validate_hostname(hostname: &str) -> Result<(), DocumentError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if hostname.len() > 64 || !hostname.split('.').all(label_ok) {
        return Err(DocumentError::InvalidHostname {
            hostname: hostname.to_string(),
        });
    }
    Ok(())
}

/// Absolute and free of `..`, so a path cannot climb out of the rootfs it is joined to.
fn absolute(field: &'static str, path: &Path) -> Result<(), DocumentError> {
    let reason = if !path.is_absolute() {
        "must be absolute"
    } else if path.components().any(|c| c == Component::ParentDir) {
        "must not contain '..'"
    } else {
        return Ok(());
    };
    Err(DocumentError::InvalidPath {
        field,
        path: path.to_path_buf(),
        reason,
    })
}

fn range(
    field: &'static str,
    value: i64,
    min: i64,
    max: i64,
    text: &'static str,
) -> Result<(), DocumentError> {
    if value < min || value > max {
        return Err(DocumentError::OutOfRange {
            field,
            value,
            range: text,
        });
    }
    Ok(())
}
