//! What every handle on one process-isolated system shares with its exit watcher.
//!
//! The shim is the source of truth for the state (Created / Running / Stopped) and the exit
//! record; [`Shared`] only adds what the shim cannot know — why the container stopped (the exit
//! type) and the events. The exit type is kept in marker files next to the bundle as well as in
//! memory, so a daemon restarted between `terminate` and the exit still reports ForcedExit:
//! `forced` is written before the kill that ends a `terminate` or an expired `shutdown`, `lost`
//! before `silo-shim cleanup` reaps a container whose shim died.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rustix::fs::FlockOperation;
use silo_errdefs::{ErrorKind, HasKind};
use silo_shim::{ClientError, ExitRecord, Status};
use tokio::sync::broadcast;

use super::cgroup::CgroupDirs;
use super::shim::{read_exit, shim_error, shim_gone, ShimPaths};
use crate::document::Isolation;
use crate::error::{Cause, ComputeError, Result};
use crate::state::{Event, ExitStatus, ExitType, Operation, State, SystemEvent};

/// Written before a kill that ends the system: its exit is ForcedExit.
const FORCED_MARKER: &str = "forced";
/// Written (and locked) while cleaning up after a dead shim: its exit is UnexpectedExit.
const LOST_MARKER: &str = "lost";
/// When `start` succeeded, RFC 3339, for `properties` after a daemon restart.
pub(super) const STARTED_FILE: &str = "started";

/// Pause before asking a shim again after a broken connection.
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// How long a cleanup after a dead shim may wait for another one to finish.
const RECOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the handle remembers beyond the shim.
#[derive(Debug, Default)]
pub(super) struct Memo {
    pub(super) deleted: bool,
    forced: bool,
    /// An exit watcher is running (one per system, however many handles or `open`s).
    watching: bool,
    pub(super) started_at: Option<DateTime<Utc>>,
    /// The first exit observed; later observations agree on code but not on the exit type.
    exit: Option<ExitStatus>,
}

/// Shared by every handle on one system and by its exit watcher.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) id: String,
    pub(super) owner: String,
    pub(super) sandbox: PathBuf,
    pub(super) paths: ShimPaths,
    pub(super) cgroup: CgroupDirs,
    pub(super) events: broadcast::Sender<SystemEvent>,
    memo: Mutex<Memo>,
}

/// State as observed now.
pub(super) struct Observed {
    pub(super) state: State,
    pub(super) pid: Option<u32>,
    pub(super) exit: Option<ExitStatus>,
}

impl Shared {
    pub(super) fn new(
        id: String,
        owner: String,
        sandbox: PathBuf,
        paths: ShimPaths,
        cgroup: CgroupDirs,
        events: broadcast::Sender<SystemEvent>,
    ) -> Self {
        let forced = paths.dir.join(FORCED_MARKER).exists();
        let started_at = std::fs::read_to_string(paths.dir.join(STARTED_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok());
        Shared {
            id,
            owner,
            sandbox,
            paths,
            cgroup,
            events,
            memo: Mutex::new(Memo {
                forced,
                started_at,
                ..Memo::default()
            }),
        }
    }

    pub(super) fn memo(&self) -> MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn publish(&self, event: Event) {
        // No subscriber is not an error: events are a broadcast, not a queue.
        let _ = self.events.send(SystemEvent {
            id: self.id.clone(),
            at: Utc::now(),
            event,
        });
    }

    pub(super) fn err(&self, op: Operation, cause: impl Into<Cause>) -> ComputeError {
        ComputeError::new(op, &self.id, cause)
    }

    pub(super) fn not_supported(&self, op: Operation, what: &'static str) -> ComputeError {
        let isolation = Isolation::Process;
        self.err(op, Cause::NotSupported { what, isolation })
    }

    /// Records an exit the first time it is seen, with its exit type, and publishes Exited.
    pub(super) fn settle(&self, rec: &ExitRecord) -> ExitStatus {
        let mut memo = self.memo();
        if let Some(status) = &memo.exit {
            return status.clone();
        }
        let exit_type = if memo.forced {
            ExitType::ForcedExit
        } else if rec.oom_killed || self.paths.dir.join(LOST_MARKER).exists() {
            ExitType::UnexpectedExit
        } else {
            ExitType::GracefulExit
        };
        let mut status = match rec.signal {
            Some(sig) => ExitStatus::signaled(sig, exit_type, rec.exited_at),
            None => ExitStatus::exited(rec.code, exit_type, rec.exited_at),
        };
        status.oom_killed = rec.oom_killed;
        memo.exit = Some(status.clone());
        drop(memo);
        self.publish(Event::Exited {
            status: status.clone(),
        });
        status
    }

    /// Asks the shim; when it is gone, falls back to `exit.json`, and when that is missing too
    /// (the shim died before the container), cleans up and reports an unexpected exit.
    pub(super) async fn observe(&self, op: Operation) -> Result<Observed> {
        if self.memo().deleted {
            return Err(self.err(op, Cause::NotFound));
        }
        let mut answer = self.paths.state(op, &self.id).await;
        if answer
            .as_ref()
            .is_err_and(|e| !shim_gone(e) && super::shim::broken(e))
        {
            // A shim dying while it accepts our connection resets it; ask again to learn whether
            // it is gone (connect fails) or was only busy.
            tokio::time::sleep(RETRY_DELAY).await;
            answer = self.paths.state(op, &self.id).await;
        }
        match answer {
            Ok(info) => {
                let pid = info.pid.and_then(|p| u32::try_from(p).ok());
                let (state, exit) = match (info.status, &info.exit) {
                    (Status::Created, _) => (State::Created, None),
                    (Status::Running, _) => (State::Running, None),
                    (Status::Paused, _) => (State::Paused, None),
                    (Status::Stopped, Some(rec)) => (State::Stopped, Some(self.settle(rec))),
                    (Status::Stopped, None) => (State::Stopped, self.memo().exit.clone()),
                };
                Ok(Observed { state, pid, exit })
            }
            Err(e) if shim_gone(&e) => {
                let dir = &self.paths.dir;
                if !dir.exists() {
                    return Err(self.err(op, Cause::NotFound));
                }
                let rec = match read_exit(op, &self.id, dir)? {
                    Some(rec) => rec,
                    None => self.recover(op, e).await?,
                };
                let exit = Some(self.settle(&rec));
                Ok(Observed {
                    state: State::Stopped,
                    pid: None,
                    exit,
                })
            }
            Err(e) => Err(shim_error(op, &self.id, e)),
        }
    }

    /// The shim died before recording an exit: kill what is left of the container through
    /// `silo-shim cleanup`, which leaves an exit record. The exit watcher, a caller, or another
    /// process's handle may all get here at once; an exclusive lock on the `lost` marker lets one
    /// cleanup run, and the others then find the record it wrote.
    async fn recover(&self, op: Operation, cause: ClientError) -> Result<ExitRecord> {
        let dir = &self.paths.dir;
        let marker = dir.join(LOST_MARKER);
        let io = |action, source| {
            let path = marker.clone();
            self.err(
                op,
                Cause::Io {
                    action,
                    path,
                    source,
                },
            )
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&marker)
            .map_err(|e| io("create", e))?;
        let deadline = tokio::time::Instant::now() + RECOVERY_TIMEOUT;
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_DELAY).await;
                }
                Err(e) => return Err(io("lock", e.into())),
            }
        }
        if let Some(rec) = read_exit(op, &self.id, dir)? {
            return Ok(rec);
        }
        let cleaned = self.paths.cleanup(op, &self.id).await;
        drop(file);
        match read_exit(op, &self.id, dir)? {
            Some(rec) => Ok(rec),
            None => Err(cleaned
                .err()
                .unwrap_or_else(|| shim_error(op, &self.id, cause))),
        }
    }

    /// Records, in memory and on disk, that the coming kill is ours: the exit is ForcedExit.
    pub(super) fn mark_forced(&self, op: Operation) -> Result<()> {
        self.memo().forced = true;
        let path = self.paths.dir.join(FORCED_MARKER);
        std::fs::write(&path, b"").map_err(|source| {
            self.err(
                op,
                Cause::Io {
                    action: "write",
                    path,
                    source,
                },
            )
        })
    }

    pub(super) async fn checked(&self, op: Operation) -> Result<Observed> {
        let obs = self.observe(op).await?;
        ComputeError::check_state(op, &self.id, obs.state)?;
        Ok(obs)
    }

    /// Sends a signal; a container that exited meanwhile is not an error for the kill phases,
    /// whose wait then returns the exit.
    pub(super) async fn kill(&self, op: Operation, signal: i32, all: bool) -> Result<()> {
        match self
            .paths
            .call(op, &self.id, move |c| c.kill(signal, all))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match self.observe(op).await {
                Ok(obs) if obs.state == State::Stopped => Ok(()),
                _ => Err(shim_error(op, &self.id, e)),
            },
        }
    }

    pub(super) async fn wait_exit(&self, op: Operation) -> Result<ExitStatus> {
        if let Some(status) = self.memo().exit.clone() {
            return Ok(status);
        }
        if self.memo().deleted {
            return Err(self.err(op, Cause::NotFound));
        }
        match self.paths.wait().await {
            Ok(rec) => Ok(self.settle(&rec)),
            Err(e) => {
                let obs = self.observe(op).await?;
                obs.exit.ok_or_else(|| shim_error(op, &self.id, e))
            }
        }
    }

    /// Publishes Exited as soon as the container ends, whether or not anyone waits.
    pub(super) fn watch(self: &Arc<Self>) {
        if std::mem::replace(&mut self.memo().watching, true) {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = shared.wait_exit(Operation::Wait).await {
                if e.kind() != ErrorKind::NotFound {
                    tracing::warn!(id = %shared.id, "watching for the exit: {e}");
                }
            }
        });
    }
}
