//! End-to-end tests of `silo`'s container verbs against `silod` (process backend, busybox from a
//! test registry). Each assertion is on what `silo` prints and its exit code, compared with
//! what docker prints. Needs root; skipped otherwise. Every test removes its containers (with
//! the stock docker CLI, so cleanup does not depend on the code under test) before its daemon
//! goes away.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers as can_run, run_fail, run_ok, World};

/// The world these tests need: busybox in the registry, pulled into the daemon (with `silo
/// pull`) when `pull` is set.
fn world(pull: bool) -> World {
    let w = World::unpulled();
    if pull {
        w.silo(&["pull", "-q", &w.image]);
    }
    w
}

/// The `silo` side of a [`World`]: what these tests run and read.
trait SiloCli {
    fn cmd(&self, args: &[&str]) -> Command;
    fn silo(&self, args: &[&str]) -> String;
    fn silo_fail(&self, args: &[&str]) -> (i32, String);
    fn silo_any(&self, args: &[&str]) -> (i32, String, String);
    fn silo_stdin(&self, args: &[&str], input: &str) -> (i32, String, String);
    fn status(&self, name: &str) -> String;
    fn wait_for_silo_log(&self, name: &str, text: &str) -> String;
    fn wait_gone(&self, name: &str) -> bool;
}

impl SiloCli for World {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.daemon.silo();
        c.args(args).stdin(Stdio::null());
        c
    }

    /// Runs silo, asserting success; returns stdout.
    fn silo(&self, args: &[&str]) -> String {
        run_ok(&mut self.cmd(args))
    }

    /// Runs silo, asserting failure; returns (exit code, stderr).
    fn silo_fail(&self, args: &[&str]) -> (i32, String) {
        run_fail(&mut self.cmd(args))
    }

    /// Runs silo whatever happens; returns (exit code, stdout, stderr).
    fn silo_any(&self, args: &[&str]) -> (i32, String, String) {
        run_any(&mut self.cmd(args))
    }

    /// Runs silo with `input` on stdin; returns (exit code, stdout, stderr).
    fn silo_stdin(&self, args: &[&str], input: &str) -> (i32, String, String) {
        let mut child = self
            .daemon
            .silo()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn silo");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("wait silo");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn status(&self, name: &str) -> String {
        self.silo(&["inspect", "-f", "{{.State.Status}}", name])
            .trim()
            .to_string()
    }

    /// Polls `silo logs` until it contains `text` (10 s at most); returns stdout + stderr.
    fn wait_for_silo_log(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, out, err) = self.silo_any(&["logs", name]);
            let all = out + &err;
            if all.contains(text) || Instant::now() > deadline {
                return all;
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Polls until `silo ps -a` no longer lists `name` (10 s at most).
    fn wait_gone(&self, name: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ps = self.silo(&["ps", "-a", "--format", "{{.Names}}"]);
            if !ps.lines().any(|l| l == name) {
                return true;
            }
            sleep(Duration::from_millis(100));
        }
        false
    }
}

#[test]
fn cli_usage_errors_exit_like_docker() {
    // No daemon needed: these fail while parsing, before connecting.
    let silo = silo_testkit::daemon::bin_dir().join("silo");
    let run = |args: &[&str]| {
        run_any(
            Command::new(&silo)
                .args(args)
                .env("SILO_HOST", "unix:///nonexistent/silo.sock"),
        )
    };
    let (code, _, err) = run(&["run", "--bogus", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("--bogus"), "{err}");
    let (code, _, err) = run(&["run", "--pull", "sometimes", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("sometimes"), "{err}");
    let (code, _, err) = run(&["run", "-m", "1zz", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("1zz"), "{err}");
    let (code, _, err) = run(&["ps", "--bogus"]);
    assert_eq!(code, 125, "{err}");
    // Missing arguments exit 1, as docker's "requires at least 1 argument".
    let (code, _, err) = run(&["stop"]);
    assert_eq!(code, 1, "{err}");
    // Conflicting flags are refused before any request.
    let (code, _, err) = run(&["run", "--rm", "--restart", "always", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("--restart and --rm"), "{err}");
    // run cannot reach a daemon: 125, like docker.
    let (code, _, err) = run(&["run", "-d", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    // Help is not an error.
    let (code, out, _) = run(&["run", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--hostname"), "{out}");
}

#[test]
fn cli_detached_lifecycle() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();

    let id = w.silo(&[
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "WHO=world",
        "-l",
        "team=silo",
        img,
        "sh",
        "-c",
        "echo hello $WHO; sleep 1000",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");

    // `ps -a`: docker's header and a row with the short id, quoted command and name.
    let ps = w.silo(&["ps", "-a"]);
    let mut lines = ps.lines();
    let header = lines.next().unwrap_or_default();
    let columns: Vec<&str> = header
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ],
        "{ps}"
    );
    let row = lines
        .find(|l| l.ends_with(" web"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.starts_with(&id[..12]), "{ps}");
    assert!(row.contains(img), "{ps}");
    // The daemon's command line, cut to 20 characters and quoted, as docker shows it.
    assert!(row.contains("\"sh -c echo hello $W…\""), "{ps}");
    assert!(row.contains("Up "), "{ps}");
    // Columns line up under their headers, as docker's tabwriter does.
    let at = |line: &str, text: &str| {
        let byte = line.find(text).unwrap_or_else(|| panic!("{text}: {ps}"));
        line[..byte].chars().count()
    };
    assert_eq!(at(header, "STATUS"), at(row, "Up "), "{ps}");
    assert_eq!(at(header, "NAMES"), at(row, " web") + 1, "{ps}");

    assert_eq!(w.silo(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(w.silo(&["ps", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        w.silo(&["ps", "--format", "{{.Names}} {{.State}} {{.Labels}}"]),
        "web running team=silo\n"
    );

    assert_eq!(w.wait_for_silo_log("web", "hello"), "hello world\n");
    assert_eq!(w.silo(&["logs", "--tail", "1", "web"]), "hello world\n");

    assert_eq!(w.status("web"), "running");
    assert_eq!(w.silo(&["inspect", "-f", "{{.Name}}", "web"]), "/web\n");
    assert_eq!(
        w.silo(&["inspect", "-f", "{{json .Config.Cmd}}", "web"]),
        "[\"sh\",\"-c\",\"echo hello $WHO; sleep 1000\"]\n"
    );
    assert_eq!(
        w.silo(&["inspect", "-f", "{{index .Config.Labels \"team\"}}", "web"]),
        "silo\n"
    );
    let json = w.silo(&["container", "inspect", "web"]);
    assert!(json.starts_with("[\n    {\n"), "{json}");
    assert!(json.contains(&format!("\"Id\": \"{id}\"")), "{json}");
    // `--type image` does not find containers; no type finds images too.
    let (code, err) = w.silo_fail(&["inspect", "--type", "image", "web"]);
    assert_eq!(code, 1, "{err}");
    let image_os = w.silo(&["inspect", "-f", "{{.Os}}", img]);
    assert_eq!(image_os, "linux\n");
    let (code, err) = w.silo_fail(&["inspect", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "Error: No such object: nope");

    // silod runs an init as PID 1 unless told `--init=false`: it passes SIGTERM on, so stop
    // ends the process with SIGTERM (143).
    assert_eq!(w.silo(&["stop", "-t", "1", "web"]), "web\n");
    assert_eq!(w.status("web"), "exited");
    assert_eq!(w.silo(&["wait", "web"]), "143\n");
    // `--init=false`: busybox sh is PID 1 and ignores SIGTERM, so stop kills it (137).
    w.silo(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "pid1",
        img,
        "sh",
        "-c",
        "sleep 1000",
    ]);
    let top = w.silo(&["top", "pid1"]);
    assert!(!top.contains("silo-init"), "{top}");
    assert_eq!(w.silo(&["stop", "-t", "1", "pid1"]), "pid1\n");
    assert_eq!(w.silo(&["wait", "pid1"]), "137\n");
    w.silo(&["rm", "pid1"]);

    w.silo(&["rename", "web", "web2"]);
    assert_eq!(w.silo(&["inspect", "-f", "{{.Name}}", &id]), "/web2\n");
    assert_eq!(w.silo(&["start", "web2"]), "web2\n");
    assert_eq!(w.status("web2"), "running");
    assert_eq!(w.silo(&["kill", "web2"]), "web2\n");
    assert_eq!(w.silo(&["wait", "web2"]), "137\n");
    assert_eq!(w.silo(&["rm", "web2"]), "web2\n");
    assert!(w.wait_gone("web2"));

    // Unknown containers: the daemon's 404 message, exit 1; other names still processed.
    let (code, _, err) = w.silo_any(&["stop", "nope", "also-nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Error response from daemon: No such container: nope"),
        "{err}"
    );
    assert!(err.contains("also-nope"), "{err}");
    let (code, err) = w.silo_fail(&["logs", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container"), "{err}");

    // rm of a running container needs -f; `--filter` reaches the daemon.
    w.silo(&["run", "-d", "--name", "busy", img, "sleep", "1000"]);
    w.silo(&["run", "-d", "--name", "other", img, "sleep", "1000"]);
    assert_eq!(
        w.silo(&[
            "container",
            "ls",
            "--filter",
            "name=busy",
            "--format",
            "{{.Names}}"
        ]),
        "busy\n"
    );
    w.silo(&["rm", "-f", "other"]);
    let (code, err) = w.silo_fail(&["rm", "busy"]);
    assert_eq!(code, 1);
    assert!(err.contains("Error response from daemon:"), "{err}");
    assert_eq!(w.silo(&["rm", "-f", "busy"]), "busy\n");
    assert!(w.wait_gone("busy"));
}

#[test]
fn cli_compute_systems() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();
    let id = w.silo(&["run", "-d", "--name", "sys", img, "sleep", "1000"]);
    let id = id.trim().to_string();

    // The compute service sees the container as a running compute system.
    let systems = w.silo(&["compute", "ls"]);
    let system = systems
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{systems}"));
    assert!(systems.starts_with("ID "), "{systems}");
    assert!(system.to_ascii_lowercase().contains("running"), "{systems}");
    let detail = w.silo(&["compute", "inspect", &id]);
    let detail: serde_json::Value = serde_json::from_str(&detail).expect("compute inspect JSON");
    assert_eq!(detail["summary"]["id"], id.as_str(), "{detail}");
    assert_eq!(
        detail["summary"]["state"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("running"),
        "{detail}"
    );
    assert!(detail.get("properties").is_some(), "{detail}");

    w.silo(&["rm", "-f", "sys"]);
    let systems = w.silo(&["compute", "ls", "-q"]);
    assert!(!systems.contains(&id), "{systems}");
    let (code, err) = w.silo_fail(&["compute", "inspect", &id]);
    assert_eq!(code, 1);
    assert!(err.starts_with("Error response from daemon:"), "{err}");
}

#[test]
fn cli_exit_codes_create_start_and_pull() {
    if !can_run() {
        return;
    }
    // Not pulled: `run` pulls a missing image, as docker does, with progress on stderr.
    let w = world(false);
    let img = w.image.as_str();

    let (code, err) = w.silo_fail(&["run", "-d", "--pull", "never", img, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such image"), "{err}");

    let (code, out, err) = w.silo_any(&["run", "-d", "--name", "three", img, "sh", "-c", "exit 3"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!("Unable to find image '{img}' locally")),
        "{err}"
    );
    assert_eq!(out.trim().len(), 64, "stdout is only the id: {out}");
    assert_eq!(w.silo(&["wait", "three"]), "3\n");
    let ps = w.silo(&["ps", "-a"]);
    let row = ps
        .lines()
        .find(|l| l.ends_with(" three"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("Exited (3)"), "{ps}");
    assert!(!w.silo(&["ps"]).contains("three"));
    assert_eq!(
        w.silo(&["inspect", "-f", "{{.State.ExitCode}}", "three"]),
        "3\n"
    );

    // create, then start: the container runs only when started.
    let id = w.silo(&[
        "create", "--name", "later", "-w", "/tmp", img, "sh", "-c", "pwd",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert_eq!(w.status("later"), "created");
    assert_eq!(w.silo(&["start", "later"]), "later\n");
    assert_eq!(w.silo(&["wait", "later"]), "0\n");
    assert_eq!(w.wait_for_silo_log("later", "/tmp"), "/tmp\n");

    // A name in use is the daemon's conflict, exit 125 for run.
    let (code, err) = w.silo_fail(&["run", "-d", "--name", "later", img, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("Error response from daemon:"), "{err}");

    // A command that does not exist: docker exits 127 (at start, or when the process fails).
    let (code, _, err) = w.silo_any(&["run", "-d", "--name", "ghost", img, "/no/such/cmd"]);
    if code == 0 {
        let code = w.silo(&["wait", "ghost"]);
        assert_ne!(code.trim(), "0", "{err}");
    } else {
        assert!(code == 127 || code == 126, "{code} {err}");
    }

    // `-n`/`-l` include stopped containers.
    let last = w.silo(&["ps", "-l", "--format", "{{.Names}}"]);
    assert_eq!(last.lines().count(), 1, "{last}");
    assert_eq!(w.silo(&["ps", "-n", "2", "-q"]).lines().count(), 2);

    // container prune removes every stopped container.
    let pruned = w.silo(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(w.silo(&["ps", "-aq"]), "");

    // port: no network service yet, so nothing published, and no failure.
    w.silo(&["run", "-d", "--name", "p", img, "sleep", "1000"]);
    assert_eq!(w.silo(&["port", "p"]), "");
    w.silo(&["rm", "-f", "p"]);
}

#[test]
fn cli_attached_run() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();

    // Output demultiplexed onto our stdout/stderr, and the container's exit code is ours.
    let (code, out, err) = w.silo_any(&[
        "run",
        "--name",
        "att",
        img,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
    assert_eq!(w.status("att"), "exited");
    w.silo(&["rm", "att"]);

    // --rm: the daemon removes it once it exits, and we still get the exit code.
    let (code, out, err) = w.silo_any(&[
        "run",
        "--rm",
        "--name",
        "gone",
        img,
        "sh",
        "-c",
        "echo bye; exit 5",
    ]);
    assert_eq!((code, out.as_str()), (5, "bye\n"), "{err}");
    assert!(w.wait_gone("gone"));

    // -i: stdin reaches the process; its EOF is passed on (half-close) so `cat` ends.
    let (code, out, err) = w.silo_stdin(&["run", "-i", "--rm", img, "cat"], "piped line\n");
    assert_eq!((code, out.as_str()), (0, "piped line\n"), "{err}");
    let (code, out, err) = w.silo_stdin(&["run", "-i", "--rm", img, "wc", "-l"], "a\nb\nc\n");
    assert_eq!((code, out.trim()), (0, "3"), "{err}");

    // -t without a terminal on stdin is refused like docker, before anything is created.
    let (code, err) = w.silo_fail(&["run", "-it", "--rm", img, "true"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the input device is not a TTY"), "{err}");

    // --sig-proxy (the default without -t): SIGINT to silo goes to the container.
    let child = w
        .cmd(&[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "trap 'echo got INT; exit 4' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn silo run");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) with our own, not yet reaped child's pid.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait silo run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert_eq!(stdout, "ready\ngot INT\n");

    // start -a: attach to a created container and exit with its code.
    w.silo(&[
        "create",
        "--name",
        "sa",
        img,
        "sh",
        "-c",
        "echo started; exit 7",
    ]);
    let (code, out, err) = w.silo_any(&["start", "-a", "sa"]);
    assert_eq!((code, out.as_str()), (7, "started\n"), "{err}");
    w.silo(&["rm", "sa"]);
}

#[test]
fn cli_exec() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();
    w.silo(&["run", "-d", "--name", "host", img, "sleep", "1000"]);

    let (code, out, err) = w.silo_any(&["exec", "host", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    let (code, _, err) = w.silo_any(&["exec", "host", "sh", "-c", "exit 4"]);
    assert_eq!(code, 4, "{err}");
    let (code, out, err) = w.silo_any(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "host",
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u)",
    ]);
    assert_eq!((code, out.as_str()), (0, "1 /tmp 1000\n"), "{err}");
    let (code, out, err) = w.silo_stdin(&["exec", "-i", "host", "cat"], "to exec\n");
    assert_eq!((code, out.as_str()), (0, "to exec\n"), "{err}");
    let (code, out, err) = w.silo_any(&["exec", "-d", "host", "sleep", "5"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let (code, err) = w.silo_fail(&["exec", "nope", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container"), "{err}");
    w.silo(&["rm", "-f", "host"]);
}

#[test]
fn cli_pause_top_stats_events() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();
    w.silo(&[
        "run", "-d", "--name", "mon", "-m", "64m", img, "sleep", "1000",
    ]);

    // top: ps output with its own header.
    let top = w.silo(&["top", "mon"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.contains("PID"), "{top}");
    assert!(lines.any(|l| l.contains("sleep 1000")), "{top}");

    // stats --no-stream: docker's columns and one row.
    let stats = w.silo(&["stats", "--no-stream", "mon"]);
    let mut lines = stats.lines();
    let header = lines.next().unwrap_or_default();
    let columns: Vec<&str> = header
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{stats}"
    );
    let row = lines.next().unwrap_or_default();
    assert!(row.contains(" mon "), "{stats}");
    assert!(row.contains("/ 64MiB"), "{stats}");
    let pids = w.silo(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "mon",
    ]);
    let n: u32 = pids
        .strip_prefix("mon ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{pids}"));
    // sleep, and silod's init unless --init=false.
    assert!((1..=2).contains(&n), "{pids}");

    // Streaming stats redraw every second until interrupted.
    let mut child = w
        .cmd(&["stats", "--format", "{{.Name}}", "mon"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn silo stats");
    sleep(Duration::from_millis(3500));
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait silo stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().filter(|l| *l == "mon").count() >= 2, "{text}");

    // pause / unpause.
    assert_eq!(w.silo(&["pause", "mon"]), "mon\n");
    assert_eq!(w.status("mon"), "paused");
    let ps = w.silo(&["ps", "--filter", "name=mon"]);
    assert!(ps.contains("(Paused)"), "{ps}");
    assert_eq!(w.silo(&["unpause", "mon"]), "mon\n");
    assert_eq!(w.status("mon"), "running");

    // update changes the memory limit.
    assert_eq!(w.silo(&["update", "-m", "128m", "mon"]), "mon\n");
    assert_eq!(
        w.silo(&["inspect", "-f", "{{.HostConfig.Memory}}", "mon"]),
        format!("{}\n", 128 << 20)
    );

    // restart gives a new process.
    assert_eq!(w.silo(&["restart", "-t", "1", "mon"]), "mon\n");
    assert_eq!(w.status("mon"), "running");

    // events: what happened to `mon` so far, bounded by --until so the stream ends.
    let events = w.silo(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "container=mon",
    ]);
    for action in ["create", "start", "pause", "unpause", "restart"] {
        assert!(
            events
                .lines()
                .any(|l| l.contains(&format!(" container {action} "))),
            "{action}: {events}"
        );
    }
    let line = events.lines().next().unwrap_or_default();
    assert!(line.contains("name=mon"), "{events}");
    let formatted = w.silo(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "event=pause",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(formatted, "container pause mon\n");

    w.silo(&["rm", "-f", "mon"]);
}

#[test]
fn cli_run_resources_and_security_flags() {
    if !can_run() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();
    let dir = tempfile::tempdir().expect("env dir");
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n").expect("write env file");
    let env_file = env_file.display().to_string();
    w.silo(&[
        "create",
        "--name",
        "conf",
        "-h",
        "boxname",
        "-u",
        "1000:1000",
        "--env-file",
        &env_file,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "--cap-drop",
        "NET_RAW",
        "--cap-add",
        "SYS_TIME",
        "--security-opt",
        "no-new-privileges",
        "--restart",
        "on-failure:2",
        "--log-opt",
        "max-size=1m",
        "--init",
        "--stop-timeout",
        "3",
        "--stop-signal",
        "SIGUSR1",
        "--entrypoint",
        "sh",
        img,
        "-c",
        "true",
    ]);
    let f = |t: &str| w.silo(&["inspect", "-f", t, "conf"]).trim().to_string();
    assert_eq!(f("{{.Config.Hostname}}"), "boxname");
    assert_eq!(f("{{.Config.User}}"), "1000:1000");
    assert!(f("{{json .Config.Env}}").contains("FROM_FILE=yes"));
    assert_eq!(f("{{.HostConfig.Memory}}"), (64u64 << 20).to_string());
    assert_eq!(f("{{.HostConfig.NanoCpus}}"), "500000000");
    assert_eq!(f("{{.HostConfig.CpuShares}}"), "512");
    assert_eq!(f("{{.HostConfig.PidsLimit}}"), "50");
    assert_eq!(f("{{.HostConfig.ReadonlyRootfs}}"), "true");
    assert_eq!(f("{{json .HostConfig.Tmpfs}}"), "{\"/run\":\"size=1m\"}");
    assert_eq!(f("{{json .HostConfig.CapDrop}}"), "[\"NET_RAW\"]");
    assert_eq!(f("{{json .HostConfig.CapAdd}}"), "[\"SYS_TIME\"]");
    assert_eq!(f("{{.HostConfig.RestartPolicy.Name}}"), "on-failure");
    assert_eq!(f("{{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "2");
    assert_eq!(f("{{json .Config.Entrypoint}}"), "[\"sh\"]");
    assert_eq!(f("{{.Config.StopTimeout}}"), "3");
    assert_eq!(f("{{.Config.StopSignal}}"), "SIGUSR1");
    w.silo(&["rm", "conf"]);

    // What the flags do inside: hostname, user, env, read-only root with a tmpfs.
    let out = w.silo(&[
        "run",
        "-d",
        "--name",
        "inside",
        "-h",
        "boxname",
        "-u",
        "1000",
        "--read-only",
        "--tmpfs",
        "/run",
        "-e",
        "X=1",
        img,
        "sh",
        "-c",
        "hostname; id -u; echo $X; touch /run/ok && echo tmpfs-ok; touch /nope 2>/dev/null || echo ro-ok",
    ]);
    assert_eq!(out.trim().len(), 64);
    w.silo(&["wait", "inside"]);
    assert_eq!(
        w.wait_for_silo_log("inside", "ro-ok"),
        "boxname\n1000\n1\ntmpfs-ok\nro-ok\n"
    );
    w.silo(&["rm", "inside"]);
}

/// Runs `command` (a shell line, `$SILO` being the binary) under a pseudo-terminal made by
/// util-linux `script`, with the terminal's size set first and `typed` fed to it as keystrokes;
/// returns the exit code and what the terminal showed.
fn in_pty(w: &World, command: &str, typed: &str) -> (i32, String) {
    let line = format!("stty rows 40 cols 100; {command}");
    let silo = w.daemon.silo().get_program().to_owned();
    // `timeout`: a client that never returns fails the test instead of hanging it.
    let mut child = Command::new("timeout")
        .args(["-k", "5", "60", "script", "-qefc", &line, "/dev/null"])
        .env("SILO_HOST", w.daemon.docker_host())
        .env("SILO", silo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().expect("stdin");
    // Let the client reach raw mode first, as a person would type after the prompt.
    sleep(Duration::from_millis(1500));
    let _ = stdin.write_all(typed.as_bytes());
    let out = child.wait_with_output().expect("wait script");
    drop(stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn cli_run_with_a_tty() {
    if !can_run_pty() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();

    // -t: the process has a terminal of our size (sent through the resize endpoint), its output
    // comes back raw (CRLF from the remote terminal), and its exit code is ours.
    let (code, shown) = in_pty(
        &w,
        &format!("\"$SILO\" run -t --rm {img} sh -c 'tty; stty size; exit 6'"),
        "",
    );
    assert_eq!(code, 6, "{shown:?}");
    assert!(shown.contains("/dev/pts/"), "{shown:?}");
    // Docker gives the process the terminal on stdin too, even without -i.
    assert!(shown.contains("40 100\r"), "{shown:?}");
}

fn can_run_pty() -> bool {
    if !can_run() {
        return false;
    }
    let ok = Command::new("script").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: util-linux script is missing");
    }
    ok
}

#[test]
fn cli_interactive_tty_run_and_exec() {
    if !can_run_pty() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();

    // -it: keystrokes go through the raw local terminal to the remote shell.
    let (code, shown) = in_pty(
        &w,
        &format!("\"$SILO\" run -it --rm {img} sh"),
        "stty size\recho typed-$((40+2))\rexit 2\r",
    );
    assert_eq!(code, 2, "{shown:?}");
    assert!(shown.contains("typed-42"), "{shown:?}");
    // The remote terminal got our size through the resize endpoint.
    assert!(shown.contains("40 100"), "{shown:?}");

    w.silo(&["run", "-d", "--name", "tty", img, "sleep", "1000"]);
    // The exec's terminal gets our size from the resize after start (silod does not apply the
    // exec's ConsoleSize yet, so a process asking at once may still see 0x0).
    let (code, shown) = in_pty(&w, "\"$SILO\" exec -t tty sh -c 'sleep 0.5; stty size'", "");
    assert_eq!(code, 0, "{shown:?}");
    assert!(shown.contains("40 100"), "{shown:?}");
    let (code, shown) = in_pty(
        &w,
        "\"$SILO\" exec -it tty sh",
        "echo in-$((1+1))\rexit 9\r",
    );
    assert_eq!(code, 9, "{shown:?}");
    assert!(shown.contains("in-2"), "{shown:?}");
    w.silo(&["rm", "-f", "tty"]);
}

#[test]
fn cli_detach_keys_leave_the_container_running() {
    if !can_run_pty() {
        return;
    }
    let w = world(true);
    let img = w.image.as_str();
    // ctrl-p ctrl-q detaches: silo exits 0 and the container keeps running (docker closes a
    // container's stdin when its attach ends only without a TTY).
    let (code, shown) = in_pty(
        &w,
        &format!("\"$SILO\" run -it --name det {img} sh"),
        "\x10\x11",
    );
    assert_eq!(code, 0, "{shown:?}");
    assert_eq!(w.status("det"), "running");
    w.silo(&["rm", "-f", "det"]);
}
