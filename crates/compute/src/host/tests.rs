use super::*;

/// This project's machines: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";

const UNIFIED: &str = "\
25 20 0:23 / /sys rw,nosuid - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

const LEGACY: &str = "\
31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
";

#[test]
fn hybrid_layout() {
    let info = CgroupInfo::from_mountinfo(HYBRID).unwrap();
    assert_eq!(info.setup, CgroupSetup::Hybrid);
    assert_eq!(
        info.v2_root.as_deref(),
        Some(Path::new("/sys/fs/cgroup/unified"))
    );
    let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct");
    assert_eq!(info.v1_controllers["cpu"], cpu);
    assert_eq!(info.v1_controllers["cpuacct"], cpu);
    assert_eq!(
        info.v1_controllers["name=systemd"],
        Path::new("/sys/fs/cgroup/systemd")
    );
    assert!(!info.v1_controllers.contains_key("rw"));
    assert!(!info.v1_controllers.contains_key("xattr"));
    assert!(!info
        .v1_controllers
        .keys()
        .any(|k| k.starts_with("release_agent")));
    assert_eq!(info.v1_controllers.len(), 5);
}

#[test]
fn unified_and_legacy_layouts() {
    let unified = CgroupInfo::from_mountinfo(UNIFIED).unwrap();
    assert_eq!(unified.setup, CgroupSetup::Unified);
    assert_eq!(unified.v2_root.as_deref(), Some(Path::new(CGROUP_ROOT)));
    assert!(unified.v1_controllers.is_empty());

    let legacy = CgroupInfo::from_mountinfo(LEGACY).unwrap();
    assert_eq!(legacy.setup, CgroupSetup::Legacy);
    assert_eq!(legacy.v2_root, None);
    assert_eq!(legacy.v1_controllers.len(), 2);
}

#[test]
fn no_cgroups_is_an_error() {
    let err = CgroupInfo::from_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n").unwrap_err();
    assert!(matches!(err, HostError::NoCgroups));
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[test]
fn escaped_mount_points() {
    let text = "41 31 0:38 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
    let info = CgroupInfo::from_mountinfo(text).unwrap();
    assert_eq!(info.v2_root.as_deref(), Some(Path::new("/mnt/my cgroup")));
    assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
}

/// Whatever this host is, the detected layout must agree with the files the kernel shows.
#[test]
fn real_host_is_consistent() {
    let info = CgroupInfo::detect().unwrap();
    let root_is_v2 = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
    if let Some(v2) = &info.v2_root {
        assert!(
            v2.join("cgroup.controllers").exists(),
            "{v2:?} is not cgroup2"
        );
    }
    for (controller, path) in &info.v1_controllers {
        assert!(
            path.join("cgroup.procs").exists(),
            "{controller} at {path:?}"
        );
    }
    match info.setup {
        CgroupSetup::Unified => assert!(info.v2_root.is_some() && info.v1_controllers.is_empty()),
        CgroupSetup::Hybrid => {
            assert!(!root_is_v2, "hybrid detected but {CGROUP_ROOT} is cgroup2");
            assert!(info.v2_root.is_some() && !info.v1_controllers.is_empty());
        }
        CgroupSetup::Legacy => assert!(!root_is_v2 && info.v2_root.is_none()),
    }
    eprintln!("detected {:?}", info.setup);
}
