//! Step two of argument handling and the verb table: validate the connection flags, run the
//! checks docker makes before contacting the daemon, connect, and hand each verb its arguments.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::args::{
    AnyInspectArgs, Cli, Command, ComputeCommand, ContainerCommand, EventsArgs, ImageCommand,
    NetworkCommand, SaveArgs,
};
use crate::connect::{connect, Client, Endpoint};
use crate::report::StatusError;
use crate::{
    archive, container, images, import, inspect, network, pull_push, remove, resolve, system,
};

/// What runs once connected.
#[derive(Debug)]
enum Verb {
    Image(ImageCommand),
    Container(Box<ContainerCommand>),
    Compute(ComputeCommand),
    Network(NetworkCommand),
    Events(EventsArgs),
    Inspect(AnyInspectArgs),
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let endpoint = Endpoint::from_args(&cli.global, |name| std::env::var(name).ok())?;
    let verb = match cli.command {
        Command::Version => return system::version(endpoint).await,
        Command::Info(args) => return system::info(endpoint, &args).await,
        Command::Container(sub) => Verb::Container(Box::new(sub)),
        Command::Compute(sub) => Verb::Compute(sub),
        Command::Network(sub) => Verb::Network(sub),
        Command::Events(a) => Verb::Events(a),
        Command::Inspect(a) => Verb::Inspect(a),
        Command::Run(a) => Verb::Container(Box::new(ContainerCommand::Run(a))),
        Command::Create(a) => Verb::Container(Box::new(ContainerCommand::Create(a))),
        Command::Start(a) => Verb::Container(Box::new(ContainerCommand::Start(a))),
        Command::Ps(a) => Verb::Container(Box::new(ContainerCommand::Ls(a))),
        Command::Logs(a) => Verb::Container(Box::new(ContainerCommand::Logs(a))),
        Command::Exec(a) => Verb::Container(Box::new(ContainerCommand::Exec(a))),
        Command::Stop(a) => Verb::Container(Box::new(ContainerCommand::Stop(a))),
        Command::Kill(a) => Verb::Container(Box::new(ContainerCommand::Kill(a))),
        Command::Restart(a) => Verb::Container(Box::new(ContainerCommand::Restart(a))),
        Command::Rm(a) => Verb::Container(Box::new(ContainerCommand::Rm(a))),
        Command::Top(a) => Verb::Container(Box::new(ContainerCommand::Top(a))),
        Command::Stats(a) => Verb::Container(Box::new(ContainerCommand::Stats(a))),
        Command::Pause(a) => Verb::Container(Box::new(ContainerCommand::Pause(a))),
        Command::Unpause(a) => Verb::Container(Box::new(ContainerCommand::Unpause(a))),
        Command::Wait(a) => Verb::Container(Box::new(ContainerCommand::Wait(a))),
        Command::Rename(a) => Verb::Container(Box::new(ContainerCommand::Rename(a))),
        Command::Update(a) => Verb::Container(Box::new(ContainerCommand::Update(a))),
        Command::Port(a) => Verb::Container(Box::new(ContainerCommand::Port(a))),
        Command::Image(sub) => Verb::Image(sub),
        Command::Images(a) => Verb::Image(ImageCommand::Ls(a)),
        Command::Pull(a) => Verb::Image(ImageCommand::Pull(a)),
        Command::Push(a) => Verb::Image(ImageCommand::Push(a)),
        Command::Tag(a) => Verb::Image(ImageCommand::Tag(a)),
        Command::Rmi(a) => Verb::Image(ImageCommand::Rm(a)),
        Command::Save(a) => Verb::Image(ImageCommand::Save(a)),
        Command::Load(a) => Verb::Image(ImageCommand::Load(a)),
        Command::Import(a) => Verb::Image(ImageCommand::Import(a)),
        Command::History(a) => Verb::Image(ImageCommand::History(a)),
    };
    // docker run/create exit 125 when they cannot even reach the daemon.
    let creates = matches!(
        &verb,
        Verb::Container(c) if matches!(**c, ContainerCommand::Run(_) | ContainerCommand::Create(_))
    );
    match &verb {
        Verb::Image(ImageCommand::Save(args)) => check_save_target(args)?,
        Verb::Container(c) => container::precheck(c)?,
        Verb::Network(n) => network::precheck(n)?,
        _ => {}
    }
    let client = connect(endpoint).await.map_err(|e| {
        if creates {
            StatusError::wrap(e, 125)
        } else {
            e
        }
    })?;
    match verb {
        Verb::Image(c) => image(&client, c).await,
        Verb::Container(c) => container::dispatch(&client, *c).await,
        Verb::Compute(c) => container::dispatch_compute(&client, c).await,
        Verb::Network(n) => network::dispatch(&client, n).await,
        Verb::Events(a) => container::events::events(&client, &a).await,
        Verb::Inspect(a) => container::inspect::inspect(&client, &a).await,
    }
}

async fn image(client: &Client, command: ImageCommand) -> Result<ExitCode> {
    match command {
        ImageCommand::Ls(a) => images::list(client, &a).await,
        ImageCommand::History(a) => images::history(client, &a).await,
        ImageCommand::Inspect(a) => inspect::inspect(client, &a).await,
        ImageCommand::Pull(a) => pull_push::pull(client, &a).await,
        ImageCommand::Push(a) => pull_push::push(client, &a).await,
        ImageCommand::Tag(a) => remove::tag(client, &a).await,
        ImageCommand::Rm(a) => remove::rmi(client, &a).await,
        ImageCommand::Prune(a) => remove::prune(client, &a).await,
        ImageCommand::Save(a) => archive::save(client, &a).await,
        ImageCommand::Load(a) => archive::load(client, &a).await,
        ImageCommand::Import(a) => import::import(client, &a).await,
        ImageCommand::Resolve(a) => resolve::resolve(client, &a).await,
    }
}

/// docker refuses before connecting, so a missing `-o` is reported even without a daemon.
fn check_save_target(args: &SaveArgs) -> Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}
