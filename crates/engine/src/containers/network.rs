//! Containers on networks: the network mode chosen at create, endpoints from the network
//! service while the container runs, and the files that tell the container its names
//! (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`).
//!
//! Like HNS's clients, the engine never builds a bridge or an address itself: it asks the
//! network service for a namespace at create, for endpoints at start, and gives them back when
//! the container exits. Endpoints live only while the container runs (Docker's behaviour: a
//! stopped container holds no address), so an address is never held by a container that is
//! not using it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use silo_compute::{Mount, MountKind, NetworkNamespace};
use silo_network::{Driver, Endpoint, Network, PortMapping, Protocol};

use super::error::{io, ContainerError};
use super::model::{Container, CreateRequest, EndpointSettings, NetworkAttachment, Status};
use crate::{Engine, Result};

/// What `--network` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NetworkMode {
    /// A network by name or id (empty: the default network).
    Network(String),
    /// A private namespace with loopback only.
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace (its name or id).
    Container(String),
}

impl NetworkMode {
    pub(super) fn parse(mode: &str) -> NetworkMode {
        match mode {
            "" | "default" => NetworkMode::Network(String::new()),
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            other => match other.strip_prefix("container:") {
                Some(key) => NetworkMode::Container(key.to_string()),
                None => NetworkMode::Network(other.to_string()),
            },
        }
    }
}

/// How a new container's networking is set up, decided at create.
#[derive(Debug, Clone)]
pub(super) struct NetworkPlan {
    /// Stored in the record as `network_mode` (a `container:` mode with the other's id).
    pub mode: String,
    pub namespace: NetworkNamespace,
    pub attachments: Vec<NetworkAttachment>,
    /// Whether the engine made a namespace file that must be removed if create fails.
    pub made_namespace: bool,
}

/// A container's view of one of its networks, for inspect.
#[derive(Debug, Clone)]
pub struct ContainerNetwork {
    pub name: String,
    pub network: Option<Network>,
    pub settings: EndpointSettings,
    /// Present while the container runs.
    pub endpoint: Option<Endpoint>,
}

fn invalid(message: impl Into<String>) -> ContainerError {
    ContainerError::InvalidConfig(message.into())
}

impl Engine {
    /// Decides the network mode of a container being created with id `id`; makes its
    /// namespace when it gets one of its own.
    pub(super) fn plan_network(&self, id: &str, req: &CreateRequest) -> Result<NetworkPlan> {
        let hc = &req.host_config.extra;
        let mode = NetworkMode::parse(&hc.network_mode);
        let publishes = !hc.port_bindings.is_empty() || hc.publish_all_ports;
        let extra_endpoints = || {
            req.endpoints
                .keys()
                .filter(|k| !matches!(k.as_str(), "" | "none" | "host" | "default"))
                .count()
        };
        match mode {
            NetworkMode::None | NetworkMode::Container(_) if publishes => Err(invalid(
                "conflicting options: port publishing and the container type network mode",
            )
            .into()),
            NetworkMode::None | NetworkMode::Host | NetworkMode::Container(_)
                if extra_endpoints() > 0 =>
            {
                Err(invalid(format!(
                    "container cannot be connected to networks with network mode {:?}",
                    hc.network_mode
                ))
                .into())
            }
            NetworkMode::None => Ok(NetworkPlan {
                mode: "none".to_string(),
                namespace: NetworkNamespace::New,
                attachments: Vec::new(),
                made_namespace: false,
            }),
            NetworkMode::Host => Ok(NetworkPlan {
                mode: "host".to_string(),
                namespace: NetworkNamespace::Host,
                attachments: Vec::new(),
                made_namespace: false,
            }),
            NetworkMode::Container(key) => {
                let other = self.running_peer(&key)?;
                Ok(NetworkPlan {
                    mode: format!("container:{}", other.id),
                    namespace: NetworkNamespace::Path {
                        path: self.namespace_of(&other)?,
                    },
                    attachments: Vec::new(),
                    made_namespace: false,
                })
            }
            NetworkMode::Network(name) => {
                let service = self.containers.network()?;
                let primary = if name.is_empty() {
                    silo_network::DEFAULT_NETWORK.to_string()
                } else {
                    name.clone()
                };
                let mut attachments = Vec::new();
                let mut add = |key: &str, settings: EndpointSettings| -> Result<()> {
                    let network = service.network(key).map_err(ContainerError::from)?;
                    if attachments
                        .iter()
                        .any(|a: &NetworkAttachment| a.network_id == network.id)
                    {
                        return Ok(());
                    }
                    attachments.push(NetworkAttachment {
                        network_id: network.id,
                        name: if key.is_empty() {
                            network.name
                        } else {
                            key.to_string()
                        },
                        settings,
                    });
                    Ok(())
                };
                let primary_settings = req
                    .endpoints
                    .get(&primary)
                    .or_else(|| req.endpoints.get(&name))
                    .cloned()
                    .unwrap_or_default();
                let shown = if name.is_empty() {
                    silo_network::DOCKER_DEFAULT_NETWORK
                } else {
                    &name
                };
                add(shown, primary_settings)?;
                for (key, settings) in &req.endpoints {
                    if !matches!(key.as_str(), "" | "default") && key != &name && key != &primary {
                        add(key, settings.clone())?;
                    }
                }
                let path = service.create_namespace(id).map_err(ContainerError::from)?;
                Ok(NetworkPlan {
                    mode: if name.is_empty() {
                        silo_network::DOCKER_DEFAULT_NETWORK.to_string()
                    } else {
                        name
                    },
                    namespace: NetworkNamespace::Path { path },
                    attachments,
                    made_namespace: true,
                })
            }
        }
    }

    /// The namespace a new compute system of `c` joins (a respawn): as planned at create.
    pub(super) fn namespace_for(&self, c: &Container) -> Result<NetworkNamespace> {
        let mode = &c.host_config.extra.network_mode;
        if !c.networks.is_empty() {
            let path = self
                .containers
                .network()?
                .create_namespace(&c.id)
                .map_err(ContainerError::from)?;
            return Ok(NetworkNamespace::Path { path });
        }
        Ok(match NetworkMode::parse(mode) {
            NetworkMode::Host => NetworkNamespace::Host,
            NetworkMode::Container(key) => {
                let other = self.running_peer(&key)?;
                NetworkNamespace::Path {
                    path: self.namespace_of(&other)?,
                }
            }
            NetworkMode::None | NetworkMode::Network(_) => NetworkNamespace::New,
        })
    }

    /// The container whose namespace `--network container:KEY` joins; it must be running.
    fn running_peer(&self, key: &str) -> Result<Container> {
        let other = self.containers.store().find(key)?;
        if other.state.status != Status::Running {
            return Err(ContainerError::State(format!(
                "cannot join network namespace of a non running container: container {} is {}",
                other.short_name(),
                other.state.status.as_str()
            ))
            .into());
        }
        Ok(other)
    }

    /// The namespace file of a running container, for `--network container:` (its own file
    /// when it has networks, else its first process's namespace).
    fn namespace_of(&self, c: &Container) -> Result<PathBuf> {
        if !c.networks.is_empty() {
            return Ok(self.containers.network()?.namespace_path(&c.id));
        }
        if let Some(other) = c.host_config.extra.network_mode.strip_prefix("container:") {
            let other = self.containers.store().find(other)?;
            return self.namespace_of(&other);
        }
        if c.host_config.extra.network_mode == "host" {
            return Ok(PathBuf::from("/proc/1/ns/net"));
        }
        Ok(PathBuf::from(format!("/proc/{}/ns/net", c.state.pid)))
    }

    /// Attaches a starting container to its networks (dropping endpoints a previous run left)
    /// and writes its hosts and resolv.conf. Undoes the attachments on failure.
    pub(super) async fn connect_endpoints(&self, c: &Container) -> Result<()> {
        if c.host_config.extra.network_mode.starts_with("container:") {
            // It shares the other container's files along with its namespace.
            return Ok(());
        }
        if c.networks.is_empty() {
            return self.write_name_files(c, &[]);
        }
        let service = self.containers.network()?;
        service
            .detach_all(&c.id)
            .await
            .map_err(ContainerError::from)?;
        let ports = published_ports(c)?;
        let mut ports_given = false;
        let mut endpoints = Vec::new();
        for attachment in &c.networks {
            let network = service
                .network(&attachment.network_id)
                .map_err(ContainerError::from)?;
            // Published ports go to the first nat network, as Docker's go to the first bridge.
            let gets_ports = !ports_given && network.driver == Driver::Nat && !network.internal;
            ports_given |= gets_ports;
            let ports = if gets_ports {
                ports.clone()
            } else {
                Vec::new()
            };
            let req = attach_request(c, &network.id, &attachment.settings, ports, service)?;
            match service.attach(req).await {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(e) => {
                    if let Err(undo) = service.detach_all(&c.id).await {
                        tracing::warn!("undo attach of {}: {undo}", c.id);
                    }
                    return Err(ContainerError::from(e).into());
                }
            }
        }
        if !ports.is_empty() && !ports_given {
            let _ = service.detach_all(&c.id).await;
            return Err(invalid(
                "ports can only be published on a nat network: connect the container to one",
            )
            .into());
        }
        self.write_name_files(c, &endpoints)
    }

    /// Before a start: the endpoints made at create are still there for a first start; after
    /// an exit (which gave them back) they are made again.
    pub(super) async fn ensure_endpoints(&self, c: &Container) -> Result<()> {
        if !c.networks.is_empty() {
            let service = self.containers.network()?;
            let have = service
                .endpoints_of_container(&c.id)
                .map_err(ContainerError::from)?;
            let complete = c
                .networks
                .iter()
                .all(|a| have.iter().any(|e| e.network_id == a.network_id));
            if complete {
                return Ok(());
            }
        }
        self.connect_endpoints(c).await
    }

    /// Gives a container's endpoints back (it stopped). Nothing to do without networks.
    pub(super) async fn disconnect_endpoints(&self, c: &Container) {
        if c.networks.is_empty() {
            return;
        }
        if let Ok(service) = self.containers.network() {
            if let Err(e) = service.detach_all(&c.id).await {
                tracing::warn!("release endpoints of {}: {e}", c.id);
            }
        }
    }

    /// Removes a container's namespace (and any endpoint left in it).
    pub(super) async fn remove_namespace(&self, c: &Container) {
        if c.networks.is_empty() {
            return;
        }
        if let Ok(service) = self.containers.network() {
            if let Err(e) = service.remove_namespace(&c.id).await {
                tracing::warn!("remove network namespace of {}: {e}", c.id);
            }
        }
    }

    /// The networks of container `c` with their live endpoints, for inspect.
    pub fn container_networks(&self, c: &Container) -> Vec<ContainerNetwork> {
        let Ok(service) = self.containers.network() else {
            return Vec::new();
        };
        let endpoints = service.endpoints_of_container(&c.id).unwrap_or_default();
        c.networks
            .iter()
            .map(|a| ContainerNetwork {
                name: a.name.clone(),
                network: service.network(&a.network_id).ok(),
                settings: a.settings.clone(),
                endpoint: endpoints
                    .iter()
                    .find(|e| e.network_id == a.network_id)
                    .cloned(),
            })
            .collect()
    }

    /// `docker network connect`: records the network and, if the container runs, attaches it
    /// at once.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        settings: EndpointSettings,
    ) -> Result<()> {
        let id = self.containers.store().find(container)?.id;
        let _guard = self.containers.lock(&id).await;
        let mut c = self.containers.store().find(&id)?;
        let service = self.containers.network()?;
        let target = service.network(network).map_err(ContainerError::from)?;
        if c.networks.is_empty() {
            return Err(invalid(format!(
                "container {} has network mode {:?}: it cannot be connected to networks",
                c.short_name(),
                c.host_config.extra.network_mode
            ))
            .into());
        }
        if c.networks.iter().any(|a| a.network_id == target.id) {
            return Err(ContainerError::State(format!(
                "endpoint with name {} already exists in network {}",
                c.short_name(),
                target.name
            ))
            .into());
        }
        if c.state.status.is_live() {
            let req = attach_request(&c, &target.id, &settings, Vec::new(), service)?;
            service.attach(req).await.map_err(ContainerError::from)?;
        }
        c.networks.push(NetworkAttachment {
            network_id: target.id.clone(),
            name: network.to_string(),
            settings,
        });
        self.containers.store().update(&c)?;
        if c.state.status.is_live() {
            let endpoints = service
                .endpoints_of_container(&c.id)
                .map_err(ContainerError::from)?;
            self.write_name_files(&c, &endpoints)?;
        }
        self.events
            .network("connect", &target, &[("container", c.id.clone())]);
        Ok(())
    }

    /// `docker network disconnect`.
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let service = self.containers.network()?;
        let target = service.network(network).map_err(ContainerError::from)?;
        let found = self.containers.store().find(container);
        let c = match found {
            Ok(c) => c,
            // A container removed behind the service's back: force drops its endpoint.
            Err(_) if force => {
                for e in service
                    .endpoints_of_network(&target.id)
                    .map_err(ContainerError::from)?
                {
                    if e.container_id == container || e.container_name == container {
                        service
                            .detach(&e.container_id, &target.id)
                            .await
                            .map_err(ContainerError::from)?;
                    }
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let _guard = self.containers.lock(&c.id).await;
        let mut c = self.containers.store().find(&c.id)?;
        let before = c.networks.len();
        c.networks.retain(|a| a.network_id != target.id);
        if c.networks.len() == before {
            return Err(ContainerError::State(format!(
                "container {} is not connected to network {}",
                c.short_name(),
                target.name
            ))
            .into());
        }
        // A created container holds its endpoints too, so detach whatever the state.
        match service.detach(&c.id, &target.id).await {
            Ok(()) => {}
            Err(e) if silo_errdefs::HasKind::kind(&e) == silo_errdefs::ErrorKind::NotFound => {}
            Err(e) => return Err(ContainerError::from(e).into()),
        }
        self.containers.store().update(&c)?;
        self.events
            .network("disconnect", &target, &[("container", c.id.clone())]);
        Ok(())
    }

    /// Writes `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for `c` into its files
    /// directory (bind-mounted into the container; rewritten in place so the mounts see it).
    pub(super) fn write_name_files(&self, c: &Container, endpoints: &[Endpoint]) -> Result<()> {
        let dir = self.name_files_dir(&c.id);
        let hc = &c.host_config.extra;
        let host_mode = hc.network_mode == "host";
        let hostname = hostname_of(c);
        let hosts = if host_mode {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            hosts_file(&hostname, endpoints, &hc.extra_hosts)?
        };
        let nameservers: Vec<IpAddr> = if !hc.dns.is_empty() {
            hc.dns
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| invalid(format!("invalid --dns address {s:?}")))
                })
                .collect::<std::result::Result<_, _>>()?
        } else {
            match self.containers.network() {
                Ok(service) if !host_mode => service.dns_servers(endpoints),
                _ => host_nameservers(),
            }
        };
        let resolv = resolv_conf(&nameservers, &hc.dns_search, &hc.dns_options);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        for (name, text) in [
            ("hosts", hosts),
            ("resolv.conf", resolv),
            ("hostname", format!("{hostname}\n")),
        ] {
            let path = dir.join(name);
            // In place, not rename: a bind mount holds the inode.
            std::fs::write(&path, text).map_err(io("write", &path))?;
        }
        Ok(())
    }

    /// `<sandboxes>/<id>.etc`: the container's hosts, resolv.conf and hostname.
    pub(super) fn name_files_dir(&self, id: &str) -> PathBuf {
        self.containers.sandboxes.join(format!("{id}.etc"))
    }

    /// The bind mounts of the name files (created empty first, so create can mount them).
    pub(super) fn name_file_mounts(&self, c: &Container) -> Result<Vec<Mount>> {
        let owner = match c.host_config.extra.network_mode.strip_prefix("container:") {
            Some(other) => self.containers.store().find(other)?.id,
            None => c.id.clone(),
        };
        let dir = self.name_files_dir(&owner);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let mut mounts = Vec::new();
        for (name, target) in [
            ("hosts", "/etc/hosts"),
            ("resolv.conf", "/etc/resolv.conf"),
            ("hostname", "/etc/hostname"),
        ] {
            let path = dir.join(name);
            if !path.exists() {
                std::fs::write(&path, "").map_err(io("create", &path))?;
            }
            mounts.push(Mount {
                source: Some(path),
                destination: PathBuf::from(target),
                kind: MountKind::Bind,
                read_only: false,
                options: Vec::new(),
            });
        }
        Ok(mounts)
    }
}

/// The container's hostname: the one asked for, else the first 12 characters of its id.
pub(super) fn hostname_of(c: &Container) -> String {
    if c.config.hostname.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.config.hostname.clone()
    }
}

/// Docker's /etc/hosts: loopback names, the container's addresses with its hostname, then
/// `--add-host` entries.
fn hosts_file(
    hostname: &str,
    endpoints: &[Endpoint],
    extra: &[String],
) -> std::result::Result<String, ContainerError> {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in endpoints {
        for addr in e.ipv4.iter().chain(e.ipv6.iter()) {
            let _ = writeln!(out, "{}\t{hostname}", addr.addr());
        }
    }
    for entry in extra {
        let (name, ip) = entry
            .split_once(':')
            .ok_or_else(|| invalid(format!("invalid --add-host {entry:?}: expected name:ip")))?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if ip == "host-gateway" {
            endpoints
                .first()
                .and_then(|e| e.gateway)
                .ok_or_else(|| invalid("--add-host host-gateway needs a network with a gateway"))?
        } else {
            ip.parse()
                .map_err(|_| invalid(format!("invalid IP address in --add-host {entry:?}")))?
        };
        let _ = writeln!(out, "{ip}\t{name}");
    }
    Ok(out)
}

fn resolv_conf(nameservers: &[IpAddr], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for ns in nameservers {
        let _ = writeln!(out, "nameserver {ns}");
    }
    if !search.is_empty() {
        let _ = writeln!(out, "search {}", search.join(" "));
    }
    if !options.is_empty() {
        let _ = writeln!(out, "options {}", options.join(" "));
    }
    out
}

/// The host's resolvers, for containers sharing the host's namespace or without networks.
fn host_nameservers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect()
}

/// What the network service needs to attach `c` to network `network_id`.
fn attach_request(
    c: &Container,
    network_id: &str,
    settings: &EndpointSettings,
    ports: Vec<PortMapping>,
    service: &silo_network::NetworkService,
) -> std::result::Result<silo_network::AttachRequest, ContainerError> {
    let (outbound_nat, acls) = policies(&settings.driver_opts)?;
    Ok(silo_network::AttachRequest {
        container_id: c.id.clone(),
        container_name: c.short_name().to_string(),
        network: network_id.to_string(),
        netns: service.namespace_path(&c.id),
        ipv4: settings.ipv4,
        ipv6: settings.ipv6,
        mac: settings.mac.clone(),
        aliases: settings.aliases.clone(),
        ports,
        outbound_nat,
        acls,
    })
}

/// `-p` and `-P` as the network service's port mappings, one per port (ranges expanded).
pub(super) fn published_ports(
    c: &Container,
) -> std::result::Result<Vec<PortMapping>, ContainerError> {
    let hc = &c.host_config.extra;
    let mut bindings = hc.port_bindings.clone();
    if hc.publish_all_ports {
        for port in &c.config.exposed_ports {
            bindings.entry(port.clone()).or_default();
        }
    }
    let mut out = Vec::new();
    for (key, hosts) in &bindings {
        let (ports, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let protocol = Protocol::parse(proto)
            .ok_or_else(|| invalid(format!("invalid protocol {proto:?} in {key:?}")))?;
        let (first, last) = port_range(ports)
            .ok_or_else(|| invalid(format!("invalid port specification: {key:?}")))?;
        let hosts = if hosts.is_empty() {
            vec![Default::default()]
        } else {
            hosts.clone()
        };
        for host in hosts {
            let host_ip = match host.host_ip.trim_start_matches('[').trim_end_matches(']') {
                "" | "0.0.0.0" | "::" => None,
                ip => Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| invalid(format!("invalid host IP {ip:?} for port {key}")))?,
                ),
            };
            let (host_first, host_last) = if host.host_port.is_empty() {
                (0, 0)
            } else {
                port_range(&host.host_port).ok_or_else(|| {
                    invalid(format!("invalid host port {:?} for {key}", host.host_port))
                })?
            };
            let count = last - first;
            if host_first != 0 && host_last - host_first != count && host_last != host_first {
                return Err(invalid(format!(
                    "invalid ranges specified for container and host ports: {key} and {}",
                    host.host_port
                )));
            }
            for i in 0..=count {
                let host_port = match host_first {
                    0 => 0,
                    _ if host_last == host_first => host_first,
                    _ => host_first + i,
                };
                out.push(PortMapping {
                    protocol,
                    host_ip,
                    host_port,
                    container_port: first + i,
                });
            }
        }
    }
    out.dedup();
    Ok(out)
}

fn port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a > 0 && b >= a).then_some((a, b))
}

/// Endpoint policies from `--driver-opt`: `silo.outbound-nat=false`,
/// `silo.outbound-nat-exceptions=10.0.0.0/8 192.168.0.0/16`, `silo.acl=<allow|block> <in|out>
/// <proto|any> <prefix|any> <port|any>; ...`. Fields are separated by spaces, not commas: the
/// docker CLI's `--network name=...,driver-opt=...` splits on commas.
fn policies(
    opts: &BTreeMap<String, String>,
) -> std::result::Result<(silo_network::OutboundNat, Vec<silo_network::Acl>), ContainerError> {
    let mut nat = silo_network::OutboundNat::default();
    let mut acls = Vec::new();
    for (key, value) in opts {
        match key.as_str() {
            "silo.outbound-nat" => {
                nat.enabled = value
                    .parse()
                    .map_err(|_| invalid(format!("{key} must be true or false")))?
            }
            "silo.outbound-nat-exceptions" => {
                for prefix in value.split_whitespace() {
                    nat.exceptions.push(
                        prefix
                            .parse()
                            .map_err(|_| invalid(format!("invalid prefix {prefix:?} in {key}")))?,
                    );
                }
            }
            "silo.acl" => {
                for rule in value.split(';').filter(|r| !r.trim().is_empty()) {
                    acls.push(parse_acl(rule)?);
                }
            }
            other => {
                return Err(ContainerError::NotSupported(format!(
                    "driver option {other:?} (silo knows silo.outbound-nat, silo.outbound-nat-exceptions, silo.acl)"
                )))
            }
        }
    }
    Ok((nat, acls))
}

fn parse_acl(rule: &str) -> std::result::Result<silo_network::Acl, ContainerError> {
    let bad = || {
        invalid(format!(
            "invalid silo.acl rule {rule:?}: expected `allow|block in|out tcp|udp|any PREFIX|any PORT|any`"
        ))
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [action, direction, proto, remote, port] = parts.as_slice() else {
        return Err(bad());
    };
    let any = |s: &str| s.is_empty() || s == "any";
    Ok(silo_network::Acl {
        action: match *action {
            "allow" => silo_network::AclAction::Allow,
            "block" => silo_network::AclAction::Block,
            _ => return Err(bad()),
        },
        direction: match *direction {
            "in" => silo_network::Direction::In,
            "out" => silo_network::Direction::Out,
            _ => return Err(bad()),
        },
        protocol: if any(proto) {
            None
        } else {
            Some(Protocol::parse(proto).ok_or_else(bad)?)
        },
        remote: if any(remote) {
            None
        } else {
            Some(remote.parse().map_err(|_| bad())?)
        },
        port: if any(port) {
            None
        } else {
            Some(port.parse().map_err(|_| bad())?)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::model::{HostConfig, PortBinding};

    fn container(
        bindings: &[(&str, &[(&str, &str)])],
        publish_all: bool,
        exposed: &[&str],
    ) -> Container {
        let mut hc = HostConfig::default();
        for (key, hosts) in bindings {
            hc.extra.port_bindings.insert(
                key.to_string(),
                hosts
                    .iter()
                    .map(|(ip, port)| PortBinding {
                        host_ip: ip.to_string(),
                        host_port: port.to_string(),
                    })
                    .collect(),
            );
        }
        hc.extra.publish_all_ports = publish_all;
        Container {
            id: "a".repeat(64),
            name: "/c".into(),
            image_id: String::new(),
            image_name: String::new(),
            config: crate::containers::model::ContainerConfig {
                exposed_ports: exposed.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            host_config: hc,
            created: chrono::Utc::now(),
            state: Default::default(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn port_bindings_expand_like_docker() {
        let c = container(&[("8080/tcp", &[("127.0.0.1", "18080")])], false, &[]);
        let ports = published_ports(&c).unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((ports[0].host_port, ports[0].container_port), (18080, 8080));

        let c = container(&[("53/udp", &[("", "")])], false, &[]);
        let ports = published_ports(&c).unwrap();
        assert_eq!(ports[0].protocol, Protocol::Udp);
        assert_eq!((ports[0].host_ip, ports[0].host_port), (None, 0));

        let c = container(&[("7000-7002/tcp", &[("", "17000-17002")])], false, &[]);
        let ports = published_ports(&c).unwrap();
        let pairs: Vec<_> = ports
            .iter()
            .map(|p| (p.host_port, p.container_port))
            .collect();
        assert_eq!(pairs, [(17000, 7000), (17001, 7001), (17002, 7002)]);

        let c = container(&[], true, &["80/tcp", "443/tcp"]);
        let ports = published_ports(&c).unwrap();
        assert_eq!(ports.len(), 2);
        assert!(ports.iter().all(|p| p.host_port == 0));

        let c = container(&[("7000-7002/tcp", &[("", "17000-17001")])], false, &[]);
        assert!(published_ports(&c).is_err());
        let c = container(&[("x/tcp", &[])], false, &[]);
        assert!(published_ports(&c).is_err());
    }

    #[test]
    fn name_files_follow_docker() {
        let hosts = hosts_file("web", &[], &["db:10.0.0.5".to_string()]).unwrap();
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(hosts.ends_with("10.0.0.5\tdb\n"));
        assert!(hosts_file("web", &[], &["nonsense".to_string()]).is_err());
        let resolv = resolv_conf(
            &["10.77.0.1".parse().unwrap()],
            &["example.org".to_string()],
            &["ndots:2".to_string()],
        );
        assert_eq!(
            resolv,
            "nameserver 10.77.0.1\nsearch example.org\noptions ndots:2\n"
        );
    }

    #[test]
    fn driver_options_become_policies() {
        let opts = BTreeMap::from([
            ("silo.outbound-nat".to_string(), "false".to_string()),
            (
                "silo.acl".to_string(),
                "block out tcp 10.0.0.0/8 80; allow in any any any".to_string(),
            ),
        ]);
        let (nat, acls) = policies(&opts).unwrap();
        assert!(!nat.enabled);
        assert_eq!(acls.len(), 2);
        assert_eq!(acls[0].port, Some(80));
        assert_eq!(acls[1].protocol, None);
        let bad = BTreeMap::from([("silo.acl".to_string(), "drop out".to_string())]);
        assert!(policies(&bad).is_err());
        let unknown = BTreeMap::from([("com.docker.x".to_string(), "1".to_string())]);
        assert!(policies(&unknown).is_err());
    }

    #[test]
    fn network_modes_parse() {
        assert_eq!(NetworkMode::parse(""), NetworkMode::Network(String::new()));
        assert_eq!(NetworkMode::parse("none"), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:web"),
            NetworkMode::Container("web".into())
        );
        assert_eq!(
            NetworkMode::parse("mynet"),
            NetworkMode::Network("mynet".into())
        );
    }
}
