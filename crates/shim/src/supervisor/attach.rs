//! Live streams on `<state>/attach.sock` (see the protocol module's "Attach" section).
//!
//! A [`Hub`] per process broadcasts every chunk its output pumps read to the clients attached
//! at that moment. Each client has a bounded queue drained by its connection thread, so a slow
//! client only delays the pump (backpressure) until [`STALL_TIMEOUT`]; then it is disconnected
//! and the container carries on. A [`StdinSink`] is where clients' stdin bytes go.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{spawn, Shared};
use crate::logs::Stream;
use crate::protocol::{
    self, frame_header, AttachReply, AttachRequest, ProtocolError, Status, ATTACH_BUFFER,
    STREAM_STDERR, STREAM_STDOUT,
};

/// How long a client may take to send its request line.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the output pump waits for a full client queue before disconnecting the client.
const STALL_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The attached clients of one process's output.
#[derive(Debug)]
pub(super) struct Hub {
    /// With a terminal all output is stream 1.
    pub(super) tty: bool,
    inner: Mutex<HubInner>,
}

#[derive(Debug, Default)]
struct HubInner {
    clients: Vec<Arc<Client>>,
    /// The process exited and its output was drained: no new clients, and the queued ones end.
    closed: bool,
}

/// One attached connection's output side.
#[derive(Debug)]
pub(super) struct Client {
    stdout: bool,
    stderr: bool,
    /// A handle on the connection, to unblock its writer when the client is disconnected.
    sock: UnixStream,
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Arc<[u8]>>,
    bytes: usize,
    closing: bool,
    dead: bool,
}

impl Hub {
    pub(super) fn new(tty: bool) -> Self {
        Hub {
            tty,
            inner: Mutex::new(HubInner::default()),
        }
    }

    /// Adds a client; `None` once the hub is closed.
    fn join(&self, sock: &UnixStream, stdout: bool, stderr: bool) -> Option<Arc<Client>> {
        let sock = sock.try_clone().ok()?;
        let mut inner = lock(&self.inner);
        if inner.closed {
            return None;
        }
        let client = Arc::new(Client {
            stdout,
            stderr,
            sock,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        inner.clients.push(Arc::clone(&client));
        Some(client)
    }

    fn leave(&self, client: &Arc<Client>) {
        lock(&self.inner)
            .clients
            .retain(|c| !Arc::ptr_eq(c, client));
    }

    /// Sends `data` from `stream` to every client that asked for it.
    pub(super) fn broadcast(&self, stream: Stream, data: &[u8]) {
        let clients = lock(&self.inner).clients.clone();
        if clients.is_empty() || data.is_empty() {
            return;
        }
        let number = match (self.tty, stream) {
            (true, _) | (false, Stream::Stdout) => STREAM_STDOUT,
            (false, Stream::Stderr) => STREAM_STDERR,
        };
        let mut frame: Option<Arc<[u8]>> = None;
        for client in clients {
            let wanted = match (self.tty, stream) {
                (true, _) => client.stdout || client.stderr,
                (false, Stream::Stdout) => client.stdout,
                (false, Stream::Stderr) => client.stderr,
            };
            if !wanted {
                continue;
            }
            let frame = frame.get_or_insert_with(|| {
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                let mut f = Vec::with_capacity(8 + data.len());
                f.extend_from_slice(&frame_header(number, len));
                f.extend_from_slice(data);
                f.into()
            });
            if !client.push(frame) {
                self.leave(&client);
            }
        }
    }

    /// The process's output is over: every client gets what is queued, then end-of-file.
    pub(super) fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        for client in inner.clients.drain(..) {
            lock(&client.queue).closing = true;
            client.changed.notify_all();
        }
    }
}

impl Client {
    /// Queues a frame, waiting up to [`STALL_TIMEOUT`] for room; false if the client is gone.
    fn push(&self, frame: &Arc<[u8]>) -> bool {
        let deadline = Instant::now() + STALL_TIMEOUT;
        let mut q = lock(&self.queue);
        while !q.dead && q.bytes > 0 && q.bytes + frame.len() > ATTACH_BUFFER {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                eprintln!("silo-shim: attached client stayed {ATTACH_BUFFER} bytes behind; disconnecting it");
                q.dead = true;
                drop(q);
                self.changed.notify_all();
                let _ = self.sock.shutdown(Shutdown::Both);
                return false;
            }
            q = self
                .changed
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if q.dead {
            return false;
        }
        q.bytes += frame.len();
        q.frames.push_back(Arc::clone(frame));
        drop(q);
        self.changed.notify_all();
        true
    }

    /// Writes queued frames until the hub closes (then drains) or the client goes away.
    fn write_loop(&self, mut out: &UnixStream) {
        loop {
            let mut q = lock(&self.queue);
            let frame = loop {
                if q.dead {
                    return;
                }
                if let Some(frame) = q.frames.pop_front() {
                    q.bytes -= frame.len();
                    break frame;
                }
                if q.closing {
                    return;
                }
                q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            };
            drop(q);
            self.changed.notify_all();
            if out.write_all(&frame).is_err() {
                lock(&self.queue).dead = true;
                self.changed.notify_all();
                return;
            }
        }
    }
}

/// Where attached clients' stdin goes: the stdin FIFO, a pipe, or the pty master.
#[derive(Debug)]
pub(super) struct StdinSink {
    file: Mutex<Option<Arc<File>>>,
    /// A client's half-close closes the process's stdin (Docker's StdinOnce; always for execs).
    once: bool,
    /// The sink is a pty master: "closing" sends the terminal's end-of-file character instead,
    /// since the slave side stays open.
    tty: bool,
}

impl StdinSink {
    pub(super) fn new(file: Option<File>, once: bool, tty: bool) -> Self {
        StdinSink {
            file: Mutex::new(file.map(Arc::new)),
            once,
            tty,
        }
    }

    fn current(&self) -> Option<Arc<File>> {
        lock(&self.file).clone()
    }

    fn write(&self, data: &[u8]) -> io::Result<()> {
        match self.current() {
            Some(f) => (&*f).write_all(data),
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed")),
        }
    }

    /// Lets the process read end-of-file.
    pub(super) fn close(&self) {
        if self.tty {
            if let Some(f) = self.current() {
                let _ = (&*f).write_all(b"\x04");
            }
        } else {
            lock(&self.file).take();
        }
    }

    /// Whether there is anything to write to.
    fn is_open(&self) -> bool {
        lock(&self.file).is_some()
    }
}

/// What an attach connects to.
pub(super) struct Target {
    pub(super) hub: Arc<Hub>,
    pub(super) stdin: Option<Arc<StdinSink>>,
}

pub(super) fn accept_loop(shared: Arc<Shared>, listener: UnixListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let shared = Arc::clone(&shared);
                if let Err(e) = spawn("attach", move || serve(&shared, stream)) {
                    eprintln!("silo-shim: {e}");
                }
            }
            Err(e) => eprintln!("silo-shim: accept attach: {e}"),
        }
    }
}

fn reply(mut sock: &UnixStream, r: &AttachReply) -> io::Result<()> {
    protocol::write_message(&mut sock, r)
}

/// One attach connection: the handshake, then this thread writes frames while another copies
/// stdin.
fn serve(shared: &Shared, sock: UnixStream) {
    let Ok(read_half) = sock.try_clone() else {
        return;
    };
    // Bytes the client sent after its request line stay in this buffer and go to stdin.
    let mut reader = BufReader::new(read_half);
    // A client that never sends its request must not hold a thread forever.
    let _ = sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let line = protocol::read_line(&mut reader);
    let _ = sock.set_read_timeout(None);
    let req = match line {
        Ok(Some(line)) => {
            serde_json::from_str::<AttachRequest>(&line).map_err(|e| ProtocolError::BadRequest {
                message: e.to_string(),
            })
        }
        _ => return,
    };
    let stopped = || ProtocolError::FailedPrecondition {
        op: "attach to".into(),
        id: shared.id.clone(),
        status: Status::Stopped,
    };
    let result = req.and_then(|mut req| match req.exec.take() {
        None => {
            let target = shared.attach_target()?;
            let client = target
                .hub
                .join(&sock, req.stdout, req.stderr)
                .ok_or_else(stopped)?;
            Ok((req, target, client, None))
        }
        Some(spec) => {
            // Joined before the exec runs, so the client gets all of its output.
            let launch = super::exec::prepare(shared, spec, Some(req.stdin))?;
            let client = launch
                .hub
                .join(&sock, req.stdout, req.stderr)
                .ok_or_else(stopped)?;
            let hub = Arc::clone(&launch.hub);
            match launch.run() {
                Ok(exec) => {
                    let target = Target {
                        hub,
                        stdin: exec.stdin.clone(),
                    };
                    Ok((req, target, client, Some(exec.pid)))
                }
                Err(e) => {
                    hub.leave(&client);
                    Err(e)
                }
            }
        }
    });
    let (req, target, client, pid) = match result {
        Ok(ok) => ok,
        Err(error) => {
            let _ = reply(&sock, &AttachReply::Error { error });
            return;
        }
    };
    let attached = AttachReply::Attached {
        ok: true,
        tty: target.hub.tty,
        pid,
    };
    if reply(&sock, &attached).is_err() {
        target.hub.leave(&client);
        return;
    }
    if let Some(sink) = target.stdin.filter(|s| req.stdin && s.is_open()) {
        if let Err(e) = spawn("attach-stdin", move || copy_stdin(reader, &sink)) {
            eprintln!("silo-shim: {e}");
        }
    }
    client.write_loop(&sock);
    target.hub.leave(&client);
    let _ = sock.shutdown(Shutdown::Both);
}

fn copy_stdin(mut from: BufReader<UnixStream>, sink: &StdinSink) {
    loop {
        let n = match from.fill_buf() {
            Ok([]) => break,
            Ok(buf) => {
                if sink.write(buf).is_err() {
                    return;
                }
                buf.len()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        from.consume(n);
    }
    // A clean half-close from the client: end of its stdin. Not on a terminal: a client that
    // goes away there has detached (ctrl-p ctrl-q) or lost its terminal, and typing the
    // end-of-file character would end the interactive shell it left running (Docker too
    // leaves a terminal's input open when the attach ends).
    if sink.once && !sink.tty {
        sink.close();
    }
}
