//! Named network namespaces: a new netns kept alive by a bind mount of its nsfs file onto a
//! path (what `ip netns add` does), so it outlives every process and CNI plugins can enter it
//! by path.
//!
//! Namespace switches happen on short-lived threads: `unshare`/`setns` of the network
//! namespace affect only the calling thread, and a thread that exits takes its namespace
//! membership with it, so the daemon's own threads never change namespace.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::mount::UnmountFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::HostError;

/// `f_type` of a file on nsfs (`NSFS_MAGIC` in linux/magic.h).
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Creates a network namespace with `lo` up and bind-mounts it on `path` (parent directories
/// are created). A `path` that already is a namespace is left as it is. On failure nothing
/// stays behind: the file made for the mount is removed.
pub fn create(path: &Path) -> Result<(), HostError> {
    if is_netns(path) {
        return Ok(());
    }
    let object = path.display().to_string();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| HostError::io("create netns directory", parent.display(), e))?;
    }
    File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| HostError::io("create netns file", &object, e))?;

    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| new_netns_on(path))
            .join()
            .unwrap_or_else(|_| {
                Err(HostError::invalid(
                    "create netns",
                    &object,
                    "thread panicked",
                ))
            })
    });
    if result.is_err() {
        // Undo the mount too in case it was the step after it (none today) that failed.
        let _ = remove(path);
    }
    result
}

/// Runs on a throwaway thread: moves it into a new netns, brings `lo` up there and pins the
/// namespace with a bind mount.
fn new_netns_on(path: &Path) -> Result<(), HostError> {
    let object = path.display();
    // SAFETY: only CLONE_NEWNET is unshared; the thread's file descriptor table stays shared,
    // which is the hazard `unshare_unsafe` documents.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
        .map_err(|e| HostError::io("unshare network namespace for", &object, e.into()))?;
    set_loopback_up().map_err(|e| HostError::io("bring up lo in netns", &object, e))?;
    rustix::mount::mount_bind("/proc/thread-self/ns/net", path)
        .map_err(|e| HostError::io("bind-mount netns on", &object, e.into()))
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace (a fresh namespace has it
/// down, and 127.0.0.1 is unusable until it is up).
fn set_loopback_up() -> std::io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    let fd = rustix::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: ifreq is plain old data; all-zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `fd` is an open socket and `req` a valid ifreq naming `lo` that outlives the call.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS reads `ifr_name` and `ifru_flags` only.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts the namespace at `path` (lazily, so an entered namespace does not block it) and
/// removes the file. A missing path is no error.
pub fn remove(path: &Path) -> Result<(), HostError> {
    let object = path.display();
    // Stacked mounts (two creates racing) are peeled one by one; the bound keeps a weird
    // mount table from looping forever.
    for _ in 0..16 {
        if !is_netns(path) {
            break;
        }
        match rustix::mount::unmount(path, UnmountFlags::DETACH) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(HostError::io("unmount netns", object, e.into())),
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HostError::io("remove netns file", object, e)),
    }
}

/// Whether `path` is a mounted network namespace (a file on nsfs).
pub fn is_netns(path: &Path) -> bool {
    // `f_type`'s integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == NSFS_MAGIC)
}

/// Runs `f` on a fresh thread that has entered the namespace at `path`, and returns what it
/// returns.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, HostError> {
    let object = path.display().to_string();
    let ns = File::open(path).map_err(|e| HostError::io("open netns", &object, e))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(LinkNameSpaceType::Network),
                )
                .map_err(|e| HostError::io("enter netns", &object, e.into()))?;
                Ok(f())
            })
            .join()
            // The panic is the caller's (from `f`): pass it on rather than hiding it.
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
