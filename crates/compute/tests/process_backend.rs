//! The process backend on the real kernel: overlay sandbox, the real `silo-shim`, youki's
//! libcontainer, cgroups. Needs root and Debian's busybox-static; skipped otherwise.
//!
//! The shim binary is taken from `<workspace>/target/debug/silo-shim` (or `SILO_SHIM`); build it
//! first with `cargo build -p silo-shim` (CI's test.sh builds the workspace before testing).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use silo_compute::host::CgroupInfo;
use silo_compute::process::{rootfs, ProcessComputeService};
use silo_compute::{AttachOptions, ComputeService, Event, ExitType, PropertyQuery, State, Stdio};
use silo_errdefs::{ErrorKind, HasKind};
use silo_shim::ShimClient;

mod common;

use common::{can_run, log_text, shim_binary, Fixture};

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_log_events_and_delete() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let mut events = fx.service.subscribe();
    let (system, c) = fx.create("exit", &["sh", "-c", "echo hi; exit 3"]).await;
    assert!(rootfs::is_mounted(&c.sandbox.join("rootfs")).unwrap());
    assert_eq!(
        system
            .properties(PropertyQuery::default())
            .await
            .unwrap()
            .state,
        State::Created
    );
    system.start().await.unwrap();
    let status = system.wait().await.unwrap();
    assert_eq!(status.code, 3);
    assert_eq!(status.exit_type, ExitType::GracefulExit);
    assert_eq!(log_text(&c.state), "hi\n");

    let err = system.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Stopped);
    assert_eq!(props.exit_status, Some(status));
    assert!(props.started_at.is_some());

    system.delete().await.unwrap();
    assert!(!c.state.exists(), "state dir removed");
    assert!(!c.sandbox.exists(), "sandbox unmounted and removed");
    let err = system
        .properties(PropertyQuery::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e.event);
    }
    assert!(matches!(seen.first(), Some(Event::Created)), "{seen:?}");
    assert!(
        matches!(seen.get(1), Some(Event::Started { pid }) if *pid > 0),
        "{seen:?}"
    );
    assert!(matches!(seen.get(2), Some(Event::Exited { status }) if status.code == 3));
    assert!(matches!(seen.last(), Some(Event::Deleted)), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_land_in_the_sandbox_not_the_layer() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx
        .create("write", &["sh", "-c", "echo data > /newfile; rm /bin/ls"])
        .await;
    system.start().await.unwrap();
    assert_eq!(system.wait().await.unwrap().code, 0);
    let upper = c.sandbox.join("upper");
    assert_eq!(fs::read_to_string(upper.join("newfile")).unwrap(), "data\n");
    assert!(!fx.layer().join("newfile").exists());
    assert!(
        fx.layer().join("bin/ls").exists(),
        "the layer keeps its files"
    );
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_kills_after_the_timeout_and_properties_see_processes() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "trap '' TERM; sleep 1000 & wait";
    let (system, _c) = fx.create("stop", &["sh", "-c", script]).await;
    system.start().await.unwrap();

    let query = PropertyQuery {
        process_list: true,
        statistics: true,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let props = loop {
        let props = system.properties(query).await.unwrap();
        let listed = props.process_list.as_ref();
        if listed.is_some_and(|l| l.iter().any(|p| p.command == "sleep 1000")) {
            break props;
        }
        assert!(Instant::now() < deadline, "no sleep in {props:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(props.state, State::Running);
    let list = props.process_list.unwrap();
    assert!(list.iter().any(|p| Some(p.pid) == props.pid), "{list:?}");
    let stats = props.statistics.unwrap();
    assert!(stats.memory.usage > 0, "{stats:?}");
    let err = system.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");

    let begin = Instant::now();
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(1))
        .await
        .unwrap();
    let took = begin.elapsed();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    assert_eq!(status.signal, Some(libc::SIGKILL));
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let err = system.shutdown(libc::SIGTERM, Duration::from_secs(1)).await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::FailedPrecondition);
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_is_graceful_when_the_signal_suffices() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "trap 'exit 0' TERM; while :; do sleep 0.05; done";
    let (system, _c) = fx.create("graceful", &["sh", "-c", script]).await;
    system.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = system
        .shutdown(libc::SIGTERM, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status.exit_type, ExitType::GracefulExit);
    assert_eq!(status.code, 0);
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn open_reconnects_after_the_service_is_dropped() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("reopen", &["sleep", "1000"]).await;
    system.start().await.unwrap();
    drop(system);

    let service = Fixture::service(fx.dir.path());
    let system = service.open(&c.id).await.unwrap();
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Running);
    assert_eq!(props.owner, "test");
    let list = service.list().await.unwrap();
    assert!(
        list.iter()
            .any(|s| s.id == c.id && s.state == State::Running),
        "{list:?}"
    );
    // Terminating a paused system thaws it so the kill lands.
    system.pause().await.unwrap();
    let state = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(state.state, State::Paused);
    let status = system.terminate().await.unwrap();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    assert_eq!(status.code, 137);
    system.delete().await.unwrap();
    let err = service.open(&c.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_duplicates_and_unsupported_documents() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("dup", &["true"]).await;
    let (doc, _same) = fx.document("dup", &["true"]);
    let err = fx.service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");

    // init: true with no usable init binary: refused before anything is acquired, naming the
    // path and the fix.
    let missing = fx.dir.path().join("no-silo-init");
    let cgroups = CgroupInfo::detect().unwrap();
    let service =
        ProcessComputeService::new(fx.dir.path().join("st"), shim_binary(), missing, cgroups)
            .unwrap();
    let (mut doc, cleanup) = fx.document("init", &["true"]);
    doc.init = true;
    let err = service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("no-silo-init"), "{err}");
    assert!(err.to_string().contains("scripts/build-init.sh"), "{err}");
    assert!(!cleanup.state.exists() && !cleanup.sandbox.exists());

    let (mut doc, cleanup) = fx.document("nolayer", &["true"]);
    doc.rootfs.layers = vec![fx.dir.path().join("missing")];
    let err = fx.service.create(doc, Stdio::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!cleanup.state.exists() && !cleanup.sandbox.exists());

    // Deleting a Created system ends its waiting PID 1 and releases everything.
    system.delete().await.unwrap();
    assert!(!c.state.exists() && !c.sandbox.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_shim_is_cleaned_up_and_reported_as_unexpected() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let (system, c) = fx.create("lost", &["sleep", "1000"]).await;
    system.start().await.unwrap();
    let pid = system
        .properties(PropertyQuery::default())
        .await
        .unwrap()
        .pid
        .unwrap();
    let shim = ShimClient::connect(&c.state.join("shim.sock"))
        .unwrap()
        .shim_pid();
    drop(system);
    // SAFETY: kill has no memory-safety preconditions; the pid is the shim this test started.
    assert_eq!(unsafe { libc::kill(shim as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{shim}/status")).exists()
        && fs::read_to_string(format!("/proc/{shim}/status"))
            .is_ok_and(|s| !s.contains("State:\tZ"))
    {
        assert!(Instant::now() < deadline, "shim still alive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let service = Fixture::service(fx.dir.path());
    let system = service.open(&c.id).await.unwrap();
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Stopped);
    let status = props.exit_status.unwrap();
    assert_eq!(status.exit_type, ExitType::UnexpectedExit);
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .is_empty(),
        "the container's process was killed"
    );
    system.delete().await.unwrap();
    assert!(!c.state.exists() && !c.sandbox.exists());
}

/// Reads stdcopy frames until end-of-file: (stdout, stderr, stream numbers seen).
async fn read_frames(stream: &mut silo_compute::AttachStream) -> (String, String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let (mut out, mut err, mut seen) = (Vec::new(), Vec::new(), Vec::new());
    let read = async {
        loop {
            let mut header = [0u8; 8];
            match stream.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("{e}"),
            }
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let mut data = vec![0u8; len as usize];
            stream.read_exact(&mut data).await.unwrap();
            seen.push(header[0]);
            match header[0] {
                1 => out.extend_from_slice(&data),
                2 => err.extend_from_slice(&data),
                n => panic!("stream {n}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("attach stream ends after the exit");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        seen,
    )
}

/// Reads frames until the text so far contains `want`.
async fn read_until(stream: &mut silo_compute::AttachStream, want: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    let read = async {
        while !text.contains(want) {
            let mut header = [0u8; 8];
            stream.read_exact(&mut header).await.unwrap();
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let mut data = vec![0u8; len as usize];
            stream.read_exact(&mut data).await.unwrap();
            text.push_str(&String::from_utf8_lossy(&data));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no {want:?}"));
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_before_start_gets_framed_output_and_stopped_refuses() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "echo out; echo err >&2; echo out2";
    let (system, c) = fx.create("attach", &["sh", "-c", script]).await;
    let opts = AttachOptions {
        stdin: false,
        stdout: true,
        stderr: true,
    };
    let mut stream = system.attach(opts).await.unwrap();
    system.start().await.unwrap();
    let (out, err, _) = read_frames(&mut stream).await;
    assert_eq!((out.as_str(), err.as_str()), ("out\nout2\n", "err\n"));
    assert_eq!(system.wait().await.unwrap().code, 0);
    assert_eq!(log_text(&c.state).len(), "out\nerr\nout2\n".len());

    let err = system.attach(opts).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let err = system.resize_console(80, 24).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_stdin_once_round_trip_through_cat() {
    if !can_run() {
        return;
    }
    use tokio::io::AsyncWriteExt;
    let fx = Fixture::new();
    let (mut doc, _c) = fx.document("stdin", &["cat"]);
    doc.process.open_stdin = true;
    doc.process.stdin_once = true;
    let system = fx.service.create(doc, Stdio::default()).await.unwrap();
    // Without a terminal, resize is refused for what it is.
    let err = system.resize_console(80, 24).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
    };
    let mut stream = system.attach(opts).await.unwrap();
    system.start().await.unwrap();
    stream.write_all(b"hello\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let (out, err, _) = read_frames(&mut stream).await;
    assert_eq!((out.as_str(), err.as_str()), ("hello\n", ""));
    let status = system.wait().await.unwrap();
    assert_eq!((status.code, status.exit_type), (0, ExitType::GracefulExit));
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_gets_a_pty_with_its_size_and_resizes() {
    if !can_run() {
        return;
    }
    use tokio::io::AsyncWriteExt;
    let fx = Fixture::new();
    let script = "tty; stty size; read x; stty size; echo bye";
    let (mut doc, c) = fx.document("tty", &["sh", "-c", script]);
    doc.process.terminal = true;
    doc.process.open_stdin = true;
    doc.process.console_size = Some(silo_compute::ConsoleSize {
        width: 100,
        height: 30,
    });
    let system = fx.service.create(doc, Stdio::default()).await.unwrap();
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
    };
    let mut stream = system.attach(opts).await.unwrap();
    system.start().await.unwrap();
    let text = read_until(&mut stream, "30 100").await;
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    system.resize_console(120, 40).await.unwrap();
    stream.write_all(b"go\n").await.unwrap();
    let resized = read_until(&mut stream, "40 120").await;
    let (rest, err, seen) = read_frames(&mut stream).await;
    assert!(format!("{resized}{rest}").contains("bye"), "{rest:?}");
    assert!(err.is_empty() && seen.iter().all(|&s| s == 1), "{seen:?}");
    assert_eq!(system.wait().await.unwrap().code, 0);
    let log = log_text(&c.state);
    for want in ["/dev/pts/0", "30 100", "40 120", "bye"] {
        assert!(log.contains(want), "{want} in {log:?}");
    }
    system.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_freezes_and_resume_continues_with_events() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let mut events = fx.service.subscribe();
    let script = "while true; do echo x; sleep 0.1; done";
    let (system, c) = fx.create("pause", &["sh", "-c", script]).await;
    let err = system.pause().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "created: {err}");
    system.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    system.pause().await.unwrap();
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Paused);
    let err = system.pause().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let frozen = log_text(&c.state).len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(log_text(&c.state).len(), frozen, "no output while paused");
    system.resume().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_text(&c.state).len() <= frozen + 4 {
        assert!(Instant::now() < deadline, "no output after resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = system.terminate().await.unwrap();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    system.delete().await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e.event);
    }
    let paused = seen.iter().position(|e| matches!(e, Event::Paused));
    let resumed = seen.iter().position(|e| matches!(e, Event::Resumed));
    assert!(paused.is_some() && paused < resumed, "{seen:?}");
}

fn exec_params(args: &[&str]) -> silo_compute::ProcessParameters {
    serde_json::from_value(json!({ "args": args })).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_output_tty_stdin_and_detached() {
    if !can_run() {
        return;
    }
    use silo_compute::ProcessIo;
    use tokio::io::AsyncWriteExt;
    let fx = Fixture::new();
    let mut events = fx.service.subscribe();
    let (system, c) = fx.create("exec", &["sleep", "1000"]).await;
    let err = system
        .create_process(exec_params(&["true"]), ProcessIo::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "created: {err}");
    system.start().await.unwrap();
    let all = ProcessIo {
        attach: Some(AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
        }),
    };

    // Framed output and the exit code.
    let script = "echo out; echo err >&2; exit 7";
    let (p, stream) = system
        .create_process(exec_params(&["sh", "-c", script]), all)
        .await
        .unwrap();
    assert!(p.pid() > 0);
    let (out, err, _) = read_frames(&mut stream.unwrap()).await;
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let status = p.wait().await.unwrap();
    assert_eq!(status.code, 7);
    let err = p.signal(libc::SIGKILL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // A terminal, resized.
    let mut params = exec_params(&["sh", "-c", "tty; read x; stty size"]);
    params.terminal = true;
    let (p, stream) = system.create_process(params, all).await.unwrap();
    let mut stream = stream.unwrap();
    let text = read_until(&mut stream, "/dev/pts/").await;
    assert!(!text.is_empty());
    p.resize_console(70, 15).await.unwrap();
    stream.write_all(b"\n").await.unwrap();
    let (rest, err, seen) = read_frames(&mut stream).await;
    assert!(rest.contains("15 70"), "{rest:?}");
    assert!(err.is_empty() && seen.iter().all(|&s| s == 1));
    assert_eq!(p.wait().await.unwrap().code, 0);

    // stdin through cat; the half-close is its EOF.
    let (p, stream) = system
        .create_process(exec_params(&["cat"]), all)
        .await
        .unwrap();
    let mut stream = stream.unwrap();
    stream.write_all(b"hi\n").await.unwrap();
    stream.shutdown().await.unwrap();
    assert_eq!(read_frames(&mut stream).await.0, "hi\n");
    assert_eq!(p.wait().await.unwrap().code, 0);

    // Detached: no stream, no stdin, no terminal; its effect is visible.
    let (p, none) = system
        .create_process(exec_params(&["touch", "/tmp/x"]), ProcessIo::default())
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(p.wait().await.unwrap().code, 0);
    let err = p.close_stdin().await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::FailedPrecondition | ErrorKind::NotFound
        ),
        "{err}"
    );
    let (_, stream) = system
        .create_process(exec_params(&["ls", "/tmp/x"]), all)
        .await
        .unwrap();
    assert_eq!(read_frames(&mut stream.unwrap()).await.0, "/tmp/x\n");
    assert_eq!(
        log_text(&c.state),
        "",
        "exec output is not the container's log"
    );

    system.terminate().await.unwrap();
    let err = system
        .create_process(exec_params(&["true"]), ProcessIo::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "stopped: {err}");
    system.delete().await.unwrap();
    let mut created = 0;
    let mut exited = 0;
    while let Ok(e) = events.try_recv() {
        match e.event {
            Event::ProcessCreated { .. } => created += 1,
            Event::ProcessExited { .. } => exited += 1,
            _ => {}
        }
    }
    assert_eq!(created, 5);
    assert!(exited >= 4, "{exited}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_namespace_remaps_root_over_idmapped_layers() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new();
    let script = "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; \
                  mkdir /made && touch /made/file && stat -c %u /made/file";
    let (mut doc, c) = fx.document("userns", &["sh", "-c", script]);
    let map = silo_compute::IdMap {
        container_id: 0,
        host_id: 200_000,
        size: 65_536,
    };
    doc.user_namespace = Some(silo_compute::UserNamespace {
        uid_map: vec![map],
        gid_map: vec![map],
    });
    let system = fx.service.create(doc, Stdio::default()).await.unwrap();
    system.start().await.unwrap();
    let status = system.wait().await.unwrap();
    let log = log_text(&c.state);
    assert_eq!(status.code, 0, "{log}");
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "root inside: {log}");
    let uid_map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(uid_map, ["0", "200000", "65536"], "{log}");
    assert_eq!(lines[2], "0", "layer files are root's inside: {log}");
    assert_eq!(lines[3], "0", "new files are root's inside: {log}");

    // On the host the writes belong to the mapped id, and the layer is untouched.
    use std::os::unix::fs::MetadataExt;
    let made = fs::metadata(c.sandbox.join("upper/made/file")).unwrap();
    assert_eq!(made.uid(), 200_000);
    let layer_file = fs::metadata(fx.layer().join("bin/busybox")).unwrap();
    assert_eq!(layer_file.uid(), 0);

    system.delete().await.unwrap();
    assert!(
        !c.sandbox.exists(),
        "sandbox and its idmapped layers removed"
    );
    assert!(
        fx.layer().join("bin/busybox").exists(),
        "removing the sandbox must not reach into the layer it had mounted"
    );
}
