//! Live streams on `attach.sock`, terminals and pause/resume, on the real `silo-shim run` with a
//! busybox bundle. Needs root and Debian's busybox-static; skipped otherwise.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{can_run, wait_until, Container};
use silo_shim::client::{attach, read_frame};
use silo_shim::logs::Stream;
use silo_shim::protocol::{AttachRequest, Request};
use silo_shim::{ClientError, ProtocolError, Status};

fn attach_to(c: &Container, stdin: bool, stdout: bool, stderr: bool) -> (UnixStream, bool) {
    let req = AttachRequest {
        stdin,
        stdout,
        stderr,
        exec: None,
    };
    let a = attach(&c.state().join("attach.sock"), &req).unwrap();
    (a.conn, a.tty)
}

/// Reads frames until end-of-file: (stdout, stderr, every stream number seen).
fn read_all(conn: &mut UnixStream) -> (String, String, Vec<u8>) {
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut out, mut err, mut seen) = (Vec::new(), Vec::new(), Vec::new());
    while let Some((stream, data)) = read_frame(conn).unwrap() {
        seen.push(stream);
        match stream {
            1 => out.extend_from_slice(&data),
            2 => err.extend_from_slice(&data),
            other => panic!("stream {other}"),
        }
    }
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        seen,
    )
}

/// Reads stream-1 frames until the text so far contains `want`; returns that text.
fn read_until(conn: &mut UnixStream, want: &str) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = String::new();
    while !text.contains(want) {
        match read_frame(conn) {
            Ok(Some((1, data))) => text.push_str(&String::from_utf8_lossy(&data)),
            other => panic!("waiting for {want:?} after {text:?}: {other:?}"),
        }
    }
    text
}

#[test]
fn attach_before_start_gets_framed_stdout_and_stderr() {
    if !can_run() {
        return;
    }
    let script = "echo out; echo err >&2; echo out2";
    let mut c = Container::run("frames", &["sh", "-c", script], &["--no-start"]);
    let (mut both, tty) = attach_to(&c, false, true, true);
    assert!(!tty);
    let (mut only_err, _) = attach_to(&c, false, false, true);
    let mut client = c.client();
    client.start().unwrap();

    let (out, err, seen) = read_all(&mut both);
    assert_eq!(out, "out\nout2\n");
    assert_eq!(err, "err\n");
    assert!(seen.contains(&1) && seen.contains(&2), "{seen:?}");
    let (out, err, _) = read_all(&mut only_err);
    assert_eq!((out.as_str(), err.as_str()), ("", "err\n"));
    // End-of-file came after the exit was recorded.
    assert_eq!(client.state().unwrap().status, Status::Stopped);
    assert_eq!(client.wait().unwrap().code, 0);

    // The log is still complete.
    let logs = c.logs();
    assert!(logs.contains(&(Stream::Stdout, "out\n".into())), "{logs:?}");
    assert!(
        logs.contains(&(Stream::Stdout, "out2\n".into())),
        "{logs:?}"
    );
    assert!(logs.contains(&(Stream::Stderr, "err\n".into())), "{logs:?}");

    // Attaching to a stopped container is refused with a typed error.
    let req = AttachRequest {
        stdout: true,
        ..AttachRequest::default()
    };
    match attach(&c.state().join("attach.sock"), &req) {
        Err(ClientError::Shim {
            source: ProtocolError::FailedPrecondition { status, .. },
            ..
        }) => assert_eq!(status, Status::Stopped),
        other => panic!("{other:?}"),
    }
    c.shutdown(&mut client);
}

#[test]
fn stdin_once_half_close_ends_cat() {
    if !can_run() {
        return;
    }
    let flags = ["--no-start", "--open-stdin", "--stdin-once"];
    let c = Container::run("stdin-once", &["cat"], &flags);
    let (mut conn, _) = attach_to(&c, true, true, true);
    let mut client = c.client();
    client.start().unwrap();
    conn.write_all(b"hello\nworld\n").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let (out, err, _) = read_all(&mut conn);
    assert_eq!((out.as_str(), err.as_str()), ("hello\nworld\n", ""));
    assert_eq!(client.wait().unwrap().code, 0);
    let logs = c.logs();
    assert_eq!(
        logs,
        [
            (Stream::Stdout, "hello\n".to_string()),
            (Stream::Stdout, "world\n".to_string())
        ]
    );
}

#[test]
fn half_close_without_stdin_once_keeps_stdin_open() {
    if !can_run() {
        return;
    }
    let c = Container::run("stdin-open", &["cat"], &["--open-stdin"]);
    let (mut first, _) = attach_to(&c, true, true, false);
    first.write_all(b"one\n").unwrap();
    first.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_until(&mut first, "one\n"), "one\n");
    // cat is still running and a second client can still feed it.
    let mut client = c.client();
    assert_eq!(client.state().unwrap().status, Status::Running);
    let (mut second, _) = attach_to(&c, true, true, false);
    second.write_all(b"two\n").unwrap();
    assert_eq!(read_until(&mut second, "two\n"), "two\n");
    client.close_stdin().unwrap();
    assert_eq!(client.wait().unwrap().code, 0);
    let (rest, _, _) = read_all(&mut first);
    assert_eq!(rest, "two\n", "broadcast to every client");
}

#[test]
fn tty_gets_a_pty_and_resize_reaches_it() {
    if !can_run() {
        return;
    }
    let script = "tty; stty size; read x; stty size; echo bye";
    let flags = ["--no-start", "--tty", "--open-stdin"];
    let c = Container::run("tty", &["sh", "-c", script], &flags);
    let (mut conn, tty) = attach_to(&c, true, true, true);
    assert!(tty);
    let mut client = c.client();
    client.start().unwrap();
    let text = read_until(&mut conn, "30 100");
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    client
        .call(&Request::Resize {
            width: 120,
            height: 40,
        })
        .unwrap();
    conn.write_all(b"go\n").unwrap();
    let resized = read_until(&mut conn, "40 120");
    let (rest, err, seen) = read_all(&mut conn);
    assert!(format!("{resized}{rest}").contains("bye"), "{rest:?}");
    assert!(err.is_empty() && seen.iter().all(|&s| s == 1));
    assert_eq!(client.wait().unwrap().code, 0);
    // The terminal's output is logged as stdout, line by line (with the pty's \r\n).
    let logs: Vec<String> = c
        .logs()
        .into_iter()
        .map(|(s, l)| {
            assert_eq!(s, Stream::Stdout);
            l.trim_end().to_string()
        })
        .collect();
    for line in ["/dev/pts/0", "30 100", "40 120", "bye"] {
        assert!(logs.iter().any(|l| l == line), "{line} in {logs:?}");
    }
}

#[test]
fn a_client_that_never_reads_is_disconnected_not_waited_for() {
    if !can_run() {
        return;
    }
    // ~4 MiB of output against a 1 MiB client buffer and a socket nobody reads.
    let script = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 4194304; echo; echo done";
    let c = Container::run("stall", &["sh", "-c", script], &["--no-start"]);
    let (mut idle, _) = attach_to(&c, false, true, true);
    let mut client = c.client();
    let begun = Instant::now();
    client.start().unwrap();
    let exit = client.wait().unwrap();
    assert_eq!(exit.code, 0);
    assert!(
        begun.elapsed() < Duration::from_secs(30),
        "{:?}",
        begun.elapsed()
    );
    wait_until(
        || c.logs().last().is_some_and(|(_, l)| l == "done\n"),
        "the log is complete",
    );
    // It got what was buffered, then the shim hung up on it.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = 0;
    while let Ok(Some((_, data))) = read_frame(&mut idle) {
        got += data.len();
    }
    assert!(got < 4 * 1024 * 1024, "{got}");
}

#[test]
fn pause_freezes_output_and_resume_continues() {
    if !can_run() {
        return;
    }
    let script = "while true; do echo x; sleep 0.1; done";
    let c = Container::run("pause", &["sh", "-c", script], &[]);
    c.wait_for_log("x\n");
    let mut client = c.client();
    client.call(&Request::Pause).unwrap();
    assert_eq!(client.state().unwrap().status, Status::Paused);
    assert!(client.call(&Request::Pause).is_err(), "pause twice");
    // A line may be in flight while the freezer settles.
    std::thread::sleep(Duration::from_millis(300));
    let frozen = c.logs().len();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(c.logs().len(), frozen, "no output while paused");
    client.call(&Request::Resume).unwrap();
    assert_eq!(client.state().unwrap().status, Status::Running);
    wait_until(|| c.logs().len() > frozen + 2, "output after resume");
    // A paused container can still be killed.
    client.call(&Request::Pause).unwrap();
    client.kill(libc::SIGKILL, true).unwrap();
    let exit = client.wait().unwrap();
    assert_eq!(exit.signal, Some(libc::SIGKILL));
}
