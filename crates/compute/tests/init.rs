//! `init: true` on the process backend: the static `silo-init` is bind-mounted at
//! `/sbin/silo-init` and runs as PID 1, so a stop of a program with no SIGTERM handler (`sleep`)
//! is graceful and prompt; without it the kernel drops PID 1's SIGTERM and only the kill after
//! the timeout ends it.
//!
//! Needs root, Debian's busybox-static, `target/debug/silo-shim` (`cargo build -p silo-shim`,
//! or `SILO_SHIM`) and `target/init/release/silo-init` (`scripts/build-init.sh`, or
//! `SILO_INIT`); skipped without root or busybox.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use silo_compute::host::CgroupInfo;
use silo_compute::process::{rootfs, ProcessComputeService};
use silo_compute::{ComputeService, ComputeSystem, ExitType, PropertyQuery, Stdio};
use silo_shim::logs::read_logs;
use silo_shim::ShimClient;

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0 && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipped: needs root and /bin/busybox (busybox-static)");
    }
    ok
}

fn built(var: &str, default: &str, how: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default));
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

fn shim_binary() -> PathBuf {
    built(
        "SILO_SHIM",
        "../../target/debug/silo-shim",
        "build it with `cargo build -p silo-shim`",
    )
}

fn init_binary() -> PathBuf {
    built(
        "SILO_INIT",
        "../../target/init/release/silo-init",
        "build it with scripts/build-init.sh",
    )
}

/// A temp root with the busybox layer unpacked and a service whose init is the real one.
struct Fixture {
    dir: tempfile::TempDir,
    service: ProcessComputeService,
}

impl Fixture {
    fn new() -> Self {
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
        let cgroups = CgroupInfo::detect().unwrap();
        let service = ProcessComputeService::new(
            dir.path().join("st"),
            shim_binary(),
            init_binary(),
            cgroups,
        )
        .unwrap();
        Fixture { dir, service }
    }

    async fn create(
        &self,
        name: &str,
        init: bool,
        args: &[&str],
    ) -> (Arc<dyn ComputeSystem>, Cleanup) {
        let id = format!("in-{name}-{}", std::process::id());
        let sandbox = self.dir.path().join(format!("sb-{id}"));
        let doc = serde_json::from_value(json!({
            "owner": "test",
            "id": id,
            "rootfs": {"layers": [self.dir.path().join("layer")], "sandbox": sandbox},
            "process": {"args": args, "env": ["PATH=/bin"]},
            "network": {"mode": "none"},
            "init": init,
        }))
        .unwrap();
        let cleanup = Cleanup {
            id: id.clone(),
            state: self.service.state_dir(&id),
            sandbox,
        };
        let system = self.service.create(doc, Stdio::default()).await.unwrap();
        (system, cleanup)
    }
}

/// Kills and removes whatever a test left behind, even when it failed half-way.
struct Cleanup {
    id: String,
    state: PathBuf,
    sandbox: PathBuf,
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

/// Waits until `sleep 1000` runs in the system, so the stop is not sent before it exists.
async fn wait_for_sleep(system: &dyn ComputeSystem) {
    let query = PropertyQuery {
        process_list: true,
        statistics: false,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let props = system.properties(query).await.unwrap();
        let listed = props.process_list.as_ref();
        if listed.is_some_and(|l| l.iter().any(|p| p.command == "sleep 1000")) {
            return;
        }
        assert!(Instant::now() < deadline, "no sleep in {props:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_init_pid_1_is_silo_init() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("pid1", true, &["cat", "/proc/1/cmdline"]).await;
    system.start().await.unwrap();
    let status = system.wait().await.unwrap();
    assert_eq!((status.code, status.exit_type), (0, ExitType::GracefulExit));
    let text: String = read_logs(&c.state, None, None, None)
        .unwrap()
        .into_iter()
        .map(|l| l.log)
        .collect();
    assert_eq!(
        text.replace('\0', " ").trim_end(),
        "/sbin/silo-init -- cat /proc/1/cmdline"
    );
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_init_sigterm_stops_sleep_gracefully_at_once() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, _c) = fx.create("term", true, &["sleep", "1000"]).await;
    system.start().await.unwrap();
    wait_for_sleep(system.as_ref()).await;
    let begin = Instant::now();
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
    let took = begin.elapsed();
    eprintln!("shutdown took {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(status.exit_type, ExitType::GracefulExit, "{status:?}");
    // sleep died of SIGTERM; the init exits with 128 + 15, as Docker's docker-init does.
    assert_eq!((status.code, status.signal), (143, None));
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_init_sigterm_is_dropped_and_the_timeout_kills() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, _c) = fx.create("noinit", false, &["sleep", "1000"]).await;
    system.start().await.unwrap();
    wait_for_sleep(system.as_ref()).await;
    let begin = Instant::now();
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(1))
        .await
        .unwrap();
    let took = begin.elapsed();
    eprintln!("shutdown took {took:?}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert_eq!(status.exit_type, ExitType::ForcedExit, "{status:?}");
    assert_eq!(status.signal, Some(libc::SIGKILL));
    system.delete().await.unwrap();
}
