//! `silo logs`: the container's output, stdout and stderr kept apart as the daemon frames them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use chrono::Utc;
use futures::StreamExt;

use super::args::LogsArgs;
use super::timestamp;
use crate::connect::Client;

pub async fn logs(client: &Client, args: &LogsArgs) -> Result<ExitCode> {
    let now = Utc::now();
    let since = match &args.since {
        Some(s) => timestamp::seconds(s, now)?,
        None => 0,
    };
    let until = match &args.until {
        Some(u) => timestamp::seconds(u, now)?,
        None => 0,
    };
    let options = LogsOptions {
        follow: args.follow,
        stdout: true,
        stderr: true,
        since,
        until,
        timestamps: args.timestamps,
        tail: args.tail.clone(),
    };
    let mut stream = client.docker.logs(&args.container, Some(options));
    while let Some(item) = stream.next().await {
        match item? {
            LogOutput::StdErr { message } => {
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
    Ok(ExitCode::SUCCESS)
}
