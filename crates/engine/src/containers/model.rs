//! The container record: what `docker create` asked for plus what happened since. This is the
//! persisted form (a plain serde value, stored as JSON in SQLite); the live compute system is a
//! separate object held by the engine and rebuilt from the compute service after a restart.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// 64 lowercase hex characters.
    pub id: String,
    /// Docker's form, with the leading slash: `/web`.
    pub name: String,
    /// `sha256:<hex>` of the image config.
    pub image_id: String,
    /// The image as the client named it (`busybox`, `busybox:latest`, an id).
    pub image_name: String,
    /// What runs, merged with the image's defaults at create time.
    pub config: ContainerConfig,
    /// Limits and policies.
    pub host_config: HostConfig,
    /// When `create` succeeded.
    pub created: DateTime<Utc>,
    /// Where it is in its life.
    pub state: ContainerState,
}

impl Container {
    /// `Path` of Docker's inspect: the program (first of entrypoint + cmd).
    pub fn path(&self) -> &str {
        self.config
            .entrypoint
            .first()
            .or(self.config.cmd.first())
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// `Args` of Docker's inspect: everything after the program.
    pub fn args(&self) -> Vec<String> {
        self.argv().into_iter().skip(1).cloned().collect()
    }

    /// The full argv: entrypoint then cmd.
    pub fn argv(&self) -> Vec<&String> {
        self.config
            .entrypoint
            .iter()
            .chain(self.config.cmd.iter())
            .collect()
    }

    /// The name without its leading slash, as `docker ps` prints it.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

/// The container's process configuration (Docker's `Config` subset silo honours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    /// `KEY=value`, the image's first, overridden by the request's.
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user[:group]`, names or numbers; empty is root.
    pub user: String,
    /// Empty means the first 12 characters of the id.
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    /// Always false for now: the shim has no pty yet.
    pub tty: bool,
}

/// Docker's `HostConfig` subset silo honours or stores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// Bytes; 0 is unlimited.
    pub memory: i64,
    /// Billionths of a cpu; 0 is unlimited.
    pub nano_cpus: i64,
    /// Relative weight; 0 is the default.
    pub cpu_shares: i64,
    /// `None`, 0 or -1 are unlimited.
    pub pids_limit: Option<i64>,
    /// `--rm`: remove once it exits.
    pub auto_remove: bool,
    /// Stored for inspect; not acted on yet.
    pub restart_policy: RestartPolicy,
}

/// `--restart` (stored, not yet honoured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `on-failure`, `unless-stopped`.
    pub name: String,
    pub maximum_retry_count: i64,
}

/// Docker's container statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// The lowercase name Docker uses in `State.Status` and `ps` filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a first process may be alive (and must be stopped before removal).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// Docker's `State`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// Host pid of the first process while it runs, else 0.
    pub pid: u32,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// Why the container failed to start or was lost, else empty.
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What the client asked `create` for, before image defaults are merged in.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Image reference or id.
    pub image: String,
    /// `None` takes the image's.
    pub cmd: Option<Vec<String>>,
    /// `None` takes the image's; setting it also drops the image's cmd, as in Docker.
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub host_config: HostConfig,
}

/// Which phase of `stop` ended the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopPhase {
    /// The stop signal sufficed.
    Signal,
    /// The timeout ran out and the container was killed.
    Kill,
}

/// One line of `docker logs`.
pub use silo_shim::logs::LogLine;
/// Which stream a log line came from.
pub use silo_shim::logs::Stream as LogStream;
