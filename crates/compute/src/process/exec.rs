//! `create_process` (exec) on a process-isolated system, and [`ProcessExec`], the handle on the
//! added process. The OCI process is built here exactly like the first one (same capability
//! rules, defaults and user resolution, see [`crate::spec::oci_process`]); the shim starts it
//! through libcontainer's tenant builder, which joins the container's namespaces and cgroup.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use silo_shim::protocol::{AttachRequest, ExecSpec, Request};
use silo_shim::ExitRecord;

use super::shared::Shared;
use super::shim::shim_error;
use crate::document::{ComputeSystemDocument, ProcessParameters};
use crate::error::{Cause, Result};
use crate::state::{Event, ExitStatus, ExitType, Operation};
use crate::{AddedProcess, BoxFuture, Process, ProcessIo};

const DOCUMENT_FILE: &str = "document.json";
const CONFIG_FILE: &str = "config.json";

/// Distinguishes execs started within one nanosecond.
static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

/// A process added with `create_process`.
#[derive(Debug)]
pub struct ProcessExec {
    shared: Arc<Shared>,
    /// The shim's name for it.
    exec_id: String,
    pid: u32,
}

fn io_cause(action: &'static str, path: PathBuf, e: impl Into<std::io::Error>) -> Cause {
    Cause::Io {
        action,
        path,
        source: e.into(),
    }
}

/// The system as created: its document, its rootfs as the runtime sees it, and the first
/// process's resource limits from config.json (already fitted to what the host grants).
struct Created {
    doc: ComputeSystemDocument,
    rootfs: PathBuf,
    rlimits: Option<serde_json::Value>,
}

fn created(s: &Shared, op: Operation) -> Result<Created> {
    let read = |name: &str| {
        let path = s.paths.dir.join(name);
        let data =
            std::fs::read(&path).map_err(|e| s.err(op, io_cause("read", path.clone(), e)))?;
        serde_json::from_slice::<serde_json::Value>(&data).map_err(|e| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            s.err(op, io_cause("decode", path, e))
        })
    };
    let doc = serde_json::from_value(read(DOCUMENT_FILE)?).map_err(|e| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        s.err(op, io_cause("decode", s.paths.dir.join(DOCUMENT_FILE), e))
    })?;
    let config = read(CONFIG_FILE)?;
    let root = config
        .pointer("/root/path")
        .and_then(|p| p.as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| s.sandbox.join("rootfs"));
    let rootfs = if root.is_relative() {
        s.paths.dir.join(root)
    } else {
        root
    };
    let rlimits = config.pointer("/process/rlimits").cloned();
    Ok(Created {
        doc,
        rootfs,
        rlimits,
    })
}

/// The first process's environment with `params.env` on top (a later key replaces an earlier).
fn exec_environment(first: &[String], params: &[String]) -> Vec<String> {
    let mut env: Vec<String> = Vec::with_capacity(first.len() + params.len());
    for entry in first.iter().chain(params) {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        match env
            .iter()
            .position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(i) => env[i] = entry.clone(),
            None => env.push(entry.clone()),
        }
    }
    env
}

fn exec_id() -> String {
    let nanos = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .unsigned_abs();
    let seq = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("exec-{nanos:x}-{seq}")
}

/// `ComputeSystem::create_process` for the process backend.
pub(super) async fn create(
    shared: &Arc<Shared>,
    params: ProcessParameters,
    io: ProcessIo,
) -> Result<AddedProcess> {
    let s = shared;
    let op = Operation::CreateProcess;
    s.checked(op).await?;
    let Created {
        doc,
        rootfs,
        rlimits,
    } = created(s, op)?;
    let mut params = params;
    params.env = exec_environment(&doc.process.env, &params.env);
    let mut process = crate::spec::oci_process(&doc, &params, &rootfs).map_err(|e| s.err(op, e))?;
    super::backend::fit_capabilities_to_host(&doc, &params, &mut process);
    let mut process = serde_json::to_value(&process).map_err(|e| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        s.err(op, io_cause("encode", s.paths.dir.join("exec"), e))
    })?;
    // Without limits of its own an exec gets the first process's, as created: the defaults
    // may ask for more than the host grants, which config.json was already fitted to.
    if let (true, Some(limits), Some(obj)) =
        (params.rlimits.is_empty(), rlimits, process.as_object_mut())
    {
        obj.insert("rlimits".into(), limits);
    }
    let spec = ExecSpec {
        id: exec_id(),
        process,
    };
    let exec_id = spec.id.clone();
    let (pid, stream) = match io.attach {
        Some(opts) => {
            let req = AttachRequest {
                stdin: opts.stdin,
                stdout: opts.stdout,
                stderr: opts.stderr,
                exec: Some(spec),
            };
            let (stream, pid) = s
                .paths
                .attach(&req)
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            (pid.unwrap_or_default(), Some(stream))
        }
        None => {
            let pid = s
                .paths
                .call(op, &s.id, move |c| c.exec(spec))
                .await
                .map_err(|e| shim_error(op, &s.id, e))?;
            (pid, None)
        }
    };
    let pid = u32::try_from(pid).unwrap_or_default();
    s.publish(Event::ProcessCreated { pid });
    let exec = Arc::new(ProcessExec {
        shared: Arc::clone(s),
        exec_id,
        pid,
    });
    // ProcessExited is published whether or not anyone waits.
    let watcher = Arc::clone(&exec);
    tokio::spawn(async move {
        if let Ok(status) = watcher.wait_inner().await {
            watcher.shared.publish(Event::ProcessExited {
                pid: watcher.pid,
                status,
            });
        }
    });
    Ok((exec as Arc<dyn Process>, stream))
}

fn status_of(rec: &ExitRecord) -> ExitStatus {
    // An exec that ends by itself or by a signal is not the system's exit; its type only
    // says it was not cut short by the backend.
    match rec.signal {
        Some(sig) => ExitStatus::signaled(sig, ExitType::GracefulExit, rec.exited_at),
        None => ExitStatus::exited(rec.code, ExitType::GracefulExit, rec.exited_at),
    }
}

impl ProcessExec {
    async fn request(&self, op: Operation, req: Request) -> Result<()> {
        let s = &self.shared;
        s.paths
            .call(op, &s.id, move |c| c.call(&req).map(drop))
            .await
            .map_err(|e| shim_error(op, &s.id, e))
    }

    async fn wait_inner(&self) -> Result<ExitStatus> {
        let s = &self.shared;
        let op = Operation::WaitProcess;
        let rec = s
            .paths
            .exec_wait(&self.exec_id)
            .await
            .map_err(|e| shim_error(op, &s.id, e))?;
        Ok(status_of(&rec))
    }
}

impl Process for ProcessExec {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        let req = Request::ExecKill {
            id: self.exec_id.clone(),
            signal,
        };
        Box::pin(self.request(Operation::SignalProcess, req))
    }

    fn resize_console(&self, width: u16, height: u16) -> BoxFuture<'_, Result<()>> {
        let req = Request::ExecResize {
            id: self.exec_id.clone(),
            width,
            height,
        };
        Box::pin(self.request(Operation::ResizeConsole, req))
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<()>> {
        let req = Request::ExecCloseStdin {
            id: self.exec_id.clone(),
        };
        Box::pin(self.request(Operation::CloseStdin, req))
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(self.wait_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_environment_layers_params_over_the_first_process() {
        let first = ["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        let params = ["A=9".to_string(), "C=3".into()];
        assert_eq!(
            exec_environment(&first, &params),
            ["PATH=/bin", "A=9", "B=2", "C=3"]
        );
        assert!(exec_id() != exec_id());
    }
}
