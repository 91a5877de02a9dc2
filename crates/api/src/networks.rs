//! `/networks/...`: Docker's network endpoints over the engine's network verbs, and silo's
//! host view.
//!
//! - `GET /networks?filters=` (`name`, `id`, `driver`, `label`, `type`=custom|builtin,
//!   `dangling`, `scope`): Docker's network objects, `Containers` left empty as dockerd does in
//!   lists; `SiloEndpointCount` (silo extension) is the live number of endpoints.
//! - `GET /networks/{id}?verbose=&scope=`: one network with its `Containers`.
//! - `POST /networks/create` → 201 `{"Id","Warning"}`; `DELETE /networks/{id}` → 204;
//!   `POST /networks/{id}/connect` and `/disconnect` → 200; `POST /networks/prune?filters=`
//!   (`label`, `label!`, `until`) → `{"NetworksDeleted":[names]}`.
//! - `GET /silo/networks/{id}/host-view` (silo extension, the `Get-HnsNetwork` analog): the
//!   service's `HostView` as serde writes it, field names in snake_case:
//!   `{"network": {"id","name","driver","subnets":[{"subnet","gateway","ip_range"}],
//!   "options","labels","internal","attachable","enable_ipv6","mac_pool":{"start","end"},
//!   "created","interface","default"}, "endpoints": [{"id","network_id","container_id",
//!   "container_name","aliases","netns","ifname","ipv4","ipv6","mac","gateway","gateway_v6",
//!   "static_ip","policies":{"ports":[{"protocol","host_ip","host_port","container_port"}],
//!   "outbound_nat":{"enabled","exceptions"},"acls":[…]},"created"}],
//!   "host_objects": [{"kind","name","present","detail"}]}`.
//!
//! The driver is reported under silo's name (`nat`, `internal`, `transparent`, `l2bridge`);
//! Docker's names are accepted on create and in the `driver` filter.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    EndpointSettings as DockerEndpointSettings, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use silo_engine::{Driver, Endpoint, EndpointSettings, Network, NetworkInfo, NetworkRequest};

use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{ApiJson, Params};
use crate::{blocking, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
        .route("/silo/networks/{id}/host-view", get(host_view))
}

// ---- JSON ------------------------------------------------------------------------------------

/// Docker's network object (`GET /networks`, `GET /networks/{id}`), field for field and in
/// dockerd's order, plus `SiloEndpointCount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkJson {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: IpamJson,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigFromJson,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, EndpointJson>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    /// silo extension: endpoints on the network right now (lists leave `Containers` empty).
    #[serde(rename = "SiloEndpointCount")]
    pub silo_endpoint_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpamJson {
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Config")]
    pub config: Vec<IpamConfigJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpamConfigJson {
    #[serde(rename = "Subnet")]
    pub subnet: String,
    #[serde(rename = "IPRange", skip_serializing_if = "Option::is_none", default)]
    pub ip_range: Option<String>,
    #[serde(rename = "Gateway")]
    pub gateway: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFromJson {
    #[serde(rename = "Network")]
    pub network: String,
}

/// One entry of `Containers`, keyed by container id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointJson {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl From<&Endpoint> for EndpointJson {
    fn from(e: &Endpoint) -> Self {
        EndpointJson {
            name: e.container_name.clone(),
            endpoint_id: e.id.clone(),
            mac_address: e.mac.clone(),
            ipv4_address: e.ipv4.map(|a| a.to_string()).unwrap_or_default(),
            ipv6_address: e.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        }
    }
}

/// The network as Docker shows it; `with_containers` fills `Containers` (inspect).
pub fn network_json(info: &NetworkInfo, with_containers: bool) -> NetworkJson {
    let n = &info.network;
    let containers = if with_containers {
        info.endpoints
            .iter()
            .map(|e| (e.container_id.clone(), EndpointJson::from(e)))
            .collect()
    } else {
        BTreeMap::new()
    };
    NetworkJson {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        scope: "local".to_string(),
        driver: n.driver.as_str().to_string(),
        enable_ipv4: n.ipv4().is_some(),
        enable_ipv6: n.enable_ipv6,
        ipam: IpamJson {
            driver: "default".to_string(),
            options: BTreeMap::new(),
            config: n
                .subnets
                .iter()
                .map(|s| IpamConfigJson {
                    subnet: s.subnet.to_string(),
                    ip_range: s.ip_range.map(|r| r.to_string()),
                    gateway: s.gateway.to_string(),
                })
                .collect(),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: ConfigFromJson::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
        silo_endpoint_count: info.endpoints.len(),
    }
}

// ---- list, inspect -----------------------------------------------------------------------------

/// The filter keys dockerd accepts for `docker network ls`.
const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

/// A validated `GET /networks` filter set.
#[derive(Debug)]
pub struct ListFilter {
    filters: Filters,
    dangling: Option<bool>,
}

impl ListFilter {
    pub fn new(filters: Filters) -> Result<Self, ApiError> {
        filters.validate(LIST_FILTERS)?;
        for t in filters.get("type") {
            if !matches!(t.as_str(), "custom" | "builtin") {
                return Err(ApiError::invalid(format!(
                    "invalid filter 'type={t}': expected custom or builtin"
                )));
            }
        }
        for s in filters.get("scope") {
            if !matches!(s.as_str(), "local" | "global" | "swarm") {
                return Err(ApiError::invalid(format!("invalid filter 'scope={s}'")));
            }
        }
        let dangling = filters.bool("dangling")?;
        Ok(ListFilter { filters, dangling })
    }

    /// Whether `info` passes every filter (values of one key are alternatives).
    pub fn matches(&self, info: &NetworkInfo) -> bool {
        let n = &info.network;
        let f = &self.filters;
        let any = |key: &str, test: &dyn Fn(&str) -> bool| {
            let values = f.get(key);
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let kind = if info.builtin() { "builtin" } else { "custom" };
        any("name", &|v| name_matches(v, &n.name))
            && any("id", &|v| n.id.contains(v))
            && any("driver", &|v| {
                v == n.driver.as_str() || Driver::parse(v) == Some(n.driver)
            })
            && any("type", &|v| v == kind)
            && any("scope", &|v| v == "local")
            && f.match_labels("label", |k| n.labels.get(k).map(String::as_str))
            && self
                .dangling
                .is_none_or(|d| d == (!info.builtin() && info.endpoints.is_empty()))
    }
}

/// dockerd matches names with a regular expression; silo understands the forms people use: a
/// substring, optionally anchored with `^` and `$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    match (start, end) {
        (true, true) => name == core,
        (true, false) => name.starts_with(core),
        (false, true) => name.ends_with(core),
        (false, false) => name.contains(core),
    }
}

async fn list(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let filter = ListFilter::new(Filters::parse(params.get("filters"))?)?;
    let engine = state.engine.clone();
    let networks = blocking(move || engine.networks()).await?;
    let out: Vec<NetworkJson> = networks
        .iter()
        .filter(|info| filter.matches(info))
        .map(|info| network_json(info, false))
        .collect();
    Ok(Json(out).into_response())
}

async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    // `verbose` adds swarm services and tasks: a local network has none.
    let _ = params.flag("verbose");
    if let Some(scope) = params.non_empty("scope") {
        if scope != "local" {
            return Err(ApiError::not_found(format!("network {id} not found")));
        }
    }
    let engine = state.engine.clone();
    let key = id.clone();
    let info = blocking(move || engine.network(&key)).await?;
    Ok(Json(network_json(&info, true)).into_response())
}

// ---- create, remove, prune ---------------------------------------------------------------------

/// `POST /networks/create`'s body as dockerd accepts it: the fields silo acts on become a
/// [`NetworkRequest`], the swarm-only ones are refused when set (501), malformed addresses are
/// 400s. `CheckDuplicate` is implied (names are always unique).
pub fn network_request(body: NetworkCreateRequest) -> Result<NetworkRequest, ApiError> {
    let name = body.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("network name is required"));
    }
    if let Some(scope) = body
        .scope
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "local")
    {
        return Err(ApiError::not_implemented(format!(
            "silo supports only local networks, not scope {scope:?}"
        )));
    }
    if body.ingress == Some(true) {
        return Err(ApiError::not_implemented(
            "silo does not support ingress networks (swarm routing mesh)",
        ));
    }
    if body.config_only == Some(true)
        || body
            .config_from
            .as_ref()
            .and_then(|c| c.network.as_deref())
            .is_some_and(|n| !n.is_empty())
    {
        return Err(ApiError::not_implemented(
            "silo does not support config-only networks (--config-only, --config-from)",
        ));
    }
    if body.enable_ipv4 == Some(false) {
        return Err(ApiError::not_implemented(
            "silo does not support networks without IPv4 (--ipv4=false)",
        ));
    }
    let mut pools = Vec::new();
    if let Some(ipam) = &body.ipam {
        let driver = ipam.driver.as_deref().unwrap_or_default();
        if !matches!(driver, "" | "default") {
            return Err(ApiError::not_implemented(format!(
                "silo supports only the default IPAM driver, not {driver:?}"
            )));
        }
        for config in ipam.config.iter().flatten() {
            if config
                .auxiliary_addresses
                .as_ref()
                .is_some_and(|a| !a.is_empty())
            {
                return Err(ApiError::not_implemented(
                    "silo does not support auxiliary addresses (--aux-address)",
                ));
            }
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            let pool = silo_engine::pool_request(
                &text(&config.subnet),
                &text(&config.gateway),
                &text(&config.ip_range),
            )?;
            pools.push(pool);
        }
    }
    let sorted = |m: Option<HashMap<String, String>>| -> BTreeMap<String, String> {
        m.unwrap_or_default().into_iter().collect()
    };
    Ok(NetworkRequest {
        name,
        driver: body.driver.unwrap_or_default(),
        pools,
        options: sorted(body.options),
        labels: sorted(body.labels),
        internal: body.internal.unwrap_or(false),
        attachable: body.attachable.unwrap_or(false),
        enable_ipv6: body.enable_ipv6.unwrap_or(false),
    })
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NetworkCreateRequest>,
) -> Result<Response, ApiError> {
    let req = network_request(body)?;
    let network = state.engine.create_network(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"Id": network.id, "Warning": ""})),
    )
        .into_response())
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.engine.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune` filters: `label`, `label!` and `until`.
pub fn prune_filter(filters: &Filters) -> Result<impl Fn(&Network) -> bool, ApiError> {
    let filter = crate::filters::PruneFilter::new(filters)?;
    Ok(move |n: &Network| filter.matches(|k| n.labels.get(k).map(String::as_str), n.created))
}

async fn prune(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let keep = prune_filter(&Filters::parse(params.get("filters"))?)?;
    let deleted = state.engine.prune_networks(keep).await?;
    Ok(Json(serde_json::json!({ "NetworksDeleted": deleted })).into_response())
}

// ---- connect, disconnect -----------------------------------------------------------------------

/// `EndpointConfig` of `network connect` as the engine takes it: addresses parsed (400 when
/// malformed), what silo cannot do refused (501).
pub fn endpoint_settings(
    config: Option<DockerEndpointSettings>,
) -> Result<EndpointSettings, ApiError> {
    let Some(config) = config else {
        return Ok(EndpointSettings::default());
    };
    if config.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::not_implemented(
            "silo does not support links (--link): use the network's DNS names instead",
        ));
    }
    if config.gw_priority.is_some_and(|p| p != 0) {
        return Err(ApiError::not_implemented(
            "silo does not support gateway priorities (--gw-priority)",
        ));
    }
    let ipam = config.ipam_config.unwrap_or_default();
    if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::not_implemented(
            "silo does not support link-local addresses (--link-local-ip)",
        ));
    }
    let ipv4 = ipam
        .ipv4_address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| ApiError::invalid(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    let ipv6 = ipam
        .ipv6_address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv6Addr>()
                .map_err(|_| ApiError::invalid(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    let mac = config.mac_address.filter(|m| !m.trim().is_empty());
    if let Some(mac) = &mac {
        if !valid_mac(mac) {
            return Err(ApiError::invalid(format!("invalid MAC address: {mac}")));
        }
    }
    Ok(EndpointSettings {
        ipv4,
        ipv6,
        aliases: config
            .aliases
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect(),
        mac,
        driver_opts: config.driver_opts.unwrap_or_default().into_iter().collect(),
    })
}

/// Six colon-separated hex octets, as Go's `net.ParseMAC` takes for Ethernet.
fn valid_mac(mac: &str) -> bool {
    let octets: Vec<&str> = mac.split(':').collect();
    octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn connect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NetworkConnectRequest>,
) -> Result<Response, ApiError> {
    if body.container.trim().is_empty() {
        return Err(ApiError::invalid("a container name or id is required"));
    }
    let settings = endpoint_settings(body.endpoint_config)?;
    state
        .engine
        .connect_network(&id, &body.container, settings)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NetworkDisconnectRequest>,
) -> Result<Response, ApiError> {
    if body.container.trim().is_empty() {
        return Err(ApiError::invalid("a container name or id is required"));
    }
    state
        .engine
        .disconnect_network(&id, &body.container, body.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::OK.into_response())
}

// ---- host view ----------------------------------------------------------------------------------

async fn host_view(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.engine.network_host_view(&id).await?;
    Ok(Json(view).into_response())
}

#[cfg(test)]
mod tests;
