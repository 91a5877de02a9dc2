//! Shared fixtures for the tests that drive the real `silo-shim run` on a busybox bundle.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use silo_shim::logs::{read_logs, Stream};
use silo_shim::sys;
use silo_shim::ShimClient;

pub const SHIM: &str = env!("CARGO_BIN_EXE_silo-shim");
pub const HOSTNAME: &str = "silobox";

pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipped: needs root and /bin/busybox (busybox-static)");
    }
    ok
}

/// A bundle, a state dir and a running shim; everything is torn down on drop, even when the
/// test failed half-way.
pub struct Container {
    pub id: String,
    pub cgroup: String,
    pub dir: tempfile::TempDir,
    pub shim_pid: Option<i32>,
}

impl Container {
    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn socket(&self) -> PathBuf {
        self.state().join("shim.sock")
    }

    /// Writes the bundle for `args` and runs `silo-shim run` with `extra` flags.
    pub fn run(name: &str, args: &[&str], extra: &[&str]) -> Self {
        let id = format!("silo-test-{name}-{}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let mut c = Container {
            cgroup: format!("/{id}"),
            id,
            dir,
            shim_pid: None,
        };
        write_bundle(&c.bundle(), args, &c.cgroup, extra.contains(&"--tty"));
        let out = Command::new(SHIM)
            .args(["run", "--id", &c.id, "--bundle"])
            .arg(c.bundle())
            .arg("--state")
            .arg(c.state())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shim run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let msg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        c.shim_pid = Some(msg["pid"].as_i64().unwrap() as i32);
        assert_eq!(msg["socket"], json!(c.socket()));
        c
    }

    pub fn client(&self) -> ShimClient {
        ShimClient::connect(&self.socket()).unwrap()
    }

    pub fn logs(&self) -> Vec<(Stream, String)> {
        read_logs(&self.state(), None, None, None)
            .unwrap()
            .into_iter()
            .map(|l| (l.stream, l.log))
            .collect()
    }

    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.logs().iter().any(|(_, l)| l == text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {:?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn shutdown(&mut self, client: &mut ShimClient) {
        client.shutdown().unwrap();
        let pid = self.shim_pid.take().unwrap();
        wait_until(|| !sys::alive(pid), "shim exits after Shutdown");
        assert!(!self.socket().exists(), "socket removed on shutdown");
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(pid) = self.shim_pid.take() {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        // Kills whatever is left in the container and removes its cgroups and runtime state.
        let _ = Command::new(SHIM)
            .args(["cleanup", "--id", &self.id, "--bundle"])
            .arg(self.bundle())
            .arg("--state")
            .arg(self.state())
            .output();
        for hierarchy in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(hierarchy.path().join(self.cgroup.trim_start_matches('/')));
        }
        let _ = fs::remove_dir(format!("/sys/fs/cgroup/unified{}", self.cgroup));
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.bundle().join("rootfs"))
            .output();
    }
}

pub fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A busybox rootfs (static busybox and its applet links).
/// With `terminal`, the process gets a pty of 100x30 (the shim must run with `--tty`).
pub fn write_bundle(bundle: &Path, args: &[&str], cgroup: &str, terminal: bool) {
    let rootfs = bundle.join("rootfs");
    for d in ["bin", "proc", "dev", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for cmd in [
        "sh", "echo", "sleep", "cat", "ps", "hostname", "tty", "stty", "touch", "ls", "true",
        "yes", "head",
    ] {
        symlink("busybox", rootfs.join("bin").join(cmd)).unwrap();
    }
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "consoleSize": {"width": 100, "height": 30},
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/"
        },
        "root": {"path": "rootfs"},
        "hostname": HOSTNAME,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        ],
        "linux": {
            "cgroupsPath": cgroup,
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]
        }
    });
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
}
