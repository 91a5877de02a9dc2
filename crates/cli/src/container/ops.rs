//! The one-line verbs: `stop`, `kill`, `restart`, `rm`, `pause`, `unpause`, `wait`, `rename`,
//! `update`, `port` and `container prune`. Like docker, a verb given several containers reports
//! each failure, goes on with the rest, and exits 1 if any failed.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::{
    KillContainerOptions, PruneContainersOptions, RemoveContainerOptions, RenameContainerOptions,
    RestartContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use futures::StreamExt;

use super::args::{
    ContainerPruneArgs, ContainersArgs, KillArgs, PortArgs, RenameArgs, RmArgs, StopArgs,
    UpdateArgs,
};
use crate::args::filter_map;
use crate::connect::Client;
use crate::format::human_size;
use crate::remove::confirm;
use crate::report::{self, StatusError};

/// Runs `op` on every name, printing what it returns (docker prints the name as typed) and
/// reporting failures; exits 1 when any failed.
async fn each<'a, F, Fut>(names: &'a [String], op: F) -> Result<ExitCode>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let mut failed = false;
    for name in names {
        match op(name).await {
            Ok(line) => writeln!(std::io::stdout().lock(), "{line}")?,
            Err(e) => {
                failed = true;
                report::daemon_error(&e);
            }
        }
    }
    if failed {
        return Err(StatusError::silent(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(client: &Client, args: &StopArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        let options = StopContainerOptions {
            signal: args.signal.clone(),
            t: args.timeout,
        };
        client.docker.stop_container(name, Some(options)).await?;
        Ok(name.to_string())
    })
    .await
}

pub async fn restart(client: &Client, args: &StopArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        let options = RestartContainerOptions {
            signal: args.signal.clone(),
            t: args.timeout,
        };
        client.docker.restart_container(name, Some(options)).await?;
        Ok(name.to_string())
    })
    .await
}

pub async fn kill(client: &Client, args: &KillArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        let options = KillContainerOptions {
            signal: args.signal.clone(),
        };
        client.docker.kill_container(name, Some(options)).await?;
        Ok(name.to_string())
    })
    .await
}

pub async fn rm(client: &Client, args: &RmArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        let options = RemoveContainerOptions {
            force: args.force,
            v: args.volumes,
            link: args.link,
        };
        client.docker.remove_container(name, Some(options)).await?;
        Ok(name.to_string())
    })
    .await
}

pub async fn pause(client: &Client, args: &ContainersArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        client.docker.pause_container(name).await?;
        Ok(name.to_string())
    })
    .await
}

pub async fn unpause(client: &Client, args: &ContainersArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        client.docker.unpause_container(name).await?;
        Ok(name.to_string())
    })
    .await
}

/// Prints each container's exit code once it stops (condition `not-running`).
pub async fn wait(client: &Client, args: &ContainersArgs) -> Result<ExitCode> {
    each(&args.containers, |name| async move {
        let options = WaitContainerOptions {
            condition: "not-running".into(),
        };
        let mut answers = client.docker.wait_container(name, Some(options)).boxed();
        match answers.next().await {
            Some(Ok(r)) => match r.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
                Some(message) => bail!(message),
                None => Ok(r.status_code.to_string()),
            },
            // bollard reports a non-zero exit as an error; for `wait` it is the answer.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                Ok(code.to_string())
            }
            Some(Err(e)) => Err(e.into()),
            None => bail!("the daemon closed the wait for {name} without an exit code"),
        }
    })
    .await
}

pub async fn rename(client: &Client, args: &RenameArgs) -> Result<ExitCode> {
    let new_name = args.new_name.trim();
    if new_name.is_empty() || args.container.trim().is_empty() {
        bail!("Neither old nor new names may be empty");
    }
    let options = RenameContainerOptions {
        name: new_name.to_string(),
    };
    client
        .docker
        .rename_container(&args.container, options)
        .await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn update(client: &Client, args: &UpdateArgs) -> Result<ExitCode> {
    let body = ContainerUpdateBody {
        memory: args.memory,
        nano_cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart_policy: args.restart.clone(),
        ..Default::default()
    };
    if body == ContainerUpdateBody::default() {
        return Err(StatusError::wrap(
            anyhow::anyhow!("you must provide one or more flags when using this command"),
            125,
        ));
    }
    each(&args.containers, |name| {
        let body = body.clone();
        async move {
            client.docker.update_container(name, body).await?;
            Ok(name.to_string())
        }
    })
    .await
}

/// `silo port`: the container's published ports. Until silo has a network service there are
/// none, which is an empty answer, not an error.
pub async fn port(client: &Client, args: &PortArgs) -> Result<ExitCode> {
    let info = client
        .docker
        .inspect_container(&args.container, None)
        .await?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let mut lines = Vec::new();
    let wanted = args.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort();
    for key in keys {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for binding in ports[key].iter().flatten() {
            let ip = binding.host_ip.as_deref().unwrap_or("0.0.0.0");
            let host_port = binding.host_port.as_deref().unwrap_or_default();
            let addr = if ip.contains(':') {
                format!("[{ip}]:{host_port}")
            } else {
                format!("{ip}:{host_port}")
            };
            lines.push(match &wanted {
                Some(_) => addr,
                None => format!("{key} -> {addr}"),
            });
        }
    }
    if let (Some(w), true) = (&wanted, lines.is_empty()) {
        bail!("No public port '{w}' published for {}", args.container);
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

const PRUNE_WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ";

pub async fn prune(client: &Client, args: &ContainerPruneArgs) -> Result<ExitCode> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(ExitCode::SUCCESS);
    }
    let filters = filter_map(&args.filters);
    let options = PruneContainersOptions {
        filters: (!filters.is_empty()).then_some(filters),
    };
    let report = client.docker.prune_containers(Some(options)).await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Containers:")?;
        for id in &deleted {
            writeln!(out, "{id}")?;
        }
        writeln!(out)?;
    }
    let reclaimed = report.space_reclaimed.unwrap_or(0).max(0) as f64;
    writeln!(out, "Total reclaimed space: {}", human_size(reclaimed))?;
    Ok(ExitCode::SUCCESS)
}
