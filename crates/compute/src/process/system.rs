//! [`ProcessComputeSystem`]: one process-isolated container, driven through its shim. Each
//! operation checks the contract's state guard against the shim's answer first (see
//! [`super::shared`]), then sends one request.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::rootfs;
use super::shared::{Shared, STARTED_FILE};
use super::shim::{shim_error, shim_gone};
use crate::document::{Isolation, ProcessParameters};
use crate::error::{Cause, ComputeError, Result};
use crate::properties::{Properties, PropertyQuery, ResourceUpdate};
use crate::state::{Event, ExitStatus, Operation, State};
use crate::{AddedProcess, AttachOptions, AttachStream, BoxFuture, ComputeSystem, ProcessIo};
use silo_shim::protocol::{AttachRequest, Request};

/// A handle on one process-isolated compute system.
#[derive(Debug, Clone)]
pub struct ProcessComputeSystem {
    pub(super) shared: Arc<Shared>,
}

impl ComputeSystem for ProcessComputeSystem {
    fn id(&self) -> &str {
        &self.shared.id
    }

    fn isolation(&self) -> Isolation {
        Isolation::Process
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Start;
            let obs = s.checked(op).await?;
            s.paths
                .call(op, &s.id, |c| c.start())
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            let now = Utc::now();
            s.memo().started_at = Some(now);
            let path = s.paths.dir.join(STARTED_FILE);
            std::fs::write(&path, now.to_rfc3339()).map_err(|source| {
                s.err(
                    op,
                    Cause::Io {
                        action: "write",
                        path,
                        source,
                    },
                )
            })?;
            s.publish(Event::Started {
                pid: obs.pid.unwrap_or(0),
            });
            s.watch();
            Ok(())
        })
    }

    fn shutdown(&self, signal: i32, timeout: Duration) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Shutdown;
            s.checked(op).await?;
            s.kill(op, signal, false).await?;
            if let Ok(done) = tokio::time::timeout(timeout, s.wait_exit(op)).await {
                return done;
            }
            s.mark_forced(op)?;
            s.kill(op, libc::SIGKILL, true).await?;
            s.wait_exit(op).await
        })
    }

    fn terminate(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Terminate;
            let obs = s.checked(op).await?;
            s.mark_forced(op)?;
            if obs.state == State::Paused {
                // Thaw first so the kill lands on every cgroup layout; the processes run for
                // a moment before they die, which is harmless for a kill.
                let thawed = s
                    .paths
                    .call(op, &s.id, |c| c.call(&Request::Resume).map(drop))
                    .await;
                if let Err(e) = thawed {
                    tracing::warn!(id = %s.id, "thaw before terminate: {e}");
                }
            }
            s.kill(op, libc::SIGKILL, true).await?;
            s.wait_exit(op).await
        })
    }

    fn pause(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Pause;
            s.checked(op).await?;
            s.paths
                .call(op, &s.id, |c| c.call(&Request::Pause).map(drop))
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            s.publish(Event::Paused);
            Ok(())
        })
    }

    fn resume(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Resume;
            s.checked(op).await?;
            s.paths
                .call(op, &s.id, |c| c.call(&Request::Resume).map(drop))
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            s.publish(Event::Resumed);
            Ok(())
        })
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Signal;
            s.checked(op).await?;
            s.paths
                .call(op, &s.id, move |c| c.kill(signal, false))
                .await
                .map_err(|e| shim_error(op, &s.id, e))
        })
    }

    fn properties(&self, query: PropertyQuery) -> BoxFuture<'_, Result<Properties>> {
        Box::pin(async move {
            let s = &self.shared;
            let obs = s.observe(Operation::Properties).await?;
            let live = obs.state != State::Stopped;
            Ok(Properties {
                id: s.id.clone(),
                owner: s.owner.clone(),
                isolation: Isolation::Process,
                state: obs.state,
                pid: obs.pid,
                started_at: s.memo().started_at,
                exit_status: obs.exit,
                process_list: query.process_list.then(|| {
                    if live {
                        s.cgroup.processes()
                    } else {
                        Vec::new()
                    }
                }),
                statistics: (query.statistics && live).then(|| s.cgroup.statistics()),
            })
        })
    }

    fn modify(&self, update: ResourceUpdate) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Modify;
            s.checked(op).await?;
            let ResourceUpdate::Limits { resources } = update else {
                let what = "adding or removing mounts of a running system";
                return Err(s.not_supported(op, what));
            };
            resources.validate().map_err(|e| s.err(op, e))?;
            // Limits live in the cgroup the runtime made: write them there directly.
            s.cgroup.apply(&resources).map_err(|e| {
                let cause = Cause::Io {
                    action: "write",
                    path: e.path,
                    source: e.source,
                };
                s.err(op, cause)
            })?;
            s.publish(Event::Modified);
            Ok(())
        })
    }

    fn create_process(
        &self,
        params: ProcessParameters,
        io: ProcessIo,
    ) -> BoxFuture<'_, Result<AddedProcess>> {
        Box::pin(super::exec::create(&self.shared, params, io))
    }

    fn attach(&self, opts: AttachOptions) -> BoxFuture<'_, Result<AttachStream>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Attach;
            s.checked(op).await?;
            let req = AttachRequest {
                stdin: opts.stdin,
                stdout: opts.stdout,
                stderr: opts.stderr,
                exec: None,
            };
            let (stream, _) = s
                .paths
                .attach(&req)
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            Ok(stream)
        })
    }

    fn resize_console(&self, width: u16, height: u16) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Resize;
            s.checked(op).await?;
            let req = Request::Resize { width, height };
            s.paths
                .call(op, &s.id, move |c| c.call(&req).map(drop))
                .await
                .map_err(|e| shim_error(op, &s.id, e))
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(self.shared.wait_exit(Operation::Wait))
    }

    fn delete(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = &self.shared;
            let op = Operation::Delete;
            let obs = s.checked(op).await?;
            if obs.state == State::Created {
                // A created container has a PID 1 waiting for Start; end it so the shim stops.
                s.mark_forced(op)?;
                s.kill(op, libc::SIGKILL, true).await?;
                s.wait_exit(op).await?;
            }
            // Reverse order of acquisition, continuing past failures: shim, rootfs, state.
            let mut first: Option<ComputeError> = None;
            match s.paths.call(op, &s.id, |c| c.shutdown()).await {
                Err(e) if !shim_gone(&e) => first = Some(shim_error(op, &s.id, e)),
                _ => {}
            }
            if let Err(e) = rootfs::remove_sandbox(&s.sandbox) {
                let cause = Cause::Io {
                    action: e.action,
                    path: e.path,
                    source: e.source,
                };
                first.get_or_insert(s.err(op, cause));
            }
            match std::fs::remove_dir_all(&s.paths.dir) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    let path = s.paths.dir.clone();
                    let cause = Cause::Io {
                        action: "remove",
                        path,
                        source,
                    };
                    first.get_or_insert(s.err(op, cause));
                }
                _ => {}
            }
            s.memo().deleted = true;
            s.publish(Event::Deleted);
            first.map_or(Ok(()), Err)
        })
    }
}
