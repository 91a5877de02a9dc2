//! Docker's network verbs over the network service: create, list, inspect, remove and prune,
//! with Docker's events (`network create`, `network destroy`, `network prune`), plus silo's
//! host view (`Get-HnsNetwork`). Connecting and disconnecting containers live with the
//! containers, which own the endpoints' lifecycle.

use std::net::IpAddr;

use silo_errdefs::{ErrorKind, HasKind};
pub use silo_network::{
    Driver, Endpoint, HostObject, HostView, MacPool, Network, NetworkError, NetworkRequest,
    Policies, PoolRequest, Subnet,
};

use crate::{Engine, EngineError, Result};

/// A network and the endpoints on it right now (Docker's `Containers`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInfo {
    pub network: Network,
    pub endpoints: Vec<Endpoint>,
}

impl NetworkInfo {
    /// Whether the network is pre-defined (the default `nat` network, Docker's `bridge`):
    /// `type=builtin`, never pruned, never removed.
    pub fn builtin(&self) -> bool {
        self.network.default
    }
}

/// One IPAM pool as the API and CLI spell it (`--subnet`, `--gateway`, `--ip-range`): empty
/// strings are absent. Errors name the field and value, as 400s.
pub fn pool_request(subnet: &str, gateway: &str, ip_range: &str) -> Result<PoolRequest> {
    let subnet = subnet.trim();
    let gateway = gateway.trim();
    let ip_range = ip_range.trim();
    let invalid = |what: &'static str, value: &str, reason: String| EngineError::InvalidParameter {
        what,
        value: value.to_string(),
        reason,
    };
    let mut pool = PoolRequest::default();
    if !subnet.is_empty() {
        pool.subnet = Some(subnet.parse().map_err(|e| {
            invalid(
                "subnet",
                subnet,
                format!("{e} (expected a CIDR such as 10.1.2.0/24)"),
            )
        })?);
    }
    if !gateway.is_empty() {
        let gw: IpAddr = gateway
            .parse()
            .map_err(|e| invalid("gateway", gateway, format!("{e} (expected an IP address)")))?;
        pool.gateway = Some(gw);
    }
    if !ip_range.is_empty() {
        pool.ip_range = Some(
            ip_range
                .parse()
                .map_err(|e| invalid("ip-range", ip_range, format!("{e} (expected a CIDR)")))?,
        );
    }
    Ok(pool)
}

impl Engine {
    /// `network create`: the service checks the name, driver and pools; publishes
    /// `network create`.
    pub async fn create_network(&self, req: NetworkRequest) -> Result<Network> {
        let service = self.containers.network()?;
        let network = service.create_network(req).await?;
        self.events.network("create", &network, &[]);
        Ok(network)
    }

    /// Every network with its endpoints, oldest first.
    pub fn networks(&self) -> Result<Vec<NetworkInfo>> {
        let service = self.containers.network()?;
        service
            .networks()?
            .into_iter()
            .map(|network| {
                let endpoints = service.endpoints_of_network(&network.id)?;
                Ok(NetworkInfo { network, endpoints })
            })
            .collect()
    }

    /// One network by id, name, `bridge` or unique id prefix, with its endpoints.
    pub fn network(&self, key: &str) -> Result<NetworkInfo> {
        let service = self.containers.network()?;
        let network = service.network(key)?;
        let endpoints = service.endpoints_of_network(&network.id)?;
        Ok(NetworkInfo { network, endpoints })
    }

    /// `network rm`: refused for the default network (403) and while containers are attached
    /// (403, as dockerd's active-endpoints error); publishes `network destroy`.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let service = self.containers.network()?;
        let network = service.network(key)?;
        service.remove_network(&network.id).await?;
        self.events.network("destroy", &network, &[]);
        Ok(())
    }

    /// `network prune`: removes every user-defined network without endpoints that `keep`
    /// accepts; answers the names removed. Networks that gained an endpoint or vanished
    /// meanwhile are skipped.
    pub async fn prune_networks(&self, keep: impl Fn(&Network) -> bool) -> Result<Vec<String>> {
        let candidates: Vec<Network> = self
            .networks()?
            .into_iter()
            .filter(|info| !info.builtin() && info.endpoints.is_empty() && keep(&info.network))
            .map(|info| info.network)
            .collect();
        let mut removed = Vec::new();
        for network in candidates {
            match self.remove_network(&network.id).await {
                Ok(()) => removed.push(network.name),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::PermissionDenied
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        self.events.prune("network", 0);
        Ok(removed)
    }

    /// The network as the host has it: its endpoints and host objects (silo's
    /// `Get-HnsNetwork`).
    pub async fn network_host_view(&self, key: &str) -> Result<HostView> {
        let service = self.containers.network()?;
        Ok(service.host_view(key).await?)
    }
}

impl From<NetworkError> for EngineError {
    fn from(e: NetworkError) -> Self {
        EngineError::Network(Box::new(e))
    }
}

/// dockerd answers these 403 (`errdefs.Forbidden`), which compose relies on to leave a network
/// still in use alone; the service classes them Conflict.
pub(crate) fn network_error_kind(e: &NetworkError) -> ErrorKind {
    match e {
        NetworkError::InUse { .. } => ErrorKind::PermissionDenied,
        other => other.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_or_name_the_bad_field() {
        let pool = pool_request("10.1.2.0/24", "10.1.2.254", "10.1.2.128/25").unwrap();
        assert_eq!(pool.subnet.unwrap().to_string(), "10.1.2.0/24");
        assert_eq!(pool.gateway.unwrap().to_string(), "10.1.2.254");
        assert_eq!(pool.ip_range.unwrap().to_string(), "10.1.2.128/25");
        let empty = pool_request("", " ", "").unwrap();
        assert!(empty.subnet.is_none() && empty.gateway.is_none() && empty.ip_range.is_none());
        let err = pool_request("10.1.2/24", "", "").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("invalid subnet: \"10.1.2/24\""),
            "{err}"
        );
        let err = pool_request("10.1.2.0/24", "nope", "").unwrap_err();
        assert!(err.to_string().contains("invalid gateway"), "{err}");
        let err = pool_request("10.1.2.0/24", "", "10.1.2.0/33").unwrap_err();
        assert!(err.to_string().contains("invalid ip-range"), "{err}");
    }

    #[test]
    fn active_endpoints_are_forbidden_like_dockerd() {
        let e = NetworkError::InUse {
            name: "n".into(),
            id: "i".into(),
            containers: "c".into(),
        };
        assert_eq!(network_error_kind(&e), ErrorKind::PermissionDenied);
        assert_eq!(
            network_error_kind(&NetworkError::NotFound("x".into())),
            ErrorKind::NotFound
        );
    }
}
