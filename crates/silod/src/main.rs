//! silod: reads its configuration, opens the engine and serves the Docker Engine API.

mod config;
mod pidfile;
mod runtime;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use silo_api::{Listener, TlsConfig};
use silo_engine::{Engine, EngineConfig};

use crate::config::{DaemonConfig, FileConfig, Flags, Host};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("silod: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let flags = Flags::parse();
    let explicit_config = flags.config_file != std::path::Path::new(config::DEFAULT_CONFIG_FILE);
    let file = FileConfig::read(&flags.config_file, explicit_config)?;
    let config = config::merge(flags, file)?;
    init_logging(&config.log_level);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start async runtime")?
        .block_on(serve(config))
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SILOD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(config: DaemonConfig) -> Result<()> {
    std::fs::create_dir_all(&config.data_root)
        .with_context(|| format!("create data root {}", config.data_root.display()))?;
    let _pidfile = pidfile::PidFile::create(&config.pidfile)?;
    let runtime = runtime::build(&config).await?;
    let engine = Engine::open_with(
        EngineConfig {
            data_root: config.data_root.clone(),
            insecure_registries: config.insecure_registries.clone(),
            registry_mirrors: config.registry_mirrors.clone(),
            default_isolation: config.default_isolation.clone(),
            default_log_opts: config.log_opts.clone(),
        },
        runtime,
    )
    .await
    .context("open engine state")?;
    let listeners = config
        .hosts
        .iter()
        .map(|host| match host {
            Host::Unix(path) => Listener::Unix {
                path: path.clone(),
                mode: 0o660,
            },
            Host::Tcp(addr) if config.tls.is_none() => {
                // Only reachable with --allow-insecure-loopback-tcp (config refuses otherwise).
                tracing::warn!(
                    "listening on tcp://{addr} without TLS: any local user can reach the API and so become root on this host"
                );
                Listener::Tcp {
                    addr: *addr,
                    tls: None,
                }
            }
            Host::Tcp(addr) => Listener::Tcp {
                addr: *addr,
                tls: config.tls.as_ref().map(|t| TlsConfig {
                    ca: t.ca.clone(),
                    cert: t.cert.clone(),
                    key: t.key.clone(),
                    verify_clients: t.verify_clients,
                }),
            },
        })
        .collect();
    tracing::info!(
        data_root = %config.data_root.display(),
        hosts = ?config.hosts,
        isolation = %config.default_isolation,
        "silod starting"
    );
    silo_api::serve(engine, listeners, shutdown_signal())
        .await
        .context("serve the API")?;
    tracing::info!("silod stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the daemon can still be stopped with SIGKILL.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
