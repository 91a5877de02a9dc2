//! The values exchanged with a live system: property queries and answers, modify requests,
//! stdio wiring and the summary `list` returns. Plain serde types so they can cross the shim
//! protocol and be printed by `silo compute inspect`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::document::{Isolation, Mount, Resources};
use crate::state::{ExitStatus, State};

/// What [`crate::ComputeSystem::properties`] should gather beyond the always-cheap basics;
/// the process list and statistics cost a cgroup walk, so callers ask for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyQuery {
    /// Fill [`Properties::process_list`].
    #[serde(default)]
    pub process_list: bool,
    /// Fill [`Properties::statistics`].
    #[serde(default)]
    pub statistics: bool,
}

/// What `silo compute inspect` shows about one system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties {
    /// The system's id.
    pub id: String,
    /// Its owner.
    pub owner: String,
    /// Its backend.
    pub isolation: Isolation,
    /// Its state now.
    pub state: State,
    /// Pid of the first process (host pid for process isolation), once started.
    pub pid: Option<u32>,
    /// When `start` succeeded.
    pub started_at: Option<DateTime<Utc>>,
    /// How it ended, once Stopped.
    pub exit_status: Option<ExitStatus>,
    /// Processes inside, when asked for.
    pub process_list: Option<Vec<ProcessDetails>>,
    /// Resource usage, when asked for (and the system has a cgroup).
    pub statistics: Option<Statistics>,
}

/// One process inside a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessDetails {
    /// Pid as the backend addresses it (host pid for process isolation).
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Effective uid inside the system.
    pub uid: u32,
    /// argv joined with spaces (or the short name when argv is empty).
    pub command: String,
}

/// Resource usage sampled at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// When the sample was taken.
    pub timestamp: DateTime<Utc>,
    /// Memory cgroup figures.
    pub memory: MemoryStats,
    /// Cpu cgroup figures.
    pub cpu: CpuStats,
    /// Pids cgroup figures.
    pub pids: PidsStats,
}

/// Memory usage in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Current usage.
    pub usage: u64,
    /// Peak usage, where the cgroup version reports it.
    pub max_usage: Option<u64>,
    /// The limit in force (`None` when unlimited).
    pub limit: Option<u64>,
    /// Times the OOM killer ran.
    pub oom_kills: u64,
}

/// Cpu time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// Total cpu time used.
    pub usage_nanos: u64,
    /// Of which in user mode.
    pub user_nanos: u64,
    /// Of which in kernel mode.
    pub system_nanos: u64,
    /// Periods in which the quota was exhausted.
    pub throttled_periods: u64,
    /// Time spent throttled.
    pub throttled_nanos: u64,
}

/// Task counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PidsStats {
    /// Tasks alive now.
    pub current: u64,
    /// The limit in force (`None` when unlimited).
    pub limit: Option<u64>,
}

/// A change to a live system — one typed enum rather than an untyped settings blob, so every
/// backend must say which requests it handles (others fail with NotImplemented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "request")]
pub enum ResourceUpdate {
    /// Replace the limits that are `Some`; `None` fields stay as they are (`docker update`).
    Limits {
        /// The new limits.
        resources: Resources,
    },
    /// Add a mount to a running system.
    AddMount {
        /// The mount to add.
        mount: Mount,
    },
    /// Remove a mount added earlier.
    RemoveMount {
        /// Its destination inside the system.
        destination: PathBuf,
    },
}

/// Where a process's standard streams go: paths of FIFOs or unix sockets that the caller created
/// and the backend opens. Paths rather than file descriptors because the streams must survive a
/// daemon restart (the shim keeps them open) and cross into a VM's guest agent. `None` is
/// `/dev/null`. With a terminal, `stdout` carries the terminal's output and `stderr` is unused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stdio {
    /// Read by the process.
    #[serde(default)]
    pub stdin: Option<PathBuf>,
    /// Written by the process.
    #[serde(default)]
    pub stdout: Option<PathBuf>,
    /// Written by the process.
    #[serde(default)]
    pub stderr: Option<PathBuf>,
}

/// One line of `silo compute ls` (the `hcsdiag list` analog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemSummary {
    /// The system's id.
    pub id: String,
    /// Its owner.
    pub owner: String,
    /// Its backend.
    pub isolation: Isolation,
    /// Its state now.
    pub state: State,
}
