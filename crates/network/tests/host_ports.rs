//! Host port reservations.

use std::net::{IpAddr, TcpListener, UdpSocket};

use silo_network::host::ports::reserve;
use silo_network::host::HostError;
use silo_network::model::Protocol;

fn localhost() -> Option<IpAddr> {
    Some("127.0.0.1".parse().unwrap())
}

#[test]
fn ephemeral_port_is_chosen_and_held() {
    let r = reserve(Protocol::Tcp, localhost(), 0).unwrap();
    assert_ne!(r.port(), 0);
    assert_eq!(r.protocol(), Protocol::Tcp);
    assert_eq!(r.host_ip(), localhost());

    // Held against this process...
    let err = reserve(Protocol::Tcp, localhost(), r.port()).unwrap_err();
    assert!(matches!(err, HostError::PortAllocated { .. }));
    assert_eq!(
        err.to_string(),
        format!("port {}/tcp on 127.0.0.1 is already allocated", r.port())
    );
    // ...including through the wildcard address...
    assert!(reserve(Protocol::Tcp, None, r.port()).is_err());
    // ...but not for another protocol.
    let udp = reserve(Protocol::Udp, localhost(), r.port());
    // (UDP may be taken by someone else on a busy host; only a clear error is acceptable.)
    if let Err(e) = &udp {
        assert!(matches!(e, HostError::PortAllocated { .. }), "{e}");
    }
    drop(udp);

    // Released on drop.
    let port = r.port();
    drop(r);
    let again = reserve(Protocol::Tcp, localhost(), port).unwrap();
    assert_eq!(again.port(), port);
}

#[test]
fn ports_held_by_other_programs_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = reserve(Protocol::Tcp, localhost(), port).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("port {port}/tcp on 127.0.0.1 is already allocated")
    );

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let err = reserve(Protocol::Udp, localhost(), port).unwrap_err();
    assert!(
        err.to_string().contains(&format!("port {port}/udp")),
        "{err}"
    );
}

#[test]
fn reserved_tcp_port_accepts_nothing() {
    let r = reserve(Protocol::Tcp, localhost(), 0).unwrap();
    // Bound but not listening: a connection is refused rather than queued forever.
    assert!(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_err());
}
