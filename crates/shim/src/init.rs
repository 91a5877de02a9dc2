//! `silo-shim init -- CMD ARGS…`: a minimal PID 1 for containers (Docker's `--init`, like tini).
//!
//! Superseded for containers by the static `silo-init` (crates/init, `scripts/build-init.sh`),
//! which the compute service bind-mounts at `/sbin/silo-init`: this one links glibc dynamically
//! and so cannot run in most images. It stays only because the shim's own tests
//! (`tests/run_busybox.rs`, `tests/common`) use it as a PID 1 inside a bundle that binds the
//! host's libraries; remove it once they run `silo-init` instead.
//!
//! Why it exists: the kernel drops every signal sent to a namespace's PID 1 for which that
//! process installed no handler, so a plain `sleep` as PID 1 ignores `docker stop`'s SIGTERM and
//! only dies at the SIGKILL ten seconds later. And orphans are re-parented to PID 1, which most
//! programs never `wait` for, so zombies pile up. This init fixes both: it blocks every catchable
//! signal (blocked signals count as "handled" for the kernel's check), forwards each one it
//! receives to the command, reaps every child, and exits with the command's status.

use std::ffi::OsString;
use std::io;
use std::process::Command;
use std::time::Duration;

use crate::sys::{self, SigSet};

/// Signals forwarded to the command. Synchronous faults (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT)
/// stay with default handling: they concern the init itself. SIGCHLD is consumed, not forwarded.
const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGPIPE,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGURG,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGXCPU,
    libc::SIGXFSZ,
];

/// Errors of the init.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// No command was given after `--`.
    #[error("init: no command given")]
    NoCommand,
    /// The signal mask could not be set.
    #[error("init: block signals: {0}")]
    Signals(#[source] io::Error),
    /// The command could not be started.
    #[error("init: start {cmd:?}: {source}")]
    Spawn {
        /// The program that failed to start.
        cmd: OsString,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Runs `argv` under this init and returns the exit code to leave with: the command's own code,
/// or 128 + signal if it was killed.
pub fn run(argv: &[OsString]) -> Result<i32, InitError> {
    let (program, args) = argv.split_first().ok_or(InitError::NoCommand)?;
    let mut all: Vec<i32> = FORWARDED.to_vec();
    all.push(libc::SIGCHLD);
    let signals = SigSet::of(&all);
    signals.block().map_err(InitError::Signals)?;

    // Outside a PID namespace (e.g. `--pid=host`) orphans would bypass us; becoming a subreaper
    // keeps the "reaps all zombies" promise there too. Failure only loses that extra.
    if std::process::id() != 1 {
        let _ = sys::set_child_subreaper();
    }

    let mut cmd = Command::new(program);
    cmd.args(args);
    sys::clear_sigmask_on_spawn(&mut cmd);
    let child = cmd.spawn().map_err(|source| InitError::Spawn {
        cmd: program.clone(),
        source,
    })?;
    let child_pid = child.id() as i32;
    // Reaping is ours (waitpid(-1) below); the `Child` handle is never waited on.
    drop(child);

    loop {
        while let Some((pid, exit)) = sys::reap_any() {
            if pid == child_pid {
                // Remaining descendants are killed by the kernel when PID 1 exits.
                return Ok(exit.code());
            }
        }
        match signals.wait(Duration::from_secs(1)) {
            Ok(Some(libc::SIGCHLD)) | Ok(None) => {}
            Ok(Some(sig)) => {
                // ESRCH means the command just exited; the next reap picks it up.
                let _ = sys::kill(child_pid, sig);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
