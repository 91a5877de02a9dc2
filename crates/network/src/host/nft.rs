//! The daemon's nftables table: published ports, masquerade, network isolation and endpoint
//! ACLs, the way Docker's bridge driver arranges them, but all in one `ip` table per daemon.
//!
//! The service describes what it wants in a [`Ruleset`]; [`render`] turns it into nft text and
//! [`apply`] replaces the whole table in one `nft -f` transaction, so the kernel never sees a
//! half-written table and there is no incremental state to drift.
//!
//! IPv4 only: IPv6 endpoints get addresses and routes but no NAT, published ports or ACLs.
//!
//! Limits worth knowing: the `forward` hook sees traffic routed by the host, so ACLs and
//! isolation cover traffic between networks and to the outside; traffic between two
//! containers on the same bridge is switched, not routed, and reaches the hook only when
//! `br_netfilter` is loaded. macvlan/ipvlan endpoints bypass the host's IP stack entirely.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use super::{run_tool, HostError};
use crate::model::{Acl, AclAction, Direction, OutboundNat, PortMapping};

/// Everything the table should contain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// The table's name (`silo` for the daemon; tests use their own).
    pub table: String,
    pub networks: Vec<NetworkRules>,
    pub endpoints: Vec<EndpointRules>,
}

/// A network with a host bridge (nat or internal).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet_v4: Option<Ipv4Net>,
    /// No traffic in or out of the bridge except replies.
    pub internal: bool,
    /// Masquerade traffic from the subnet that leaves through another interface.
    pub masquerade: bool,
}

/// One endpoint's IPv4 policies.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRules {
    /// The bridge it hangs off (`None` for macvlan/ipvlan endpoints).
    pub bridge: Option<String>,
    pub ipv4: Ipv4Addr,
    /// Published ports, host ports already chosen (non-zero).
    pub ports: Vec<PortMapping>,
    pub outbound_nat: OutboundNat,
    pub acls: Vec<Acl>,
}

/// The nft text for `rules`: one `table ip` block.
pub fn render(rules: &Ruleset) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "table ip {} {{", rules.table);

    // DNAT of published ports, shared by traffic arriving (prerouting, which includes
    // containers hairpinning back) and traffic the host itself sends (output, which is how
    // 127.0.0.1:PORT reaches a container).
    out.push_str("\tchain published {\n");
    for ep in &rules.endpoints {
        for port in &ep.ports {
            if let Some(rule) = dnat_rule(ep, port) {
                let _ = writeln!(out, "\t\t{rule}");
            }
        }
    }
    out.push_str("\t}\n");
    base_chain(
        &mut out,
        "prerouting",
        "nat",
        "prerouting",
        "dstnat",
        &["jump published"],
    );
    // nft accepts the name `dstnat` only on prerouting; -100 is its value.
    base_chain(
        &mut out,
        "output",
        "nat",
        "output",
        "-100",
        &["jump published"],
    );
    base_chain(
        &mut out,
        "postrouting",
        "nat",
        "postrouting",
        "srcnat",
        &postrouting(rules),
    );
    base_chain(
        &mut out,
        "forward",
        "filter",
        "forward",
        "filter",
        &forward(rules),
    );

    for ep in &rules.endpoints {
        for direction in [Direction::Out, Direction::In] {
            let body: Vec<String> = ep
                .acls
                .iter()
                .filter(|acl| acl.direction == direction)
                .filter_map(acl_rule)
                .collect();
            if body.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\tchain {} {{", acl_chain(ep.ipv4, direction));
            for rule in body {
                let _ = writeln!(out, "\t\t{rule}");
            }
            out.push_str("\t}\n");
        }
    }
    out.push_str("}\n");
    out
}

fn base_chain(
    out: &mut String,
    name: &str,
    kind: &str,
    hook: &str,
    priority: &str,
    rules: &[impl AsRef<str>],
) {
    let _ = writeln!(out, "\tchain {name} {{");
    let _ = writeln!(
        out,
        "\t\ttype {kind} hook {hook} priority {priority}; policy accept;"
    );
    for rule in rules {
        let _ = writeln!(out, "\t\t{}", rule.as_ref());
    }
    out.push_str("\t}\n");
}

fn dnat_rule(ep: &EndpointRules, port: &PortMapping) -> Option<String> {
    if port.host_port == 0 || port.container_port == 0 {
        return None;
    }
    let daddr = match port.host_ip {
        None => "fib daddr type local".to_string(),
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => "fib daddr type local".to_string(),
        Some(IpAddr::V4(ip)) => format!("ip daddr {ip}"),
        // No IPv6 NAT (see the module docs).
        Some(IpAddr::V6(_)) => return None,
    };
    Some(format!(
        "{daddr} {} dport {} dnat to {}:{}",
        port.protocol.as_str(),
        port.host_port,
        ep.ipv4,
        port.container_port
    ))
}

fn postrouting(rules: &Ruleset) -> Vec<String> {
    let mut out = Vec::new();
    for net in &rules.networks {
        let br = quote(&net.bridge);
        // Host-originated connections to 127.0.0.1:PORT, DNAT'd in output: the container
        // cannot answer 127.0.0.1, so they leave with the bridge's address.
        out.push(format!("oifname {br} ip saddr 127.0.0.0/8 masquerade"));
        // Hairpin: a container reaching a published port on its own bridge must see replies
        // come back through the host, not straight from the peer.
        if let Some(subnet) = net.subnet_v4 {
            out.push(format!(
                "oifname {br} ip saddr {subnet} ct status dnat masquerade"
            ));
        }
    }
    // Per-endpoint exceptions first: a `return` ends the chain before the network's
    // masquerade rule sees the packet.
    for ep in &rules.endpoints {
        let Some(bridge) = &ep.bridge else { continue };
        let br = quote(bridge);
        if !ep.outbound_nat.enabled {
            out.push(format!("ip saddr {} oifname != {br} return", ep.ipv4));
            continue;
        }
        let exceptions: Vec<String> = ep
            .outbound_nat
            .exceptions
            .iter()
            .filter_map(|net| match net {
                IpNet::V4(v4) => Some(v4.trunc().to_string()),
                IpNet::V6(_) => None,
            })
            .collect();
        if !exceptions.is_empty() {
            out.push(format!(
                "ip saddr {} ip daddr {{ {} }} oifname != {br} return",
                ep.ipv4,
                exceptions.join(", ")
            ));
        }
    }
    for net in &rules.networks {
        if let (Some(subnet), true, false) = (net.subnet_v4, net.masquerade, net.internal) {
            out.push(format!(
                "ip saddr {subnet} oifname != {} masquerade",
                quote(&net.bridge)
            ));
        }
    }
    out
}

fn forward(rules: &Ruleset) -> Vec<String> {
    let mut out = vec!["ct state established,related accept".to_string()];
    for ep in &rules.endpoints {
        for direction in [Direction::Out, Direction::In] {
            if ep
                .acls
                .iter()
                .any(|a| a.direction == direction && acl_rule(a).is_some())
            {
                let side = match direction {
                    Direction::Out => "saddr",
                    Direction::In => "daddr",
                };
                out.push(format!(
                    "ip {side} {} jump {}",
                    ep.ipv4,
                    acl_chain(ep.ipv4, direction)
                ));
            }
        }
    }
    // Internal bridges talk only to themselves; this comes before the published-port accept
    // so DNAT cannot be used to get in or out either.
    for net in rules.networks.iter().filter(|n| n.internal) {
        let br = quote(&net.bridge);
        out.push(format!("iifname {br} oifname != {br} drop"));
        out.push(format!("oifname {br} iifname != {br} drop"));
    }
    // Published ports are reachable from anywhere, other silo networks included.
    out.push("ct status dnat accept".to_string());
    let shared: Vec<&str> = rules
        .networks
        .iter()
        .filter(|n| !n.internal)
        .map(|n| n.bridge.as_str())
        .collect();
    for bridge in &shared {
        let others: Vec<String> = shared
            .iter()
            .filter(|b| *b != bridge)
            .map(|b| quote(b))
            .collect();
        if !others.is_empty() {
            out.push(format!(
                "iifname {} oifname {{ {} }} drop",
                quote(bridge),
                others.join(", ")
            ));
        }
    }
    out
}

fn acl_chain(ip: Ipv4Addr, direction: Direction) -> String {
    let dir = match direction {
        Direction::Out => "out",
        Direction::In => "in",
    };
    format!("acl_{dir}_{}", ip.to_string().replace('.', "_"))
}

/// One ACL as a rule of the endpoint's ACL chain. `allow` returns to the forward chain, so
/// isolation still applies after it; rules with an IPv6 remote cannot match and are left out.
fn acl_rule(acl: &Acl) -> Option<String> {
    let mut rule = Vec::new();
    if let Some(remote) = acl.remote {
        let IpNet::V4(remote) = remote else {
            return None;
        };
        let side = match acl.direction {
            Direction::Out => "daddr",
            Direction::In => "saddr",
        };
        rule.push(format!("ip {side} {}", remote.trunc()));
    }
    match (acl.protocol, acl.port) {
        (Some(p), Some(port)) => rule.push(format!("{} dport {port}", p.as_str())),
        (Some(p), None) => rule.push(format!("meta l4proto {}", p.as_str())),
        (None, Some(port)) => rule.push(format!("meta l4proto {{ tcp, udp }} th dport {port}")),
        (None, None) => {}
    }
    rule.push(
        match acl.action {
            AclAction::Allow => "return",
            AclAction::Block => "drop",
        }
        .to_string(),
    );
    Some(rule.join(" "))
}

fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// Replaces the table with `rules` in one transaction (creating it if missing).
pub async fn apply(rules: &Ruleset) -> Result<(), HostError> {
    check(rules)?;
    let script = format!(
        "table ip {t} {{}}\ndelete table ip {t}\n{}",
        render(rules),
        t = rules.table
    );
    run_tool(
        "apply nftables table",
        &rules.table,
        "nft",
        &["-f", "-"],
        Some(&script),
    )
    .await
    .map(drop)
}

/// Deletes the table; a missing one is no error.
pub async fn delete_table(table: &str) -> Result<(), HostError> {
    check_table(table)?;
    let script = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    run_tool(
        "delete nftables table",
        table,
        "nft",
        &["-f", "-"],
        Some(&script),
    )
    .await
    .map(drop)
}

/// The table's chains with their rule counts, in the kernel's order; empty when the table
/// does not exist.
pub async fn list_chains(table: &str) -> Result<Vec<(String, usize)>, HostError> {
    check_table(table)?;
    let json = match run_tool(
        "list nftables table",
        table,
        "nft",
        &["-j", "list", "table", "ip", table],
        None,
    )
    .await
    {
        Ok(json) => json,
        Err(e)
            if e.stderr()
                .is_some_and(|s| s.contains("No such file or directory")) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    parse_chains(&json).map_err(|m| HostError::invalid("list nftables table", table, m))
}

fn parse_chains(json: &str) -> Result<Vec<(String, usize)>, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("bad `nft -j` output: {e}"))?;
    let mut chains: Vec<(String, usize)> = Vec::new();
    let mut index = BTreeMap::new();
    for item in doc["nftables"].as_array().into_iter().flatten() {
        if let Some(name) = item["chain"]["name"].as_str() {
            index.insert(name.to_string(), chains.len());
            chains.push((name.to_string(), 0));
        } else if let Some(chain) = item["rule"]["chain"].as_str() {
            if let Some(&i) = index.get(chain) {
                chains[i].1 += 1;
            }
        }
    }
    Ok(chains)
}

/// Names go into nft text unescaped, so they are held to what nft and the kernel accept.
fn check(rules: &Ruleset) -> Result<(), HostError> {
    check_table(&rules.table)?;
    let bridges = rules
        .networks
        .iter()
        .map(|n| &n.bridge)
        .chain(rules.endpoints.iter().filter_map(|e| e.bridge.as_ref()));
    for bridge in bridges {
        let ok = !bridge.is_empty()
            && bridge.len() <= 15
            && bridge
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return Err(HostError::invalid(
                "apply nftables table",
                &rules.table,
                format!("bridge name {bridge:?} cannot be used in a rule"),
            ));
        }
    }
    Ok(())
}

fn check_table(table: &str) -> Result<(), HostError> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table.starts_with(|c: char| c.is_ascii_alphabetic())
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(HostError::invalid(
            "use nftables table",
            table,
            "table names are letters, digits and '_', starting with a letter",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn sample() -> Ruleset {
        Ruleset {
            table: "silo_test".into(),
            networks: vec![
                NetworkRules {
                    bridge: "silo0".into(),
                    subnet_v4: Some("10.77.0.0/24".parse().unwrap()),
                    internal: false,
                    masquerade: true,
                },
                NetworkRules {
                    bridge: "silo1".into(),
                    subnet_v4: Some("10.78.0.0/24".parse().unwrap()),
                    internal: false,
                    masquerade: true,
                },
                NetworkRules {
                    bridge: "silo2".into(),
                    subnet_v4: Some("10.79.0.0/24".parse().unwrap()),
                    internal: true,
                    masquerade: false,
                },
            ],
            endpoints: vec![
                EndpointRules {
                    bridge: Some("silo0".into()),
                    ipv4: "10.77.0.2".parse().unwrap(),
                    ports: vec![
                        PortMapping {
                            protocol: Protocol::Tcp,
                            host_ip: None,
                            host_port: 8080,
                            container_port: 80,
                        },
                        PortMapping {
                            protocol: Protocol::Udp,
                            host_ip: Some("127.0.0.1".parse().unwrap()),
                            host_port: 5353,
                            container_port: 53,
                        },
                        PortMapping {
                            protocol: Protocol::Tcp,
                            host_ip: Some("::1".parse().unwrap()),
                            host_port: 8081,
                            container_port: 81,
                        },
                    ],
                    outbound_nat: OutboundNat {
                        enabled: true,
                        exceptions: vec![
                            "10.0.0.0/8".parse().unwrap(),
                            "fd00::/8".parse().unwrap(),
                        ],
                    },
                    acls: vec![
                        Acl {
                            action: AclAction::Allow,
                            direction: Direction::In,
                            protocol: Some(Protocol::Tcp),
                            remote: Some("192.168.0.0/16".parse().unwrap()),
                            port: Some(80),
                        },
                        Acl {
                            action: AclAction::Block,
                            direction: Direction::In,
                            protocol: None,
                            remote: None,
                            port: None,
                        },
                        Acl {
                            action: AclAction::Block,
                            direction: Direction::Out,
                            protocol: None,
                            remote: Some("fd00::/8".parse().unwrap()),
                            port: Some(443),
                        },
                    ],
                },
                EndpointRules {
                    bridge: Some("silo1".into()),
                    ipv4: "10.78.0.3".parse().unwrap(),
                    ports: vec![],
                    outbound_nat: OutboundNat {
                        enabled: false,
                        exceptions: vec![],
                    },
                    acls: vec![],
                },
            ],
        }
    }

    #[test]
    fn renders_docker_like_table() {
        let text = render(&sample());
        let want = r#"table ip silo_test {
	chain published {
		fib daddr type local tcp dport 8080 dnat to 10.77.0.2:80
		ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.0.2:53
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		jump published
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "silo0" ip saddr 127.0.0.0/8 masquerade
		oifname "silo0" ip saddr 10.77.0.0/24 ct status dnat masquerade
		oifname "silo1" ip saddr 127.0.0.0/8 masquerade
		oifname "silo1" ip saddr 10.78.0.0/24 ct status dnat masquerade
		oifname "silo2" ip saddr 127.0.0.0/8 masquerade
		oifname "silo2" ip saddr 10.79.0.0/24 ct status dnat masquerade
		ip saddr 10.77.0.2 ip daddr { 10.0.0.0/8 } oifname != "silo0" return
		ip saddr 10.78.0.3 oifname != "silo1" return
		ip saddr 10.77.0.0/24 oifname != "silo0" masquerade
		ip saddr 10.78.0.0/24 oifname != "silo1" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		ip daddr 10.77.0.2 jump acl_in_10_77_0_2
		iifname "silo2" oifname != "silo2" drop
		oifname "silo2" iifname != "silo2" drop
		ct status dnat accept
		iifname "silo0" oifname { "silo1" } drop
		iifname "silo1" oifname { "silo0" } drop
	}
	chain acl_in_10_77_0_2 {
		ip saddr 192.168.0.0/16 tcp dport 80 return
		drop
	}
}
"#;
        assert_eq!(text, want, "got:\n{text}");
    }

    #[test]
    fn acl_port_without_protocol_matches_tcp_and_udp() {
        let acl = Acl {
            action: AclAction::Block,
            direction: Direction::Out,
            protocol: None,
            remote: Some("1.2.3.4/32".parse().unwrap()),
            port: Some(53),
        };
        assert_eq!(
            acl_rule(&acl).unwrap(),
            "ip daddr 1.2.3.4/32 meta l4proto { tcp, udp } th dport 53 drop"
        );
    }

    #[test]
    fn names_are_checked() {
        let mut rules = sample();
        rules.table = "bad-name".into();
        assert!(check(&rules).is_err());
        let mut rules = sample();
        rules.networks[0].bridge = "a\"b".into();
        assert!(check(&rules).is_err());
        assert!(check(&sample()).is_ok());
    }

    #[test]
    fn chains_are_counted() {
        let json = r#"{"nftables":[{"metainfo":{}},{"table":{"family":"ip","name":"t"}},
            {"chain":{"family":"ip","table":"t","name":"published"}},
            {"chain":{"family":"ip","table":"t","name":"forward"}},
            {"rule":{"family":"ip","table":"t","chain":"forward","expr":[]}},
            {"rule":{"family":"ip","table":"t","chain":"forward","expr":[]}}]}"#;
        assert_eq!(
            parse_chains(json).unwrap(),
            vec![("published".to_string(), 0), ("forward".to_string(), 2)]
        );
    }
}
