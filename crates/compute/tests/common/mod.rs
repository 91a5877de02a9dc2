//! What the process-backend tests share: a busybox layer in a temp root, a service on it, and
//! a cleanup that removes whatever a test left behind even when it failed half-way.

// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use silo_compute::host::CgroupInfo;
use silo_compute::process::{rootfs, ProcessComputeService};
use silo_compute::{ComputeService, ComputeSystem, ComputeSystemDocument, Stdio};
use silo_shim::logs::read_logs;
use silo_shim::ShimClient;

pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0 && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipped: needs root and /bin/busybox (busybox-static)");
    }
    ok
}

pub fn shim_binary() -> PathBuf {
    let path = std::env::var_os("SILO_SHIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/silo-shim")
        });
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p silo-shim`",
        path.display()
    );
    path
}

/// The static init (built by `scripts/build-init.sh`), or `SILO_INIT`; only tests/init.rs
/// needs it to exist.
pub fn init_binary() -> PathBuf {
    std::env::var_os("SILO_INIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/init/release/silo-init")
        })
}

/// A temp root with the busybox layer unpacked, a state root and a service on them.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub service: ProcessComputeService,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("busybox.tar");
        silo_testkit::fixtures::write_busybox_rootfs(&tar).unwrap();
        let layer = dir.path().join("layer");
        fs::create_dir(&layer).unwrap();
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&layer)
            .status()
            .unwrap();
        assert!(status.success());
        let service = Fixture::service(dir.path());
        Fixture { dir, service }
    }

    pub fn service(root: &Path) -> ProcessComputeService {
        let cgroups = CgroupInfo::detect().unwrap();
        ProcessComputeService::new(root.join("st"), shim_binary(), init_binary(), cgroups).unwrap()
    }

    pub fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    pub fn sandbox(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("sb-{id}"))
    }

    pub fn document(&self, name: &str, args: &[&str]) -> (ComputeSystemDocument, Cleanup) {
        let id = format!("pb-{name}-{}", std::process::id());
        let doc = serde_json::from_value(json!({
            "owner": "test",
            "id": id,
            "rootfs": {"layers": [self.layer()], "sandbox": self.sandbox(&id)},
            "process": {"args": args, "env": ["PATH=/bin"]},
            "network": {"mode": "none"},
        }))
        .unwrap();
        let cleanup = Cleanup {
            id: id.clone(),
            state: self.service.state_dir(&id),
            sandbox: self.sandbox(&id),
        };
        (doc, cleanup)
    }

    pub async fn create(&self, name: &str, args: &[&str]) -> (Arc<dyn ComputeSystem>, Cleanup) {
        let (doc, cleanup) = self.document(name, args);
        let system = self.service.create(doc, Stdio::default()).await.unwrap();
        (system, cleanup)
    }
}

/// Kills and removes whatever a test left behind, even when it failed half-way.
pub struct Cleanup {
    pub id: String,
    pub state: PathBuf,
    pub sandbox: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut client) = ShimClient::connect(&self.state.join("shim.sock")) {
            let _ = client.kill(libc::SIGKILL, true);
            let _ = client.wait();
            let _ = client.shutdown();
        }
        if self.state.exists() {
            let _ = Command::new(shim_binary())
                .args(["cleanup", "--id", &self.id, "--bundle"])
                .arg(&self.state)
                .arg("--state")
                .arg(&self.state)
                .output();
        }
        let _ = rootfs::remove_sandbox(&self.sandbox);
        for hierarchy in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(hierarchy.path().join("silo").join(&self.id));
        }
        let _ = fs::remove_dir_all(&self.state);
    }
}

pub fn log_text(state: &Path) -> String {
    read_logs(state, None, None, None)
        .unwrap()
        .into_iter()
        .map(|l| l.log)
        .collect()
}
