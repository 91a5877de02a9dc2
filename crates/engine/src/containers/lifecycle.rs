//! create, start, stop, kill, wait and remove. Each operation checks the record's status first
//! (the guard) and answers Conflict or NotModified rather than reaching the compute service in
//! a state it would refuse.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use silo_compute::{ExitType, Stdio};
use silo_errdefs::{ErrorKind, HasKind};

use super::error::ContainerError;
use super::model::{Container, ContainerConfig, ContainerState, CreateRequest, Status, StopPhase};
use super::{document, names};
use crate::{Engine, ImageRecord, Result};

/// Docker's default `stop` timeout.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The request merged over the image's defaults, Docker's way: an entrypoint given in the
/// request also replaces the image's cmd.
fn merge_config(req: &CreateRequest, image: &ImageRecord) -> ContainerConfig {
    let defaults = image.config.config().clone().unwrap_or_default();
    let (entrypoint, cmd) = match &req.entrypoint {
        Some(ep) => (ep.clone(), req.cmd.clone().unwrap_or_default()),
        None => (
            defaults.entrypoint().clone().unwrap_or_default(),
            req.cmd
                .clone()
                .unwrap_or_else(|| defaults.cmd().clone().unwrap_or_default()),
        ),
    };
    let mut env = defaults.env().clone().unwrap_or_default();
    for entry in &req.env {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let pick = |asked: &Option<String>, image: &Option<String>| {
        asked
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| image.clone())
            .unwrap_or_default()
    };
    ContainerConfig {
        cmd,
        entrypoint,
        env,
        working_dir: pick(&req.working_dir, defaults.working_dir()),
        user: pick(&req.user, defaults.user()),
        hostname: req.hostname.clone().unwrap_or_default(),
        labels: req.labels.clone(),
        tty: false,
    }
}

impl Engine {
    /// `docker create`: records the container and creates its compute system (Created).
    pub async fn create_container(&self, name: Option<&str>, req: CreateRequest) -> Result<String> {
        let containers = &self.containers;
        let runtime = containers.runtime()?.clone();
        let image = self.images.find(&req.image)?;
        let layers = self.image_rootfs(&image)?;
        let id = names::new_id()?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n)?,
            None => names::generate(&id),
        };
        let container = Container {
            id: id.clone(),
            name,
            image_id: image.id.clone(),
            image_name: req.image.clone(),
            config: merge_config(&req, &image),
            host_config: req.host_config.clone(),
            created: Utc::now(),
            state: ContainerState::default(),
        };
        let sandbox = containers.sandboxes.join(&id);
        let doc = document::build(&container, layers, sandbox)?;
        // The record first, so a taken name fails before anything is built.
        containers.store().insert(&container)?;
        match runtime.compute.create(doc, Stdio::default()).await {
            Ok(system) => {
                containers.systems().insert(id.clone(), system);
            }
            Err(e) => {
                if let Err(undo) = containers.store().delete(&id) {
                    tracing::warn!("undo create of {id}: {undo}");
                }
                return Err(ContainerError::from(e).into());
            }
        }
        self.events.container("create", &container, &[]);
        Ok(id)
    }

    /// `docker start`: runs the first process. NotModified if already running.
    pub async fn start_container(&self, key: &str) -> Result<()> {
        let containers = &self.containers;
        let mut c = containers.store().find(key)?;
        match c.state.status {
            Status::Created => {}
            s if s.is_live() => return Err(ContainerError::NotModified(c.id).into()),
            _ => {
                return Err(ContainerError::NotSupported(format!(
                    "cannot start container {}: restarting an {} container is not supported yet",
                    c.short_name(),
                    c.state.status.as_str()
                ))
                .into())
            }
        }
        let system = containers.system(&c.id).ok_or_else(|| {
            ContainerError::State(format!("container {} has no compute system", c.id))
        })?;
        system.start().await.map_err(ContainerError::from)?;
        let props = system
            .properties(Default::default())
            .await
            .map_err(ContainerError::from)?;
        c.state = ContainerState {
            status: Status::Running,
            pid: props.pid.unwrap_or_default(),
            started_at: Some(props.started_at.unwrap_or_else(Utc::now)),
            ..ContainerState::default()
        };
        containers.store().update(&c)?;
        self.events.container("start", &c, &[]);
        self.monitor(c.id.clone(), system);
        Ok(())
    }

    /// `docker stop`: the stop signal (SIGTERM), then a kill after `timeout` (default 10 s).
    /// Returns which phase ended the container; NotModified if it was not running.
    pub async fn stop_container(&self, key: &str, timeout: Option<Duration>) -> Result<StopPhase> {
        let c = self.containers.store().find(key)?;
        let Some(system) = self.live_system(&c) else {
            return Err(ContainerError::NotModified(c.id).into());
        };
        self.events
            .container("kill", &c, &[("signal", libc::SIGTERM.to_string())]);
        let status = match system
            .shutdown(libc::SIGTERM, timeout.unwrap_or(DEFAULT_STOP_TIMEOUT))
            .await
        {
            Ok(status) => status,
            // It exited by itself meanwhile.
            Err(e) if e.kind() == ErrorKind::FailedPrecondition => {
                system.wait().await.map_err(ContainerError::from)?
            }
            Err(e) => return Err(ContainerError::from(e).into()),
        };
        self.record_exit(&c.id, &status);
        self.events.container("stop", &c, &[]);
        Ok(match status.exit_type {
            ExitType::ForcedExit => StopPhase::Kill,
            _ => StopPhase::Signal,
        })
    }

    /// `docker kill`: sends `signal` to the first process. Conflict if it is not running.
    pub async fn kill_container(&self, key: &str, signal: i32) -> Result<()> {
        let c = self.containers.store().find(key)?;
        let Some(system) = self.live_system(&c) else {
            return Err(ContainerError::State(format!(
                "cannot kill container: {}: container {} is not running",
                key, c.id
            ))
            .into());
        };
        system.signal(signal).await.map_err(ContainerError::from)?;
        self.events
            .container("kill", &c, &[("signal", signal.to_string())]);
        Ok(())
    }

    /// `docker wait` (condition not-running): the exit code once the container is not running.
    pub async fn wait_container(&self, key: &str) -> Result<i32> {
        let c = self.containers.store().find(key)?;
        if let Some(system) = self.live_system(&c) {
            let status = system.wait().await.map_err(ContainerError::from)?;
            self.record_exit(&c.id, &status);
            return Ok(status.code);
        }
        Ok(c.state.exit_code)
    }

    /// `docker wait` for the conditions the CLI registers before it starts a container:
    /// `next-exit` (the next time it exits, even if it is not running yet) and `removed`
    /// (once it is gone; the exit code it had). Subscribes before reading the state, so an
    /// exit between the two cannot be missed.
    pub async fn wait_container_event(&self, key: &str, removed: bool) -> Result<i32> {
        let mut events = self.events.subscribe();
        let c = self.containers.store().find(key)?;
        let action = if removed { "destroy" } else { "die" };
        let mut exit_code = c.state.exit_code;
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // Fell behind the bus: look at the record instead of the missed events.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    match self.containers.store().find(&c.id) {
                        Ok(now) if !removed && !now.state.status.is_live() => {
                            return Ok(now.state.exit_code)
                        }
                        Ok(now) => {
                            exit_code = now.state.exit_code;
                            continue;
                        }
                        Err(_) if removed => return Ok(exit_code),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(exit_code),
            };
            if event.kind != "container" || event.actor_id != c.id {
                continue;
            }
            if event.action == "die" {
                exit_code = event
                    .attributes
                    .get("exitCode")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(exit_code);
            }
            if event.action == action {
                return Ok(exit_code);
            }
        }
    }

    /// `docker rm`: Conflict for a running container unless `force`, which kills it first.
    pub async fn remove_container(&self, key: &str, force: bool) -> Result<()> {
        let containers = &self.containers;
        let c = containers.store().find(key)?;
        if c.state.status.is_live() && !force {
            return Err(ContainerError::State(format!(
                "cannot remove container \"{}\": container is {}: stop the container before removing or force remove",
                c.name,
                c.state.status.as_str()
            ))
            .into());
        }
        let system = containers.system(&c.id);
        if let Some(system) = &system {
            if c.state.status.is_live() {
                match system.terminate().await {
                    Ok(status) => self.record_exit(&c.id, &status),
                    Err(e) if e.kind() == ErrorKind::FailedPrecondition => {}
                    Err(e) => return Err(ContainerError::from(e).into()),
                }
                self.events
                    .container("kill", &c, &[("signal", libc::SIGKILL.to_string())]);
            }
            match system.delete().await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(ContainerError::from(e).into()),
            }
        }
        containers.systems().remove(&c.id);
        containers.store().delete(&c.id)?;
        let sandbox = containers.sandboxes.join(&c.id);
        if let Err(e) = std::fs::remove_dir_all(&sandbox) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("remove sandbox {}: {e}", sandbox.display());
            }
        }
        self.events.container("destroy", &c, &[]);
        Ok(())
    }

    /// The handle of a container whose record says it runs.
    fn live_system(&self, c: &Container) -> Option<Arc<dyn silo_compute::ComputeSystem>> {
        c.state
            .status
            .is_live()
            .then(|| self.containers.system(&c.id))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(config: serde_json::Value) -> ImageRecord {
        serde_json::from_value(serde_json::json!({
            "id": "sha256:abc",
            "repo_tags": [],
            "repo_digests": [],
            "manifest_digest": "sha256:def",
            "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
            "config": {"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": []}},
            "layers": [],
            "size": 0,
            "loaded_at": "2026-01-01T00:00:00Z",
            "last_tag_time": null,
        }))
        .unwrap()
    }

    #[test]
    fn request_overrides_image_defaults_the_docker_way() {
        let img = image(serde_json::json!({
            "Entrypoint": ["/entry"], "Cmd": ["serve"], "Env": ["PATH=/bin", "A=1"],
            "WorkingDir": "/srv", "User": "nobody"
        }));
        let req = CreateRequest {
            env: vec!["A=2".into()],
            ..CreateRequest::default()
        };
        let c = merge_config(&req, &img);
        assert_eq!(c.entrypoint, ["/entry"]);
        assert_eq!(c.cmd, ["serve"]);
        assert_eq!(c.env, ["PATH=/bin", "A=2"]);
        assert_eq!(
            (c.working_dir.as_str(), c.user.as_str()),
            ("/srv", "nobody")
        );

        // A new entrypoint drops the image's cmd.
        let req = CreateRequest {
            entrypoint: Some(vec!["sh".into()]),
            ..CreateRequest::default()
        };
        let c = merge_config(&req, &img);
        assert_eq!(c.entrypoint, ["sh"]);
        assert!(c.cmd.is_empty());
    }
}
