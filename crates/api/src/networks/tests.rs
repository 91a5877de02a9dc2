//! JSON conversion, filters and request checks of the network endpoints; the routes through an
//! engine without a network service.

use axum::body::Body;
use axum::http::Request;
use chrono::{TimeZone, Utc};
use serde_json::json;
use silo_engine::{Endpoint, MacPool, Network, NetworkInfo, Subnet};
use silo_errdefs::ErrorKind;
use tower::ServiceExt;

use super::*;

fn network(name: &str, default: bool) -> Network {
    Network {
        id: format!(
            "{:0<64}",
            name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        name: name.to_string(),
        driver: Driver::Nat,
        subnets: vec![Subnet {
            subnet: "10.77.0.0/24".parse().unwrap(),
            gateway: "10.77.0.1".parse().unwrap(),
            ip_range: None,
        }],
        options: BTreeMap::new(),
        labels: BTreeMap::from([("team".to_string(), "web".to_string())]),
        internal: false,
        attachable: true,
        enable_ipv6: false,
        mac_pool: MacPool {
            start: "02:42:0a:4d:00:00".into(),
            end: "02:42:0a:4d:00:ff".into(),
        },
        created: Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap(),
        interface: "sl-0123456789".into(),
        default,
    }
}

fn endpoint(container: &str) -> Endpoint {
    Endpoint {
        id: "e".repeat(64),
        network_id: "n".repeat(64),
        container_id: container.repeat(64),
        container_name: format!("web-{container}"),
        aliases: vec![],
        netns: "/run/silo/netns/x".into(),
        ifname: "eth0".into(),
        ipv4: Some("10.77.0.10/24".parse().unwrap()),
        ipv6: None,
        mac: "02:42:0a:4d:00:0a".into(),
        gateway: Some("10.77.0.1".parse().unwrap()),
        gateway_v6: None,
        static_ip: false,
        policies: Default::default(),
        created: Utc::now(),
    }
}

fn info(name: &str, default: bool, endpoints: usize) -> NetworkInfo {
    NetworkInfo {
        network: network(name, default),
        endpoints: (0..endpoints)
            .map(|i| endpoint(&char::from(b'a' + i as u8).to_string()))
            .collect(),
    }
}

#[test]
fn network_json_is_dockers_shape() {
    let mut i = info("mynet", false, 1);
    i.network.subnets[0].ip_range = Some("10.77.0.128/25".parse().unwrap());
    let v = serde_json::to_value(network_json(&i, true)).unwrap();
    let a = "a".repeat(64);
    assert_eq!(
        v,
        json!({
            "Name": "mynet",
            "Id": i.network.id,
            "Created": "2023-11-14T22:13:20.123456789Z",
            "Scope": "local",
            "Driver": "nat",
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [
                {"Subnet": "10.77.0.0/24", "IPRange": "10.77.0.128/25", "Gateway": "10.77.0.1"}
            ]},
            "Internal": false,
            "Attachable": true,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": {a: {
                "Name": "web-a",
                "EndpointID": "e".repeat(64),
                "MacAddress": "02:42:0a:4d:00:0a",
                "IPv4Address": "10.77.0.10/24",
                "IPv6Address": ""
            }},
            "Options": {},
            "Labels": {"team": "web"},
            "SiloEndpointCount": 1
        })
    );
    // dockerd's field order, which `docker network inspect` prints as is.
    let text = serde_json::to_string(&network_json(&i, true)).unwrap();
    let keys = [
        "\"Name\"",
        "\"Id\"",
        "\"Created\"",
        "\"Scope\"",
        "\"Driver\"",
        "\"EnableIPv4\"",
        "\"EnableIPv6\"",
        "\"IPAM\"",
        "\"Internal\"",
        "\"Attachable\"",
        "\"Ingress\"",
        "\"ConfigFrom\"",
        "\"ConfigOnly\"",
        "\"Containers\"",
        "\"Options\"",
        "\"Labels\"",
        "\"SiloEndpointCount\"",
    ];
    let mut at = 0;
    for key in keys {
        at += text[at..]
            .find(key)
            .unwrap_or_else(|| panic!("{key} out of order: {text}"));
    }

    // Lists leave Containers empty, as dockerd does; the count stays.
    i.network.subnets[0].ip_range = None;
    let v = serde_json::to_value(network_json(&i, false)).unwrap();
    assert_eq!(v["Containers"], json!({}));
    assert_eq!(v["SiloEndpointCount"], 1);
    assert!(v["IPAM"]["Config"][0].get("IPRange").is_none());
}

#[test]
fn bollard_reads_our_network_json() {
    let v = serde_json::to_value(network_json(&info("mynet", false, 2), true)).unwrap();
    let n: bollard_stubs::models::NetworkInspect = serde_json::from_value(v).unwrap();
    assert_eq!(n.name.as_deref(), Some("mynet"));
    assert_eq!(n.containers.unwrap().len(), 2);
    assert_eq!(
        n.ipam.unwrap().config.unwrap()[0].gateway.as_deref(),
        Some("10.77.0.1")
    );
}

fn list_filter(raw: &str) -> Result<ListFilter, ApiError> {
    ListFilter::new(Filters::parse(Some(raw))?)
}

#[test]
fn list_filters() {
    let default = info("nat", true, 0);
    let empty = info("mynet", false, 0);
    let used = info("other", false, 1);
    let names = |raw: &str| -> Vec<String> {
        let f = list_filter(raw).unwrap();
        [&default, &empty, &used]
            .iter()
            .filter(|i| f.matches(i))
            .map(|i| i.network.name.clone())
            .collect()
    };
    assert_eq!(names("{}"), ["nat", "mynet", "other"]);
    assert_eq!(names(r#"{"name":["net"]}"#), ["mynet"]);
    assert_eq!(names(r#"{"name":["^my", "^nat$"]}"#), ["nat", "mynet"]);
    assert_eq!(names(r#"{"type":["builtin"]}"#), ["nat"]);
    assert_eq!(names(r#"{"type":["custom"]}"#), ["mynet", "other"]);
    assert_eq!(names(r#"{"dangling":["true"]}"#), ["mynet"]);
    assert_eq!(names(r#"{"dangling":["false"]}"#), ["nat", "other"]);
    assert_eq!(names(r#"{"driver":["bridge"]}"#).len(), 3);
    assert_eq!(names(r#"{"driver":["nat"]}"#).len(), 3);
    assert!(names(r#"{"driver":["transparent"]}"#).is_empty());
    assert_eq!(names(r#"{"label":["team=web"]}"#).len(), 3);
    assert!(names(r#"{"label":["team=db"]}"#).is_empty());
    assert_eq!(names(r#"{"scope":["local"]}"#).len(), 3);
    assert!(names(r#"{"scope":["swarm"]}"#).is_empty());
    let id_prefix = empty.network.id[..5].to_string();
    assert_eq!(names(&format!(r#"{{"id":["{id_prefix}"]}}"#)), ["mynet"]);

    for bad in [
        r#"{"colour":["red"]}"#,
        r#"{"type":["odd"]}"#,
        r#"{"dangling":["maybe"]}"#,
        r#"{"scope":["galaxy"]}"#,
    ] {
        assert_eq!(list_filter(bad).unwrap_err().status(), 400, "{bad}");
    }
}

fn create_body(v: serde_json::Value) -> NetworkCreateRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn create_requests_as_the_docker_cli_sends_them() {
    // `docker network create -d nat --subnet 10.9.0.0/24 --gateway 10.9.0.254 --ip-range
    // 10.9.0.128/25 --internal --label a=b -o parent=x mynet`.
    let req = network_request(create_body(json!({
        "Name": "mynet", "CheckDuplicate": true, "Driver": "nat", "Scope": "",
        "EnableIPv6": false, "Internal": true, "Attachable": true, "Ingress": false,
        "ConfigOnly": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [
            {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25", "Gateway": "10.9.0.254"}
        ]},
        "Options": {"parent": "x"}, "Labels": {"a": "b"}
    })))
    .unwrap();
    assert_eq!(req.name, "mynet");
    assert_eq!(req.driver, "nat");
    assert!(req.internal && req.attachable && !req.enable_ipv6);
    assert_eq!(req.pools.len(), 1);
    assert_eq!(req.pools[0].subnet.unwrap().to_string(), "10.9.0.0/24");
    assert_eq!(req.pools[0].gateway.unwrap().to_string(), "10.9.0.254");
    assert_eq!(req.pools[0].ip_range.unwrap().to_string(), "10.9.0.128/25");
    assert_eq!(req.options["parent"], "x");
    assert_eq!(req.labels["a"], "b");

    let req = network_request(create_body(json!({"Name": "plain"}))).unwrap();
    assert!(req.pools.is_empty() && req.driver.is_empty());

    let err = network_request(create_body(json!({
        "Name": "x", "IPAM": {"Config": [{"Subnet": "10.9.0/24"}]}
    })))
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message().contains("10.9.0/24"), "{}", err.message());
    let err = network_request(create_body(json!({
        "Name": "x", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.x"}]}
    })))
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        network_request(create_body(json!({"Name": " "})))
            .unwrap_err()
            .status(),
        400
    );
    for unsupported in [
        json!({"Name": "x", "Scope": "swarm"}),
        json!({"Name": "x", "Ingress": true}),
        json!({"Name": "x", "ConfigOnly": true}),
        json!({"Name": "x", "ConfigFrom": {"Network": "y"}}),
        json!({"Name": "x", "EnableIPv4": false}),
        json!({"Name": "x", "IPAM": {"Driver": "dhcp"}}),
        json!({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24",
            "AuxiliaryAddresses": {"h": "10.9.0.5"}}]}}),
    ] {
        let err = network_request(create_body(unsupported.clone())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotImplemented, "{unsupported}");
    }
}

#[test]
fn connect_settings() {
    let config: DockerEndpointSettings = serde_json::from_value(json!({
        "IPAMConfig": {"IPv4Address": "10.9.0.7", "IPv6Address": "fd00::7"},
        "Aliases": ["db", ""],
        "MacAddress": "02:42:0a:09:00:07",
        "DriverOpts": {"k": "v"}
    }))
    .unwrap();
    let s = endpoint_settings(Some(config)).unwrap();
    assert_eq!(s.ipv4, Some(Ipv4Addr::new(10, 9, 0, 7)));
    assert_eq!(s.ipv6.unwrap().to_string(), "fd00::7");
    assert_eq!(s.aliases, ["db"]);
    assert_eq!(s.mac.as_deref(), Some("02:42:0a:09:00:07"));
    assert_eq!(s.driver_opts["k"], "v");
    assert_eq!(
        endpoint_settings(None).unwrap(),
        EndpointSettings::default()
    );
    // The docker CLI sends empty strings for flags not given.
    let config: DockerEndpointSettings = serde_json::from_value(json!({
        "IPAMConfig": {"IPv4Address": "", "IPv6Address": ""}, "MacAddress": ""
    }))
    .unwrap();
    assert_eq!(
        endpoint_settings(Some(config)).unwrap(),
        EndpointSettings::default()
    );

    for (bad, status) in [
        (json!({"IPAMConfig": {"IPv4Address": "10.9.0"}}), 400),
        (json!({"IPAMConfig": {"IPv6Address": "10.9.0.1"}}), 400),
        (json!({"MacAddress": "02:42"}), 400),
        (json!({"Links": ["a:b"]}), 501),
        (
            json!({"IPAMConfig": {"LinkLocalIPs": ["169.254.0.9"]}}),
            501,
        ),
    ] {
        let config: DockerEndpointSettings = serde_json::from_value(bad.clone()).unwrap();
        assert_eq!(
            endpoint_settings(Some(config)).unwrap_err().status(),
            status,
            "{bad}"
        );
    }
}

#[test]
fn prune_filters() {
    let old = network("old", false);
    let mut fresh = network("fresh", false);
    fresh.created = Utc::now();
    fresh.labels.clear();
    let keep = prune_filter(&Filters::parse(Some(r#"{"until":["1h"]}"#)).unwrap()).unwrap();
    assert!(keep(&old) && !keep(&fresh));
    let keep = prune_filter(&Filters::parse(Some(r#"{"label":["team"]}"#)).unwrap()).unwrap();
    assert!(keep(&old) && !keep(&fresh));
    let keep = prune_filter(&Filters::parse(Some(r#"{"label!":["team=web"]}"#)).unwrap()).unwrap();
    assert!(!keep(&old) && keep(&fresh));
    for bad in [
        r#"{"name":["x"]}"#,
        r#"{"until":["soon"]}"#,
        r#"{"until":["1h","2h"]}"#,
    ] {
        let err = prune_filter(&Filters::parse(Some(bad)).unwrap())
            .err()
            .unwrap();
        assert_eq!(err.status(), 400, "{bad}");
    }
}

#[test]
fn names_match_like_dockers_common_patterns() {
    assert!(name_matches("net", "mynet"));
    assert!(name_matches("^my", "mynet"));
    assert!(!name_matches("^net", "mynet"));
    assert!(name_matches("net$", "mynet"));
    assert!(name_matches("^mynet$", "mynet"));
    assert!(!name_matches("^my$", "mynet"));
}

/// The routes over an engine without a compute (and so network) service.
async fn call(method: &str, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let engine = silo_engine::Engine::open(silo_engine::EngineConfig {
        data_root: dir.path().to_path_buf(),
        ..Default::default()
    })
    .await
    .unwrap();
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = crate::router(engine).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, v)
}

#[tokio::test]
async fn bad_input_is_400_before_the_service_is_asked() {
    for (method, uri, body) in [
        ("POST", "/networks/create", "{not json"),
        (
            "POST",
            "/v1.51/networks/create",
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"nope"}]}}"#,
        ),
        (
            "POST",
            "/networks/x/connect",
            r#"{"Container":"c","EndpointConfig":{"IPAMConfig":{"IPv4Address":"1.2.3"}}}"#,
        ),
        ("POST", "/networks/x/connect", r#"{"Container":""}"#),
        ("POST", "/networks/x/disconnect", "[]"),
        (
            "GET",
            "/networks?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
            "",
        ),
        (
            "POST",
            "/networks/prune?filters=%7B%22name%22%3A%5B%22x%22%5D%7D",
            "",
        ),
    ] {
        let (status, v) = call(method, uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {v}");
        assert!(v["message"].is_string(), "{method} {uri}: {v}");
    }
}

#[tokio::test]
async fn without_a_network_service_networks_are_unavailable() {
    for (method, uri, body) in [
        ("GET", "/networks", ""),
        ("GET", "/networks/nat", ""),
        ("POST", "/networks/create", r#"{"Name":"x"}"#),
        ("DELETE", "/networks/x", ""),
        ("POST", "/networks/prune", ""),
        ("GET", "/silo/networks/nat/host-view", ""),
    ] {
        let (status, v) = call(method, uri, body).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {uri}: {v}"
        );
    }
    let (status, _) = call("GET", "/networks/nat?scope=swarm", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
