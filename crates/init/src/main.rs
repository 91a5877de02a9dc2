//! `silo-init [-g] -- CMD ARGS…`: the minimal PID 1 silo puts in containers (Docker's `--init`,
//! which runs tini as `/sbin/docker-init`).
//!
//! Why it exists: the kernel drops every signal sent to a namespace's PID 1 for which that
//! process installed no handler, so a plain `sleep` as PID 1 ignores `docker stop`'s SIGTERM and
//! only dies at the SIGKILL after the timeout. And orphans are re-parented to PID 1, which most
//! programs never `wait` for, so zombies pile up. This init fixes both: it blocks every catchable
//! signal (a blocked signal is never dropped), forwards each one it receives to the command,
//! reaps every child, and exits with the command's status (its code, or 128 + the signal that
//! killed it).
//!
//! It is built as a static binary in its own cargo workspace (`scripts/build-init.sh`) and
//! depends on `libc` only, so it stays small and runs in any image, libc or not. The compute
//! service bind-mounts it read-only at `/sbin/silo-init`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod sys;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::{Command, ExitCode};
use std::time::Duration;

use sys::SigSet;

const USAGE: &str = "usage: silo-init [-g] -- CMD [ARGS...]
Runs CMD as the child of a minimal init: forwards signals, reaps zombies, exits with CMD's status.
  -g  forward signals to CMD's whole process group, not just CMD";

/// Signals forwarded to the command: every catchable one except SIGCHLD (consumed: it means
/// "reap"). Synchronous faults (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) keep their default
/// handling: they concern the init itself. SIGKILL and SIGSTOP cannot be caught.
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
    libc::SIGSTKFLT,
];

/// How long one wait for a signal lasts; only a safety net, since SIGCHLD wakes the loop.
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    /// Forward to the command's process group (`-g`) rather than to the command alone.
    group: bool,
    /// The command and its arguments; never empty.
    command: Vec<OsString>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Run(Args),
    Help,
    Version,
}

/// `[-g] [--] CMD ARGS…`: options end at `--` or at the first non-option, so the command's own
/// options are never taken for ours.
fn parse(mut argv: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    let mut group = false;
    let mut command = Vec::new();
    for arg in argv.by_ref() {
        match arg.to_str() {
            Some("--") => break,
            Some("-g") => group = true,
            Some("-h" | "--help") => return Ok(Parsed::Help),
            Some("--version") => return Ok(Parsed::Version),
            Some(s) if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => {
                command.push(arg);
                break;
            }
        }
    }
    command.extend(argv);
    if command.is_empty() {
        return Err("no command given".to_string());
    }
    Ok(Parsed::Run(Args { group, command }))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("silo-init {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "silo-init: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let code = run(&args);
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}

/// Runs the command under this init and returns the code to exit with.
fn run(args: &Args) -> i32 {
    let mut all: Vec<i32> = FORWARDED.to_vec();
    all.push(libc::SIGCHLD);
    let signals = SigSet::of(&all);
    // Before the fork: a child that exits at once still leaves its SIGCHLD pending for us.
    if let Err(e) = signals.block() {
        fail(format_args!("block signals: {e}"));
        return 1;
    }
    // Outside a PID namespace orphans would bypass us; as a subreaper we reap them there too.
    // Failure only loses that extra.
    if std::process::id() != 1 {
        let _ = sys::set_child_subreaper();
    }

    let (program, rest) = args
        .command
        .split_first()
        .expect("parse never yields empty");
    let mut cmd = Command::new(program);
    cmd.args(rest);
    sys::isolate_child(&mut cmd);
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            fail(format_args!("exec {}: {e}", program.to_string_lossy()));
            // The shell's codes: 127 not found, 126 found but not runnable.
            return if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let child_pid = child.id() as i32;
    // Reaping is ours (waitpid(-1) below); the `Child` handle is never waited on.
    drop(child);
    let target = if args.group { -child_pid } else { child_pid };

    loop {
        while let Some((pid, exit)) = sys::reap_any() {
            if pid == child_pid {
                // Whatever else is left dies with us when we are PID 1 (the kernel kills the
                // namespace); reap what has already exited on the way out.
                while sys::reap_any().is_some() {}
                return exit.code();
            }
        }
        match signals.wait(WAIT_SLICE) {
            Ok(Some(libc::SIGCHLD)) | Ok(None) => {}
            Ok(Some(sig)) => {
                // ESRCH means the command just exited; the next reap picks it up.
                let _ = sys::kill(target, sig);
            }
            Err(e) => {
                fail(format_args!("wait for signals: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn fail(msg: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "silo-init: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(OsString::from))
    }

    fn run_args(group: bool, command: &[&str]) -> Parsed {
        Parsed::Run(Args {
            group,
            command: command.iter().map(OsString::from).collect(),
        })
    }

    #[test]
    fn options_end_at_the_separator_or_the_command() {
        assert_eq!(
            args(&["--", "sleep", "1"]).unwrap(),
            run_args(false, &["sleep", "1"])
        );
        assert_eq!(
            args(&["sleep", "-g"]).unwrap(),
            run_args(false, &["sleep", "-g"])
        );
        assert_eq!(
            args(&["-g", "--", "sh", "-c", "x"]).unwrap(),
            run_args(true, &["sh", "-c", "x"])
        );
        assert_eq!(args(&["--", "-g"]).unwrap(), run_args(false, &["-g"]));
        assert_eq!(args(&["--help"]).unwrap(), Parsed::Help);
    }

    #[test]
    fn a_missing_command_or_unknown_option_is_an_error() {
        assert!(args(&[]).is_err());
        assert!(args(&["--"]).is_err());
        assert!(args(&["-g"]).is_err());
        assert!(args(&["-x", "--", "true"]).unwrap_err().contains("-x"));
    }

    #[test]
    fn sigchld_and_faults_are_not_forwarded() {
        for sig in [
            libc::SIGCHLD,
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGABRT,
        ] {
            assert!(!FORWARDED.contains(&sig), "{sig}");
        }
        assert!(FORWARDED.contains(&libc::SIGTERM));
    }
}
