//! A new compute system for a container that ran before (`start` of an exited container,
//! `restart`, the restart policy).
//!
//! A Stopped compute system is never restarted (see `silo_compute`): the engine deletes it and
//! creates a new one from the same record. Deleting a system releases its sandbox and its
//! state directory, so what must outlive a run is moved aside first and put back after:
//!
//! - `<sandbox>/upper`, the container's writes, is parked at `<sandboxes>/<id>.upper` and
//!   returned before `create` mounts the overlay again over it;
//! - the json-file log (`log.json`, rotated `log.json.N`) is parked at `<sandboxes>/<id>.logs`;
//!   after `create` the rotated files are moved back and the old `log.json` is prepended to
//!   the new one (the new shim opened it for appending and nothing has run yet), so `docker
//!   logs` shows every run, as with Docker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use silo_compute::{ComputeSystem, Stdio};
use silo_errdefs::{ErrorKind, HasKind};

use super::document;
use super::error::{io, ContainerError};
use super::model::Container;
use crate::{Engine, Result};

const LOG_FILE: &str = silo_shim::logs::LOG_FILE;

impl Engine {
    /// Every directory the engine keeps for container `id`: its sandbox and the parked upper
    /// directory and logs of a respawn in progress.
    pub(super) fn sandbox_dirs(&self, id: &str) -> [PathBuf; 4] {
        let root = &self.containers.sandboxes;
        [
            root.join(id),
            root.join(format!("{id}.upper")),
            root.join(format!("{id}.logs")),
            self.name_files_dir(id),
        ]
    }

    /// Replaces the stopped compute system of `c` with a new, Created one. The caller holds
    /// the container's lock.
    pub(super) async fn respawn(&self, c: &Container) -> Result<Arc<dyn ComputeSystem>> {
        let containers = &self.containers;
        let runtime = containers.runtime()?.clone();
        let image = self.images.find(&c.image_id)?;
        let layers = self.image_rootfs(&image)?;
        let [sandbox, parked_upper, parked_logs, _] = self.sandbox_dirs(&c.id);
        let namespace = self.namespace_for(c)?;
        let name_files = self.name_file_mounts(c)?;
        let doc = document::build(c, layers, sandbox.clone(), namespace, name_files)?;
        let state_dir = runtime.state_root.join(&c.id);

        let held = containers.systems().remove(&c.id);
        let old = match held {
            Some(system) => Some(system),
            None => match runtime.compute.open(&c.id).await {
                Ok(system) => Some(system),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(ContainerError::from(e).into()),
            },
        };
        if let Some(old) = old {
            park(&sandbox.join("upper"), &parked_upper)?;
            park_logs(&state_dir, &parked_logs)?;
            match old.delete().await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(ContainerError::from(e).into()),
            }
        }
        if parked_upper.exists() {
            std::fs::create_dir_all(&sandbox).map_err(io("create", &sandbox))?;
            let upper = sandbox.join("upper");
            std::fs::rename(&parked_upper, &upper).map_err(io("restore", &upper))?;
        }
        let system = runtime
            .compute
            .create(doc, Stdio::default())
            .await
            .map_err(ContainerError::from)?;
        if let Err(e) = restore_logs(&parked_logs, &state_dir) {
            tracing::warn!("restore logs of container {}: {e}", c.id);
        }
        containers.systems().insert(c.id.clone(), system.clone());
        Ok(system)
    }
}

/// Moves `from` to `to` if it exists (a leftover `to` from an interrupted respawn wins).
fn park(from: &Path, to: &Path) -> std::result::Result<(), ContainerError> {
    if !from.exists() || to.exists() {
        return Ok(());
    }
    std::fs::rename(from, to).map_err(io("park", from))
}

/// Moves `log.json*` out of the state directory into `to`.
fn park_logs(state_dir: &Path, to: &Path) -> std::result::Result<(), ContainerError> {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(LOG_FILE) {
            continue;
        }
        std::fs::create_dir_all(to).map_err(io("create", to))?;
        let target = to.join(&name);
        if target.exists() {
            continue;
        }
        std::fs::rename(entry.path(), &target).map_err(io("park", &entry.path()))?;
    }
    Ok(())
}

/// Puts parked logs back into the new state directory, then removes the parking place.
fn restore_logs(from: &Path, state_dir: &Path) -> std::result::Result<(), ContainerError> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let target = state_dir.join(&name);
        if name == LOG_FILE {
            let old = std::fs::read(entry.path()).map_err(io("read", &entry.path()))?;
            let new = std::fs::read(&target).unwrap_or_default();
            // The shim holds `log.json` open for appending: write in place, old lines first.
            let mut all = old;
            all.extend_from_slice(&new);
            std::fs::write(&target, all).map_err(io("write", &target))?;
        } else {
            std::fs::rename(entry.path(), &target).map_err(io("restore", &target))?;
        }
    }
    std::fs::remove_dir_all(from).map_err(io("remove", from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_parked_and_prepended() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let parked = dir.path().join("parked");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("log.json"), "old\n").unwrap();
        std::fs::write(state.join("log.json.1"), "older\n").unwrap();
        std::fs::write(state.join("config.json"), "{}").unwrap();
        park_logs(&state, &parked).unwrap();
        assert!(!state.join("log.json").exists());
        assert!(state.join("config.json").exists());

        std::fs::remove_dir_all(&state).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("log.json"), "new\n").unwrap();
        restore_logs(&parked, &state).unwrap();
        let log = std::fs::read_to_string(state.join("log.json")).unwrap();
        assert_eq!(log, "old\nnew\n");
        assert!(state.join("log.json.1").exists());
        assert!(!parked.exists());
    }
}
