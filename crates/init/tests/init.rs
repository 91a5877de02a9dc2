//! The real `silo-init` binary, run as a child subreaper of the test (its PID-1 behaviour inside
//! a container is covered by crates/compute/tests/init.rs): signal forwarding, zombie reaping,
//! exit codes. Needs no privileges.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = env!("CARGO_BIN_EXE_silo-init");

fn init(flags: &[&str], script: &str) -> Command {
    let mut cmd = Command::new(INIT);
    cmd.args(flags).args(["--", "sh", "-c", script]);
    cmd
}

/// Kills the init on drop if a test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Waits until the init has started its command and the command has a child of its own (the
/// `sleep`), so a signal is not sent before the shell is ready for it.
fn wait_for_sleep(init: u32) -> (u32, u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(&sh) = children(init).first() {
            // `sh -c 'sleep 100'` may exec sleep itself: then the child *is* the sleep.
            let comm = std::fs::read_to_string(format!("/proc/{sh}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                return (sh, sh);
            }
            if let Some(&sleep) = children(sh).first() {
                return (sh, sleep);
            }
        }
        assert!(Instant::now() < deadline, "the command never started sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exit_code_within(guard: &mut Guard, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status
                .code()
                .expect("the init itself was killed by a signal");
        }
        assert!(start.elapsed() < limit, "init not done within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[test]
fn sigterm_stops_a_command_without_handlers_promptly_with_143() {
    let mut g = Guard(init(&[], "sleep 100").spawn().unwrap());
    wait_for_sleep(g.0.id());
    let sent = Instant::now();
    send(g.0.id(), libc::SIGTERM);
    assert_eq!(exit_code_within(&mut g, Duration::from_secs(2)), 143);
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    // The subshell exits at once, orphaning its `sleep`, which is re-parented to the init (a
    // subreaper here, PID 1 in a container) and exits 0.2 s later. Unreaped, it would stay in
    // the init's children as a zombie; reaped, the shell is the init's only child.
    let script = "(sleep 0.2 &); sleep 1; echo $$; cat /proc/$PPID/task/$PPID/children";
    let out = init(&[], script).stderr(Stdio::inherit()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[1], lines[0], "init's children: {stdout}");
}

#[test]
fn exit_codes_propagate() {
    let status = init(&[], "exit 3").status().unwrap();
    assert_eq!(status.code(), Some(3));
    let status = init(&[], "kill -KILL $$").status().unwrap();
    assert_eq!(status.code(), Some(137));
    let status = Command::new(INIT)
        .args(["--", "/no/such/program"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
    let status = Command::new(INIT).stderr(Stdio::null()).status().unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn signals_are_forwarded_not_just_terminating_ones() {
    let script = "trap 'exit 7' USR1; while :; do sleep 0.05; done";
    let mut g = Guard(init(&[], script).spawn().unwrap());
    wait_for_sleep(g.0.id());
    send(g.0.id(), libc::SIGUSR1);
    assert_eq!(exit_code_within(&mut g, Duration::from_secs(3)), 7);
}

#[test]
fn group_forwarding_reaches_the_commands_children() {
    // `; exit` keeps the shell from exec'ing sleep, so sleep is the shell's child.
    let mut g = Guard(init(&["-g"], "sleep 100; exit 0").spawn().unwrap());
    let (sh, sleep) = wait_for_sleep(g.0.id());
    assert_ne!(sh, sleep);
    send(g.0.id(), libc::SIGTERM);
    assert_eq!(exit_code_within(&mut g, Duration::from_secs(2)), 143);
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(sleep) {
        assert!(
            Instant::now() < deadline,
            "sleep {sleep} survived -g SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
