//! `docker exec`: processes added to a running container.
//!
//! An exec is created (recorded, nothing runs), then started once: the compute service adds
//! the process to the container's system, connected to an [`AttachStream`] unless detached.
//! Exec records live in memory only, as in Docker: they describe processes of one container's
//! current run and mean nothing after the daemon restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use silo_compute::{
    AttachOptions, AttachStream, CapabilitySet, ConsoleSize, Process, ProcessIo, ProcessParameters,
};
use tokio::sync::watch;

use super::document::user_of;
use super::error::ContainerError;
use super::model::Status;
use super::names;
use crate::{Engine, Result};

/// What `POST /containers/{id}/exec` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    /// `KEY=value`, over the container's environment.
    pub env: Vec<String>,
    /// `None` is the container's.
    pub working_dir: Option<String>,
    /// `None` is the container's.
    pub user: Option<String>,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    /// Columns and rows.
    pub console_size: Option<(u16, u16)>,
    pub detach_keys: String,
}

/// What `GET /exec/{id}/json` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    /// `None` until the process has exited.
    pub exit_code: Option<i32>,
    /// Host pid while running, else 0.
    pub pid: u32,
}

/// One exec: its record, its process once started, and its exit for whoever waits.
#[derive(Debug)]
struct Exec {
    info: Mutex<ExecInfo>,
    process: Mutex<Option<Arc<dyn Process>>>,
    exited: watch::Sender<Option<i32>>,
}

impl Exec {
    fn info(&self) -> MutexGuard<'_, ExecInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn process(&self) -> Option<Arc<dyn Process>> {
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Every exec of every container, by exec id.
#[derive(Debug, Default)]
pub(crate) struct Execs(Mutex<HashMap<String, Arc<Exec>>>);

impl Execs {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Exec>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Exec>, ContainerError> {
        self.map()
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::NoSuchExec(id.to_string()))
    }

    /// Ids of the execs of `container_id` (inspect's `ExecIDs`).
    pub(crate) fn of_container(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .map()
            .iter()
            .filter(|(_, e)| e.info().container_id == container_id)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Forgets the execs of a removed container.
    pub(crate) fn forget_container(&self, container_id: &str) {
        self.map()
            .retain(|_, e| e.info().container_id != container_id);
    }
}

/// A started, attached exec.
#[derive(Debug)]
pub struct ExecStream {
    pub stream: AttachStream,
    /// With a terminal the output is one raw stream.
    pub tty: bool,
}

impl Engine {
    /// `POST /containers/{id}/exec`: records an exec in a running container.
    pub fn create_exec(&self, key: &str, config: ExecConfig) -> Result<String> {
        let c = self.containers.store().find(key)?;
        match c.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::State(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                ))
                .into())
            }
            _ => {
                return Err(
                    ContainerError::State(format!("Container {} is not running", c.id)).into(),
                )
            }
        }
        if config.cmd.is_empty() {
            return Err(ContainerError::InvalidConfig("No exec command specified".into()).into());
        }
        let id = names::new_id()?;
        let exec = Exec {
            info: Mutex::new(ExecInfo {
                id: id.clone(),
                container_id: c.id.clone(),
                config: config.clone(),
                running: false,
                exit_code: None,
                pid: 0,
            }),
            process: Mutex::new(None),
            exited: watch::channel(None).0,
        };
        self.containers
            .execs
            .map()
            .insert(id.clone(), Arc::new(exec));
        self.events.container(
            "exec_create",
            &c,
            &[("execID", id.clone()), ("cmd", config.cmd.join(" "))],
        );
        Ok(id)
    }

    /// `POST /exec/{id}/start`: runs the exec's process. Attached (`detach` false), the
    /// returned stream carries its streams; it was connected before the process started, so
    /// no output is lost. `tty` and `console_size` override what create said.
    pub async fn start_exec(
        &self,
        exec_id: &str,
        detach: bool,
        tty: Option<bool>,
        console_size: Option<(u16, u16)>,
    ) -> Result<Option<ExecStream>> {
        let exec = self.containers.execs.get(exec_id)?;
        let (container_id, mut config) = {
            let mut info = exec.info();
            if info.running || info.exit_code.is_some() {
                return Err(ContainerError::State(format!(
                    "Error: Exec command {exec_id} is already running"
                ))
                .into());
            }
            // Claimed now so a second start fails even while this one is starting.
            info.running = true;
            (info.container_id.clone(), info.config.clone())
        };
        if let Some(tty) = tty {
            config.tty = tty;
        }
        if console_size.is_some() {
            config.console_size = console_size;
        }
        let started = self
            .spawn_exec(&container_id, &config, detach, exec_id)
            .await;
        let (process, stream) = match started {
            Ok(ok) => ok,
            Err(e) => {
                exec.info().running = false;
                return Err(e);
            }
        };
        {
            let mut info = exec.info();
            info.pid = process.pid();
            info.config = config.clone();
        }
        *exec.process.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&process));
        self.watch_exec(Arc::clone(&exec), process);
        Ok(stream.map(|stream| ExecStream {
            stream,
            tty: config.tty,
        }))
    }

    async fn spawn_exec(
        &self,
        container_id: &str,
        config: &ExecConfig,
        detach: bool,
        exec_id: &str,
    ) -> Result<(Arc<dyn Process>, Option<AttachStream>)> {
        let c = self.containers.store().find(container_id)?;
        if c.state.status != Status::Running {
            return Err(ContainerError::State(format!("Container {} is not running", c.id)).into());
        }
        let system = self.system_of(&c)?;
        let mut env = c.config.env.clone();
        for entry in &config.env {
            let key = entry.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.clone());
        }
        let cwd = config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| c.config.working_dir.clone());
        let user = config
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| c.config.user.clone());
        let params = ProcessParameters {
            args: config.cmd.clone(),
            env,
            cwd: PathBuf::from(if cwd.is_empty() { "/" } else { cwd.as_str() }),
            user: user_of(&user),
            terminal: config.tty,
            console_size: config
                .console_size
                .map(|(width, height)| ConsoleSize { width, height }),
            no_new_privileges: false,
            capabilities: if config.privileged {
                CapabilitySet {
                    add: vec!["ALL".to_string()],
                    drop: Vec::new(),
                }
            } else {
                CapabilitySet::default()
            },
            oom_score_adj: None,
            rlimits: Vec::new(),
            open_stdin: config.attach_stdin,
            stdin_once: config.attach_stdin,
        };
        let io = ProcessIo {
            attach: (!detach).then_some(AttachOptions {
                stdin: config.attach_stdin,
                stdout: config.attach_stdout,
                stderr: config.attach_stderr,
            }),
        };
        let (process, stream) = system
            .create_process(params, io)
            .await
            .map_err(ContainerError::from)?;
        self.events.container(
            "exec_start",
            &c,
            &[
                ("execID", exec_id.to_string()),
                ("cmd", config.cmd.join(" ")),
            ],
        );
        Ok((process, stream))
    }

    /// Records the exit of a started exec and announces it.
    fn watch_exec(&self, exec: Arc<Exec>, process: Arc<dyn Process>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let code = match process.wait().await {
                Ok(status) => status.code,
                Err(e) => {
                    tracing::warn!("wait for exec {}: {e}", exec.info().id);
                    126
                }
            };
            let (id, container_id) = {
                let mut info = exec.info();
                info.running = false;
                info.exit_code = Some(code);
                info.pid = 0;
                (info.id.clone(), info.container_id.clone())
            };
            exec.exited.send_replace(Some(code));
            if let Ok(c) = engine.containers.store().find(&container_id) {
                engine.events.container(
                    "exec_die",
                    &c,
                    &[("execID", id), ("exitCode", code.to_string())],
                );
            }
        });
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, exec_id: &str) -> Result<ExecInfo> {
        Ok(self.containers.execs.get(exec_id)?.info().clone())
    }

    /// Resolves with the exit code once a started exec has exited. The API waits for it
    /// before closing an attached exec's connection, so the client's inspect that follows
    /// already sees the exit code.
    pub async fn exec_exited(&self, exec_id: &str) -> Result<i32> {
        let exec = self.containers.execs.get(exec_id)?;
        let mut rx = exec.exited.subscribe();
        let code = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ContainerError::NoSuchExec(exec_id.to_string()))?;
        Ok(code.unwrap_or_default())
    }

    /// `POST /exec/{id}/resize`.
    pub async fn resize_exec(&self, exec_id: &str, width: u16, height: u16) -> Result<()> {
        let exec = self.containers.execs.get(exec_id)?;
        let process = exec
            .process()
            .ok_or_else(|| ContainerError::State(format!("Exec {exec_id} is not running")))?;
        process
            .resize_console(width, height)
            .await
            .map_err(ContainerError::from)?;
        Ok(())
    }

    /// Exec ids of a container, for inspect.
    pub fn container_exec_ids(&self, container_id: &str) -> Vec<String> {
        self.containers.execs.of_container(container_id)
    }
}
