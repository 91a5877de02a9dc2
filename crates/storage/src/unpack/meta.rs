//! Entry metadata: ownership, mode, extended attributes and times, read from the tar header
//! and its PAX records, and applied without following symlinks.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};

use crate::error::{Result, StorageError};

const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Metadata of one entry.
#[derive(Debug)]
pub(crate) struct Meta {
    uid: u32,
    gid: u32,
    /// Permission bits including setuid/setgid/sticky.
    pub(crate) mode: u32,
    mtime: Timespec,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Reads header fields, letting PAX records (which carry values too big for the header and
    /// sub-second times) override them.
    pub(crate) fn read<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let tar_err = |field: &str, source| StorageError::TarRead {
            context: format!("{field} of entry {name:?}"),
            source,
        };
        let header = entry.header();
        let mut uid = header.uid().map_err(|e| tar_err("uid", e))?;
        let mut gid = header.gid().map_err(|e| tar_err("gid", e))?;
        let mode = header.mode().map_err(|e| tar_err("mode", e))? & 0o7777;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(header.mtime().map_err(|e| tar_err("mtime", e))?)
                .unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| tar_err("pax records", e))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| tar_err("pax record", e))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                match key {
                    "uid" => uid = parse_u64(value).unwrap_or(uid),
                    "gid" => gid = parse_u64(value).unwrap_or(gid),
                    "mtime" => mtime = parse_time(value).unwrap_or(mtime),
                    k => {
                        if let Some(x) = k.strip_prefix(XATTR_PREFIX) {
                            xattrs.push((x.to_owned(), value.to_vec()));
                        }
                    }
                }
            }
        }
        let id = |what: &str, v: u64| {
            u32::try_from(v)
                .map_err(|_| StorageError::unsafe_entry(name, format!("{what} {v} out of range")))
        };
        Ok(Meta {
            uid: id("uid", uid)?,
            gid: id("gid", gid)?,
            mode,
            mtime,
            xattrs,
        })
    }

    /// Atime is set to mtime: layers should be reproducible, and atime carries no meaning.
    pub(crate) fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)))
    }

    fn perm(&self) -> Mode {
        Mode::from_bits_truncate(self.mode)
    }

    /// Applies owner, `mode` and xattrs to an open regular file or directory. Owner goes first
    /// because chown clears setuid/setgid bits and file capabilities.
    pub(crate) fn apply_fd(
        &self,
        fd: impl AsFd,
        entry: &str,
        preserve_owner: bool,
        mode: u32,
    ) -> Result<()> {
        let fd = fd.as_fd();
        if preserve_owner {
            let (u, g) = self.owner();
            rustix::fs::fchown(fd, u, g).map_err(|e| {
                StorageError::entry(entry, format!("chown {}:{}", self.uid, self.gid), e.into())
            })?;
        }
        rustix::fs::fchmod(fd, Mode::from_bits_truncate(mode))
            .map_err(|e| StorageError::entry(entry, format!("chmod {mode:o}"), e.into()))?;
        self.apply_xattrs(entry, |name, value| {
            rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty())
        })
    }

    /// Applies owner, (optionally) mode, xattrs and times to `name` in `dir` when it cannot be
    /// opened for writing: symlinks (never followed) and FIFOs (opening would block).
    pub(crate) fn apply_at(
        &self,
        dir: impl AsFd,
        name: &OsString,
        entry: &str,
        preserve_owner: bool,
        set_mode: bool,
    ) -> Result<()> {
        let dir = dir.as_fd();
        if preserve_owner {
            let (u, g) = self.owner();
            rustix::fs::chownat(dir, name.as_os_str(), u, g, AtFlags::SYMLINK_NOFOLLOW).map_err(
                |e| {
                    StorageError::entry(
                        entry,
                        format!("lchown {}:{}", self.uid, self.gid),
                        e.into(),
                    )
                },
            )?;
        }
        if set_mode {
            // fchmodat cannot refuse symlinks on older kernels; callers only ask for FIFOs they
            // just created in a directory no one else writes to.
            rustix::fs::chmodat(dir, name.as_os_str(), self.perm(), AtFlags::empty()).map_err(
                |e| StorageError::entry(entry, format!("chmod {:o}", self.mode), e.into()),
            )?;
        }
        if !self.xattrs.is_empty() {
            // The parent is reached through its fd's magic link; only the final component is
            // resolved by name, and lsetxattr does not follow it.
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(name.as_bytes());
            let path = OsStr::from_bytes(&path);
            self.apply_xattrs(entry, |n, v| {
                rustix::fs::lsetxattr(path, n, v, XattrFlags::empty())
            })?;
        }
        rustix::fs::utimensat(
            dir,
            name.as_os_str(),
            &self.times(),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| StorageError::entry(entry, "set times", e.into()))
    }

    fn apply_xattrs(
        &self,
        entry: &str,
        mut set: impl FnMut(&str, &[u8]) -> rustix::io::Result<()>,
    ) -> Result<()> {
        for (name, value) in &self.xattrs {
            if name.starts_with("trusted.overlay.") {
                // Overlay metadata in our lower dirs must come only from whiteouts we translate
                // ourselves; some exporters leak their own, which would redirect lookups.
                tracing::warn!(entry, xattr = %name, "ignoring overlay xattr found in layer");
                continue;
            }
            match set(name, value) {
                Ok(()) => {}
                // SELinux labels and the like depend on the host policy; failing to set them
                // must not make an image unusable.
                Err(e) if name.starts_with("security.") => {
                    tracing::warn!(entry, xattr = %name, error = %e, "cannot set xattr; skipping");
                }
                Err(e) => {
                    return Err(StorageError::entry(
                        entry,
                        format!("set xattr {name}"),
                        e.into(),
                    ))
                }
            }
        }
        Ok(())
    }
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// PAX times are decimal seconds with an optional fraction, e.g. `1700000000.123456789`.
fn parse_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        let n: i64 = digits.parse().ok()?;
        n * 10i64.pow(9 - u32::try_from(digits.len()).ok()?)
    };
    // A negative time with a fraction means "further into the past", which timespec encodes
    // as a smaller second plus a positive fraction.
    Some(if tv_sec < 0 && tv_nsec > 0 {
        Timespec {
            tv_sec: tv_sec - 1,
            tv_nsec: 1_000_000_000 - tv_nsec,
        }
    } else {
        Timespec { tv_sec, tv_nsec }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = parse_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        let t = parse_time(b"1.1234567891234").unwrap();
        assert_eq!(t.tv_nsec, 123_456_789);
        assert!(parse_time(b"x").is_none());
    }
}
