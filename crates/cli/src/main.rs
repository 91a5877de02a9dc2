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
mod dispatch;
mod format;
mod images;
mod import;
mod inspect;
mod jsonmessage;
mod progress;
mod pull_push;
mod raw;
mod remove;
mod report;
mod resolve;
mod system;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help), like docker.
    let cli = args::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => match report::message(&err) {
            Some(line) => {
                eprintln!("{line}");
                ExitCode::FAILURE
            }
            None => ExitCode::SUCCESS,
        },
    }
}

fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    // Two workers are plenty for one request at a time plus a tar producer on the blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(dispatch::run(cli))
}
