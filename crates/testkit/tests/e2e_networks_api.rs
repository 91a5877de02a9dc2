//! End-to-end network verbs: the stock docker CLI (and `silo network`) against `silod` with
//! its network service. Needs root (bridges, nftables, namespaces); skipped otherwise. Every
//! subnet comes from the test daemon's own address slot, so tests run in parallel, and every
//! network a test makes is removed before it ends.

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers as can_run, run_ok, TestDaemon, World};

/// Removes the named networks when dropped, even if the test failed halfway.
struct Cleanup<'a> {
    daemon: &'a TestDaemon,
    networks: Vec<&'static str>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for n in &self.networks {
            let _ = run_any(self.daemon.docker().args(["network", "rm", n]));
        }
    }
}

fn docker(d: &TestDaemon, args: &[&str]) -> String {
    run_ok(d.docker().args(args))
}

fn docker_fail(d: &TestDaemon, args: &[&str]) -> String {
    let (code, _, err) = run_any(d.docker().args(args));
    assert_ne!(code, 0, "docker {args:?} succeeded");
    err
}

#[test]
fn create_inspect_list_remove_and_prune() {
    if !can_run() {
        return;
    }
    let d = TestDaemon::start();
    let _cleanup = Cleanup {
        daemon: &d,
        networks: vec!["n1", "n2", "keep"],
    };
    let subnet = d.subnet(15);
    let prefix = d.subnet_prefix(15);
    let gateway = format!("{prefix}.254");
    let range = format!("{prefix}.128/25");

    let id = docker(
        &d,
        &[
            "network",
            "create",
            "-d",
            "nat",
            "--subnet",
            &subnet,
            "--gateway",
            &gateway,
            "--ip-range",
            &range,
            "--label",
            "team=web",
            "-o",
            "x=1",
            "n1",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");

    let inspect = docker(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}} {{.Labels.team}} {{.Options.x}}",
            "n1",
        ],
    );
    assert_eq!(
        inspect.trim(),
        format!("n1 nat local {subnet} {gateway} {range} web 1")
    );
    // By id prefix too, and the full JSON has Docker's fields.
    let json = docker(&d, &["network", "inspect", &id[..12]]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Id"], id, "{json}");
    assert_eq!(v[0]["Containers"], serde_json::json!({}), "{json}");
    assert_eq!(v[0]["SiloEndpointCount"], 0, "{json}");

    // The same name again is refused.
    let err = docker_fail(&d, &["network", "create", "n1"]);
    assert!(err.contains("already exists"), "{err}");
    // Malformed and overlapping subnets are refused with a reason.
    let err = docker_fail(&d, &["network", "create", "--subnet", "10.1.2/24", "bad"]);
    assert!(err.contains("10.1.2/24"), "{err}");
    let err = docker_fail(&d, &["network", "create", "--subnet", &subnet, "bad"]);
    assert!(err.contains("overlaps"), "{err}");
    let err = docker_fail(&d, &["network", "create", "-d", "overlay", "bad"]);
    assert!(err.contains("not supported"), "{err}");

    // A network without --subnet gets a /24 of the daemon's pool.
    docker(&d, &["network", "create", "--label", "keep=1", "keep"]);
    docker(&d, &["network", "create", "n2"]);

    let ls = docker(&d, &["network", "ls"]);
    let header = ls.lines().next().unwrap_or_default();
    assert!(header.starts_with("NETWORK ID"), "{ls}");
    for name in ["nat", "n1", "n2", "keep"] {
        assert!(
            ls.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{name} missing: {ls}"
        );
    }
    let custom = docker(
        &d,
        &[
            "network",
            "ls",
            "--filter",
            "type=custom",
            "--format",
            "{{.Name}}",
        ],
    );
    let mut names: Vec<&str> = custom.lines().collect();
    names.sort();
    assert_eq!(names, ["keep", "n1", "n2"], "{custom}");
    let labelled = docker(
        &d,
        &["network", "ls", "-q", "-f", "label=team=web", "--no-trunc"],
    );
    assert_eq!(labelled.trim(), id);

    // The default network is pre-defined.
    let err = docker_fail(&d, &["network", "rm", "nat"]);
    assert!(err.contains("pre-defined"), "{err}");
    let err = docker_fail(&d, &["network", "inspect", "nope"]);
    assert!(err.contains("not found"), "{err}");

    let removed = docker(&d, &["network", "rm", "n1"]);
    assert_eq!(removed.trim(), "n1");
    let err = docker_fail(&d, &["network", "rm", "n1"]);
    assert!(err.contains("not found"), "{err}");

    // Prune spares networks its filter rejects, and the default one.
    let pruned = docker(&d, &["network", "prune", "-f", "--filter", "label!=keep"]);
    assert!(pruned.contains("n2"), "{pruned}");
    assert!(
        !pruned.contains("keep") && !pruned.contains("nat"),
        "{pruned}"
    );
    docker(&d, &["network", "rm", "keep"]);
    let left = docker(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left.trim(), "nat", "{left}");
}

#[test]
fn silo_network_verbs_and_host_view() {
    if !can_run() {
        return;
    }
    let d = TestDaemon::start();
    let _cleanup = Cleanup {
        daemon: &d,
        networks: vec!["hv"],
    };
    let subnet = d.subnet(14);
    let silo = |args: &[&str]| run_ok(d.silo().args(args));
    let id = silo(&["network", "create", "--subnet", &subnet, "hv"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ls = silo(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(ls.lines().any(|l| l == "hv nat"), "{ls}");
    let view = silo(&["network", "inspect", "--host-view", "hv"]);
    assert!(view.contains("Name:           hv"), "{view}");
    assert!(view.contains(&subnet), "{view}");
    assert!(view.contains("Host objects:"), "{view}");
    assert!(view.contains("bridge"), "{view}");
    // The bridge is there.
    let bridge = view
        .lines()
        .find_map(|l| l.strip_prefix("Interface:"))
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    assert!(
        std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "{bridge}: {view}"
    );
    assert_eq!(silo(&["network", "rm", "hv"]).trim(), "hv");
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "{bridge} left behind"
    );
}

#[test]
fn connect_and_disconnect_a_running_container() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let d = &w.daemon;
    let _cleanup = Cleanup {
        daemon: d,
        networks: vec!["back"],
    };
    let subnet = d.subnet(13);
    let ip = format!("{}.77", d.subnet_prefix(13));
    docker(d, &["network", "create", "--subnet", &subnet, "back"]);
    w.docker(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "app",
        &w.image,
        "sleep",
        "1000",
    ]);
    docker(
        d,
        &[
            "network", "connect", "--ip", &ip, "--alias", "db", "back", "app",
        ],
    );
    let json = docker(d, &["network", "inspect", "back"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let containers = v[0]["Containers"].as_object().cloned().unwrap_or_default();
    assert_eq!(containers.len(), 1, "{json}");
    let (_, ep) = containers.iter().next().unwrap();
    assert_eq!(ep["Name"], "app", "{json}");
    assert_eq!(ep["IPv4Address"], format!("{ip}/24"), "{json}");
    assert_eq!(v[0]["SiloEndpointCount"], 1, "{json}");

    // In use: not removed, and not pruned.
    let err = docker_fail(d, &["network", "rm", "back"]);
    assert!(err.contains("active endpoints"), "{err}");
    let pruned = docker(d, &["network", "prune", "-f"]);
    assert!(!pruned.contains("back"), "{pruned}");

    docker(d, &["network", "disconnect", "back", "app"]);
    let json = docker(d, &["network", "inspect", "back"]);
    assert!(json.contains("\"Containers\": {}"), "{json}");
    docker(d, &["network", "rm", "back"]);
}
