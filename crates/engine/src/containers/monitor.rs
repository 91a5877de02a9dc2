//! Watching containers exit, and finding them again after a daemon restart.
//!
//! Each running container has one task awaiting its compute system's exit; the task records the
//! exit in the database and publishes `die`. The shim outlives the daemon, so after a restart
//! [`Engine::reconnect_containers`] reopens each system and restarts its watcher, or records an
//! exit that happened while the daemon was down.

use std::sync::Arc;

use chrono::Utc;
use silo_compute::{ComputeSystem, ExitStatus, ExitType, State};
use silo_errdefs::{ErrorKind, HasKind};

use super::model::Status;
use crate::Engine;

/// Exit code recorded when a system vanished without telling how it ended.
const LOST_EXIT_CODE: i32 = 255;

impl Engine {
    /// Spawns the task awaiting `system`'s exit.
    pub(super) fn monitor(&self, id: String, system: Arc<dyn ComputeSystem>) {
        let engine = self.clone();
        tokio::spawn(async move {
            match system.wait().await {
                Ok(status) => engine.record_exit(&id, &status),
                Err(e) => {
                    tracing::warn!("wait for container {id}: {e}");
                    engine.record_lost(&id, &e.to_string());
                }
            }
            let auto_remove = engine
                .containers
                .store()
                .find(&id)
                .map(|c| c.host_config.auto_remove)
                .unwrap_or(false);
            // An auto-removed container's endpoints go with its namespace in the removal.
            if !auto_remove {
                engine.release_endpoints_if_stopped(&id).await;
            }
            if auto_remove {
                if let Err(e) = engine.remove_container(&id, true).await {
                    tracing::warn!("auto-remove container {id}: {e}");
                }
            } else {
                engine.apply_restart_policy(&id).await;
            }
        });
    }

    /// Gives back the endpoints of a container that is not running. Under the container's
    /// lock: a `restart` that already started it again keeps its new endpoints.
    pub(super) async fn release_endpoints_if_stopped(&self, id: &str) {
        let _guard = self.containers.lock(id).await;
        let Ok(c) = self.containers.store().find(id) else {
            return;
        };
        if !c.state.status.is_live() {
            self.disconnect_endpoints(&c).await;
        }
    }

    /// Records how a live container ended and publishes `die`, once: later calls for the same
    /// exit (from `stop`, `wait` and the watcher) change nothing.
    pub(super) fn record_exit(&self, id: &str, status: &ExitStatus) {
        let store = self.containers.store();
        let Ok(mut c) = store.find(id) else { return };
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return;
        }
        c.state.status = Status::Exited;
        c.state.pid = 0;
        c.state.exit_code = status.code;
        c.state.oom_killed = status.oom_killed;
        c.state.finished_at = Some(status.finished_at);
        c.state.exit_type = Some(exit_type_name(status.exit_type).to_string());
        if let Err(e) = store.update(&c) {
            tracing::warn!("record exit of container {id}: {e}");
        }
        // Published before the store lock is released: whoever records the exit second (the
        // monitor or `stop`) then cannot announce `stop` ahead of this `die`.
        if status.oom_killed {
            self.events.container("oom", &c, &[]);
        }
        self.events.container(
            "die",
            &c,
            &[
                ("exitCode", status.code.to_string()),
                ("exitType", exit_type_name(status.exit_type).to_string()),
            ],
        );
        drop(store);
    }

    /// Records that a container's system is gone without an exit status.
    pub(super) fn record_lost(&self, id: &str, why: &str) {
        let store = self.containers.store();
        let Ok(mut c) = store.find(id) else { return };
        if c.state.status == Status::Exited {
            return;
        }
        c.state.status = Status::Exited;
        c.state.pid = 0;
        c.state.exit_type = Some(exit_type_name(ExitType::UnexpectedExit).to_string());
        c.state.exit_code = LOST_EXIT_CODE;
        c.state.error = why.to_string();
        c.state.finished_at = Some(Utc::now());
        if let Err(e) = store.update(&c) {
            tracing::warn!("record loss of container {id}: {e}");
        }
        drop(store);
        self.events
            .container("die", &c, &[("exitCode", LOST_EXIT_CODE.to_string())]);
    }

    /// At engine open: reopens the compute system of every container that was not known to
    /// have exited, and watches the running ones again.
    pub(crate) async fn reconnect_containers(&self) -> crate::Result<()> {
        let Ok(runtime) = self.containers.runtime() else {
            return Ok(());
        };
        let compute = runtime.compute.clone();
        let records = self.containers.store().all()?;
        let mut exited_while_down = Vec::new();
        for mut c in records {
            if c.state.status == Status::Restarting {
                // The daemon went down during a restart back-off: the exit is recorded already.
                c.state.status = Status::Exited;
                self.containers.store().update(&c)?;
                exited_while_down.push(c.id.clone());
            }
            if matches!(c.state.status, Status::Running | Status::Paused) {
                exited_while_down.push(c.id.clone());
            }
            let system = match compute.open(&c.id).await {
                Ok(system) => system,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if c.state.status != Status::Exited {
                        self.record_lost(&c.id, "compute system lost while the daemon was down");
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("reopen container {}: {e}", c.id);
                    continue;
                }
            };
            let props = match system.properties(Default::default()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("properties of container {}: {e}", c.id);
                    continue;
                }
            };
            self.containers
                .systems()
                .insert(c.id.clone(), system.clone());
            match props.state {
                State::Running | State::Paused => {
                    exited_while_down.retain(|id| *id != c.id);
                    self.monitor(c.id.clone(), system)
                }
                State::Stopped => match props.exit_status {
                    Some(status) => self.record_exit(&c.id, &status),
                    None => self.record_lost(&c.id, "exit status unknown"),
                },
                State::Created => {}
            }
        }
        self.reconcile_networks().await;
        self.autostart(&exited_while_down);
        Ok(())
    }
}

impl Engine {
    /// After reconnecting: containers that are not running hold no endpoints, and namespace
    /// files of containers that no longer exist are removed.
    async fn reconcile_networks(&self) {
        let Ok(service) = self.containers.network() else {
            return;
        };
        let Ok(records) = self.containers.store().all() else {
            return;
        };
        for c in &records {
            if !c.state.status.is_live() {
                self.disconnect_endpoints(c).await;
            }
        }
        let known = records.iter().map(|c| c.id.clone()).collect();
        match service.remove_stray_namespaces(&known).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!("removed {} stray network namespaces", removed.len())
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("stray network namespaces: {e}"),
        }
    }
}

/// The compute service's name for how a run ended (inspect's `State.SiloExitType`, the
/// `exitType` attribute of `die` and `stop` events).
pub fn exit_type_name(t: ExitType) -> &'static str {
    match t {
        ExitType::GracefulExit => "GracefulExit",
        ExitType::ForcedExit => "ForcedExit",
        ExitType::UnexpectedExit => "UnexpectedExit",
    }
}
