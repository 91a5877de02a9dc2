//! Serving the protocol on `<state>/shim.sock`: one thread per connection, one request at a time.

use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

use super::{Shared, THREAD_STACK};
use crate::protocol::{
    self, check_version, ProtocolError, Request, Response, StateInfo, Status, PROTOCOL_VERSION,
};
use crate::SOCKET_FILE;

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
        Request::Resize { .. } => bad(ProtocolError::NotImplemented {
            what: "resize (this container has no pty)".into(),
        }),
        Request::CloseStdin => {
            shared
                .stdin
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
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
        Request::Shutdown => {
            let status = shared.inner().status;
            if status != Status::Stopped {
                return precondition("shut down the shim of", status);
            }
            Response::Done
        }
    }
}
