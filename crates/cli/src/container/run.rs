//! `silo create`, `silo run` and `silo start`, in docker's order: create (pulling a missing
//! image), attach *before* start, register the exit wait *before* start, start, send the TTY
//! size, copy the streams, then exit with the container's exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, WaitContainerOptions,
};
use futures::StreamExt;
use silo_image::reference::Reference;
use tokio::task::JoinHandle;

use super::args::{RunArgs, StartArgs};
use super::config::{self, Attach, CreatePlan};
use super::stream::{self, Ended, ResizeTarget};
use crate::connect::Client;
use crate::progress::Display;
use crate::pull_push::pull_image;
use crate::report::{self, StatusError};

/// How long the exit wait gets to reach the daemon before the container is started. Docker's
/// client has the wait's response headers in hand by then; bollard does not expose them, and
/// a `next-exit` wait that arrives after the exit would never return.
const WAIT_HEAD_START: Duration = Duration::from_millis(5);
/// How long after the output ends the wait may take before the container's state is asked.
const WAIT_GRACE: Duration = Duration::from_secs(2);

fn local_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The create plan for `args`, or docker's exit 125 for flags that contradict each other.
pub fn validate(args: &RunArgs, detached: bool) -> Result<CreatePlan> {
    config::plan(args, detached, &local_env).map_err(|e| StatusError::wrap(e, 125))
}

pub async fn create(client: &Client, args: &RunArgs) -> Result<ExitCode> {
    // Planned as an attached run, as docker records a created container's attach flags.
    let plan = validate(args, false)?;
    let id = create_with_pull(client, &plan, args)
        .await
        .map_err(StatusError::for_run)?;
    writeln!(std::io::stdout().lock(), "{id}")?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run(client: &Client, args: &RunArgs) -> Result<ExitCode> {
    let detached = args.detach.unwrap_or(false);
    let plan = validate(args, detached)?;
    if plan.tty && plan.attach.stdin && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let id = create_with_pull(client, &plan, args)
        .await
        .map_err(StatusError::for_run)?;
    if detached {
        client
            .docker
            .start_container(&id, None)
            .await
            .map_err(|e| StatusError::for_run(e.into()))?;
        writeln!(std::io::stdout().lock(), "{id}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let session = Session {
        id: id.clone(),
        attach: plan.attach,
        tty: plan.tty,
        wait_removed: plan.auto_remove,
        detach_keys: args.detach_keys.clone(),
        sig_proxy: args.sig_proxy,
    };
    session.run(client).await
}

/// Creates the container; on "No such image" with `--pull missing` pulls (progress on stderr,
/// as docker) and tries again. Prints the daemon's warnings to stderr.
async fn create_with_pull(client: &Client, plan: &CreatePlan, args: &RunArgs) -> Result<String> {
    let image = args.image();
    let pull = || async {
        pull_image(
            client,
            image,
            plan.platform.clone(),
            None,
            Display::for_stderr(args.quiet),
        )
        .await
        .map(drop)
    };
    if args.pull == "always" {
        pull().await?;
    }
    let options = CreateContainerOptions {
        name: plan.name.clone(),
        platform: plan.platform.clone().unwrap_or_default(),
    };
    let mut body = plan.body.clone();
    if plan.tty {
        if let Some(hc) = body.host_config.as_mut() {
            hc.console_size = stream::console_size();
        }
    }
    let created = match client
        .docker
        .create_container(Some(options.clone()), body.clone())
        .await
    {
        Err(BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        }) if args.pull == "missing" && message.contains("No such image") => {
            eprintln!("Unable to find image '{}' locally", with_default_tag(image));
            pull().await?;
            client.docker.create_container(Some(options), body).await?
        }
        other => other?,
    };
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    Ok(created.id)
}

/// `busybox` as docker names it in "Unable to find image 'busybox:latest' locally".
fn with_default_tag(image: &str) -> String {
    match Reference::parse(image) {
        Ok(r) if r.tag().is_none() && r.digest().is_none() => format!("{}:latest", r.familiar()),
        Ok(r) => r.familiar(),
        Err(_) => image.to_string(),
    }
}

pub async fn start(client: &Client, args: &StartArgs) -> Result<ExitCode> {
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let info = client.docker.inspect_container(name, None).await?;
        let config = info.config.unwrap_or_default();
        let session = Session {
            id: info.id.unwrap_or_else(|| name.clone()),
            attach: Attach {
                stdin: args.interactive && config.open_stdin.unwrap_or(false),
                stdout: true,
                stderr: true,
            },
            tty: config.tty.unwrap_or(false),
            wait_removed: info
                .host_config
                .and_then(|h| h.auto_remove)
                .unwrap_or(false),
            detach_keys: args.detach_keys.clone(),
            sig_proxy: true,
        };
        if session.tty && session.attach.stdin && !std::io::stdin().is_terminal() {
            bail!("the input device is not a TTY");
        }
        return session.run(client).await;
    }
    let mut failed = false;
    for name in &args.containers {
        match client.docker.start_container(name, None).await {
            Ok(()) => writeln!(std::io::stdout().lock(), "{name}")?,
            Err(e) => {
                failed = true;
                report::daemon_error(&e.into());
            }
        }
    }
    if failed {
        return Err(StatusError::silent(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// An attached start of a created container.
#[derive(Debug)]
struct Session {
    id: String,
    attach: Attach,
    tty: bool,
    /// `--rm`: the daemon removes the container, so wait for `removed` rather than `next-exit`.
    wait_removed: bool,
    detach_keys: Option<String>,
    sig_proxy: bool,
}

impl Session {
    async fn run(&self, client: &Client) -> Result<ExitCode> {
        let detach_keys = match &self.detach_keys {
            Some(spec) => stream::parse_detach_keys(spec).map_err(|e| StatusError::wrap(e, 125))?,
            None => stream::DEFAULT_DETACH_KEYS.to_vec(),
        };
        let attached = if self.attach.any() {
            let options = AttachContainerOptions {
                stream: true,
                stdin: self.attach.stdin,
                stdout: self.attach.stdout,
                stderr: self.attach.stderr,
                detach_keys: self.detach_keys.clone(),
                logs: false,
            };
            Some(
                client
                    .docker
                    .attach_container(&self.id, Some(options))
                    .await
                    .map_err(|e| StatusError::for_run(e.into()))?,
            )
        } else {
            None
        };
        let waiter = spawn_wait(client, &self.id, self.wait_removed);
        tokio::time::sleep(WAIT_HEAD_START).await;
        if let Err(e) = client.docker.start_container(&self.id, None).await {
            waiter.abort();
            return Err(StatusError::for_run(e.into()));
        }
        let resizer = if self.tty {
            stream::monitor_size(client, ResizeTarget::Container(self.id.clone()))
        } else {
            None
        };
        let proxy = (self.sig_proxy && !self.tty).then(|| proxy_signals(client, &self.id));
        let streamed = match attached {
            Some(a) => {
                stream::pump(a.output, a.input, self.attach.stdin, self.tty, &detach_keys).await
            }
            None => Ok(Ended::Closed),
        };
        let code = match streamed {
            // Detached: the container goes on; there is no exit code to wait for.
            Ok(Ended::Detached) => {
                waiter.abort();
                Ok(0)
            }
            _ => self.exit_code(client, waiter).await,
        };
        for task in resizer.into_iter().chain(proxy) {
            task.abort();
        }
        streamed?;
        let code = code?;
        Ok(ExitCode::from(code))
    }

    /// The wait's answer. The output has ended, so the process has exited: should the wait
    /// have reached the daemon only after that (a `next-exit` wait would then never answer),
    /// the exit code recorded in the container's state is the answer instead.
    async fn exit_code(&self, client: &Client, mut waiter: JoinHandle<Result<u8>>) -> Result<u8> {
        let joined = |r: Result<Result<u8>, tokio::task::JoinError>| {
            r.map_err(|e| anyhow!("wait for the container: {e}"))?
        };
        tokio::select! {
            r = &mut waiter => return joined(r),
            () = tokio::time::sleep(WAIT_GRACE) => {}
        }
        if !self.wait_removed {
            if let Ok(info) = client.docker.inspect_container(&self.id, None).await {
                let state = info.state.unwrap_or_default();
                if state.running == Some(false) && state.restarting != Some(true) {
                    waiter.abort();
                    return Ok(exit_byte(state.exit_code.unwrap_or_default()));
                }
            }
        }
        joined(waiter.await)
    }
}

/// Registers `POST /containers/{id}/wait` now and yields its exit code later.
fn spawn_wait(client: &Client, id: &str, removed: bool) -> JoinHandle<Result<u8>> {
    let condition = if removed { "removed" } else { "next-exit" };
    let mut stream = client
        .docker
        .wait_container(
            id,
            Some(WaitContainerOptions {
                condition: condition.into(),
            }),
        )
        .boxed();
    tokio::spawn(async move {
        match stream.next().await {
            Some(Ok(r)) => match r.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
                Some(message) => Err(StatusError::wrap(anyhow!(message), 125)),
                None => Ok(exit_byte(r.status_code)),
            },
            // bollard turns a non-zero exit into an error; it is the answer we want.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(exit_byte(code)),
            Some(Err(e)) => Err(StatusError::wrap(e.into(), 125)),
            None => Err(StatusError::wrap(
                anyhow!("the daemon closed the wait without an exit code"),
                125,
            )),
        }
    })
}

/// An exit code as a process exit status (docker passes it through; out-of-range is 125).
pub fn exit_byte(code: i64) -> u8 {
    u8::try_from(code).unwrap_or(125)
}

/// `--sig-proxy` (without a TTY): signals sent to `silo` go to the container instead.
fn proxy_signals(client: &Client, id: &str) -> JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let client = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let mut received = futures::stream::SelectAll::new();
        for (kind, name) in kinds {
            if let Ok(s) = signal(kind) {
                received.push(
                    futures::stream::unfold(s, move |mut s| async move {
                        s.recv().await.map(|()| (name, s))
                    })
                    .boxed(),
                );
            }
        }
        while let Some(name) = received.next().await {
            let options = KillContainerOptions {
                signal: name.to_string(),
            };
            let _ = client.docker.kill_container(&id, Some(options)).await;
        }
    })
}
