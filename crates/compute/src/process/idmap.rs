//! Id-shifted views of image layers, for containers that run in their own user namespace.
//!
//! Layers are unpacked owned by host ids. A remapped root (say host uid 200000) could neither
//! create its mount points in them nor see its files as its own. Rather than chown a copy of
//! every layer per mapping, each layer is bind-mounted with `MOUNT_ATTR_IDMAP`: through that
//! mount, host id N reads as N shifted by the container's mapping, and nothing on disk changes.
//! Overlayfs accepts such mounts as lower layers (Linux 5.19 and later).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::CWD;
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

use crate::document::{IdMap, UserNamespace};

/// `MOUNT_ATTR_IDMAP` from linux/mount.h; the libc crate does not carry it.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` from linux/mount.h (version 0, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A user namespace with `userns`'s mappings, held open by a file descriptor only: the process
/// created to own it is gone by the time this returns.
pub fn user_namespace_fd(userns: &UserNamespace) -> io::Result<OwnedFd> {
    // A raw clone rather than fork + unshare: the child is born in the new namespace, so the
    // parent need not wait for it, and the child runs no code but `pause` (this process has
    // threads; nothing else is safe between clone and exit).
    // SAFETY: fork semantics (no new stack); the child only calls async-signal-safe functions.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUSER | libc::SIGCHLD,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: async-signal-safe calls only; the parent kills this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            loop {
                libc::pause();
            }
        }
    }
    let pid = pid as libc::pid_t;
    let result = map_and_open(pid, userns);
    // SAFETY: plain syscalls on our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    result
}

fn map_and_open(pid: libc::pid_t, userns: &UserNamespace) -> io::Result<OwnedFd> {
    // As root of the parent namespace (CAP_SETGID there), gid_map needs no setgroups "deny".
    write_map(&format!("/proc/{pid}/uid_map"), &userns.uid_map)?;
    write_map(&format!("/proc/{pid}/gid_map"), &userns.gid_map)?;
    Ok(File::open(format!("/proc/{pid}/ns/user"))?.into())
}

fn write_map(path: &str, maps: &[IdMap]) -> io::Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect();
    // The kernel wants the whole map in one write.
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// Bind-mounts `source` at `target` (an existing directory), with ids shifted through `userns`.
pub fn mount_idmapped(source: &Path, target: &Path, userns: &OwnedFd) -> io::Result<()> {
    let tree = open_tree(
        CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `attr` outlives the call and its size is passed with it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        // Dropping `tree` unmounts the detached copy.
        return Err(io::Error::last_os_error());
    }
    move_mount(
        tree.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// The host id that `id` inside the namespace maps to, if any.
pub fn host_id(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let offset = id.checked_sub(m.container_id)?;
        (offset < m.size).then(|| m.host_id + offset)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids_follow_the_ranges() {
        let maps = [
            IdMap {
                container_id: 0,
                host_id: 200_000,
                size: 1000,
            },
            IdMap {
                container_id: 1000,
                host_id: 5000,
                size: 1,
            },
        ];
        assert_eq!(host_id(&maps, 0), Some(200_000));
        assert_eq!(host_id(&maps, 999), Some(200_999));
        assert_eq!(host_id(&maps, 1000), Some(5000));
        assert_eq!(host_id(&maps, 1001), None);
    }
}
