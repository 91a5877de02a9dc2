//! Mounts, masked and read-only paths, and device rules: Docker's defaults plus the document's.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Mount as OciMount};

use crate::document::{ComputeSystemDocument, Mount, MountKind, NetworkNamespace};

/// Hidden from the container (bind-mounted over with `/dev/null` or an empty read-only tmpfs):
/// they leak host information or give handles on host hardware.
pub const DEFAULT_MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Made read-only: writing them would change the host kernel, not the container.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Size of the default `/dev/shm`, Docker's `--shm-size` default.
pub const DEFAULT_SHM_SIZE: &str = "size=65536k";

fn oci_mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> OciMount {
    let mut mount = OciMount::default();
    mount
        .set_destination(PathBuf::from(destination))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(PathBuf::from(source)))
        .set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    mount
}

/// The mounts every container gets, then the document's, in the order the runtime applies
/// them. A document mount replaces a default one on the same destination (e.g. a bigger
/// `/dev/shm`).
pub fn mounts(doc: &ComputeSystemDocument) -> Vec<OciMount> {
    let privileged = doc.security.privileged;
    // sysfs can only be mounted by the owner of the network namespace; with the host's
    // namespace the host's /sys is bound instead (as Docker does).
    let sys = if doc.network == NetworkNamespace::Host {
        oci_mount(
            "/sys",
            "bind",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        )
    } else {
        oci_mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )
    };
    let cgroup_mode = if privileged { "rw" } else { "ro" };
    let defaults = vec![
        oci_mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        oci_mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        oci_mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        sys,
        oci_mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", cgroup_mode],
        ),
        oci_mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        oci_mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", DEFAULT_SHM_SIZE],
        ),
    ];
    let overridden = |m: &OciMount| doc.mounts.iter().any(|d| d.destination == *m.destination());
    defaults
        .into_iter()
        .filter(|m| !overridden(m))
        .chain(doc.mounts.iter().map(document_mount))
        .collect()
}

/// Binds are recursive and private so mounts made inside never propagate to the host; tmpfs
/// gets Docker's `--tmpfs` hardening unless the caller's options say otherwise.
fn document_mount(mount: &Mount) -> OciMount {
    let mut options: Vec<String> = match mount.kind {
        MountKind::Bind => vec!["rbind".into(), "rprivate".into()],
        MountKind::Tmpfs => ["nosuid", "nodev", "noexec"]
            .iter()
            .filter(|d| !mount.options.iter().any(|o| conflicts(o, d)))
            .map(|d| d.to_string())
            .collect(),
    };
    options.extend(mount.options.iter().cloned());
    options.push(if mount.read_only { "ro" } else { "rw" }.to_string());
    let (typ, source) = match mount.kind {
        MountKind::Bind => (
            "bind",
            mount.source.clone().unwrap_or_else(|| PathBuf::from("/")),
        ),
        MountKind::Tmpfs => ("tmpfs", PathBuf::from("tmpfs")),
    };
    let mut oci = OciMount::default();
    oci.set_destination(mount.destination.clone())
        .set_typ(Some(typ.to_string()))
        .set_source(Some(source))
        .set_options(Some(options));
    oci
}

/// `exec` undoes `noexec`, `suid` undoes `nosuid`, `dev` undoes `nodev`.
fn conflicts(option: &str, default: &str) -> bool {
    default.strip_prefix("no") == Some(option)
}

/// Masked paths: the document's list, else the defaults; none for privileged systems.
pub fn masked_paths(doc: &ComputeSystemDocument) -> Vec<String> {
    paths(
        doc,
        doc.security.masked_paths.as_ref(),
        &DEFAULT_MASKED_PATHS,
    )
}

/// Read-only paths: the document's list, else the defaults; none for privileged systems.
pub fn readonly_paths(doc: &ComputeSystemDocument) -> Vec<String> {
    paths(
        doc,
        doc.security.readonly_paths.as_ref(),
        &DEFAULT_READONLY_PATHS,
    )
}

fn paths(
    doc: &ComputeSystemDocument,
    given: Option<&Vec<String>>,
    defaults: &[&str],
) -> Vec<String> {
    match given {
        Some(list) => list.clone(),
        None if doc.security.privileged => Vec::new(),
        None => defaults.iter().map(|p| p.to_string()).collect(),
    }
}

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow)
        .set_typ(Some(typ))
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_string()));
    rule
}

/// The device cgroup: deny everything, then allow mknod of any node (harmless without access)
/// and access to the standard character devices and ptys. Privileged allows all.
pub fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    if privileged {
        return vec![rule(true, A, None, None, "rwm")];
    }
    vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
        rule(true, C, Some(1), Some(3), "rwm"),    // /dev/null
        rule(true, C, Some(1), Some(5), "rwm"),    // /dev/zero
        rule(true, C, Some(1), Some(7), "rwm"),    // /dev/full
        rule(true, C, Some(1), Some(8), "rwm"),    // /dev/random
        rule(true, C, Some(1), Some(9), "rwm"),    // /dev/urandom
        rule(true, C, Some(5), Some(0), "rwm"),    // /dev/tty
        rule(true, C, Some(5), Some(1), "rwm"),    // /dev/console
        rule(true, C, Some(5), Some(2), "rwm"),    // /dev/ptmx
        rule(true, C, Some(136), None, "rwm"),     // /dev/pts/*
        rule(true, C, Some(10), Some(200), "rwm"), // /dev/net/tun
    ]
}
