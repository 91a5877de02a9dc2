//! Thin, safe wrappers over the few process and signal syscalls the shim and its init need.
//!
//! Everything `unsafe` in the crate lives here, so the supervisor and init logic read as plain
//! Rust. Signals are handled synchronously (blocked, then collected with `sigtimedwait`), never
//! with handlers: a blocked signal is never "ignored" by the kernel, which is what lets a PID-1
//! init receive SIGTERM from outside its namespace without installing a handler (tini does the
//! same).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
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
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ChildExit::Exited(code) => code,
            ChildExit::Signaled(sig) => 128 + sig,
        }
    }

    /// The signal that killed the child, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            ChildExit::Exited(_) => None,
            ChildExit::Signaled(sig) => Some(sig),
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

    /// Blocks this set in the calling thread (threads spawned later inherit the mask).
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: both pointers are valid for the duration of the call; old set is not requested.
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
        // SAFETY: the set and timespec are valid; siginfo may be null.
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

/// Makes `cmd`'s child start with an empty signal mask. std does not reset the mask, and a
/// process that blocks signals to collect them synchronously would otherwise hand its blocked
/// set on to the program it starts (which then never sees the SIGTERM we forward).
pub fn clear_sigmask_on_spawn(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let empty = SigSet::empty();
    // SAFETY: the closure runs between fork and exec and only calls pthread_sigmask, which is
    // async-signal-safe; it touches no locks and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &empty.0, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(())
        });
    }
}

/// Sets SIGPIPE's disposition: the default (die) or ignored. Rust's runtime ignores SIGPIPE,
/// and an ignored disposition survives fork and exec: a container forked by this process
/// would inherit it, and `yes | head` would spin forever. The shim restores the default
/// around the runtime's fork and ignores it again after (it writes to sockets that may close).
pub fn set_sigpipe_default(default: bool) -> io::Result<()> {
    let handler = if default {
        libc::SIG_DFL
    } else {
        libc::SIG_IGN
    };
    // SAFETY: installing SIG_DFL or SIG_IGN runs no code in signal context.
    if unsafe { libc::signal(libc::SIGPIPE, handler) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `cmd`'s child get descriptor `fd` of this process as its descriptor `target`
/// (without close-on-exec), e.g. a report socket on fd 3.
pub fn pass_fd_on_spawn(cmd: &mut std::process::Command, fd: i32, target: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls dup2 and fcntl, which are
    // async-signal-safe; it touches no locks and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes glibc's malloc use one arena for every thread. By default each thread that allocates
/// gets an arena of its own, whose touched pages stay resident; the supervisor's threads
/// allocate little and rarely at once, so sharing one arena is cheaper in memory than the
/// contention it might cost.
pub fn single_malloc_arena() {
    // SAFETY: mallopt only adjusts allocator parameters; M_ARENA_MAX takes a count.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// Reaps one exited child of any kind without blocking; `None` when nothing is ready.
pub fn reap_any() -> Option<(i32, ChildExit)> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WNOHANG makes the call non-blocking.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let exit = if libc::WIFSIGNALED(status) {
        ChildExit::Signaled(libc::WTERMSIG(status))
    } else {
        ChildExit::Exited(libc::WEXITSTATUS(status))
    };
    Some((pid, exit))
}

/// Sends `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER), so that a
/// container whose intermediate parent exits still reports its exit to us.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument; no pointers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The result of [`fork`].
#[derive(Debug)]
pub enum Fork {
    /// In the parent; the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// Forks the process.
///
/// # Safety
/// The caller must be single-threaded: the child only has the calling thread, and locks held by
/// other threads (malloc, stdio) would stay locked forever in it.
pub unsafe fn fork() -> io::Result<Fork> {
    // SAFETY: the caller guarantees the process is single-threaded (see the function contract).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// Starts a new session, detaching from the caller's terminal and process group, so signals sent
/// to the daemon's group (Ctrl-C, `kill -- -pgid`) never reach the shim.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Points fd 0 at /dev/null and fds 1 and 2 at `log` (opened for append).
pub fn redirect_stdio(log: &File) -> io::Result<()> {
    let null = File::open("/dev/null")?;
    dup2(null.as_raw_fd(), 0)?;
    dup2(log.as_raw_fd(), 1)?;
    dup2(log.as_raw_fd(), 2)
}

fn dup2(from: i32, to: i32) -> io::Result<()> {
    // SAFETY: dup2 on descriptors we own (or the std ones we mean to replace) is memory-safe.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}

/// Creates a FIFO at `path` with mode 0600.
pub fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the window size of the terminal behind `fd` (TIOCSWINSZ); the kernel sends SIGWINCH
/// to the terminal's foreground process group.
pub fn set_winsize(fd: &impl AsRawFd, width: u16, height: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS) with `payload` as the message bytes.
pub fn send_fd(sock: &impl AsRawFd, fd: &impl AsRawFd, payload: &[u8]) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header that we fill in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `control`, which has room for one cmsg carrying one descriptor;
    // CMSG_FIRSTHDR is therefore non-null and CMSG_DATA is inside `control`.
    let rc = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&raw as *const i32).cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            std::mem::size_of::<i32>(),
        );
        libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one message on `sock` with up to `payload.len()` bytes and the descriptor sent
/// with it (SCM_RIGHTS, made close-on-exec), if any; returns it and the number of bytes.
pub fn recv_fd(sock: &impl AsRawFd, payload: &mut [u8]) -> io::Result<(Option<OwnedFd>, usize)> {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header that we fill in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points at live buffers `iov`/`payload` and `control` of the given sizes.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: the kernel filled `msg`; CMSG_FIRSTHDR returns null or a header inside `control`,
    // and a SCM_RIGHTS header of at least CMSG_LEN(4) bytes carries a descriptor we now own.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
            && (*cmsg).cmsg_len as usize
                >= libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize
        {
            let mut fd = 0i32;
            std::ptr::copy_nonoverlapping(
                libc::CMSG_DATA(cmsg),
                (&mut fd as *mut i32).cast::<u8>(),
                std::mem::size_of::<i32>(),
            );
            return Ok((Some(OwnedFd::from_raw_fd(fd)), n));
        }
    }
    Ok((None, n))
}

/// Takes ownership of descriptor `fd` inherited from the parent (the exec helper's report
/// socket), if it is open.
pub fn inherited_fd(fd: i32) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the descriptor is open and nothing else in this process owns it: it was handed
    // down by the parent, and this is called once, at startup.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ") ".
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(ChildExit::Exited(3).code(), 3);
        assert_eq!(ChildExit::Signaled(15).code(), 143);
        assert_eq!(ChildExit::Signaled(9).signal(), Some(9));
        assert_eq!(ChildExit::Exited(0).signal(), None);
    }

    #[test]
    fn descriptors_pass_over_a_socket() {
        use std::io::{Read, Write};
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut r, w) = pipe().unwrap();
        send_fd(&a, &w, b"hello").unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        let (fd, n) = recv_fd(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let mut w = File::from(fd.unwrap());
        w.write_all(b"x").unwrap();
        drop(w);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn pipe_round_trip_and_liveness() {
        use std::io::{Read, Write};
        let (mut r, mut w) = pipe().unwrap();
        w.write_all(b"x").unwrap();
        drop(w);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "x");
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
    }
}
