//! Showing a progress stream: bars per layer on a terminal, docker's plain lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use anyhow::{anyhow, Result};
use futures::{Stream, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::jsonmessage::{Decoder, JsonMessage};

/// How progress is shown.
#[derive(Debug)]
pub enum Display {
    /// Nothing (`-q`); errors still stop the stream.
    Quiet,
    /// One line per message, as docker prints to a pipe.
    Plain,
    /// Plain lines on stderr: `run` pulling a missing image keeps stdout for the container.
    PlainStderr,
    /// Live bars on a terminal, one line per layer id.
    Bars(Bars),
}

#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    by_id: HashMap<String, ProgressBar>,
}

impl Display {
    /// Bars when stdout is a terminal, plain lines otherwise.
    pub fn for_stdout(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stdout().is_terminal() {
            Display::Bars(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                by_id: HashMap::new(),
            })
        } else {
            Display::Plain
        }
    }

    /// Shows one message; an error message ends the operation with that error.
    /// Progress for `run`, which keeps stdout for the container: bars when stderr is a
    /// terminal, plain lines on stderr otherwise.
    pub fn for_stderr(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                by_id: HashMap::new(),
            })
        } else {
            Display::PlainStderr
        }
    }

    pub fn show(&mut self, m: &JsonMessage) -> Result<()> {
        if let Some(err) = m.error_message() {
            return Err(anyhow!(err));
        }
        match self {
            Display::Quiet => {}
            Display::Plain => {
                if let Some(line) = m.plain_line() {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}")?;
                }
            }
            Display::PlainStderr => {
                if let Some(line) = m.plain_line() {
                    let mut err = std::io::stderr().lock();
                    writeln!(err, "{line}")?;
                }
            }
            Display::Bars(bars) => bars.show(m),
        }
        Ok(())
    }

    pub fn finish(self) {
        if let Display::Bars(bars) = self {
            bars.by_id.values().for_each(ProgressBar::finish);
        }
    }
}

impl Bars {
    fn show(&mut self, m: &JsonMessage) {
        let id = m.id.as_deref().filter(|id| !id.is_empty());
        let Some(id) = id else {
            // Lines without an id (Digest:, Status:) come after the layers, so they are added
            // below them rather than printed above the bars.
            if let Some(line) = m.plain_line() {
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(line_style());
                bar.finish_with_message(line);
            }
            return;
        };
        let bar = self.by_id.entry(id.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(line_style());
            bar.set_prefix(format!("{id}: "));
            bar
        });
        bar.set_message(m.status.clone().unwrap_or_default());
        match m.bytes() {
            Some((current, total)) if total > 0 => {
                bar.set_style(bytes_style());
                bar.set_length(total);
                bar.set_position(current.min(total));
            }
            _ => bar.set_style(line_style()),
        }
    }
}

fn line_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}{msg:<12} [{bar:50}] {bytes}/{total_bytes}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Drives `stream` through `display`, returning the messages that were not byte-progress
/// updates (callers look for aux data and final status lines).
pub async fn follow<S, E>(stream: S, mut display: Display) -> Result<Vec<JsonMessage>>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: Into<anyhow::Error>,
{
    let mut stream = stream;
    let mut decoder = Decoder::default();
    let mut seen = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Into::into)?;
        for m in decoder.push(&chunk)? {
            if let Err(e) = display.show(&m) {
                display.finish();
                return Err(e);
            }
            if m.bytes().is_none() {
                seen.push(m);
            }
        }
    }
    display.finish();
    Ok(seen)
}
