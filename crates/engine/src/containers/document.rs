//! Turns a container record into the compute-system document the compute service builds.

use std::path::PathBuf;

use silo_compute::{
    CapabilitySet, ComputeSystemDocument, LogSettings, Mount, MountKind, NetworkNamespace,
    ProcessParameters, Resources, Rlimit, Rootfs, SeccompProfile, Security, User,
};

use super::error::ContainerError;
use super::model::{Container, HostConfig};

/// The owner recorded on every compute system the engine creates.
pub const OWNER: &str = "silod";

/// Docker's `user[:group]` (names or numbers; empty is root) as the compute service's user.
pub fn user_of(spec: &str) -> User {
    match spec.split_once(':') {
        _ if spec.is_empty() => User::default(),
        Some((user, group)) => User::Named {
            user: user.to_string(),
            group: Some(group.to_string()),
            additional_groups: Vec::new(),
        },
        None => User::Named {
            user: spec.to_string(),
            group: None,
            additional_groups: Vec::new(),
        },
    }
}

/// The document for `c`, on `layers` (base first) with its sandbox in `sandbox`, in the
/// network namespace `network`, with `name_files` (hosts, resolv.conf, hostname) mounted.
pub fn build(
    c: &Container,
    layers: Vec<PathBuf>,
    sandbox: PathBuf,
    network: NetworkNamespace,
    name_files: Vec<Mount>,
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
    let user = user_of(&c.config.user);
    let hc = &c.host_config;
    Ok(ComputeSystemDocument {
        schema_version: silo_compute::document::SCHEMA_VERSION,
        owner: OWNER.to_string(),
        id: c.id.clone(),
        isolation: Default::default(),
        rootfs: Rootfs {
            layers,
            sandbox,
            read_only: hc.extra.readonly_rootfs,
        },
        mounts: name_files.into_iter().chain(mounts(hc)?).collect(),
        resources: resources(hc),
        network,
        process: ProcessParameters {
            args,
            env: c.config.env.clone(),
            cwd,
            user,
            terminal: c.config.tty,
            console_size: c
                .config
                .console_size
                .map(|(width, height)| silo_compute::ConsoleSize { width, height }),
            open_stdin: c.config.open_stdin,
            stdin_once: c.config.stdin_once,
            no_new_privileges: hc.extra.no_new_privileges,
            capabilities: CapabilitySet {
                add: hc.extra.cap_add.clone(),
                drop: hc.extra.cap_drop.clone(),
            },
            oom_score_adj: oom_score_adj(hc)?,
            rlimits: rlimits(hc)?,
        },
        log: log_settings(hc)?,
        hostname: Some(c.config.hostname.clone()).filter(|h| !h.is_empty()),
        security: Security {
            privileged: hc.extra.privileged,
            seccomp: if hc.extra.seccomp_unconfined {
                SeccompProfile::Unconfined
            } else {
                SeccompProfile::Default
            },
            masked_paths: hc.extra.masked_paths.clone(),
            readonly_paths: hc.extra.readonly_paths.clone(),
        },
        user_namespace: None,
        // silo's default differs from Docker's on purpose: an init is PID 1 unless the client
        // says `--init=false`. Without one, a program that installs no SIGTERM handler (most
        // shells' children, `sleep`, many small servers) is PID 1, the kernel drops the stop
        // signal, and every `docker stop` waits out the full timeout before the SIGKILL. Stop
        // must stop; the init also reaps orphaned zombies.
        init: init_enabled(hc),
    })
}

/// Whether the container runs silo-init as PID 1: unless `--init=false` was asked for.
pub fn init_enabled(hc: &HostConfig) -> bool {
    hc.init != Some(false)
}

fn positive(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

/// Docker's defaults: `--memory` without `--memory-swap` allows as much swap again (swap =
/// twice the memory); `-1` is unlimited swap.
pub fn resources(hc: &HostConfig) -> Resources {
    let memory = positive(hc.memory);
    let memory_swap = match (memory, hc.extra.memory_swap) {
        (_, -1) => Some(-1),
        (Some(m), 0) => Some(m.saturating_mul(2)),
        (_, 0) => None,
        (_, swap) => Some(swap),
    };
    Resources {
        memory_bytes: memory,
        memory_swap,
        nano_cpus: positive(hc.nano_cpus),
        cpu_quota: positive(hc.extra.cpu_quota),
        cpu_period: positive(hc.extra.cpu_period).map(|v| v as u64),
        cpu_shares: positive(hc.cpu_shares).map(|v| v as u64),
        pids_limit: hc.pids_limit.and_then(positive),
    }
}

/// `--tmpfs` mounts and the `/dev/shm` of `--shm-size`.
fn mounts(hc: &HostConfig) -> Result<Vec<Mount>, ContainerError> {
    let mut out = Vec::new();
    for (destination, options) in &hc.extra.tmpfs {
        if !destination.starts_with('/') {
            return Err(ContainerError::InvalidConfig(format!(
                "invalid mount path for tmpfs: {destination:?} must be absolute"
            )));
        }
        let mut read_only = false;
        let mut opts = Vec::new();
        for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match opt {
                "ro" => read_only = true,
                "rw" => read_only = false,
                other => opts.push(other.to_string()),
            }
        }
        out.push(Mount {
            source: None,
            destination: PathBuf::from(destination),
            kind: MountKind::Tmpfs,
            read_only,
            options: opts,
        });
    }
    if hc.extra.shm_size > 0 && !hc.extra.tmpfs.contains_key("/dev/shm") {
        out.push(Mount {
            source: None,
            destination: PathBuf::from("/dev/shm"),
            kind: MountKind::Tmpfs,
            read_only: false,
            options: vec!["mode=1777".into(), format!("size={}", hc.extra.shm_size)],
        });
    }
    Ok(out)
}

/// `--log-opt max-size=10m --log-opt max-file=3` (already merged over daemon.json's
/// `log-opts`); other options are refused at create.
pub fn log_settings(hc: &HostConfig) -> Result<LogSettings, ContainerError> {
    let mut out = LogSettings::default();
    for (key, value) in &hc.extra.log_opts {
        match key.as_str() {
            "max-size" => {
                out.max_size = silo_shim::logs::parse_size(value)
                    .map_err(|e| ContainerError::InvalidConfig(e.to_string()))?;
            }
            "max-file" => {
                out.max_file = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ContainerError::InvalidConfig(format!(
                        "invalid value for max-file: {value:?}: must be a positive integer"
                    ))
                })?;
            }
            other => {
                return Err(ContainerError::InvalidConfig(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    if out.max_file > 1 && out.max_size.is_none() {
        return Err(ContainerError::InvalidConfig(
            "max-file cannot be set without max-size".to_string(),
        ));
    }
    Ok(out)
}

fn oom_score_adj(hc: &HostConfig) -> Result<Option<i32>, ContainerError> {
    match hc.extra.oom_score_adj {
        0 => Ok(None),
        v @ -1000..=1000 => Ok(Some(v as i32)),
        v => Err(ContainerError::InvalidConfig(format!(
            "Invalid value {v}, range for oom score adj is [-1000, 1000]"
        ))),
    }
}

fn rlimits(hc: &HostConfig) -> Result<Vec<Rlimit>, ContainerError> {
    hc.extra
        .ulimits
        .iter()
        .map(|u| {
            let bad = || {
                ContainerError::InvalidConfig(format!(
                    "invalid ulimit {}={}:{}",
                    u.name, u.soft, u.hard
                ))
            };
            let soft = u64::try_from(u.soft).map_err(|_| bad())?;
            let hard = u64::try_from(u.hard).map_err(|_| bad())?;
            if soft > hard {
                return Err(ContainerError::InvalidConfig(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
            Ok(Rlimit {
                name: u.name.to_ascii_lowercase(),
                soft,
                hard,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::model::{HostOptions, Ulimit};
    use std::collections::BTreeMap;

    #[test]
    fn init_is_on_unless_the_client_turns_it_off() {
        let mut hc = HostConfig::default();
        assert!(
            init_enabled(&hc),
            "default: silo differs from Docker on purpose"
        );
        hc.init = Some(true);
        assert!(init_enabled(&hc));
        hc.init = Some(false);
        assert!(!init_enabled(&hc));
    }

    #[test]
    fn log_opts_become_rotation_settings() {
        let mut hc = HostConfig::default();
        assert_eq!(log_settings(&hc).unwrap(), LogSettings::default());
        hc.extra.log_opts = BTreeMap::from([
            ("max-size".to_string(), "10k".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]);
        let s = log_settings(&hc).unwrap();
        assert_eq!((s.max_size, s.max_file), (Some(10 * 1024), 3));
        for (k, v) in [("max-file", "0"), ("max-size", "huge"), ("labels", "a")] {
            let mut bad = hc.clone();
            bad.extra.log_opts.insert(k.to_string(), v.to_string());
            assert!(log_settings(&bad).is_err(), "{k}={v}");
        }
        hc.extra.log_opts.remove("max-size");
        assert!(log_settings(&hc).is_err(), "max-file without max-size");
    }

    #[test]
    fn memory_swap_follows_dockers_defaults() {
        let mut hc = HostConfig {
            memory: 32 << 20,
            ..HostConfig::default()
        };
        assert_eq!(resources(&hc).memory_swap, Some(64 << 20));
        hc.extra.memory_swap = -1;
        assert_eq!(resources(&hc).memory_swap, Some(-1));
        hc.extra.memory_swap = 48 << 20;
        assert_eq!(resources(&hc).memory_swap, Some(48 << 20));
        let none = HostConfig::default();
        assert_eq!(resources(&none), Resources::default());
    }

    #[test]
    fn tmpfs_shm_ulimits_and_oom_map_onto_the_document() {
        let hc = HostConfig {
            extra: HostOptions {
                tmpfs: BTreeMap::from([("/run".to_string(), "rw,size=64m,noexec".to_string())]),
                shm_size: 256 << 20,
                ulimits: vec![Ulimit {
                    name: "NOFILE".into(),
                    soft: 10,
                    hard: 20,
                }],
                oom_score_adj: 500,
                ..HostOptions::default()
            },
            ..HostConfig::default()
        };
        let got = mounts(&hc).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].destination, PathBuf::from("/run"));
        assert_eq!(got[0].options, ["size=64m", "noexec"]);
        assert!(!got[0].read_only);
        assert_eq!(got[1].destination, PathBuf::from("/dev/shm"));
        assert_eq!(got[1].options[1], format!("size={}", 256 << 20));
        let limits = rlimits(&hc).unwrap();
        assert_eq!((limits[0].name.as_str(), limits[0].soft), ("nofile", 10));
        assert_eq!(oom_score_adj(&hc).unwrap(), Some(500));

        let mut bad = hc.clone();
        bad.extra.oom_score_adj = 2000;
        assert!(oom_score_adj(&bad).is_err());
        bad.extra.tmpfs = BTreeMap::from([("rel".to_string(), String::new())]);
        assert!(mounts(&bad).is_err());
    }
}
