//! What the host offers, detected once at daemon start and passed down (no global state): the
//! cgroup layout. Backends dispatch on [`CgroupSetup`] instead of probing paths on every call.
//!
//! Detection reads `/proc/self/mountinfo` rather than guessing from paths, because hosts differ:
//! this project's machines are hybrid (v1 controllers under `/sys/fs/cgroup/*`, cgroup2 at
//! `/sys/fs/cgroup/unified`), current distributions are unified, old ones legacy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use silo_errdefs::{ErrorKind, HasKind};

/// Where cgroups are conventionally mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupSetup {
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// v1 hierarchies for the controllers, plus a cgroup2 hierarchy beside them.
    Hybrid,
    /// Only cgroup2, mounted at the cgroup root.
    Unified,
}

/// The cgroup mounts found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupInfo {
    /// The layout.
    pub setup: CgroupSetup,
    /// Mount point of the cgroup2 hierarchy, if any.
    pub v2_root: Option<PathBuf>,
    /// v1 controller (or `name=` hierarchy) → its mount point. Co-mounted controllers
    /// (`cpu,cpuacct`) each map to the shared mount point.
    pub v1_controllers: BTreeMap<String, PathBuf>,
}

/// Why the host could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A `/proc` file could not be read (Internal).
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No cgroup filesystem is mounted: containers cannot be limited (Unavailable).
    #[error("no cgroup filesystem is mounted")]
    NoCgroups,
}

impl HasKind for HostError {
    fn kind(&self) -> ErrorKind {
        match self {
            HostError::Read { .. } => ErrorKind::Internal,
            HostError::NoCgroups => ErrorKind::Unavailable,
        }
    }
}

impl CgroupInfo {
    /// Reads this process's mount table.
    pub fn detect() -> Result<CgroupInfo, HostError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| HostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        CgroupInfo::from_mountinfo(&text)
    }

    /// Classifies the cgroup mounts in `mountinfo` text (the `/proc/<pid>/mountinfo` format).
    pub fn from_mountinfo(mountinfo: &str) -> Result<CgroupInfo, HostError> {
        let mut v2_mounts = Vec::new();
        let mut v1_controllers = BTreeMap::new();
        for entry in mountinfo.lines().filter_map(parse_line) {
            match entry.fstype {
                "cgroup2" => v2_mounts.push(entry.mount_point),
                "cgroup" => {
                    for option in entry.super_options.split(',') {
                        // Super options hold rw/ro and mount flags besides the controllers.
                        if matches!(
                            option,
                            "rw" | "ro" | "xattr" | "noprefix" | "clone_children"
                        ) || option.starts_with("release_agent=")
                            || option.is_empty()
                        {
                            continue;
                        }
                        v1_controllers
                            .entry(option.to_string())
                            .or_insert_with(|| entry.mount_point.clone());
                    }
                }
                _ => {}
            }
        }
        let root = Path::new(CGROUP_ROOT);
        let v2_root = v2_mounts
            .iter()
            .find(|p| *p == root)
            .or_else(|| v2_mounts.first())
            .cloned();
        let setup = match (&v2_root, v1_controllers.is_empty()) {
            (Some(v2), _) if v2 == root => CgroupSetup::Unified,
            (Some(_), false) => CgroupSetup::Hybrid,
            (Some(_), true) => CgroupSetup::Unified,
            (None, false) => CgroupSetup::Legacy,
            (None, true) => return Err(HostError::NoCgroups),
        };
        Ok(CgroupInfo {
            setup,
            v2_root,
            v1_controllers,
        })
    }
}

struct MountEntry<'a> {
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// `id parent major:minor root mount_point options [optional...] - fstype source super_options`
fn parse_line(line: &str) -> Option<MountEntry<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = unescape(left.split(' ').nth(4)?);
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next()?;
    let super_options = right.next().unwrap_or("");
    Some(MountEntry {
        mount_point: PathBuf::from(mount_point),
        fstype,
        super_options,
    })
}

/// The kernel writes space, tab, newline and backslash in mount points as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
