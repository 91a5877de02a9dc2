//! `top`, `stats` and the compute-system views behind `silo compute ls/inspect`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use silo_compute::{Properties, PropertyQuery, SystemSummary};

use super::error::ContainerError;
use crate::{Engine, Result};

/// `docker top`: the host's `ps` header and the rows of the container's processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One resource sample of a container, in Docker's units (bytes, nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStats {
    pub id: String,
    /// With the leading slash.
    pub name: String,
    pub read: Option<DateTime<Utc>>,
    pub running: bool,
    pub cpu_total: u64,
    pub cpu_user: u64,
    pub cpu_system: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    /// All cpus of the host since boot (`/proc/stat`), in nanoseconds.
    pub system_cpu: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    /// The cgroup's limit, or the host's memory when unlimited (as Docker reports it).
    pub memory_limit: u64,
    pub oom_kills: u64,
    pub pids_current: u64,
    pub pids_limit: Option<u64>,
}

/// Docker's `parsePSOutput`: the header's fields are the titles; a row is kept when its PID
/// column is one of `pids`, and fields beyond the header's count are joined into the last one
/// (the command line).
pub fn parse_ps(output: &str, pids: &[u32]) -> std::result::Result<TopOutput, String> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_index).and_then(|p| p.parse::<u32>().ok()) else {
            return Err(format!("Unexpected pid in ps output: {line:?}"));
        };
        if !pids.contains(&pid) {
            continue;
        }
        let keep = titles.len().saturating_sub(1).min(fields.len());
        let mut row: Vec<String> = fields[..keep].iter().map(|s| s.to_string()).collect();
        row.push(fields[keep..].join(" "));
        processes.push(row);
    }
    Ok(TopOutput { titles, processes })
}

/// Total cpu time of the host since boot in nanoseconds, Docker's `system_cpu_usage`: the
/// first line of `/proc/stat` (user … softirq, in USER_HZ ticks).
fn system_cpu_nanos() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks.saturating_mul(10_000_000)
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

impl Engine {
    /// `docker top`: Conflict unless the container runs.
    pub async fn top_container(&self, key: &str, ps_args: &str) -> Result<TopOutput> {
        let c = self.containers.store().find(key)?;
        let Some(system) = self.live_system(&c) else {
            return Err(ContainerError::State(format!("Container {} is not running", c.id)).into());
        };
        let props = system
            .properties(PropertyQuery {
                process_list: true,
                statistics: false,
            })
            .await
            .map_err(ContainerError::from)?;
        let pids: Vec<u32> = props
            .process_list
            .unwrap_or_default()
            .iter()
            .map(|p| p.pid)
            .collect();
        let args: Vec<String> = ps_args.split_whitespace().map(str::to_string).collect();
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|source| ContainerError::Io {
                action: "run",
                path: "ps".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(ContainerError::InvalidConfig(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .into());
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
            .map_err(|e| ContainerError::State(format!("Error running top: {e}")).into())
    }

    /// One `docker stats` sample; zeros when the container does not run.
    pub async fn container_stats(&self, key: &str) -> Result<ContainerStats> {
        let c = self.containers.store().find(key)?;
        let mut out = ContainerStats {
            id: c.id.clone(),
            name: c.name.clone(),
            ..ContainerStats::default()
        };
        let Some(system) = self.live_system(&c) else {
            return Ok(out);
        };
        let props = system
            .properties(PropertyQuery {
                process_list: false,
                statistics: true,
            })
            .await
            .map_err(ContainerError::from)?;
        let Some(stats) = props.statistics else {
            return Ok(out);
        };
        out.read = Some(stats.timestamp);
        out.running = true;
        out.cpu_total = stats.cpu.usage_nanos;
        out.cpu_user = stats.cpu.user_nanos;
        out.cpu_system = stats.cpu.system_nanos;
        out.throttled_periods = stats.cpu.throttled_periods;
        out.throttled_time = stats.cpu.throttled_nanos;
        out.system_cpu = system_cpu_nanos();
        out.online_cpus = online_cpus();
        out.memory_usage = stats.memory.usage;
        out.memory_max_usage = stats.memory.max_usage.unwrap_or_default();
        out.memory_limit = stats.memory.limit.unwrap_or_else(host_memory);
        out.oom_kills = stats.memory.oom_kills;
        out.pids_current = stats.pids.current;
        out.pids_limit = stats.pids.limit;
        Ok(out)
    }

    /// How often `docker stats` streams a sample.
    pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

    /// `GET /compute/systems`: every compute system the compute service knows.
    pub async fn compute_systems(&self) -> Result<Vec<SystemSummary>> {
        let runtime = self.containers.runtime()?;
        Ok(runtime.compute.list().await.map_err(ContainerError::from)?)
    }

    /// `GET /compute/systems/{id}`: one system's summary and full properties (process list
    /// and statistics). NotFound for an unknown id.
    pub async fn compute_system(&self, id: &str) -> Result<(SystemSummary, Properties)> {
        let runtime = self.containers.runtime()?;
        // A system is named by its container's id; a container name or id prefix finds it too.
        let found = self.containers.store().find(id).map(|c| c.id);
        let id = found.as_deref().unwrap_or(id);
        let system = match self.containers.system(id) {
            Some(system) => system,
            None => runtime
                .compute
                .open(id)
                .await
                .map_err(ContainerError::from)?,
        };
        let props = system
            .properties(PropertyQuery {
                process_list: true,
                statistics: true,
            })
            .await
            .map_err(ContainerError::from)?;
        let summary = SystemSummary {
            id: props.id.clone(),
            owner: props.owner.clone(),
            isolation: props.isolation,
            state: props.state,
        };
        Ok((summary, props))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid_and_commands_joined() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 1000\n\
                   root 43 42 0 10:01 ? 00:00:00 sh -c echo hi\n";
        let top = parse_ps(out, &[42, 43]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[0][1], "42");
        assert_eq!(top.processes[0][7], "sleep 1000");
        assert_eq!(top.processes[1][7], "sh -c echo hi");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn host_figures_are_sane() {
        assert!(system_cpu_nanos() > 0);
        assert!(host_memory() > 0);
        assert!(online_cpus() >= 1);
    }
}
