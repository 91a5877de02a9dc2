//! The process backend on the real kernel: overlay sandbox, the real `silo-shim`, youki's
//! libcontainer, cgroups. Needs root and Debian's busybox-static; skipped otherwise.
//!
//! The shim binary is taken from `<workspace>/target/debug/silo-shim` (or `SILO_SHIM`); build it
//! first with `cargo build -p silo-shim` (CI's test.sh builds the workspace before testing).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use silo_compute::host::CgroupInfo;
use silo_compute::process::{rootfs, ProcessComputeService};
use silo_compute::{
    ComputeService, ComputeSystem, ComputeSystemDocument, Event, ExitType, PropertyQuery, State,
    Stdio,
};
use silo_errdefs::{ErrorKind, HasKind};
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

fn shim_binary() -> PathBuf {
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

/// A temp root with the busybox layer unpacked, a state root and a service on them.
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
        let service = Fixture::service(dir.path());
        Fixture { dir, service }
    }

    fn service(root: &Path) -> ProcessComputeService {
        let cgroups = CgroupInfo::detect().unwrap();
        ProcessComputeService::new(root.join("st"), shim_binary(), cgroups).unwrap()
    }

    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    fn sandbox(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("sb-{id}"))
    }

    fn document(&self, name: &str, args: &[&str]) -> (ComputeSystemDocument, Cleanup) {
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

    async fn create(&self, name: &str, args: &[&str]) -> (Arc<dyn ComputeSystem>, Cleanup) {
        let (doc, cleanup) = self.document(name, args);
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

fn log_text(state: &Path) -> String {
    read_logs(state, None, None, None)
        .unwrap()
        .into_iter()
        .map(|l| l.log)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_log_events_and_delete() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let mut events = fx.service.subscribe();
    let (system, c) = fx.create("exit", &["sh", "-c", "echo hi; exit 3"]).await;
    assert!(rootfs::is_mounted(&c.sandbox.join("rootfs")).unwrap());
    assert_eq!(
        system
            .properties(PropertyQuery::default())
            .await
            .unwrap()
            .state,
        State::Created
    );
    system.start().await.unwrap();
    let status = system.wait().await.unwrap();
    assert_eq!(status.code, 3);
    assert_eq!(status.exit_type, ExitType::GracefulExit);
    assert_eq!(log_text(&c.state), "hi\n");

    let err = system.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Stopped);
    assert_eq!(props.exit_status, Some(status));
    assert!(props.started_at.is_some());

    system.delete().await.unwrap();
    assert!(!c.state.exists(), "state dir removed");
    assert!(!c.sandbox.exists(), "sandbox unmounted and removed");
    let err = system
        .properties(PropertyQuery::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e.event);
    }
    assert!(matches!(seen.first(), Some(Event::Created)), "{seen:?}");
    assert!(
        matches!(seen.get(1), Some(Event::Started { pid }) if *pid > 0),
        "{seen:?}"
    );
    assert!(matches!(seen.get(2), Some(Event::Exited { status }) if status.code == 3));
    assert!(matches!(seen.last(), Some(Event::Deleted)), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_land_in_the_sandbox_not_the_layer() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx
        .create("write", &["sh", "-c", "echo data > /newfile; rm /bin/ls"])
        .await;
    system.start().await.unwrap();
    assert_eq!(system.wait().await.unwrap().code, 0);
    let upper = c.sandbox.join("upper");
    assert_eq!(fs::read_to_string(upper.join("newfile")).unwrap(), "data\n");
    assert!(!fx.layer().join("newfile").exists());
    assert!(
        fx.layer().join("bin/ls").exists(),
        "the layer keeps its files"
    );
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_kills_after_the_timeout_and_properties_see_processes() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "trap '' TERM; sleep 1000 & wait";
    let (system, _c) = fx.create("stop", &["sh", "-c", script]).await;
    system.start().await.unwrap();

    let query = PropertyQuery {
        process_list: true,
        statistics: true,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let props = loop {
        let props = system.properties(query).await.unwrap();
        let listed = props.process_list.as_ref();
        if listed.is_some_and(|l| l.iter().any(|p| p.command == "sleep 1000")) {
            break props;
        }
        assert!(Instant::now() < deadline, "no sleep in {props:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(props.state, State::Running);
    let list = props.process_list.unwrap();
    assert!(list.iter().any(|p| Some(p.pid) == props.pid), "{list:?}");
    let stats = props.statistics.unwrap();
    assert!(stats.memory.usage > 0, "{stats:?}");
    let err = system.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");

    let begin = Instant::now();
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(1))
        .await
        .unwrap();
    let took = begin.elapsed();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    assert_eq!(status.signal, Some(libc::SIGKILL));
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let err = system.shutdown(libc::SIGTERM, Duration::from_secs(1)).await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::FailedPrecondition);
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_is_graceful_when_the_signal_suffices() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "trap 'exit 0' TERM; while :; do sleep 0.05; done";
    let (system, _c) = fx.create("graceful", &["sh", "-c", script]).await;
    system.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status.exit_type, ExitType::GracefulExit);
    assert_eq!(status.code, 0);
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn open_reconnects_after_the_service_is_dropped() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("reopen", &["sleep", "1000"]).await;
    system.start().await.unwrap();
    drop(system);

    let service = Fixture::service(fx.dir.path());
    let system = service.open(&c.id).await.unwrap();
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Running);
    assert_eq!(props.owner, "test");
    let list = service.list().await.unwrap();
    assert!(
        list.iter()
            .any(|s| s.id == c.id && s.state == State::Running),
        "{list:?}"
    );
    let err = system.pause().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(err.to_string().contains("pause"), "{err}");

    let status = system.terminate().await.unwrap();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    assert_eq!(status.code, 137);
    system.delete().await.unwrap();
    let err = service.open(&c.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_duplicates_and_unsupported_documents() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("dup", &["true"]).await;
    let (doc, _same) = fx.document("dup", &["true"]);
    let err = fx.service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");

    let (mut doc, cleanup) = fx.document("init", &["true"]);
    doc.init = true;
    let err = fx.service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(err.to_string().contains("init"), "{err}");
    assert!(!cleanup.state.exists() && !cleanup.sandbox.exists());

    let (mut doc, cleanup) = fx.document("nolayer", &["true"]);
    doc.rootfs.layers = vec![fx.dir.path().join("missing")];
    let err = fx.service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!cleanup.state.exists() && !cleanup.sandbox.exists());

    // Deleting a Created system ends its waiting PID 1 and releases everything.
    system.delete().await.unwrap();
    assert!(!c.state.exists() && !c.sandbox.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_shim_is_cleaned_up_and_reported_as_unexpected() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("lost", &["sleep", "1000"]).await;
    system.start().await.unwrap();
    let pid = system
        .properties(PropertyQuery::default())
        .await
        .unwrap()
        .pid
        .unwrap();
    let shim = ShimClient::connect(&c.state.join("shim.sock"))
        .unwrap()
        .shim_pid();
    drop(system);
    // SAFETY: kill has no memory-safety preconditions; the pid is the shim this test started.
    assert_eq!(unsafe { libc::kill(shim as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{shim}/status")).exists()
        && fs::read_to_string(format!("/proc/{shim}/status"))
            .is_ok_and(|s| !s.contains("State:\tZ"))
    {
        assert!(Instant::now() < deadline, "shim still alive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let service = Fixture::service(fx.dir.path());
    let system = service.open(&c.id).await.unwrap();
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Stopped);
    let status = props.exit_status.unwrap();
    assert_eq!(status.exit_type, ExitType::UnexpectedExit);
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .is_empty(),
        "the container's process was killed"
    );
    system.delete().await.unwrap();
    assert!(!c.state.exists() && !c.sandbox.exists());
}
