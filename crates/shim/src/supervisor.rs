//! The supervisor: creates the container, pumps its output into the log, reaps it, records the
//! exit, and serves the protocol (see [`crate::protocol`]) until told to shut down.
//!
//! Threads, all spawned after the runtime has forked the container (forking a multi-threaded
//! process is unsafe): one per output stream (one for a terminal), one accepting protocol
//! connections and one per connection, one accepting attach connections and one per attached
//! client (two with stdin). The main thread reaps. SIGCHLD is blocked everywhere and collected
//! synchronously by the main thread, which needs no signal handler and cannot miss an exit (a
//! final `waitpid` sweep runs on every wake-up, and wake-ups also happen on a timer).
//!
//! Ordering guarantee: the exit is (1) reaped, (2) followed by the end of the container's
//! output (bounded wait), (3) written to `exit.json`, and only then (4) visible through
//! `State`/`Wait`. A daemon that sees the exit therefore also sees every log line and the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::exit::write_exit;
use crate::logs::{LineSplitter, LogConfig, LogWriter, Stream};
use crate::protocol::{ExitRecord, ProtocolError, Status};
use crate::runtime::{ContainerIo, Runtime, RuntimeError, Stdio};
use crate::sys::{self, ChildExit, SigSet};
use crate::{ATTACH_SOCKET_FILE, SOCKET_FILE};
use attach::{Hub, StdinSink, Target};

mod attach;
mod exec;
mod server;

/// Where the runtime sends the pty master of a container with a terminal; removed once received.
const CONSOLE_SOCKET_FILE: &str = "console.sock";
/// How long the shim waits for the pty master after the runtime created the container.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the exit report waits for the container's output to reach end-of-file after PID 1
/// died. The kernel kills the rest of the PID namespace at once, so this only matters when a
/// process outside it (`--pid=host`) inherited the pipes.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Threads do little (a read buffer, one JSON line); a small stack keeps the shim's RSS small.
const THREAD_STACK: usize = 128 * 1024;

/// What `silo-shim run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Container id.
    pub id: String,
    /// Absolute path of the OCI bundle.
    pub bundle: PathBuf,
    /// Absolute path of the shim's state directory (socket, log, exit record, runtime state).
    pub state: PathBuf,
    /// Log rotation.
    pub log: LogConfig,
    /// Start the container right after creating it (otherwise wait for `Start`).
    pub start: bool,
    /// Give the container a stdin (a FIFO at `<state>/stdin`, or the terminal) that attached
    /// clients write to, instead of /dev/null.
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client half-closes (StdinOnce).
    pub stdin_once: bool,
    /// Give the container a pseudo-terminal (config.json must say `process.terminal: true`).
    pub tty: bool,
}

/// Why the supervisor could not get the container going.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A host operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The file it concerned.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SuperviseError {
    let path = path.to_path_buf();
    move |source| SuperviseError::Io { op, path, source }
}

/// Mutable state, guarded by [`Shared::inner`].
#[derive(Debug)]
struct Inner {
    status: Status,
    pid: i32,
    /// PID 1 has been reaped: its pid may be reused, so it must not be signalled any more.
    reaped: bool,
    exit: Option<ExitRecord>,
}

/// State shared by the reaper and the connection threads.
struct Shared {
    id: String,
    state: PathBuf,
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Also held around `waitpid`, so a kill never races with the reaping of PID 1.
    runtime: Mutex<Box<dyn Runtime>>,
    /// Where attached clients' stdin goes (the shim's end of the stdin FIFO, or the pty
    /// master); closing it lets the container see EOF. `None` without `--open-stdin`.
    stdin: Option<Arc<StdinSink>>,
    /// The pty master, for `Resize`.
    console: Option<File>,
    /// The first process's attached clients.
    hub: Arc<Hub>,
    /// Processes added with exec.
    execs: Mutex<exec::Execs>,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn runtime(&self) -> MutexGuard<'_, Box<dyn Runtime>> {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first process's streams, unless it has stopped.
    fn attach_target(&self) -> Result<Target, ProtocolError> {
        let status = self.inner().status;
        if status == Status::Stopped {
            return Err(ProtocolError::FailedPrecondition {
                op: "attach to".into(),
                id: self.id.clone(),
                status,
            });
        }
        Ok(Target {
            hub: Arc::clone(&self.hub),
            stdin: self.stdin.clone(),
        })
    }
}

/// What the container's output is read from, and what stdin and resize talk to.
struct Wiring {
    sources: Vec<(File, Stream)>,
    stdin: Option<Arc<StdinSink>>,
    console: Option<File>,
}

/// Creates (and unless told otherwise starts) the container, then calls `ready` with the socket
/// path and supervises until `Shutdown`, which ends the process. Returns only on a setup error.
pub fn run(
    opts: Options,
    mut runtime: Box<dyn Runtime>,
    ready: impl FnOnce(&Path),
) -> Result<(), SuperviseError> {
    let log = LogWriter::open(&opts.state, opts.log).map_err(io_err("open log in", &opts.state))?;
    let log = Arc::new(Mutex::new(log));

    // Forks the container's processes: everything before this point must stay single-threaded.
    // The container must not inherit the ignored SIGPIPE of Rust's runtime.
    sys::set_sigpipe_default(true).map_err(io_err("reset SIGPIPE in", &opts.state))?;
    let created = if opts.tty {
        create_with_console(&opts, runtime.as_mut())
    } else {
        create_with_pipes(&opts, runtime.as_mut())
    };
    sys::set_sigpipe_default(false).map_err(io_err("ignore SIGPIPE in", &opts.state))?;
    let (pid, wiring) = created?;
    // Blocked only now: the container's PID 1 inherited the mask at fork and must not have it.
    SigSet::of(&[libc::SIGCHLD])
        .block()
        .map_err(io_err("block SIGCHLD in", &opts.state))?;
    let socket = opts.state.join(SOCKET_FILE);
    let listener = bind(&opts.state, SOCKET_FILE, true)?;
    let attach_listener = bind(&opts.state, ATTACH_SOCKET_FILE, false)?;

    let hub = Arc::new(Hub::new(opts.tty));
    let shared = Arc::new(Shared {
        id: opts.id.clone(),
        state: opts.state.clone(),
        inner: Mutex::new(Inner {
            status: Status::Created,
            pid,
            reaped: false,
            exit: None,
        }),
        changed: Condvar::new(),
        runtime: Mutex::new(runtime),
        stdin: wiring.stdin,
        console: wiring.console,
        hub: Arc::clone(&hub),
        execs: Mutex::new(exec::Execs::default()),
    });
    let (done_tx, done_rx) = mpsc::channel();
    let pumps = wiring.sources.len();
    for (src, stream) in wiring.sources {
        let name = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        spawn(name, pump_thread(src, stream, &log, &hub, &done_tx))?;
    }
    drop(done_tx);
    let acceptor = Arc::clone(&shared);
    spawn("accept", move || server::accept_loop(acceptor, listener))?;
    let acceptor = Arc::clone(&shared);
    spawn("accept-attach", move || {
        attach::accept_loop(acceptor, attach_listener)
    })?;

    if opts.start {
        shared.runtime().start()?;
        shared.inner().status = Status::Running;
    }
    ready(&socket);
    reap_loop(&shared, pid, done_rx, pumps)
}

fn create_with_pipes(
    opts: &Options,
    runtime: &mut dyn Runtime,
) -> Result<(i32, Wiring), SuperviseError> {
    let (out_r, out_w) = sys::pipe().map_err(io_err("pipe for", &opts.state))?;
    let (err_r, err_w) = sys::pipe().map_err(io_err("pipe for", &opts.state))?;
    let (stdin_read, stdin_hold) = open_stdin(opts)?;
    let pid = runtime.create(ContainerIo::Pipes(Stdio {
        stdin: stdin_read.into(),
        stdout: out_w.into(),
        stderr: err_w.into(),
    }))?;
    let stdin = stdin_hold.map(|hold| Arc::new(StdinSink::new(Some(hold), opts.stdin_once, false)));
    let wiring = Wiring {
        sources: vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)],
        stdin,
        console: None,
    };
    Ok((pid, wiring))
}

/// The runtime makes the pty inside the container (on its devpts) and sends the master over
/// `<state>/console.sock`; the shim keeps it: output, stdin and resize all go through it.
fn create_with_console(
    opts: &Options,
    runtime: &mut dyn Runtime,
) -> Result<(i32, Wiring), SuperviseError> {
    let path = opts.state.join(CONSOLE_SOCKET_FILE);
    let listener = bind(&opts.state, CONSOLE_SOCKET_FILE, false)?;
    let created = runtime
        .create(ContainerIo::Console(path.clone()))
        .map_err(SuperviseError::from)
        .and_then(|pid| {
            let master = crate::runtime::receive_console(&listener, CONSOLE_TIMEOUT)
                .map_err(io_err("receive the pty master on", &path))?;
            Ok((pid, master))
        });
    drop(listener);
    let _ = std::fs::remove_file(&path);
    let (pid, master) = created?;
    if let Some((width, height)) = crate::runtime::console_size(&opts.bundle) {
        if let Err(e) = sys::set_winsize(&master, width, height) {
            eprintln!("silo-shim: set the initial console size: {e}");
        }
    }
    let dup = |f: &File| {
        f.try_clone()
            .map_err(io_err("dup the pty master from", &path))
    };
    let stdin = if opts.open_stdin {
        Some(Arc::new(StdinSink::new(
            Some(dup(&master)?),
            opts.stdin_once,
            true,
        )))
    } else {
        None
    };
    let wiring = Wiring {
        sources: vec![(dup(&master)?, Stream::Stdout)],
        stdin,
        console: Some(master),
    };
    Ok((pid, wiring))
}

/// The stdin FIFO: the container gets a read end; the shim holds a read-write end so the
/// container never reads EOF just because no daemon writer is connected at the moment.
fn open_stdin(opts: &Options) -> Result<(File, Option<File>), SuperviseError> {
    if !opts.open_stdin {
        let null = File::open("/dev/null").map_err(io_err("open", Path::new("/dev/null")))?;
        return Ok((null, None));
    }
    let path = opts.state.join("stdin");
    if !path.exists() {
        sys::mkfifo(&path).map_err(io_err("mkfifo", &path))?;
    }
    let hold = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    let read = File::open(&path).map_err(io_err("open", &path))?;
    Ok((read, Some(hold)))
}

/// Binds `<state>/<name>`; with `exclusive`, refuses to steal it from a live shim. Binds
/// through a relative path from inside the directory, because `sun_path` holds only 108 bytes
/// and state paths can be longer; this is safe because the process is still single-threaded.
fn bind(state: &Path, name: &str, exclusive: bool) -> Result<UnixListener, SuperviseError> {
    let socket = state.join(name);
    if exclusive && UnixStream::connect(&socket).is_ok() {
        return Err(SuperviseError::Io {
            op: "bind",
            path: socket,
            source: io::Error::new(io::ErrorKind::AddrInUse, "another shim is serving it"),
        });
    }
    let _ = std::fs::remove_file(&socket);
    std::env::set_current_dir(state).map_err(io_err("chdir", state))?;
    let listener = UnixListener::bind(name);
    std::env::set_current_dir("/").map_err(io_err("chdir", Path::new("/")))?;
    listener.map_err(io_err("bind", &socket))
}

pub(super) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), SuperviseError> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(THREAD_STACK)
        .spawn(f)
        .map(drop)
        .map_err(io_err("spawn thread for", Path::new(name)))
}

fn pump_thread(
    src: File,
    stream: Stream,
    log: &Arc<Mutex<LogWriter>>,
    hub: &Arc<Hub>,
    done: &Sender<()>,
) -> impl FnOnce() + Send + 'static {
    let log = Arc::clone(log);
    let hub = Arc::clone(hub);
    let done = done.clone();
    move || {
        pump(src, stream, Some(&log), &hub);
        let _ = done.send(());
    }
}

/// Copies one output stream into the log until EOF, and each chunk to the attached clients. A
/// failing log write (disk full) loses that entry but never stops the reading: a container
/// blocked on a full pipe would hang instead. A pty master reads EIO once every slave is closed:
/// that is its end-of-file.
fn pump(mut src: File, stream: Stream, log: Option<&Mutex<LogWriter>>, hub: &Hub) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut split = LineSplitter::default();
    let mut emit = |msg: &[u8]| -> io::Result<()> {
        let Some(log) = log else {
            return Ok(());
        };
        let mut w = log.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.write(stream, msg) {
            eprintln!("silo-shim: write log entry: {e}");
        }
        Ok(())
    };
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = split.push(&buf[..n], &mut emit);
                hub.broadcast(stream, &buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => {
                eprintln!("silo-shim: read container {stream:?}: {e}");
                break;
            }
        }
    }
    let _ = split.finish(&mut emit);
}

/// Reaps children until PID 1 has exited and been recorded, then keeps reaping (the shim is a
/// subreaper) while the connection threads serve `State` and `Wait`. `Shutdown` exits the process.
fn reap_loop(shared: &Shared, init_pid: i32, drained: Receiver<()>, pumps: usize) -> ! {
    let sigchld = SigSet::of(&[libc::SIGCHLD]);
    let mut drained = Some(drained);
    loop {
        let mut init_exit = None;
        {
            let _runtime = shared.runtime();
            while let Some((pid, exit)) = sys::reap_any() {
                if pid == init_pid {
                    shared.inner().reaped = true;
                    init_exit = Some((exit, Utc::now()));
                } else {
                    shared.exec_exited(pid, exit, Utc::now());
                }
            }
        }
        if let Some((exit, at)) = init_exit {
            if let Some(rx) = drained.take() {
                record_exit(shared, exit, at, rx, pumps);
            }
        }
        let _ = sigchld.wait(Duration::from_secs(1));
    }
}

fn record_exit(
    shared: &Shared,
    exit: ChildExit,
    at: chrono::DateTime<Utc>,
    drained: Receiver<()>,
    pumps: usize,
) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    for _ in 0..pumps {
        let left = deadline.saturating_duration_since(Instant::now());
        if drained.recv_timeout(left).is_err() {
            eprintln!("silo-shim: container output still open {DRAIN_TIMEOUT:?} after exit");
            break;
        }
    }
    let oom_killed = {
        let mut rt = shared.runtime();
        let oom = rt.oom_killed();
        if let Err(e) = rt.delete() {
            eprintln!("silo-shim: {e}");
        }
        oom
    };
    let record = ExitRecord {
        code: exit.code(),
        signal: exit.signal(),
        exited_at: at,
        oom_killed,
    };
    if let Err(e) = write_exit(&shared.state, &record) {
        // Still report it: the daemon learns the exit over the socket, just not from the file.
        eprintln!("silo-shim: {e}");
    }
    let mut inner = shared.inner();
    inner.status = Status::Stopped;
    inner.exit = Some(record);
    shared.changed.notify_all();
    drop(inner);
    // Attached clients get what is queued, then end-of-file, after the exit is on record.
    shared.hub.close();
    let _ = io::stderr().flush();
}
