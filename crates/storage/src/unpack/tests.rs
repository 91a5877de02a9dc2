//! Unpacker tests. Hostile archives are built from raw headers, because the tar crate refuses
//! to write `..` and absolute names through its safe setters; every hostile test checks both
//! the error (it must name the entry) and that the sibling "outside" directory is untouched.

use super::*;
use silo_errdefs::{ErrorKind, HasKind};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

const MTIME: u64 = 1_600_000_000;

/// An in-memory layer tar.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    /// Appends an entry with the name bytes written straight into the header.
    fn raw(
        mut self,
        name: &[u8],
        kind: EntryType,
        link: Option<&[u8]>,
        data: &[u8],
        mode: u32,
        owner: (u64, u64),
    ) -> Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name_literal(l).unwrap();
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn dir(self, name: &str, mode: u32) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Directory,
            None,
            b"",
            mode,
            (0, 0),
        )
    }
    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Regular,
            None,
            data,
            0o644,
            (0, 0),
        )
    }
    fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            Some(target.as_bytes()),
            b"",
            0o777,
            (0, 0),
        )
    }
    fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            Some(target.as_bytes()),
            b"",
            0o644,
            (0, 0),
        )
    }
    fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A destination with an empty sibling "outside" directory that must stay untouched.
struct Fixture {
    _tmp: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        Fixture {
            _tmp: tmp,
            dest,
            outside,
        }
    }

    fn unpack(&self, layer: Layer) -> Result<UnpackStats> {
        unpack_layer(&layer.bytes()[..], &self.dest, &UnpackOptions::default())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }

    /// Asserts the refusal names the entry and nothing outside changed.
    fn assert_refused(&self, layer: Layer, entry: &str) {
        let err = self.unpack(layer).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(
            err.to_string().contains(entry),
            "error does not name {entry:?}: {err}"
        );
        self.assert_outside_untouched();
    }

    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["secret"], "something was written outside dest");
        let meta = fs::metadata(self.outside.join("secret")).unwrap();
        assert_eq!(meta.nlink(), 1, "secret was hardlinked");
        assert_eq!(meta.mode() & 0o7777, 0o644, "secret mode changed");
        assert_eq!(fs::read(self.outside.join("secret")).unwrap(), b"secret");
        assert_eq!(fs::metadata(&self.outside).unwrap().mode() & 0o7777, 0o755);
    }
}

fn lxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

// ---- hostile archives ----

#[test]
fn refuses_absolute_path() {
    let f = Fixture::new();
    let target = f.outside.join("evil");
    let name = target.to_str().unwrap().to_owned();
    f.assert_refused(Layer::new().file(&name, b"pwned"), &name);
}

#[test]
fn refuses_dotdot_escape() {
    let f = Fixture::new();
    f.assert_refused(
        Layer::new().file("../outside/evil", b"pwned"),
        "../outside/evil",
    );
    f.assert_refused(
        Layer::new()
            .dir("a", 0o755)
            .file("a/../../outside/evil", b"x"),
        "a/../../outside/evil",
    );
    f.assert_refused(
        Layer::new().dir("../outside/newdir", 0o755),
        "../outside/newdir",
    );
}

#[test]
fn dotdot_that_stays_inside_is_allowed() {
    let f = Fixture::new();
    f.unpack(Layer::new().dir("a", 0o755).file("a/../b", b"ok"))
        .unwrap();
    assert_eq!(fs::read(f.path("b")).unwrap(), b"ok");
}

#[test]
fn refuses_write_through_symlinked_parent() {
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    // The absolute symlink itself is legitimate; writing through it is not.
    f.assert_refused(
        Layer::new()
            .symlink("escape", &abs)
            .file("escape/evil", b"x"),
        "escape/evil",
    );
    assert!(f
        .path("escape")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());

    // Even a symlink that points inside the root may not be traversed.
    let f = Fixture::new();
    f.assert_refused(
        Layer::new()
            .dir("d", 0o755)
            .symlink("d/up", "..")
            .file("d/up/x", b"x"),
        "d/up/x",
    );
    assert!(!f.path("x").exists());
}

#[test]
fn refuses_write_through_a_cached_parent_replaced_by_a_symlink() {
    // The unpacker keeps the previous entry's parent open; replacing that directory (or an
    // ancestor) with a symlink must not let later entries reach through the stale descriptor
    // or through the link.
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    f.assert_refused(
        Layer::new()
            .dir("a", 0o755)
            .dir("a/b", 0o755)
            .file("a/b/x", b"x")
            .symlink("a", &abs)
            .file("a/b/y", b"y"),
        "a/b/y",
    );
    f.assert_outside_untouched();

    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    f.assert_refused(
        Layer::new()
            .dir("d", 0o755)
            .file("d/x", b"x")
            .symlink("d", &abs)
            .file("d/y", b"y"),
        "d/y",
    );
    f.assert_outside_untouched();
}

#[test]
fn refuses_deeper_symlink_parent_and_dir_entries_through_symlinks() {
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    let layer = Layer::new()
        .dir("a", 0o755)
        .symlink("a/b", &abs)
        .dir("a/b/c", 0o755);
    f.assert_refused(layer, "a/b/c");
}

#[test]
fn refuses_relative_symlink_climbing_above_root() {
    let f = Fixture::new();
    f.assert_refused(
        Layer::new().symlink("etc/passwd", "../../outside/secret"),
        "etc/passwd",
    );
    assert!(fs::symlink_metadata(f.path("etc/passwd")).is_err());
    f.assert_refused(Layer::new().symlink("x", ".."), "x");
}

#[test]
fn allows_absolute_and_inside_relative_symlinks() {
    let f = Fixture::new();
    let stats = f
        .unpack(
            Layer::new()
                .dir("bin", 0o755)
                .symlink("bin/sh", "/bin/busybox")
                .dir("usr", 0o755)
                .dir("usr/lib", 0o755)
                .symlink("usr/lib/up", "../../bin"),
        )
        .unwrap();
    assert_eq!(stats.entries, 5);
    assert_eq!(
        fs::read_link(f.path("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::read_link(f.path("usr/lib/up")).unwrap(),
        Path::new("../../bin")
    );
}

#[test]
fn refuses_hardlink_escapes() {
    let f = Fixture::new();
    f.assert_refused(Layer::new().hardlink("h", "../outside/secret"), "h");
    assert!(fs::symlink_metadata(f.path("h")).is_err());

    let abs = f.outside.join("secret");
    f.assert_refused(Layer::new().hardlink("h2", abs.to_str().unwrap()), "h2");
    assert!(fs::symlink_metadata(f.path("h2")).is_err());
}

#[test]
fn refuses_hardlink_through_symlink() {
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    // "d/secret" is an earlier entry, but "d" is then replaced by a symlink to outside.
    let layer = Layer::new()
        .dir("d", 0o755)
        .file("d/secret", b"inner")
        .symlink("d", &abs)
        .hardlink("stolen", "d/secret");
    f.assert_refused(layer, "stolen");
    assert!(fs::symlink_metadata(f.path("stolen")).is_err());

    // A target that was never an entry of this layer (here: reachable only via a symlink).
    let f = Fixture::new();
    let layer = Layer::new()
        .symlink("s", &abs)
        .hardlink("stolen", "s/secret");
    f.assert_refused(layer, "stolen");
}

#[test]
fn refuses_hardlink_to_preexisting_file() {
    let f = Fixture::new();
    fs::write(f.path("pre"), b"not from this layer").unwrap();
    f.assert_refused(Layer::new().hardlink("h", "pre"), "h");
}

#[test]
fn refuses_device_nodes() {
    let f = Fixture::new();
    let layer = Layer::new().raw(b"dev/sda", EntryType::Block, None, b"", 0o660, (0, 0));
    f.assert_refused(layer, "dev/sda");
    assert!(!f.path("dev/sda").exists());
    let layer = Layer::new().raw(b"dev/null", EntryType::Char, None, b"", 0o666, (0, 0));
    f.assert_refused(layer, "dev/null");
    assert!(fs::symlink_metadata(f.path("dev/null")).is_err());
}

#[test]
fn refuses_unknown_entry_types() {
    let f = Fixture::new();
    let layer = Layer::new().raw(b"weird", EntryType::new(b'Z'), None, b"", 0o644, (0, 0));
    f.assert_refused(layer, "weird");
}

#[test]
fn refuses_invalid_whiteouts() {
    let f = Fixture::new();
    f.assert_refused(Layer::new().file("a/.wh...", b""), "a/.wh...");
    f.assert_refused(
        Layer::new().file("../outside/.wh.secret", b""),
        "../outside/.wh.secret",
    );
}

#[test]
fn regular_file_replaces_symlink_instead_of_writing_through_it() {
    let f = Fixture::new();
    let abs = f.outside.join("secret");
    f.unpack(
        Layer::new()
            .symlink("f", abs.to_str().unwrap())
            .file("f", b"mine"),
    )
    .unwrap();
    f.assert_outside_untouched();
    let meta = fs::symlink_metadata(f.path("f")).unwrap();
    assert!(meta.is_file());
    assert_eq!(fs::read(f.path("f")).unwrap(), b"mine");
}

#[test]
fn directory_replaces_symlink_instead_of_merging_through_it() {
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    f.unpack(
        Layer::new()
            .symlink("d", &abs)
            .dir("d", 0o700)
            .file("d/x", b"x"),
    )
    .unwrap();
    f.assert_outside_untouched();
    assert!(fs::symlink_metadata(f.path("d")).unwrap().is_dir());
    assert_eq!(fs::read(f.path("d/x")).unwrap(), b"x");
}

#[test]
fn whiteout_of_symlink_does_not_touch_its_target() {
    let f = Fixture::new();
    let abs = f.outside.to_str().unwrap().to_owned();
    f.unpack(Layer::new().symlink("s", &abs).file(".wh.s", b""))
        .unwrap();
    f.assert_outside_untouched();
    assert!(fs::symlink_metadata(f.path("s"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn truncated_archive_is_invalid_argument() {
    let f = Fixture::new();
    let bytes = Layer::new().file("big", &[7u8; 4096]).bytes();
    let err = unpack_layer(&bytes[..1500], &f.dest, &UnpackOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("big"), "{err}");
}

// ---- layer semantics ----

#[test]
fn files_dirs_modes_ownership_and_times() {
    let f = Fixture::new();
    let layer = Layer::new()
        .raw(b"./", EntryType::Directory, None, b"", 0o755, (0, 0))
        .raw(
            b"./usr/",
            EntryType::Directory,
            None,
            b"",
            0o750,
            (1234, 5678),
        )
        .raw(
            b"./usr/bin/",
            EntryType::Directory,
            None,
            b"",
            0o755,
            (0, 0),
        )
        .raw(
            b"./usr/bin/su",
            EntryType::Regular,
            None,
            b"#!suid",
            0o4755,
            (0, 0),
        )
        .raw(
            b"./usr/bin/sgid",
            EntryType::Regular,
            None,
            b"g",
            0o2711,
            (0, 42),
        )
        .raw(b"./tmp/", EntryType::Directory, None, b"", 0o1777, (0, 0))
        .raw(
            b"./home/user/file",
            EntryType::Regular,
            None,
            b"hello",
            0o600,
            (1000, 1000),
        )
        .raw(
            b"./home/user/fifo",
            EntryType::Fifo,
            None,
            b"",
            0o640,
            (1000, 1001),
        );
    let stats = f.unpack(layer).unwrap();
    assert_eq!(
        stats,
        UnpackStats {
            entries: 8,
            bytes: 6 + 1 + 5
        }
    );

    let m = |p: &str| fs::symlink_metadata(f.path(p)).unwrap();
    assert_eq!(m("usr").mode() & 0o7777, 0o750);
    assert_eq!((m("usr").uid(), m("usr").gid()), (1234, 5678));
    assert_eq!(m("usr/bin/su").mode() & 0o7777, 0o4755, "setuid lost");
    assert_eq!(m("usr/bin/sgid").mode() & 0o7777, 0o2711, "setgid lost");
    assert_eq!(m("usr/bin/sgid").gid(), 42);
    assert_eq!(m("tmp").mode() & 0o7777, 0o1777, "sticky lost");
    assert_eq!(fs::read(f.path("home/user/file")).unwrap(), b"hello");
    assert_eq!(
        (m("home/user/file").uid(), m("home/user/file").gid()),
        (1000, 1000)
    );
    assert_eq!(m("home/user/file").mode() & 0o7777, 0o600);
    assert!(m("home/user/fifo").file_type().is_fifo());
    assert_eq!(m("home/user/fifo").mode() & 0o7777, 0o640);
    assert_eq!(m("home/user/fifo").gid(), 1001);
    // Implied parents get 0755.
    assert_eq!(m("home").mode() & 0o7777, 0o755);
    // Directory mtimes survive their children being written after them.
    for p in [
        "usr",
        "usr/bin",
        "tmp",
        "usr/bin/su",
        "home/user/file",
        "home/user/fifo",
    ] {
        assert_eq!(m(p).mtime(), MTIME as i64, "{p}");
    }
}

#[test]
fn ownership_can_be_ignored() {
    let f = Fixture::new();
    let layer = Layer::new().raw(b"f", EntryType::Regular, None, b"x", 0o644, (4321, 4321));
    unpack_layer(
        &layer.bytes()[..],
        &f.dest,
        &UnpackOptions {
            preserve_ownership: false,
        },
    )
    .unwrap();
    assert_eq!(
        fs::metadata(f.path("f")).unwrap().uid(),
        rustix::process::geteuid().as_raw()
    );
}

#[test]
fn symlink_ownership_and_time_do_not_follow() {
    let f = Fixture::new();
    let abs = f.outside.join("secret");
    let layer = Layer::new().raw(
        b"l",
        EntryType::Symlink,
        Some(abs.to_str().unwrap().as_bytes()),
        b"",
        0o777,
        (77, 88),
    );
    f.unpack(layer).unwrap();
    let m = fs::symlink_metadata(f.path("l")).unwrap();
    assert_eq!((m.uid(), m.gid()), (77, 88));
    assert_eq!(m.mtime(), MTIME as i64);
    let target = fs::metadata(f.outside.join("secret")).unwrap();
    assert_eq!(
        (target.uid(), target.gid()),
        (0, 0),
        "chown followed the symlink"
    );
    assert_ne!(
        target.mtime(),
        MTIME as i64,
        "utimensat followed the symlink"
    );
}

#[test]
fn readonly_dirs_still_receive_their_children() {
    let f = Fixture::new();
    let layer = Layer::new()
        .dir("ro", 0o555)
        .file("ro/f", b"x")
        .dir("locked", 0o000)
        .dir("locked/inner", 0o755)
        .dir("twice", 0o700)
        .dir("twice", 0o751);
    f.unpack(layer).unwrap();
    let mode = |p: &str| fs::metadata(f.path(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(mode("locked"), 0o000);
    assert_eq!(mode("locked/inner"), 0o755);
    assert_eq!(mode("twice"), 0o751, "last entry for a path must win");
    assert_eq!(fs::read(f.path("ro/f")).unwrap(), b"x");
}

#[test]
fn symlink_xattrs_are_set_on_the_link() {
    let f = Fixture::new();
    let abs = f.outside.join("secret");
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.trusted.link", b"l")])
        .symlink("l", abs.to_str().unwrap());
    f.unpack(layer).unwrap();
    assert_eq!(
        lxattr(&f.path("l"), "trusted.link").as_deref(),
        Some(&b"l"[..])
    );
    assert_eq!(
        lxattr(&abs, "trusted.link"),
        None,
        "xattr followed the symlink"
    );
}

#[test]
fn hardlinks_share_an_inode() {
    let f = Fixture::new();
    let layer = Layer::new()
        .dir("bin", 0o755)
        .file("bin/busybox", b"BB")
        .hardlink("bin/ls", "bin/busybox")
        .hardlink("ls2", "./bin/busybox");
    f.unpack(layer).unwrap();
    let a = fs::metadata(f.path("bin/busybox")).unwrap();
    let b = fs::metadata(f.path("bin/ls")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 3);
    assert_eq!(fs::read(f.path("ls2")).unwrap(), b"BB");
}

#[test]
fn whiteouts_become_overlay_char_devices() {
    let f = Fixture::new();
    let layer = Layer::new()
        .dir("etc", 0o755)
        .file("etc/.wh.removed", b"")
        .file(".wh.toplevel", b"")
        .file("etc/.wh..wh.plnk", b"");
    let stats = f.unpack(layer).unwrap();
    assert_eq!(stats.entries, 4);
    for p in ["etc/removed", "toplevel"] {
        let m = fs::symlink_metadata(f.path(p)).unwrap();
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!(m.rdev(), 0, "{p}");
    }
    let names: Vec<_> = fs::read_dir(f.path("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["removed"],
        "whiteout marker files must not be materialised"
    );
}

#[test]
fn whiteout_replaces_earlier_entry_of_same_layer() {
    let f = Fixture::new();
    let layer = Layer::new()
        .dir("d", 0o755)
        .file("d/x", b"x")
        .dir("d/sub", 0o755)
        .file("d/sub/y", b"y")
        .file(".wh.d", b"");
    f.unpack(layer).unwrap();
    assert!(fs::symlink_metadata(f.path("d"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn opaque_directory_gets_overlay_xattr() {
    let f = Fixture::new();
    let layer = Layer::new()
        .dir("var", 0o755)
        .dir("var/cache", 0o755)
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/new", b"n");
    f.unpack(layer).unwrap();
    assert_eq!(
        lxattr(&f.path("var/cache"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(lxattr(&f.path("var"), "trusted.overlay.opaque"), None);
    assert!(!f.path("var/cache/.wh..wh..opq").exists());
    assert!(f.path("var/cache/new").exists());
}

#[test]
fn xattrs_from_pax_records() {
    let f = Fixture::new();
    let layer = Layer::new()
        .pax(&[
            ("SCHILY.xattr.user.comment", b"hi"),
            ("SCHILY.xattr.trusted.t", b"1"),
        ])
        .dir("d", 0o755)
        .pax(&[("SCHILY.xattr.user.file", b"v\0bin")])
        .file("d/f", b"x")
        // Overlay metadata may only come from our whiteout translation.
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .file("d/g", b"x")
        // A bogus capability is rejected by the kernel; security.* failures are skipped.
        .pax(&[("SCHILY.xattr.security.capability", b"junk")])
        .file("d/cap", b"x");
    f.unpack(layer).unwrap();
    assert_eq!(
        lxattr(&f.path("d"), "user.comment").as_deref(),
        Some(&b"hi"[..])
    );
    assert_eq!(
        lxattr(&f.path("d"), "trusted.t").as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        lxattr(&f.path("d/f"), "user.file").as_deref(),
        Some(&b"v\0bin"[..])
    );
    assert_eq!(lxattr(&f.path("d/g"), "trusted.overlay.redirect"), None);
    assert_eq!(lxattr(&f.path("d/cap"), "security.capability"), None);
    assert!(f.path("d/cap").exists());
}

#[test]
fn failing_non_security_xattr_is_an_error() {
    let f = Fixture::new();
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.bogusns.x", b"1")])
        .file("f", b"x");
    let err = f.unpack(layer).unwrap_err();
    assert!(
        err.to_string().contains("bogusns.x") && err.to_string().contains("\"f\""),
        "{err}"
    );
}

#[test]
fn later_entries_overwrite_earlier_ones() {
    let f = Fixture::new();
    let layer = Layer::new()
        .file("f", b"first")
        .file("f", b"second")
        .file("was_file", b"x")
        .dir("was_file", 0o700)
        .dir("was_dir", 0o755)
        .file("was_dir/child", b"c")
        .file("was_dir", b"now a file")
        .dir("merge", 0o755)
        .file("merge/keep", b"k")
        .dir("merge", 0o711)
        .file("merge/new", b"n");
    f.unpack(layer).unwrap();
    assert_eq!(fs::read(f.path("f")).unwrap(), b"second");
    assert!(fs::metadata(f.path("was_file")).unwrap().is_dir());
    assert_eq!(fs::read(f.path("was_dir")).unwrap(), b"now a file");
    assert_eq!(
        fs::read(f.path("merge/keep")).unwrap(),
        b"k",
        "dir over dir must merge"
    );
    assert!(f.path("merge/new").exists());
    assert_eq!(
        fs::metadata(f.path("merge")).unwrap().permissions().mode() & 0o7777,
        0o711
    );
}

#[test]
fn hardlink_survives_replacement_of_its_source() {
    let f = Fixture::new();
    let layer = Layer::new()
        .file("a", b"old")
        .hardlink("b", "a")
        .file("a", b"new");
    f.unpack(layer).unwrap();
    assert_eq!(fs::read(f.path("b")).unwrap(), b"old");
    assert_eq!(fs::read(f.path("a")).unwrap(), b"new");
}

#[test]
fn long_names_and_global_headers() {
    let f = Fixture::new();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(130));
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("comment", &b"global"[..])])
        .unwrap();
    // Turn the last header into a global one by rewriting its type.
    let mut bytes = b.into_inner().unwrap();
    bytes.truncate(bytes.len() - 1024); // drop the end-of-archive blocks
    bytes[156] = b'g';
    let mut sum = 0u32;
    bytes[148..156].copy_from_slice(b"        ");
    for byte in &bytes[..512] {
        sum += u32::from(*byte);
    }
    bytes[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut b = tar::Builder::new(bytes);
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    b.append_data(&mut h, &long, &b"long"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    let stats = unpack_layer(&bytes[..], &f.dest, &UnpackOptions::default()).unwrap();
    assert_eq!(stats.entries, 1);
    assert_eq!(fs::read(f.path(&long)).unwrap(), b"long");
}
