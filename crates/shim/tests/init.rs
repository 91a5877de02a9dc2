//! `silo-shim init` as the real PID 1 of a new PID namespace (`unshare --pid --fork
//! --mount-proc`): signal forwarding, zombie reaping, exit codes. Needs root; skipped otherwise.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHIM: &str = env!("CARGO_BIN_EXE_silo-shim");

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0;
    if !ok {
        eprintln!("skipped: needs root for unshare --pid");
    }
    ok
}

fn init(script: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--",
        SHIM,
        "init",
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd
}

/// Kills the whole tree on drop if a test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The init's host pid: the only child of `unshare`.
fn init_pid(unshare: u32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "unshare never forked");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the init's child (the shell) is running, so a signal is not sent too early.
fn wait_for_grandchild(init: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "init never spawned its command");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
}

fn exit_code_within(guard: &mut Guard, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status.code().expect("unshare exited by signal");
        }
        assert!(start.elapsed() < limit, "not done within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exit_codes_propagate() {
    if !can_run() {
        return;
    }
    let status = init("exit 3").status().unwrap();
    assert_eq!(status.code(), Some(3));
    let status = init("kill -KILL $$").status().unwrap();
    assert_eq!(status.code(), Some(137));
}

#[test]
fn sigterm_stops_a_command_without_handlers_promptly() {
    if !can_run() {
        return;
    }
    let mut g = Guard(init("sleep 100").spawn().unwrap());
    let pid = init_pid(g.0.id());
    wait_for_grandchild(pid);
    let sent = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(exit_code_within(&mut g, Duration::from_secs(2)), 143);
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn signals_are_forwarded_not_just_terminating_ones() {
    if !can_run() {
        return;
    }
    let script = "trap 'exit 7' USR1; while :; do sleep 0.05; done";
    let mut g = Guard(init(script).spawn().unwrap());
    let pid = init_pid(g.0.id());
    wait_for_grandchild(pid);
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    assert_eq!(exit_code_within(&mut g, Duration::from_secs(3)), 7);
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    if !can_run() {
        return;
    }
    // The subshell exits at once, orphaning its `sleep`, which is re-parented to PID 1 (our
    // init) and exits 0.2 s later. Without reaping it would stay a zombie.
    let script = "(sleep 0.2 &); sleep 1; grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l";
    let out = init(script).stderr(Stdio::inherit()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}
