//! `POST /containers/create`: Docker's create body → the engine's [`CreateRequest`].
//!
//! Options silo cannot honour yet are refused (400 for a pty, 501 for the rest) rather than
//! silently dropped, so a client never gets a container that differs from what it asked for.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, HostConfig};
use std::collections::BTreeMap;

use silo_engine::{CreateRequest, EndpointSettings, RestartPolicy};

use crate::error::ApiError;
use crate::params::{ApiJson, Params};
use crate::AppState;

pub async fn create(
    State(state): State<AppState>,
    params: Params,
    ApiJson(body): ApiJson<ContainerCreateBody>,
) -> Result<Response, ApiError> {
    let req = request(body)?;
    if let Some(platform) = params.non_empty("platform") {
        let image = state.engine.image(&req.image)?;
        check_platform(
            &req.image,
            platform,
            &image.config.os().to_string(),
            &image.config.architecture().to_string(),
        )?;
    }
    let id = state
        .engine
        .create_container(params.non_empty("name"), req)
        .await?;
    let answer = ContainerCreateResponse {
        id,
        warnings: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `--platform` picks nothing at create (the image is already pulled) but must match it, as
/// dockerd checks: `os[/arch[/variant]]`, the variant not compared.
fn check_platform(image: &str, wanted: &str, os: &str, arch: &str) -> Result<(), ApiError> {
    let mut parts = wanted.split('/');
    let want_os = parts.next().unwrap_or_default();
    let want_arch = parts.next();
    let ok =
        want_os.eq_ignore_ascii_case(os) && want_arch.is_none_or(|a| a.eq_ignore_ascii_case(arch));
    if ok {
        return Ok(());
    }
    Err(ApiError::not_found(format!(
        "image with reference {image} was found but its platform ({os}/{arch}) does not match the specified platform ({wanted})"
    )))
}

fn unsupported(what: &str) -> ApiError {
    ApiError::not_implemented(format!("silo does not support {what} yet"))
}

/// Validates the body and keeps what silo honours.
pub fn request(body: ContainerCreateBody) -> Result<CreateRequest, ApiError> {
    let image = body.image.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::invalid("config cannot be empty in order to create a container")
    })?;
    let hc = body.host_config.unwrap_or_default();
    check_host_config(&hc)?;
    check_config(&body.healthcheck, &body.volumes, body.domainname.as_deref())?;
    let endpoints = endpoints(body.networking_config.as_ref())?;
    let security = super::options::security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
    let extra = super::options::host_options(&hc, security)?;
    let restart_policy = hc
        .restart_policy
        .map(|p| RestartPolicy {
            name: p
                .name
                .and_then(|n| serde_json::to_value(n).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            maximum_retry_count: p.maximum_retry_count.unwrap_or_default(),
        })
        .unwrap_or_default();
    Ok(CreateRequest {
        image,
        cmd: body.cmd.filter(|c| !c.is_empty()),
        entrypoint: body.entrypoint.filter(|e| !e.is_empty()),
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir,
        stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
        stop_timeout: body.stop_timeout,
        user: body.user,
        hostname: body.hostname.filter(|h| !h.is_empty()),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        tty: body.tty.unwrap_or_default(),
        open_stdin: body.open_stdin.unwrap_or_default(),
        stdin_once: body.stdin_once.unwrap_or_default(),
        attach_stdin: body.attach_stdin.unwrap_or_default(),
        attach_stdout: body.attach_stdout.unwrap_or_default(),
        attach_stderr: body.attach_stderr.unwrap_or_default(),
        console_size: console_size(hc.console_size.as_deref()),
        exposed_ports: body.exposed_ports.clone().unwrap_or_default(),
        endpoints,
        host_config: silo_engine::HostConfig {
            memory: hc.memory.unwrap_or_default(),
            nano_cpus: hc.nano_cpus.unwrap_or_default(),
            cpu_shares: hc.cpu_shares.unwrap_or_default(),
            pids_limit: hc.pids_limit,
            init: hc.init,
            auto_remove: hc.auto_remove.unwrap_or_default(),
            restart_policy,
            extra,
        },
    })
}

/// Docker's `ConsoleSize` (`[height, width]`) as (columns, rows); absent or zero is none.
fn console_size(v: Option<&[usize]>) -> Option<(u16, u16)> {
    match v {
        Some(&[h, w]) if h > 0 && w > 0 => Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?)),
        _ => None,
    }
}

/// Refuses container options silo cannot honour.
fn check_config(
    healthcheck: &Option<bollard_stubs::models::HealthConfig>,
    volumes: &Option<Vec<String>>,
    domainname: Option<&str>,
) -> Result<(), ApiError> {
    let test = healthcheck.as_ref().and_then(|h| h.test.as_ref());
    if test.is_some_and(|t| !t.is_empty() && t[0] != "NONE") {
        return Err(unsupported("health checks (--health-cmd)"));
    }
    if volumes.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("anonymous volumes"));
    }
    if domainname.is_some_and(|d| !d.is_empty()) {
        return Err(unsupported("--domainname"));
    }
    Ok(())
}

/// `NetworkingConfig.EndpointsConfig` as the engine's endpoint settings; `--link` is refused.
fn endpoints(
    config: Option<&bollard_stubs::models::NetworkingConfig>,
) -> Result<BTreeMap<String, EndpointSettings>, ApiError> {
    let mut out = BTreeMap::new();
    let endpoints = config.and_then(|c| c.endpoints_config.as_ref());
    for (network, e) in endpoints.into_iter().flatten() {
        if e.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(unsupported(
                "--link (use a user-defined network: containers on it resolve each other by name)",
            ));
        }
        let ipam = e.ipam_config.as_ref();
        let parse_ip = |v: Option<&String>| -> Result<Option<std::net::IpAddr>, ApiError> {
            match v.map(String::as_str).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(ip) => ip
                    .parse()
                    .map(Some)
                    .map_err(|_| ApiError::invalid(format!("invalid IP address {ip:?}"))),
            }
        };
        let ipv4 = match parse_ip(ipam.and_then(|c| c.ipv4_address.as_ref()))? {
            None => None,
            Some(std::net::IpAddr::V4(a)) => Some(a),
            Some(other) => {
                return Err(ApiError::invalid(format!("{other} is not an IPv4 address")))
            }
        };
        let ipv6 = match parse_ip(ipam.and_then(|c| c.ipv6_address.as_ref()))? {
            None => None,
            Some(std::net::IpAddr::V6(a)) => Some(a),
            Some(other) => {
                return Err(ApiError::invalid(format!("{other} is not an IPv6 address")))
            }
        };
        out.insert(
            network.clone(),
            EndpointSettings {
                ipv4,
                ipv6,
                aliases: e.aliases.clone().unwrap_or_default(),
                mac: e.mac_address.clone().filter(|m| !m.is_empty()),
                driver_opts: e
                    .driver_opts
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            },
        );
    }
    Ok(out)
}

/// Refuses host options that would change what the container is if ignored.
fn check_host_config(hc: &HostConfig) -> Result<(), ApiError> {
    fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
        v.as_ref().is_some_and(|v| !v.is_empty())
    }
    if non_empty(&hc.binds) || non_empty(&hc.mounts) {
        return Err(unsupported("volumes and bind mounts"));
    }
    super::options::check_unsupported(hc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn binds_are_not_implemented() {
        let req = request(body(
            serde_json::json!({"Image": "busybox", "Tty": true, "OpenStdin": true}),
        ))
        .unwrap();
        assert!(req.tty && req.open_stdin);
        let err = request(body(serde_json::json!({
            "Image": "busybox", "HostConfig": {"Binds": ["/a:/b"]}
        })))
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn endpoint_settings_and_ports_reach_the_engine_and_links_are_refused() {
        let req = request(body(serde_json::json!({
            "Image": "busybox",
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {
                "NetworkMode": "mynet",
                "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
                "PublishAllPorts": true,
                "Dns": ["10.0.0.53"],
                "ExtraHosts": ["db:10.0.0.5"]
            },
            "NetworkingConfig": {"EndpointsConfig": {"mynet": {
                "IPAMConfig": {"IPv4Address": "10.77.0.10"},
                "Aliases": ["web"],
                "DriverOpts": {"silo.outbound-nat": "false"}
            }}}
        })))
        .unwrap();
        let x = &req.host_config.extra;
        assert_eq!(x.network_mode, "mynet");
        assert_eq!(x.port_bindings["8080/tcp"][0].host_port, "18080");
        assert!(x.publish_all_ports);
        assert_eq!(x.dns, ["10.0.0.53"]);
        assert_eq!(x.extra_hosts, ["db:10.0.0.5"]);
        assert_eq!(req.exposed_ports, ["80/tcp"]);
        let ep = &req.endpoints["mynet"];
        assert_eq!(ep.ipv4, Some("10.77.0.10".parse().unwrap()));
        assert_eq!(ep.aliases, ["web"]);
        assert_eq!(ep.driver_opts["silo.outbound-nat"], "false");

        for networking in [
            serde_json::json!({"EndpointsConfig": {"mynet": {"Links": ["db:db"]}}}),
            serde_json::json!({"EndpointsConfig": {"mynet": {"IPAMConfig": {"IPv4Address": "fd00::1"}}}}),
            serde_json::json!({"EndpointsConfig": {"mynet": {"IPAMConfig": {"IPv4Address": "nonsense"}}}}),
        ] {
            let err = request(body(serde_json::json!({
                "Image": "busybox", "NetworkingConfig": networking
            })))
            .unwrap_err();
            assert!(
                err.status().is_client_error() || err.status() == StatusCode::NOT_IMPLEMENTED,
                "{networking}"
            );
        }
    }

    #[test]
    fn platform_must_match_the_image() {
        check_platform("busybox", "linux/amd64", "linux", "amd64").unwrap();
        check_platform("busybox", "linux", "linux", "amd64").unwrap();
        check_platform("busybox", "linux/amd64/v3", "linux", "amd64").unwrap();
        let err = check_platform("busybox", "linux/arm64", "linux", "amd64").unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert!(err
            .message()
            .contains("does not match the specified platform"));
    }

    #[test]
    fn keeps_what_silo_honours() {
        let req = request(body(serde_json::json!({
            "Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "Labels": {"k": "v"},
            "HostConfig": {"Memory": 1048576, "NetworkMode": "default",
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}
        })))
        .unwrap();
        assert_eq!(req.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(req.host_config.memory, 1048576);
        assert_eq!(req.host_config.restart_policy.name, "on-failure");
        assert_eq!(req.labels["k"], "v");
    }
}
