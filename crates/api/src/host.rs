//! Facts about the host for `/version` and `/info`, read from procfs and `/etc`.
//!
//! Parsing is separate from reading so the rules (hybrid cgroup layout counts as v1, Go's
//! architecture names) are unit-tested without depending on the machine.

use std::fs;

/// Kernel release, as `uname -r`.
pub fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

/// Host name, as `uname -n`.
pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
}

/// `PRETTY_NAME` of `/etc/os-release` (falling back to `/usr/lib/os-release`).
pub fn operating_system() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .and_then(|text| pretty_name(&text))
        .unwrap_or_else(|| "Linux".to_string())
}

/// Total memory in bytes from `/proc/meminfo`.
pub fn mem_total() -> i64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_total(&text))
        .unwrap_or(0)
}

/// Online CPUs.
pub fn ncpu() -> i64 {
    std::thread::available_parallelism()
        .map(|n| i64::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
}

/// "1" or "2": what is mounted at `/sys/fs/cgroup`. A hybrid layout (v1 controllers with cgroup2
/// at `/sys/fs/cgroup/unified`) is "1", as Docker reports it.
pub fn cgroup_version() -> &'static str {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|text| cgroup_version_from_mountinfo(&text))
        .unwrap_or("1")
}

/// Machine architecture as `uname -m` reports it (`/info` Architecture).
pub fn machine() -> &'static str {
    std::env::consts::ARCH
}

/// Architecture in Go's `GOARCH` spelling (`/version` Arch, platform strings).
pub fn go_arch() -> &'static str {
    go_arch_of(std::env::consts::ARCH)
}

/// A stable id for this host (`/info` ID): the machine id shaped as a UUID, else the host name.
pub fn host_id() -> String {
    let machine_id = read_trimmed("/etc/machine-id");
    if machine_id.len() == 32 && machine_id.chars().all(|c| c.is_ascii_hexdigit()) {
        let m = machine_id.as_str();
        format!(
            "{}-{}-{}-{}-{}",
            &m[..8],
            &m[8..12],
            &m[12..16],
            &m[16..20],
            &m[20..]
        )
    } else {
        hostname()
    }
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(
            value
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_string(),
        )
    })
}

fn parse_mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn cgroup_version_from_mountinfo(mountinfo: &str) -> &'static str {
    // Fields: id parent major:minor root mountpoint options [optional...] - fstype source super
    for line in mountinfo.lines() {
        let mut fields = line.split_whitespace();
        if fields.nth(4) != Some("/sys/fs/cgroup") {
            continue;
        }
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|tail| tail.split_whitespace().next());
        if fstype == Some("cgroup2") {
            return "2";
        }
    }
    "1"
}

fn go_arch_of(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_layouts() {
        let unified = "30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_version_from_mountinfo(unified), "2");
        let hybrid = "\
25 1 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
";
        assert_eq!(cgroup_version_from_mountinfo(hybrid), "1");
        assert_eq!(cgroup_version_from_mountinfo(""), "1");
    }

    #[test]
    fn os_release_and_meminfo() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_mem_total("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
    }

    #[test]
    fn go_arch_names() {
        assert_eq!(go_arch_of("x86_64"), "amd64");
        assert_eq!(go_arch_of("aarch64"), "arm64");
        assert_eq!(go_arch_of("s390x"), "s390x");
    }
}
