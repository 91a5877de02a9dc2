//! `docker update`, `docker rename` and `docker container prune`.

use silo_compute::{ResourceUpdate, Resources};
use silo_errdefs::{ErrorKind, HasKind};

use super::error::ContainerError;
use super::lifecycle::validate_restart_policy;
use super::model::{Container, RestartPolicy, Status};
use super::{document, names};
use crate::{Engine, Result};

/// What `docker update` may change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicy>,
}

/// What `container prune` removed.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// Bytes under `dir` (regular files), for `SizeRw` and prune's reclaimed space.
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

impl Engine {
    /// `docker update`: records the new limits and, while the container runs, applies them
    /// to its compute system at once. Returns warnings for the client.
    pub async fn update_container(&self, key: &str, req: UpdateRequest) -> Result<Vec<String>> {
        let id = self.containers.store().find(key)?.id;
        let _guard = self.containers.lock(&id).await;
        let mut c = self.containers.store().find(&id)?;
        let before = document::resources(&c.host_config);
        let hc = &mut c.host_config;
        if let Some(v) = req.memory {
            hc.memory = v;
        }
        if let Some(v) = req.memory_swap {
            hc.extra.memory_swap = v;
        }
        if let Some(v) = req.nano_cpus {
            hc.nano_cpus = v;
        }
        if let Some(v) = req.cpu_shares {
            hc.cpu_shares = v;
        }
        if let Some(v) = req.cpu_quota {
            hc.extra.cpu_quota = v;
        }
        if let Some(v) = req.cpu_period {
            hc.extra.cpu_period = v;
        }
        if let Some(v) = req.pids_limit {
            hc.pids_limit = Some(v);
        }
        if let Some(policy) = req.restart_policy {
            if hc.auto_remove && !matches!(policy.name.as_str(), "" | "no") {
                return Err(ContainerError::InvalidConfig(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                        .to_string(),
                )
                .into());
            }
            validate_restart_policy(&policy, false)?;
            hc.restart_policy = policy;
        }
        if hc.nano_cpus > 0 && (hc.extra.cpu_quota > 0 || hc.extra.cpu_period > 0) {
            return Err(ContainerError::InvalidConfig(
                "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set"
                    .to_string(),
            )
            .into());
        }
        let after = document::resources(&c.host_config);
        after
            .validate()
            .map_err(|e| ContainerError::InvalidConfig(e.to_string()))?;
        let changed = changed_limits(&before, &after);
        if changed != Resources::default() {
            if let Some(system) = self.live_system(&c) {
                match system
                    .modify(ResourceUpdate::Limits { resources: changed })
                    .await
                {
                    Ok(()) => {}
                    // It stopped meanwhile: the record still carries the limits.
                    Err(e) if e.kind() == ErrorKind::FailedPrecondition => {}
                    Err(e) => return Err(ContainerError::from(e).into()),
                }
            }
        }
        self.containers.store().update(&c)?;
        self.events.container("update", &c, &[]);
        Ok(Vec::new())
    }

    /// `docker rename`: Conflict if the name is taken, InvalidArgument if it is the same.
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = names::validate(new_name)?;
        let mut c = self.containers.store().find(key)?;
        if c.name == new_name {
            return Err(ContainerError::InvalidConfig(
                "Renaming a container with the same name as its current name".to_string(),
            )
            .into());
        }
        let store = self.containers.store();
        if let Ok(other) = store.find(&new_name) {
            if other.name == new_name {
                return Err(ContainerError::NameInUse {
                    name: new_name,
                    id: other.id,
                }
                .into());
            }
        }
        let old = std::mem::replace(&mut c.name, new_name);
        store.update(&c)?;
        drop(store);
        self.events
            .container("rename", &c, &[("oldName", old.clone())]);
        Ok(())
    }

    /// `docker container prune`: removes every stopped container `keep` accepts.
    pub async fn prune_containers(&self, keep: impl Fn(&Container) -> bool) -> Result<PruneReport> {
        let candidates: Vec<Container> = self
            .containers
            .store()
            .all()?
            .into_iter()
            .filter(|c| {
                matches!(
                    c.state.status,
                    Status::Exited | Status::Created | Status::Dead
                )
            })
            .filter(|c| keep(c))
            .collect();
        let mut report = PruneReport::default();
        for c in candidates {
            let size = disk_usage(&self.containers.sandboxes.join(&c.id).join("upper"));
            match self.remove_container(&c.id, false).await {
                Ok(()) => {
                    report.deleted.push(c.id);
                    report.space_reclaimed += size;
                }
                // Started or removed meanwhile.
                Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        self.events.prune("container", report.space_reclaimed);
        Ok(report)
    }

    /// `SizeRw`: bytes the container wrote to its sandbox.
    pub fn container_size_rw(&self, c: &Container) -> u64 {
        disk_usage(&self.containers.sandboxes.join(&c.id).join("upper"))
    }
}

/// The limits of `after` that differ from `before`; memory and swap travel together so the
/// backend can order their writes.
fn changed_limits(before: &Resources, after: &Resources) -> Resources {
    let mut out = Resources::default();
    if before.memory_bytes != after.memory_bytes || before.memory_swap != after.memory_swap {
        out.memory_bytes = after.memory_bytes;
        out.memory_swap = after.memory_swap;
    }
    if before.nano_cpus != after.nano_cpus {
        out.nano_cpus = after.nano_cpus;
    }
    if before.cpu_quota != after.cpu_quota {
        out.cpu_quota = after.cpu_quota;
    }
    if before.cpu_period != after.cpu_period {
        out.cpu_period = after.cpu_period;
    }
    if before.cpu_shares != after.cpu_shares {
        out.cpu_shares = after.cpu_shares;
    }
    if before.pids_limit != after.pids_limit {
        // Unset means unlimited.
        out.pids_limit = Some(after.pids_limit.unwrap_or(-1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_limits_are_sent() {
        let before = Resources {
            memory_bytes: Some(32 << 20),
            memory_swap: Some(64 << 20),
            pids_limit: Some(10),
            ..Resources::default()
        };
        let after = Resources {
            memory_bytes: Some(64 << 20),
            memory_swap: Some(128 << 20),
            pids_limit: Some(10),
            cpu_shares: Some(512),
            ..Resources::default()
        };
        let changed = changed_limits(&before, &after);
        assert_eq!(changed.memory_bytes, Some(64 << 20));
        assert_eq!(changed.memory_swap, Some(128 << 20));
        assert_eq!(changed.cpu_shares, Some(512));
        assert_eq!(changed.pids_limit, None);
        assert_eq!(changed_limits(&after, &after), Resources::default());
    }

    #[test]
    fn disk_usage_counts_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 20]).unwrap();
        assert_eq!(disk_usage(dir.path()), 120);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}
