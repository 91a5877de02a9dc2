//! `init: true` on the process backend: the static `silo-init` is bind-mounted at
//! `/sbin/silo-init` and runs as PID 1, so a stop of a program with no SIGTERM handler (`sleep`)
//! is graceful and prompt; without it the kernel drops PID 1's SIGTERM and only the kill after
//! the timeout ends it.
//!
//! Needs root, Debian's busybox-static, `target/debug/silo-shim` (`cargo build -p silo-shim`,
//! or `SILO_SHIM`) and `target/init/release/silo-init` (`scripts/build-init.sh`, or
//! `SILO_INIT`); skipped without root or busybox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use silo_compute::{ComputeService, ComputeSystem, ExitType, PropertyQuery, Stdio};
use silo_shim::logs::read_logs;

mod common;

use common::{can_run, init_binary, Cleanup, Fixture};

/// Creates a system running `args`, with or without the init (which must have been built).
async fn create(
    fx: &Fixture,
    name: &str,
    init: bool,
    args: &[&str],
) -> (Arc<dyn ComputeSystem>, Cleanup) {
    let init_path = init_binary();
    assert!(
        init_path.exists(),
        "{} is missing: build it with scripts/build-init.sh",
        init_path.display()
    );
    let (mut doc, cleanup) = fx.document(name, args);
    doc.init = init;
    let system = fx.service.create(doc, Stdio::default()).await.unwrap();
    (system, cleanup)
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
    let (system, c) = create(&fx, "pid1", true, &["cat", "/proc/1/cmdline"]).await;
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
    let (system, _c) = create(&fx, "term", true, &["sleep", "1000"]).await;
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
    let (system, _c) = create(&fx, "noinit", false, &["sleep", "1000"]).await;
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
