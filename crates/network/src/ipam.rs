//! Address management: choosing subnets for new networks and addresses for endpoints.
//!
//! Pure functions over what is taken; the service persists allocations in SQLite with a unique
//! key on (network, address), so an address is never handed out twice, across restarts too.
//! Addresses are handed out in order after the last one given (Docker's behaviour), so an
//! address released a moment ago is not reused at once by the next container.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::model::Subnet;

/// Why no address or subnet could be chosen, or a requested one is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("no free address left in {0}")]
    Exhausted(IpNet),
    #[error("address {addr} is not in the network's range {range}")]
    OutOfRange { addr: IpAddr, range: IpNet },
    #[error("address {0} is reserved (network, broadcast or gateway address)")]
    Reserved(IpAddr),
    #[error("gateway {gateway} is not inside subnet {subnet}")]
    GatewayOutside { gateway: IpAddr, subnet: IpNet },
    #[error("ip-range {range} is not inside subnet {subnet}")]
    RangeOutside { range: IpNet, subnet: IpNet },
    #[error("subnet {0} has no room for a gateway and a container")]
    TooSmall(IpNet),
    #[error("no free /{prefix} left in the address pool {pool}")]
    NoFreeSubnet { pool: Ipv4Net, prefix: u8 },
}

/// Builds a pool from what the client gave: the subnet with host bits cleared, the gateway
/// (first usable address unless given) and the optional range.
pub fn pool(
    subnet: IpNet,
    gateway: Option<IpAddr>,
    ip_range: Option<IpNet>,
) -> Result<Subnet, IpamError> {
    let subnet = subnet.trunc();
    if host_count(&subnet) < 2 {
        return Err(IpamError::TooSmall(subnet));
    }
    let gateway = match gateway {
        Some(gw) => {
            if !subnet.contains(&gw) {
                return Err(IpamError::GatewayOutside {
                    gateway: gw,
                    subnet,
                });
            }
            gw
        }
        None => first_host(&subnet),
    };
    if let Some(range) = ip_range {
        if !subnet.contains(&range) {
            return Err(IpamError::RangeOutside { range, subnet });
        }
    }
    Ok(Subnet {
        subnet,
        gateway,
        ip_range: ip_range.map(|r| r.trunc()),
    })
}

/// Whether `addr` may be handed to an endpoint: inside the subnet (a static address may sit
/// outside `--ip-range`, as in Docker), not the network or broadcast address, not the gateway.
pub fn check_static(pool: &Subnet, addr: IpAddr) -> Result<(), IpamError> {
    if !pool.subnet.contains(&addr) {
        return Err(IpamError::OutOfRange {
            addr,
            range: pool.subnet,
        });
    }
    if addr == pool.gateway || addr == pool.subnet.network() || is_broadcast(&pool.subnet, addr) {
        return Err(IpamError::Reserved(addr));
    }
    Ok(())
}

/// The next free address after `last` (wrapping), skipping taken, reserved ones.
pub fn next_free(
    pool: &Subnet,
    taken: &HashSet<IpAddr>,
    last: Option<IpAddr>,
) -> Result<IpAddr, IpamError> {
    let range = pool.ip_range.unwrap_or(pool.subnet);
    let (first, end) = (as_u128(range.network()), as_u128(range.broadcast()));
    let count = end - first + 1;
    let start = match last.map(as_u128) {
        Some(l) if l >= first && l < end => l + 1,
        _ => first,
    };
    // A /16 has 65k candidates; v6 ranges are capped so a full /64 cannot spin for ever.
    let limit = count.min(1 << 20);
    for i in 0..limit {
        let candidate = from_u128(first + (start - first + i) % count, &range);
        if taken.contains(&candidate) || check_static(pool, candidate).is_err() {
            continue;
        }
        return Ok(candidate);
    }
    Err(IpamError::Exhausted(range))
}

/// The first `/prefix` inside `address_pool` that overlaps none of `in_use`.
pub fn free_subnet(
    address_pool: Ipv4Net,
    prefix: u8,
    in_use: &[IpNet],
) -> Result<IpNet, IpamError> {
    let none = IpamError::NoFreeSubnet {
        pool: address_pool,
        prefix,
    };
    let candidates = address_pool.subnets(prefix).map_err(|_| none.clone())?;
    candidates
        .map(IpNet::V4)
        .find(|candidate| in_use.iter().all(|used| !overlaps(candidate, used)))
        .ok_or(none)
}

/// Whether two prefixes share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Docker's MAC for an IPv4 address: `02:42` then the four address bytes.
pub fn mac_for(addr: Ipv4Addr) -> String {
    let [a, b, c, d] = addr.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

fn host_count(subnet: &IpNet) -> u128 {
    let bits = subnet.max_prefix_len() - subnet.prefix_len();
    if bits >= 127 {
        u128::MAX
    } else {
        (1u128 << bits).saturating_sub(if subnet.addr().is_ipv4() { 2 } else { 1 })
    }
}

fn first_host(subnet: &IpNet) -> IpAddr {
    from_u128(as_u128(subnet.network()) + 1, subnet)
}

fn is_broadcast(subnet: &IpNet, addr: IpAddr) -> bool {
    addr.is_ipv4() && addr == subnet.broadcast()
}

fn as_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(n: u128, like: &IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_gateway_defaults_to_the_first_host_and_host_bits_are_cleared() {
        let p = pool(net("10.77.0.9/24"), None, None).unwrap();
        assert_eq!(p.subnet, net("10.77.0.0/24"));
        assert_eq!(p.gateway, ip("10.77.0.1"));
        let err = pool(net("10.77.0.0/24"), Some(ip("10.78.0.1")), None).unwrap_err();
        assert!(matches!(err, IpamError::GatewayOutside { .. }), "{err}");
        let err = pool(net("10.77.0.0/24"), None, Some(net("10.78.0.0/25"))).unwrap_err();
        assert!(matches!(err, IpamError::RangeOutside { .. }), "{err}");
        assert!(matches!(
            pool(net("10.77.0.0/31"), None, None),
            Err(IpamError::TooSmall(_))
        ));
    }

    #[test]
    fn addresses_go_in_order_after_the_last_and_skip_taken_and_reserved() {
        let p = pool(net("10.77.0.0/29"), None, None).unwrap();
        let mut taken = HashSet::new();
        let a = next_free(&p, &taken, None).unwrap();
        assert_eq!(a, ip("10.77.0.2"));
        taken.insert(a);
        let b = next_free(&p, &taken, Some(a)).unwrap();
        assert_eq!(b, ip("10.77.0.3"));
        // Released .2 is not reused while later addresses are free.
        taken.remove(&a);
        taken.insert(b);
        assert_eq!(next_free(&p, &taken, Some(b)).unwrap(), ip("10.77.0.4"));
        // Wraps around past the broadcast address and reuses .2 last.
        taken.extend([ip("10.77.0.4"), ip("10.77.0.5"), ip("10.77.0.6")]);
        assert_eq!(
            next_free(&p, &taken, Some(ip("10.77.0.6"))).unwrap(),
            ip("10.77.0.2")
        );
        taken.insert(ip("10.77.0.2"));
        assert!(matches!(
            next_free(&p, &taken, None),
            Err(IpamError::Exhausted(_))
        ));
    }

    #[test]
    fn a_range_limits_handed_out_addresses_and_static_ones_are_checked() {
        let p = pool(net("10.77.0.0/24"), None, Some(net("10.77.0.128/25"))).unwrap();
        assert_eq!(
            next_free(&p, &HashSet::new(), None).unwrap(),
            ip("10.77.0.128")
        );
        assert!(check_static(&p, ip("10.77.0.10")).is_ok());
        assert_eq!(
            check_static(&p, ip("10.77.0.1")),
            Err(IpamError::Reserved(ip("10.77.0.1")))
        );
        assert_eq!(
            check_static(&p, ip("10.77.0.255")),
            Err(IpamError::Reserved(ip("10.77.0.255")))
        );
        assert!(matches!(
            check_static(&p, ip("10.78.0.3")),
            Err(IpamError::OutOfRange { .. })
        ));
    }

    #[test]
    fn free_subnets_skip_overlaps() {
        let pool: Ipv4Net = "10.89.0.0/16".parse().unwrap();
        let used = [
            net("10.89.0.0/24"),
            net("10.89.1.128/25"),
            net("10.0.0.0/8"),
        ];
        assert!(
            free_subnet(pool, 24, &used).is_err(),
            "10.0.0.0/8 covers it"
        );
        let used = [net("10.89.0.0/24"), net("10.89.1.128/25")];
        assert_eq!(free_subnet(pool, 24, &used).unwrap(), net("10.89.2.0/24"));
    }

    #[test]
    fn v6_pools_work() {
        let p = pool(net("fd00:77::/64"), None, None).unwrap();
        assert_eq!(p.gateway, ip("fd00:77::1"));
        assert_eq!(
            next_free(&p, &HashSet::new(), None).unwrap(),
            ip("fd00:77::2")
        );
    }

    #[test]
    fn macs_follow_docker() {
        assert_eq!(mac_for("10.77.0.10".parse().unwrap()), "02:42:0a:4d:00:0a");
    }
}
