//! Turns a container record into the compute-system document the compute service builds.

use std::path::PathBuf;

use silo_compute::{
    ComputeSystemDocument, NetworkNamespace, ProcessParameters, Resources, Rootfs, User,
};

use super::error::ContainerError;
use super::model::Container;

/// The owner recorded on every compute system the engine creates.
pub const OWNER: &str = "silod";

/// The document for `c`, on `layers` (base first) with its sandbox in `sandbox`.
///
/// There is no network service yet, so every container gets a fresh namespace with only
/// loopback (Docker's `--network none`).
pub fn build(
    c: &Container,
    layers: Vec<PathBuf>,
    sandbox: PathBuf,
) -> Result<ComputeSystemDocument, ContainerError> {
    let args: Vec<String> = c.argv().into_iter().cloned().collect();
    if args.is_empty() {
        return Err(ContainerError::InvalidConfig(
            "no command specified".to_string(),
        ));
    }
    let cwd = if c.config.working_dir.is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(&c.config.working_dir)
    };
    let user = match c.config.user.split_once(':') {
        _ if c.config.user.is_empty() => User::default(),
        Some((user, group)) => User::Named {
            user: user.to_string(),
            group: Some(group.to_string()),
            additional_groups: Vec::new(),
        },
        None => User::Named {
            user: c.config.user.clone(),
            group: None,
            additional_groups: Vec::new(),
        },
    };
    let hc = &c.host_config;
    let positive = |v: i64| (v > 0).then_some(v);
    Ok(ComputeSystemDocument {
        schema_version: silo_compute::document::SCHEMA_VERSION,
        owner: OWNER.to_string(),
        id: c.id.clone(),
        isolation: Default::default(),
        rootfs: Rootfs {
            layers,
            sandbox,
            read_only: false,
        },
        mounts: Vec::new(),
        resources: Resources {
            memory_bytes: positive(hc.memory),
            nano_cpus: positive(hc.nano_cpus),
            cpu_shares: positive(hc.cpu_shares).map(|v| v as u64),
            pids_limit: hc.pids_limit.and_then(positive),
            ..Resources::default()
        },
        network: NetworkNamespace::None,
        process: ProcessParameters {
            args,
            env: c.config.env.clone(),
            cwd,
            user,
            terminal: false,
            console_size: None,
            no_new_privileges: false,
            capabilities: Default::default(),
            oom_score_adj: None,
            rlimits: Vec::new(),
        },
        hostname: Some(c.config.hostname.clone()).filter(|h| !h.is_empty()),
        security: Default::default(),
        user_namespace: None,
        init: false,
    })
}
