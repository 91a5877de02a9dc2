//! Helpers shared by the host_* integration tests: skipping when the host cannot run them,
//! names unique across parallel test processes, and a guard that removes everything a test
//! made even when it panics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use silo_network::host::netns;

/// True (after saying why) when the test cannot run here: it needs root, the CNI plugins,
/// and iproute2/nftables/util-linux/busybox.
pub fn skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return true;
    }
    for tool in [
        "/usr/lib/cni/bridge",
        "/usr/bin/nsenter",
        "/usr/bin/busybox",
    ] {
        if !Path::new(tool).exists() {
            eprintln!("skipping: {tool} is missing");
            return true;
        }
    }
    false
}

/// A name no other test (thread or process) uses at the same time: prefix + pid + counter in
/// hex, at most 15 bytes for a 3-byte prefix.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{:x}x{n:x}", std::process::id());
    assert!(name.len() <= 15, "{name} is too long for a link name");
    name
}

/// Everything a test made, removed on drop (links, namespaces, nft tables, directories).
#[derive(Default)]
pub struct Cleanup {
    pub links: Vec<String>,
    pub netns: Vec<PathBuf>,
    pub tables: Vec<String>,
    pub dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// A fresh directory for this test's namespace files.
    pub fn dir(&mut self) -> PathBuf {
        let dir = PathBuf::from("/run/silo-host-tests").join(unique("d"));
        std::fs::create_dir_all(&dir).unwrap();
        self.dirs.push(dir.clone());
        dir
    }

    /// A namespace at `dir/name`, removed by the guard.
    pub fn netns(&mut self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        netns::create(&path).unwrap();
        self.netns.push(path.clone());
        path
    }

    pub fn link(&mut self, name: &str) -> String {
        self.links.push(name.to_string());
        name.to_string()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for table in &self.tables {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", table])
                .stderr(std::process::Stdio::null())
                .status();
        }
        for ns in &self.netns {
            let _ = netns::remove(ns);
        }
        for link in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", "dev", link])
                .stderr(std::process::Stdio::null())
                .status();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
            if let Some(parent) = dir.parent() {
                // Only succeeds once the last test is done with it.
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// Runs a command inside the namespace at `ns` (nsenter from util-linux).
pub fn nsexec(ns: &Path, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(args)
        .output()
        .unwrap()
}

/// Whether one ping from inside `ns` to `ip` is answered within two seconds.
pub fn ping(ns: &Path, ip: &str) -> bool {
    nsexec(ns, &["busybox", "ping", "-c1", "-W2", ip])
        .status
        .success()
}

/// Runs a host command and panics with its stderr if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of the links inside the namespace at `ns`.
pub fn links_in(ns: &Path) -> Vec<String> {
    let out = nsexec(ns, &["ip", "-json", "link", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

/// The first three octets of an IPv4 /24 for one test: the second octet tells the tests
/// apart (`test_id` < 50), the third the processes running them. Host routes of different
/// tests therefore never overlap.
pub fn subnet24(test_id: u8) -> String {
    assert!(test_id < 50);
    format!("10.{}.{}", 200 + test_id, std::process::id() % 250)
}
