//! The compute-system document: everything a backend needs to build one compute system.
//!
//! Like an HCS schema document (or firecracker's `VmResources`), it is a plain serde value: the
//! engine builds it from a container's configuration, the service validates it once in
//! [`ComputeSystemDocument::validate`], and every backend reads the same value. Nothing here is
//! specific to namespaces: a VM backend maps `rootfs.layers` to read-only block images,
//! `rootfs.sandbox` to the scratch disk and `mounts` to shares, while the process backend turns the
//! document into an OCI `config.json` (see [`crate::spec`]).
//!
//! Paths are host paths. Names that need the image's files to resolve (a user name in
//! [`User::Named`]) are resolved by the backend against the mounted rootfs, because only it has
//! the rootfs mounted.

#[cfg(test)]
pub(crate) mod tests;
mod validate;

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use validate::{DocumentError, MIN_MEMORY_BYTES};

/// The version of the document layout; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// One compute system, as handed to [`crate::ComputeService::create`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeSystemDocument {
    /// Layout version; documents from a newer silo are refused rather than half-understood.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Who created the system (e.g. `"silod"`); shown by `silo compute ls`, like HCS's `Owner`.
    pub owner: String,
    /// Unique id of the system; also the name of its cgroup and state directory.
    pub id: String,
    /// Which backend runs it.
    #[serde(default)]
    pub isolation: Isolation,
    /// The root filesystem: image layers plus a writable sandbox.
    pub rootfs: Rootfs,
    /// Extra mounts, applied in order after the default ones.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Limits on memory, cpu and process count.
    #[serde(default)]
    pub resources: Resources,
    /// Which network namespace the system lives in.
    #[serde(default)]
    pub network: NetworkNamespace,
    /// The system's first process (its entrypoint).
    pub process: ProcessParameters,
    /// The hostname seen inside; `None` means the first 12 characters of the id.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Security settings that apply to the whole system.
    #[serde(default)]
    pub security: Security,
    /// Run in a new user namespace with these id mappings (`--userns-remap`); `None` shares
    /// the host's user namespace.
    #[serde(default)]
    pub user_namespace: Option<UserNamespace>,
    /// Run silo's minimal init as PID 1 with the entrypoint as its child, so that signals a
    /// program never installed handlers for still stop it and zombies are reaped.
    #[serde(default)]
    pub init: bool,
    /// Rotation of the first process's json-file log (Docker's `max-size` / `max-file`).
    #[serde(default)]
    pub log: LogSettings,
}

/// How the backend rotates a system's output log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSettings {
    /// Rotate once the current file reaches this many bytes; `None` never rotates.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Files kept in all, the current one included (at least 1).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            max_size: None,
            max_file: 1,
        }
    }
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// The isolation technology, named after the Windows-containers ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Namespaces, cgroups, seccomp and capabilities on the host kernel.
    #[default]
    Process,
    /// The same image inside a per-container micro-VM with its own kernel.
    #[serde(alias = "vm")]
    HyperV,
}

impl Isolation {
    /// The name used in documents, flags and `daemon.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::HyperV => "hyperv",
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Isolation {
    type Err = DocumentError;

    /// Accepts `process`, `hyperv` and its alias `vm`, case-insensitively (as `--isolation` does).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "process" => Ok(Isolation::Process),
            "hyperv" | "vm" => Ok(Isolation::HyperV),
            _ => Err(DocumentError::UnknownIsolation {
                value: s.to_string(),
            }),
        }
    }
}

/// The root filesystem, described as layers rather than a ready mount so that each backend can
/// assemble it its own way (overlayfs on the host, block images in a VM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rootfs {
    /// Unpacked read-only layer directories, base layer first (image order). Overlayfs wants
    /// the reverse for `lowerdir`; the backend flips it.
    pub layers: Vec<PathBuf>,
    /// The per-container writable directory; the backend creates `upper` and `work` in it.
    pub sandbox: PathBuf,
    /// Mount the root read-only (`--read-only`); the sandbox still exists for inspection.
    #[serde(default)]
    pub read_only: bool,
}

/// One extra mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Host path for binds; ignored for tmpfs.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Absolute path inside the system.
    pub destination: PathBuf,
    /// What kind of filesystem to put there.
    pub kind: MountKind,
    /// Read-only. Kept out of `options` so a VM backend need not parse option strings.
    #[serde(default)]
    pub read_only: bool,
    /// Extra mount(8)-style options (`nosuid`, `size=64m`, `rprivate`, ...), never `ro`/`rw`.
    #[serde(default)]
    pub options: Vec<String>,
}

/// The kinds of mount a document may ask for. Named volumes are resolved by the engine to a
/// host directory and arrive here as binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A (recursive) bind of a host path.
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

/// Resource limits. `None` means "no limit set" everywhere; the engine applies its own defaults
/// (such as Docker's doubling of swap) before building the document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit in bytes (`--memory`).
    #[serde(default)]
    pub memory_bytes: Option<i64>,
    /// Memory plus swap limit in bytes (`--memory-swap`); `-1` means unlimited swap.
    #[serde(default)]
    pub memory_swap: Option<i64>,
    /// CPUs in billionths (`--cpus 1.5` = 1_500_000_000); exclusive with quota/period.
    #[serde(default)]
    pub nano_cpus: Option<i64>,
    /// CFS quota in microseconds per period (`--cpu-quota`).
    #[serde(default)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (`--cpu-period`).
    #[serde(default)]
    pub cpu_period: Option<u64>,
    /// Relative cpu weight (`--cpu-shares`, v1 scale 2..=262144).
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks; `0` or `-1` mean unlimited (`--pids-limit`).
    #[serde(default)]
    pub pids_limit: Option<i64>,
}

/// The network namespace of the system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum NetworkNamespace {
    /// A new namespace holding only loopback, never connected (`--network none`).
    None,
    /// The host's namespace (`--network host`).
    Host,
    /// Join an existing namespace, typically `/run/netns/<id>` prepared by the network
    /// service before the system is created.
    Path {
        /// The namespace file to join.
        path: PathBuf,
    },
    /// A new namespace that the network service connects after `create`, through the init
    /// process's `/proc/<pid>/ns/net`.
    #[default]
    New,
}

/// A process to run: the system's first process, or one added later with `create_process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessParameters {
    /// argv; `args[0]` is looked up in `PATH` inside the system.
    pub args: Vec<String>,
    /// `KEY=value` entries; `PATH` and `HOSTNAME` get defaults when absent.
    #[serde(default)]
    pub env: Vec<String>,
    /// Absolute working directory inside the system.
    #[serde(default = "root_dir")]
    pub cwd: PathBuf,
    /// Who the process runs as.
    #[serde(default)]
    pub user: User,
    /// Allocate a pseudo-terminal for stdio.
    #[serde(default)]
    pub terminal: bool,
    /// Initial console size when `terminal` is set.
    #[serde(default)]
    pub console_size: Option<ConsoleSize>,
    /// Keep stdin open for attached clients (Docker's `OpenStdin`, `-i`); otherwise the process
    /// reads /dev/null (or, with a terminal, a terminal nobody types into).
    #[serde(default)]
    pub open_stdin: bool,
    /// Close stdin when the first attached client closes its write half (Docker's `StdinOnce`).
    #[serde(default)]
    pub stdin_once: bool,
    /// Set the `no_new_privs` bit (`--security-opt no-new-privileges`).
    #[serde(default)]
    pub no_new_privileges: bool,
    /// Changes to the default capability set.
    #[serde(default)]
    pub capabilities: CapabilitySet,
    /// OOM killer bias, -1000..=1000.
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// Resource limits of the process (`--ulimit`); defaults fill in the rest.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
}

fn root_dir() -> PathBuf {
    PathBuf::from("/")
}

/// The identity a process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum User {
    /// Numeric ids, used as they are.
    Id {
        /// User id.
        uid: u32,
        /// Primary group id.
        gid: u32,
        /// Supplementary group ids.
        #[serde(default)]
        additional_gids: Vec<u32>,
    },
    /// Names (or numbers) to resolve against the rootfs's `/etc/passwd` and `/etc/group`, the
    /// way `--user name[:group]` and `--group-add` work.
    Named {
        /// User name or numeric uid.
        user: String,
        /// Group name or numeric gid; `None` takes the user's primary group.
        #[serde(default)]
        group: Option<String>,
        /// Extra groups (names or numbers).
        #[serde(default)]
        additional_groups: Vec<String>,
    },
}

impl Default for User {
    fn default() -> Self {
        User::Id {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
        }
    }
}

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// Capabilities added to or dropped from the default set, by name (`NET_ADMIN` or
/// `CAP_NET_ADMIN`, any case; `ALL` means every capability). Privileged systems ignore this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitySet {
    /// `--cap-add`.
    #[serde(default)]
    pub add: Vec<String>,
    /// `--cap-drop`.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// One POSIX resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Lowercase name without `RLIMIT_` (`nofile`, `nproc`, `core`, ...).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit, at least `soft`.
    pub hard: u64,
}

/// Security settings of the whole system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    /// All capabilities, all devices, no seccomp, no masked or read-only paths.
    #[serde(default)]
    pub privileged: bool,
    /// The syscall filter.
    #[serde(default)]
    pub seccomp: SeccompProfile,
    /// Paths hidden from the system; `None` means the defaults (none when privileged).
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only; `None` means the defaults (none when privileged).
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
}

/// The id mappings of a user namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserNamespace {
    /// User id ranges; at least one.
    pub uid_map: Vec<IdMap>,
    /// Group id ranges; at least one.
    pub gid_map: Vec<IdMap>,
}

/// One range of ids: `size` ids from `container_id` inside map to `host_id` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMap {
    /// First id inside the namespace.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids, at least 1.
    pub size: u32,
}

/// Which syscall filter to apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompProfile {
    /// silo's default allow-list (see [`crate::spec::default_seccomp`]).
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
}
