//! Bridges, dummies and host routes on the real kernel.

mod host_common;

use host_common::{skip, subnet24, unique, Cleanup};
use ipnet::IpNet;
use silo_network::host::link;

#[tokio::test]
async fn bridge_is_idempotent_and_configured() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let br = guard.link(&unique("stb"));
    let net = subnet24(1);
    let v4: IpNet = format!("{net}.1/24").parse().unwrap();
    let v6: IpNet = "fd51:7::1/64".parse().unwrap();

    link::ensure_bridge(&br, &[v4, v6]).await.unwrap();
    link::ensure_bridge(&br, &[v4, v6]).await.unwrap(); // again: nothing changes
    assert!(link::link_exists(&br));

    let addrs = link::link_addresses(&br).await.unwrap();
    assert!(addrs.contains(&v4) && addrs.contains(&v6), "{addrs:?}");
    assert_eq!(addrs.iter().filter(|a| **a == v4).count(), 1);
    let localnet =
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet")).unwrap();
    assert_eq!(localnet.trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    let flags = std::fs::read_to_string(format!("/sys/class/net/{br}/flags")).unwrap();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & libc::IFF_UP as u32, libc::IFF_UP as u32);

    // The bridge's connected route shows up among the host's routes (default routes don't).
    let routes = link::host_routes().await.unwrap();
    assert!(
        routes.contains(&format!("{net}.0/24").parse().unwrap()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"fd51:7::/64".parse().unwrap()),
        "{routes:?}"
    );
    assert!(routes.iter().all(|r| r.prefix_len() > 0));

    link::delete_link(&br).await.unwrap();
    assert!(!link::link_exists(&br));
    link::delete_link(&br).await.unwrap(); // missing is fine
    assert!(link::link_addresses(&br).await.is_err());
}

#[tokio::test]
async fn dummy_is_idempotent() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let name = guard.link(&unique("std"));
    link::ensure_dummy(&name).await.unwrap();
    link::ensure_dummy(&name).await.unwrap();
    assert!(link::link_exists(&name));
    // On kernels with the dummy driver this is no bridge, and must not become one's gateway.
    if !std::path::Path::new(&format!("/sys/class/net/{name}/bridge")).exists() {
        let err = link::ensure_bridge(&name, &[]).await.unwrap_err();
        assert!(err.to_string().contains("not a bridge"), "{err}");
    }
    link::delete_link(&name).await.unwrap();
    link::delete_link(&name).await.unwrap();
    assert!(!link::link_exists(&name));
}

#[tokio::test]
async fn failed_bridge_setup_leaves_no_bridge() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let br = guard.link(&unique("stf"));
    // The kernel refuses ::1 on anything but lo: the bridge made for it must go again.
    let bad: IpNet = "::1/128".parse().unwrap();
    let err = link::ensure_bridge(&br, &[bad]).await.unwrap_err();
    assert!(err.to_string().contains(&br), "{err}");
    assert!(!link::link_exists(&br));
    // Invalid names are refused before anything runs.
    assert!(link::ensure_bridge("bad/name", &[]).await.is_err());
}
