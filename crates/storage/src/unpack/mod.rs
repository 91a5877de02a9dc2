//! Safe unpacking of one OCI layer tar into an overlayfs lower directory.
//!
//! This is the security boundary between an untrusted registry and the host: a layer is
//! attacker-controlled input, and this module guarantees that nothing it contains can create,
//! modify or link to anything outside the destination. Every entry's path is normalised
//! lexically ([`path::normalize`]) and its parent is opened component by component without
//! following symlinks ([`path::walk`]); the final component is always created with
//! `O_EXCL`/`*at` calls that do not follow symlinks either. Entry kinds that have no business in
//! a layer (device nodes, unknown types) are refused outright.
//!
//! OCI whiteouts are translated to the overlayfs representation: `.wh.<name>` becomes a 0:0
//! character device `<name>`, and `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on its
//! directory.

mod meta;
mod path;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use crate::error::{Result, StorageError};
use crate::fsutil::{open_dir_nofollow, remove_all_at};
use meta::Meta;
use path::Components;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Basename of an opaque-directory marker, after `WHITEOUT_PREFIX` has been stripped.
const OPAQUE_REST: &[u8] = b".wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply the uid/gid recorded in the tar (needs CAP_CHOWN). When false, files belong to
    /// the unpacking user, which is what rootless setups want.
    pub preserve_ownership: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            preserve_ownership: true,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed (including whiteouts, excluding global PAX headers).
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Unpacks an uncompressed layer tar from `reader` into the existing directory `dest`.
///
/// Stops at the tar end-of-archive marker; it does not drain trailing bytes (callers that hash
/// the stream must do that). On error `dest` is left partially populated but never anything
/// outside it; callers unpack into a scratch directory and discard it.
pub fn unpack_layer(reader: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StorageError::io("open unpack destination", dest, e.into()))?;
    let mut unpacker = Unpacker {
        root,
        opts,
        extracted: HashSet::new(),
        dir_fixups: Vec::new(),
        stats: UnpackStats::default(),
        buf: vec![0; 128 * 1024],
        parent_cache: None,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|source| StorageError::TarRead {
        context: "archive start".into(),
        source,
    })?;
    let mut last = String::from("(start of archive)");
    for entry in entries {
        let mut entry = entry.map_err(|source| StorageError::TarRead {
            context: format!("entry after {last:?}"),
            source,
        })?;
        last = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        unpacker.entry(&mut entry, &last)?;
    }
    unpacker.fix_dirs()?;
    Ok(unpacker.stats)
}

struct Unpacker<'o> {
    root: OwnedFd,
    opts: &'o UnpackOptions,
    /// Paths created by this layer; hardlinks may only point at these, never at whatever else
    /// happens to be in the destination.
    extracted: HashSet<Components>,
    /// Directory modes and mtimes, applied at the end: creating children changes the mtime,
    /// and a read-only mode (0555) would stop us creating children without CAP_DAC_OVERRIDE.
    dir_fixups: Vec<(Components, u32, Timestamps)>,
    stats: UnpackStats,
    buf: Vec<u8>,
    /// The parent directory of the previous entry, still open. Tar entries come grouped by
    /// directory, so reusing it (or walking on from it) saves re-walking every component from
    /// the root for every entry. It is only reused when its path is a prefix of the new
    /// parent; an entry that could replace it (or one of its ancestors) has a shorter parent,
    /// so it replaces the cache before the stale descriptor could be used.
    parent_cache: Option<(Components, OwnedFd)>,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        self.stats.entries += 1;
        let comps = path::normalize(&entry.path_bytes())
            .map_err(|reason| StorageError::unsafe_entry(name, reason))?;
        let Some((base, parent)) = comps.split_last() else {
            // "./": the root's attributes belong to whoever mounts the layer stack.
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(StorageError::unsafe_entry(
                    name,
                    "only a directory may name the layer root",
                )),
            };
        };
        let parent_fd = self.open_parent(parent, name)?;
        let result = self.entry_in(&parent_fd, entry, &comps, (parent, base), name);
        self.parent_cache = Some((parent.to_vec(), parent_fd));
        result
    }

    /// Opens (creating as needed, never following symlinks) the parent directory of an entry.
    fn open_parent(&mut self, parent: &[OsString], name: &str) -> Result<OwnedFd> {
        match self.parent_cache.take() {
            Some((cached, fd)) if cached.as_slice() == parent => Ok(fd),
            Some((cached, fd)) if parent.starts_with(&cached) => {
                path::open_parent_from(&fd, &cached, &parent[cached.len()..], true, name)
            }
            _ => path::open_parent(&self.root, parent, true, name),
        }
    }

    fn entry_in<R: Read>(
        &mut self,
        parent_fd: &OwnedFd,
        entry: &mut tar::Entry<'_, R>,
        comps: &Components,
        (parent, base): (&[OsString], &OsString),
        name: &str,
    ) -> Result<()> {
        let kind = entry.header().entry_type();
        if let Some(hidden) = base.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parent_fd, hidden, name);
        }
        let meta = Meta::read(entry, name)?;
        match kind {
            EntryType::Directory => self.directory(parent_fd, base, comps, &meta, name)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(parent_fd, base, entry, &meta, name)?;
            }
            EntryType::Symlink => self.symlink(parent_fd, parent, base, entry, &meta, name)?,
            EntryType::Link => self.hardlink(parent_fd, base, comps, entry, name)?,
            EntryType::Fifo => {
                replace(parent_fd, base, false, name)?;
                rustix::fs::mknodat(
                    parent_fd,
                    base.as_os_str(),
                    FileType::Fifo,
                    Mode::from_bits_truncate(0o600),
                    0,
                )
                .map_err(|e| StorageError::entry(name, "create fifo", e.into()))?;
                meta.apply_at(parent_fd, base, name, self.opts.preserve_ownership, true)?;
            }
            EntryType::Char | EntryType::Block => {
                return Err(StorageError::unsafe_entry(
                    name,
                    "device nodes are not allowed in layers",
                ));
            }
            other => {
                let t = char::from(other.as_byte()).escape_default();
                return Err(StorageError::unsafe_entry(
                    name,
                    format!("unsupported tar entry type '{t}'"),
                ));
            }
        }
        self.extracted.insert(comps.clone());
        Ok(())
    }

    fn whiteout(&mut self, parent: &OwnedFd, hidden: &[u8], name: &str) -> Result<()> {
        if hidden == OPAQUE_REST {
            return rustix::fs::fsetxattr(parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| StorageError::entry(name, format!("set {OPAQUE_XATTR}"), e.into()));
        }
        if hidden.starts_with(WHITEOUT_PREFIX) {
            // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): meaningless to overlayfs.
            tracing::debug!(entry = name, "skipping aufs metadata entry");
            return Ok(());
        }
        if matches!(hidden, b"" | b"." | b"..") {
            return Err(StorageError::unsafe_entry(
                name,
                "whiteout of an invalid name",
            ));
        }
        let target = OsString::from(std::ffi::OsStr::from_bytes(hidden));
        replace(parent, &target, false, name)?;
        rustix::fs::mknodat(
            parent,
            target.as_os_str(),
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(|e| StorageError::entry(name, "create overlay whiteout", e.into()))
    }

    fn directory(
        &mut self,
        parent: &OwnedFd,
        base: &OsString,
        comps: &Components,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        // A directory over an existing directory merges with it; anything else is replaced.
        if !replace(parent, base, true, name)? {
            rustix::fs::mkdirat(parent, base.as_os_str(), Mode::RWXU)
                .map_err(|e| StorageError::entry(name, "create directory", e.into()))?;
        }
        let fd = open_dir_nofollow(parent, base.as_os_str())
            .map_err(|e| StorageError::entry(name, "open directory", e))?;
        meta.apply_fd(&fd, name, self.opts.preserve_ownership, meta.mode | 0o700)?;
        self.dir_fixups
            .push((comps.clone(), meta.mode, meta.times()));
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        parent: &OwnedFd,
        base: &OsString,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        replace(parent, base, false, name)?;
        let fd = rustix::fs::openat(
            parent,
            base.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| StorageError::entry(name, "create file", e.into()))?;
        let mut file = File::from(fd);
        loop {
            let n = entry
                .read(&mut self.buf)
                .map_err(|source| StorageError::TarRead {
                    context: format!("contents of entry {name:?}"),
                    source,
                })?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buf[..n])
                .map_err(|e| StorageError::entry(name, "write file", e))?;
            self.stats.bytes += n as u64;
        }
        meta.apply_fd(&file, name, self.opts.preserve_ownership, meta.mode)?;
        rustix::fs::futimens(&file, &meta.times())
            .map_err(|e| StorageError::entry(name, "set times", e.into()))
    }

    fn symlink<R: Read>(
        &mut self,
        parent: &OwnedFd,
        parent_comps: &[OsString],
        base: &OsString,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        let target = entry
            .link_name_bytes()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| StorageError::unsafe_entry(name, "symlink without a target"))?;
        if target.contains(&0) || !path::symlink_target_stays_inside(parent_comps, &target) {
            return Err(StorageError::unsafe_entry(
                name,
                format!(
                    "symlink target {:?} climbs above the layer root",
                    String::from_utf8_lossy(&target)
                ),
            ));
        }
        replace(parent, base, false, name)?;
        rustix::fs::symlinkat(
            std::ffi::OsStr::from_bytes(&target),
            parent,
            base.as_os_str(),
        )
        .map_err(|e| StorageError::entry(name, "create symlink", e.into()))?;
        meta.apply_at(parent, base, name, self.opts.preserve_ownership, false)
    }

    fn hardlink<R: Read>(
        &mut self,
        parent: &OwnedFd,
        base: &OsString,
        comps: &Components,
        entry: &tar::Entry<'_, R>,
        name: &str,
    ) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| StorageError::unsafe_entry(name, "hardlink without a target"))?;
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |why: &str| {
            StorageError::unsafe_entry(name, format!("hardlink target {shown:?}: {why}"))
        };
        let target = path::normalize(&raw).map_err(refuse)?;
        let Some((tbase, tparent)) = target.split_last() else {
            return Err(refuse("names the layer root"));
        };
        if !self.extracted.contains(&target) {
            return Err(refuse("not an earlier entry of this layer"));
        }
        if target == *comps {
            return Ok(()); // a link to itself: already in place
        }
        let tparent_fd = path::open_parent(&self.root, tparent, false, name)?;
        match path::file_type_at(&tparent_fd, tbase)
            .map_err(|e| StorageError::entry(name, "stat hardlink target", e))?
        {
            None => return Err(refuse("no longer exists")),
            Some(FileType::Directory) => return Err(refuse("is a directory")),
            Some(_) => {}
        }
        replace(parent, base, false, name)?;
        // No AT_SYMLINK_FOLLOW: if the target is a symlink, the link is to the symlink itself.
        rustix::fs::linkat(
            &tparent_fd,
            tbase.as_os_str(),
            parent,
            base.as_os_str(),
            AtFlags::empty(),
        )
        .map_err(|e| StorageError::entry(name, format!("link to {shown:?}"), e.into()))
    }

    fn fix_dirs(&self) -> Result<()> {
        // Newest first, so the last entry for a path wins and children are done before a
        // parent can become unsearchable (mode 0000) for an unprivileged unpacker.
        let mut done = HashSet::new();
        for (comps, mode, times) in self.dir_fixups.iter().rev() {
            if !done.insert(comps) {
                continue;
            }
            let shown = path::display(comps);
            let fd = match path::walk(&self.root, comps, false) {
                Ok(fd) => fd,
                // A later entry replaced or whited out the directory: nothing to fix.
                Err(path::WalkError {
                    error: Errno::NOENT | Errno::NOTDIR | Errno::LOOP,
                    ..
                }) => continue,
                Err(path::WalkError { error, .. }) => {
                    return Err(StorageError::entry(
                        &shown,
                        "reopen directory",
                        error.into(),
                    ))
                }
            };
            rustix::fs::fchmod(&fd, Mode::from_bits_truncate(*mode))
                .map_err(|e| StorageError::entry(&shown, format!("chmod {mode:o}"), e.into()))?;
            rustix::fs::futimens(&fd, times)
                .map_err(|e| StorageError::entry(&shown, "set directory times", e.into()))?;
        }
        Ok(())
    }
}

/// Clears the way for a new entry at `name`: removes whatever is there unless it is a
/// directory and `keep_dir` is set. Returns whether a directory was kept.
fn replace(parent: &OwnedFd, name: &OsString, keep_dir: bool, entry: &str) -> Result<bool> {
    match path::file_type_at(parent, name)
        .map_err(|e| StorageError::entry(entry, "stat existing path", e))?
    {
        None => Ok(false),
        Some(FileType::Directory) if keep_dir => Ok(true),
        Some(_) => remove_all_at(parent, name)
            .map(|()| false)
            .map_err(|e| StorageError::entry(entry, "remove existing path", e)),
    }
}

#[cfg(test)]
mod tests;
