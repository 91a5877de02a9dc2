//! Named network namespaces on the real kernel.

mod host_common;

use std::net::{TcpListener, TcpStream};

use host_common::{links_in, skip, Cleanup};
use silo_network::host::netns;

#[test]
fn create_remove_are_idempotent_and_lo_is_up() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let path = dir.join("sub/ns1");
    guard.netns.push(path.clone());

    assert!(!netns::is_netns(&path));
    netns::create(&path).unwrap();
    assert!(netns::is_netns(&path));
    netns::create(&path).unwrap(); // again: no stacked mount, still fine
    assert!(netns::is_netns(&path));

    // Only lo, and it is up: a loopback connection works inside.
    assert_eq!(links_in(&path), vec!["lo".to_string()]);
    let connected = netns::run_in(&path, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        TcpStream::connect(listener.local_addr().unwrap()).is_ok()
    })
    .unwrap();
    assert!(connected, "lo is not up inside the new namespace");

    // run_in really is elsewhere: the host's links are not visible there.
    let inside = netns::run_in(&path, || {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    })
    .unwrap();
    assert_ne!(
        inside,
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    );

    netns::remove(&path).unwrap();
    assert!(!netns::is_netns(&path));
    assert!(!path.exists());
    netns::remove(&path).unwrap(); // missing is fine
    assert!(netns::run_in(&path, || ()).is_err());
}

#[test]
fn plain_file_is_not_a_netns_and_create_takes_it_over() {
    if skip() {
        return;
    }
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    let path = dir.join("plain");
    std::fs::write(&path, b"").unwrap();
    guard.netns.push(path.clone());
    assert!(!netns::is_netns(&path));
    netns::remove(&path).unwrap();
    assert!(!path.exists());
    netns::create(&path).unwrap();
    assert!(netns::is_netns(&path));
}

#[test]
fn failed_create_leaves_nothing() {
    if skip() {
        return;
    }
    // A parent that is a file: creating the directory fails, nothing is made.
    let mut guard = Cleanup::default();
    let dir = guard.dir();
    std::fs::write(dir.join("file"), b"").unwrap();
    let path = dir.join("file/ns");
    let err = netns::create(&path).unwrap_err();
    assert!(
        err.to_string().contains("file/ns") || err.to_string().contains("file"),
        "{err}"
    );
    assert!(!path.exists());
}
