//! `silo-shim`: the per-container supervisor binary. See the library docs for the design.
//!
//! Subcommands:
//! - `run`: detach, create and start the container, print `{"pid":…,"socket":…}`, supervise.
//! - `cleanup`: after a shim died, kill what is left of its container and release its cgroups.
//! - `exec-process`: the supervisor's single-threaded helper that starts one exec (internal).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use silo_shim::logs::{parse_size, LogConfig};
use silo_shim::runtime::{Runtime, Youki};
use silo_shim::supervisor::{self, Options};
use silo_shim::sys::{self, Fork};
use silo_shim::ExitRecord;

#[derive(Debug, Parser)]
#[command(name = "silo-shim", version, about = "silo's per-container supervisor")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and start a container, then supervise it in the background.
    Run {
        /// Container id ([A-Za-z0-9_+.-]).
        #[arg(long)]
        id: String,
        /// OCI bundle directory (config.json + rootfs).
        #[arg(long)]
        bundle: PathBuf,
        /// State directory: shim.sock, log.json*, exit.json, shim.log, runtime/.
        #[arg(long)]
        state: PathBuf,
        /// Rotate the log at this size (Docker's max-size: 10m, 512k, …; -1 = never).
        #[arg(long, default_value = "-1")]
        log_max_size: String,
        /// Log files to keep, the current one included (Docker's max-file).
        #[arg(long, default_value_t = 1)]
        log_max_file: u32,
        /// Create only; start on the protocol's `Start` request.
        #[arg(long)]
        no_start: bool,
        /// Give the container a stdin: a FIFO at <state>/stdin, or the terminal (Docker's -i).
        #[arg(long)]
        open_stdin: bool,
        /// Close the container's stdin when the first attached client half-closes.
        #[arg(long)]
        stdin_once: bool,
        /// Give the container a pseudo-terminal (config.json must set process.terminal).
        #[arg(long)]
        tty: bool,
    },
    /// Internal: start an exec in a running container with this process's stdio (or a pty),
    /// and report `{"pid":…}` or `{"error":…}` (plus the pty master) on the socket at fd 3.
    #[command(hide = true)]
    ExecProcess {
        /// Container id.
        #[arg(long)]
        id: String,
        /// libcontainer's state root (`<state>/runtime`).
        #[arg(long)]
        root: PathBuf,
        /// The OCI process JSON file.
        #[arg(long)]
        process: PathBuf,
        /// Give the process a pty and send its master back.
        #[arg(long)]
        tty: bool,
    },
    /// Kill and delete what is left of a container whose shim died.
    Cleanup {
        /// Container id.
        #[arg(long)]
        id: String,
        /// OCI bundle directory.
        #[arg(long)]
        bundle: PathBuf,
        /// The dead shim's state directory.
        #[arg(long)]
        state: PathBuf,
    },
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("silo-shim: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Run {
            id,
            bundle,
            state,
            log_max_size,
            log_max_file,
            no_start,
            open_stdin,
            stdin_once,
            tty,
        } => {
            let log = LogConfig {
                max_size: parse_size(&log_max_size)?,
                max_file: log_max_file.max(1),
            };
            std::fs::create_dir_all(&state)
                .with_context(|| format!("create state dir {}", state.display()))?;
            let opts = Options {
                id,
                bundle: canonical(&bundle)?,
                state: canonical(&state)?,
                log,
                start: !no_start,
                open_stdin,
                stdin_once,
                tty,
            };
            detach_and_run(opts)
        }
        Cmd::ExecProcess {
            id,
            root,
            process,
            tty,
        } => {
            exec_process(&id, &root, &process, tty)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cleanup { id, bundle, state } => {
            cleanup(&id, &canonical(&bundle)?, &canonical(&state)?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn canonical(p: &Path) -> Result<PathBuf> {
    p.canonicalize()
        .with_context(|| format!("resolve {}", p.display()))
}

/// containerd's `shim start` pattern: the caller's process waits for one line from the detached
/// supervisor (its address, or why it failed), prints it, and exits; the supervisor lives on in
/// its own session as a child subreaper, with stdio on `<state>/shim.log`.
fn detach_and_run(opts: Options) -> Result<ExitCode> {
    let (ready_r, ready_w) = sys::pipe().context("create readiness pipe")?;
    // SAFETY: nothing has spawned a thread yet (argument parsing and a few syscalls only).
    match unsafe { sys::fork() }.context("fork the shim")? {
        Fork::Parent(_) => {
            drop(ready_w);
            // One line, not EOF: the container's PID 1, forked before it execs, briefly holds a
            // copy of the write end (close-on-exec) and with --no-start it holds it until Start.
            let mut line = String::new();
            BufReader::new(ready_r)
                .read_line(&mut line)
                .context("read from the shim")?;
            let msg: serde_json::Value = serde_json::from_str(line.trim()).with_context(|| {
                format!(
                    "the shim died during startup; see {}",
                    opts.state.join("shim.log").display()
                )
            })?;
            if let Some(err) = msg.get("error").and_then(|e| e.as_str()) {
                bail!("{err}");
            }
            println!("{}", line.trim());
            Ok(ExitCode::SUCCESS)
        }
        Fork::Child => {
            drop(ready_r);
            let code = supervise(opts, ready_w);
            std::process::exit(code)
        }
    }
}

fn supervise(opts: Options, ready: File) -> i32 {
    sys::single_malloc_arena();
    let mut slot = Some(ready);
    let report = |slot: &mut Option<File>, msg: serde_json::Value| {
        if let Some(mut f) = slot.take() {
            let _ = writeln!(f, "{msg}");
        }
    };
    if let Err(e) = detach(&opts.state) {
        report(&mut slot, serde_json::json!({ "error": format!("{e:#}") }));
        return 1;
    }
    let runtime: Box<dyn Runtime> = Box::new(Youki::new(
        &opts.id,
        &opts.bundle,
        &opts.state.join("runtime"),
    ));
    let result = supervisor::run(opts, runtime, |socket| {
        let msg = serde_json::json!({ "pid": std::process::id(), "socket": socket });
        report(&mut slot, msg);
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("silo-shim: {e}");
            report(&mut slot, serde_json::json!({ "error": e.to_string() }));
            1
        }
    }
}

/// New session (no signals from the caller's group or terminal), subreaper (the container's
/// PID 1 is forked by libcontainer's intermediate process and must still be ours to reap),
/// stdio on the shim log.
fn detach(state: &Path) -> Result<()> {
    sys::setsid().context("setsid")?;
    sys::set_child_subreaper().context("become a child subreaper")?;
    let log_path = state.join("shim.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    sys::redirect_stdio(&log).context("redirect stdio to the shim log")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

/// containerd's `shim delete`: the shim is gone, so force-delete through libcontainer's state
/// (kills every process in the cgroup, removes the cgroups) and leave an exit record if none.
fn cleanup(id: &str, bundle: &Path, state: &Path) -> Result<()> {
    let root = state.join("runtime");
    if root.join(id).exists() {
        let mut rt = Youki::load(id, bundle, &root)?;
        rt.delete()?;
    }
    if silo_shim::exit::read_exit(state)?.is_none() {
        let record = ExitRecord {
            code: 128 + libc::SIGKILL,
            signal: Some(libc::SIGKILL),
            exited_at: chrono::Utc::now(),
            oom_killed: false,
        };
        silo_shim::exit::write_exit(state, &record)?;
    }
    let _ = std::fs::remove_file(state.join(silo_shim::SOCKET_FILE));
    let _ = std::fs::remove_file(state.join(silo_shim::ATTACH_SOCKET_FILE));
    Ok(())
}

/// How long the exec helper waits for the pty master.
const CONSOLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `silo-shim exec-process`: single-threaded, so libcontainer may fork here.
fn exec_process(id: &str, root: &Path, process: &Path, tty: bool) -> Result<()> {
    let report = sys::inherited_fd(3).context("no report socket on fd 3")?;
    let report = std::os::unix::net::UnixStream::from(report);
    let started = start_exec(id, root, process, tty);
    match started {
        Ok((pid, master)) => {
            // One line: the reader stops at the newline, not at end-of-file, because a
            // container process forked by libcontainer may still hold this socket.
            let msg = format!("{}\n", serde_json::json!({ "pid": pid }));
            match master {
                Some(master) => sys::send_fd(&report, &master, msg.as_bytes())?,
                None => (&report).write_all(msg.as_bytes())?,
            }
        }
        Err(e) => {
            let msg = format!("{}\n", serde_json::json!({ "error": format!("{e:#}") }));
            (&report).write_all(msg.as_bytes())?;
        }
    }
    Ok(())
}

fn start_exec(id: &str, root: &Path, process: &Path, tty: bool) -> Result<(i32, Option<File>)> {
    // The exec'd process must not inherit Rust's ignored SIGPIPE.
    sys::set_sigpipe_default(true).context("reset SIGPIPE")?;
    if !tty {
        return Ok((silo_shim::runtime::exec(id, root, process, None)?, None));
    }
    // The console socket sits beside the process file; bound relatively (sun_path is short).
    let dir = process.parent().context("process file has no directory")?;
    let name = format!("console-{}.sock", std::process::id());
    std::env::set_current_dir(dir).with_context(|| format!("chdir {}", dir.display()))?;
    let listener = std::os::unix::net::UnixListener::bind(&name);
    std::env::set_current_dir("/").context("chdir /")?;
    let path = dir.join(&name);
    let listener = listener.with_context(|| format!("bind {}", path.display()))?;
    let started = silo_shim::runtime::exec(id, root, process, Some(&path))
        .map_err(anyhow::Error::from)
        .and_then(|pid| {
            let master = silo_shim::runtime::receive_console(&listener, CONSOLE_TIMEOUT)
                .with_context(|| format!("receive the pty master on {}", path.display()))?;
            // As early as we hold the master. libcontainer 0.7 does not apply consoleSize
            // inside the container before the exec, so a program that asks for the size at
            // once may still see 0x0 (runc applies it before exec).
            let size = std::fs::read(process)
                .ok()
                .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
                .and_then(|p| silo_shim::runtime::size_of_process(&p));
            if let Some((width, height)) = size {
                let _ = sys::set_winsize(&master, width, height);
            }
            Ok((pid, Some(master)))
        });
    let _ = std::fs::remove_file(&path);
    started
}
