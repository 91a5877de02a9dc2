//! Capabilities: Docker's default set and its `--cap-add`/`--cap-drop`/`--privileged` rules.

use oci_spec::runtime::Capability;

/// Docker's default set: enough for package managers and typical daemons running as root,
/// without the ones that reach the kernel or other containers (SYS_ADMIN, NET_ADMIN, ...).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the OCI types know (Linux 5.9's set), in kernel numbering order; what
/// `--privileged` and `--cap-add ALL` grant.
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Parses `NET_ADMIN`, `cap_net_admin`, `CAP_NET_ADMIN`. `ALL` is not a capability and gives
/// `None`; callers treat it separately.
pub fn parse_capability(name: &str) -> Option<Capability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    // The serde form is exactly "CAP_<NAME>", so the OCI types' own parser is reused.
    serde_json::from_value(serde_json::Value::String(format!("CAP_{bare}"))).ok()
}

/// The capabilities a process gets, following Docker's rules:
/// privileged → all; `ALL` in adds → all minus drops; `ALL` in drops → only the adds;
/// otherwise the defaults minus drops plus adds. Unknown names are skipped here because
/// [`crate::ProcessParameters::validate`] has refused them already. The result is sorted in
/// kernel order and free of duplicates, so specs are reproducible.
pub fn effective_capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Vec<Capability> {
    let is_all = |name: &String| name.eq_ignore_ascii_case("ALL");
    let adds: Vec<Capability> = add.iter().filter_map(|n| parse_capability(n)).collect();
    let drops: Vec<Capability> = drop.iter().filter_map(|n| parse_capability(n)).collect();

    let chosen: Vec<Capability> = if privileged {
        ALL_CAPABILITIES.to_vec()
    } else if add.iter().any(is_all) {
        ALL_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drops.contains(c))
            .collect()
    } else if drop.iter().any(is_all) {
        adds
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drops.contains(c))
            .chain(adds)
            .collect()
    };
    ALL_CAPABILITIES
        .iter()
        .copied()
        .filter(|c| chosen.contains(c))
        .collect()
}
