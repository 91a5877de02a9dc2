//! The OCI runtime seam: [`Runtime`] and its libcontainer implementation, [`Youki`].
//!
//! The bundle's `config.json` is the whole contract between silo and the runtime, so another
//! OCI runtime (crun, runc) can implement this trait by executing its binary on the same bundle.
//!
//! Lifecycle: `create` (PID 1 exists, namespaces and cgroups are set up, the user's program has
//! not been executed yet) → `start` (it is) → the process exits and the shim reaps it →
//! `delete` (cgroups and runtime state removed). `kill` is valid after `create` and before the
//! exit has been reaped.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use silo_errdefs::{ErrorKind, HasKind};

/// How the container's PID 1 gets its standard streams.
#[derive(Debug)]
pub enum ContainerIo {
    /// Pipes (and a FIFO or /dev/null for stdin).
    Pipes(Stdio),
    /// A pseudo-terminal made inside the container: the runtime connects to this unix socket
    /// and sends the pty master over it (the OCI console-socket protocol).
    Console(PathBuf),
}

/// The container's standard streams, handed to its PID 1.
#[derive(Debug)]
pub struct Stdio {
    /// Read end of stdin (a FIFO, or /dev/null).
    pub stdin: OwnedFd,
    /// Write end of the stdout pipe.
    pub stdout: OwnedFd,
    /// Write end of the stderr pipe.
    pub stderr: OwnedFd,
}

/// A runtime failure, with the operation and container it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{op} container {id}: {message}")]
pub struct RuntimeError {
    /// The operation (create, start, kill, delete, load).
    pub op: &'static str,
    /// Container id.
    pub id: String,
    /// The runtime's error, flattened: libcontainer's errors are not `Send + Sync + 'static`
    /// friendly across our protocol, and callers only report them.
    pub message: String,
}

impl HasKind for RuntimeError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

/// What a runtime is asked to do for one container. See the module doc for the lifecycle.
pub trait Runtime: Send {
    /// Creates the container with `io`; returns the host pid of its PID 1.
    fn create(&mut self, io: ContainerIo) -> Result<i32, RuntimeError>;
    /// Executes the user's program in a created container.
    fn start(&mut self) -> Result<(), RuntimeError>;
    /// Signals PID 1, or every process in the container's cgroup with `all`.
    fn kill(&mut self, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Freezes every process of the container (cgroup freezer).
    fn pause(&mut self) -> Result<(), RuntimeError>;
    /// Thaws a paused container.
    fn resume(&mut self) -> Result<(), RuntimeError>;
    /// Removes what the container held on the host (cgroups, runtime state), killing any process
    /// still in it.
    fn delete(&mut self) -> Result<(), RuntimeError>;
    /// The runtime's own view of the container: PID 1's host pid, if it is still alive.
    fn state(&mut self) -> Result<Option<i32>, RuntimeError>;
    /// Whether the kernel's OOM killer fired in the container's memory cgroup. Must be asked
    /// before `delete`, which removes the cgroup.
    fn oom_killed(&self) -> bool;
}

/// youki's libcontainer, in process: no runtime binary to exec, no fork of a runtime per call.
#[derive(Debug)]
pub struct Youki {
    id: String,
    bundle: PathBuf,
    /// libcontainer's state root; the container's own directory is `root/<id>`.
    root: PathBuf,
    container: Option<Container>,
}

impl Youki {
    /// A runtime for container `id` from `bundle`, keeping libcontainer's state under `root`.
    pub fn new(id: &str, bundle: &Path, root: &Path) -> Self {
        Youki {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            root: root.to_path_buf(),
            container: None,
        }
    }

    /// Reattaches to a container created earlier under `root` (for `silo-shim cleanup` after
    /// the shim died).
    pub fn load(id: &str, bundle: &Path, root: &Path) -> Result<Self, RuntimeError> {
        let container = Container::load(root.join(id)).map_err(|e| err("load", id, e))?;
        Ok(Youki {
            container: Some(container),
            ..Youki::new(id, bundle, root)
        })
    }

    fn container(&mut self, op: &'static str) -> Result<&mut Container, RuntimeError> {
        let id = self.id.clone();
        self.container.as_mut().ok_or_else(|| RuntimeError {
            op,
            id,
            message: "the container was never created".into(),
        })
    }
}

fn err(op: &'static str, id: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError {
        op,
        id: id.to_string(),
        message: e.to_string(),
    }
}

impl Runtime for Youki {
    fn create(&mut self, io: ContainerIo) -> Result<i32, RuntimeError> {
        let id = &self.id;
        let builder = ContainerBuilder::new(id.clone(), SyscallType::default())
            .validate_id()
            .map_err(|e| err("create", id, e))?
            .with_root_path(&self.root)
            .map_err(|e| err("create", id, e))?;
        let builder = match io {
            ContainerIo::Pipes(stdio) => builder
                .with_stdin(stdio.stdin)
                .with_stdout(stdio.stdout)
                .with_stderr(stdio.stderr),
            ContainerIo::Console(socket) => builder.with_console_socket(Some(socket)),
        };
        let container = builder
            .as_init(&self.bundle)
            // The shim owns the cgroup path given in config.json; no systemd on this host path.
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| err("create", id, e))?;
        let pid = container
            .pid()
            .ok_or_else(|| err("create", id, "libcontainer reported no pid"))?;
        self.container = Some(container);
        Ok(pid.as_raw())
    }

    fn start(&mut self) -> Result<(), RuntimeError> {
        let id = self.id.clone();
        self.container("start")?
            .start()
            .map_err(|e| err("start", &id, e))
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let id = self.id.clone();
        let sig = Signal::try_from(signal).map_err(|e| err("kill", &id, e))?;
        self.container("kill")?
            .kill(sig, all)
            .map_err(|e| err("kill", &id, e))
    }

    fn pause(&mut self) -> Result<(), RuntimeError> {
        let id = self.id.clone();
        self.container("pause")?
            .pause()
            .map_err(|e| err("pause", &id, e))
    }

    fn resume(&mut self) -> Result<(), RuntimeError> {
        let id = self.id.clone();
        self.container("resume")?
            .resume()
            .map_err(|e| err("resume", &id, e))
    }

    fn delete(&mut self) -> Result<(), RuntimeError> {
        let id = self.id.clone();
        self.container("delete")?
            .delete(true)
            .map_err(|e| err("delete", &id, e))
    }

    fn state(&mut self) -> Result<Option<i32>, RuntimeError> {
        let id = self.id.clone();
        let c = self.container("state")?;
        c.refresh_status().map_err(|e| err("state", &id, e))?;
        Ok(match c.status() {
            libcontainer::container::ContainerStatus::Stopped => None,
            _ => c.pid().map(|p| p.as_raw()),
        })
    }

    fn oom_killed(&self) -> bool {
        cgroups_path(&self.bundle).is_some_and(|p| oom_killed_in(Path::new("/sys/fs/cgroup"), &p))
    }
}

/// Accepts the runtime's console-socket connection (already queued: it connected while it
/// created the process) and takes the pty master it sent.
pub fn receive_console(listener: &UnixListener, timeout: Duration) -> io::Result<File> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    let conn: UnixStream = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(timeout))?;
    let mut name = [0u8; 64];
    match crate::sys::recv_fd(&conn, &mut name)? {
        (Some(fd), _) => Ok(File::from(fd)),
        (None, _) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the runtime sent no pty master",
        )),
    }
}

/// Starts `process` (an OCI process JSON file) inside running container `id` whose runtime
/// state is under `root` (libcontainer's tenant builder: joins its namespaces and cgroup), with
/// this process's stdio, or a pty sent to `console_socket`. Returns the new process's host pid
/// once it has executed its program. Must run in a single-threaded process: it forks.
pub fn exec(
    id: &str,
    root: &Path,
    process: &Path,
    console_socket: Option<&Path>,
) -> Result<i32, RuntimeError> {
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(root)
        .map_err(|e| err("exec in", id, e))?
        .with_console_socket(console_socket);
    let pid = builder
        .as_tenant()
        .with_process(Some(process))
        .with_detach(true)
        .build()
        .map_err(|e| err("exec in", id, e))?;
    Ok(pid.as_raw())
}

/// `process.consoleSize` from the bundle's config.json, as (width, height).
pub fn console_size(bundle: &Path) -> Option<(u16, u16)> {
    let data = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&data).ok()?;
    size_of_process(spec.get("process")?)
}

/// `consoleSize` of an OCI process object, as (width, height).
pub fn size_of_process(process: &serde_json::Value) -> Option<(u16, u16)> {
    let size = process.get("consoleSize")?;
    let dim = |k: &str| size.get(k)?.as_u64().and_then(|v| u16::try_from(v).ok());
    Some((dim("width")?, dim("height")?))
}

/// `linux.cgroupsPath` from the bundle's config.json, relative to a hierarchy root.
fn cgroups_path(bundle: &Path) -> Option<String> {
    let data = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&data).ok()?;
    let path = spec.pointer("/linux/cgroupsPath")?.as_str()?;
    Some(path.trim_start_matches('/').to_string())
}

/// Looks for a non-zero `oom_kill` counter wherever this host keeps the memory controller:
/// cgroup v1 (`memory/…/memory.oom_control`), pure v2 (`…/memory.events`) or the v2 half of a
/// hybrid layout (`unified/…/memory.events`).
fn oom_killed_in(root: &Path, rel: &str) -> bool {
    let candidates = [
        root.join("memory").join(rel).join("memory.oom_control"),
        root.join(rel).join("memory.events"),
        root.join("unified").join(rel).join("memory.events"),
    ];
    candidates.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counter_is_found_in_v1_and_v2_layouts() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(!oom_killed_in(r, "silo/c1"));
        std::fs::create_dir_all(r.join("memory/silo/c1")).unwrap();
        std::fs::write(
            r.join("memory/silo/c1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        assert!(!oom_killed_in(r, "silo/c1"));
        std::fs::create_dir_all(r.join("unified/silo/c1")).unwrap();
        std::fs::write(
            r.join("unified/silo/c1/memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(oom_killed_in(r, "silo/c1"));
    }

    #[test]
    fn cgroups_path_comes_from_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"linux":{"cgroupsPath":"/silo/abc"}}"#,
        )
        .unwrap();
        assert_eq!(cgroups_path(dir.path()).as_deref(), Some("silo/abc"));
    }
}
