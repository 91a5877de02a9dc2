//! How errors reach the user: daemon answers as docker prints them, everything else as one
//! `silo: …` line with its context chain.

use std::io;

/// The line to print for `err`, or `None` when it should be silent (a closed stdout pipe, as in
/// `silo images | head -1`, is not a failure).
pub fn message(err: &anyhow::Error) -> Option<String> {
    if let Some(status) = err.downcast_ref::<StatusError>() {
        return status.message.clone();
    }
    let from_bollard = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<bollard::errors::Error>());
    match from_bollard {
        Some(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
            return Some(format!("Error response from daemon: {message}"));
        }
        Some(bollard::errors::Error::DockerStreamError { error }) => return Some(error.clone()),
        // A transport error may wrap EPIPE from the daemon's socket; that one must be shown.
        Some(_) => {}
        None => {
            let broken_pipe = err.chain().any(|cause| {
                cause
                    .downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return None;
            }
        }
    }
    Some(format!("silo: {err:#}"))
}

/// An error that ends `silo` with a given exit code, as docker's `cli.StatusError` does: 125
/// when `run` itself fails, 126/127 when the command cannot be invoked or found, or the
/// container's own exit code. The message is rendered when the error is made, so the daemon's
/// wording survives the wrapping.
#[derive(Debug)]
pub struct StatusError {
    pub code: u8,
    pub message: Option<String>,
}

impl StatusError {
    /// Ends with `code` and prints nothing (the container's exit code).
    pub fn silent(code: u8) -> anyhow::Error {
        anyhow::Error::new(StatusError {
            code,
            message: None,
        })
    }

    /// Ends with `code` after printing `err` the usual way.
    pub fn wrap(err: anyhow::Error, code: u8) -> anyhow::Error {
        if err.is::<StatusError>() {
            return err;
        }
        anyhow::Error::new(StatusError {
            code,
            message: message(&err),
        })
    }

    /// docker's `toStatusError` for `run`/`start`: 127 when the command does not exist, 126
    /// when it cannot be executed, 125 for everything else that went wrong before it ran.
    pub fn for_run(err: anyhow::Error) -> anyhow::Error {
        let text = format!("{err:#}");
        // docker's phrases, plus the OCI runtime's ("executable '/x' not found in $PATH").
        let code = if text.contains("executable file not found")
            || text.contains("not found in $PATH")
            || text.contains("no such file or directory")
        {
            127
        } else if text.contains("permission denied") || text.contains("is a directory") {
            126
        } else {
            125
        };
        StatusError::wrap(err, code)
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for StatusError {}

/// The exit code for `err`: its [`StatusError`] code, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<StatusError>().map_or(1, |s| s.code)
}

/// Prints a non-fatal error (one image of several failed); the caller remembers the failure.
pub fn daemon_error(err: &anyhow::Error) {
    if let Some(line) = message(err) {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_read_like_docker() {
        let err = anyhow::Error::from(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such image: nope:latest".into(),
        });
        assert_eq!(
            message(&err).as_deref(),
            Some("Error response from daemon: No such image: nope:latest")
        );
        let err =
            anyhow::anyhow!("connection refused").context("cannot connect to silod at unix:///x");
        assert_eq!(
            message(&err).as_deref(),
            Some("silo: cannot connect to silod at unix:///x: connection refused")
        );
        let err = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(message(&err), None);
    }
}
