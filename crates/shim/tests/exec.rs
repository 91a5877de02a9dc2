//! Execs through the shim: attached (framed output, stdin, pty) and detached, exit codes, and
//! the state checks. Needs root and Debian's busybox-static; skipped otherwise.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{can_run, Container};
use serde_json::json;
use silo_shim::client::{attach, read_frame, Attached};
use silo_shim::protocol::{AttachRequest, ExecSpec, Request};
use silo_shim::{ClientError, ProtocolError, Status};

fn spec(id: &str, args: &[&str], tty: bool) -> ExecSpec {
    ExecSpec {
        id: id.into(),
        process: json!({
            "terminal": tty,
            "consoleSize": {"width": 90, "height": 20},
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
        }),
    }
}

fn exec_attached(c: &Container, spec: ExecSpec, stdin: bool) -> Result<Attached, ClientError> {
    let req = AttachRequest {
        stdin,
        stdout: true,
        stderr: true,
        exec: Some(spec),
    };
    attach(&c.state().join("attach.sock"), &req)
}

fn read_all(conn: &mut UnixStream) -> (String, String) {
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((stream, data)) = read_frame(conn).unwrap() {
        match stream {
            1 => out.extend_from_slice(&data),
            2 => err.extend_from_slice(&data),
            n => panic!("stream {n}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn precondition(r: Result<impl std::fmt::Debug, ClientError>, want: Status) {
    match r {
        Err(ClientError::Shim {
            source: ProtocolError::FailedPrecondition { status, .. },
            ..
        }) => assert_eq!(status, want),
        other => panic!("{other:?}"),
    }
}

#[test]
fn attached_exec_frames_output_and_keeps_its_exit_code() {
    if !can_run() {
        return;
    }
    let c = Container::run("exec", &["sleep", "1000"], &[]);
    let mut client = c.client();
    let script = "echo out; echo err >&2; exit 7";
    let mut a = exec_attached(&c, spec("e1", &["sh", "-c", script], false), false).unwrap();
    assert!(!a.tty && a.pid.is_some_and(|p| p > 0), "{a:?}");
    let (out, err) = read_all(&mut a.conn);
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let exit = client.exec_wait("e1").unwrap();
    assert_eq!((exit.code, exit.signal), (7, None));
    let info = client.exec_state("e1").unwrap();
    assert_eq!((info.pid, info.exit), (a.pid.unwrap(), Some(exit)));
    match client.exec_kill("e1", libc::SIGKILL) {
        Err(ClientError::Shim {
            source: ProtocolError::NoSuchExec { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // A second exec may not reuse the id; an unknown one is NotFound.
    match exec_attached(&c, spec("e1", &["true"], false), false) {
        Err(ClientError::Shim {
            source: ProtocolError::ExecExists { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(client.exec_wait("nope").is_err());
    // Exec output is not the container's log.
    assert!(c.logs().is_empty(), "{:?}", c.logs());
    client.kill(libc::SIGKILL, true).unwrap();
    client.wait().unwrap();
    precondition(client.exec(spec("late", &["true"], false)), Status::Stopped);
}

#[test]
fn exec_with_a_tty_and_resize() {
    if !can_run() {
        return;
    }
    let c = Container::run("exec-tty", &["sleep", "1000"], &[]);
    let mut client = c.client();
    // The initial size is applied right after the exec starts (libcontainer 0.7 cannot do it
    // before), so the script waits for a line before asking.
    let script = "tty; read x; stty size; read y; stty size";
    let mut a = exec_attached(&c, spec("t1", &["sh", "-c", script], true), true).unwrap();
    assert!(a.tty);
    a.conn
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = String::new();
    while !text.contains("/dev/pts/") {
        let (stream, data) = read_frame(&mut a.conn).unwrap().unwrap();
        assert_eq!(stream, 1);
        text.push_str(&String::from_utf8_lossy(&data));
    }
    a.conn.write_all(b"\n").unwrap();
    while !text.contains("20 90") {
        let (_, data) = read_frame(&mut a.conn).unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&data));
    }
    let resize = Request::ExecResize {
        id: "t1".into(),
        width: 70,
        height: 15,
    };
    client.call(&resize).unwrap();
    a.conn.write_all(b"\n").unwrap();
    let (rest, _) = read_all(&mut a.conn);
    assert!(rest.contains("15 70"), "{rest:?}");
    assert_eq!(client.exec_wait("t1").unwrap().code, 0);
    client.kill(libc::SIGKILL, true).unwrap();
}

#[test]
fn exec_stdin_round_trip_and_detached_exec() {
    if !can_run() {
        return;
    }
    let c = Container::run("exec-io", &["sleep", "1000"], &[]);
    let mut client = c.client();
    let mut a = exec_attached(&c, spec("cat", &["cat"], false), true).unwrap();
    a.conn.write_all(b"hi\n").unwrap();
    a.conn.shutdown(Shutdown::Write).unwrap();
    let (out, _) = read_all(&mut a.conn);
    assert_eq!(out, "hi\n");
    assert_eq!(client.exec_wait("cat").unwrap().code, 0);

    // Detached: stdio on /dev/null; its effect is visible to the next exec.
    let pid = client
        .exec(spec("touch", &["touch", "/tmp/x"], false))
        .unwrap();
    assert!(pid > 0);
    assert_eq!(client.exec_wait("touch").unwrap().code, 0);
    let mut a = exec_attached(&c, spec("ls", &["ls", "/tmp/x"], false), false).unwrap();
    assert_eq!(read_all(&mut a.conn).0, "/tmp/x\n");
    client.kill(libc::SIGKILL, true).unwrap();
}

#[test]
fn exec_needs_a_running_container() {
    if !can_run() {
        return;
    }
    let c = Container::run("exec-created", &["sleep", "1000"], &["--no-start"]);
    let mut client = c.client();
    precondition(client.exec(spec("x", &["true"], false)), Status::Created);
    client.start().unwrap();
    client.call(&Request::Pause).unwrap();
    precondition(client.exec(spec("x", &["true"], false)), Status::Paused);
    client.kill(libc::SIGKILL, true).unwrap();
    client.wait().unwrap();
}
