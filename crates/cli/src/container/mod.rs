//! docker's container verbs (`run`, `ps`, `logs`, `exec`, …) and silo's `compute` verbs. Each
//! file holds one verb or a family of small ones; `args` describes the flags, `config` turns
//! `run`/`create` flags into the Engine API's create body, `stream` is the attached-stdio half.

pub mod args;
pub mod compute;
pub mod config;
pub mod events;
pub mod exec;
pub mod inspect;
pub mod list;
pub mod logs;
pub mod monitor;
pub mod ops;
pub mod run;
pub mod run_args;
pub mod stream;
pub mod timestamp;

use std::process::ExitCode;

use anyhow::Result;

use crate::connect::Client;
use args::{ComputeCommand, ContainerCommand};

/// The checks docker makes before contacting the daemon (conflicting `run` flags, unreadable
/// env files), so they fail the same way with or without one.
pub fn precheck(command: &ContainerCommand) -> Result<()> {
    match command {
        ContainerCommand::Run(a) => run::validate(a, a.detach.unwrap_or(false)).map(drop),
        ContainerCommand::Create(a) => run::validate(a, false).map(drop),
        _ => Ok(()),
    }
}

/// Runs one `silo container …` verb (the top-level spellings map here too).
pub async fn dispatch(client: &Client, command: ContainerCommand) -> Result<ExitCode> {
    use ContainerCommand as C;
    match command {
        C::Run(a) => run::run(client, &a).await,
        C::Create(a) => run::create(client, &a).await,
        C::Start(a) => run::start(client, &a).await,
        C::Ls(a) => list::ps(client, &a).await,
        C::Logs(a) => logs::logs(client, &a).await,
        C::Exec(a) => exec::exec(client, &a).await,
        C::Stop(a) => ops::stop(client, &a).await,
        C::Kill(a) => ops::kill(client, &a).await,
        C::Restart(a) => ops::restart(client, &a).await,
        C::Rm(a) => ops::rm(client, &a).await,
        C::Top(a) => monitor::top(client, &a).await,
        C::Stats(a) => monitor::stats(client, &a).await,
        C::Inspect(a) => inspect::inspect(client, &a.into()).await,
        C::Pause(a) => ops::pause(client, &a).await,
        C::Unpause(a) => ops::unpause(client, &a).await,
        C::Wait(a) => ops::wait(client, &a).await,
        C::Rename(a) => ops::rename(client, &a).await,
        C::Update(a) => ops::update(client, &a).await,
        C::Port(a) => ops::port(client, &a).await,
        C::Prune(a) => ops::prune(client, &a).await,
    }
}

pub async fn dispatch_compute(client: &Client, command: ComputeCommand) -> Result<ExitCode> {
    match command {
        ComputeCommand::Ls(a) => compute::ls(client, &a).await,
        ComputeCommand::Inspect(a) => compute::inspect(client, &a).await,
    }
}
