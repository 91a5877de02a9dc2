//! Step two of argument handling and the verb table: validate the connection flags, run the
//! checks docker makes before contacting the daemon, connect, and hand each verb its arguments.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::args::{Cli, Command, ImageCommand, SaveArgs};
use crate::connect::{connect, Endpoint};
use crate::{archive, images, import, inspect, pull_push, remove, resolve, system};

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let endpoint = Endpoint::from_args(&cli.global, |name| std::env::var(name).ok())?;
    let command = match cli.command {
        Command::Version => return system::version(endpoint).await,
        Command::Info(args) => return system::info(endpoint, &args).await,
        Command::Image(sub) => sub,
        Command::Images(a) => ImageCommand::Ls(a),
        Command::Pull(a) => ImageCommand::Pull(a),
        Command::Push(a) => ImageCommand::Push(a),
        Command::Tag(a) => ImageCommand::Tag(a),
        Command::Rmi(a) => ImageCommand::Rm(a),
        Command::Save(a) => ImageCommand::Save(a),
        Command::Load(a) => ImageCommand::Load(a),
        Command::Import(a) => ImageCommand::Import(a),
        Command::History(a) => ImageCommand::History(a),
        Command::Inspect(a) => ImageCommand::Inspect(a),
    };
    if let ImageCommand::Save(args) = &command {
        check_save_target(args)?;
    }
    let client = connect(endpoint).await?;
    match command {
        ImageCommand::Ls(a) => images::list(&client, &a).await,
        ImageCommand::History(a) => images::history(&client, &a).await,
        ImageCommand::Inspect(a) => inspect::inspect(&client, &a).await,
        ImageCommand::Pull(a) => pull_push::pull(&client, &a).await,
        ImageCommand::Push(a) => pull_push::push(&client, &a).await,
        ImageCommand::Tag(a) => remove::tag(&client, &a).await,
        ImageCommand::Rm(a) => remove::rmi(&client, &a).await,
        ImageCommand::Prune(a) => remove::prune(&client, &a).await,
        ImageCommand::Save(a) => archive::save(&client, &a).await,
        ImageCommand::Load(a) => archive::load(&client, &a).await,
        ImageCommand::Import(a) => import::import(&client, &a).await,
        ImageCommand::Resolve(a) => resolve::resolve(&client, &a).await,
    }
}

/// docker refuses before connecting, so a missing `-o` is reported even without a daemon.
fn check_save_target(args: &SaveArgs) -> Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}
