//! silo's network service, the analog of Windows' Host Network Service (HNS).
//!
//! The service owns networks, endpoints and their policies (port mappings, outbound NAT, ACLs),
//! allocates addresses (IPAM), and keeps the host in step with its database: bridges and links,
//! endpoints made by the standard CNI plugins (`/usr/lib/cni`), one nftables table for NAT,
//! isolation, ACLs and published ports, and a DNS resolver per user-defined network. The engine
//! asks it for endpoints; it knows nothing of containers beyond their id, name and namespace.

pub mod dns;
mod error;
pub mod host;
pub mod ipam;
pub mod model;
mod service;
mod store;

pub use error::{NetworkError, Result};
pub use model::*;
pub use service::{
    AttachRequest, NetworkConfig, NetworkRequest, NetworkService, PoolRequest, DEFAULT_NETWORK,
    DOCKER_DEFAULT_NETWORK,
};
