//! The host objects behind networks: network namespaces, links and bridges, CNI plugin calls,
//! the nftables table, port reservations. Nothing here knows about the service's database; the
//! service decides, these modules execute.
//!
//! Every operation is idempotent (creating what exists and removing what is missing succeed)
//! and undoes its own partial work when it fails, so the service can simply retry or reconcile.

pub mod cni;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;

use std::path::Path;
use std::process::Stdio;

/// A host operation that failed: what was being done, to which object, and why.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A system call or file operation failed.
    #[error("{action} {object}: {source}")]
    Io {
        action: &'static str,
        object: String,
        #[source]
        source: std::io::Error,
    },

    /// An external tool (`ip`, `nft`) exited with an error; `stderr` is what it said.
    #[error("{action} {object}: `{command}` failed: {stderr}")]
    Command {
        action: &'static str,
        object: String,
        command: String,
        stderr: String,
    },

    /// A CNI plugin reported an error (the spec's `{"code", "msg", "details"}` object).
    #[error("{action} {object}: CNI plugin {plugin} failed (code {code}): {msg}{}", details_suffix(.details))]
    Cni {
        action: &'static str,
        object: String,
        plugin: String,
        code: u32,
        msg: String,
        details: String,
    },

    /// A tool's output or an argument did not have the expected shape.
    #[error("{action} {object}: {message}")]
    Invalid {
        action: &'static str,
        object: String,
        message: String,
    },

    /// A program the network service needs is not installed.
    #[error("{what} is not installed: {hint}")]
    NotInstalled { what: String, hint: String },

    /// A host port is held by another endpoint or another program.
    #[error("port {port}/{protocol} on {host_ip} is already allocated")]
    PortAllocated {
        protocol: &'static str,
        host_ip: String,
        port: u16,
    },
}

fn details_suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({details})")
    }
}

impl HostError {
    pub(crate) fn io(
        action: &'static str,
        object: impl std::fmt::Display,
        source: std::io::Error,
    ) -> Self {
        HostError::Io {
            action,
            object: object.to_string(),
            source,
        }
    }

    pub(crate) fn invalid(
        action: &'static str,
        object: impl std::fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        HostError::Invalid {
            action,
            object: object.to_string(),
            message: message.into(),
        }
    }

    /// The stderr text of a failed command, if this is one (callers match on the tool's
    /// message to tell "already exists" from real failures).
    pub(crate) fn stderr(&self) -> Option<&str> {
        match self {
            HostError::Command { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// Runs `program args...` with `stdin` fed to it and returns its stdout; a non-zero exit
/// becomes [`HostError::Command`] carrying the trimmed stderr.
pub(crate) async fn run_tool(
    action: &'static str,
    object: &str,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, HostError> {
    use tokio::io::AsyncWriteExt;

    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HostError::io(action, object, with_context(e, &command)))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that exits early closes its stdin; its exit status tells the real story.
        let _ = pipe.write_all(text.as_bytes()).await;
        drop(pipe);
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| HostError::io(action, object, with_context(e, &command)))?;
    if !output.status.success() {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = format!("exited with {}", output.status);
        }
        return Err(HostError::Command {
            action,
            object: object.to_string(),
            command,
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn with_context(e: std::io::Error, command: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{command}: {e}"))
}

/// Writes `value` to a sysctl file under `/proc/sys` unless it already holds it (so a
/// read-only `/proc/sys` that already has the right value is no error).
pub(crate) fn ensure_sysctl(path: &Path, value: &str) -> Result<(), HostError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| HostError::io("set sysctl", path.display(), e))
}
