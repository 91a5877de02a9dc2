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
    /// The networks it joins when it starts, by the name the client used, in join order (the
    /// network mode's network first). Empty for `none`, `host` and `container:` modes.
    #[serde(default)]
    pub networks: Vec<NetworkAttachment>,
}

/// One network a container joins, with what the client asked of its endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// The network's id (names can be reused after a removal).
    pub network_id: String,
    /// The name the client used, as Docker shows it under `NetworkSettings.Networks`.
    pub name: String,
    pub settings: EndpointSettings,
}

/// What a client may ask of an endpoint (`--ip`, `--ip6`, `--network-alias`, `--mac-address`,
/// `--driver-opt`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    pub ipv4: Option<std::net::Ipv4Addr>,
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub aliases: Vec<String>,
    pub mac: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
}

/// One host side of a published port (`-p [ip:]host:container`); an empty port is ephemeral.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
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
    /// `-t`: the first process gets a terminal; its output is one raw stream.
    pub tty: bool,
    /// `-i`: keep stdin open so clients can attach to it.
    #[serde(default)]
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client ends its input.
    #[serde(default)]
    pub stdin_once: bool,
    /// Which streams `docker run` (attached) asked for; shown by inspect.
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    /// Initial terminal size (columns, rows), Docker's `HostConfig.ConsoleSize`.
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
    /// `--stop-signal` / the image's `StopSignal`; empty is SIGTERM.
    #[serde(default)]
    pub stop_signal: String,
    /// `--stop-timeout` in seconds; `None` is 10.
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// `8080/tcp` and the like: the image's `EXPOSE` and `--expose` (what `-P` publishes).
    #[serde(default)]
    pub exposed_ports: Vec<String>,
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
    /// `--restart`, honoured by the exit monitor and at daemon start.
    pub restart_policy: RestartPolicy,
    /// `--init` as the client sent it (`HostConfig.Init`); `None` and `Some(true)` both run
    /// silo-init as PID 1 (see `containers::document`), `Some(false)` runs the command as PID 1.
    #[serde(default)]
    pub init: Option<bool>,
    /// The rest of what silo honours; `#[serde(default)]` keeps older records readable.
    #[serde(default)]
    pub extra: HostOptions,
}

/// Create options beyond the original subset, each mapped onto the compute document by
/// `containers::document`. Zero / empty means "not set", as in Docker's API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostOptions {
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add` / `--cap-drop` (names as given).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt` as given (for inspect).
    pub security_opt: Vec<String>,
    /// `--security-opt seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// `MaskedPaths` / `ReadonlyPaths` (`--security-opt systempaths=unconfined` sends both
    /// empty); `None` keeps the defaults.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--tmpfs` / HostConfig.Tmpfs: destination → mount options (`size=64m,mode=1777`).
    pub tmpfs: BTreeMap<String, String>,
    /// `--memory-swap` in bytes; 0 is Docker's default (twice the memory), -1 unlimited.
    pub memory_swap: i64,
    /// `--cpu-quota` (µs) and `--cpu-period` (µs); 0 is unset.
    pub cpu_quota: i64,
    pub cpu_period: i64,
    /// `--oom-score-adj`.
    pub oom_score_adj: i64,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--shm-size` in bytes; 0 is Docker's 64 MiB.
    pub shm_size: i64,
    /// `--log-opt` merged over daemon.json's `log-opts` at create (`max-size`, `max-file`).
    pub log_opts: BTreeMap<String, String>,
    /// `--isolation` resolved at create (`process`).
    pub isolation: String,
    /// `--network`: empty (the default network), a network name or id, `none`, `host` or
    /// `container:<name|id>` (stored with the id).
    pub network_mode: String,
    /// `-p`: `8080/tcp` → host sides.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    pub publish_all_ports: bool,
    /// `--dns`, `--dns-search`, `--dns-option`: written to the container's resolv.conf.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host name:ip`: appended to the container's /etc/hosts.
    pub extra_hosts: Vec<String>,
}

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `--restart`.
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
    /// How the last run ended, in the compute service's words: `GracefulExit` (it exited by
    /// itself or on the stop signal), `ForcedExit` (killed: `stop` timed out, `kill -9`, `rm
    /// -f`) or `UnexpectedExit` (OOM, lost). Shown by inspect as `State.SiloExitType`.
    #[serde(default)]
    pub exit_type: Option<String>,
    /// Times the restart policy restarted it (inspect's `RestartCount`).
    #[serde(default)]
    pub restart_count: i64,
    /// `stop`/`kill` by a user since the last start: the restart policy stays quiet, and an
    /// `unless-stopped` container stays down across daemon restarts.
    #[serde(default)]
    pub manually_stopped: bool,
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
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// Columns, rows.
    pub console_size: Option<(u16, u16)>,
    /// `None` takes the image's.
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// `--expose` and the like (`8080/tcp`), added to the image's.
    pub exposed_ports: Vec<String>,
    /// `NetworkingConfig.EndpointsConfig`: network name → endpoint settings.
    pub endpoints: BTreeMap<String, EndpointSettings>,
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
