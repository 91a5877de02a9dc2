//! Resolving `--user name[:group]` and `--group-add` against the image's `/etc/passwd` and
//! `/etc/group`, the way Docker does: numbers need no entry, names must have one, and the user's
//! supplementary groups from `/etc/group` are added.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::SpecError;
use crate::document::User;

/// Numeric identity of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups, without duplicates, in the order found.
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user` against the files under `rootfs`. Missing files count as empty: an image
/// without `/etc/passwd` can still run as `1000:1000`.
pub fn resolve_user(rootfs: &Path, user: &User) -> Result<ResolvedUser, SpecError> {
    let (user, group, extra) = match user {
        User::Id {
            uid,
            gid,
            additional_gids,
        } => {
            return Ok(ResolvedUser {
                uid: *uid,
                gid: *gid,
                additional_gids: additional_gids.clone(),
            })
        }
        User::Named {
            user,
            group,
            additional_groups,
        } => (user, group, additional_groups),
    };
    let passwd = parse_passwd(&read_optional(rootfs, "etc/passwd")?);
    let groups = parse_group(&read_optional(rootfs, "etc/group")?);

    let entry = passwd
        .iter()
        .find(|e| &e.name == user || e.uid.to_string() == *user);
    let (uid, mut gid, name) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.as_str())),
        (None, Ok(uid)) => (uid, 0, None),
        (None, Err(_)) => return Err(SpecError::UnknownUser { user: user.clone() }),
    };
    if let Some(group) = group {
        gid = lookup_group(&groups, group)?;
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = name {
        for g in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            if g.gid != gid && !additional_gids.contains(&g.gid) {
                additional_gids.push(g.gid);
            }
        }
    }
    for group in extra {
        let extra_gid = lookup_group(&groups, group)?;
        if !additional_gids.contains(&extra_gid) {
            additional_gids.push(extra_gid);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

fn lookup_group(groups: &[GroupEntry], group: &str) -> Result<u32, SpecError> {
    if let Some(entry) = groups.iter().find(|g| g.name == group) {
        return Ok(entry.gid);
    }
    group.parse().map_err(|_| SpecError::UnknownGroup {
        group: group.to_string(),
    })
}

/// Reads `rel` inside `rootfs`, treating a missing file as empty. The image is untrusted: a
/// symlink such as `/etc/passwd -> /etc/shadow` must resolve inside the rootfs, never on the
/// host, so the path is resolved by [`secure_join`] and opened with `O_NOFOLLOW`.
fn read_optional(rootfs: &Path, rel: &str) -> Result<String, SpecError> {
    let read_err = |source| SpecError::Read {
        path: rootfs.join(rel),
        source,
    };
    let path = secure_join(rootfs, Path::new(rel)).map_err(read_err)?;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(source) => return Err(read_err(source)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read_err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Joins `rel` onto `root`, following symlinks as if `root` were `/`: absolute targets restart
/// at `root` and `..` stops at it. Components that do not exist are kept as they are.
pub fn secure_join(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    const MAX_LINKS: usize = 40;
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<OsString> = normal_components(rel).collect();
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&component);
        match std::fs::symlink_metadata(root.join(&candidate)) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(root.join(&candidate))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for part in normal_components(&target)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    pending.push_front(part);
                }
            }
            Ok(_) => resolved = candidate,
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved = candidate,
            Err(e) => return Err(e),
        }
    }
    Ok(root.join(resolved))
}

/// The components of `path` that move: names and `..` (root and `.` are dropped).
fn normal_components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped as libc does.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_string();
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(PasswdEntry { name, uid, gid })
        })
        .collect()
}

/// `name:password:gid:member,member`.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_string();
            let _password = fields.next()?;
            let gid = fields.next()?.parse().ok()?;
            let members = fields
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some(GroupEntry { name, gid, members })
        })
        .collect()
}
