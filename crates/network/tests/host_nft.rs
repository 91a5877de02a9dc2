//! The nftables table on the real kernel: published ports (also on 127.0.0.1 and hairpin),
//! isolation, ACLs, outbound masquerade, and clean removal.

mod host_common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use host_common::{ping, sh, skip, subnet24, unique, Cleanup};
use silo_network::host::cni::{self, Cni, CniAttachment};
use silo_network::host::nft::{self, EndpointRules, NetworkRules, Ruleset};
use silo_network::host::{link, netns, ports};
use silo_network::model::{Acl, AclAction, Direction, OutboundNat, PortMapping, Protocol};

/// A table name of this test: `silo_t` + pid + counter.
fn table(guard: &mut Cleanup) -> String {
    let name = format!("silo_t{}", unique("").replace('x', "_"));
    guard.tables.push(name.clone());
    name
}

/// A bridge network `net`.0/24 with its gateway at .1.
async fn bridge(guard: &mut Cleanup, net: &str) -> (String, NetworkRules) {
    let br = guard.link(&unique("stb"));
    link::ensure_bridge(&br, &[format!("{net}.1/24").parse().unwrap()])
        .await
        .unwrap();
    let rules = NetworkRules {
        bridge: br.clone(),
        subnet_v4: Some(format!("{net}.0/24").parse().unwrap()),
        internal: false,
        masquerade: true,
    };
    (br, rules)
}

/// A container namespace on `br` with address `net`.`host` and a default route.
async fn container(guard: &mut Cleanup, dir: &Path, br: &str, net: &str, host: u8) -> PathBuf {
    let ns = guard.netns(dir, &format!("c{host}-{br}"));
    let address = (
        format!("{net}.{host}/24").parse().unwrap(),
        Some(format!("{net}.1").parse().unwrap()),
    );
    let att = CniAttachment {
        container_id: unique("ctr"),
        netns: ns.clone(),
        ifname: "eth0".into(),
        config: cni::bridge_config("t", br, &[address], true, None),
    };
    Cni::default().add(&att).await.unwrap();
    ns
}

fn endpoint(br: &str, ip: &str) -> EndpointRules {
    EndpointRules {
        bridge: Some(br.to_string()),
        ipv4: ip.parse().unwrap(),
        ports: vec![],
        outbound_nat: OutboundNat::default(),
        acls: vec![],
    }
}

/// A TCP server inside a namespace that answers "hi" and reports each client's address;
/// stopped and joined on drop (so the namespace is not kept alive by its socket).
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    peers: mpsc::Receiver<SocketAddr>,
}

impl Server {
    fn start(ns: &Path, port: u16) -> Server {
        let listener = netns::run_in(ns, || TcpListener::bind(("0.0.0.0", port)))
            .unwrap()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, peers) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        let _ = tx.send(peer);
                        let _ = conn.write_all(b"hi");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            stop,
            thread: Some(thread),
            peers,
        }
    }

    fn last_peer(&self) -> Option<SocketAddr> {
        self.peers.recv_timeout(Duration::from_secs(1)).ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects to `addr` (from inside `ns` when given) and returns what the server said.
fn fetch(ns: Option<&Path>, addr: SocketAddr) -> Option<String> {
    let get = move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(1500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    };
    match ns {
        Some(ns) => netns::run_in(ns, get).unwrap(),
        None => get(),
    }
}

#[tokio::test]
async fn published_ports_work_from_localhost_and_hairpin_and_table_goes_away() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let net = subnet24(20);
    let (br, network) = bridge(&mut guard, &net).await;
    let web = container(&mut guard, &dir, &br, &net, 2).await;
    let client = container(&mut guard, &dir, &br, &net, 3).await;
    let server = Server::start(&web, 8080);

    let loopback = ports::reserve(Protocol::Tcp, Some("127.0.0.1".parse().unwrap()), 0).unwrap();
    let anywhere = ports::reserve(Protocol::Tcp, None, 0).unwrap();
    let mut ep = endpoint(&br, &format!("{net}.2"));
    ep.ports = vec![
        PortMapping {
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: loopback.port(),
            container_port: 8080,
        },
        PortMapping {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: anywhere.port(),
            container_port: 8080,
        },
    ];
    let rules = Ruleset {
        table: table(&mut guard),
        networks: vec![network],
        endpoints: vec![ep],
    };
    nft::apply(&rules).await.unwrap();
    nft::apply(&rules).await.unwrap(); // replaces, does not duplicate

    // From the host to 127.0.0.1: DNAT in output, route_localnet, masquerade to the gateway.
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, loopback.port()));
    assert_eq!(fetch(None, local).as_deref(), Some("hi"));
    let gw: Ipv4Addr = format!("{net}.1").parse().unwrap();
    assert_eq!(server.last_peer().unwrap().ip(), gw);

    // Hairpin: a container on the same bridge through the gateway address (a host address).
    let via_gw = SocketAddr::from((gw, anywhere.port()));
    assert_eq!(fetch(Some(&client), via_gw).as_deref(), Some("hi"));
    assert_eq!(
        server.last_peer().unwrap().ip(),
        gw,
        "hairpin traffic is masqueraded"
    );

    let chains = nft::list_chains(&rules.table).await.unwrap();
    assert!(chains.contains(&("published".to_string(), 2)), "{chains:?}");
    for base in ["prerouting", "output", "postrouting", "forward"] {
        assert!(chains.iter().any(|(c, _)| c == base), "{chains:?}");
    }

    nft::delete_table(&rules.table).await.unwrap();
    assert!(!sh(&["nft", "list", "tables"]).contains(&rules.table));
    nft::delete_table(&rules.table).await.unwrap(); // missing is fine
    assert!(nft::list_chains(&rules.table).await.unwrap().is_empty());
    assert_eq!(fetch(None, local), None, "nothing is published any more");
}

#[tokio::test]
async fn networks_are_isolated_from_each_other() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let (net_a, net_b) = (subnet24(21), subnet24(22));
    let (br_a, rules_a) = bridge(&mut guard, &net_a).await;
    let (br_b, rules_b) = bridge(&mut guard, &net_b).await;
    let a = container(&mut guard, &dir, &br_a, &net_a, 2).await;
    let _b = container(&mut guard, &dir, &br_b, &net_b, 2).await;
    let b_ip = format!("{net_b}.2");

    // The host routes between the bridges until the table says otherwise.
    assert!(
        ping(&a, &b_ip),
        "routing between test bridges does not work on this host"
    );
    let rules = Ruleset {
        table: table(&mut guard),
        networks: vec![rules_a, rules_b],
        endpoints: vec![
            endpoint(&br_a, &format!("{net_a}.2")),
            endpoint(&br_b, &b_ip),
        ],
    };
    nft::apply(&rules).await.unwrap();
    assert!(!ping(&a, &b_ip));
    assert!(
        ping(&a, &format!("{net_a}.1")),
        "the own gateway stays reachable"
    );
}

#[tokio::test]
async fn internal_network_reaches_nothing_outside_its_bridge() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let (net_a, net_i) = (subnet24(23), subnet24(24));
    let (br_a, rules_a) = bridge(&mut guard, &net_a).await;
    let (br_i, mut rules_i) = bridge(&mut guard, &net_i).await;
    rules_i.internal = true;
    rules_i.masquerade = false;
    let _a = container(&mut guard, &dir, &br_a, &net_a, 2).await;
    let i1 = container(&mut guard, &dir, &br_i, &net_i, 2).await;
    let _i2 = container(&mut guard, &dir, &br_i, &net_i, 3).await;
    let rules = Ruleset {
        table: table(&mut guard),
        networks: vec![rules_a, rules_i],
        endpoints: vec![],
    };
    nft::apply(&rules).await.unwrap();
    assert!(!ping(&i1, &format!("{net_a}.2")));
    assert!(
        ping(&i1, &format!("{net_i}.3")),
        "members of the internal network still meet"
    );
}

#[tokio::test]
async fn acl_blocks_published_port_from_another_network() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let (net_a, net_b) = (subnet24(25), subnet24(26));
    let (br_a, rules_a) = bridge(&mut guard, &net_a).await;
    let (br_b, rules_b) = bridge(&mut guard, &net_b).await;
    let web = container(&mut guard, &dir, &br_a, &net_a, 2).await;
    let other = container(&mut guard, &dir, &br_b, &net_b, 2).await;
    let _server = Server::start(&web, 8080);
    let port = ports::reserve(Protocol::Tcp, None, 0).unwrap();

    let mut ep = endpoint(&br_a, &format!("{net_a}.2"));
    ep.ports = vec![PortMapping {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: port.port(),
        container_port: 8080,
    }];
    let mut rules = Ruleset {
        table: table(&mut guard),
        networks: vec![rules_a, rules_b],
        endpoints: vec![ep],
    };
    // Published ports are open to other networks despite isolation...
    nft::apply(&rules).await.unwrap();
    let target = SocketAddr::from((
        format!("{net_b}.1").parse::<Ipv4Addr>().unwrap(),
        port.port(),
    ));
    assert_eq!(fetch(Some(&other), target).as_deref(), Some("hi"));

    // ...unless an inbound ACL blocks them (it sees the DNAT'd container port).
    rules.endpoints[0].acls = vec![Acl {
        action: AclAction::Block,
        direction: Direction::In,
        protocol: Some(Protocol::Tcp),
        remote: Some(format!("{net_b}.0/24").parse().unwrap()),
        port: Some(8080),
    }];
    nft::apply(&rules).await.unwrap();
    assert_eq!(fetch(Some(&other), target), None);
    // Traffic the ACL does not match still passes.
    assert!(ping(&web, &format!("{net_a}.1")));
}

#[tokio::test]
async fn outbound_nat_masquerades_unless_disabled() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let net = subnet24(27);
    let (br, network) = bridge(&mut guard, &net).await;
    let ctr = container(&mut guard, &dir, &br, &net, 2).await;

    // "The outside": a veth whose peer sits in a namespace of its own, routed back via the
    // host end so unmasqueraded replies can return too.
    let outside_net = subnet24(28);
    let host_end = guard.link(&unique("sto"));
    let peer = unique("stq");
    let outside = guard.netns(&dir, "outside");
    sh(&[
        "ip", "link", "add", &host_end, "type", "veth", "peer", "name", &peer,
    ]);
    sh(&[
        "ip",
        "link",
        "set",
        &peer,
        "netns",
        outside.to_str().unwrap(),
    ]);
    sh(&[
        "ip",
        "addr",
        "add",
        &format!("{outside_net}.1/24"),
        "dev",
        &host_end,
    ]);
    sh(&["ip", "link", "set", &host_end, "up"]);
    for args in [
        vec![
            "ip",
            "addr",
            "add",
            &format!("{outside_net}.2/24"),
            "dev",
            &peer,
        ],
        vec!["ip", "link", "set", &peer, "up"],
        vec![
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("{outside_net}.1"),
        ],
    ] {
        let out = host_common::nsexec(&outside, &args.iter().map(|s| &**s).collect::<Vec<_>>());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let server = Server::start(&outside, 8080);
    let target = SocketAddr::from((
        format!("{outside_net}.2").parse::<Ipv4Addr>().unwrap(),
        8080,
    ));

    let mut rules = Ruleset {
        table: table(&mut guard),
        networks: vec![network],
        endpoints: vec![endpoint(&br, &format!("{net}.2"))],
    };
    nft::apply(&rules).await.unwrap();
    assert_eq!(fetch(Some(&ctr), target).as_deref(), Some("hi"));
    assert_eq!(
        server.last_peer().unwrap().ip().to_string(),
        format!("{outside_net}.1"),
        "masqueraded to the outgoing interface's address"
    );

    rules.endpoints[0].outbound_nat = OutboundNat {
        enabled: true,
        exceptions: vec![format!("{outside_net}.0/24").parse().unwrap()],
    };
    nft::apply(&rules).await.unwrap();
    assert_eq!(fetch(Some(&ctr), target).as_deref(), Some("hi"));
    assert_eq!(
        server.last_peer().unwrap().ip().to_string(),
        format!("{net}.2"),
        "no masquerade toward an exception"
    );
}
