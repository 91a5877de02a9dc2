//! Reading a container's cgroup: its processes and resource usage, for `properties`.
//!
//! The runtime creates the cgroup at `linux.cgroupsPath` (`/silo/<id>`, see [`crate::spec`]) on
//! every hierarchy. Which files hold the figures depends on the host's layout, detected once as
//! [`CgroupInfo`]: on legacy and hybrid hosts the runtime uses the v1 controllers (the cgroup2
//! hierarchy of a hybrid host has no controllers enabled), on unified hosts cgroup2.
//!
//! Only reads: the runtime creates and removes the cgroup. A missing file yields no figure
//! rather than an error, because a container may stop between two reads.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::host::{CgroupInfo, CgroupSetup};
use crate::properties::{CpuStats, MemoryStats, PidsStats, ProcessDetails, Statistics};

/// v1 reports "no limit" as a page-rounded `i64::MAX`.
const V1_UNLIMITED: u64 = 1 << 62;
/// Nanoseconds per USER_HZ tick in `cpuacct.stat` (USER_HZ is 100 on Linux).
const NANOS_PER_TICK: u64 = 10_000_000;

/// Where one container's cgroup lives on this host.
#[derive(Debug, Clone)]
pub enum CgroupDirs {
    /// One directory per v1 controller (legacy and hybrid hosts).
    V1 {
        /// `<memory mount>/silo/<id>`.
        memory: Option<PathBuf>,
        /// `<cpuacct mount>/silo/<id>`.
        cpuacct: Option<PathBuf>,
        /// `<cpu mount>/silo/<id>`.
        cpu: Option<PathBuf>,
        /// `<pids mount>/silo/<id>`.
        pids: Option<PathBuf>,
    },
    /// The single cgroup2 directory.
    V2(PathBuf),
}

impl CgroupDirs {
    /// The directories of the cgroup at `rel` (`silo/<id>`, no leading `/`).
    pub fn new(info: &CgroupInfo, rel: &str) -> Self {
        match (info.setup, &info.v2_root) {
            (CgroupSetup::Unified, Some(root)) => CgroupDirs::V2(root.join(rel)),
            _ => {
                let dir = |c: &str| info.v1_controllers.get(c).map(|m| m.join(rel));
                CgroupDirs::V1 {
                    memory: dir("memory"),
                    cpuacct: dir("cpuacct"),
                    cpu: dir("cpu"),
                    pids: dir("pids"),
                }
            }
        }
    }

    /// Pids (host) of every task in the cgroup, sorted; empty once the cgroup is gone.
    pub fn pids(&self) -> Vec<u32> {
        let dirs: Vec<&PathBuf> = match self {
            CgroupDirs::V2(d) => vec![d],
            CgroupDirs::V1 {
                pids, memory, cpu, ..
            } => [pids, memory, cpu].into_iter().flatten().collect(),
        };
        for dir in dirs {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                let mut pids: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
                pids.sort_unstable();
                return pids;
            }
        }
        Vec::new()
    }

    /// The processes in the cgroup with their parent, uid and command line.
    pub fn processes(&self) -> Vec<ProcessDetails> {
        self.pids()
            .into_iter()
            .filter_map(process_details)
            .collect()
    }

    /// Memory, cpu and pids figures now.
    pub fn statistics(&self) -> Statistics {
        let (memory, cpu, pids) = match self {
            CgroupDirs::V2(d) => (v2_memory(d), v2_cpu(d), pids_stats(Some(d))),
            CgroupDirs::V1 {
                memory,
                cpuacct,
                cpu,
                pids,
            } => (
                memory.as_deref().map(v1_memory).unwrap_or_default(),
                v1_cpu(cpuacct.as_deref(), cpu.as_deref()),
                pids_stats(pids.as_deref()),
            ),
        };
        Statistics {
            timestamp: Utc::now(),
            memory,
            cpu,
            pids,
        }
    }
}

/// A limit file that could not be written.
#[derive(Debug)]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), WriteError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|source| WriteError { path, source })
}

impl CgroupDirs {
    /// Writes the limits that are `Some` into the live cgroup (`docker update`). Memory and
    /// memory+swap are written in the order the kernel accepts: v1 refuses a memory limit
    /// above memory+swap, so when one write fails the other goes first.
    pub fn apply(&self, r: &crate::document::Resources) -> Result<(), WriteError> {
        use crate::spec::resources::{nano_cpus_to_quota, DEFAULT_CPU_PERIOD_US};
        let (quota, period) = match r.nano_cpus {
            Some(nano) => (Some(nano_cpus_to_quota(nano)), Some(DEFAULT_CPU_PERIOD_US)),
            None => (r.cpu_quota, r.cpu_period),
        };
        match self {
            CgroupDirs::V1 {
                memory, cpu, pids, ..
            } => {
                if let Some(dir) = memory {
                    let mem = r.memory_bytes.map(|m| m.to_string());
                    let swap = r.memory_swap.map(|m| m.to_string());
                    let set = |m: &Option<String>, s: &Option<String>| -> Result<(), WriteError> {
                        if let Some(m) = m {
                            write(dir, "memory.limit_in_bytes", m)?;
                        }
                        if let Some(s) = s {
                            write(dir, "memory.memsw.limit_in_bytes", s)?;
                        }
                        Ok(())
                    };
                    if set(&mem, &swap).is_err() {
                        set(&None, &swap)?;
                        set(&mem, &None)?;
                    }
                }
                if let Some(dir) = cpu {
                    if let Some(p) = period {
                        write(dir, "cpu.cfs_period_us", &p.to_string())?;
                    }
                    if let Some(q) = quota {
                        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                    }
                    if let Some(shares) = r.cpu_shares {
                        write(dir, "cpu.shares", &shares.to_string())?;
                    }
                }
                if let (Some(dir), Some(limit)) = (pids, r.pids_limit) {
                    let value = if limit <= 0 {
                        "max".to_string()
                    } else {
                        limit.to_string()
                    };
                    write(dir, "pids.max", &value)?;
                }
            }
            CgroupDirs::V2(dir) => {
                let max = |v: i64| {
                    if v < 0 {
                        "max".to_string()
                    } else {
                        v.to_string()
                    }
                };
                if let Some(m) = r.memory_bytes {
                    write(dir, "memory.max", &max(m))?;
                    if let Some(s) = r.memory_swap {
                        // v2 limits swap alone: memory+swap minus memory.
                        let swap = if s < 0 { -1 } else { (s - m).max(0) };
                        write(dir, "memory.swap.max", &max(swap))?;
                    }
                }
                if quota.is_some() || period.is_some() {
                    let q = quota.map_or("max".to_string(), |q| q.to_string());
                    let p = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
                    write(dir, "cpu.max", &format!("{q} {p}"))?;
                }
                if let Some(shares) = r.cpu_shares {
                    // runc's conversion of v1 shares (2..262144) to v2 weight (1..10000).
                    let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                    write(dir, "cpu.weight", &weight.to_string())?;
                }
                if let Some(limit) = r.pids_limit {
                    let value = if limit <= 0 {
                        "max".to_string()
                    } else {
                        limit.to_string()
                    };
                    write(dir, "pids.max", &value)?;
                }
            }
        }
        Ok(())
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`, `memory.oom_control`).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A v2 limit file: a number, or `max` for none.
fn v2_limit(path: &Path) -> Option<u64> {
    read_u64(path)
}

fn v1_memory(dir: &Path) -> MemoryStats {
    MemoryStats {
        usage: read_u64(&dir.join("memory.usage_in_bytes")).unwrap_or(0),
        max_usage: read_u64(&dir.join("memory.max_usage_in_bytes")),
        limit: read_u64(&dir.join("memory.limit_in_bytes")).filter(|&l| l < V1_UNLIMITED),
        oom_kills: keyed(&dir.join("memory.oom_control"), "oom_kill").unwrap_or(0),
    }
}

fn v2_memory(dir: &Path) -> MemoryStats {
    MemoryStats {
        usage: read_u64(&dir.join("memory.current")).unwrap_or(0),
        max_usage: read_u64(&dir.join("memory.peak")),
        limit: v2_limit(&dir.join("memory.max")),
        oom_kills: keyed(&dir.join("memory.events"), "oom_kill").unwrap_or(0),
    }
}

fn v1_cpu(cpuacct: Option<&Path>, cpu: Option<&Path>) -> CpuStats {
    let mut stats = CpuStats::default();
    if let Some(d) = cpuacct {
        stats.usage_nanos = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
        let stat = d.join("cpuacct.stat");
        stats.user_nanos = keyed(&stat, "user").unwrap_or(0) * NANOS_PER_TICK;
        stats.system_nanos = keyed(&stat, "system").unwrap_or(0) * NANOS_PER_TICK;
    }
    if let Some(d) = cpu {
        let stat = d.join("cpu.stat");
        stats.throttled_periods = keyed(&stat, "nr_throttled").unwrap_or(0);
        stats.throttled_nanos = keyed(&stat, "throttled_time").unwrap_or(0);
    }
    stats
}

fn v2_cpu(dir: &Path) -> CpuStats {
    let stat = dir.join("cpu.stat");
    let usec = |key| keyed(&stat, key).unwrap_or(0) * 1000;
    CpuStats {
        usage_nanos: usec("usage_usec"),
        user_nanos: usec("user_usec"),
        system_nanos: usec("system_usec"),
        throttled_periods: keyed(&stat, "nr_throttled").unwrap_or(0),
        throttled_nanos: usec("throttled_usec"),
    }
}

fn pids_stats(dir: Option<&Path>) -> PidsStats {
    let Some(dir) = dir else {
        return PidsStats::default();
    };
    PidsStats {
        current: read_u64(&dir.join("pids.current")).unwrap_or(0),
        limit: v2_limit(&dir.join("pids.max")),
    }
}

/// Reads `/proc/<pid>`; `None` if the process exited meanwhile.
fn process_details(pid: u32) -> Option<ProcessDetails> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let status = fs::read_to_string(proc_dir.join("status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let ppid = field("PPid:")?.parse().ok()?;
    // "Uid:\treal\teffective\tsaved\tfs"
    let uid = field("Uid:")?.split_whitespace().nth(1)?.parse().ok()?;
    let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let command = if args.is_empty() {
        field("Name:").unwrap_or_default().to_string()
    } else {
        args.join(" ")
    };
    Some(ProcessDetails {
        pid,
        ppid,
        uid,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn v1_and_v2_files_are_read() {
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory/silo/c1");
        fs::create_dir_all(&mem).unwrap();
        fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        fs::write(mem.join("memory.oom_control"), "under_oom 0\noom_kill 2\n").unwrap();
        fs::write(mem.join("cgroup.procs"), "12\n7\n").unwrap();
        let info = CgroupInfo {
            setup: CgroupSetup::Hybrid,
            v2_root: Some(root.path().join("unified")),
            v1_controllers: BTreeMap::from([("memory".into(), root.path().join("memory"))]),
        };
        let dirs = CgroupDirs::new(&info, "silo/c1");
        assert_eq!(dirs.pids(), [7, 12]);
        let stats = dirs.statistics();
        assert_eq!(stats.memory.usage, 4096);
        assert_eq!(stats.memory.limit, None);
        assert_eq!(stats.memory.oom_kills, 2);

        let v2 = root.path().join("v2/silo/c1");
        fs::create_dir_all(&v2).unwrap();
        fs::write(v2.join("memory.current"), "8192\n").unwrap();
        fs::write(v2.join("memory.max"), "max\n").unwrap();
        fs::write(v2.join("pids.current"), "3\n").unwrap();
        fs::write(v2.join("pids.max"), "100\n").unwrap();
        fs::write(v2.join("cpu.stat"), "usage_usec 5\nuser_usec 3\n").unwrap();
        let stats = CgroupDirs::V2(v2).statistics();
        assert_eq!(stats.memory.usage, 8192);
        assert_eq!(stats.memory.limit, None);
        assert_eq!(stats.pids.current, 3);
        assert_eq!(stats.pids.limit, Some(100));
        assert_eq!(stats.cpu.usage_nanos, 5000);
        assert_eq!(stats.cpu.user_nanos, 3000);
    }

    #[test]
    fn limits_are_written_to_v1_and_v2_files() {
        let root = tempfile::tempdir().unwrap();
        let (mem, cpu, pids) = (
            root.path().join("m"),
            root.path().join("c"),
            root.path().join("p"),
        );
        for d in [&mem, &cpu, &pids] {
            fs::create_dir_all(d).unwrap();
        }
        let dirs = CgroupDirs::V1 {
            memory: Some(mem.clone()),
            cpuacct: None,
            cpu: Some(cpu.clone()),
            pids: Some(pids.clone()),
        };
        let r = crate::document::Resources {
            memory_bytes: Some(64 << 20),
            memory_swap: Some(128 << 20),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(-1),
            ..Default::default()
        };
        dirs.apply(&r).unwrap();
        let read = |p: PathBuf| fs::read_to_string(p).unwrap();
        assert_eq!(
            read(mem.join("memory.limit_in_bytes")),
            (64 << 20).to_string()
        );
        assert_eq!(
            read(mem.join("memory.memsw.limit_in_bytes")),
            (128 << 20).to_string()
        );
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(cpu.join("cpu.shares")), "512");
        assert_eq!(read(pids.join("pids.max")), "max");

        let v2 = root.path().join("v2");
        fs::create_dir_all(&v2).unwrap();
        CgroupDirs::V2(v2.clone()).apply(&r).unwrap();
        assert_eq!(read(v2.join("memory.max")), (64 << 20).to_string());
        assert_eq!(read(v2.join("memory.swap.max")), (64 << 20).to_string());
        assert_eq!(read(v2.join("cpu.max")), "50000 100000");
        // Only what is set is touched.
        let untouched = CgroupDirs::V2(root.path().join("missing"));
        untouched
            .apply(&crate::document::Resources::default())
            .unwrap();
    }

    #[test]
    fn own_process_details_are_read() {
        let me = process_details(std::process::id()).unwrap();
        assert!(me.ppid > 0);
        assert!(!me.command.is_empty());
    }
}
