//! `silo`: the command-line client for silod, with docker's verbs and flags.
//!
//! This file is glue: parse, run, report. Every verb lives in its own module and returns the
//! exit code it wants; errors come back here and are printed once, with their context chain.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_debug_implementations)]

use std::process::ExitCode;

use clap::Parser;

mod archive;
mod args;
mod auth;
mod autostart;
mod connect;
mod container;
mod dispatch;
mod format;
mod images;
mod import;
mod inspect;
mod jsonmessage;
mod network;
mod progress;
mod pull_push;
mod raw;
mod remove;
mod report;
mod resolve;
mod system;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = report::exit_code(&err);
            match report::message(&err) {
                Some(line) => {
                    eprintln!("{line}");
                    ExitCode::from(code)
                }
                // A closed stdout pipe is not a failure; a silent status (the container's exit
                // code) still is.
                None if err.is::<report::StatusError>() => ExitCode::from(code),
                None => ExitCode::SUCCESS,
            }
        }
    }
}

/// docker's exit codes for what the command line parser rejects: 0 for help, 1 for missing
/// arguments (`'docker stop' requires at least 1 argument`), 125 for bad flags and values.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = err.print();
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => ExitCode::FAILURE,
        _ => ExitCode::from(125),
    }
}

fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    // Two workers are plenty for one request at a time plus a tar producer on the blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(dispatch::run(cli));
    // A task may still sit in a blocking read (stdin of an attached container that has
    // exited); don't wait for it.
    runtime.shutdown_background();
    result
}
