//! Host links (bridges, dummies) and the host's routes, through iproute2's `ip` (always on
//! Debian). `-json` output is parsed so nothing depends on the human-readable format.

use std::path::Path;

use ipnet::IpNet;
use serde_json::Value;

use super::{ensure_sysctl, run_tool, HostError};

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const MAX_LINK_NAME: usize = 15;

/// Makes `name` an up bridge holding `addresses` (each a gateway address with its subnet's
/// prefix, e.g. `10.77.0.1/24`). Also turns on `route_localnet` on it, so packets DNAT'd from
/// 127.0.0.1 may leave through it, and IPv4 forwarding on the host. A bridge this call created
/// is deleted again if a later step fails.
pub async fn ensure_bridge(name: &str, addresses: &[IpNet]) -> Result<(), HostError> {
    check_name("create bridge", name)?;
    if link_exists(name)
        && !Path::new("/sys/class/net")
            .join(name)
            .join("bridge")
            .exists()
    {
        // Never put a network's gateway on some unrelated interface that has the name.
        return Err(HostError::invalid(
            "create bridge",
            name,
            "a link of that name exists and is not a bridge",
        ));
    }
    let created = ensure_link("create bridge", name, "bridge").await?;
    let result = configure_bridge(name, addresses).await;
    if result.is_err() && created {
        let _ = delete_link(name).await;
    }
    result
}

async fn configure_bridge(name: &str, addresses: &[IpNet]) -> Result<(), HostError> {
    let present = link_addresses(name).await?;
    for address in addresses {
        if present.contains(address) {
            continue;
        }
        let text = address.to_string();
        let mut args = vec!["addr", "add", text.as_str(), "dev", name];
        if address.addr().is_ipv6() {
            // The gateway must answer at once; duplicate detection would hold it "tentative"
            // for a second or two and on a bridge without ports yet it cannot fail anyway.
            args.push("nodad");
        }
        if let Err(e) = run_tool("add address to bridge", name, "ip", &args, None).await {
            if !e.stderr().is_some_and(|s| s.contains("File exists")) {
                return Err(e);
            }
        }
    }
    set_up("bring up bridge", name).await?;
    ensure_sysctl(
        &Path::new("/proc/sys/net/ipv4/conf")
            .join(name)
            .join("route_localnet"),
        "1",
    )?;
    ensure_sysctl(Path::new("/proc/sys/net/ipv4/ip_forward"), "1")
}

/// Makes `name` an up dummy link: the parent of macvlan/ipvlan endpoints on internal
/// transparent and l2bridge networks, which have no real interface behind them. Kernels
/// built without the dummy driver get a bridge with no ports instead, which serves as a
/// parent just as well (it is up and has carrier, and its children talk to each other).
pub async fn ensure_dummy(name: &str) -> Result<(), HostError> {
    check_name("create dummy link", name)?;
    let created = match ensure_link("create dummy link", name, "dummy").await {
        Err(e)
            if e.stderr()
                .is_some_and(|s| s.contains("Unknown device type")) =>
        {
            tracing::debug!("no dummy driver in this kernel, using a bridge for {name}");
            ensure_link("create dummy link", name, "bridge").await?
        }
        other => other?,
    };
    let result = set_up("bring up dummy link", name).await;
    if result.is_err() && created {
        let _ = delete_link(name).await;
    }
    result
}

/// Deletes the link `name`; a missing link is no error.
pub async fn delete_link(name: &str) -> Result<(), HostError> {
    check_name("delete link", name)?;
    if !link_exists(name) {
        return Ok(());
    }
    match run_tool(
        "delete link",
        name,
        "ip",
        &["link", "del", "dev", name],
        None,
    )
    .await
    {
        Err(e) if !link_exists(name) => {
            tracing::debug!("link {name} vanished while deleting it: {e}");
            Ok(())
        }
        other => other.map(drop),
    }
}

/// Whether a link called `name` exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    check_name("", name).is_ok() && Path::new("/sys/class/net").join(name).exists()
}

/// The addresses on link `name`, each with its prefix length (`10.77.0.1/24`).
pub async fn link_addresses(name: &str) -> Result<Vec<IpNet>, HostError> {
    check_name("list addresses of", name)?;
    let out = run_tool(
        "list addresses of",
        name,
        "ip",
        &["-json", "addr", "show", "dev", name],
        None,
    )
    .await?;
    parse_addresses(&out).map_err(|m| HostError::invalid("list addresses of", name, m))
}

fn parse_addresses(json: &str) -> Result<Vec<IpNet>, String> {
    let links: Value =
        serde_json::from_str(json).map_err(|e| format!("bad `ip -json` output: {e}"))?;
    let mut out = Vec::new();
    for link in links.as_array().into_iter().flatten() {
        for info in link["addr_info"].as_array().into_iter().flatten() {
            let (Some(local), Some(prefix)) = (info["local"].as_str(), info["prefixlen"].as_u64())
            else {
                continue;
            };
            let net = format!("{local}/{prefix}")
                .parse::<IpNet>()
                .map_err(|e| format!("bad address {local}/{prefix}: {e}"))?;
            out.push(net);
        }
    }
    Ok(out)
}

/// The destination prefixes of the host's IPv4 and IPv6 routes in every routing table,
/// without default routes (and without broadcast and multicast ones, which say nothing about
/// what a subnet would collide with). The service uses them to keep new subnets away from
/// networks the host already reaches.
pub async fn host_routes() -> Result<Vec<IpNet>, HostError> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        let json = run_tool(
            "list routes",
            "of the host",
            "ip",
            &["-json", family, "route", "show", "table", "all"],
            None,
        )
        .await?;
        out.extend(
            parse_routes(&json).map_err(|m| HostError::invalid("list routes", "of the host", m))?,
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn parse_routes(json: &str) -> Result<Vec<IpNet>, String> {
    let routes: Value =
        serde_json::from_str(json).map_err(|e| format!("bad `ip -json` output: {e}"))?;
    let mut out = Vec::new();
    for route in routes.as_array().into_iter().flatten() {
        if matches!(route["type"].as_str(), Some("broadcast" | "multicast")) {
            continue;
        }
        let Some(dst) = route["dst"].as_str() else {
            continue;
        };
        if dst == "default" {
            continue;
        }
        // Host routes come without a prefix length.
        let net = dst
            .parse::<IpNet>()
            .or_else(|_| dst.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("bad route destination {dst:?}"))?;
        if net.prefix_len() > 0 {
            out.push(net.trunc());
        }
    }
    Ok(out)
}

/// Creates link `name` of `kind` unless it exists; says whether this call created it.
async fn ensure_link(action: &'static str, name: &str, kind: &str) -> Result<bool, HostError> {
    if link_exists(name) {
        return Ok(false);
    }
    match run_tool(
        action,
        name,
        "ip",
        &["link", "add", "name", name, "type", kind],
        None,
    )
    .await
    {
        Ok(_) => Ok(true),
        // Someone else made it in between: theirs is as good as ours.
        Err(_) if link_exists(name) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn set_up(action: &'static str, name: &str) -> Result<(), HostError> {
    run_tool(
        action,
        name,
        "ip",
        &["link", "set", "dev", name, "up"],
        None,
    )
    .await
    .map(drop)
}

/// Interface names are at most 15 bytes without `/`, whitespace or `:`; anything else could
/// escape `/sys/class/net` or be read by `ip` as a keyword's argument.
fn check_name(action: &'static str, name: &str) -> Result<(), HostError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LINK_NAME
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':' && c != '"' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(HostError::invalid(
            action,
            name,
            "not a valid interface name",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_skip_default_broadcast_and_keep_host_routes() {
        let json = r#"[
            {"dst":"default","gateway":"10.0.0.1","dev":"eth0"},
            {"dst":"10.0.0.0/24","dev":"eth0","protocol":"kernel"},
            {"type":"local","dst":"10.0.0.5","table":"local","dev":"eth0"},
            {"type":"broadcast","dst":"10.0.0.255","table":"local","dev":"eth0"},
            {"type":"multicast","dst":"ff00::/8","table":"local","dev":"eth0"},
            {"dst":"fd00:1::/64","dev":"br0"}
        ]"#;
        let routes = parse_routes(json).unwrap();
        let want: Vec<IpNet> = ["10.0.0.0/24", "10.0.0.5/32", "fd00:1::/64"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(routes, want);
    }

    #[test]
    fn addresses_keep_prefix() {
        let json = r#"[{"ifname":"br0","addr_info":[
            {"family":"inet","local":"10.77.0.1","prefixlen":24},
            {"family":"inet6","local":"fd00::1","prefixlen":64}]}]"#;
        let got = parse_addresses(json).unwrap();
        assert_eq!(
            got,
            vec![
                "10.77.0.1/24".parse::<IpNet>().unwrap(),
                "fd00::1/64".parse().unwrap()
            ]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("x", "silo0").is_ok());
        assert!(check_name("x", "").is_err());
        assert!(check_name("x", "../etc").is_err());
        assert!(check_name("x", "a-very-long-name-0").is_err());
        assert!(!link_exists("a/b"));
    }
}
