//! Serving the protocol on `<state>/shim.sock`: one thread per connection, one request at a time.

use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

use super::{Shared, THREAD_STACK};
use crate::protocol::{
    self, check_version, ProtocolError, Request, Response, StateInfo, Status, PROTOCOL_VERSION,
};
use crate::{ATTACH_SOCKET_FILE, SOCKET_FILE};

pub(super) fn accept_loop(shared: Arc<Shared>, listener: UnixListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let shared = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name("conn".into())
                    .stack_size(THREAD_STACK)
                    .spawn(move || serve(&shared, stream));
                if let Err(e) = spawned {
                    eprintln!("silo-shim: spawn connection thread: {e}");
                }
            }
            Err(e) => eprintln!("silo-shim: accept: {e}"),
        }
    }
}

/// Serves one connection until the peer hangs up, breaks the protocol, or shuts us down.
fn serve(shared: &Shared, stream: UnixStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut greeted = false;
    while let Ok(Some(line)) = protocol::read_line(&mut reader) {
        let req = serde_json::from_str::<Request>(&line);
        let shutdown = matches!(req, Ok(Request::Shutdown));
        let (resp, close) = match req {
            Err(e) => (
                bad(ProtocolError::BadRequest {
                    message: e.to_string(),
                }),
                false,
            ),
            Ok(Request::Hello { version }) => match check_version(version) {
                Ok(()) => {
                    greeted = true;
                    let hello = Response::Hello {
                        version: PROTOCOL_VERSION,
                        id: shared.id.clone(),
                        shim_pid: std::process::id(),
                    };
                    (hello, false)
                }
                Err(e) => (bad(e), true),
            },
            Ok(_) if !greeted => (bad(ProtocolError::HelloRequired), true),
            Ok(req) => (handle(shared, &req), false),
        };
        let done = matches!(resp, Response::Done);
        if protocol::write_message(&mut writer, &resp).is_err() || close {
            return;
        }
        if shutdown && done {
            // The exit is on disk and was reported; nothing is left to hand over.
            let _ = std::fs::remove_file(shared.state.join(SOCKET_FILE));
            let _ = std::fs::remove_file(shared.state.join(ATTACH_SOCKET_FILE));
            std::process::exit(0);
        }
    }
}

fn bad(e: ProtocolError) -> Response {
    Response::Error(e)
}

fn handle(shared: &Shared, req: &Request) -> Response {
    let precondition = |op: &str, status| {
        bad(ProtocolError::FailedPrecondition {
            op: op.to_string(),
            id: shared.id.clone(),
            status,
        })
    };
    let runtime_err = |e: crate::runtime::RuntimeError| {
        bad(ProtocolError::Runtime {
            op: e.op.to_string(),
            id: e.id,
            message: e.message,
        })
    };
    match req {
        // `serve` answers every Hello itself; this arm only keeps the match exhaustive.
        Request::Hello { .. } => bad(ProtocolError::BadRequest {
            message: "hello is answered by the connection".into(),
        }),
        Request::State => {
            let inner = shared.inner();
            Response::State(StateInfo {
                id: shared.id.clone(),
                status: inner.status,
                pid: Some(inner.pid),
                exit: inner.exit.clone(),
            })
        }
        Request::Start => {
            let mut rt = shared.runtime();
            let status = shared.inner().status;
            if status != Status::Created || shared.inner().reaped {
                return precondition("start", status);
            }
            if let Err(e) = rt.start() {
                return runtime_err(e);
            }
            let mut inner = shared.inner();
            if inner.status == Status::Created {
                inner.status = Status::Running;
            }
            Response::Done
        }
        Request::Kill { signal, all } => {
            // Holding the runtime lock keeps the reaper from freeing PID 1's pid meanwhile.
            let mut rt = shared.runtime();
            let inner = shared.inner();
            if inner.reaped {
                return precondition("kill", Status::Stopped);
            }
            drop(inner);
            match rt.kill(*signal, *all) {
                Ok(()) => Response::Done,
                Err(e) => runtime_err(e),
            }
        }
        Request::Pause | Request::Resume => {
            let pause = matches!(req, Request::Pause);
            let (op, from, to) = if pause {
                ("pause", Status::Running, Status::Paused)
            } else {
                ("resume", Status::Paused, Status::Running)
            };
            let mut rt = shared.runtime();
            let inner = shared.inner();
            let status = inner.status;
            if status != from || inner.reaped {
                return precondition(op, status);
            }
            drop(inner);
            let done = if pause { rt.pause() } else { rt.resume() };
            if let Err(e) = done {
                return runtime_err(e);
            }
            let mut inner = shared.inner();
            if inner.status == from {
                inner.status = to;
            }
            Response::Done
        }
        Request::Resize { width, height } => match &shared.console {
            Some(master) => match crate::sys::set_winsize(master, *width, *height) {
                Ok(()) => Response::Done,
                Err(e) => bad(ProtocolError::Runtime {
                    op: "resize the terminal of".into(),
                    id: shared.id.clone(),
                    message: e.to_string(),
                }),
            },
            None => bad(ProtocolError::NoTerminal {
                what: format!("container {}", shared.id),
            }),
        },
        Request::CloseStdin => {
            if let Some(sink) = &shared.stdin {
                sink.close();
            }
            Response::Done
        }
        Request::Wait => {
            let mut inner = shared.inner();
            loop {
                if let Some(exit) = &inner.exit {
                    return Response::Exit(exit.clone());
                }
                inner = shared
                    .changed
                    .wait(inner)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        Request::Exec(spec) => {
            match super::exec::prepare(shared, spec.clone(), None).and_then(|l| l.run()) {
                Ok(exec) => Response::ExecStarted { pid: exec.pid },
                Err(e) => bad(e),
            }
        }
        Request::ExecState { id } => match shared.exec(id) {
            Ok(exec) => Response::ExecState(exec.info()),
            Err(e) => bad(e),
        },
        Request::ExecWait { id } => match shared.exec(id) {
            Ok(exec) => Response::Exit(exec.wait()),
            Err(e) => bad(e),
        },
        Request::ExecKill { id, signal } => {
            // Holding the runtime lock keeps the reaper from freeing the exec's pid meanwhile.
            let _rt = shared.runtime();
            let exec = match shared.exec(id) {
                Ok(exec) if exec.exit().is_none() => exec,
                Ok(_) | Err(_) => return bad(ProtocolError::NoSuchExec { id: id.clone() }),
            };
            match crate::sys::kill(exec.pid, *signal) {
                Ok(()) => Response::Done,
                Err(e) => bad(ProtocolError::Runtime {
                    op: format!("signal exec {id} in"),
                    id: shared.id.clone(),
                    message: e.to_string(),
                }),
            }
        }
        Request::ExecResize { id, width, height } => {
            match shared.exec(id).and_then(|e| e.resize(*width, *height)) {
                Ok(()) => Response::Done,
                Err(e) => bad(e),
            }
        }
        Request::ExecCloseStdin { id } => match shared.exec(id).and_then(|e| e.close_stdin()) {
            Ok(()) => Response::Done,
            Err(e) => bad(e),
        },
        Request::Shutdown => {
            let status = shared.inner().status;
            if status != Status::Stopped {
                return precondition("shut down the shim of", status);
            }
            Response::Done
        }
    }
}
