//! `GET /containers/json` and `GET /containers/{id}/json`: records in Docker's shapes.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use silo_engine::{Container, ContainerNetwork, ContainerStatus};

use super::filter::ListFilter;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::Params;
use crate::AppState;

/// Docker's zero time, shown for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub async fn list(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let filters = Filters::parse(params.get("filters"))?;
    let limit = match params.non_empty("limit") {
        None => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(format!("invalid value for limit: {l:?}")))?,
    };
    let with_size = params.flag("size");
    let engine = state.engine.clone();
    let rows = crate::blocking(move || -> Result<Vec<Value>, ApiError> {
        let filter = ListFilter::new(filters, &engine)?;
        let all = params.flag("all") || filter.implies_all() || limit > 0;
        let now = Utc::now();
        let take = usize::try_from(limit)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(usize::MAX);
        Ok(engine
            .list_containers(all)?
            .iter()
            .filter(|c| filter.matches(c))
            .take(take)
            .map(|c| {
                let mut row = summary(c, now, &engine.container_networks(c));
                if with_size {
                    let rw = engine.container_size_rw(c);
                    let image = engine.image(&c.image_id).map(|i| i.size).unwrap_or(0);
                    row["SizeRw"] = json!(rw);
                    row["SizeRootFs"] = json!(rw + image);
                }
                row
            })
            .collect())
    })
    .await?;
    Ok(Json(rows).into_response())
}

pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = state.engine.container(&id)?;
    let networks = state.engine.container_networks(&c);
    Ok(Json(details(&c, &networks)).into_response())
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

/// One row of `docker ps`.
pub fn summary(c: &Container, now: DateTime<Utc>, networks: &[ContainerNetwork]) -> Value {
    let command = c
        .argv()
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image_name,
        "ImageID": c.image_id,
        "Command": command,
        "Created": c.created.timestamp(),
        "Ports": port_rows(networks),
        "Labels": c.config.labels,
        "State": c.state.status.as_str(),
        "Status": status_text(c, now),
        "HostConfig": {"NetworkMode": network_mode(c)},
        "NetworkSettings": {"Networks": endpoint_settings(networks)},
        "Mounts": [],
    })
}

/// `Up 3 seconds`, `Exited (0) 2 seconds ago`, `Created`: the STATUS column.
pub fn status_text(c: &Container, now: DateTime<Utc>) -> String {
    let since = |t: Option<DateTime<Utc>>| human_duration(now - t.unwrap_or(now));
    match c.state.status {
        ContainerStatus::Running => format!("Up {}", since(c.state.started_at)),
        ContainerStatus::Paused => format!("Up {} (Paused)", since(c.state.started_at)),
        ContainerStatus::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            since(c.state.finished_at)
        ),
        ContainerStatus::Created => "Created".to_string(),
        ContainerStatus::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            since(c.state.finished_at)
        ),
        ContainerStatus::Removing => "Removal In Progress".to_string(),
        ContainerStatus::Dead => "Dead".to_string(),
    }
}

/// Go's `units.HumanDuration`, which `docker ps` uses.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        s if s < 1 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => plural(s, "second"),
        s if s / 60 == 1 => "About a minute".to_string(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if (s as f64 / 3600.0).round() == 1.0 => "About an hour".to_string(),
        s if s < 48 * 3600 => plural((s as f64 / 3600.0).round() as i64, "hour"),
        s if s < 7 * 24 * 3600 * 2 => plural(s / (24 * 3600), "day"),
        s if s < 30 * 24 * 3600 * 3 => plural(s / (7 * 24 * 3600), "week"),
        s if s < 365 * 24 * 3600 * 2 => plural(s / (30 * 24 * 3600), "month"),
        s => plural(s / (365 * 24 * 3600), "year"),
    }
}

/// `HostConfig.NetworkMode` as Docker shows it (`bridge` for the default network).
fn network_mode(c: &Container) -> &str {
    match c.host_config.extra.network_mode.as_str() {
        "" => "bridge",
        mode => mode,
    }
}

/// `NetworkSettings.Networks`: one entry per network, addresses while the container runs.
fn endpoint_settings(networks: &[ContainerNetwork]) -> Value {
    let mut out = serde_json::Map::new();
    for n in networks {
        let e = n.endpoint.as_ref();
        let v4 = e.and_then(|e| e.ipv4);
        let v6 = e.and_then(|e| e.ipv6);
        let ipam = match (n.settings.ipv4, n.settings.ipv6) {
            (None, None) => Value::Null,
            (v4, v6) => json!({
                "IPv4Address": v4.map(|a| a.to_string()).unwrap_or_default(),
                "IPv6Address": v6.map(|a| a.to_string()).unwrap_or_default(),
            }),
        };
        let text = |v: Option<String>| v.unwrap_or_default();
        out.insert(
            n.name.clone(),
            json!({
                "IPAMConfig": ipam,
                "Links": null,
                "Aliases": if n.settings.aliases.is_empty() { Value::Null } else { json!(n.settings.aliases) },
                "MacAddress": text(e.map(|e| e.mac.clone())),
                "DriverOpts": if n.settings.driver_opts.is_empty() { Value::Null } else { json!(n.settings.driver_opts) },
                "NetworkID": n.network.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                "EndpointID": text(e.map(|e| e.id.clone())),
                "Gateway": text(e.and_then(|e| e.gateway).map(|g| g.to_string())),
                "IPAddress": text(v4.map(|a| a.addr().to_string())),
                "IPPrefixLen": v4.map(|a| a.prefix_len()).unwrap_or(0),
                "IPv6Gateway": text(e.and_then(|e| e.gateway_v6).map(|g| g.to_string())),
                "GlobalIPv6Address": text(v6.map(|a| a.addr().to_string())),
                "GlobalIPv6PrefixLen": v6.map(|a| a.prefix_len()).unwrap_or(0),
                "DNSNames": e.map(|e| {
                    let mut names = vec![e.container_name.clone()];
                    names.extend(e.aliases.iter().cloned());
                    json!(names)
                }),
            }),
        );
    }
    Value::Object(out)
}

/// The published ports of a running container, each with its host side.
fn published(networks: &[ContainerNetwork]) -> Vec<&silo_network::PortMapping> {
    networks
        .iter()
        .filter_map(|n| n.endpoint.as_ref())
        .flat_map(|e| e.policies.ports.iter())
        .collect()
}

/// `NetworkSettings.Ports`: every exposed or published port; published ones with their host
/// bindings (`docker port` reads this), the rest null.
fn ports_map(c: &Container, networks: &[ContainerNetwork]) -> Value {
    let mut out = serde_json::Map::new();
    for port in &c.config.exposed_ports {
        out.insert(port.clone(), Value::Null);
    }
    for key in c.host_config.extra.port_bindings.keys() {
        out.entry(key.clone()).or_insert(Value::Null);
    }
    for p in published(networks) {
        let key = format!("{}/{}", p.container_port, p.protocol.as_str());
        let host_ip = p
            .host_ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "0.0.0.0".to_string());
        let binding = json!({"HostIp": host_ip, "HostPort": p.host_port.to_string()});
        match out.get_mut(&key) {
            Some(Value::Array(list)) => list.push(binding),
            _ => {
                out.insert(key, json!([binding]));
            }
        }
    }
    Value::Object(out)
}

/// `Ports` of a `docker ps` row.
fn port_rows(networks: &[ContainerNetwork]) -> Value {
    json!(published(networks)
        .iter()
        .map(|p| json!({
            "IP": p.host_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "0.0.0.0".to_string()),
            "PrivatePort": p.container_port,
            "PublicPort": p.host_port,
            "Type": p.protocol.as_str(),
        }))
        .collect::<Vec<_>>())
}

/// `NetworkSettings` of inspect: Docker's shape, with the default network's addresses also
/// at the top level as Docker does for `bridge`.
fn network_settings(c: &Container, networks: &[ContainerNetwork]) -> Value {
    let default = networks
        .iter()
        .find(|n| n.network.as_ref().is_some_and(|n| n.default))
        .and_then(|n| n.endpoint.as_ref());
    let v4 = default.and_then(|e| e.ipv4);
    let sandbox = networks
        .iter()
        .find_map(|n| n.endpoint.as_ref())
        .map(|e| e.netns.display().to_string())
        .unwrap_or_default();
    json!({
        "Bridge": "",
        "SandboxID": if sandbox.is_empty() { "" } else { c.id.as_str() },
        "SandboxKey": sandbox,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_map(c, networks),
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": default.map(|e| e.id.clone()).unwrap_or_default(),
        "Gateway": default.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": default.and_then(|e| e.ipv6).map(|a| a.addr().to_string()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": default.and_then(|e| e.ipv6).map(|a| a.prefix_len()).unwrap_or(0),
        "IPAddress": v4.map(|a| a.addr().to_string()).unwrap_or_default(),
        "IPPrefixLen": v4.map(|a| a.prefix_len()).unwrap_or(0),
        "IPv6Gateway": default.and_then(|e| e.gateway_v6).map(|g| g.to_string()).unwrap_or_default(),
        "MacAddress": default.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": endpoint_settings(networks),
    })
}

/// `HostConfig.PortBindings` as the client sent them.
fn port_bindings(c: &Container) -> Value {
    let mut out = serde_json::Map::new();
    for (key, hosts) in &c.host_config.extra.port_bindings {
        out.insert(
            key.clone(),
            json!(hosts
                .iter()
                .map(|h| json!({"HostIp": h.host_ip, "HostPort": h.host_port}))
                .collect::<Vec<_>>()),
        );
    }
    Value::Object(out)
}

/// `docker inspect` of a container.
pub fn details(c: &Container, networks: &[ContainerNetwork]) -> Value {
    let st = &c.state;
    let status = st.status;
    let cfg = &c.config;
    let hc = &c.host_config;
    let x = &hc.extra;
    json!({
        "Id": c.id,
        "Created": time(Some(c.created)),
        "Path": c.path(),
        "Args": c.args(),
        "State": {
            "Status": status.as_str(),
            "Running": matches!(status, ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting),
            "Paused": status == ContainerStatus::Paused,
            "Restarting": status == ContainerStatus::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": status == ContainerStatus::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": time(st.started_at),
            "FinishedAt": time(st.finished_at),
            // silo: how the last run ended (GracefulExit, ForcedExit, UnexpectedExit); null
            // before the first exit.
            "SiloExitType": st.exit_type,
        },
        "Image": c.image_id,
        "Name": c.name,
        "RestartCount": st.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "Config": {
            "Hostname": if cfg.hostname.is_empty() { &c.id[..12.min(c.id.len())] } else { cfg.hostname.as_str() },
            "User": cfg.user,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "StdinOnce": cfg.stdin_once,
            "AttachStdin": cfg.attach_stdin,
            "AttachStdout": cfg.attach_stdout,
            "AttachStderr": cfg.attach_stderr,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
            "Image": c.image_name,
            "WorkingDir": cfg.working_dir,
            "Labels": cfg.labels,
            "StopSignal": if cfg.stop_signal.is_empty() { Value::Null } else { json!(cfg.stop_signal) },
            "StopTimeout": cfg.stop_timeout,
            "ExposedPorts": cfg.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect::<serde_json::Map<_, _>>(),
        },
        "HostConfig": {
            "Memory": hc.memory,
            "NanoCpus": hc.nano_cpus,
            "CpuShares": hc.cpu_shares,
            "PidsLimit": hc.pids_limit,
            "AutoRemove": hc.auto_remove,
            "NetworkMode": network_mode(c),
            "PortBindings": port_bindings(c),
            "PublishAllPorts": x.publish_all_ports,
            "Dns": x.dns,
            "DnsSearch": x.dns_search,
            "DnsOptions": x.dns_options,
            "ExtraHosts": if x.extra_hosts.is_empty() { Value::Null } else { json!(x.extra_hosts) },
            "RestartPolicy": {
                "Name": if hc.restart_policy.name.is_empty() { "no" } else { hc.restart_policy.name.as_str() },
                "MaximumRetryCount": hc.restart_policy.maximum_retry_count,
            },
            "LogConfig": {"Type": "json-file", "Config": x.log_opts},
            "Privileged": x.privileged,
            "CapAdd": x.cap_add,
            "CapDrop": x.cap_drop,
            "SecurityOpt": x.security_opt,
            "ReadonlyRootfs": x.readonly_rootfs,
            "Tmpfs": x.tmpfs,
            "MemorySwap": silo_memory_swap(hc),
            "CpuQuota": x.cpu_quota,
            "CpuPeriod": x.cpu_period,
            "OomScoreAdj": x.oom_score_adj,
            "Ulimits": x.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "ShmSize": if x.shm_size > 0 { x.shm_size } else { 64 << 20 },
            "Isolation": x.isolation,
            "MaskedPaths": x.masked_paths,
            "ReadonlyPaths": x.readonly_paths,
        },
        "Mounts": [],
        "NetworkSettings": network_settings(c, networks),
    })
}

/// `MemorySwap` as Docker reports it: the effective value (twice the memory by default).
fn silo_memory_swap(hc: &silo_engine::HostConfig) -> i64 {
    match (hc.memory, hc.extra.memory_swap) {
        (m, 0) if m > 0 => m * 2,
        (_, swap) => swap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(TimeDelta::zero()), "Less than a second");
        assert_eq!(human_duration(TimeDelta::seconds(3)), "3 seconds");
        assert_eq!(human_duration(TimeDelta::seconds(70)), "About a minute");
        assert_eq!(human_duration(TimeDelta::seconds(600)), "10 minutes");
        assert_eq!(human_duration(TimeDelta::seconds(3 * 3600)), "3 hours");
        assert_eq!(human_duration(TimeDelta::days(3)), "3 days");
    }
}
