//! Host port reservations for published ports, as Docker makes them: a socket bound to the
//! host address and port (never listening, so nothing is ever accepted on it) keeps other
//! programs from serving on the port while the DNAT rule owns it, and binding is how
//! conflicts with them are found.
//!
//! Two reservations of this process cannot be told apart by the kernel (TCP sockets with
//! SO_REUSEADDR that do not listen may share a port), so the process also keeps a table of
//! what it holds and refuses overlapping reservations itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

use rustix::net::{AddressFamily, SocketType};

use super::HostError;
use crate::model::Protocol;

/// A reserved host port; dropping it releases the port.
#[derive(Debug)]
pub struct Reservation {
    key: Key,
    /// `None` only for SCTP on a kernel without SCTP support, where no program can serve the
    /// port either.
    _socket: Option<OwnedFd>,
}

/// What the process-wide table records: `ip` `None` is every address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    protocol: Protocol,
    ip: Option<IpAddr>,
    port: u16,
}

impl Key {
    /// Whether two reservations would receive the same traffic (a wildcard overlaps every
    /// address).
    fn overlaps(&self, other: &Key) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && match (self.ip, other.ip) {
                (None, _) | (_, None) => true,
                (Some(a), Some(b)) => a == b,
            }
    }
}

fn held() -> MutexGuard<'static, Vec<Key>> {
    static HELD: Mutex<Vec<Key>> = Mutex::new(Vec::new());
    // Single pushes and removes cannot leave the list inconsistent, so a lock poisoned by a
    // panic elsewhere is still good.
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reserves `host_port` (0: an ephemeral port) for `protocol` on `host_ip` (`None` or an
/// unspecified address: every address).
pub fn reserve(
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    host_port: u16,
) -> Result<Reservation, HostError> {
    let ip = host_ip.filter(|ip| !ip.is_unspecified());
    let mut held = held();
    if host_port != 0 {
        let key = Key {
            protocol,
            ip,
            port: host_port,
        };
        if held.iter().any(|k| k.overlaps(&key)) {
            return Err(allocated(&key));
        }
    }
    let bind_ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let (socket, port) = bind(protocol, SocketAddr::new(bind_ip, host_port)).map_err(|e| {
        let key = Key {
            protocol,
            ip,
            port: host_port,
        };
        if e == rustix::io::Errno::ADDRINUSE {
            allocated(&key)
        } else {
            HostError::io("reserve host port", describe(&key), e.into())
        }
    })?;
    let key = Key { protocol, ip, port };
    // An ephemeral port the kernel handed out can still collide with a reservation of ours
    // that shares ports (see the module docs); refuse rather than double-book.
    if held.iter().any(|k| k.overlaps(&key)) {
        return Err(allocated(&key));
    }
    held.push(key);
    Ok(Reservation {
        key,
        _socket: socket,
    })
}

/// Binds a socket for `protocol` to `addr`; returns it and the bound port.
fn bind(protocol: Protocol, addr: SocketAddr) -> rustix::io::Result<(Option<OwnedFd>, u16)> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let socket = match protocol {
        Protocol::Tcp => rustix::net::socket(family, SocketType::STREAM, None)?,
        Protocol::Udp => rustix::net::socket(family, SocketType::DGRAM, None)?,
        Protocol::Sctp => {
            match rustix::net::socket(family, SocketType::STREAM, Some(rustix::net::ipproto::SCTP))
            {
                Ok(s) => s,
                Err(rustix::io::Errno::PROTONOSUPPORT | rustix::io::Errno::AFNOSUPPORT) => {
                    return Ok((None, addr.port()))
                }
                Err(e) => return Err(e),
            }
        }
    };
    if protocol != Protocol::Udp {
        // Connections of an earlier user of the port in TIME_WAIT must not block it.
        rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    }
    if let SocketAddr::V6(_) = addr {
        // `[::]` means IPv6 only here; IPv4 has its own reservation.
        rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, &addr)?;
    let bound = rustix::net::getsockname(&socket)?;
    let port = SocketAddr::try_from(bound)
        .map(|a| a.port())
        .map_err(|_| rustix::io::Errno::AFNOSUPPORT)?;
    Ok((Some(socket), port))
}

fn allocated(key: &Key) -> HostError {
    HostError::PortAllocated {
        protocol: key.protocol.as_str(),
        host_ip: key
            .ip
            .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string()),
        port: key.port,
    }
}

fn describe(key: &Key) -> String {
    match key.ip {
        Some(ip) => format!("{}/{} on {ip}", key.port, key.protocol.as_str()),
        None => format!("{}/{}", key.port, key.protocol.as_str()),
    }
}

impl Reservation {
    /// The reserved port (the kernel's choice when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.key.port
    }

    pub fn protocol(&self) -> Protocol {
        self.key.protocol
    }

    /// The reserved address; `None` is every address.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.key.ip
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = held();
        if let Some(i) = held.iter().position(|k| *k == self.key) {
            held.swap_remove(i);
        }
    }
}
