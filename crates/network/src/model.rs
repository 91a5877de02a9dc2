//! The network service's objects, as HNS has them: networks, endpoints and the policies on an
//! endpoint. Plain serde values: they are persisted as JSON in SQLite and shown by the API.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// How containers on a network reach each other and the outside (HNS network types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A host bridge, masquerade to the outside, published ports (Docker's `bridge`).
    Nat,
    /// A bridge with no route out: containers reach only each other.
    Internal,
    /// macvlan on a host interface: containers sit directly on its L2 segment.
    Transparent,
    /// ipvlan L2 on a host interface: containers share its MAC.
    L2bridge,
}

impl Driver {
    /// Parses a driver name, accepting Docker's names as aliases (`bridge`, `macvlan`,
    /// `ipvlan`).
    pub fn parse(name: &str) -> Option<Driver> {
        match name {
            "" | "nat" | "bridge" => Some(Driver::Nat),
            "internal" => Some(Driver::Internal),
            "transparent" | "macvlan" => Some(Driver::Transparent),
            "l2bridge" | "ipvlan" => Some(Driver::L2bridge),
            _ => None,
        }
    }

    /// silo's name for the driver.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Nat => "nat",
            Driver::Internal => "internal",
            Driver::Transparent => "transparent",
            Driver::L2bridge => "l2bridge",
        }
    }

    /// Whether the driver builds a host bridge (and so may publish ports and serve DNS on its
    /// gateway).
    pub fn uses_bridge(self) -> bool {
        matches!(self, Driver::Nat | Driver::Internal)
    }
}

/// One IPAM pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The prefix, e.g. `10.77.0.0/24` (host bits zero).
    pub subnet: IpNet,
    /// The gateway inside `subnet`: the bridge's address for nat and internal networks, the
    /// segment's router for transparent and l2bridge ones.
    pub gateway: IpAddr,
    /// Addresses are handed out from here only (`--ip-range`); `None` is the whole subnet.
    pub ip_range: Option<IpNet>,
}

/// A pool of MAC addresses (HNS's `MacPools`); silo derives MACs from IPv4 addresses inside
/// it, as Docker does (`02:42:` + the four address bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacPool {
    pub start: String,
    pub end: String,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// 64 lowercase hex characters.
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// IPv4 first; at most one per family.
    pub subnets: Vec<Subnet>,
    /// Driver options as given (`-o`); `parent` for transparent and l2bridge.
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// No route out (always true for the internal driver).
    pub internal: bool,
    /// Docker's `Attachable` (recorded and shown; every network is attachable here).
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub mac_pool: MacPool,
    pub created: DateTime<Utc>,
    /// The host interface behind the network: the bridge (nat, internal) or the parent link
    /// (transparent, l2bridge).
    pub interface: String,
    /// The default network (`nat`, alias `bridge`): no container-name DNS, as Docker's default
    /// bridge; it cannot be removed.
    pub default: bool,
}

impl Network {
    /// The IPv4 pool, if the network has one.
    pub fn ipv4(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.subnet.addr().is_ipv4())
    }

    /// The IPv6 pool, if the network has one.
    pub fn ipv6(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.subnet.addr().is_ipv6())
    }

    /// Whether containers on it resolve each other's names (user-defined bridge networks).
    pub fn has_dns(&self) -> bool {
        !self.default && self.driver.uses_bridge()
    }
}

/// Transport protocol of a port mapping or ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "" | "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One published port (HNS's PortMapping policy). Ranges are expanded into one mapping per port
/// before they reach the service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub protocol: Protocol,
    /// `None` is every host address (`0.0.0.0`); `127.0.0.1` publishes on loopback only.
    pub host_ip: Option<IpAddr>,
    /// 0 asks for an ephemeral port; the endpoint records the one chosen.
    pub host_port: u16,
    pub container_port: u16,
}

/// Outbound NAT of an endpoint (HNS's OutBoundNAT policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundNat {
    /// Masquerade traffic leaving the host (true by default on nat networks).
    pub enabled: bool,
    /// Destinations reached without masquerade.
    pub exceptions: Vec<IpNet>,
}

impl Default for OutboundNat {
    fn default() -> Self {
        OutboundNat {
            enabled: true,
            exceptions: Vec::new(),
        }
    }
}

/// What an ACL rule does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    Allow,
    Block,
}

/// Which way the traffic flows, seen from the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// One ACL rule of an endpoint (HNS's ACL policy). Rules are matched in order; traffic no rule
/// matches is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub action: AclAction,
    pub direction: Direction,
    /// `None` matches every protocol.
    pub protocol: Option<Protocol>,
    /// The other side's prefix; `None` matches everywhere.
    pub remote: Option<IpNet>,
    /// The remote port (out) or the container's port (in); needs tcp or udp.
    pub port: Option<u16>,
}

/// The policies on an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    pub ports: Vec<PortMapping>,
    pub outbound_nat: OutboundNat,
    pub acls: Vec<Acl>,
}

/// A container's attachment to a network (HNS endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 lowercase hex characters.
    pub id: String,
    pub network_id: String,
    pub container_id: String,
    /// The container's name without the slash, resolved by the network's DNS.
    pub container_name: String,
    /// More names the network's DNS resolves to this endpoint (`--network-alias`).
    pub aliases: Vec<String>,
    /// The network namespace the interface lives in.
    pub netns: PathBuf,
    /// The interface's name inside it (`eth0`, `eth1`, ...).
    pub ifname: String,
    /// Address with the subnet's prefix length, e.g. `10.77.0.2/24`.
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub mac: String,
    pub gateway: Option<IpAddr>,
    pub gateway_v6: Option<IpAddr>,
    /// The address was asked for (`--ip`), not handed out by IPAM.
    pub static_ip: bool,
    pub policies: Policies,
    pub created: DateTime<Utc>,
}

/// What a network's live state looks like, HNS-style (`Get-HnsNetwork`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub network: Network,
    pub endpoints: Vec<Endpoint>,
    /// Host objects behind the network and whether each is present right now.
    pub host_objects: Vec<HostObject>,
}

/// One host object (bridge, link, nft chain, namespace, resolver socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostObject {
    /// `bridge`, `link`, `nft-chain`, `netns`, `dns`.
    pub kind: String,
    pub name: String,
    pub present: bool,
    /// Extra facts (addresses, rule count).
    pub detail: String,
}
