//! Containers: Docker's container objects, built on the compute service.
//!
//! The engine keeps one [`model::Container`] record per container in SQLite (see [`store`]) and,
//! while the container has a compute system, a handle on it. Records say what the client asked
//! for and what happened; the compute system is the live thing. After a daemon restart,
//! [`Containers::reconnect`] reopens every system the records say may still exist.
//!
//! One module per concern: `model` (records), `store` (database), `names` (ids and names),
//! `document` (record → compute-system document), `lifecycle` (create/start/stop/kill/wait/rm),
//! `monitor` (exit watching and reconnection), `query` (list/inspect/logs).

mod attach;
mod document;
mod error;
mod exec;
mod lifecycle;
pub mod model;
mod monitor;
mod names;
pub mod network;
mod query;
mod respawn;
mod restart;
pub mod signal;
mod stats;
mod store;
mod update;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use silo_compute::{ComputeService, ComputeSystem};

pub use attach::Attachment;
pub use error::ContainerError;
pub use exec::{ExecConfig, ExecInfo, ExecStream};
pub use query::LogOptions;
pub use stats::{ContainerStats, TopOutput};
pub use update::{PruneReport as ContainerPruneReport, UpdateRequest};

use store::Store;

/// What runs containers: a compute service and where it keeps each system's json-file log
/// (`<state_root>/<id>`, the process backend's state directory), and the network service that
/// gives them endpoints (`None`: only `--network none` and `host` work).
#[derive(Clone)]
pub struct ContainerRuntime {
    pub compute: Arc<dyn ComputeService>,
    pub state_root: PathBuf,
    pub network: Option<silo_network::NetworkService>,
}

impl std::fmt::Debug for ContainerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerRuntime")
            .field("state_root", &self.state_root)
            .finish_non_exhaustive()
    }
}

/// The engine's container state, shared by every clone of the engine and its monitor tasks.
#[derive(Debug)]
pub(crate) struct Containers {
    runtime: Option<ContainerRuntime>,
    store: Mutex<Store>,
    /// Live compute-system handles by container id.
    systems: Mutex<HashMap<String, Arc<dyn ComputeSystem>>>,
    /// `<data_root>/engine/sandboxes`: one writable overlay directory per container.
    sandboxes: PathBuf,
    /// One lock per container serialising start, stop, restart and remove.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The restart policy's current back-off per container.
    backoff: Mutex<HashMap<String, std::time::Duration>>,
    /// Execs of running containers (memory only, as in Docker).
    execs: exec::Execs,
}

impl Containers {
    /// Opens the database under `engine_root` (created if missing).
    pub(crate) fn open(
        engine_root: PathBuf,
        runtime: Option<ContainerRuntime>,
    ) -> Result<Self, ContainerError> {
        let sandboxes = engine_root.join("sandboxes");
        std::fs::create_dir_all(&sandboxes).map_err(|source| ContainerError::Io {
            action: "create",
            path: sandboxes.clone(),
            source,
        })?;
        let store = Store::open(&engine_root.join("containers.db"))?;
        Ok(Containers {
            runtime,
            store: Mutex::new(store),
            systems: Mutex::new(HashMap::new()),
            sandboxes,
            locks: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            execs: exec::Execs::default(),
        })
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn systems(&self) -> MutexGuard<'_, HashMap<String, Arc<dyn ComputeSystem>>> {
        self.systems.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn runtime(&self) -> Result<&ContainerRuntime, ContainerError> {
        self.runtime.as_ref().ok_or(ContainerError::NoRuntime)
    }

    /// The network service; Unavailable (with the reason) when the daemon runs without one.
    pub(crate) fn network(&self) -> Result<&silo_network::NetworkService, ContainerError> {
        self.runtime()?
            .network
            .as_ref()
            .ok_or(ContainerError::NoNetwork)
    }

    fn locks(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backoff(&self) -> MutexGuard<'_, HashMap<String, std::time::Duration>> {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the operation lock of container `id` (start, stop, restart, remove).
    async fn lock(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.locks().entry(id.to_string()).or_default().clone();
        lock.lock_owned().await
    }

    /// The live system of `id`, if the engine holds one.
    fn system(&self, id: &str) -> Option<Arc<dyn ComputeSystem>> {
        self.systems().get(id).cloned()
    }

    /// Ids of images some container uses (they may not be removed or pruned).
    pub(crate) fn images_in_use(&self) -> Result<Vec<(String, String)>, ContainerError> {
        Ok(self
            .store()
            .all()?
            .into_iter()
            .map(|c| (c.image_id, c.id))
            .collect())
    }
}
