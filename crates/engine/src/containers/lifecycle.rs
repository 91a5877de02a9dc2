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
        tty: req.tty,
        open_stdin: req.open_stdin,
        stdin_once: req.stdin_once,
        attach_stdin: req.attach_stdin,
        attach_stdout: req.attach_stdout,
        attach_stderr: req.attach_stderr,
        console_size: req.console_size,
        stop_signal: pick(&req.stop_signal, defaults.stop_signal()),
        stop_timeout: req.stop_timeout,
        exposed_ports: exposed_ports(req, defaults.exposed_ports().clone()),
    }
}

/// The image's exposed ports and the request's, normalised to `port/proto`, without repeats.
fn exposed_ports(req: &CreateRequest, image: Option<Vec<String>>) -> Vec<String> {
    let mut ports: Vec<String> = image
        .unwrap_or_default()
        .into_iter()
        .chain(req.exposed_ports.iter().cloned())
        .map(|p| {
            if p.contains('/') {
                p
            } else {
                format!("{p}/tcp")
            }
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

/// Refuses restart policies Docker refuses, with its messages.
pub(super) fn validate_restart_policy(
    policy: &super::model::RestartPolicy,
    auto_remove: bool,
) -> std::result::Result<(), ContainerError> {
    let invalid = |m: String| Err(ContainerError::InvalidConfig(m));
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return invalid(format!("invalid restart policy '{other}'")),
    }
    if policy.maximum_retry_count < 0 {
        return invalid("invalid restart policy: maximum retry count cannot be negative".into());
    }
    if policy.maximum_retry_count > 0 && policy.name != "on-failure" {
        return invalid(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure' (got '{}')",
            policy.name
        ));
    }
    if auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return invalid("can't create 'AutoRemove' container with restart policy".into());
    }
    Ok(())
}

/// A stop timeout in seconds as Docker reads it: negative waits forever.
pub(super) fn stop_timeout(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(u64::from(u32::MAX)))
}

impl Engine {
    /// `docker create`: records the container and creates its compute system (Created).
    pub async fn create_container(&self, name: Option<&str>, req: CreateRequest) -> Result<String> {
        let containers = &self.containers;
        containers.runtime()?;
        let mut req = req;
        let hc = &mut req.host_config;
        validate_restart_policy(&hc.restart_policy, hc.auto_remove)?;
        hc.extra.isolation = self.resolve_isolation(&hc.extra.isolation)?;
        for (key, value) in &self.config.default_log_opts {
            hc.extra
                .log_opts
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        if let Some(sig) = req.stop_signal.as_deref().filter(|s| !s.is_empty()) {
            if super::signal::parse_signal(sig).is_none() {
                return Err(ContainerError::InvalidConfig(format!("Invalid signal: {sig}")).into());
            }
        }
        let image = self.images.find(&req.image)?;
        let layers = self.image_rootfs(&image)?;
        let id = names::new_id()?;
        let requested = match name.filter(|n| !n.is_empty()) {
            Some(n) => Some(names::validate(n)?),
            None => None,
        };
        let name = requested.clone().unwrap_or_else(|| names::generate(&id, 0));
        let plan = self.plan_network(&id, &req)?;
        let mut container = Container {
            id: id.clone(),
            name,
            image_id: image.id.clone(),
            image_name: req.image.clone(),
            config: merge_config(&req, &image),
            host_config: req.host_config.clone(),
            created: Utc::now(),
            state: ContainerState::default(),
            networks: plan.attachments.clone(),
        };
        container.host_config.extra.network_mode = plan.mode.clone();
        match self
            .create_with_plan(container, layers, &plan, requested.is_none())
            .await
        {
            Ok(id) => Ok(id),
            Err(e) => {
                if plan.made_namespace {
                    if let Ok(service) = containers.network() {
                        if let Err(undo) = service.remove_namespace(&id).await {
                            tracing::warn!("undo create of {id}: {undo}");
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(self.name_files_dir(&id));
                Err(e)
            }
        }
    }

    /// The rest of create, once the network is planned: the record, then the compute system.
    async fn create_with_plan(
        &self,
        mut container: Container,
        layers: Vec<std::path::PathBuf>,
        plan: &super::network::NetworkPlan,
        generated_name: bool,
    ) -> Result<String> {
        let containers = &self.containers;
        let runtime = containers.runtime()?.clone();
        let id = container.id.clone();
        let sandbox = containers.sandboxes.join(&id);
        let name_files = self.name_file_mounts(&container)?;
        let doc = document::build(
            &container,
            layers,
            sandbox,
            plan.namespace.clone(),
            name_files,
        )?;
        // The record first, so a taken name fails before anything is built. A generated name
        // that happens to be taken is generated again, longer.
        let mut attempt = 0;
        loop {
            match containers.store().insert(&container) {
                Ok(()) => break,
                Err(ContainerError::NameInUse { .. }) if generated_name && attempt < 8 => {
                    attempt += 1;
                    container.name = names::generate(&id, attempt);
                }
                Err(e) => return Err(e.into()),
            }
        }
        // The endpoints are made while the compute system is created (the CNI plugins and
        // the runtime each take tens of milliseconds; side by side, `run` pays for one).
        let (created, attached) = tokio::join!(
            runtime.compute.create(doc, Stdio::default()),
            self.connect_endpoints(&container)
        );
        let failure = match (created, attached) {
            (Ok(system), Ok(())) => {
                containers.systems().insert(id.clone(), system);
                None
            }
            (Ok(system), Err(e)) => {
                if let Err(undo) = system.delete().await {
                    tracing::warn!("undo create of {id}: {undo}");
                }
                Some(e)
            }
            (Err(e), _) => Some(ContainerError::from(e).into()),
        };
        if let Some(e) = failure {
            // The endpoints go with the namespace, which the caller removes.
            if let Err(undo) = containers.store().delete(&id) {
                tracing::warn!("undo create of {id}: {undo}");
            }
            return Err(e);
        }
        self.events.container("create", &container, &[]);
        Ok(id)
    }

    /// `--isolation` (or the daemon's `exec-opts` default) as silo can run it today.
    fn resolve_isolation(&self, asked: &str) -> Result<String> {
        let wanted = match asked {
            "" | "default" => self.config.default_isolation.as_str(),
            other => other,
        };
        match wanted {
            "" | "process" => Ok("process".to_string()),
            "hyperv" | "vm" => Err(ContainerError::NotSupported(
                "VM isolation is not available yet (--isolation=hyperv): use --isolation=process"
                    .to_string(),
            )
            .into()),
            other => Err(ContainerError::InvalidConfig(format!(
                "invalid isolation {other:?}: silo supports process (and hyperv, not available yet)"
            ))
            .into()),
        }
    }

    /// `docker start`: runs the first process; an exited container gets a fresh compute system
    /// over the same sandbox. NotModified if already running.
    pub async fn start_container(&self, key: &str) -> Result<()> {
        let id = self.containers.store().find(key)?.id;
        let _guard = self.containers.lock(&id).await;
        let c = self.containers.store().find(&id)?;
        if c.state.status.is_live() {
            return Err(ContainerError::NotModified(c.id).into());
        }
        self.start_locked(c, false).await
    }

    /// Starts `c` (Created, Exited or Restarting), holding its lock. `restarted` counts it as a
    /// restart by the policy.
    pub(super) async fn start_locked(&self, c: Container, restarted: bool) -> Result<()> {
        let containers = &self.containers;
        let existing = match c.state.status {
            Status::Created => containers.system(&c.id),
            _ => None,
        };
        let system = match existing {
            Some(system) => system,
            None => self.respawn(&c).await?,
        };
        self.ensure_endpoints(&c).await?;
        if let Err(e) = system.start().await {
            self.disconnect_endpoints(&c).await;
            return Err(ContainerError::from(e).into());
        }
        let props = system
            .properties(Default::default())
            .await
            .map_err(ContainerError::from)?;
        let mut c = containers.store().find(&c.id)?;
        c.state = ContainerState {
            status: Status::Running,
            pid: props.pid.unwrap_or_default(),
            started_at: Some(props.started_at.unwrap_or_else(Utc::now)),
            restart_count: c.state.restart_count + i64::from(restarted),
            ..ContainerState::default()
        };
        containers.store().update(&c)?;
        self.events.container("start", &c, &[]);
        self.monitor(c.id.clone(), system);
        Ok(())
    }

    /// `docker stop`: `signal` (default: the container's stop signal, else SIGTERM), then a
    /// kill after `timeout_secs` (default: the container's stop timeout, else 10 s; negative
    /// waits forever). Returns which phase ended the container; NotModified if it was not
    /// running. The restart policy leaves a stopped container alone.
    pub async fn stop_container(
        &self,
        key: &str,
        signal: Option<i32>,
        timeout_secs: Option<i64>,
    ) -> Result<StopPhase> {
        let id = self.containers.store().find(key)?.id;
        let _guard = self.containers.lock(&id).await;
        let c = self.containers.store().find(&id)?;
        self.stop_locked(c, signal, timeout_secs).await
    }

    pub(super) async fn stop_locked(
        &self,
        mut c: Container,
        signal: Option<i32>,
        timeout_secs: Option<i64>,
    ) -> Result<StopPhase> {
        if c.state.status == Status::Restarting {
            // Waiting out the back-off: cancel the restart.
            c.state.status = Status::Exited;
            c.state.manually_stopped = true;
            self.containers.store().update(&c)?;
            self.events.container("stop", &c, &[]);
            return Ok(StopPhase::Signal);
        }
        let Some(system) = self.live_system(&c) else {
            // Not running; still a user's stop, which the restart policy must respect.
            if !c.state.manually_stopped {
                c.state.manually_stopped = true;
                self.containers.store().update(&c)?;
            }
            return Err(ContainerError::NotModified(c.id).into());
        };
        c.state.manually_stopped = true;
        self.containers.store().update(&c)?;
        let signal = signal
            .or_else(|| super::signal::parse_signal(&c.config.stop_signal))
            .unwrap_or(libc::SIGTERM);
        let timeout = timeout_secs
            .or(c.config.stop_timeout)
            .map(stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        self.events
            .container("kill", &c, &[("signal", signal.to_string())]);
        let status = match system.shutdown(signal, timeout).await {
            Ok(status) => status,
            // It exited by itself meanwhile.
            Err(e) if e.kind() == ErrorKind::FailedPrecondition => {
                system.wait().await.map_err(ContainerError::from)?
            }
            Err(e) => return Err(ContainerError::from(e).into()),
        };
        if status.exit_type == ExitType::ForcedExit {
            self.events
                .container("kill", &c, &[("signal", libc::SIGKILL.to_string())]);
        }
        self.record_exit(&c.id, &status);
        self.disconnect_endpoints(&c).await;
        self.events.container(
            "stop",
            &c,
            &[(
                "exitType",
                super::monitor::exit_type_name(status.exit_type).to_string(),
            )],
        );
        Ok(match status.exit_type {
            ExitType::ForcedExit => StopPhase::Kill,
            _ => StopPhase::Signal,
        })
    }

    /// `docker kill`: sends `signal` to the first process. Conflict if it is not running. A
    /// SIGKILL or the container's stop signal counts as a manual stop for the restart policy.
    pub async fn kill_container(&self, key: &str, signal: i32) -> Result<()> {
        let mut c = self.containers.store().find(key)?;
        let Some(system) = self.live_system(&c) else {
            return Err(ContainerError::State(format!(
                "cannot kill container: {}: container {} is not running",
                key, c.id
            ))
            .into());
        };
        let stop_signal =
            super::signal::parse_signal(&c.config.stop_signal).unwrap_or(libc::SIGTERM);
        if signal == libc::SIGKILL || signal == stop_signal {
            c.state.manually_stopped = true;
            self.containers.store().update(&c)?;
        }
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
        let id = containers.store().find(key)?.id;
        let _guard = containers.lock(&id).await;
        let mut c = containers.store().find(&id)?;
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
                // No restart policy may bring it back while it is being removed.
                c.state.manually_stopped = true;
                containers.store().update(&c)?;
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
        self.remove_namespace(&c).await;
        containers.systems().remove(&c.id);
        containers.execs.forget_container(&c.id);
        containers.store().delete(&c.id)?;
        for dir in self.sandbox_dirs(&c.id) {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("remove {}: {e}", dir.display());
                }
            }
        }
        containers.backoff().remove(&c.id);
        containers.locks().remove(&c.id);
        self.events.container("destroy", &c, &[]);
        Ok(())
    }

    /// The handle of a container whose record says its first process runs (not one waiting
    /// out a restart back-off: its system has stopped).
    pub(super) fn live_system(
        &self,
        c: &Container,
    ) -> Option<Arc<dyn silo_compute::ComputeSystem>> {
        matches!(c.state.status, Status::Running | Status::Paused)
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
    fn restart_policies_are_checked_with_dockers_messages() {
        use crate::containers::model::RestartPolicy;
        let p = |name: &str, max| RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        };
        for ok in [p("", 0), p("no", 0), p("always", 0), p("on-failure", 3)] {
            validate_restart_policy(&ok, false).unwrap();
        }
        validate_restart_policy(&p("no", 0), true).unwrap();
        let err = validate_restart_policy(&p("always", 0), true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "can't create 'AutoRemove' container with restart policy"
        );
        assert!(validate_restart_policy(&p("sometimes", 0), false).is_err());
        assert!(validate_restart_policy(&p("always", 2), false).is_err());
        assert!(validate_restart_policy(&p("on-failure", -1), false).is_err());
        assert_eq!(stop_timeout(-1), Duration::from_secs(u64::from(u32::MAX)));
        assert_eq!(stop_timeout(3), Duration::from_secs(3));
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
