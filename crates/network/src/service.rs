//! The service: networks and endpoints kept in step with the host.
//!
//! Every mutation runs under one lock, writes the database and the host in an order that can be
//! undone, and re-applies the whole nftables table from the database (one atomic `nft`
//! transaction), so the rules never drift from the records. [`NetworkService::open`] reconciles
//! at daemon start: bridges are re-created, endpoints whose namespace vanished are cleaned up,
//! endpoints whose interface vanished are re-attached with the same address, port reservations
//! and resolvers come back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::Utc;
use ipnet::{IpNet, Ipv4Net};

use crate::dns::{self, DnsServer, Records};
use crate::error::{NetworkError, Result};
use crate::host::cni::{self, Cni, CniAttachment};
use crate::host::ports::{self, Reservation};
use crate::host::{link, netns, nft};
use crate::ipam;
use crate::model::{
    Acl, Driver, Endpoint, HostObject, HostView, MacPool, Network, OutboundNat, Policies,
    PortMapping, Subnet,
};
use crate::store::Store;

/// The default network's name, as on Windows; Docker's `bridge` is accepted as an alias.
pub const DEFAULT_NETWORK: &str = "nat";
/// Docker's name for the default network.
pub const DOCKER_DEFAULT_NETWORK: &str = "bridge";

/// Where the service keeps things and what it may use; silod fills it from daemon.json.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// `networks.db` lives here.
    pub state_dir: PathBuf,
    /// One bind-mounted network namespace file per container (`/run/silo/netns`).
    pub netns_dir: PathBuf,
    /// The CNI plugins (`/usr/lib/cni`).
    pub cni_plugin_dir: PathBuf,
    /// This daemon's nftables table (`ip <name>`).
    pub nft_table: String,
    /// The default network's bridge (`silo0`).
    pub default_bridge: String,
    /// The default network's subnet (`--bip`); `None` takes a free /20 of the pool.
    pub default_subnet: Option<IpNet>,
    /// The default network's gateway; `None` is the subnet's first address.
    pub default_gateway: Option<IpAddr>,
    /// Subnets for networks created without `--subnet` come from here
    /// (`--default-address-pool base=...,size=...`), one `/pool_size` each.
    pub address_pool: Ipv4Net,
    pub pool_size: u8,
    /// Prefix of bridge names of user networks (`sl-` then ten hex characters of the id).
    pub bridge_prefix: String,
    /// The host's resolvers, forwarded to by the networks' DNS.
    pub resolv_conf: PathBuf,
    /// Port container DNS listens on at each gateway; 53 except in tests.
    pub dns_port: u16,
}

impl NetworkConfig {
    /// The defaults of a daemon whose state is under `data_root`.
    pub fn new(data_root: &Path) -> Self {
        NetworkConfig {
            state_dir: data_root.join("network"),
            netns_dir: PathBuf::from("/run/silo/netns"),
            cni_plugin_dir: PathBuf::from("/usr/lib/cni"),
            nft_table: "silo".to_string(),
            default_bridge: "silo0".to_string(),
            default_subnet: None,
            default_gateway: None,
            // Clear of Docker's 172.17.0.0/16+ and podman's 10.88.0.0/16 and 10.89.0.0/16, so
            // the peers can share the host.
            address_pool: "10.210.0.0/15".parse().expect("valid pool"),
            pool_size: 24,
            bridge_prefix: "sl-".to_string(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            dns_port: 53,
        }
    }
}

/// One IPAM pool as a client asks for it (`--subnet`, `--gateway`, `--ip-range`).
#[derive(Debug, Clone, Default)]
pub struct PoolRequest {
    pub subnet: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub ip_range: Option<IpNet>,
}

/// `network create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    pub name: String,
    /// `nat` (default; `bridge`), `internal`, `transparent` (`macvlan`), `l2bridge` (`ipvlan`).
    pub driver: String,
    pub pools: Vec<PoolRequest>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
}

/// Attaching a container's namespace to a network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub container_id: String,
    /// Without the leading slash; the network's DNS answers for it.
    pub container_name: String,
    /// Network name, id or id prefix.
    pub network: String,
    pub netns: PathBuf,
    /// `--ip` / `--ip6`.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// `--mac-address`.
    pub mac: Option<String>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// Published ports (nat networks only); host port 0 is ephemeral.
    pub ports: Vec<PortMapping>,
    pub outbound_nat: OutboundNat,
    pub acls: Vec<Acl>,
}

/// A network's resolver and the names it answers.
struct Resolver {
    /// One per gateway (IPv4, and IPv6 on dual-stack networks), sharing the records.
    servers: Vec<DnsServer>,
    records: Arc<RwLock<Records>>,
}

#[derive(Default)]
struct Live {
    resolvers: HashMap<String, Resolver>,
    reservations: HashMap<String, Vec<Reservation>>,
    /// The table text last applied: an endpoint without policies changes no rule, and
    /// skipping the `nft` call keeps attach fast.
    applied_rules: Option<String>,
}

struct Inner {
    config: NetworkConfig,
    store: Mutex<Store>,
    cni: Cni,
    /// Serialises every mutation (they touch the host and re-apply the whole table).
    ops: tokio::sync::Mutex<()>,
    live: Mutex<Live>,
}

/// The network service. Cheap to clone.
#[derive(Clone)]
pub struct NetworkService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    let file = std::fs::File::open("/dev/urandom");
    use std::io::Read;
    file.and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| NetworkError::Io {
            action: "read",
            path: PathBuf::from("/dev/urandom"),
            source,
        })?;
    Ok(hex::encode(bytes))
}

/// Docker's rule for network names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl NetworkService {
    /// Opens the database, makes sure the default network exists and reconciles the host with
    /// the records.
    pub async fn open(config: NetworkConfig) -> Result<Self> {
        for dir in [&config.state_dir, &config.netns_dir] {
            std::fs::create_dir_all(dir).map_err(|source| NetworkError::Io {
                action: "create",
                path: dir.clone(),
                source,
            })?;
        }
        let store = Store::open(&config.state_dir.join("networks.db"))?;
        let cni = Cni::new(config.cni_plugin_dir.clone());
        cni.check_installed()?;
        let service = NetworkService {
            inner: Arc::new(Inner {
                config,
                store: Mutex::new(store),
                cni,
                ops: tokio::sync::Mutex::new(()),
                live: Mutex::new(Live::default()),
            }),
        };
        service.reconcile().await?;
        Ok(service)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.inner.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    // ---- networks -------------------------------------------------------------------------

    /// Every network, oldest first.
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.store().networks()
    }

    /// A network by exact id, name, `bridge` (the default network), or unique id prefix.
    pub fn network(&self, key: &str) -> Result<Network> {
        let all = self.networks()?;
        let key = if key == DOCKER_DEFAULT_NETWORK {
            DEFAULT_NETWORK
        } else {
            key
        };
        if let Some(n) = all.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let mut by_prefix = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) => Ok(n.clone()),
            (Some(_), Some(_)) => Err(NetworkError::Ambiguous(key.to_string())),
            _ => Err(NetworkError::NotFound(key.to_string())),
        }
    }

    /// The endpoints on a network.
    pub fn endpoints_of_network(&self, network_id: &str) -> Result<Vec<Endpoint>> {
        self.store().endpoints_of_network(network_id)
    }

    /// The endpoints of a container, in attach order.
    pub fn endpoints_of_container(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        self.store().endpoints_of_container(container_id)
    }

    /// `network create`.
    pub async fn create_network(&self, req: NetworkRequest) -> Result<Network> {
        let _ops = self.inner.ops.lock().await;
        self.create_network_locked(req, false).await
    }

    async fn create_network_locked(&self, req: NetworkRequest, default: bool) -> Result<Network> {
        if !valid_name(&req.name) {
            return Err(NetworkError::InvalidConfig(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if !default && matches!(req.name.as_str(), DOCKER_DEFAULT_NETWORK | "host" | "none") {
            return Err(NetworkError::Predefined(req.name));
        }
        if self.network(&req.name).is_ok_and(|n| n.name == req.name) {
            return Err(NetworkError::NameInUse(req.name));
        }
        let driver = Driver::parse(&req.driver).ok_or_else(|| {
            NetworkError::NotSupported(format!(
                "network driver {:?} is not supported: use nat (bridge), internal, transparent (macvlan) or l2bridge (ipvlan)",
                req.driver
            ))
        })?;
        let internal = req.internal || driver == Driver::Internal;
        if driver == Driver::L2bridge && !kernel_has_module("ipvlan") {
            return Err(NetworkError::NotSupported(
                "the l2bridge driver needs the kernel's ipvlan driver, which this host's kernel does not have (CONFIG_IPVLAN)".to_string(),
            ));
        }
        if driver == Driver::Transparent && !kernel_has_module("macvlan") {
            return Err(NetworkError::NotSupported(
                "the transparent driver needs the kernel's macvlan driver, which this host's kernel does not have (CONFIG_MACVLAN)".to_string(),
            ));
        }
        let id = new_id()?;
        let subnets = self.plan_subnets(&req, driver).await?;
        let interface = match driver {
            Driver::Nat | Driver::Internal if default => self.config().default_bridge.clone(),
            Driver::Nat | Driver::Internal => format!("{}{}", self.config().bridge_prefix, &id[..10]),
            Driver::Transparent | Driver::L2bridge => match req.options.get("parent") {
                Some(parent) if !parent.is_empty() => {
                    if !link::link_exists(parent) {
                        return Err(NetworkError::InvalidConfig(format!(
                            "parent interface {parent:?} does not exist on this host"
                        )));
                    }
                    parent.clone()
                }
                // Docker's way for an internal macvlan/ipvlan network: a dummy parent.
                _ if internal => format!("sd-{}", &id[..10]),
                _ => {
                    return Err(NetworkError::InvalidConfig(format!(
                        "the {} driver needs -o parent=IFACE (the host interface whose segment containers join)",
                        driver.as_str()
                    )))
                }
            },
        };
        let v4 = subnets.iter().find(|s| s.subnet.addr().is_ipv4());
        let mac_pool = match v4.map(|s| s.subnet) {
            Some(IpNet::V4(net)) => MacPool {
                start: ipam::mac_for(net.network()),
                end: ipam::mac_for(net.broadcast()),
            },
            _ => MacPool {
                start: "02:42:00:00:00:00".to_string(),
                end: "02:42:ff:ff:ff:ff".to_string(),
            },
        };
        let network = Network {
            id,
            name: req.name.clone(),
            driver,
            enable_ipv6: req.enable_ipv6 || subnets.iter().any(|s| s.subnet.addr().is_ipv6()),
            subnets,
            options: req.options.clone(),
            labels: req.labels.clone(),
            internal,
            attachable: req.attachable,
            mac_pool,
            created: Utc::now(),
            interface,
            default,
        };
        self.ensure_host_objects(&network).await?;
        let inserted = self.store().insert_network(&network);
        if let Err(e) = inserted {
            self.remove_host_objects(&network).await;
            return Err(e);
        }
        if let Err(e) = self.after_change(&network).await {
            let _ = self.store().delete_network(&network.id);
            self.remove_host_objects(&network).await;
            let _ = self.apply_rules().await;
            return Err(e);
        }
        tracing::info!(network = %network.name, id = %network.id, driver = network.driver.as_str(), "network created");
        Ok(network)
    }

    /// The pools of a new network: as asked, checked against every other network and the
    /// host's routes, or a free /24 of the address pool.
    async fn plan_subnets(&self, req: &NetworkRequest, driver: Driver) -> Result<Vec<Subnet>> {
        let mut in_use: Vec<IpNet> = self
            .networks()?
            .iter()
            .filter(|n| n.driver.uses_bridge())
            .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
            .collect();
        // A transparent network's subnet is the segment's, which the host may route already.
        if driver.uses_bridge() {
            in_use.extend(link::host_routes().await?);
        }
        let mut pools = Vec::new();
        for asked in &req.pools {
            let Some(subnet) = asked.subnet else {
                if asked.gateway.is_some() || asked.ip_range.is_some() {
                    return Err(NetworkError::InvalidConfig(
                        "--gateway and --ip-range need a --subnet".to_string(),
                    ));
                }
                continue;
            };
            let pool = ipam::pool(subnet, asked.gateway, asked.ip_range)?;
            if driver.uses_bridge() {
                if let Some(other) = in_use.iter().find(|u| ipam::overlaps(u, &pool.subnet)) {
                    return Err(NetworkError::InvalidConfig(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({} overlaps {other})",
                        pool.subnet
                    )));
                }
            }
            if pools
                .iter()
                .any(|p: &Subnet| p.subnet.addr().is_ipv4() == pool.subnet.addr().is_ipv4())
            {
                return Err(NetworkError::NotSupported(
                    "more than one subnet per address family".to_string(),
                ));
            }
            in_use.push(pool.subnet);
            pools.push(pool);
        }
        if !pools.iter().any(|p| p.subnet.addr().is_ipv4()) {
            if !driver.uses_bridge() {
                return Err(NetworkError::InvalidConfig(format!(
                    "the {} driver needs --subnet (the segment's prefix) and usually --gateway (its router)",
                    driver.as_str()
                )));
            }
            // The default network holds every container not placed elsewhere: a /20 when the
            // pool has room for one.
            let pool = self.config();
            let prefix = if req.name == DEFAULT_NETWORK {
                pool.pool_size.min(20).max(pool.address_pool.prefix_len())
            } else {
                pool.pool_size
            };
            let subnet = ipam::free_subnet(self.config().address_pool, prefix, &in_use)?;
            pools.insert(0, ipam::pool(subnet, None, None)?);
        }
        pools.sort_by_key(|p| p.subnet.addr().is_ipv6());
        Ok(pools)
    }

    /// The bridge (with its gateway addresses) or dummy parent behind `network`.
    async fn ensure_host_objects(&self, network: &Network) -> Result<()> {
        if network.driver.uses_bridge() {
            let addresses: Vec<IpNet> = network
                .subnets
                .iter()
                .map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).expect("prefix fits"))
                .collect();
            link::ensure_bridge(&network.interface, &addresses).await?;
        } else if network.interface.starts_with("sd-") && network.internal {
            link::ensure_dummy(&network.interface).await?;
        }
        Ok(())
    }

    async fn remove_host_objects(&self, network: &Network) {
        let owned = network.driver.uses_bridge()
            || (network.internal && network.interface.starts_with("sd-"));
        if owned {
            if let Err(e) = link::delete_link(&network.interface).await {
                tracing::warn!(network = %network.name, "remove {}: {e}", network.interface);
            }
        }
    }

    /// After a network appeared: its resolver and the rules.
    async fn after_change(&self, network: &Network) -> Result<()> {
        self.start_resolver(network).await?;
        self.apply_rules().await
    }

    /// `network rm`: refused for the default network and while endpoints remain.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        let network = self.network(key)?;
        if network.default {
            return Err(NetworkError::Predefined(network.name));
        }
        let endpoints = self.endpoints_of_network(&network.id)?;
        if !endpoints.is_empty() {
            let containers = endpoints
                .iter()
                .map(|e| e.container_name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(NetworkError::InUse {
                name: network.name,
                id: network.id,
                containers,
            });
        }
        let resolver = self.live().resolvers.remove(&network.id);
        if let Some(resolver) = resolver {
            for server in resolver.servers {
                server.shutdown().await;
            }
        }
        self.store().delete_network(&network.id)?;
        self.apply_rules().await?;
        self.remove_host_objects(&network).await;
        tracing::info!(network = %network.name, "network removed");
        Ok(())
    }

    // ---- namespaces ------------------------------------------------------------------------

    /// Where container `id`'s network namespace is bound.
    pub fn namespace_path(&self, container_id: &str) -> PathBuf {
        self.config().netns_dir.join(container_id)
    }

    /// Creates container `id`'s network namespace (loopback up) unless it exists.
    pub fn create_namespace(&self, container_id: &str) -> Result<PathBuf> {
        let path = self.namespace_path(container_id);
        netns::create(&path)?;
        Ok(path)
    }

    /// Removes the container's namespace and releases its endpoints. The container is gone,
    /// so nothing else holds the namespace: unmounting it destroys it with its interfaces (a
    /// veth's host end goes with its peer), and no CNI DEL is needed, which keeps `run --rm`
    /// short.
    pub async fn remove_namespace(&self, container_id: &str) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        netns::remove(&self.namespace_path(container_id))?;
        for endpoint in self.endpoints_of_container(container_id)? {
            let network = self.network(&endpoint.network_id)?;
            self.remove_records(&network, &endpoint);
            self.live().reservations.remove(&endpoint.id);
            self.store().delete_endpoint(&endpoint.id)?;
        }
        self.apply_rules().await
    }

    /// Namespace files in the netns directory that no known container owns (the engine passes
    /// the ids it knows); each is detached and removed.
    pub async fn remove_stray_namespaces(&self, known: &HashSet<String>) -> Result<Vec<String>> {
        let dir = &self.config().netns_dir;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(NetworkError::Io {
                    action: "list",
                    path: dir.clone(),
                    source,
                })
            }
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&id) {
                self.remove_namespace(&id).await?;
                removed.push(id);
            }
        }
        Ok(removed)
    }

    // ---- endpoints -------------------------------------------------------------------------

    /// Attaches the container's namespace to a network: an address (asked for or handed out),
    /// an interface made by the driver's CNI plugin, published ports, DNS records.
    pub async fn attach(&self, req: AttachRequest) -> Result<Endpoint> {
        let _ops = self.inner.ops.lock().await;
        let network = self.network(&req.network)?;
        if !req.ports.is_empty() && network.driver != Driver::Nat {
            return Err(NetworkError::InvalidConfig(format!(
                "ports can be published on nat networks only; {} is {}",
                network.name,
                if network.internal {
                    "internal".to_string()
                } else {
                    network.driver.as_str().to_string()
                }
            )));
        }
        let existing = self.endpoints_of_container(&req.container_id)?;
        if existing.iter().any(|e| e.network_id == network.id) {
            return Err(NetworkError::AlreadyAttached {
                container: req.container_name.clone(),
                network: network.name.clone(),
            });
        }
        let ifname = (0..)
            .map(|n| format!("eth{n}"))
            .find(|name| existing.iter().all(|e| &e.ifname != name))
            .expect("unbounded");
        let ipv4 = self.address_for(&network, true, req.ipv4.map(IpAddr::V4))?;
        let ipv6 = match network.ipv6() {
            Some(_) => self.address_for(&network, false, req.ipv6.map(IpAddr::V6))?,
            None if req.ipv6.is_some() => {
                return Err(NetworkError::InvalidConfig(format!(
                    "network {} has no IPv6 subnet for --ip6",
                    network.name
                )))
            }
            None => None,
        };
        let mac = match (&req.mac, ipv4) {
            (Some(mac), _) => mac.clone(),
            (None, Some(IpNet::V4(addr))) => ipam::mac_for(addr.addr()),
            (None, _) => String::new(),
        };
        // Ports first: the endpoint is then written once, with the host ports chosen.
        let mut held = Vec::new();
        let mut ports = Vec::new();
        for mapping in &req.ports {
            let reservation = ports::reserve(mapping.protocol, mapping.host_ip, mapping.host_port)?;
            ports.push(PortMapping {
                host_port: reservation.port(),
                ..mapping.clone()
            });
            held.push(reservation);
        }
        let endpoint = Endpoint {
            id: new_id()?,
            network_id: network.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            aliases: req.aliases.clone(),
            netns: req.netns.clone(),
            ifname,
            ipv4,
            ipv6,
            mac,
            gateway: network.ipv4().map(|s| s.gateway),
            gateway_v6: network.ipv6().map(|s| s.gateway),
            static_ip: req.ipv4.is_some() || req.ipv6.is_some(),
            policies: Policies {
                ports,
                outbound_nat: req.outbound_nat.clone(),
                acls: req.acls.clone(),
            },
            created: Utc::now(),
        };
        self.store().insert_endpoint(&endpoint)?;
        self.live().reservations.insert(endpoint.id.clone(), held);
        match self.plumb(&network, &endpoint).await {
            Ok(()) => {}
            Err(e) => {
                self.unplumb(&network, &endpoint).await;
                let _ = self.store().delete_endpoint(&endpoint.id);
                let _ = self.apply_rules().await;
                return Err(e);
            }
        }
        tracing::debug!(container = %endpoint.container_id, network = %network.name, ip = ?endpoint.ipv4, "endpoint attached");
        Ok(endpoint)
    }

    /// The address an endpoint gets: the one asked for if free and valid, else the next one.
    fn address_for(
        &self,
        network: &Network,
        v4: bool,
        asked: Option<IpAddr>,
    ) -> Result<Option<IpNet>> {
        let pool = if v4 { network.ipv4() } else { network.ipv6() };
        let Some(pool) = pool else {
            return Ok(None);
        };
        let store = self.store();
        let taken = store.addresses(&network.id)?;
        let addr = match asked {
            Some(addr) => {
                ipam::check_static(pool, addr)?;
                if taken.contains(&addr) {
                    return Err(NetworkError::AddressInUse { addr });
                }
                addr
            }
            None => ipam::next_free(pool, &taken, store.cursor(&network.id, v4)?)?,
        };
        Ok(Some(
            IpNet::new(addr, pool.subnet.prefix_len()).expect("prefix fits"),
        ))
    }

    /// The host side of an endpoint (its ports are reserved already): the CNI plugin's
    /// interface, the rules, the DNS records.
    async fn plumb(&self, network: &Network, endpoint: &Endpoint) -> Result<()> {
        let attachment = self.attachment(network, endpoint);
        self.inner.cni.add(&attachment).await?;
        self.apply_rules().await?;
        self.add_records(network, endpoint);
        Ok(())
    }

    /// Undoes [`Self::plumb`] as far as it got; every step tolerates what is already gone.
    async fn unplumb(&self, network: &Network, endpoint: &Endpoint) {
        self.remove_records(network, endpoint);
        let attachment = self.attachment(network, endpoint);
        if let Err(e) = self.inner.cni.del(&attachment).await {
            tracing::warn!(container = %endpoint.container_id, network = %network.name, "remove interface: {e}");
        }
        self.live().reservations.remove(&endpoint.id);
    }

    /// The CNI call for an endpoint, with the addresses IPAM chose.
    fn attachment(&self, network: &Network, endpoint: &Endpoint) -> CniAttachment {
        let addrs: Vec<(IpNet, Option<IpAddr>)> = [
            (endpoint.ipv4, endpoint.gateway),
            (endpoint.ipv6, endpoint.gateway_v6),
        ]
        .into_iter()
        .filter_map(|(addr, gw)| addr.map(|a| (a, gw)))
        .collect();
        let default_route = !network.internal;
        let mac = Some(endpoint.mac.as_str()).filter(|m| !m.is_empty());
        let config = match network.driver {
            Driver::Nat | Driver::Internal => cni::bridge_config(
                &network.name,
                &network.interface,
                &addrs,
                default_route,
                mac,
            ),
            Driver::Transparent => cni::macvlan_config(
                &network.name,
                &network.interface,
                &addrs,
                default_route,
                mac,
            ),
            Driver::L2bridge => {
                cni::ipvlan_config(&network.name, &network.interface, &addrs, default_route)
            }
        };
        CniAttachment {
            container_id: endpoint.container_id.clone(),
            netns: endpoint.netns.clone(),
            ifname: endpoint.ifname.clone(),
            config,
        }
    }

    /// Detaches a container from one network; NotAttached if it is not on it.
    pub async fn detach(&self, container_id: &str, network_key: &str) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        let network = self.network(network_key)?;
        let endpoint = self
            .endpoints_of_container(container_id)?
            .into_iter()
            .find(|e| e.network_id == network.id)
            .ok_or_else(|| NetworkError::NotAttached {
                container: container_id.to_string(),
                network: network.name.clone(),
            })?;
        self.detach_endpoint(&network, &endpoint).await
    }

    /// Detaches a container from every network (it stopped, or is being removed).
    pub async fn detach_all(&self, container_id: &str) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        for endpoint in self.endpoints_of_container(container_id)? {
            let network = self.network(&endpoint.network_id)?;
            self.detach_endpoint(&network, &endpoint).await?;
        }
        Ok(())
    }

    async fn detach_endpoint(&self, network: &Network, endpoint: &Endpoint) -> Result<()> {
        self.unplumb(network, endpoint).await;
        self.store().delete_endpoint(&endpoint.id)?;
        self.apply_rules().await
    }

    // ---- rules, resolvers -------------------------------------------------------------------

    /// Re-applies this daemon's whole nftables table from the records, atomically.
    async fn apply_rules(&self) -> Result<()> {
        let networks = self.networks()?;
        let endpoints = self.store().endpoints()?;
        let by_id: HashMap<&str, &Network> = networks.iter().map(|n| (n.id.as_str(), n)).collect();
        let rules = nft::Ruleset {
            table: self.config().nft_table.clone(),
            networks: networks
                .iter()
                .filter(|n| n.driver.uses_bridge())
                .map(|n| nft::NetworkRules {
                    bridge: n.interface.clone(),
                    subnet_v4: n.ipv4().and_then(|s| match s.subnet {
                        IpNet::V4(net) => Some(net),
                        IpNet::V6(_) => None,
                    }),
                    internal: n.internal,
                    masquerade: n.driver == Driver::Nat && !n.internal,
                })
                .collect(),
            endpoints: endpoints
                .iter()
                .filter_map(|e| {
                    let network = by_id.get(e.network_id.as_str())?;
                    let IpNet::V4(addr) = e.ipv4? else {
                        return None;
                    };
                    Some(nft::EndpointRules {
                        bridge: network
                            .driver
                            .uses_bridge()
                            .then(|| network.interface.clone()),
                        ipv4: addr.addr(),
                        ports: e.policies.ports.clone(),
                        outbound_nat: e.policies.outbound_nat.clone(),
                        acls: e.policies.acls.clone(),
                    })
                })
                .collect(),
        };
        let text = nft::render(&rules);
        if self.live().applied_rules.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        nft::apply(&rules).await?;
        self.live().applied_rules = Some(text);
        Ok(())
    }

    /// Starts the network's resolver on its gateway (user-defined bridge networks only).
    async fn start_resolver(&self, network: &Network) -> Result<()> {
        if !network.has_dns() || self.live().resolvers.contains_key(&network.id) {
            return Ok(());
        }
        if network.subnets.is_empty() {
            return Ok(());
        }
        let records = Arc::new(RwLock::new(Records::new()));
        {
            let mut r = records.write().unwrap_or_else(|e| e.into_inner());
            for e in self.endpoints_of_network(&network.id)? {
                r.add(&names_of(&e), &addrs_of(&e));
            }
        }
        let upstreams = dns::host_upstreams(&self.config().resolv_conf);
        let mut servers = Vec::new();
        for pool in &network.subnets {
            let addr = SocketAddr::new(pool.gateway, self.config().dns_port);
            let server =
                DnsServer::bind(addr, records.clone(), upstreams.clone(), !network.internal)
                    .await
                    .map_err(|source| NetworkError::Io {
                        action: "start the DNS resolver of",
                        path: PathBuf::from(format!("{} ({addr})", network.name)),
                        source,
                    })?;
            servers.push(server);
        }
        self.live()
            .resolvers
            .insert(network.id.clone(), Resolver { servers, records });
        Ok(())
    }

    fn add_records(&self, network: &Network, endpoint: &Endpoint) {
        if let Some(resolver) = self.live().resolvers.get(&network.id) {
            let mut records = resolver.records.write().unwrap_or_else(|e| e.into_inner());
            records.add(&names_of(endpoint), &addrs_of(endpoint));
        }
    }

    fn remove_records(&self, network: &Network, endpoint: &Endpoint) {
        if let Some(resolver) = self.live().resolvers.get(&network.id) {
            let mut records = resolver.records.write().unwrap_or_else(|e| e.into_inner());
            records.remove_addrs(&addrs_of(endpoint));
        }
    }

    /// The name servers a container on these networks should use: the resolver of its first
    /// user-defined bridge network, else the host's.
    pub fn dns_servers(&self, endpoints: &[Endpoint]) -> Vec<IpAddr> {
        let live = self.live();
        for e in endpoints {
            if live.resolvers.contains_key(&e.network_id) {
                let gateways: Vec<IpAddr> = e.gateway.into_iter().chain(e.gateway_v6).collect();
                if !gateways.is_empty() {
                    return gateways;
                }
            }
        }
        dns::host_upstreams(&self.config().resolv_conf)
            .into_iter()
            .map(|s| s.ip())
            .filter(|ip| !ip.is_loopback())
            .collect()
    }

    // ---- reconcile, host view -----------------------------------------------------------------

    /// Brings the host in line with the records (daemon start): the default network exists,
    /// every network's host objects exist, endpoints whose namespace is gone are removed,
    /// endpoints whose interface is gone are plumbed again with the same address.
    pub async fn reconcile(&self) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        let networks = self.networks()?;
        if !networks.iter().any(|n| n.default) {
            let req = NetworkRequest {
                name: DEFAULT_NETWORK.to_string(),
                driver: "nat".to_string(),
                pools: vec![PoolRequest {
                    subnet: self.config().default_subnet,
                    gateway: self.config().default_gateway,
                    ip_range: None,
                }],
                ..Default::default()
            };
            self.create_network_locked(req, true).await?;
        }
        // Bridges that vanished (a reboot, `ip link del`) come back empty: the endpoints on
        // them are plumbed again below, since their veths hang on no bridge now.
        let mut recreated = HashSet::new();
        for network in self.networks()? {
            let owned = network.driver.uses_bridge();
            if owned && !link::link_exists(&network.interface) {
                tracing::info!(network = %network.name, "bridge {} gone: re-created", network.interface);
                recreated.insert(network.id.clone());
            }
            if let Err(e) = self.ensure_host_objects(&network).await {
                tracing::warn!(network = %network.name, "re-create host objects: {e}");
            }
        }
        let endpoints = self.store().endpoints()?;
        for endpoint in endpoints {
            let network = self.network(&endpoint.network_id)?;
            if !netns::is_netns(&endpoint.netns) {
                tracing::info!(container = %endpoint.container_id, network = %network.name, "namespace gone: endpoint removed");
                self.unplumb(&network, &endpoint).await;
                self.store().delete_endpoint(&endpoint.id)?;
                continue;
            }
            let ifname = endpoint.ifname.clone();
            let present =
                netns::run_in(&endpoint.netns, move || interface_exists(&ifname)).unwrap_or(false);
            let mut held = Vec::new();
            for mapping in &endpoint.policies.ports {
                match ports::reserve(mapping.protocol, mapping.host_ip, mapping.host_port) {
                    Ok(r) => held.push(r),
                    Err(e) => {
                        tracing::warn!(container = %endpoint.container_id, "re-reserve port {}: {e}", mapping.host_port)
                    }
                }
            }
            self.live().reservations.insert(endpoint.id.clone(), held);
            if !present || recreated.contains(&network.id) {
                tracing::info!(container = %endpoint.container_id, network = %network.name, "interface or bridge gone: attached again");
                let attachment = self.attachment(&network, &endpoint);
                if let Err(e) = self.inner.cni.del(&attachment).await {
                    tracing::warn!(container = %endpoint.container_id, "re-attach: {e}");
                }
                if let Err(e) = self.inner.cni.add(&attachment).await {
                    tracing::warn!(container = %endpoint.container_id, "re-attach: {e}");
                }
            }
        }
        for network in self.networks()? {
            if let Err(e) = self.start_resolver(&network).await {
                tracing::warn!(network = %network.name, "resolver: {e}");
            }
        }
        // The host may have lost the table (reboot, `nft flush ruleset`): apply it whole.
        self.live().applied_rules = None;
        self.apply_rules().await
    }

    /// What `Get-HnsNetwork` shows: the network, its endpoints and its host objects.
    pub async fn host_view(&self, key: &str) -> Result<HostView> {
        let network = self.network(key)?;
        let endpoints = self.endpoints_of_network(&network.id)?;
        let mut objects = Vec::new();
        let present = link::link_exists(&network.interface);
        let detail = if present {
            link::link_addresses(&network.interface)
                .await
                .map(|a| {
                    a.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        objects.push(HostObject {
            kind: if network.driver.uses_bridge() {
                "bridge"
            } else {
                "link"
            }
            .to_string(),
            name: network.interface.clone(),
            present,
            detail,
        });
        if network.driver.uses_bridge() {
            let chains = nft::list_chains(&self.config().nft_table)
                .await
                .unwrap_or_default();
            for (chain, rules) in chains {
                objects.push(HostObject {
                    kind: "nft-chain".to_string(),
                    name: format!("ip {} {chain}", self.config().nft_table),
                    present: true,
                    detail: format!("{rules} rules"),
                });
            }
        }
        let resolver_addrs: Vec<SocketAddr> = self
            .live()
            .resolvers
            .get(&network.id)
            .map(|r| r.servers.iter().map(|s| s.local_addr()).collect())
            .unwrap_or_default();
        for addr in resolver_addrs {
            objects.push(HostObject {
                kind: "dns".to_string(),
                name: addr.to_string(),
                present: true,
                detail: "udp+tcp".to_string(),
            });
        }
        for e in &endpoints {
            objects.push(HostObject {
                kind: "netns".to_string(),
                name: e.netns.display().to_string(),
                present: netns::is_netns(&e.netns),
                detail: format!("{} {}", e.ifname, e.container_name),
            });
        }
        Ok(HostView {
            network,
            endpoints,
            host_objects: objects,
        })
    }
}

/// Whether the kernel knows a link type (`ipvlan`, `macvlan`): asking for one without its
/// required parent fails with "Unknown device type" only when the driver is missing (the
/// kernel loads a module on demand).
fn kernel_has_module(kind: &str) -> bool {
    let probe = std::process::Command::new("ip")
        .args(["link", "add", "silo-probe", "type", kind])
        .output();
    match probe {
        Ok(out) if out.status.success() => {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", "silo-probe"])
                .output();
            true
        }
        Ok(out) => !String::from_utf8_lossy(&out.stderr).contains("Unknown device type"),
        Err(_) => false,
    }
}

/// Whether an interface of that name exists in the calling thread's network namespace.
fn interface_exists(name: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated string that outlives the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

fn names_of(e: &Endpoint) -> Vec<String> {
    let mut names = vec![e.container_name.clone()];
    names.extend(e.aliases.iter().cloned());
    if e.container_id.len() >= 12 {
        names.push(e.container_id[..12].to_string());
    }
    names
}

fn addrs_of(e: &Endpoint) -> Vec<IpAddr> {
    e.ipv4
        .iter()
        .chain(e.ipv6.iter())
        .map(|n| n.addr())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_follow_docker() {
        assert!(valid_name("mynet"));
        assert!(valid_name("my_net.1-x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a/b"));
    }
}
