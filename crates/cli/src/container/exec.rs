//! `silo exec`: create an exec instance, start it attached (or detached with `-d`), copy the
//! streams as an attached `run` does, then exit with the process's exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Result};
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};

use super::args::ExecArgs;
use super::config::{env_entry, read_env_file};
use super::run::exit_byte;
use super::stream::{self, Ended, ResizeTarget};
use crate::connect::Client;

fn local_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub async fn exec(client: &Client, args: &ExecArgs) -> Result<ExitCode> {
    let Some((container, command)) = args.container_and_command.split_first() else {
        bail!("exec needs a container and a command");
    };
    if args.tty && args.interactive && !args.detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file, &local_env)?);
    }
    for e in &args.env {
        env.push(env_entry(e, &local_env)?);
    }
    let detach_keys = match &args.detach_keys {
        Some(spec) => stream::parse_detach_keys(spec)?,
        None => stream::DEFAULT_DETACH_KEYS.to_vec(),
    };
    let attach = !args.detach;
    let options = CreateExecOptions {
        attach_stdin: Some(args.interactive && attach),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        tty: Some(args.tty),
        detach_keys: args.detach_keys.clone(),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(command.to_vec()),
        privileged: Some(args.privileged),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
    };
    let mut config = bollard::models::ExecConfig::from(options);
    if args.tty {
        config.console_size = stream::console_size();
    }
    let created = client.docker.create_exec(container, config).await?;
    let start = StartExecOptions {
        detach: args.detach,
        tty: args.tty,
        output_capacity: None,
    };
    match client.docker.start_exec(&created.id, Some(start)).await? {
        StartExecResults::Detached => Ok(ExitCode::SUCCESS),
        StartExecResults::Attached { output, input } => {
            let resizer = if args.tty {
                stream::monitor_size(client, ResizeTarget::Exec(created.id.clone()))
            } else {
                None
            };
            let streamed =
                stream::pump(output, input, args.interactive, args.tty, &detach_keys).await;
            if let Some(r) = resizer {
                r.abort();
            }
            if streamed? == Ended::Detached {
                return Ok(ExitCode::SUCCESS);
            }
            // The output closes as the process exits; give the daemon a moment to record it.
            let mut info = client.docker.inspect_exec(&created.id).await?;
            for _ in 0..50 {
                if info.running != Some(true) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                info = client.docker.inspect_exec(&created.id).await?;
            }
            Ok(ExitCode::from(exit_byte(info.exit_code.unwrap_or(0))))
        }
    }
}
