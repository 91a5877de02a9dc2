//! Small filesystem helpers shared by the stores and the unpacker.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

/// A name that is unique across processes and threads, for temp files and directories. No
/// randomness is needed: uniqueness, not unpredictability, is what matters inside our own root.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{nanos:x}-{n}", std::process::id())
}

/// Opens a directory without following a symlink at its last component.
pub(crate) fn open_dir_nofollow(
    dirfd: impl AsFd,
    name: impl rustix::path::Arg,
) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Removes `name` in `dirfd` and everything below it, never following symlinks.
///
/// Directories are made writable before descending because layer trees legitimately contain
/// read-only directories (mode 0555, 0000) that would otherwise block removal when we are not
/// running with CAP_DAC_OVERRIDE.
pub(crate) fn remove_all_at(dirfd: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dirfd = dirfd.as_fd();
    let st = match rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    // Prefer chmod through a no-follow fd; only a directory we cannot even open (mode 0000,
    // no CAP_DAC_OVERRIDE) falls back to chmod by name. The mode change is best effort: if it
    // fails, the unlinks below report the real problem.
    let child = match open_dir_nofollow(dirfd, name) {
        Ok(fd) => {
            let _ = rustix::fs::fchmod(&fd, Mode::RWXU);
            fd
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let _ = rustix::fs::chmodat(dirfd, name, Mode::RWXU, AtFlags::empty());
            open_dir_nofollow(dirfd, name)?
        }
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&child)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(n).to_owned());
        }
    }
    for n in names {
        remove_all_at(&child, &n)?;
    }
    match rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes `path` recursively (see [`remove_all_at`]); a missing path is not an error.
pub(crate) fn remove_all(path: &Path) -> io::Result<()> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            let parent = match rustix::fs::open(
                parent,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            remove_all_at(&parent, name)
        }
        (_, Some(name)) => remove_all_at(CWD, name),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to remove a path without a final component",
        )),
    }
}

/// Removes every entry inside `dir` (used to clear crash leftovers from ingest/ and tmp/).
pub(crate) fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        remove_all(&entry.path())?;
    }
    Ok(())
}

/// Flushes a directory so that a rename into it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(rustix::fs::fsync(fd)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn remove_all_handles_readonly_dirs_and_does_not_follow_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir_all(victim.join("ro/inner")).unwrap();
        std::fs::write(victim.join("ro/inner/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, victim.join("ro/link")).unwrap();
        std::fs::set_permissions(
            victim.join("ro/inner"),
            std::fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        std::fs::set_permissions(victim.join("ro"), std::fs::Permissions::from_mode(0o555))
            .unwrap();

        remove_all(&victim).unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists(), "followed a symlink");
        remove_all(&victim).unwrap(); // idempotent
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("a-"), unique_name("a-"));
    }
}
