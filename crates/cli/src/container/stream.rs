//! The client half of an attached container or exec, as docker's `hijack.go` does it: copy
//! stdin into the hijacked connection and half-close it at EOF, copy the output to
//! stdout/stderr (demultiplexed, or raw with a TTY), put the local terminal in raw mode while a
//! TTY is attached to stdin, and keep the remote TTY's size in step with ours.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;
use bollard::container::LogOutput;
use bollard::query_parameters::{ResizeContainerTTYOptions, ResizeExecOptions};
use futures::{Stream, StreamExt};
use rustix::termios::{self, OptionalActions, Termios};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connect::Client;

pub type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// Copies the streams until the output ends (the process exited or the daemon closed the
/// connection). Stdin, when `stdin` is set, is copied on a thread of its own so a blocked read
/// never holds the command up; its end half-closes the connection so the process sees EOF.
/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The output closed: the process exited (or the daemon went away).
    Closed,
    /// The user typed the detach keys; the process goes on without us.
    Detached,
}

/// docker's default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a,ctrl-@`) as the bytes a terminal sends.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let mut keys = Vec::new();
    for key in spec.split(',') {
        let lower = key.to_ascii_lowercase();
        let byte = match lower.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                b @ b'a'..=b'z' => b - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => anyhow::bail!("invalid detach keys {spec:?}: unknown key {key:?}"),
            },
            None if key.len() == 1 => key.as_bytes()[0],
            _ => anyhow::bail!("invalid detach keys {spec:?}: unknown key {key:?}"),
        };
        keys.push(byte);
    }
    Ok(keys)
}

pub async fn pump(
    output: Output,
    input: Input,
    stdin: bool,
    tty: bool,
    detach_keys: &[u8],
) -> Result<Ended> {
    let _raw = if stdin && tty {
        RawTerminal::enable()
    } else {
        None
    };
    // Without stdin the write half is kept (not shut down) until the output ends.
    let (writer, _held) = if stdin {
        let watch = DetachWatch {
            keys: detach_keys.to_vec(),
            held: Vec::new(),
        };
        (Some(tokio::spawn(copy_stdin(input, watch))), None)
    } else {
        (None, Some(input))
    };
    let out = copy_output(output, tty);
    tokio::pin!(out);
    let Some(mut writer) = writer else {
        return out.await.map(|()| Ended::Closed);
    };
    tokio::select! {
        r = &mut out => {
            writer.abort();
            r.map(|()| Ended::Closed)
        }
        typed = &mut writer => match typed {
            // The detach keys: leave, as docker's escape proxy does, whatever the daemon does.
            Ok(true) => Ok(Ended::Detached),
            // Stdin ended (and was half-closed): the output goes on until the process exits.
            _ => out.await.map(|()| Ended::Closed),
        },
    }
}

async fn copy_output(mut output: Output, tty: bool) -> Result<()> {
    while let Some(item) = output.next().await {
        match item? {
            LogOutput::StdErr { message } if !tty => {
                let mut err = std::io::stderr().lock();
                err.write_all(&message)?;
                err.flush()?;
            }
            LogOutput::StdIn { .. } => {}
            other => {
                let mut out = std::io::stdout().lock();
                out.write_all(other.as_ref())?;
                out.flush()?;
            }
        }
    }
    Ok(())
}

/// docker's escape proxy: the detach sequence typed on stdin, across reads. Bytes that may be
/// its start are held back until the next byte shows whether they are.
#[derive(Debug)]
struct DetachWatch {
    keys: Vec<u8>,
    held: Vec<u8>,
}

impl DetachWatch {
    /// What to forward of `bytes`, and whether the sequence is now complete.
    fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (bytes.to_vec(), false);
        }
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if b == self.keys[self.held.len()] {
                self.held.push(b);
                if self.held.len() == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.append(&mut self.held);
                if b == self.keys[0] {
                    self.held.push(b);
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Copies stdin into `input`; `true` when the user typed the detach keys.
async fn copy_stdin(mut input: Input, mut watch: DetachWatch) -> bool {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
    // A plain thread: it may block in read(2) forever, and must not keep the runtime alive.
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    if spawned.is_ok() {
        while let Some(chunk) = rx.recv().await {
            let (forward, detach) = watch.feed(&chunk);
            if input.write_all(&forward).await.is_err() || input.flush().await.is_err() {
                return false;
            }
            if detach {
                return true;
            }
        }
    }
    // EOF on stdin: half-close, so the process reads EOF and the output keeps flowing.
    let _ = input.shutdown().await;
    false
}

/// The local terminal in raw mode, restored on drop (also when the command fails).
#[derive(Debug)]
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Raw mode on stdin if it is a terminal; `None` otherwise or if the terminal refuses.
    pub fn enable() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Whose TTY to resize.
#[derive(Debug, Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

/// The local terminal's size (rows, columns), from stdout as docker reads it.
fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = termios::tcgetwinsize(out.as_fd()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// `[rows, columns]` for the create body's `ConsoleSize`, so a process that asks for its
/// terminal size at once sees ours rather than 0x0 (the resize after start may come too late).
pub fn console_size() -> Option<Vec<usize>> {
    terminal_size().map(|(rows, cols)| vec![usize::from(rows), usize::from(cols)])
}

async fn resize(client: &Client, target: &ResizeTarget, rows: u16, cols: u16) -> Result<()> {
    let (h, w) = (i32::from(rows), i32::from(cols));
    match target {
        ResizeTarget::Container(id) => {
            client
                .docker
                .resize_container_tty(id, ResizeContainerTTYOptions { h, w })
                .await?
        }
        ResizeTarget::Exec(id) => {
            client
                .docker
                .resize_exec(id, ResizeExecOptions { h, w })
                .await?
        }
    }
    Ok(())
}

/// Sends the terminal size now (retrying briefly while the process starts, as docker does) and
/// again on every SIGWINCH, until the returned task is aborted. `None` when stdout is not a
/// terminal: there is no size to send.
pub fn monitor_size(client: &Client, target: ResizeTarget) -> Option<JoinHandle<()>> {
    terminal_size()?;
    let client = client.clone();
    Some(tokio::spawn(async move {
        for attempt in 0..5u64 {
            let Some((rows, cols)) = terminal_size() else {
                return;
            };
            if resize(&client, &target, rows, cols).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10 * (attempt + 1))).await;
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some((rows, cols)) = terminal_size() {
                let _ = resize(&client, &target, rows, cols).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").expect("valid"),
            DEFAULT_DETACH_KEYS
        );
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").expect("valid"),
            [b'a', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn detach_sequence_is_held_back_and_seen_across_reads() {
        let mut w = DetachWatch {
            keys: DEFAULT_DETACH_KEYS.to_vec(),
            held: Vec::new(),
        };
        assert_eq!(w.feed(b"ls\x10"), (b"ls".to_vec(), false));
        // Not the sequence after all: the held ctrl-p goes out with the next byte.
        assert_eq!(w.feed(b"x\x10"), (b"\x10x".to_vec(), false));
        assert_eq!(w.feed(b"\x10"), (b"\x10".to_vec(), false));
        assert_eq!(w.feed(b"\x11rest"), (Vec::new(), true));
        let mut none = DetachWatch {
            keys: Vec::new(),
            held: Vec::new(),
        };
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
