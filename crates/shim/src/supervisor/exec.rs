//! Execs: processes added to the running container.
//!
//! The supervisor is multi-threaded, and forking a multi-threaded process with libcontainer
//! (clone without atfork handlers) can deadlock the child on a lock another thread held. So
//! each exec is started by a single-threaded helper, `silo-shim exec-process` (spawned with
//! posix_spawn semantics by `std::process::Command`), which runs libcontainer's tenant builder
//! with the exec's stdio as its own and reports the new pid (and, with a terminal, the pty
//! master) over a socket on fd 3. The exec'd process is orphaned when libcontainer's
//! intermediate process exits and, the shim being a child subreaper, re-parented to the shim,
//! whose reaper records its exit. The reaper may see that exit before the helper reported the
//! pid, so unmatched exits are kept for a while.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::attach::{Hub, StdinSink};
use super::{spawn, Shared, DRAIN_TIMEOUT};
use crate::logs::Stream;
use crate::protocol::{ExecInfo, ExecSpec, ExitRecord, ProtocolError, Status};
use crate::sys::{self, ChildExit};

/// How long an exit reaped before its pid was known is kept (helpers' own exits age out too).
const UNMATCHED_TTL: Duration = Duration::from_secs(60);
/// Exited execs remembered for `ExecState`/`ExecWait`; older ones are forgotten.
const MAX_EXITED: usize = 128;
/// How long the helper may take to start the process.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One exec.
#[derive(Debug)]
pub(super) struct Exec {
    pub(super) id: String,
    pub(super) pid: i32,
    pub(super) hub: Arc<Hub>,
    pub(super) stdin: Option<Arc<StdinSink>>,
    console: Option<File>,
    state: Mutex<ExecState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct ExecState {
    exit: Option<ExitRecord>,
    /// Every output pump reached end-of-file (true at once for a detached exec).
    drained: bool,
}

/// Every exec of the container, by id and by pid.
#[derive(Debug, Default)]
pub(super) struct Execs {
    by_id: HashMap<String, Arc<Exec>>,
    by_pid: HashMap<i32, Arc<Exec>>,
    /// Ids being started.
    reserved: HashSet<String>,
    unmatched: HashMap<i32, (ChildExit, DateTime<Utc>, Instant)>,
    /// Helpers that have reported but were not reaped yet: their exit is not an exec's.
    helpers: HashSet<i32>,
    exited: VecDeque<String>,
}

impl Exec {
    fn set_exit(&self, exit: ChildExit, at: DateTime<Utc>) {
        let mut st = lock(&self.state);
        st.exit.get_or_insert(ExitRecord {
            code: exit.code(),
            signal: exit.signal(),
            exited_at: at,
            oom_killed: false,
        });
        self.changed.notify_all();
    }

    fn set_drained(&self) {
        lock(&self.state).drained = true;
        self.changed.notify_all();
        self.hub.close();
    }

    pub(super) fn exit(&self) -> Option<ExitRecord> {
        lock(&self.state).exit.clone()
    }

    /// Blocks until the exec has exited and (for a bounded time) its output was drained.
    pub(super) fn wait(&self) -> ExitRecord {
        let mut st = lock(&self.state);
        let exit = loop {
            if let Some(exit) = &st.exit {
                break exit.clone();
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        };
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !st.drained {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        exit
    }

    pub(super) fn info(&self) -> ExecInfo {
        ExecInfo {
            id: self.id.clone(),
            pid: self.pid,
            exit: self.exit(),
        }
    }

    pub(super) fn resize(&self, width: u16, height: u16) -> Result<(), ProtocolError> {
        let Some(master) = &self.console else {
            return Err(ProtocolError::NoTerminal {
                what: format!("exec {}", self.id),
            });
        };
        sys::set_winsize(master, width, height).map_err(|e| ProtocolError::Runtime {
            op: "resize the terminal of exec".into(),
            id: self.id.clone(),
            message: e.to_string(),
        })
    }

    pub(super) fn close_stdin(&self) -> Result<(), ProtocolError> {
        match &self.stdin {
            Some(sink) => {
                sink.close();
                Ok(())
            }
            None => Err(ProtocolError::NoStdin {
                what: format!("exec {}", self.id),
            }),
        }
    }
}

impl Shared {
    pub(super) fn execs(&self) -> MutexGuard<'_, Execs> {
        lock(&self.execs)
    }

    pub(super) fn exec(&self, id: &str) -> Result<Arc<Exec>, ProtocolError> {
        self.execs()
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| ProtocolError::NoSuchExec { id: id.into() })
    }

    /// Called by the reaper for every child that is not PID 1.
    pub(super) fn exec_exited(&self, pid: i32, exit: ChildExit, at: DateTime<Utc>) {
        let mut execs = self.execs();
        if execs.helpers.remove(&pid) {
            return;
        }
        let Some(exec) = execs.by_pid.get(&pid).cloned() else {
            let now = Instant::now();
            execs
                .unmatched
                .retain(|_, (_, _, seen)| now.duration_since(*seen) < UNMATCHED_TTL);
            execs.unmatched.insert(pid, (exit, at, now));
            return;
        };
        exec.set_exit(exit, at);
        execs.exited.push_back(exec.id.clone());
        while execs.exited.len() > MAX_EXITED {
            if let Some(old) = execs.exited.pop_front() {
                if let Some(e) = execs.by_id.remove(&old) {
                    execs.by_pid.remove(&e.pid);
                }
            }
        }
    }
}

/// An exec about to start: its hub exists, so an attach can join before any output.
pub(super) struct Launch<'a> {
    shared: &'a Shared,
    spec: ExecSpec,
    tty: bool,
    want_stdin: bool,
    attached: bool,
    pub(super) hub: Arc<Hub>,
}

/// Checks the request against the container's state and reserves the id. `attach` is `None`
/// for a detached exec, else whether the client wants stdin.
pub(super) fn prepare(
    shared: &Shared,
    spec: ExecSpec,
    attach: Option<bool>,
) -> Result<Launch<'_>, ProtocolError> {
    spec.check_id()?;
    let inner = shared.inner();
    if inner.status != Status::Running || inner.reaped {
        return Err(ProtocolError::FailedPrecondition {
            op: "exec in".into(),
            id: shared.id.clone(),
            status: if inner.reaped {
                Status::Stopped
            } else {
                inner.status
            },
        });
    }
    drop(inner);
    let mut execs = shared.execs();
    if execs.by_id.contains_key(&spec.id) || !execs.reserved.insert(spec.id.clone()) {
        return Err(ProtocolError::ExecExists { id: spec.id });
    }
    drop(execs);
    let tty = spec.terminal();
    Ok(Launch {
        shared,
        tty,
        want_stdin: attach.unwrap_or(false),
        attached: attach.is_some(),
        hub: Arc::new(Hub::new(tty)),
        spec,
    })
}

/// The exec's stdio as the helper gets it, and the shim's ends.
struct Wiring {
    child: [Stdio; 3],
    sources: Vec<(File, Stream)>,
    stdin: Option<File>,
}

impl Launch<'_> {
    /// Starts the exec through the helper and registers it.
    pub(super) fn run(self) -> Result<Arc<Exec>, ProtocolError> {
        let result = self.start();
        self.shared.execs().reserved.remove(&self.spec.id);
        result
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> ProtocolError {
        ProtocolError::Runtime {
            op: format!("exec {}: {what} in", self.spec.id),
            id: self.shared.id.clone(),
            message: e.to_string(),
        }
    }

    fn wiring(&self) -> io::Result<Wiring> {
        if self.tty || !self.attached {
            // A pty replaces the helper's stdio in the exec'd process; a detached exec gets
            // /dev/null.
            return Ok(Wiring {
                child: [Stdio::null(), Stdio::null(), Stdio::null()],
                sources: Vec::new(),
                stdin: None,
            });
        }
        let (out_r, out_w) = sys::pipe()?;
        let (err_r, err_w) = sys::pipe()?;
        let (stdin_child, stdin) = if self.want_stdin {
            let (r, w) = sys::pipe()?;
            (Stdio::from(r), Some(w))
        } else {
            (Stdio::null(), None)
        };
        Ok(Wiring {
            child: [stdin_child, Stdio::from(out_w), Stdio::from(err_w)],
            sources: vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)],
            stdin,
        })
    }

    fn start(&self) -> Result<Arc<Exec>, ProtocolError> {
        let dir = self.shared.state.join("exec");
        std::fs::create_dir_all(&dir).map_err(|e| self.fail("create the exec directory", e))?;
        let process_file = dir.join(format!("{}.json", self.spec.id));
        let data = serde_json::to_vec(&self.spec.process).map_err(|e| self.fail("encode", e))?;
        std::fs::write(&process_file, data).map_err(|e| self.fail("write the process", e))?;
        let reported = self.spawn_helper(&process_file);
        let _ = std::fs::remove_file(&process_file);
        let (pid, master, wiring) = reported?;

        let mut sources = wiring.sources;
        let mut stdin = wiring
            .stdin
            .map(|w| Arc::new(StdinSink::new(Some(w), true, false)));
        if let Some(master) = &master {
            if let Some((w, h)) = crate::runtime::size_of_process(&self.spec.process) {
                let _ = sys::set_winsize(master, w, h);
            }
            let dup = |f: &File| {
                f.try_clone()
                    .map_err(|e| self.fail("dup the pty master", e))
            };
            if self.attached {
                sources.push((dup(master)?, Stream::Stdout));
                if self.want_stdin {
                    stdin = Some(Arc::new(StdinSink::new(Some(dup(master)?), true, true)));
                }
            }
        }
        let exec = Arc::new(Exec {
            id: self.spec.id.clone(),
            pid,
            hub: Arc::clone(&self.hub),
            stdin,
            console: master,
            state: Mutex::new(ExecState::default()),
            changed: Condvar::new(),
        });
        {
            let mut execs = self.shared.execs();
            execs.by_id.insert(exec.id.clone(), Arc::clone(&exec));
            execs.by_pid.insert(pid, Arc::clone(&exec));
            let early = execs.unmatched.remove(&pid);
            drop(execs);
            if let Some((exit, at, _)) = early {
                self.shared.exec_exited(pid, exit, at);
            }
        }
        if sources.is_empty() {
            exec.set_drained();
        }
        let left = Arc::new(AtomicUsize::new(sources.len()));
        for (src, stream) in sources {
            let (exec, left) = (Arc::clone(&exec), Arc::clone(&left));
            let pumped = spawn("exec-output", move || {
                super::pump(src, stream, None, &exec.hub);
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    exec.set_drained();
                }
            });
            if let Err(e) = pumped {
                eprintln!("silo-shim: {e}");
            }
        }
        Ok(exec)
    }

    /// Runs `silo-shim exec-process` and reads its report: the pid, and the pty master.
    fn spawn_helper(
        &self,
        process_file: &std::path::Path,
    ) -> Result<(i32, Option<File>, Wiring), ProtocolError> {
        let wiring = self.wiring().map_err(|e| self.fail("create pipes", e))?;
        let (report, child_report) =
            UnixStream::pair().map_err(|e| self.fail("create the report socket", e))?;
        let root: PathBuf = self.shared.state.join("runtime");
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg("exec-process")
            .arg("--id")
            .arg(&self.shared.id)
            .arg("--root")
            .arg(&root)
            .arg("--process")
            .arg(process_file);
        if self.tty {
            cmd.arg("--tty");
        }
        let [stdin, stdout, stderr] = wiring.child;
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        sys::clear_sigmask_on_spawn(&mut cmd);
        sys::pass_fd_on_spawn(&mut cmd, child_report.as_raw_fd(), 3);
        // The helper is reaped by the reaper like any child (its exit ages out of `unmatched`);
        // waiting for it here would race with that.
        let spawned = cmd.spawn();
        drop(cmd);
        drop(child_report);
        let helper = spawned.map_err(|e| self.fail("spawn silo-shim exec-process", e))?;
        let helper_pid = i32::try_from(helper.id()).unwrap_or_default();
        drop(helper);
        let wiring = Wiring {
            child: [Stdio::null(), Stdio::null(), Stdio::null()],
            ..wiring
        };

        let read = |report: &UnixStream| -> io::Result<(Vec<u8>, Option<File>)> {
            report.set_read_timeout(Some(HELPER_TIMEOUT))?;
            let mut buf = vec![0u8; 4096];
            let (fd, n) = sys::recv_fd(report, &mut buf)?;
            buf.truncate(n);
            // Up to the newline that ends the report; end-of-file may never come while a
            // process the helper forked (a stuck container init) still holds the socket.
            let mut chunk = [0u8; 512];
            while !buf.contains(&b'\n') {
                match (&*report).read(&mut chunk)? {
                    0 => break,
                    n => buf.extend_from_slice(&chunk[..n]),
                }
            }
            Ok((buf, fd.map(File::from)))
        };
        let report = read(&report);
        // Forget the helper's exit now, so its pid, once reused by an exec, is not mistaken.
        {
            let mut execs = self.shared.execs();
            if execs.unmatched.remove(&helper_pid).is_none() && report.is_ok() {
                execs.helpers.insert(helper_pid);
            }
        }
        let (msg, master) = report.map_err(|e| self.fail("read the helper's report", e))?;
        let msg: serde_json::Value = serde_json::from_slice(&msg)
            .map_err(|_| self.fail("start", "the exec helper died (see shim.log)"))?;
        if let Some(e) = msg.get("error").and_then(|e| e.as_str()) {
            return Err(self.fail("start", e));
        }
        let pid = msg
            .get("pid")
            .and_then(serde_json::Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| self.fail("start", format!("bad report {msg}")))?;
        if self.tty && master.is_none() {
            return Err(self.fail("start", "no pty master from the helper"));
        }
        Ok((pid, master, wiring))
    }
}
