//! Which registries are reached over plain HTTP, and which mirrors stand in for Docker Hub.
//!
//! Docker's rules: a registry on the loopback interface is always insecure (so a local test
//! registry needs no configuration); otherwise it is insecure only when `insecure-registries`
//! names it (`host:port`, `host`) or a CIDR containing its address. Everything else is HTTPS
//! with certificate verification — there is no silent downgrade.

use std::net::IpAddr;

use super::RegistryError;
use crate::reference::{host_of, is_loopback_host};

/// An IP network, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= 128 || (net >> shift) == (ip >> shift)
    }
}

/// The parsed `insecure-registries` list.
#[derive(Debug, Clone, Default)]
pub(crate) struct InsecurePolicy {
    /// `host:port` or `host` entries, lowercased.
    names: Vec<String>,
    cidrs: Vec<Cidr>,
}

impl InsecurePolicy {
    pub(crate) fn parse(entries: &[String]) -> Result<InsecurePolicy, RegistryError> {
        let mut policy = InsecurePolicy::default();
        for entry in entries {
            let invalid = || RegistryError::InvalidInsecureRegistry {
                entry: entry.clone(),
            };
            let e = entry.trim().to_ascii_lowercase();
            if e.is_empty() || e.contains("://") || e.chars().any(char::is_whitespace) {
                return Err(invalid());
            }
            if e.contains('/') {
                policy.cidrs.push(Cidr::parse(&e).ok_or_else(invalid)?);
            } else {
                policy.names.push(e);
            }
        }
        Ok(policy)
    }

    /// The decision that needs no DNS: loopback, a listed name, or an IP literal in a CIDR.
    pub(crate) fn is_insecure_by_name(&self, registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        let host = host_of(&registry);
        is_loopback_host(&registry)
            || self.names.iter().any(|n| *n == registry || n == host)
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.cidrs.iter().any(|c| c.contains(ip)))
    }

    /// The full decision: as [`Self::is_insecure_by_name`], then, like Docker, the addresses a
    /// host name resolves to are checked against the CIDRs.
    pub(crate) async fn is_insecure(&self, registry: &str) -> bool {
        if self.is_insecure_by_name(registry) {
            return true;
        }
        let host = host_of(registry);
        if self.cidrs.is_empty() || host.parse::<IpAddr>().is_ok() {
            return false;
        }
        match tokio::net::lookup_host((host, 443)).await {
            Ok(addrs) => addrs
                .into_iter()
                .any(|a| self.cidrs.iter().any(|c| c.contains(a.ip()))),
            Err(_) => false,
        }
    }
}

/// A `registry-mirrors` entry: used for Docker Hub pulls before Docker Hub itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mirror {
    /// `host[:port]`.
    pub(crate) host: String,
    /// Given as `http://`: plain HTTP whatever the insecure list says.
    pub(crate) plain_http: bool,
}

impl Mirror {
    pub(crate) fn parse(entry: &str) -> Result<Mirror, RegistryError> {
        let invalid = |reason| RegistryError::InvalidMirror {
            entry: entry.to_string(),
            reason,
        };
        let (plain_http, rest) = if let Some(rest) = entry.strip_prefix("https://") {
            (false, rest)
        } else if let Some(rest) = entry.strip_prefix("http://") {
            (true, rest)
        } else {
            return Err(invalid("expected an http:// or https:// URL"));
        };
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        if host.contains('/') || host.contains('?') || host.contains('#') {
            return Err(invalid("a mirror URL cannot have a path"));
        }
        Ok(Mirror {
            host: host.to_ascii_lowercase(),
            plain_http,
        })
    }
}
