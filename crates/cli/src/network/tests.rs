use clap::Parser;

use super::*;
use crate::args::{Cli, Command};

fn parse(argv: &[&str]) -> NetworkCommand {
    let mut full = vec!["silo", "network"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).expect("parses").command {
        Command::Network(n) => n,
        other => panic!("not a network command: {other:?}"),
    }
}

fn create_args(argv: &[&str]) -> NetworkCreateArgs {
    let mut full = vec!["create"];
    full.extend_from_slice(argv);
    match parse(&full) {
        NetworkCommand::Create(a) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_flags_like_docker() {
    let a = create_args(&[
        "-d",
        "nat",
        "--subnet",
        "10.9.0.0/24",
        "--gateway",
        "10.9.0.254",
        "--ip-range",
        "10.9.0.128/25",
        "--internal",
        "--attachable",
        "--ipv6",
        "-o",
        "parent=eth0",
        "--opt",
        "x=1",
        "--label",
        "team=web",
        "--label",
        "flag",
        "mynet",
    ]);
    assert_eq!(a.name, "mynet");
    assert!(a.internal && a.attachable && a.ipv6);
    let req = create_request(&a).expect("valid");
    assert_eq!(req.name, "mynet");
    assert_eq!(req.driver.as_deref(), Some("nat"));
    let ipam = req.ipam.expect("ipam");
    assert_eq!(ipam.driver.as_deref(), Some("default"));
    let config = ipam.config.expect("config");
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].subnet.as_deref(), Some("10.9.0.0/24"));
    assert_eq!(config[0].gateway.as_deref(), Some("10.9.0.254"));
    assert_eq!(config[0].ip_range.as_deref(), Some("10.9.0.128/25"));
    let options = req.options.expect("options");
    assert_eq!(options["parent"], "eth0");
    assert_eq!(options["x"], "1");
    let labels = req.labels.expect("labels");
    assert_eq!(labels["team"], "web");
    assert_eq!(labels["flag"], "");

    // No driver given: the daemon's default.
    let req = create_request(&create_args(&["plain"])).expect("valid");
    assert_eq!(req.driver, None);
    assert_eq!(req.ipam.and_then(|i| i.config), Some(vec![]));
}

#[test]
fn gateways_and_ranges_pair_with_their_subnet() {
    let a = create_args(&[
        "--subnet",
        "10.9.0.0/24",
        "--subnet",
        "fd00:9::/64",
        "--gateway",
        "fd00:9::1",
        "--gateway",
        "10.9.0.1",
        "n",
    ]);
    let config = pools(&a).expect("valid");
    assert_eq!(config[0].gateway.as_deref(), Some("10.9.0.1"));
    assert_eq!(config[1].gateway.as_deref(), Some("fd00:9::1"));

    for (argv, message) in [
        (vec!["--gateway", "10.9.0.1", "n"], "corresponding subnet"),
        (vec!["--subnet", "10.9.0/24", "n"], "invalid subnet"),
        (vec!["--subnet", "10.9.0.0/33", "n"], "invalid subnet"),
        (
            vec!["--subnet", "10.9.0.0/24", "--gateway", "10.8.0.1", "n"],
            "no matching subnet",
        ),
        (
            vec!["--subnet", "10.9.0.0/24", "--gateway", "x", "n"],
            "invalid gateway",
        ),
        (
            vec![
                "--subnet",
                "10.9.0.0/24",
                "--gateway",
                "10.9.0.1",
                "--gateway",
                "10.9.0.2",
                "n",
            ],
            "multiple gateways",
        ),
        (
            vec!["--subnet", "10.9.0.0/16", "--subnet", "10.9.1.0/24", "n"],
            "overlapping",
        ),
        (
            vec!["--subnet", "10.9.0.0/24", "--ip-range", "10.10.0.0/25", "n"],
            "no matching subnet",
        ),
    ] {
        let err = pools(&create_args(&argv)).expect_err("invalid");
        assert!(err.to_string().contains(message), "{argv:?}: {err}");
    }
    assert!(Cli::try_parse_from(["silo", "network", "create", "-o", "novalue", "n"]).is_err());
    assert!(Cli::try_parse_from(["silo", "network", "create"]).is_err());
}

#[test]
fn other_verbs_parse() {
    match parse(&[
        "ls",
        "-q",
        "--no-trunc",
        "-f",
        "driver=nat",
        "-f",
        "label=a",
    ]) {
        NetworkCommand::Ls(a) => {
            assert!(a.quiet && a.no_trunc);
            assert_eq!(a.filters.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse(&["list"]), NetworkCommand::Ls(_)));
    match parse(&["inspect", "-f", "{{.Name}}", "--host-view", "a", "b"]) {
        NetworkCommand::Inspect(a) => {
            assert!(a.host_view);
            assert_eq!(a.networks, ["a", "b"]);
        }
        other => panic!("{other:?}"),
    }
    match parse(&["rm", "a", "b"]) {
        NetworkCommand::Rm(a) => assert_eq!(a.networks, ["a", "b"]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&["remove", "-f", "a"]),
        NetworkCommand::Rm(NetworkRmArgs { force: true, .. })
    ));
    match parse(&["disconnect", "-f", "net", "web"]) {
        NetworkCommand::Disconnect(a) => {
            assert!(a.force);
            assert_eq!((a.network.as_str(), a.container.as_str()), ("net", "web"));
        }
        other => panic!("{other:?}"),
    }
    match parse(&["prune", "-f", "--filter", "until=1h"]) {
        NetworkCommand::Prune(a) => assert!(a.force && a.filters.len() == 1),
        other => panic!("{other:?}"),
    }
    assert!(Cli::try_parse_from(["silo", "network", "connect", "net"]).is_err());
    assert!(
        Cli::try_parse_from(["silo", "network", "connect", "--ip", "1.2.3", "n", "c"]).is_err()
    );
}

#[test]
fn connect_request_carries_addresses_and_aliases() {
    let NetworkCommand::Connect(a) = parse(&[
        "connect",
        "--ip",
        "10.9.0.7",
        "--ip6",
        "fd00::7",
        "--alias",
        "db",
        "--alias",
        "pg",
        "--driver-opt",
        "k=v",
        "net",
        "web",
    ]) else {
        panic!("connect");
    };
    let req = connect_request(&a).expect("valid");
    assert_eq!(req.container, "web");
    let config = req.endpoint_config.expect("config");
    let ipam = config.ipam_config.expect("ipam");
    assert_eq!(ipam.ipv4_address.as_deref(), Some("10.9.0.7"));
    assert_eq!(ipam.ipv6_address.as_deref(), Some("fd00::7"));
    assert_eq!(
        config.aliases,
        Some(vec!["db".to_string(), "pg".to_string()])
    );
    assert_eq!(config.driver_opts.expect("opts")["k"], "v");

    let NetworkCommand::Connect(a) = parse(&["connect", "--ip", "fd00::7", "net", "web"]) else {
        panic!("connect");
    };
    assert!(connect_request(&a).is_err());
    let NetworkCommand::Connect(a) = parse(&["connect", "net", "web"]) else {
        panic!("connect");
    };
    let config = connect_request(&a)
        .expect("valid")
        .endpoint_config
        .expect("config");
    assert!(config.ipam_config.is_none() && config.aliases.is_none());
}

fn network_json(name: &str, id: &str) -> Value {
    json!({
        "Name": name, "Id": id, "Created": "2023-11-14T22:13:20.123456789Z", "Scope": "local",
        "Driver": "nat", "EnableIPv4": true, "EnableIPv6": false, "Internal": false,
        "Labels": {"b": "2", "a": "1"}, "SiloEndpointCount": 3
    })
}

#[test]
fn ls_table_like_docker() {
    let args = |extra: &[&str]| -> NetworkLsArgs {
        let mut argv = vec!["ls"];
        argv.extend_from_slice(extra);
        match parse(&argv) {
            NetworkCommand::Ls(a) => a,
            other => panic!("{other:?}"),
        }
    };
    let nets = vec![
        network_json("zeta", &"f".repeat(64)),
        network_json("nat", &"0123456789abcdef".repeat(4)),
    ];
    assert_eq!(
        render_ls(nets.clone(), &args(&[])).expect("renders"),
        "NETWORK ID     NAME      DRIVER    SCOPE\n\
         0123456789ab   nat       nat       local\n\
         ffffffffffff   zeta      nat       local\n"
    );
    assert_eq!(
        render_ls(nets.clone(), &args(&["-q"])).expect("renders"),
        "0123456789ab\nffffffffffff\n"
    );
    assert_eq!(
        render_ls(nets.clone(), &args(&["-q", "--no-trunc"])).expect("renders"),
        format!("{}\n{}\n", "0123456789abcdef".repeat(4), "f".repeat(64))
    );
    assert_eq!(
        render_ls(
            nets,
            &args(&[
                "--format",
                "{{.Name}} {{.Labels}} {{.Endpoints}} {{.CreatedAt}}"
            ])
        )
        .expect("renders"),
        "nat a=1,b=2 3 2023-11-14 22:13:20.123456789 +0000 UTC\n\
         zeta a=1,b=2 3 2023-11-14 22:13:20.123456789 +0000 UTC\n"
    );
}

#[test]
fn host_view_reads_like_get_hnsnetwork() {
    let view = json!({
        "network": {
            "id": "a".repeat(64), "name": "mynet", "driver": "nat",
            "subnets": [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "ip_range": null}],
            "options": {}, "labels": {"team": "web"}, "internal": false, "attachable": false,
            "enable_ipv6": false, "mac_pool": {"start": "02:42:0a:09:00:00", "end": "02:42:0a:09:00:ff"},
            "created": "2023-11-14T22:13:20Z", "interface": "sl-aaaaaaaaaa", "default": false
        },
        "endpoints": [{
            "id": "e".repeat(64), "network_id": "a".repeat(64), "container_id": "c".repeat(64),
            "container_name": "web", "aliases": [], "netns": "/run/silo/netns/c", "ifname": "eth0",
            "ipv4": "10.9.0.2/24", "ipv6": null, "mac": "02:42:0a:09:00:02",
            "gateway": "10.9.0.1", "gateway_v6": null, "static_ip": false,
            "policies": {"ports": [{"protocol": "tcp", "host_ip": null, "host_port": 8080,
                "container_port": 80}], "outbound_nat": {"enabled": true, "exceptions": []},
                "acls": []},
            "created": "2023-11-14T22:13:21Z"
        }],
        "host_objects": [
            {"kind": "bridge", "name": "sl-aaaaaaaaaa", "present": true, "detail": "10.9.0.1/24"},
            {"kind": "netns", "name": "/run/silo/netns/c", "present": false, "detail": "eth0 web"}
        ]
    });
    let text = host_view_text(&view);
    for needle in [
        "Name:           mynet\n",
        "Type:           nat\n",
        "MAC pool:       02:42:0a:09:00:00 - 02:42:0a:09:00:ff\n",
        "Labels:         team=web\n",
        "Endpoint count: 1\n",
        "  PREFIX        GATEWAY    RANGE\n",
        "  10.9.0.0/24   10.9.0.1   -\n",
        "web (cccccccccccc)",
        "0.0.0.0:8080->80/tcp",
        "  bridge    sl-aaaaaaaaaa       yes       10.9.0.1/24\n",
        "NO",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
