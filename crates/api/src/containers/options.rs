//! The create options beyond the basics: Docker's `HostConfig` → the engine's
//! [`HostOptions`], and the refusal of everything silo does not honour (never silently
//! ignored: 501 for what silo lacks, 400 for what is malformed).

use bollard_stubs::models::{HostConfig, HostConfigIsolationEnum};
use silo_engine::{HostOptions, Ulimit};

use crate::error::ApiError;

fn unsupported(what: &str) -> ApiError {
    ApiError::not_implemented(format!("silo does not support {what} yet"))
}

/// What `--security-opt` asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub systempaths_unconfined: bool,
}

/// Docker's `--security-opt` values: `no-new-privileges[:true|false]`, `seccomp=unconfined`,
/// `systempaths=unconfined`, and `apparmor=unconfined` / `label=disable` (what silo does
/// anyway: it applies neither AppArmor nor SELinux). Anything else is refused.
pub fn security_opts(opts: &[String]) -> Result<SecurityOpts, ApiError> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("no-new-privileges", Some(v)) => {
                return Err(ApiError::invalid(format!(
                    "invalid --security-opt 2: \"no-new-privileges={v}\""
                )))
            }
            ("seccomp", Some("unconfined")) => out.seccomp_unconfined = true,
            ("seccomp", Some(_)) => {
                return Err(unsupported(
                    "custom seccomp profiles (--security-opt seccomp=<profile>); only seccomp=unconfined",
                ))
            }
            ("systempaths", Some("unconfined")) => out.systempaths_unconfined = true,
            ("apparmor", Some("unconfined")) | ("label", Some("disable")) => {}
            ("apparmor", _) => return Err(unsupported("AppArmor profiles (--security-opt apparmor=...)")),
            ("label", _) => return Err(unsupported("SELinux labels (--security-opt label=...)")),
            _ => {
                return Err(ApiError::invalid(format!(
                    "invalid --security-opt: {opt:?}: silo understands no-new-privileges, seccomp=unconfined, systempaths=unconfined, apparmor=unconfined and label=disable"
                )))
            }
        }
    }
    Ok(out)
}

/// Maps the honoured options.
pub fn host_options(hc: &HostConfig, security: SecurityOpts) -> Result<HostOptions, ApiError> {
    let log = hc.log_config.clone().unwrap_or_default();
    match log.typ.as_deref() {
        None | Some("") | Some("json-file") => {}
        Some(other) => {
            return Err(unsupported(&format!(
                "the {other:?} log driver (silo writes json-file logs)"
            )))
        }
    }
    let isolation = match &hc.isolation {
        None | Some(HostConfigIsolationEnum::EMPTY) | Some(HostConfigIsolationEnum::DEFAULT) => {
            String::new()
        }
        Some(HostConfigIsolationEnum::PROCESS) => "process".to_string(),
        Some(HostConfigIsolationEnum::HYPERV) => "hyperv".to_string(),
    };
    let ulimits = hc
        .ulimits
        .iter()
        .flatten()
        .map(|u| Ulimit {
            name: u.name.clone().unwrap_or_default(),
            soft: u.soft.unwrap_or_default(),
            hard: u.hard.unwrap_or_default(),
        })
        .collect();
    let (masked_paths, readonly_paths) = if security.systempaths_unconfined {
        (Some(Vec::new()), Some(Vec::new()))
    } else {
        (hc.masked_paths.clone(), hc.readonly_paths.clone())
    };
    Ok(HostOptions {
        privileged: hc.privileged.unwrap_or_default(),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        no_new_privileges: security.no_new_privileges,
        security_opt: hc.security_opt.clone().unwrap_or_default(),
        seccomp_unconfined: security.seccomp_unconfined,
        masked_paths,
        readonly_paths,
        readonly_rootfs: hc.readonly_rootfs.unwrap_or_default(),
        tmpfs: hc.tmpfs.clone().unwrap_or_default().into_iter().collect(),
        memory_swap: hc.memory_swap.unwrap_or_default(),
        cpu_quota: hc.cpu_quota.unwrap_or_default(),
        cpu_period: hc.cpu_period.unwrap_or_default(),
        oom_score_adj: hc.oom_score_adj.unwrap_or_default(),
        ulimits,
        shm_size: hc.shm_size.unwrap_or_default(),
        log_opts: log.config.unwrap_or_default().into_iter().collect(),
        isolation,
        network_mode: hc.network_mode.clone().unwrap_or_default(),
        port_bindings: port_bindings(hc.port_bindings.as_ref()),
        publish_all_ports: hc.publish_all_ports.unwrap_or_default(),
        dns: hc.dns.clone().unwrap_or_default(),
        dns_search: hc.dns_search.clone().unwrap_or_default(),
        dns_options: hc.dns_options.clone().unwrap_or_default(),
        extra_hosts: hc.extra_hosts.clone().unwrap_or_default(),
    })
}

/// `HostConfig.PortBindings` as the engine's.
fn port_bindings(
    map: Option<&bollard_stubs::models::PortMap>,
) -> std::collections::BTreeMap<String, Vec<silo_engine::PortBinding>> {
    let mut out = std::collections::BTreeMap::new();
    for (key, hosts) in map.into_iter().flatten() {
        out.insert(
            key.clone(),
            hosts
                .iter()
                .flatten()
                .map(|h| silo_engine::PortBinding {
                    host_ip: h.host_ip.clone().unwrap_or_default(),
                    host_port: h.host_port.clone().unwrap_or_default(),
                })
                .collect(),
        );
    }
    out
}

/// Everything Docker accepts that silo cannot honour: refused, never ignored.
pub fn check_unsupported(hc: &HostConfig) -> Result<(), ApiError> {
    fn set<T>(v: &Option<Vec<T>>) -> bool {
        v.as_ref().is_some_and(|v| !v.is_empty())
    }
    fn text(v: &Option<String>) -> bool {
        v.as_deref().is_some_and(|v| !v.is_empty())
    }
    let positive = |v: Option<i64>| v.is_some_and(|v| v > 0);
    let checks: [(bool, &str); 24] = [
        (text(&hc.cgroup_parent), "--cgroup-parent"),
        (hc.blkio_weight.is_some_and(|w| w > 0), "--blkio-weight"),
        (
            set(&hc.blkio_weight_device)
                || set(&hc.blkio_device_read_bps)
                || set(&hc.blkio_device_write_bps)
                || set(&hc.blkio_device_read_iops)
                || set(&hc.blkio_device_write_iops),
            "block I/O limits (--blkio-weight-device, --device-read-bps, ...)",
        ),
        (
            positive(hc.cpu_realtime_period) || positive(hc.cpu_realtime_runtime),
            "realtime cpu scheduling (--cpu-rt-period/--cpu-rt-runtime)",
        ),
        (
            text(&hc.cpuset_cpus) || text(&hc.cpuset_mems),
            "--cpuset-cpus/--cpuset-mems",
        ),
        (set(&hc.devices), "devices (--device)"),
        (set(&hc.device_cgroup_rules), "--device-cgroup-rule"),
        (set(&hc.device_requests), "device requests (--gpus)"),
        (positive(hc.memory_reservation), "--memory-reservation"),
        (
            hc.memory_swappiness.is_some_and(|v| v != -1),
            "--memory-swappiness",
        ),
        (hc.oom_kill_disable == Some(true), "--oom-kill-disable"),
        (
            positive(hc.cpu_count)
                || positive(hc.cpu_percent)
                || positive(hc.io_maximum_iops)
                || positive(hc.io_maximum_bandwidth),
            "--cpu-count/--cpu-percent/--io-maxiops/--io-maxbandwidth (Windows options)",
        ),
        (text(&hc.volume_driver), "--volume-driver"),
        (set(&hc.volumes_from), "--volumes-from"),
        (
            hc.annotations.as_ref().is_some_and(|a| !a.is_empty()),
            "--annotation",
        ),
        (set(&hc.group_add), "--group-add"),
        (
            !matches!(
                hc.ipc_mode.as_deref(),
                None | Some("" | "private" | "shareable")
            ),
            "--ipc other than private",
        ),
        (text(&hc.cgroup), "--cgroup"),
        (
            set(&hc.links),
            "--link (use a user-defined network: containers on it resolve each other by name)",
        ),
        (text(&hc.pid_mode), "--pid"),
        (
            hc.storage_opt.as_ref().is_some_and(|o| !o.is_empty()),
            "--storage-opt",
        ),
        (text(&hc.uts_mode), "--uts"),
        (
            !matches!(hc.userns_mode.as_deref(), None | Some("" | "host")),
            "--userns",
        ),
        (
            hc.sysctls.as_ref().is_some_and(|s| !s.is_empty()),
            "--sysctl",
        ),
    ];
    if let Some((_, what)) = checks.iter().find(|(on, _)| *on) {
        return Err(unsupported(what));
    }
    if text(&hc.runtime) {
        return Err(unsupported(
            "--runtime (silo runs containers through its compute service)",
        ));
    }
    let private_cgroupns = hc
        .cgroupns_mode
        .as_ref()
        .is_some_and(|m| m.to_string() == "private");
    if private_cgroupns {
        return Err(unsupported("--cgroupns private"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(v: serde_json::Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn security_opts_are_understood_or_refused() {
        let opts = |v: &[&str]| security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(opts(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(
            !opts(&["no-new-privileges=false"])
                .unwrap()
                .no_new_privileges
        );
        assert!(opts(&["seccomp=unconfined"]).unwrap().seccomp_unconfined);
        assert!(opts(&["apparmor=unconfined", "label=disable"]).is_ok());
        assert_eq!(opts(&["bogus"]).unwrap_err().status(), 400);
        assert_eq!(opts(&["seccomp=/x.json"]).unwrap_err().status(), 501);
        assert_eq!(
            opts(&["apparmor=docker-default"]).unwrap_err().status(),
            501
        );
    }

    #[test]
    fn honoured_options_are_mapped() {
        let hc = hc(serde_json::json!({
            "Privileged": true, "CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"],
            "ReadonlyRootfs": true, "Tmpfs": {"/run": "size=1m"}, "MemorySwap": -1,
            "CpuQuota": 50000, "CpuPeriod": 100000, "OomScoreAdj": 10, "ShmSize": 1048576,
            "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            "Isolation": "process"
        }));
        let o = host_options(&hc, SecurityOpts::default()).unwrap();
        assert!(o.privileged && o.readonly_rootfs);
        assert_eq!(o.cap_drop, ["ALL"]);
        assert_eq!(o.tmpfs["/run"], "size=1m");
        assert_eq!(
            (o.memory_swap, o.cpu_quota, o.shm_size),
            (-1, 50000, 1048576)
        );
        assert_eq!(o.ulimits[0].hard, 20);
        assert_eq!(o.log_opts["max-size"], "1m");
        assert_eq!(o.isolation, "process");
        let syslog = self::hc(serde_json::json!({"LogConfig": {"Type": "syslog"}}));
        assert_eq!(
            host_options(&syslog, SecurityOpts::default())
                .unwrap_err()
                .status(),
            501
        );
    }

    #[test]
    fn dockers_cli_defaults_pass_and_real_requests_are_refused() {
        // What `docker run busybox` sends, trimmed to the fields that carry defaults.
        let defaults = hc(serde_json::json!({
            "CpuShares": 0, "Memory": 0, "CgroupParent": "", "BlkioWeight": 0,
            "BlkioWeightDevice": [], "CpuRealtimePeriod": 0, "CpusetCpus": "", "Devices": [],
            "DeviceCgroupRules": null, "MemoryReservation": 0, "MemorySwappiness": null,
            "OomKillDisable": null, "Dns": [], "DnsOptions": [], "DnsSearch": [],
            "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null,
            "PidMode": "", "PublishAllPorts": false, "UTSMode": "", "UsernsMode": "",
            "CgroupnsMode": "", "ConsoleSize": [0, 0], "Isolation": ""
        }));
        check_unsupported(&defaults).unwrap();
        for body in [
            serde_json::json!({"Devices": [{"PathOnHost": "/dev/fuse"}]}),
            serde_json::json!({"CpusetCpus": "0"}),
            serde_json::json!({"PidMode": "host"}),
            serde_json::json!({"Sysctls": {"net.ipv4.ip_forward": "1"}}),
            serde_json::json!({"Links": ["db:db"]}),
            serde_json::json!({"OomKillDisable": true}),
        ] {
            let err = check_unsupported(&hc(body.clone())).unwrap_err();
            assert_eq!(err.status(), 501, "{body}");
            assert!(
                err.message().contains("does not support"),
                "{}",
                err.message()
            );
        }
    }
}
