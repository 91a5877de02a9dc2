//! Drives the real `silo-shim run` on a busybox bundle and checks, over the protocol, what a
//! daemon relies on: output in the json-file log, isolation, exit codes in exit.json, kill,
//! stdin, and that the container outlives a shim killed with SIGKILL.
//!
//! Needs root (namespaces, cgroups) and Debian's busybox-static; skipped otherwise.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{can_run, wait_until, Container, HOSTNAME, SHIM};
use silo_shim::logs::Stream;
use silo_shim::protocol::PROTOCOL_VERSION;
use silo_shim::sys;
use silo_shim::{ProtocolError, ShimClient, Status};

#[test]
fn output_isolation_and_exit_code() {
    if !can_run() {
        return;
    }
    let script = "echo hello; hostname; ps -o pid,comm; echo oops >&2; exit 3";
    let mut c = Container::run("basic", &["sh", "-c", script], &[]);
    let mut client = c.client();
    let exit = client.wait().unwrap();
    assert_eq!((exit.code, exit.signal, exit.oom_killed), (3, None, false));

    // exit.json was on disk before Wait answered.
    let on_disk = silo_shim::exit::read_exit(&c.state()).unwrap().unwrap();
    assert_eq!(on_disk, exit);
    let state = client.state().unwrap();
    assert_eq!(state.status, Status::Stopped);
    assert_eq!(state.exit, Some(exit));

    let logs = c.logs();
    // Order holds within a stream; stdout and stderr are two pipes read by two threads.
    let stdout: Vec<&String> = logs
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(stdout[0], "hello\n", "{logs:?}");
    assert_eq!(stdout[1], &format!("{HOSTNAME}\n"), "{logs:?}");
    assert!(
        logs.contains(&(Stream::Stderr, "oops\n".to_string())),
        "{logs:?}"
    );
    // ps sees only the container: PID 1 is our sh, and nothing from the host.
    let procs: Vec<(u32, String)> = logs
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .filter_map(|(_, l)| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.to_string()))
        })
        .collect();
    assert_eq!(procs[0], (1, "sh".to_string()), "{logs:?}");
    assert!(procs.iter().all(|(pid, _)| *pid < 10), "{procs:?}");

    // The runtime released the cgroups when the container exited.
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory{}", c.cgroup)).exists());
    c.shutdown(&mut client);
}

#[test]
fn kill_term_stops_a_pid_1_that_handles_it() {
    if !can_run() {
        return;
    }
    // PID 1 gets only the signals it handles: this shell traps TERM (the init that makes any
    // program stop is silo-init, tested in crates/init and crates/compute/tests/init.rs).
    let args = [
        "sh",
        "-c",
        "trap 'exit 143' TERM; touch /tmp/ready; while true; do sleep 0.05; done",
    ];
    let c = Container::run("term", &args, &[]);
    let mut client = c.client();
    let state = client.state().unwrap();
    assert_eq!(state.status, Status::Running);
    let pid = state.pid.unwrap();
    wait_until(
        || Path::new(&format!("/proc/{pid}/root/tmp/ready")).exists(),
        "the shell installed its trap",
    );
    let started = Instant::now();
    client.kill(libc::SIGTERM, false).unwrap();
    let exit = client.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The trap exits 143, as a shell killed by SIGTERM would report.
    assert_eq!((exit.code, exit.signal), (143, None));
    // A signal after the exit is refused with a typed error, never sent to a recycled pid.
    match client.kill(libc::SIGKILL, false) {
        Err(silo_shim::ClientError::Shim {
            source: ProtocolError::FailedPrecondition { status, .. },
            ..
        }) => assert_eq!(status, Status::Stopped),
        other => panic!("{other:?}"),
    }
}

#[test]
fn protocol_lifecycle_with_no_start() {
    if !can_run() {
        return;
    }
    let mut c = Container::run("proto", &["sleep", "1000"], &["--no-start"]);
    match ShimClient::connect_with_version(&c.socket(), 99) {
        Err(silo_shim::ClientError::Shim {
            source: ProtocolError::VersionMismatch { shim, client: 99 },
            ..
        }) => assert_eq!(shim, PROTOCOL_VERSION),
        other => panic!("{other:?}"),
    }
    let mut client = c.client();
    assert_eq!(client.state().unwrap().status, Status::Created);
    assert!(matches!(
        client.shutdown(),
        Err(silo_shim::ClientError::Shim {
            source: ProtocolError::FailedPrecondition { .. },
            ..
        })
    ));
    client.start().unwrap();
    assert_eq!(client.state().unwrap().status, Status::Running);
    assert!(client.start().is_err(), "second start must be refused");
    let resize = client.call(&silo_shim::Request::Resize {
        width: 80,
        height: 24,
    });
    assert!(matches!(
        resize,
        Err(silo_shim::ClientError::Shim {
            source: ProtocolError::NoTerminal { .. },
            ..
        })
    ));
    // PID-1 sleep has no TERM handler, so only KILL ends it.
    client.kill(libc::SIGKILL, true).unwrap();
    let exit = client.wait().unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    c.shutdown(&mut client);
}

#[test]
fn stdin_pipes_through() {
    if !can_run() {
        return;
    }
    let c = Container::run("stdin", &["cat"], &["--open-stdin"]);
    let mut client = c.client();
    let mut fifo = fs::OpenOptions::new()
        .write(true)
        .open(c.state().join("stdin"))
        .unwrap();
    fifo.write_all(b"hi\n").unwrap();
    drop(fifo);
    client.close_stdin().unwrap();
    assert_eq!(client.wait().unwrap().code, 0);
    assert_eq!(c.logs(), [(Stream::Stdout, "hi\n".to_string())]);
}

#[test]
fn container_survives_shim_sigkill() {
    if !can_run() {
        return;
    }
    let mut c = Container::run("orphan", &["sh", "-c", "echo started; sleep 1000"], &[]);
    c.wait_for_log("started\n");
    let pid = c.client().state().unwrap().pid.unwrap();
    let shim = c.shim_pid.take().unwrap();
    sys::kill(shim, libc::SIGKILL).unwrap();
    wait_until(|| !sys::alive(shim), "shim died");
    std::thread::sleep(Duration::from_millis(300));
    assert!(sys::alive(pid), "the container must outlive its shim");

    // `cleanup` is the daemon's tool for a dead shim: kill, release cgroups, record an exit.
    let out = Command::new(SHIM)
        .args(["cleanup", "--id", &c.id, "--bundle"])
        .arg(c.bundle())
        .arg("--state")
        .arg(c.state())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(|| !sys::alive(pid), "cleanup killed the container");
    let exit = silo_shim::exit::read_exit(&c.state()).unwrap().unwrap();
    assert_eq!(exit.signal, Some(9));
    assert!(!Path::new(&format!("/sys/fs/cgroup/pids{}", c.cgroup)).exists());
}
