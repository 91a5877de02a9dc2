//! How errors reach the user: daemon answers as docker prints them, everything else as one
//! `silo: …` line with its context chain.

use std::io;

/// The line to print for `err`, or `None` when it should be silent (a closed stdout pipe, as in
/// `silo images | head -1`, is not a failure).
pub fn message(err: &anyhow::Error) -> Option<String> {
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
