//! Progress of long image operations (pull, push, load), reported per layer.
//!
//! The API turns these into Docker's streaming JSON messages; the CLI draws them as bars.

use tokio::sync::mpsc;

/// What a byte counter is counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressAction {
    /// Bytes received from a registry.
    Downloading,
    /// Bytes of uncompressed tar unpacked into the layer store.
    Extracting,
    /// Bytes sent to a registry.
    Pushing,
    /// Bytes read from an archive being loaded.
    Loading,
}

impl ProgressAction {
    /// Docker's word for it, as the CLI expects in the `status` field.
    pub fn as_status(self) -> &'static str {
        match self {
            ProgressAction::Downloading => "Downloading",
            ProgressAction::Extracting => "Extracting",
            ProgressAction::Pushing => "Pushing",
            ProgressAction::Loading => "Loading layer",
        }
    }
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A status line, optionally about one layer (`id` is the 12-hex short digest).
    /// Examples: "Pulling from library/busybox", "Pulling fs layer", "Already exists",
    /// "Download complete", "Pull complete", "Digest: sha256:...", "Status: ...".
    Status { id: Option<String>, status: String },
    /// Bytes done so far for one layer.
    Bytes {
        id: String,
        action: ProgressAction,
        current: u64,
        total: Option<u64>,
    },
}

impl Progress {
    /// A status line without a layer.
    pub fn status(status: impl Into<String>) -> Self {
        Progress::Status {
            id: None,
            status: status.into(),
        }
    }

    /// A status line about one layer.
    pub fn layer(id: impl Into<String>, status: impl Into<String>) -> Self {
        Progress::Status {
            id: Some(id.into()),
            status: status.into(),
        }
    }
}

/// Where progress goes. Sending never fails the operation: a client that hung up just stops
/// receiving.
#[derive(Debug, Clone, Default)]
pub struct ProgressSender(Option<mpsc::UnboundedSender<Progress>>);

impl ProgressSender {
    /// A sender that reports into `tx`.
    pub fn new(tx: mpsc::UnboundedSender<Progress>) -> Self {
        ProgressSender(Some(tx))
    }

    /// A sender that drops everything.
    pub fn discard() -> Self {
        ProgressSender(None)
    }

    /// Report one event.
    pub fn send(&self, event: Progress) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}
