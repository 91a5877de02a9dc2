use std::path::Path;

use oci_spec::runtime::{
    Arch, LinuxDeviceType, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Spec,
};

use super::*;
use crate::document::tests::sample;
use crate::document::{Mount, MountKind, User};

const ROOTFS: &str = "/run/silo/rootfs";

fn spec_of(doc: &ComputeSystemDocument) -> Spec {
    oci_spec(doc, Path::new(ROOTFS), None).unwrap()
}

fn caps_of(spec: &Spec) -> Vec<Capability> {
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    let mut bounding: Vec<_> = caps.bounding().clone().unwrap().into_iter().collect();
    bounding.sort_by_key(|c| c.to_string());
    let mut effective: Vec<_> = caps.effective().clone().unwrap().into_iter().collect();
    effective.sort_by_key(|c| c.to_string());
    assert_eq!(bounding, effective);
    assert!(caps.inheritable().is_none() && caps.ambient().is_none());
    bounding
}

fn linux(spec: &Spec) -> &Linux {
    spec.linux().as_ref().unwrap()
}

fn seccomp(spec: &Spec) -> &LinuxSeccomp {
    linux(spec).seccomp().as_ref().expect("seccomp profile")
}

/// What the filter does with a syscall called without argument conditions mattering:
/// the action of the first unconditional rule naming it, else the default.
fn unconditional_action(profile: &LinuxSeccomp, name: &str) -> LinuxSeccompAction {
    profile
        .syscalls()
        .iter()
        .flatten()
        .find(|s| s.args().is_none() && s.names().iter().any(|n| n == name))
        .map_or(profile.default_action(), |s| s.action())
}

fn rules_for<'a>(
    profile: &'a LinuxSeccomp,
    name: &str,
) -> Vec<&'a oci_spec::runtime::LinuxSyscall> {
    profile
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.names().iter().any(|n| n == name))
        .collect()
}

#[test]
fn default_capabilities_are_dockers() {
    let caps = caps_of(&spec_of(&sample()));
    assert_eq!(caps.len(), 14);
    for cap in caps::DEFAULT_CAPABILITIES {
        assert!(caps.contains(&cap), "{cap} missing");
    }
    assert!(!caps.contains(&Capability::SysAdmin));
    assert!(!caps.contains(&Capability::NetAdmin));
}

#[test]
fn cap_add_and_drop() {
    let mut doc = sample();
    doc.process.capabilities.add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into()];
    doc.process.capabilities.drop = vec!["MKNOD".into(), "cap_net_raw".into()];
    let caps = caps_of(&spec_of(&doc));
    assert!(caps.contains(&Capability::NetAdmin));
    assert!(caps.contains(&Capability::SysPtrace));
    assert!(!caps.contains(&Capability::Mknod));
    assert!(!caps.contains(&Capability::NetRaw));
    assert_eq!(caps.len(), 14);
}

#[test]
fn cap_all_rules() {
    let eff = |add: &[&str], drop: &[&str]| {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        caps::effective_capabilities(&s(add), &s(drop), false)
    };
    let all_but_admin = eff(&["ALL"], &["SYS_ADMIN"]);
    assert_eq!(all_but_admin.len(), caps::ALL_CAPABILITIES.len() - 1);
    assert!(!all_but_admin.contains(&Capability::SysAdmin));

    assert_eq!(eff(&["CHOWN"], &["ALL"]), vec![Capability::Chown]);
    assert!(eff(&[], &["all"]).is_empty());
    // Added and dropped at once: the add wins, as in Docker.
    assert!(eff(&["KILL"], &["KILL"]).contains(&Capability::Kill));
    // No duplicates when adding a default one.
    assert_eq!(eff(&["CHOWN"], &[]).len(), 14);
}

#[test]
fn privileged_lifts_every_restriction() {
    let mut doc = sample();
    doc.security.privileged = true;
    doc.process.capabilities.drop = vec!["ALL".into()];
    let spec = spec_of(&doc);
    assert_eq!(caps_of(&spec).len(), caps::ALL_CAPABILITIES.len());
    let linux = linux(&spec);
    assert!(linux.seccomp().is_none());
    assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(linux.readonly_paths().as_deref(), Some(&[][..]));
    let devices = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].allow());
    assert_eq!(devices[0].typ(), Some(LinuxDeviceType::A));
    let cgroup = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys/fs/cgroup"))
        .unwrap();
    assert!(cgroup
        .options()
        .as_ref()
        .unwrap()
        .contains(&"rw".to_string()));
}

#[test]
fn masked_and_readonly_paths() {
    let spec = spec_of(&sample());
    let masked = linux(&spec).masked_paths().clone().unwrap();
    for path in [
        "/proc/kcore",
        "/proc/keys",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ] {
        assert!(masked.contains(&path.to_string()), "{path} not masked");
    }
    let readonly = linux(&spec).readonly_paths().clone().unwrap();
    assert!(readonly.contains(&"/proc/sys".to_string()));
    assert!(readonly.contains(&"/proc/sysrq-trigger".to_string()));

    let mut doc = sample();
    doc.security.masked_paths = Some(vec!["/proc/custom".into()]);
    let spec = spec_of(&doc);
    assert_eq!(
        linux(&spec).masked_paths().clone().unwrap(),
        vec!["/proc/custom"]
    );
}

#[test]
fn unprivileged_devices_are_the_standard_ones() {
    let spec = spec_of(&sample());
    let rules = linux(&spec)
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert!(!rules[0].allow(), "first rule must deny all");
    let allowed = |major: i64, minor: i64| {
        rules.iter().any(|r| {
            r.allow()
                && r.typ() == Some(LinuxDeviceType::C)
                && r.major() == Some(major)
                && r.minor().is_none_or(|m| m == minor)
                && r.access().as_deref() == Some("rwm")
        })
    };
    assert!(allowed(1, 3), "/dev/null");
    assert!(allowed(136, 7), "/dev/pts/7");
    assert!(!allowed(8, 0), "/dev/sda must stay denied");
}

#[test]
fn resources_math() {
    let mut doc = sample();
    doc.resources.nano_cpus = Some(1_500_000_000);
    doc.resources.memory_bytes = Some(256 << 20);
    doc.resources.memory_swap = Some(512 << 20);
    doc.resources.cpu_shares = Some(512);
    doc.resources.pids_limit = Some(100);
    let spec = spec_of(&doc);
    let res = linux(&spec).resources().as_ref().unwrap();
    let cpu = res.cpu().as_ref().unwrap();
    assert_eq!(cpu.quota(), Some(150_000));
    assert_eq!(cpu.period(), Some(100_000));
    assert_eq!(cpu.shares(), Some(512));
    let memory = res.memory().as_ref().unwrap();
    assert_eq!(memory.limit(), Some(256 << 20));
    assert_eq!(memory.swap(), Some(512 << 20));
    assert_eq!(res.pids().unwrap().limit(), 100);

    assert_eq!(resources::nano_cpus_to_quota(500_000_000), 50_000);
    assert_eq!(
        resources::nano_cpus_to_quota(1),
        1000,
        "kernel minimum quota"
    );
    assert_eq!(resources::nano_cpus_to_quota(i64::MAX), i64::MAX / 10_000);

    let mut doc = sample();
    doc.resources.cpu_quota = Some(20_000);
    doc.resources.cpu_period = Some(50_000);
    doc.resources.pids_limit = Some(0);
    let spec = spec_of(&doc);
    let res = linux(&spec).resources().as_ref().unwrap();
    assert_eq!(res.cpu().as_ref().unwrap().quota(), Some(20_000));
    assert_eq!(res.cpu().as_ref().unwrap().period(), Some(50_000));
    assert_eq!(res.pids().unwrap().limit(), -1, "0 means unlimited");
    assert!(res.memory().is_none(), "unset limits stay absent");
}

#[test]
fn network_namespace_modes() {
    let net = |mode: NetworkNamespace| {
        let mut doc = sample();
        doc.network = mode;
        let spec = spec_of(&doc);
        let ns = linux(&spec).namespaces().clone().unwrap();
        for required in [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ] {
            assert!(ns.iter().any(|n| n.typ() == required));
        }
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
        let net = ns
            .into_iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network);
        (net.map(|n| n.path().clone()), spec)
    };
    assert_eq!(net(NetworkNamespace::New).0, Some(None));
    assert_eq!(net(NetworkNamespace::None).0, Some(None));
    let (joined, _) = net(NetworkNamespace::Path {
        path: "/run/netns/c1".into(),
    });
    assert_eq!(joined, Some(Some("/run/netns/c1".into())));

    let (host, spec) = net(NetworkNamespace::Host);
    assert_eq!(host, None);
    // No sysfs mount without owning the net namespace; the host's /sys is bound read-only.
    let sys = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"))
        .unwrap();
    assert_eq!(sys.typ().as_deref(), Some("bind"));
    assert!(sys.options().as_ref().unwrap().contains(&"ro".to_string()));
    assert!(linux(&spec).sysctl().is_none());

    let (_, spec) = net(NetworkNamespace::New);
    let sysctl = linux(&spec).sysctl().clone().unwrap();
    assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
}

#[test]
fn user_namespace_maps_ids() {
    let mut doc = sample();
    let map = crate::document::IdMap {
        container_id: 0,
        host_id: 100_000,
        size: 65_536,
    };
    doc.user_namespace = Some(crate::document::UserNamespace {
        uid_map: vec![map],
        gid_map: vec![map],
    });
    let spec = spec_of(&doc);
    let linux = linux(&spec);
    assert!(linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User));
    let uid = linux.uid_mappings().clone().unwrap();
    assert_eq!((uid[0].host_id(), uid[0].size()), (100_000, 65_536));
    // The kernel refuses groups the namespace does not map.
    let sysctl = linux.sysctl().clone().unwrap();
    assert_eq!(sysctl["net.ipv4.ping_group_range"], "0 65535");
}

#[test]
fn root_hostname_and_process() {
    let mut doc = sample();
    doc.rootfs.read_only = true;
    doc.process.no_new_privileges = true;
    doc.process.terminal = true;
    doc.process.oom_score_adj = Some(500);
    doc.process.env = vec!["PATH=/custom".into(), "A=1".into(), "A=2".into()];
    let spec = spec_of(&doc);
    let root = spec.root().as_ref().unwrap();
    assert_eq!(root.path(), Path::new(ROOTFS));
    assert_eq!(root.readonly(), Some(true));
    assert_eq!(spec.hostname().as_deref(), Some("3f2a9c0d1e2b"));
    assert_eq!(spec.version(), OCI_VERSION);
    assert_eq!(
        linux(&spec).cgroups_path().as_deref(),
        Some(Path::new("/silo/3f2a9c0d1e2b4a5f"))
    );
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.no_new_privileges(), Some(true));
    assert_eq!(process.oom_score_adj(), Some(500));
    assert_eq!(process.terminal(), Some(true));
    assert_eq!(
        process.env().clone().unwrap(),
        vec!["PATH=/custom", "HOSTNAME=3f2a9c0d1e2b", "TERM=xterm", "A=2"]
    );
    let nofile = process
        .rlimits()
        .iter()
        .flatten()
        .find(|r| r.typ() == PosixRlimitType::RlimitNofile)
        .unwrap();
    assert_eq!((nofile.soft(), nofile.hard()), DEFAULT_NOFILE);
}

#[test]
fn default_env_and_rlimit_override() {
    let mut doc = sample();
    doc.hostname = Some("web".into());
    doc.process.env.clear();
    doc.process.rlimits = vec![crate::document::Rlimit {
        name: "NOFILE".into(),
        soft: 10,
        hard: 20,
    }];
    let spec = spec_of(&doc);
    let process = spec.process().as_ref().unwrap();
    assert_eq!(
        process.env().clone().unwrap(),
        vec![format!("PATH={DEFAULT_PATH}"), "HOSTNAME=web".to_string()]
    );
    let rlimits = process.rlimits().clone().unwrap();
    assert_eq!(rlimits.len(), 1);
    assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (10, 20));
}

#[test]
fn default_mounts_and_overrides() {
    let spec = spec_of(&sample());
    let destinations: Vec<_> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        destinations,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );

    let mut doc = sample();
    doc.mounts = vec![
        Mount {
            source: None,
            destination: "/dev/shm".into(),
            kind: MountKind::Tmpfs,
            read_only: false,
            options: vec!["size=1g".into(), "exec".into()],
        },
        Mount {
            source: Some("/srv/data".into()),
            destination: "/data".into(),
            kind: MountKind::Bind,
            read_only: true,
            options: vec![],
        },
    ];
    let spec = spec_of(&doc);
    let mounts: Vec<_> = spec.mounts().clone().unwrap();
    let shm: Vec<_> = mounts
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1, "the document's /dev/shm replaces the default");
    let options = shm[0].options().clone().unwrap();
    assert!(options.contains(&"size=1g".to_string()));
    assert!(
        !options.contains(&"noexec".to_string()),
        "exec undoes noexec"
    );
    assert!(options.contains(&"nosuid".to_string()));
    let data = mounts.last().unwrap();
    assert_eq!(data.source().as_deref(), Some(Path::new("/srv/data")));
    assert_eq!(
        data.options().clone().unwrap(),
        vec!["rbind", "rprivate", "ro"]
    );
}

#[test]
fn init_wraps_the_entrypoint() {
    let mut doc = sample();
    doc.init = true;
    assert!(matches!(
        oci_spec(&doc, Path::new(ROOTFS), None),
        Err(SpecError::InitUnavailable)
    ));
    let spec = oci_spec(
        &doc,
        Path::new(ROOTFS),
        Some(Path::new("/usr/libexec/silo-init")),
    )
    .unwrap();
    let args = spec.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(args, vec![INIT_PATH, "--", "sh", "-c", "echo hi"]);
    let init = spec.mounts().clone().unwrap().pop().unwrap();
    assert_eq!(init.destination(), Path::new(INIT_PATH));
    assert_eq!(
        init.source().as_deref(),
        Some(Path::new("/usr/libexec/silo-init"))
    );
    // Read-only: a container must not be able to replace the init that other containers run.
    let options = init.options().clone().unwrap();
    assert!(options.iter().any(|o| o == "ro"), "{options:?}");

    // Without init the path is ignored: the command is PID 1, nothing is mounted.
    doc.init = false;
    let spec = oci_spec(
        &doc,
        Path::new(ROOTFS),
        Some(Path::new("/usr/libexec/silo-init")),
    )
    .unwrap();
    let args = spec.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(args, vec!["sh", "-c", "echo hi"]);
    assert!(!spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new(INIT_PATH)));
}

#[test]
fn invalid_documents_are_refused() {
    let mut doc = sample();
    doc.process.args.clear();
    let err = oci_spec(&doc, Path::new(ROOTFS), None).unwrap_err();
    assert!(matches!(err, SpecError::Document(DocumentError::EmptyArgs)));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn config_json_round_trips() {
    let mut doc = sample();
    doc.resources.nano_cpus = Some(1_500_000_000);
    doc.resources.memory_bytes = Some(64 << 20);
    doc.process.console_size = Some(crate::document::ConsoleSize {
        width: 80,
        height: 24,
    });
    let spec = spec_of(&doc);
    let json = serde_json::to_string(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, &json).unwrap();
    let loaded = Spec::load(&path).unwrap();
    assert_eq!(loaded, spec);
    // Field names are the runtime-spec's, not Rust's.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["ociVersion"], OCI_VERSION);
    assert_eq!(value["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(value["linux"]["resources"]["cpu"]["quota"], 150_000);
    assert_eq!(value["process"]["consoleSize"]["width"], 80);
}

#[test]
fn seccomp_allows_common_and_denies_dangerous() {
    let profile = seccomp(&spec_of(&sample())).clone();
    assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(profile.default_errno_ret(), Some(seccomp::EPERM));
    for name in [
        "read",
        "write",
        "openat",
        "execve",
        "mmap",
        "brk",
        "futex",
        "exit_group",
        "wait4",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "getdents64",
        "newfstatat",
        "statx",
        "close",
        "ioctl",
        "chroot",
        "setuid",
    ] {
        assert_eq!(
            unconditional_action(&profile, name),
            LinuxSeccompAction::ScmpActAllow,
            "{name}"
        );
    }
    for name in [
        "kexec_load",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "init_module",
        "reboot",
        "bpf",
        "keyctl",
        "add_key",
        "swapon",
        "pivot_root",
        "open_by_handle_at",
        "settimeofday",
    ] {
        assert!(
            rules_for(&profile, name).is_empty(),
            "{name} must not be allowed"
        );
    }
}

#[test]
fn seccomp_clone_rules() {
    let profile = seccomp(&spec_of(&sample())).clone();
    let clone = rules_for(&profile, "clone");
    assert_eq!(clone.len(), 2, "one entry per mask orientation");
    let masks: Vec<(u64, Option<u64>)> = clone
        .iter()
        .map(|r| {
            let arg = r.args().as_ref().unwrap()[0];
            assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
            assert_eq!(arg.index(), 0);
            (arg.value(), arg.value_two())
        })
        .collect();
    assert!(masks.contains(&(seccomp::CLONE_NAMESPACE_FLAGS, Some(0))));
    assert!(masks.contains(&(0, Some(seccomp::CLONE_NAMESPACE_FLAGS))));

    let clone3 = rules_for(&profile, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(seccomp::ENOSYS));

    assert_eq!(rules_for(&profile, "personality").len(), 5);
    let socket = rules_for(&profile, "socket");
    assert_eq!(
        socket[0].args().as_ref().unwrap()[0].op(),
        LinuxSeccompOperator::ScmpCmpNe
    );
}

#[test]
fn seccomp_follows_capabilities() {
    let mut doc = sample();
    doc.process.capabilities.add = vec!["SYS_ADMIN".into(), "SYS_TIME".into()];
    doc.process.capabilities.drop = vec!["SYS_CHROOT".into()];
    let profile = seccomp(&spec_of(&doc)).clone();
    for name in [
        "mount",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "settimeofday",
    ] {
        assert_eq!(
            unconditional_action(&profile, name),
            LinuxSeccompAction::ScmpActAllow,
            "{name}"
        );
    }
    // With CAP_SYS_ADMIN the restricted clone/clone3 rules are gone, not merely shadowed.
    assert!(rules_for(&profile, "clone")
        .iter()
        .all(|r| r.args().is_none()));
    assert!(rules_for(&profile, "clone3")
        .iter()
        .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
    assert!(
        rules_for(&profile, "chroot").is_empty(),
        "chroot follows CAP_SYS_CHROOT"
    );

    let mut doc = sample();
    doc.security.seccomp = crate::document::SeccompProfile::Unconfined;
    assert!(linux(&spec_of(&doc)).seccomp().is_none());
}

#[test]
fn seccomp_architectures() {
    let x86 = default_seccomp(&caps::DEFAULT_CAPABILITIES, "x86_64").unwrap();
    assert_eq!(
        x86.architectures().clone().unwrap(),
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    );
    assert_eq!(
        unconditional_action(&x86, "arch_prctl"),
        LinuxSeccompAction::ScmpActAllow
    );
    assert!(rules_for(&x86, "set_tls").is_empty());

    let arm = default_seccomp(&caps::DEFAULT_CAPABILITIES, "aarch64").unwrap();
    assert_eq!(
        arm.architectures().clone().unwrap(),
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    );
    assert!(rules_for(&arm, "arch_prctl").is_empty());
    assert_eq!(
        unconditional_action(&arm, "set_tls"),
        LinuxSeccompAction::ScmpActAllow
    );
}

#[test]
fn seccomp_names_are_unique_per_rule_set() {
    // A name listed twice with one action would be harmless, but it signals a slip in the data.
    let profile = default_seccomp(&caps::DEFAULT_CAPABILITIES, "x86_64").unwrap();
    let mut seen = std::collections::HashSet::new();
    for rule in profile
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.args().is_none())
    {
        for name in rule.names() {
            assert!(seen.insert(name.clone()), "{name} listed twice");
        }
    }
}

fn write_rootfs(passwd: &str, group: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
    std::fs::write(dir.path().join("etc/group"), group).unwrap();
    dir
}

fn named(user: &str, group: Option<&str>, extra: &[&str]) -> User {
    User::Named {
        user: user.into(),
        group: group.map(str::to_string),
        additional_groups: extra.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn users_resolve_against_the_image() {
    let rootfs = write_rootfs(
        "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\nwww:x:33:33::/var/www:/bin/false\n",
        "root:x:0:\nwww:x:33:\naudio:x:29:www,other\nstaff:x:50:\n",
    );
    let root = rootfs.path();
    let www = resolve_user(root, &named("www", None, &[])).unwrap();
    assert_eq!((www.uid, www.gid, www.additional_gids), (33, 33, vec![29]));
    let by_uid = resolve_user(root, &named("33", Some("staff"), &["audio", "1234"])).unwrap();
    assert_eq!(
        (by_uid.uid, by_uid.gid, by_uid.additional_gids),
        (33, 50, vec![29, 1234])
    );
    let unknown_uid = resolve_user(root, &named("1000", None, &[])).unwrap();
    assert_eq!((unknown_uid.uid, unknown_uid.gid), (1000, 0));
    assert!(matches!(
        resolve_user(root, &named("nobody", None, &[])),
        Err(SpecError::UnknownUser { .. })
    ));
    assert!(matches!(
        resolve_user(root, &named("www", Some("wheel"), &[])),
        Err(SpecError::UnknownGroup { .. })
    ));

    let mut doc = sample();
    doc.process.user = named("www", None, &[]);
    let spec = oci_spec(&doc, root, None).unwrap();
    let user = spec.process().as_ref().unwrap().user().clone();
    assert_eq!((user.uid(), user.gid()), (33, 33));
    assert_eq!(user.additional_gids().clone(), Some(vec![29]));
}

#[test]
fn numeric_users_need_no_passwd_file() {
    let empty = tempfile::tempdir().unwrap();
    let user = resolve_user(empty.path(), &named("1000", Some("1000"), &[])).unwrap();
    assert_eq!((user.uid, user.gid), (1000, 1000));
    assert!(resolve_user(empty.path(), &named("www", None, &[])).is_err());
}

#[test]
fn passwd_symlinks_stay_inside_the_rootfs() {
    // The image's /etc/passwd points at an absolute path; it must resolve in the rootfs,
    // where a harmless passwd lives, never on the host.
    let rootfs = tempfile::tempdir().unwrap();
    let root = rootfs.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("decoy")).unwrap();
    std::fs::write(root.join("decoy/passwd"), "inside:x:4242:4242::/:/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("/decoy/passwd", root.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink("../../../../decoy", root.join("etc/up")).unwrap();
    let user = resolve_user(root, &named("inside", None, &[])).unwrap();
    assert_eq!(user.uid, 4242);
    assert_eq!(
        secure_join(root, Path::new("/etc/passwd")).unwrap(),
        root.join("decoy/passwd")
    );
    assert_eq!(
        secure_join(root, Path::new("../../etc/shadow")).unwrap(),
        root.join("etc/shadow")
    );
    assert_eq!(
        secure_join(root, Path::new("/etc/up/passwd")).unwrap(),
        root.join("decoy/passwd"),
        "relative links cannot climb above the root"
    );

    std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
    let err = secure_join(root, Path::new("/loop")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
}

#[test]
fn rlimit_names() {
    assert_eq!(rlimit_type("nofile"), Some(PosixRlimitType::RlimitNofile));
    assert_eq!(
        rlimit_type("RLIMIT_NPROC"),
        Some(PosixRlimitType::RlimitNproc)
    );
    assert_eq!(rlimit_type("files"), None);
}

/// youki reads any `noNewPrivileges` value as "set" and then loads seccomp after dropping
/// CAP_SYS_ADMIN, which fails; unset must be absent, not `false`.
#[test]
fn no_new_privileges_is_absent_unless_asked() {
    let spec = spec_of(&sample());
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.no_new_privileges(), None);
}
