//! Networks end to end with the stock docker CLI against a real silod: name DNS on user
//! networks and isolation between networks, internal networks, published ports on 127.0.0.1 and
//! localhost and through the host port from another container (hairpin), ephemeral ports,
//! static addresses and IPAM across a daemon restart, kill -9 of the daemon with containers on
//! three networks, the network modes none / host / container:NAME, and a transparent network
//! over a veth "uplink" whose other end sits in a network namespace the test creates.
//!
//! Traffic goes only to loopback, to addresses on bridges the daemon under test made, and into
//! the test's own namespace. Every daemon has its own bridge, nftables table and /20 (see the
//! testkit's daemon slots); the daemon's drop removes them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers as can_run, World};

/// What these tests ask of a [`World`].
trait Net {
    /// `docker run -d --name NAME ARGS... IMAGE httpd` serving `text` at `/` on port 8080.
    fn web(&self, name: &str, args: &[&str], text: &str);
    /// Runs a throwaway client container and returns (exit code, output).
    fn client(&self, args: &[&str], script: &str) -> (i32, String);
    /// An HTTP GET of `/` from inside a client container with `args`.
    fn fetch_from_container(&self, args: &[&str], host: &str, port: u16) -> String;
    fn inspect(&self, name: &str, format: &str) -> String;
}

impl Net for World {
    fn web(&self, name: &str, args: &[&str], text: &str) {
        let script =
            format!("mkdir -p /w && echo {text} > /w/index.html && exec httpd -f -p 8080 -h /w");
        let mut full = vec!["run", "-d", "--name", name];
        full.extend_from_slice(args);
        full.extend_from_slice(&[&self.image, "sh", "-c", &script]);
        self.docker(&full);
    }

    fn client(&self, args: &[&str], script: &str) -> (i32, String) {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        full.extend_from_slice(&[&self.image, "sh", "-c", script]);
        let (code, out, err) = run_any(&mut self.docker_cmd(&full));
        (code, out + &err)
    }

    fn fetch_from_container(&self, args: &[&str], host: &str, port: u16) -> String {
        let script =
            format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | tail -n 1");
        self.client(args, &script).1
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, name])
            .trim()
            .to_string()
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// GET `/` from the host; retried briefly while httpd starts.
fn fetch(host: &str, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect((host, port))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(body) if body.contains("200 OK") => return body,
            _ if Instant::now() > deadline => return format!("{attempt:?}"),
            _ => sleep(Duration::from_millis(100)),
        }
    }
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn containers_find_each_other_by_name_on_a_user_network_and_nowhere_else() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let (a, b, c) = (
        w.daemon.subnet(15),
        w.daemon.subnet(14),
        w.daemon.subnet(13),
    );
    w.docker(&["network", "create", "--subnet", &a, "neta"]);
    w.docker(&["network", "create", "--subnet", &b, "netb"]);
    w.docker(&["network", "create", "--internal", "--subnet", &c, "netc"]);

    w.web(
        "web",
        &["--network", "neta", "--network-alias", "www"],
        "hello-a",
    );
    let body = w.fetch_from_container(&["--network", "neta"], "web", 8080);
    assert_eq!(body.trim(), "hello-a", "by name on the same network");
    let body = w.fetch_from_container(&["--network", "neta"], "www", 8080);
    assert_eq!(body.trim(), "hello-a", "by alias");
    // A stopped container holds no address; started again it gets one and its name back.
    w.docker(&["stop", "-t", "1", "web"]);
    assert_eq!(
        w.inspect("web", "{{.NetworkSettings.Networks.neta.IPAddress}}"),
        ""
    );
    w.docker(&["start", "web"]);
    let body = w.fetch_from_container(&["--network", "neta"], "web", 8080);
    assert_eq!(body.trim(), "hello-a", "by name after a restart");

    // Another network neither resolves the name nor reaches the address.
    let (code, out) = w.client(&["--network", "netb"], "nslookup web");
    assert_ne!(code, 0, "name leaked across networks: {out}");
    let web_ip = w.inspect("web", "{{.NetworkSettings.Networks.neta.IPAddress}}");
    assert!(web_ip.starts_with(&w.daemon.subnet_prefix(15)), "{web_ip}");
    let (code, out) = w.client(&["--network", "netb"], &format!("ping -c1 -W1 {web_ip}"));
    assert_ne!(code, 0, "netb reached neta: {out}");

    // The default network has no name DNS, as Docker's default bridge.
    let (code, _) = w.client(&[], "nslookup web");
    assert_ne!(code, 0);

    // Internal: members reach each other by name, nothing outside.
    w.web("inner", &["--network", "netc"], "hello-c");
    let body = w.fetch_from_container(&["--network", "netc"], "inner", 8080);
    assert_eq!(body.trim(), "hello-c");
    let (code, out) = w.client(&["--network", "netc"], &format!("ping -c1 -W1 {web_ip}"));
    assert_ne!(code, 0, "internal network got out: {out}");
    let (code, out) = w.client(&["--network", "netc"], "ip route");
    assert_eq!(code, 0);
    assert!(
        !out.contains("default"),
        "internal network has a default route: {out}"
    );

    // Removing a network in use is refused; after the containers go, it is allowed.
    let err = w.docker_fail(&["network", "rm", "neta"]);
    assert!(err.contains("active endpoints"), "{err}");
    w.docker(&["rm", "-f", "web", "inner"]);
    w.docker(&["network", "rm", "neta", "netb", "netc"]);
}

#[test]
fn published_ports_answer_on_loopback_localhost_and_from_other_containers() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let port = free_port();
    w.web(
        "pub",
        &["-p", &format!("127.0.0.1:{port}:8080")],
        "hello-port",
    );
    assert!(fetch("127.0.0.1", port).contains("hello-port"));
    assert!(fetch("localhost", port).contains("hello-port"));
    let shown = w.docker(&["port", "pub", "8080"]);
    assert_eq!(shown.trim(), format!("127.0.0.1:{port}"));

    // Another container reaches a port published on the default network's gateway (hairpin).
    let gateway = w.inspect("pub", "{{.NetworkSettings.Gateway}}");
    let hairpin = free_port();
    w.web(
        "hair",
        &["-p", &format!("{gateway}:{hairpin}:8080")],
        "hello-hairpin",
    );
    let body = w.fetch_from_container(&[], &gateway, hairpin);
    assert_eq!(body.trim(), "hello-hairpin");
    // ...also from a container on a user network.
    w.docker(&[
        "network",
        "create",
        "--subnet",
        &w.daemon.subnet(15),
        "other",
    ]);
    let body = w.fetch_from_container(&["--network", "other"], &gateway, hairpin);
    assert_eq!(body.trim(), "hello-hairpin");

    // `-p 8080`: an ephemeral host port, shown by `docker port`, reached on loopback.
    w.web("eph", &["-p", "8080"], "hello-eph");
    let shown = w.docker(&["port", "eph", "8080/tcp"]);
    let eph: u16 = shown
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {shown:?}"));
    assert!(eph > 0);
    assert!(fetch("127.0.0.1", eph).contains("hello-eph"));

    // A taken host port is refused clearly, and the failed container holds nothing.
    let err = w.docker_fail(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        &w.image,
        "true",
    ]);
    assert!(err.contains("already allocated"), "{err}");
    w.docker(&["rm", "-f", "pub", "hair", "eph"]);
    w.docker(&["container", "prune", "-f"]);
    w.docker(&["network", "rm", "other"]);
    // Removing the container gave the port back.
    assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn an_endpoint_acl_blocks_what_it_names_and_nothing_else() {
    if !can_run() {
        return;
    }
    let w = World::new();
    w.web("target", &[], "hello-acl");
    let target = w.inspect("target", "{{.NetworkSettings.IPAddress}}");
    let gateway = w.inspect("target", "{{.NetworkSettings.Gateway}}");
    let port = free_port();
    w.web(
        "front",
        &["-p", &format!("{gateway}:{port}:8080")],
        "hello-front",
    );

    // A client whose endpoint blocks tcp to `target`:8080 (HNS's ACL policy, set as a driver
    // option). The path goes through the host (the published port), where the rules live.
    let acl = format!("silo.acl=block out tcp {target}/32 8080");
    let blocked = format!("name=bridge,driver-opt={acl}");
    let body = w.fetch_from_container(&["--network", &blocked], &gateway, port);
    assert_eq!(
        body.trim(),
        "hello-front",
        "the ACL must not block other destinations"
    );
    let hairpin_to_target = free_port();
    w.web(
        "target2",
        &["-p", &format!("{gateway}:{hairpin_to_target}:8080")],
        "hello-t2",
    );
    let t2 = w.inspect("target2", "{{.NetworkSettings.IPAddress}}");
    let acl2 = format!("name=bridge,driver-opt=silo.acl=block out tcp {t2}/32 8080");
    let body = w.fetch_from_container(&["--network", &acl2], &gateway, hairpin_to_target);
    assert!(
        !body.contains("hello-t2"),
        "blocked by the ACL, got {body:?}"
    );
    let body = w.fetch_from_container(&[], &gateway, hairpin_to_target);
    assert_eq!(
        body.trim(),
        "hello-t2",
        "without the ACL the same path works"
    );
    let err = w.docker_fail(&[
        "run",
        "--rm",
        "--network",
        "name=bridge,driver-opt=silo.acl=drop sideways",
        &w.image,
        "true",
    ]);
    assert!(err.contains("silo.acl"), "{err}");
    w.docker(&["rm", "-f", "target", "front", "target2"]);
}

#[test]
fn static_addresses_are_honoured_conflicts_refused_and_ipam_survives_a_restart() {
    if !can_run() {
        return;
    }
    let mut w = World::new();
    let net = w.daemon.subnet(15);
    let prefix = w.daemon.subnet_prefix(15);
    w.docker(&["network", "create", "--subnet", &net, "ipnet"]);
    let fixed = format!("{prefix}.10");
    w.docker(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "ipnet",
        "--ip",
        &fixed,
        &w.image,
        "sleep",
        "600",
    ]);
    assert_eq!(
        w.inspect("fixed", "{{.NetworkSettings.Networks.ipnet.IPAddress}}"),
        fixed
    );
    let id = w.docker(&[
        "run",
        "-d",
        "--name",
        "fixed-inside",
        "--network",
        "container:fixed",
        &w.image,
        "sleep",
        "600",
    ]);
    let addr = w.docker(&["exec", id.trim(), "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        addr.contains(&fixed),
        "container: mode shares the namespace: {addr}"
    );

    let err = w.docker_fail(&[
        "run",
        "-d",
        "--network",
        "ipnet",
        "--ip",
        &fixed,
        &w.image,
        "true",
    ]);
    assert!(err.contains("already in use"), "{err}");
    let err = w.docker_fail(&[
        "run",
        "-d",
        "--network",
        "ipnet",
        "--ip",
        "10.99.99.9",
        &w.image,
        "true",
    ]);
    assert!(err.contains("not in") || err.contains("range"), "{err}");
    w.docker(&["container", "prune", "-f"]);

    w.docker(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "ipnet",
        &w.image,
        "sleep",
        "600",
    ]);
    let first = w.inspect("first", "{{.NetworkSettings.Networks.ipnet.IPAddress}}");
    w.daemon.kill9();
    w.daemon.restart();
    w.docker(&[
        "run",
        "-d",
        "--name",
        "second",
        "--network",
        "ipnet",
        &w.image,
        "sleep",
        "600",
    ]);
    let second = w.inspect("second", "{{.NetworkSettings.Networks.ipnet.IPAddress}}");
    assert_ne!(
        first, second,
        "an address was handed out twice across a restart"
    );
    assert_ne!(second, fixed);
    assert_eq!(
        w.inspect("first", "{{.NetworkSettings.Networks.ipnet.IPAddress}}"),
        first
    );
    w.docker(&["rm", "-f", "first", "second", "fixed-inside", "fixed"]);
    w.docker(&["network", "rm", "ipnet"]);
}

#[test]
fn a_killed_daemon_comes_back_with_networks_ports_and_host_objects_in_agreement() {
    if !can_run() {
        return;
    }
    let mut w = World::new();
    let (x, y) = (w.daemon.subnet(15), w.daemon.subnet(14));
    w.docker(&["network", "create", "--subnet", &x, "netx"]);
    w.docker(&["network", "create", "--subnet", &y, "nety"]);
    let (px, py, pd) = (free_port(), free_port(), free_port());
    w.web(
        "wx",
        &["--network", "netx", "-p", &format!("127.0.0.1:{px}:8080")],
        "on-x",
    );
    w.web(
        "wy",
        &["--network", "nety", "-p", &format!("127.0.0.1:{py}:8080")],
        "on-y",
    );
    w.web("wd", &["-p", &format!("127.0.0.1:{pd}:8080")], "on-default");
    for (port, text) in [(px, "on-x"), (py, "on-y"), (pd, "on-default")] {
        assert!(fetch("127.0.0.1", port).contains(text));
    }

    let netx_bridge = format!(
        "sl-{}",
        &w.docker(&["network", "inspect", "-f", "{{.Id}}", "netx"])
            .trim()[..10]
    );
    let wy_netns = w.inspect("wy", "{{.NetworkSettings.SandboxKey}}");
    let wy_ip = w.inspect("wy", "{{.NetworkSettings.Networks.nety.IPAddress}}");
    w.daemon.kill9();
    // Published ports are kernel rules: they keep answering while the daemon is down.
    assert!(fetch("127.0.0.1", px).contains("on-x"));
    // What a reboot or a careless admin does while the daemon is down: the table, a
    // network's bridge and a container's interface vanish. The restart must bring them back,
    // the interface with the same address.
    assert!(sh(&format!("nft delete table ip {}", w.daemon.nft_table())).0);
    assert!(sh(&format!("ip link del {netx_bridge}")).0);
    let (ok, out) = sh(&format!("nsenter --net={wy_netns} ip link del eth0"));
    assert!(ok, "{out}");
    w.daemon.restart();
    assert_eq!(
        w.inspect("wy", "{{.NetworkSettings.Networks.nety.IPAddress}}"),
        wy_ip
    );
    let (ok, out) = sh(&format!("nsenter --net={wy_netns} ip -4 -o addr show eth0"));
    assert!(ok && out.contains(&wy_ip), "interface not re-made: {out}");
    for (port, text) in [(px, "on-x"), (py, "on-y"), (pd, "on-default")] {
        assert!(
            fetch("127.0.0.1", port).contains(text),
            "port {port} after restart"
        );
    }
    let body = w.fetch_from_container(&["--network", "netx"], "wx", 8080);
    assert_eq!(body.trim(), "on-x", "name DNS after restart");

    // `network ls` and the host agree: every network's bridge exists.
    let names = w.docker(&["network", "ls", "--format", "{{.Name}}"]);
    for name in ["nat", "netx", "nety"] {
        assert!(names.lines().any(|l| l == name), "{names}");
        let mut silo = w.daemon.silo();
        let view = run_any(silo.args(["network", "inspect", "--host-view", name]));
        assert_eq!(view.0, 0, "{view:?}");
        // The PRESENT column of the host-objects table says yes on every row.
        let mut table = view
            .1
            .lines()
            .skip_while(|l| !l.starts_with("Host objects:"))
            .skip(1);
        let header = table.next().unwrap_or_default();
        let column = header.find("PRESENT").expect("PRESENT column");
        let rows: Vec<&str> = table.filter(|l| !l.trim().is_empty()).collect();
        assert!(!rows.is_empty(), "no host objects: {}", view.1);
        assert!(
            rows.iter()
                .all(|l| l.get(column..).is_some_and(|c| c.starts_with("yes"))),
            "a host object is missing: {}",
            view.1
        );
    }
    let bridges: Vec<String> = ["netx", "nety"]
        .iter()
        .map(|n| {
            let id = w.docker(&["network", "inspect", "-f", "{{.Id}}", n]);
            format!("sl-{}", &id.trim()[..10])
        })
        .collect();
    for b in &bridges {
        assert!(sh(&format!("ip link show {b}")).0, "bridge {b} missing");
    }

    // Removing everything leaves no bridge, veth or published-port rule behind.
    w.docker(&["rm", "-f", "wx", "wy", "wd"]);
    w.docker(&["network", "rm", "netx", "nety"]);
    for b in &bridges {
        assert!(
            !sh(&format!("ip link show {b}")).0,
            "bridge {b} left behind"
        );
    }
    let default_bridge = w.daemon.bridge();
    let (_, ports) = sh(&format!("ip -o link show master {default_bridge}"));
    assert!(
        ports.trim().is_empty(),
        "veths left on {default_bridge}: {ports}"
    );
    let (_, table) = sh(&format!("nft list table ip {}", w.daemon.nft_table()));
    assert!(
        !table.contains("dnat to"),
        "published-port rules left: {table}"
    );
}

#[test]
fn a_dual_stack_network_gives_both_addresses_and_resolves_names_over_both() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let (v4, v6) = (w.daemon.subnet(15), w.daemon.subnet_v6(1));
    w.docker(&[
        "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6, "dual",
    ]);
    w.docker(&[
        "run",
        "-d",
        "--name",
        "both",
        "--network",
        "dual",
        &w.image,
        "sleep",
        "600",
    ]);
    let addr6 = w.inspect(
        "both",
        "{{.NetworkSettings.Networks.dual.GlobalIPv6Address}}",
    );
    let gw6 = w.inspect("both", "{{.NetworkSettings.Networks.dual.IPv6Gateway}}");
    let prefix6 = v6.trim_end_matches("/64");
    assert!(
        addr6.starts_with(prefix6) && gw6.starts_with(prefix6),
        "{addr6} {gw6}"
    );
    let (code, out) = w.client(&["--network", "dual"], &format!("ping -6 -c1 -W2 {addr6}"));
    assert_eq!(code, 0, "{out}");
    // The container's resolv.conf lists both gateways; the name resolves to both families.
    let (code, out) = w.client(
        &["--network", "dual"],
        &format!("cat /etc/resolv.conf; nslookup -type=aaaa both {gw6}"),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("nameserver {gw6}")), "{out}");
    assert!(out.contains(&addr6), "AAAA of both: {out}");
    w.docker(&["rm", "-f", "both"]);
    w.docker(&["network", "rm", "dual"]);
}

#[test]
fn network_modes_none_host_and_container() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let (code, out) = w.client(&["--network", "none"], "ls /sys/class/net");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);

    // The host's namespace: the daemon's own bridge is visible.
    let (code, out) = w.client(&["--network", "host"], "ls /sys/class/net");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.split_whitespace().any(|l| l == w.daemon.bridge()),
        "{out}"
    );

    w.docker(&["run", "-d", "--name", "holder", &w.image, "sleep", "600"]);
    let ip = w.inspect("holder", "{{.NetworkSettings.IPAddress}}");
    let (code, out) = w.client(
        &["--network", "container:holder"],
        "ip -4 -o addr show eth0",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&ip), "{out} lacks {ip}");
    let err = w.docker_fail(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "8080",
        &w.image,
        "true",
    ]);
    assert!(err.contains("conflicting options"), "{err}");
    w.docker(&["rm", "-f", "holder"]);
}

#[test]
fn the_docker_cli_creates_runs_on_inspects_and_removes_a_nat_network() {
    if !can_run() {
        return;
    }
    let w = World::new();
    w.docker(&[
        "network",
        "create",
        "-d",
        "nat",
        "--subnet",
        "10.77.0.0/24",
        "mynet",
    ]);
    w.docker(&[
        "run",
        "-d",
        "--name",
        "pinned",
        "--network",
        "mynet",
        "--ip",
        "10.77.0.10",
        &w.image,
        "sleep",
        "600",
    ]);
    let inspect = w.docker(&["network", "inspect", "mynet"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("json");
    let n = &v[0];
    assert_eq!(n["Driver"], "nat");
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
    let containers = n["Containers"].as_object().expect("containers");
    assert_eq!(containers.len(), 1);
    let (_, ep) = containers.iter().next().expect("one");
    assert_eq!(ep["IPv4Address"], "10.77.0.10/24");
    assert_eq!(ep["Name"], "pinned");
    let c = w.docker(&["inspect", "pinned"]);
    let c: serde_json::Value = serde_json::from_str(&c).expect("json");
    let settings = &c[0]["NetworkSettings"]["Networks"]["mynet"];
    assert_eq!(settings["IPAddress"], "10.77.0.10");
    assert_eq!(settings["Gateway"], "10.77.0.1");
    assert_eq!(settings["MacAddress"], "02:42:0a:4d:00:0a");
    w.docker(&["rm", "-f", "pinned"]);
    w.docker(&["network", "rm", "mynet"]);
    let err = w.docker_fail(&["network", "inspect", "mynet"]);
    assert!(
        err.contains("not found") || err.contains("No such"),
        "{err}"
    );
}

/// A veth whose host end is the transparent network's parent and whose other end sits in a
/// network namespace made here, addressed 198.51.100.1/24: the container joins that segment.
struct Segment {
    ns: String,
    parent: String,
}

impl Segment {
    fn new() -> Self {
        let n = std::process::id() % 100_000;
        let seg = Segment {
            ns: format!("silo-seg-{n}"),
            parent: format!("stp{n}"),
        };
        for cmd in [
            format!("ip netns add {}", seg.ns),
            format!(
                "ip link add {} type veth peer name up0 netns {}",
                seg.parent, seg.ns
            ),
            format!("ip link set {} up", seg.parent),
            format!("ip -n {} addr add 198.51.100.1/24 dev up0", seg.ns),
            format!("ip -n {} link set up0 up", seg.ns),
        ] {
            let (ok, out) = sh(&cmd);
            assert!(ok, "{cmd}: {out}");
        }
        seg
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = sh(&format!("ip link del {}", self.parent));
        let _ = sh(&format!("ip netns del {}", self.ns));
    }
}

#[test]
fn a_transparent_container_sits_on_the_uplinks_segment_with_its_address_shown() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let seg = Segment::new();
    w.docker(&[
        "network",
        "create",
        "-d",
        "transparent",
        "-o",
        &format!("parent={}", seg.parent),
        "--subnet",
        "198.51.100.0/24",
        "--gateway",
        "198.51.100.1",
        "segnet",
    ]);
    w.docker(&[
        "run",
        "-d",
        "--name",
        "onseg",
        "--network",
        "segnet",
        "--ip",
        "198.51.100.10",
        &w.image,
        "sleep",
        "600",
    ]);
    assert_eq!(
        w.inspect("onseg", "{{.NetworkSettings.Networks.segnet.IPAddress}}"),
        "198.51.100.10"
    );
    let (ok, out) = sh(&format!(
        "ip netns exec {} busybox ping -c1 -W2 198.51.100.10",
        seg.ns
    ));
    assert!(ok, "the segment does not reach the container: {out}");
    // IPAM hands out an address on the segment when none is asked for.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "onseg2",
        "--network",
        "segnet",
        &w.image,
        "sleep",
        "600",
    ]);
    let ip2 = w.inspect("onseg2", "{{.NetworkSettings.Networks.segnet.IPAddress}}");
    assert!(
        ip2.starts_with("198.51.100.") && ip2 != "198.51.100.10",
        "{ip2}"
    );
    let (ok, out) = sh(&format!(
        "ip netns exec {} busybox ping -c1 -W2 {ip2}",
        seg.ns
    ));
    assert!(ok, "{out}");
    w.docker(&["rm", "-f", "onseg", "onseg2"]);
    w.docker(&["network", "rm", "segnet"]);

    // l2bridge needs ipvlan; a kernel without it gets a clear refusal, not a broken network.
    let created = run_any(&mut w.docker_cmd(&[
        "network",
        "create",
        "-d",
        "l2bridge",
        "-o",
        &format!("parent={}", seg.parent),
        "--subnet",
        "198.51.100.0/24",
        "l2net",
    ]));
    if created.0 != 0 {
        assert!(created.2.contains("ipvlan"), "{created:?}");
    } else {
        w.docker(&[
            "run",
            "-d",
            "--name",
            "onl2",
            "--network",
            "l2net",
            "--ip",
            "198.51.100.20",
            &w.image,
            "sleep",
            "600",
        ]);
        let (ok, out) = sh(&format!(
            "ip netns exec {} busybox ping -c1 -W2 198.51.100.20",
            seg.ns
        ));
        assert!(ok, "{out}");
        w.docker(&["rm", "-f", "onl2"]);
        w.docker(&["network", "rm", "l2net"]);
    }
}
