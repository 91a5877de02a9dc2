//! The per-container sandbox on the host: an overlayfs of the image's read-only layers with a
//! writable `upper` directory, mounted at `<sandbox>/rootfs` (windowsfilter's `sandbox.vhdx`).
//!
//! Layout of `doc.rootfs.sandbox`:
//!
//! ```text
//! upper/    the container's writes (what `docker diff` and `commit` read)
//! work/     overlayfs's scratch space; must be on the same filesystem as upper/
//! rootfs/   the merged view handed to the runtime as the OCI root
//! lower/N   with a user namespace only: layer N bind-mounted with its ids shifted
//! ```
//!
//! Mounting is idempotent: a mount already in place is reused, and a sandbox that survived a
//! host reboot (directories present, nothing mounted) is mounted again over the same `upper`, so
//! a daemon that restarts never loses a container's writes.
//!
//! `--read-only` is not done here: the overlay always has an upper directory (overlayfs refuses a
//! single lower layer without one), and the runtime remounts the root read-only from the spec.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

use crate::document::{Rootfs, UserNamespace};

use super::idmap;

/// Longest option string the kernel accepts for `mount(2)`'s data argument (one page).
const MAX_MOUNT_DATA: usize = 4096;

/// A mount failure with the path it concerns; the caller wraps it in a [`crate::Cause::Io`].
#[derive(Debug)]
pub struct RootfsError {
    /// What was being done.
    pub action: &'static str,
    /// On which path.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

fn fail(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RootfsError {
    let path = path.to_path_buf();
    move |source| RootfsError {
        action,
        path,
        source,
    }
}

/// The merged root of a sandbox.
pub fn rootfs_dir(sandbox: &Path) -> PathBuf {
    sandbox.join("rootfs")
}

/// Mounts the overlay for `rootfs` unless it is mounted already; returns the merged directory.
/// With `userns`, the layers are seen through idmapped mounts and the writable layer belongs to
/// the namespace's root.
pub fn mount_sandbox(
    rootfs: &Rootfs,
    userns: Option<&UserNamespace>,
) -> Result<PathBuf, RootfsError> {
    let sandbox = &rootfs.sandbox;
    let upper = sandbox.join("upper");
    let work = sandbox.join("work");
    let merged = rootfs_dir(sandbox);
    for dir in [&upper, &work, &merged] {
        std::fs::create_dir_all(dir).map_err(fail("create", dir))?;
    }
    if is_mounted(&merged)? {
        return Ok(merged);
    }
    let mut lowers: Vec<PathBuf> = rootfs.layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        // `FROM scratch` with nothing added: overlayfs still needs one lower directory.
        let empty = sandbox.join("empty");
        std::fs::create_dir_all(&empty).map_err(fail("create", &empty))?;
        lowers.push(empty);
    }
    for layer in &lowers {
        if !layer.is_dir() {
            return Err(RootfsError {
                action: "use layer",
                path: layer.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "not a directory"),
            });
        }
    }
    if let Some(userns) = userns {
        lowers = shift_layers(sandbox, &lowers, userns)?;
        own_writable_layer(&[&upper, &work], userns)?;
    }
    let lowerdir = lowers
        .iter()
        .map(|p| escape(&p.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(":");
    let base = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        escape(&upper.to_string_lossy()),
        escape(&work.to_string_lossy())
    );
    // index=off: with the inode index on, overlayfs ties a lower layer to the first upper that
    // used it and refuses to mount the same layers under another container's sandbox.
    let with_index = format!("{base},index=off");
    if with_index.len() >= MAX_MOUNT_DATA {
        return Err(RootfsError {
            action: "mount overlay on",
            path: merged,
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} layers make a {}-byte option string, above the kernel's {MAX_MOUNT_DATA}",
                    rootfs.layers.len(),
                    with_index.len()
                ),
            ),
        });
    }
    let attempt = |data: &str| {
        let data = CString::new(data).map_err(io::Error::other)?;
        mount(
            "overlay",
            &merged,
            "overlay",
            MountFlags::empty(),
            Some(data.as_c_str()),
        )
        .map_err(io::Error::from)
    };
    match attempt(&with_index) {
        Ok(()) => Ok(merged),
        // Kernels built without the index feature do not know the option at all.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            attempt(&base).map_err(fail("mount overlay on", &merged))?;
            Ok(merged)
        }
        Err(e) => Err(fail("mount overlay on", &merged)(e)),
    }
}

/// Mounts each layer, id-shifted, at `<sandbox>/lower/<n>` (kept if already there); returns the
/// mount points in the order given.
fn shift_layers(
    sandbox: &Path,
    layers: &[PathBuf],
    userns: &UserNamespace,
) -> Result<Vec<PathBuf>, RootfsError> {
    let base = sandbox.join("lower");
    let mut namespace = None;
    let mut shifted = Vec::with_capacity(layers.len());
    for (n, layer) in layers.iter().enumerate() {
        let target = base.join(n.to_string());
        std::fs::create_dir_all(&target).map_err(fail("create", &target))?;
        if !is_mounted(&target)? {
            if namespace.is_none() {
                let fd = idmap::user_namespace_fd(userns)
                    .map_err(fail("create a user namespace for", sandbox))?;
                namespace = Some(fd);
            }
            let fd = namespace.as_ref().expect("created above");
            idmap::mount_idmapped(layer, &target, fd).map_err(fail("idmap-mount layer", layer))?;
        }
        shifted.push(target);
    }
    Ok(shifted)
}

/// The container's root owns its writable layer, so `/` and whatever it creates are its own.
fn own_writable_layer(dirs: &[&Path], userns: &UserNamespace) -> Result<(), RootfsError> {
    let root_of = |maps| {
        idmap::host_id(maps, 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the mapping has no id 0"))
    };
    for dir in dirs {
        let uid = root_of(&userns.uid_map).map_err(fail("own", dir))?;
        let gid = root_of(&userns.gid_map).map_err(fail("own", dir))?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(fail("own", dir))?;
    }
    Ok(())
}

/// Unmounts the sandbox's root and its id-shifted layers (lazily if something still uses them)
/// and removes the sandbox directory. A sandbox that is already gone is fine.
pub fn remove_sandbox(sandbox: &Path) -> Result<(), RootfsError> {
    let merged = rootfs_dir(sandbox);
    unmount_if_mounted(&merged)?;
    let lower = sandbox.join("lower");
    match std::fs::read_dir(&lower) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(fail("list", &lower))?;
                let target = entry.path();
                unmount_if_mounted(&target)?;
                // Removing the tree below a layer still mounted here would delete the layer.
                if is_mounted(&target)? {
                    return Err(fail("unmount", &target)(io::Error::other(
                        "still mounted; sandbox kept",
                    )));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("list", &lower)(e)),
    }
    match std::fs::remove_dir_all(sandbox) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("remove", sandbox)(e)),
    }
}

fn unmount_if_mounted(dir: &Path) -> Result<(), RootfsError> {
    if !dir.exists() || !is_mounted(dir)? {
        return Ok(());
    }
    match unmount(dir, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            unmount(dir, UnmountFlags::DETACH).map_err(|e| fail("unmount", dir)(e.into()))
        }
        Err(e) => Err(fail("unmount", dir)(e.into())),
    }
}

/// A mount point sits on another mount than its parent. Mount ids rather than devices: a bind
/// mount of a layer has the same device as the sandbox it is mounted in.
pub fn is_mounted(dir: &Path) -> Result<bool, RootfsError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    Ok(mount_id(dir)? != mount_id(parent)?)
}

fn mount_id(path: &Path) -> Result<u64, RootfsError> {
    let stat = statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::MNT_ID)
        .map_err(|e| fail("stat", path)(e.into()))?;
    Ok(stat.stx_mnt_id)
}

/// Overlayfs splits `lowerdir` on `:` and options on `,`; both may be escaped with `\`.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_escaped() {
        assert_eq!(escape("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
        assert_eq!(escape("/plain/path"), "/plain/path");
    }

    #[test]
    fn a_plain_directory_is_not_a_mount() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("x");
        std::fs::create_dir(&sub).unwrap();
        assert!(!is_mounted(&sub).unwrap());
    }
}
