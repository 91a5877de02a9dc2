//! Live streams of a container's first process (`docker attach`, attached `docker run`), its
//! terminal size, and pause/unpause.
//!
//! The engine only finds the compute system and checks the record's status; the stream itself
//! is the compute service's [`AttachStream`] (Docker stdcopy frames out, stdin in), which the
//! API splices onto the hijacked client connection.

use silo_compute::{AttachOptions, AttachStream};

use super::error::ContainerError;
use super::model::{Container, Status};
use crate::{Engine, Result};

/// A connection to a container's streams.
#[derive(Debug)]
pub struct Attachment {
    /// Frames from the process, stdin to it.
    pub stream: AttachStream,
    /// With a terminal there is one raw stream: the API strips the frame headers.
    pub tty: bool,
}

impl Engine {
    /// Connects to the first process's streams. A container that was created but not started
    /// may be attached (the CLI attaches before it starts); a stopped one may not.
    pub async fn attach_container(&self, key: &str, opts: AttachOptions) -> Result<Attachment> {
        let c = self.containers.store().find(key)?;
        if matches!(c.state.status, Status::Exited | Status::Dead) {
            return Err(ContainerError::State(
                "You cannot attach to a stopped container, start it first".to_string(),
            )
            .into());
        }
        let opts = AttachOptions {
            stdin: opts.stdin && c.config.open_stdin,
            ..opts
        };
        let system = self.system_of(&c)?;
        let stream = system.attach(opts).await.map_err(ContainerError::from)?;
        Ok(Attachment {
            stream,
            tty: c.config.tty,
        })
    }

    /// `POST /containers/{id}/resize`: the terminal size of the first process.
    pub async fn resize_container(&self, key: &str, width: u16, height: u16) -> Result<()> {
        let c = self.containers.store().find(key)?;
        if !c.state.status.is_live() {
            return Err(ContainerError::State(format!(
                "Container {} is not running",
                c.short_name()
            ))
            .into());
        }
        let system = self.system_of(&c)?;
        system
            .resize_console(width, height)
            .await
            .map_err(ContainerError::from)?;
        Ok(())
    }

    /// `docker pause`: freezes every process of a running container.
    pub async fn pause_container(&self, key: &str) -> Result<()> {
        let mut c = self.containers.store().find(key)?;
        match c.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(
                    ContainerError::State(format!("Container {} is already paused", c.id)).into(),
                )
            }
            _ => {
                return Err(
                    ContainerError::State(format!("Container {} is not running", c.id)).into(),
                )
            }
        }
        let system = self.system_of(&c)?;
        system.pause().await.map_err(ContainerError::from)?;
        c.state.status = Status::Paused;
        self.containers.store().update(&c)?;
        self.events.container("pause", &c, &[]);
        Ok(())
    }

    /// `docker unpause`: thaws a paused container.
    pub async fn unpause_container(&self, key: &str) -> Result<()> {
        let mut c = self.containers.store().find(key)?;
        if c.state.status != Status::Paused {
            return Err(ContainerError::State(format!("Container {} is not paused", c.id)).into());
        }
        let system = self.system_of(&c)?;
        system.resume().await.map_err(ContainerError::from)?;
        c.state.status = Status::Running;
        self.containers.store().update(&c)?;
        self.events.container("unpause", &c, &[]);
        Ok(())
    }

    /// The compute system of a container the engine holds one for.
    pub(super) fn system_of(
        &self,
        c: &Container,
    ) -> Result<std::sync::Arc<dyn silo_compute::ComputeSystem>, ContainerError> {
        self.containers.system(&c.id).ok_or_else(|| {
            ContainerError::State(format!("container {} has no compute system", c.id))
        })
    }
}
