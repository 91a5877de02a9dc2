//! Thin, safe wrappers over the few signal and process syscalls the init needs; everything
//! `unsafe` in the crate lives here.
//!
//! Signals are handled synchronously (blocked, then collected with `sigtimedwait`), never with
//! handlers: the kernel drops a signal sent to a namespace's PID 1 only when that signal has the
//! default disposition and is not blocked, so blocking is enough to receive SIGTERM from
//! outside the namespace (tini does the same).

use std::io;
use std::time::Duration;

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// Exited normally with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ChildExit {
    /// The shell convention, which is also Docker's: the exit code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ChildExit::Exited(code) => code,
            ChildExit::Signaled(sig) => 128 + sig,
        }
    }

    fn from_status(status: libc::c_int) -> Self {
        if libc::WIFSIGNALED(status) {
            ChildExit::Signaled(libc::WTERMSIG(status))
        } else {
            ChildExit::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigSet")
    }
}

impl SigSet {
    /// The empty set.
    pub fn empty() -> Self {
        // SAFETY: sigemptyset fully initialises the zeroed set it is given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            SigSet(set)
        }
    }

    /// A set holding `signals`.
    pub fn of(signals: &[i32]) -> Self {
        let mut set = Self::empty();
        for &sig in signals {
            // SAFETY: `set.0` is an initialised sigset; an invalid number only yields EINVAL.
            unsafe { libc::sigaddset(&mut set.0, sig) };
        }
        set
    }

    /// Blocks this set (the init is single-threaded, so this is the process's mask).
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: both pointers are valid for the call; the old mask is not requested.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }

    /// Waits up to `timeout` for a signal of this (blocked) set; `None` on timeout or EINTR.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<i32>> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: the set and timespec are valid for the call; siginfo may be null.
        let sig = unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &ts) };
        if sig >= 0 {
            return Ok(Some(sig));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            _ => Err(err),
        }
    }
}

/// Prepares `cmd`'s child, between fork and exec: its own process group (so `-g` can signal
/// the whole job, and a shell's job control works), the terminal's foreground group when stdin
/// is a terminal (or reads would stop it with SIGTTIN), and an empty signal mask (std does not
/// reset the mask, and the command would otherwise inherit ours and never see the SIGTERM we
/// forward).
pub fn isolate_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let empty = SigSet::empty();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (setpgid, getpgrp, isatty, tcsetpgrp, pthread_sigmask); it allocates nothing and takes no
    // locks. SIGTTOU is still blocked while tcsetpgrp runs, so it cannot stop the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::isatty(libc::STDIN_FILENO) == 1 {
                // ENOTTY/ENXIO (no controlling terminal) are fine: there is nothing to lead.
                let _ = libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
            }
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &empty.0, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(())
        });
    }
}

/// Reaps one exited child of any kind without blocking; `None` when nothing is ready.
pub fn reap_any() -> Option<(i32, ChildExit)> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WNOHANG makes the call non-blocking.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    Some((pid, ChildExit::from_status(status)))
}

/// Sends `sig` to `pid` (a negative pid names a process group).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes this process the reaper of its orphaned descendants, so "reaps every zombie" also
/// holds when the init is not PID 1 (e.g. the host's PID namespace).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument; no pointers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(ChildExit::Exited(3).code(), 3);
        assert_eq!(ChildExit::Signaled(libc::SIGTERM).code(), 143);
        assert_eq!(ChildExit::Signaled(libc::SIGKILL).code(), 137);
        // Raw wait statuses: exit(7) is 7 << 8; death by signal 15 is 15.
        assert_eq!(ChildExit::from_status(7 << 8), ChildExit::Exited(7));
        assert_eq!(ChildExit::from_status(15), ChildExit::Signaled(15));
    }

    #[test]
    fn a_blocked_signal_is_collected_synchronously() {
        // Runs in its own thread: the mask is per thread, and other tests must not inherit it.
        std::thread::spawn(|| {
            let set = SigSet::of(&[libc::SIGUSR2]);
            set.block().unwrap();
            assert_eq!(set.wait(Duration::from_millis(10)).unwrap(), None);
            // SAFETY: raising a blocked signal only marks it pending for this thread.
            assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
            assert_eq!(
                set.wait(Duration::from_secs(1)).unwrap(),
                Some(libc::SIGUSR2)
            );
        })
        .join()
        .unwrap();
    }
}
