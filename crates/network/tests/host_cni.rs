//! Endpoints made by the real CNI plugins (bridge, macvlan, ipvlan with static IPAM).

mod host_common;

use std::net::IpAddr;
use std::path::Path;

use host_common::{links_in, nsexec, ping, sh, skip, subnet24, unique, Cleanup};
use ipnet::IpNet;
use silo_network::host::cni::{self, Cni, CniAttachment};
use silo_network::host::{link, netns, HostError};

fn addr(ip: &str, gw: Option<&str>) -> (IpNet, Option<IpAddr>) {
    (ip.parse().unwrap(), gw.map(|g| g.parse().unwrap()))
}

fn attachment(ns: &Path, config: serde_json::Value) -> CniAttachment {
    CniAttachment {
        container_id: unique("ctr"),
        netns: ns.to_path_buf(),
        ifname: "eth0".into(),
        config,
    }
}

fn ports_of(bridge: &str) -> usize {
    let out = sh(&["ip", "-json", "link", "show", "master", bridge]);
    serde_json::from_str::<serde_json::Value>(&out)
        .map(|v| v.as_array().map_or(0, |a| a.len()))
        .unwrap_or(0)
}

#[tokio::test]
async fn bridge_endpoints_ping_each_other_and_del_is_idempotent() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let br = guard.link(&unique("stb"));
    let net = subnet24(10);
    let gw = format!("{net}.1");
    let gw_net: IpNet = format!("{gw}/24").parse().unwrap();
    link::ensure_bridge(&br, &[gw_net]).await.unwrap();
    let ns1 = guard.netns(&dir, "c1");
    let ns2 = guard.netns(&dir, "c2");

    let cni = Cni::default();
    cni.check_installed().unwrap();
    let mac = "02:42:0a:c8:00:02";
    let ip1 = format!("{net}.2");
    let ip2 = format!("{net}.3");
    let att1 = attachment(
        &ns1,
        cni::bridge_config(
            "t",
            &br,
            &[addr(&format!("{ip1}/24"), Some(&gw))],
            true,
            Some(mac),
        ),
    );
    let att2 = attachment(
        &ns2,
        cni::bridge_config(
            "t",
            &br,
            &[addr(&format!("{ip2}/24"), Some(&gw))],
            false,
            None,
        ),
    );

    let res = cni.add(&att1).await.unwrap();
    let eth0 = res
        .interfaces
        .iter()
        .position(|i| i.sandbox.as_deref() == Some(ns1.to_str().unwrap()))
        .expect("an interface inside the namespace");
    assert_eq!(res.interfaces[eth0].name, "eth0");
    assert_eq!(res.interfaces[eth0].mac, mac, "the requested MAC is used");
    assert_eq!(
        res.ips[0].address,
        format!("{ip1}/24").parse::<IpNet>().unwrap()
    );
    assert_eq!(res.ips[0].gateway, Some(gw.parse().unwrap()));
    assert_eq!(res.ips[0].interface, Some(eth0));
    cni.add(&att2).await.unwrap();

    // The plugin kept the bridge's gateway address as it was (isGateway found it there).
    let addrs = link::link_addresses(&br).await.unwrap();
    assert_eq!(
        addrs.iter().filter(|a| a.addr().is_ipv4()).count(),
        1,
        "{addrs:?}"
    );
    assert!(addrs.contains(&gw_net));

    // Default route only where asked for.
    let routes1 = String::from_utf8(nsexec(&ns1, &["ip", "route"]).stdout).unwrap();
    let routes2 = String::from_utf8(nsexec(&ns2, &["ip", "route"]).stdout).unwrap();
    assert!(routes1.contains(&format!("default via {gw}")), "{routes1}");
    assert!(!routes2.contains("default"), "{routes2}");

    assert!(ping(&ns1, &ip2));
    assert!(ping(&ns2, &ip1));
    assert!(ping(&ns1, &gw));

    // A repeated ADD replaces the interface rather than failing.
    cni.add(&att1).await.unwrap();
    assert!(ping(&ns1, &ip2));
    assert_eq!(ports_of(&br), 2);

    cni.del(&att1).await.unwrap();
    assert_eq!(links_in(&ns1), vec!["lo".to_string()]);
    assert_eq!(ports_of(&br), 1);
    cni.del(&att1).await.unwrap(); // interface already gone

    // The namespace is gone entirely: DEL still succeeds.
    netns::remove(&ns2).unwrap();
    cni.del(&att2).await.unwrap();
    // The kernel tears a namespace down (and its veth ends with it) asynchronously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while ports_of(&br) != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(ports_of(&br), 0);
}

#[tokio::test]
async fn missing_plugins_and_plugin_errors_are_reported() {
    if skip() {
        return;
    }
    let err = Cni::new("/nonexistent/cni").check_installed().unwrap_err();
    assert!(
        err.to_string().contains("containernetworking-plugins"),
        "{err}"
    );

    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let ns = guard.netns(&dir, "c");
    let missing_parent = unique("stz");
    let att = attachment(
        &ns,
        cni::macvlan_config(
            "t",
            &missing_parent,
            &[addr("198.51.100.10/24", None)],
            false,
            None,
        ),
    );
    let err = Cni::default().add(&att).await.unwrap_err();
    match &err {
        HostError::Cni { plugin, msg, .. } => {
            assert_eq!(plugin, "macvlan");
            assert!(!msg.is_empty());
        }
        other => panic!("expected a CNI error, got {other:?}"),
    }
    assert!(err.to_string().contains("eth0"), "{err}");
    assert_eq!(links_in(&ns), vec!["lo".to_string()]);
}

/// A "physical" segment for transparent/l2bridge: a veth pair whose host end is the parent
/// and whose peer sits, with 198.51.100.1/24, in a namespace of its own (so addresses never
/// meet other tests'). Returns (parent, peer namespace).
fn segment(guard: &mut Cleanup, dir: &Path) -> (String, std::path::PathBuf) {
    let parent = guard.link(&unique("stp"));
    let peer = unique("stq");
    let peer_ns = guard.netns(dir, "segment");
    sh(&[
        "ip", "link", "add", &parent, "type", "veth", "peer", "name", &peer,
    ]);
    sh(&[
        "ip",
        "link",
        "set",
        &peer,
        "netns",
        peer_ns.to_str().unwrap(),
    ]);
    sh(&["ip", "link", "set", &parent, "up"]);
    let out = nsexec(
        &peer_ns,
        &["ip", "addr", "add", "198.51.100.1/24", "dev", &peer],
    );
    assert!(out.status.success());
    let out = nsexec(&peer_ns, &["ip", "link", "set", &peer, "up"]);
    assert!(out.status.success());
    (parent, peer_ns)
}

#[tokio::test]
async fn macvlan_endpoint_is_on_the_parents_segment() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let (parent, peer_ns) = segment(&mut guard, &dir);
    let ns = guard.netns(&dir, "c");
    let mac = "02:42:c6:33:64:0a";
    let att = attachment(
        &ns,
        cni::macvlan_config(
            "t",
            &parent,
            &[addr("198.51.100.10/24", Some("198.51.100.1"))],
            true,
            Some(mac),
        ),
    );
    let cni = Cni::default();
    let res = cni.add(&att).await.unwrap();
    let eth0 = res.interfaces.iter().find(|i| i.name == "eth0").unwrap();
    assert_eq!(eth0.mac, mac);
    assert!(ping(&peer_ns, "198.51.100.10"));
    assert!(ping(&ns, "198.51.100.1"));
    cni.del(&att).await.unwrap();
    assert_eq!(links_in(&ns), vec!["lo".to_string()]);
    cni.del(&att).await.unwrap();
}

#[tokio::test]
async fn macvlan_endpoints_on_an_internal_parent_reach_each_other() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let parent = guard.link(&unique("sti"));
    link::ensure_dummy(&parent).await.unwrap();
    let ns1 = guard.netns(&dir, "c1");
    let ns2 = guard.netns(&dir, "c2");
    let cni = Cni::default();
    for (ns, ip) in [(&ns1, "198.51.100.10/24"), (&ns2, "198.51.100.11/24")] {
        let att = attachment(
            ns,
            cni::macvlan_config("t", &parent, &[addr(ip, None)], false, None),
        );
        cni.add(&att).await.unwrap();
    }
    assert!(ping(&ns1, "198.51.100.11"));
}

#[tokio::test]
async fn ipvlan_endpoint_is_on_the_parents_segment() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let (parent, peer_ns) = segment(&mut guard, &dir);

    // Some kernels are built without ipvlan: probe with a throwaway link.
    let probe = unique("stv");
    let supported = std::process::Command::new("ip")
        .args([
            "link", "add", &probe, "link", &parent, "type", "ipvlan", "mode", "l2",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    if !supported {
        eprintln!("skipping: this kernel has no ipvlan driver");
        return;
    }
    guard.link(&probe);

    let ns = guard.netns(&dir, "c");
    let att = attachment(
        &ns,
        cni::ipvlan_config(
            "t",
            &parent,
            &[addr("198.51.100.10/24", Some("198.51.100.1"))],
            true,
        ),
    );
    let cni = Cni::default();
    cni.add(&att).await.unwrap();
    assert!(ping(&peer_ns, "198.51.100.10"));
    cni.del(&att).await.unwrap();
    cni.del(&att).await.unwrap();
    assert_eq!(links_in(&ns), vec!["lo".to_string()]);
}
