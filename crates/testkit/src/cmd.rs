//! Running commands in tests with failures that explain themselves: a test that dies on
//! "exit status 1" without the output wastes a CI round trip.

use std::process::{Command, Output};

fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "command: {cmd:?}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"))
}

/// Runs `cmd`, panics with its full output unless it exits 0; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    if !out.status.success() {
        panic!("expected success\n{}", describe(cmd, &out));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, panics with its full output if it exits 0 (or is killed by a signal);
/// returns the exit code and stderr.
pub fn run_fail(cmd: &mut Command) -> (i32, String) {
    let out = output(cmd);
    match out.status.code() {
        Some(code) if code != 0 => (code, String::from_utf8_lossy(&out.stderr).into_owned()),
        _ => panic!("expected a non-zero exit\n{}", describe(cmd, &out)),
    }
}

/// Runs `cmd` whatever its outcome; returns (exit code or -1, stdout, stderr).
pub fn run_any(cmd: &mut Command) -> (i32, String, String) {
    let out = output(cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
