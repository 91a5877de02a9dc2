//! `/_ping`, `/version`, `/info` and `/auth`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    AuthConfig, IndexInfo, LocalNodeState, PluginsInfo, RegistryServiceConfig, SwarmInfo,
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemInfoIsolationEnum,
    SystemVersion, SystemVersionComponents, SystemVersionPlatform,
};
use silo_engine::SystemInfo as EngineInfo;

use crate::error::ApiError;
use crate::params::ApiJson;
use crate::version::{API_VERSION, MIN_API_VERSION};
use crate::{host, AppState};

/// Routes that do not touch the engine.
pub fn routes() -> Router {
    Router::new()
        .route("/_ping", get(ping))
        .route("/version", get(version))
        .route("/auth", post(auth))
}

/// Routes that need the engine.
pub fn engine_routes() -> Router<AppState> {
    Router::new().route("/info", get(info))
}

/// `GET|HEAD /_ping` (axum answers HEAD from the GET handler without the body).
async fn ping() -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ),
        (
            HeaderName::from_static("builder-version"),
            HeaderValue::from_static("1"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        ),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("swarm"),
            HeaderValue::from_static("inactive"),
        ),
    ];
    (headers, "OK").into_response()
}

/// `GET /version`.
async fn version() -> Json<SystemVersion> {
    Json(system_version())
}

pub(crate) fn system_version() -> SystemVersion {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let kernel = host::kernel_version();
    let details = HashMap::from([
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("Os".to_string(), "linux".to_string()),
        ("Arch".to_string(), host::go_arch().to_string()),
        ("KernelVersion".to_string(), kernel.clone()),
        ("Experimental".to_string(), "false".to_string()),
    ]);
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "silo".to_string(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".to_string(),
            version: version.clone(),
            details: Some(details),
        }]),
        version: Some(version),
        api_version: Some(API_VERSION.to_string()),
        min_api_version: Some(MIN_API_VERSION.to_string()),
        os: Some("linux".to_string()),
        arch: Some(host::go_arch().to_string()),
        kernel_version: Some(kernel),
        experimental: Some(false),
        ..Default::default()
    }
}

/// `POST /auth` (`docker login`). The body is checked so a malformed request is a 400, but
/// silo cannot verify credentials against a registry yet and says so instead of pretending.
async fn auth(ApiJson(_config): ApiJson<AuthConfig>) -> ApiError {
    ApiError::not_implemented("login is not supported yet")
}

/// `GET /info`.
async fn info(State(state): State<AppState>) -> Result<Json<SystemInfo>, ApiError> {
    let engine = state.engine.clone();
    let facts = tokio::task::spawn_blocking(move || engine.info())
        .await
        .map_err(|e| ApiError::internal(format!("info: {e}")))??;
    Ok(Json(system_info(facts)))
}

pub(crate) fn system_info(facts: EngineInfo) -> SystemInfo {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let cgroup_version = match host::cgroup_version() {
        "2" => SystemInfoCgroupVersionEnum::_2,
        _ => SystemInfoCgroupVersionEnum::_1,
    };
    let isolation = match facts.default_isolation.as_str() {
        "process" => SystemInfoIsolationEnum::PROCESS,
        "hyperv" | "vm" => SystemInfoIsolationEnum::HYPERV,
        _ => SystemInfoIsolationEnum::DEFAULT,
    };
    SystemInfo {
        id: Some(host::host_id()),
        containers: Some(count(facts.containers)),
        containers_running: Some(count(facts.containers_running)),
        containers_paused: Some(count(facts.containers_paused)),
        containers_stopped: Some(count(facts.containers_stopped)),
        images: Some(i64::try_from(facts.images).unwrap_or(i64::MAX)),
        driver: Some(facts.storage_driver.clone()),
        driver_status: Some(Vec::new()),
        docker_root_dir: Some(facts.data_root.display().to_string()),
        plugins: Some(PluginsInfo {
            volume: Some(Vec::new()),
            network: Some(Vec::new()),
            authorization: None,
            log: Some(Vec::new()),
        }),
        debug: Some(false),
        logging_driver: Some("json-file".to_string()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(cgroup_version),
        kernel_version: Some(host::kernel_version()),
        operating_system: Some(host::operating_system()),
        os_type: Some("linux".to_string()),
        architecture: Some(host::machine().to_string()),
        ncpu: Some(host::ncpu()),
        mem_total: Some(host::mem_total()),
        index_server_address: Some("https://index.docker.io/v1/".to_string()),
        registry_config: Some(registry_config(&facts)),
        name: Some(host::hostname()),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        swarm: Some(SwarmInfo {
            local_node_state: Some(LocalNodeState::INACTIVE),
            ..Default::default()
        }),
        live_restore_enabled: Some(false),
        isolation: Some(isolation),
        security_options: Some(vec!["name=seccomp,profile=builtin".to_string()]),
        warnings: Some(Vec::new()),
        ..Default::default()
    }
}

/// Docker's registry view: loopback is always insecure; CIDR entries are listed as CIDRs,
/// host names as non-secure index configs; Docker Hub carries the mirrors.
fn registry_config(facts: &EngineInfo) -> RegistryServiceConfig {
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut indexes = HashMap::new();
    for entry in &facts.insecure_registries {
        if is_cidr(entry) {
            if !cidrs.contains(entry) {
                cidrs.push(entry.clone());
            }
        } else {
            indexes.insert(
                entry.clone(),
                IndexInfo {
                    name: Some(entry.clone()),
                    mirrors: Some(Vec::new()),
                    secure: Some(false),
                    official: Some(false),
                },
            );
        }
    }
    indexes.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: Some("docker.io".to_string()),
            mirrors: Some(facts.registry_mirrors.clone()),
            secure: Some(true),
            official: Some(true),
        },
    );
    RegistryServiceConfig {
        insecure_registry_cidrs: Some(cidrs),
        index_configs: Some(indexes),
        mirrors: Some(facts.registry_mirrors.clone()),
    }
}

fn is_cidr(entry: &str) -> bool {
    entry.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> EngineInfo {
        EngineInfo {
            images: 3,
            containers: 4,
            containers_running: 2,
            containers_paused: 0,
            containers_stopped: 2,
            data_root: "/var/lib/silo".into(),
            storage_driver: "overlayfs".into(),
            default_isolation: "process".into(),
            insecure_registries: vec!["10.0.0.0/8".into(), "myreg:5000".into()],
            registry_mirrors: vec!["https://mirror.example".into()],
        }
    }

    #[test]
    fn info_shape() {
        let v = serde_json::to_value(system_info(facts())).unwrap();
        assert_eq!(v["Images"], 3);
        assert_eq!(v["Containers"], 4);
        assert_eq!(v["ContainersRunning"], 2);
        assert_eq!(v["ContainersPaused"], 0);
        assert_eq!(v["ContainersStopped"], 2);
        assert_eq!(v["Driver"], "overlayfs");
        assert_eq!(v["DockerRootDir"], "/var/lib/silo");
        assert_eq!(v["OSType"], "linux");
        assert_eq!(v["CgroupDriver"], "cgroupfs");
        assert!(matches!(v["CgroupVersion"].as_str(), Some("1" | "2")));
        assert_eq!(v["Isolation"], "process");
        assert_eq!(v["SecurityOptions"][0], "name=seccomp,profile=builtin");
        let reg = &v["RegistryConfig"];
        assert_eq!(
            reg["InsecureRegistryCIDRs"],
            serde_json::json!(["::1/128", "127.0.0.0/8", "10.0.0.0/8"])
        );
        assert_eq!(reg["IndexConfigs"]["myreg:5000"]["Secure"], false);
        assert_eq!(
            reg["IndexConfigs"]["docker.io"]["Mirrors"][0],
            "https://mirror.example"
        );
        assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
    }

    #[test]
    fn version_shape() {
        let v = serde_json::to_value(system_version()).unwrap();
        assert_eq!(v["ApiVersion"], "1.51");
        assert_eq!(v["MinAPIVersion"], "1.40");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Platform"]["Name"], "silo");
        assert_eq!(v["Components"][0]["Name"], "Engine");
        assert_eq!(v["Components"][0]["Details"]["ApiVersion"], "1.51");
        assert!(v.get("GoVersion").is_none());
    }
}
