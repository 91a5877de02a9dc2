//! End-to-end tests of live streams: attached `docker run` (exit codes, stdout/stderr apart,
//! stdin piped through), `run -it` and `exec -it` through a real pty, `docker exec`, `docker
//! attach`, resize, pause and unpause — the stock docker CLI against silod with busybox.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers, World};

/// Runs `docker ARGS` with `input` on its stdin; returns (exit code, stdout, stderr).
fn docker_with_stdin(w: &World, args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = w
        .docker_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docker");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait docker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a docker command line inside a fresh pty of 100×30 (util-linux `script`), so the CLI
/// sees a real terminal; returns (exit code, everything the terminal showed).
fn docker_in_pty(w: &World, docker_args: &str) -> (i32, String) {
    let line = format!(
        "stty cols 100 rows 30; DOCKER_HOST={} docker {docker_args}",
        w.daemon.docker_host()
    );
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn attached_run_separates_streams_and_propagates_the_exit_code() {
    if !can_run_containers() {
        return;
    }
    let w = World::new();
    let (code, out, err) = run_any(&mut w.docker_cmd(&[
        "run",
        "--rm",
        &w.image,
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; exit 3",
    ]));
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}");
    assert_eq!(out, "to-out\n");
    assert!(err.contains("to-err"), "stderr: {err:?}");
    assert!(!err.contains("to-out"));

    // A lot of output arrives whole and in order.
    let out = w.docker(&["run", "--rm", &w.image, "seq", "1", "20000"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 20000);
    assert_eq!(lines[19999], "20000");
    // --rm removed both.
    assert_eq!(w.docker(&["ps", "-aq"]).trim(), "");
}

#[test]
fn stdin_pipes_through_run_and_exec() {
    if !can_run_containers() {
        return;
    }
    let w = World::new();
    let (code, out, err) = docker_with_stdin(&w, &["run", "-i", "--rm", &w.image, "cat"], b"hi\n");
    assert_eq!((code, out.as_str()), (0, "hi\n"), "stderr: {err}");

    let (code, out, _) = docker_with_stdin(
        &w,
        &["run", "-i", "--rm", &w.image, "wc", "-c"],
        &vec![b'x'; 300_000],
    );
    assert_eq!((code, out.trim()), (0, "300000"));

    w.docker(&["run", "-d", "--name", "box", &w.image, "sleep", "1000"]);
    let (code, out, _) = docker_with_stdin(&w, &["exec", "-i", "box", "cat"], b"through exec\n");
    assert_eq!((code, out.as_str()), (0, "through exec\n"));
}

#[test]
fn exec_runs_in_the_container_and_reports_its_exit() {
    if !can_run_containers() {
        return;
    }
    let w = World::new();
    w.docker(&[
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "FROM_RUN=1",
        &w.image,
        "sleep",
        "1000",
    ]);
    let (code, out, err) = run_any(&mut w.docker_cmd(&[
        "exec",
        "-e",
        "FROM_EXEC=2",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $FROM_RUN$FROM_EXEC $(pwd); echo oops >&2; exit 4",
    ]));
    assert_eq!(code, 4);
    assert_eq!(out, "12 /tmp\n");
    assert!(err.contains("oops"));

    // It runs under the container's seccomp filter (mode 2), like the first process; in a
    // privileged container (no filter) an exec works and is unfiltered too.
    let seccomp_mode = |container: &str| {
        w.docker(&["exec", container, "cat", "/proc/self/status"])
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim().to_string()))
    };
    assert_eq!(seccomp_mode("box").as_deref(), Some("2"));
    w.docker(&[
        "run",
        "-d",
        "--name",
        "priv",
        "--privileged",
        &w.image,
        "sleep",
        "1000",
    ]);
    assert_eq!(seccomp_mode("priv").as_deref(), Some("0"));
    w.docker(&["rm", "-f", "priv"]);

    // It sees the container's processes, not the host's.
    let ps = w.docker(&["exec", "box", "ps", "-o", "pid,comm"]);
    assert!(ps.contains("sleep"), "{ps}");
    assert!(ps.lines().count() <= 4, "{ps}");

    // Detached exec runs; its effect is visible to the next one.
    w.docker(&["exec", "-d", "box", "touch", "/tmp/made-by-exec"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while run_any(&mut w.docker_cmd(&["exec", "box", "test", "-e", "/tmp/made-by-exec"])).0 != 0 {
        assert!(Instant::now() < deadline, "detached exec had no effect");
        sleep(Duration::from_millis(50));
    }

    // Missing program, stopped container.
    let (code, _, err) = run_any(&mut w.docker_cmd(&["exec", "box", "/no/such/program"]));
    assert_ne!(code, 0, "{err}");
    w.docker(&["stop", "-t", "1", "box"]);
    let err = w.docker_fail(&["exec", "box", "true"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn run_and_exec_with_a_terminal() {
    if !can_run_containers() {
        return;
    }
    let w = World::new();
    let (code, screen) = docker_in_pty(
        &w,
        &format!("run -it --rm {} sh -c 'tty; stty size; exit 5'", w.image),
    );
    assert_eq!(code, 5, "{screen}");
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert!(
        screen.contains("30 100"),
        "terminal size not passed: {screen}"
    );

    w.docker(&["run", "-d", "--name", "box", &w.image, "sleep", "1000"]);
    let (code, screen) = docker_in_pty(&w, "exec -it box sh -c 'tty; stty size; exit 6'");
    assert_eq!(code, 6, "{screen}");
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert!(screen.contains("30 100"), "{screen}");
}

#[test]
fn attach_to_a_running_container_and_pause_it() {
    if !can_run_containers() {
        return;
    }
    let w = World::new();
    w.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        &w.image,
        "sh",
        "-c",
        "i=0; while [ $i -lt 30 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ]);
    let (code, out, _) = run_any(&mut w.docker_cmd(&["attach", "ticker"]));
    assert_eq!(code, 0);
    assert!(out.contains("tick 29"), "{out}");

    w.docker(&[
        "run",
        "-d",
        "--name",
        "counter",
        &w.image,
        "sh",
        "-c",
        "while true; do echo x; sleep 0.05; done",
    ]);
    w.wait_for_log("counter", "x");
    w.docker(&["pause", "counter"]);
    assert_eq!(w.state("counter"), "paused 0");
    let before = w.docker(&["logs", "counter"]).lines().count();
    sleep(Duration::from_millis(500));
    let after = w.docker(&["logs", "counter"]).lines().count();
    assert_eq!(before, after, "a paused container kept writing");
    let err = w.docker_fail(&["exec", "counter", "true"]);
    assert!(err.contains("paused"), "{err}");
    w.docker(&["unpause", "counter"]);
    assert_eq!(w.state("counter"), "running 0");
    sleep(Duration::from_millis(300));
    assert!(w.docker(&["logs", "counter"]).lines().count() > after);
    // A paused container can still be killed and removed.
    w.docker(&["pause", "counter"]);
    w.docker(&["rm", "-f", "counter"]);
}
