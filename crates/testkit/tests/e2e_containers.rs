//! End-to-end container tests: the stock docker CLI against `silod` with the process backend
//! and busybox from a test registry. Needs root (namespaces, cgroups, overlayfs); skipped
//! otherwise. Each test owns its registry and daemon and removes every container it made,
//! even when it fails, before the daemon goes away.

use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers as can_run, World};

#[test]
fn detached_lifecycle_with_the_docker_cli() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    let id = w.docker(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "web",
        img,
        "sh",
        "-c",
        "echo hello; sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");

    let ps = w.docker(&["ps"]);
    let row = ps
        .lines()
        .find(|l| l.contains("web"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("Up "), "{ps}");

    let logs = w.wait_for_log("web", "hello");
    assert_eq!(logs, "hello\n");

    let inspect = w.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "web"]);
    let mut fields = inspect.split_whitespace();
    assert_eq!(fields.next(), Some("running"), "{inspect}");
    let pid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    assert!(pid > 0, "{inspect}");

    // Starting a running container changes nothing (304).
    assert_eq!(w.docker(&["start", "web"]).trim(), "web");

    // An image in use is not removed.
    let err = w.docker_fail(&["rmi", img]);
    assert!(err.contains("conflict"), "{err}");

    // busybox sh as PID 1 (--init=false) ignores SIGTERM: stop kills it after the timeout.
    let started = Instant::now();
    w.docker(&["stop", "-t", "1", "web"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(w.state("web"), "exited 137");
    // Stopping a stopped container changes nothing (304).
    w.docker(&["stop", "web"]);

    // create, then start, then rm of a never-started container.
    w.docker(&[
        "create",
        "--name",
        "later",
        "-e",
        "WHO=world",
        img,
        "sh",
        "-c",
        "echo hi $WHO",
    ]);
    assert_eq!(w.state("later"), "created 0");
    w.docker(&["start", "later"]);
    assert_eq!(w.docker(&["wait", "later"]).trim(), "0");
    assert_eq!(w.wait_for_log("later", "hi"), "hi world\n");
    w.docker(&["create", "--name", "never", img, "true"]);
    w.docker(&["rm", "later", "never"]);

    // The CLI registers a wait (next-exit, or removed with --rm) before it starts the
    // container, even with -d; silod must answer both instead of erroring on stderr.
    for (name, extra) in [("quiet", &[][..]), ("quiet-rm", &["--rm"][..])] {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[img, "sleep", "2"]);
        let (code, out, err) = run_any(w.daemon.docker().args(&args));
        assert_eq!(code, 0, "{out}{err}");
        assert!(err.trim().is_empty(), "docker {args:?} complained: {err}");
        // --rm may already have removed it; either way it must be gone afterwards.
        let _ = run_any(w.daemon.docker().args(["rm", "-f", name]));
    }

    let exit3 = w.docker(&["run", "-d", "--name", "three", img, "sh", "-c", "exit 3"]);
    assert_eq!(w.docker(&["wait", exit3.trim()]).trim(), "3");
    let all = w.docker(&["ps", "-a"]);
    let row = all
        .lines()
        .find(|l| l.contains("three"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(row.contains("Exited (3)"), "{all}");
    assert!(!w.docker(&["ps"]).contains("three"));

    // `logs -f` streams until the container exits.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        img,
        "sh",
        "-c",
        "echo a; sleep 1; echo b >&2",
    ]);
    let started = Instant::now();
    let out = w
        .daemon
        .docker()
        .args(["logs", "-f", "talker"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "b\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(w.docker(&["logs", "--tail", "1", "talker"]), "");

    // `--rm` removes the container once it exits.
    w.docker(&["run", "-d", "--rm", "--name", "brief", img, "true"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.docker(&["ps", "-a"]).contains("brief") {
        assert!(Instant::now() < deadline, "--rm container still listed");
        sleep(Duration::from_millis(100));
    }

    w.docker(&["run", "-d", "--name", "busy", img, "sleep", "1000"]);
    let err = w.docker_fail(&["rm", "busy"]);
    assert!(err.contains("container is running"), "{err}");
    w.docker(&["rm", "-f", "busy"]);
    let err = w.docker_fail(&["inspect", "--type", "container", "busy"]);
    assert!(err.contains("No such"), "{err}");

    let err = w.docker_fail(&["inspect", "--type", "container", "nope"]);
    assert!(err.contains("No such container"), "{err}");
    // top is served now; a stopped container has no processes to show.
    let err = w.docker_fail(&["top", "web"]);
    assert!(err.contains("is not running"), "{err}");

    w.docker(&["rm", "web", "three", "talker"]);
    w.docker(&["rmi", img]);
}

#[test]
fn containers_survive_a_daemon_crash() {
    if !can_run() {
        return;
    }
    let mut w = World::new();
    let img = w.image.clone();
    w.docker(&[
        "run",
        "-d",
        "--name",
        "survivor",
        &img,
        "sh",
        "-c",
        "echo before; sleep 2; echo after; sleep 1000",
    ]);
    assert!(w.wait_for_log("survivor", "before").contains("before"));

    w.daemon.kill9();
    sleep(Duration::from_millis(2500));
    w.daemon.restart();

    let ps = w.docker(&["ps"]);
    let row = ps
        .lines()
        .find(|l| l.contains("survivor"))
        .unwrap_or_else(|| panic!("{ps}\n{}", w.daemon.log()));
    assert!(row.contains("Up "), "{ps}");
    let logs = w.wait_for_log("survivor", "after");
    assert_eq!(logs, "before\nafter\n");

    // The init (silo's default) forwards the stop signal: sh dies of it, 128 + 15.
    w.docker(&["stop", "-t", "1", "survivor"]);
    assert_eq!(w.state("survivor"), "exited 143");
}

#[test]
fn stop_is_prompt_because_an_init_is_pid_1_by_default() {
    if !can_run() {
        return;
    }
    let w = World::new();
    // `sleep` installs no SIGTERM handler: as PID 1 it would ignore the stop signal and wait
    // out the 10 s timeout. silo-init is PID 1 unless --init=false, and forwards it.
    w.docker(&["run", "-d", "--name", "sleeper", &w.image, "sleep", "1000"]);
    let started = Instant::now();
    w.docker(&["stop", "sleeper"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert_eq!(w.state("sleeper"), "exited 143");
    w.docker(&["rm", "sleeper"]);
}
