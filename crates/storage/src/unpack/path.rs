//! Entry path validation and symlink-proof directory walking.
//!
//! The unpacker never hands a joined path string to a syscall: every entry is resolved by
//! opening its parent one component at a time with `O_NOFOLLOW | O_DIRECTORY` relative to the
//! previous component's fd, starting at the destination's fd. A symlink anywhere in the parent
//! chain (planted by an earlier entry of the same tar) therefore fails the walk instead of
//! redirecting a write outside the destination.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;

use crate::error::{Result, StorageError};
use crate::fsutil::open_dir_nofollow;

/// Path components of an entry below the destination root (empty = the root itself).
pub(crate) type Components = Vec<OsString>;

/// Lexically normalises a tar path. `.` and empty components vanish; `..` pops a component and
/// is refused if it would climb above the root. Absolute paths are refused rather than
/// re-rooted, because a layer that contains them was not produced by a well-behaved tool.
/// Returns the reason on refusal so callers can say which field (path or link target) was bad.
pub(crate) fn normalize(raw: &[u8]) -> std::result::Result<Components, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute paths are not allowed");
    }
    if raw.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut out = Components::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path climbs above the layer root with '..'");
                }
            }
            name => out.push(OsString::from_vec(name.to_vec())),
        }
    }
    Ok(out)
}

/// Whether a symlink at `link_parent/<name>` pointing to `target` stays inside the root when
/// resolved lexically. Absolute targets are fine: they are resolved against the container's
/// root at run time, and we never follow them here.
pub(crate) fn symlink_target_stays_inside(link_parent: &[OsString], target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return true;
    }
    let mut depth = link_parent.len();
    for comp in target.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Why a walk stopped: the index of the component that could not be opened, and the error.
pub(crate) struct WalkError {
    pub(crate) index: usize,
    pub(crate) error: Errno,
}

/// Opens `root/comps[0]/comps[1]/...` as a directory without following any symlink, optionally
/// creating missing directories (mode 0755, as tar does for implied parents).
pub(crate) fn walk(
    root: &OwnedFd,
    comps: &[OsString],
    create: bool,
) -> std::result::Result<OwnedFd, WalkError> {
    let mut cur = open_dir_nofollow(root, c".").map_err(|e| WalkError {
        index: 0,
        error: Errno::from_io_error(&e).unwrap_or(Errno::IO),
    })?;
    for (index, comp) in comps.iter().enumerate() {
        let err = |error| WalkError { index, error };
        let next = match rustix::fs::openat(
            &cur,
            comp.as_os_str(),
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, comp.as_os_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(err(e)),
                }
                // mkdirat honours the umask; implied parents should be 0755 regardless.
                let fd = open_dir_nofollow(&cur, comp.as_os_str())
                    .map_err(|e| err(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
                rustix::fs::fchmod(&fd, Mode::from_bits_truncate(0o755)).map_err(err)?;
                fd
            }
            Err(e) => return Err(err(e)),
        };
        cur = next;
    }
    Ok(cur)
}

/// Opens the parent directory of an entry, turning walk failures into errors that name the
/// entry and say whether the failure was an escape attempt or a host problem.
pub(crate) fn open_parent(
    root: &OwnedFd,
    parent: &[OsString],
    create: bool,
    entry: &str,
) -> Result<OwnedFd> {
    open_parent_from(root, &[], parent, create, entry)
}

/// Like [`open_parent`], starting from `start`, an open directory at path `start_path` below
/// the root; `rest` is the remainder of the parent's path.
pub(crate) fn open_parent_from(
    start: &OwnedFd,
    start_path: &[OsString],
    rest: &[OsString],
    create: bool,
    entry: &str,
) -> Result<OwnedFd> {
    walk(start, rest, create).map_err(|WalkError { index, error }| {
        let mut parent = start_path.to_vec();
        parent.extend_from_slice(rest);
        let index = start_path.len() + index;
        let shown = display(&parent[..=index.min(parent.len().saturating_sub(1))]);
        match error {
            Errno::LOOP | Errno::NOTDIR => StorageError::unsafe_entry(
                entry,
                format!(
                    "parent {shown:?} is a symlink or not a directory; refusing to traverse it"
                ),
            ),
            e => StorageError::entry(entry, format!("open parent directory {shown:?}"), e.into()),
        }
    })
}

/// What currently sits at `name` in `dir`, without following symlinks.
pub(crate) fn file_type_at(dir: impl AsFd, name: &OsString) -> io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Components joined with `/`, for messages.
pub(crate) fn display(comps: &[OsString]) -> String {
    let joined: Vec<u8> = comps
        .iter()
        .map(|c| c.as_bytes())
        .collect::<Vec<_>>()
        .join(&b'/');
    String::from_utf8_lossy(&joined).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> std::result::Result<String, &'static str> {
        normalize(s.as_bytes()).map(|c| display(&c))
    }

    #[test]
    fn normalize_cases() {
        assert_eq!(norm("./a/b/").unwrap(), "a/b");
        assert_eq!(norm("a//./b").unwrap(), "a/b");
        assert_eq!(norm("a/../b").unwrap(), "b");
        assert_eq!(norm("./").unwrap(), "");
        assert!(norm("/etc/passwd").is_err());
        assert!(norm("../x").is_err());
        assert!(norm("a/../../x").is_err());
        assert!(norm("./..").is_err());
    }

    #[test]
    fn symlink_targets() {
        let parent: Components = vec!["usr".into(), "lib".into()];
        assert!(symlink_target_stays_inside(&parent, b"/bin/busybox"));
        assert!(symlink_target_stays_inside(&parent, b"../../etc/x"));
        assert!(symlink_target_stays_inside(&parent, b"x86_64/libc.so"));
        assert!(!symlink_target_stays_inside(
            &parent,
            b"../../../etc/passwd"
        ));
        assert!(!symlink_target_stays_inside(&[], b".."));
        assert!(!symlink_target_stays_inside(&parent, b"a/../../../../x"));
    }
}
