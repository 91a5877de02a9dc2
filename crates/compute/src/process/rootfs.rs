//! The per-container sandbox on the host: an overlayfs of the image's read-only layers with a
//! writable `upper` directory, mounted at `<sandbox>/rootfs` (windowsfilter's `sandbox.vhdx`).
//!
//! Layout of `doc.rootfs.sandbox`:
//!
//! ```text
//! upper/    the container's writes (what `docker diff` and `commit` read)
//! work/     overlayfs's scratch space; must be on the same filesystem as upper/
//! rootfs/   the merged view handed to the runtime as the OCI root
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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

use crate::document::Rootfs;

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
pub fn mount_sandbox(rootfs: &Rootfs) -> Result<PathBuf, RootfsError> {
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

/// Unmounts the sandbox's root (lazily if something still uses it) and removes the sandbox
/// directory. A sandbox that is already gone is fine.
pub fn remove_sandbox(sandbox: &Path) -> Result<(), RootfsError> {
    let merged = rootfs_dir(sandbox);
    if merged.exists() && is_mounted(&merged)? {
        match unmount(&merged, UnmountFlags::empty()) {
            Ok(()) => {}
            Err(rustix::io::Errno::BUSY) => unmount(&merged, UnmountFlags::DETACH)
                .map_err(|e| fail("unmount", &merged)(e.into()))?,
            Err(e) => return Err(fail("unmount", &merged)(e.into())),
        }
    }
    match std::fs::remove_dir_all(sandbox) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("remove", sandbox)(e)),
    }
}

/// A mount point has a different device than its parent; overlayfs always gets its own.
pub fn is_mounted(dir: &Path) -> Result<bool, RootfsError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let own = std::fs::metadata(dir).map_err(fail("stat", dir))?;
    let up = std::fs::metadata(parent).map_err(fail("stat", parent))?;
    Ok(own.dev() != up.dev())
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
