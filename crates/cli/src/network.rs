//! `silo network create/ls/inspect/rm/connect/disconnect/prune`, with docker's flags and
//! output, and `silo network inspect --host-view` (silo extension): what the network service
//! has on the host for a network, as HNS's `Get-HnsNetwork` shows it, read from silod's
//! `/silo/networks/{id}/host-view`.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{bail, Result};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{ListNetworksOptions, PruneNetworksOptions};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::args::{filter_map, Filter};
use crate::connect::Client;
use crate::format::context::ListFormat;
use crate::format::template::Template;
use crate::format::{short_id, Table};
use crate::inspect::pretty_json;
use crate::raw::path_ref;
use crate::remove::confirm;
use crate::report::{self, StatusError};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Remove all unused networks
    Prune(NetworkPruneArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network: nat (default; bridge), internal, transparent (macvlan),
    /// l2bridge (ipvlan)
    #[arg(short, long, default_value = "")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "SUBNET")]
    pub subnets: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "GATEWAY")]
    pub gateways: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "RANGE")]
    pub ip_ranges: Vec<String>,
    /// IP Address Management Driver (only "default")
    #[arg(long, default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "KEY=VALUE", value_parser = key_value)]
    pub ipam_opts: Vec<(String, String)>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE", value_parser = key_value)]
    pub opts: Vec<(String, String)>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "KEY[=VALUE]", value_parser = label)]
    pub labels: Vec<(String, String)>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=nat")
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<Filter>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a Go-template subset, or "json"
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Format output using a Go-template subset, or "json"
    #[arg(short, long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    pub verbose: bool,
    /// Show what the network service has on the host (silo extension, like Get-HnsNetwork)
    #[arg(long)]
    pub host_view: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<IpAddr>,
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "KEY=VALUE", value_parser = key_value)]
    pub driver_opts: Vec<(String, String)>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<Filter>,
}

/// `-o k=v`, `--ipam-opt k=v`, `--driver-opt k=v`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid key=value pair: {s:?}")),
    }
}

/// `--label k=v` or `--label k` (empty value), as docker takes labels.
fn label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("invalid label: {s:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

pub async fn dispatch(client: &Client, command: NetworkCommand) -> Result<ExitCode> {
    match command {
        NetworkCommand::Create(a) => create(client, &a).await,
        NetworkCommand::Ls(a) => ls(client, &a).await,
        NetworkCommand::Inspect(a) => inspect(client, &a).await,
        NetworkCommand::Rm(a) => rm(client, &a).await,
        NetworkCommand::Connect(a) => connect(client, &a).await,
        NetworkCommand::Disconnect(a) => disconnect(client, &a).await,
        NetworkCommand::Prune(a) => prune(client, &a).await,
    }
}

/// Checks docker makes before contacting the daemon (the pools fit together).
pub fn precheck(command: &NetworkCommand) -> Result<()> {
    if let NetworkCommand::Create(args) = command {
        pools(args)?;
    }
    Ok(())
}

// ---- create ---------------------------------------------------------------------------------

/// A parsed `a.b.c.d/len` or `x::/len`.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    fn parse(s: &str, what: &str) -> Result<Cidr> {
        let bad = || anyhow::anyhow!("invalid {what} {s:?}: expected a CIDR such as 10.1.2.0/24");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad());
        }
        Ok(Cidr { addr, len })
    }

    /// Whether `ip` lies inside (same family, same leading `len` bits).
    fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.len);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

/// docker's `consolidateIpam`: every gateway and range belongs to exactly one subnet.
fn pools(args: &NetworkCreateArgs) -> Result<Vec<IpamConfig>> {
    if args.subnets.is_empty() && !(args.gateways.is_empty() && args.ip_ranges.is_empty()) {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let subnets = args
        .subnets
        .iter()
        .map(|s| Cidr::parse(s, "subnet"))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in subnets.iter().enumerate() {
        for b in &subnets[i + 1..] {
            if a.contains(b.addr) || b.contains(a.addr) {
                bail!("multiple overlapping subnet configuration is not supported");
            }
        }
    }
    let mut configs: Vec<IpamConfig> = args
        .subnets
        .iter()
        .map(|s| IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        })
        .collect();
    let owner = |ip: IpAddr, what: &str, value: &str| -> Result<usize> {
        subnets
            .iter()
            .position(|s| s.contains(ip))
            .ok_or_else(|| anyhow::anyhow!("no matching subnet for {what} {value}"))
    };
    for range in &args.ip_ranges {
        let cidr = Cidr::parse(range, "ip-range")?;
        let i = owner(cidr.addr, "range", range)?;
        if configs[i].ip_range.is_some() {
            bail!("cannot configure multiple ranges ({range}) on the same subnet");
        }
        configs[i].ip_range = Some(range.clone());
    }
    for gateway in &args.gateways {
        let ip: IpAddr = gateway
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid gateway {gateway:?}: expected an IP address"))?;
        let i = owner(ip, "gateway", gateway)?;
        if configs[i].gateway.is_some() {
            bail!("cannot configure multiple gateways ({gateway}) for the same subnet");
        }
        configs[i].gateway = Some(gateway.clone());
    }
    Ok(configs)
}

fn create_request(args: &NetworkCreateArgs) -> Result<NetworkCreateRequest> {
    let map =
        |pairs: &[(String, String)]| -> HashMap<String, String> { pairs.iter().cloned().collect() };
    Ok(NetworkCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()).filter(|d| !d.is_empty()),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        enable_ipv6: Some(args.ipv6),
        ipam: Some(Ipam {
            driver: Some(args.ipam_driver.clone()),
            config: Some(pools(args)?),
            options: Some(map(&args.ipam_opts)),
        }),
        options: Some(map(&args.opts)),
        labels: Some(map(&args.labels)),
        ..Default::default()
    })
}

async fn create(client: &Client, args: &NetworkCreateArgs) -> Result<ExitCode> {
    let answer = client.docker.create_network(create_request(args)?).await?;
    let mut out = std::io::stdout().lock();
    if !answer.warning.is_empty() {
        eprintln!("WARNING: {}", answer.warning);
    }
    writeln!(out, "{}", answer.id)?;
    Ok(ExitCode::SUCCESS)
}

// ---- ls ------------------------------------------------------------------------------------------

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// Field names and their column titles (docker's `networkContext`).
const TITLES: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
    ("Endpoints", "ENDPOINTS"),
];

async fn ls(client: &Client, args: &NetworkLsArgs) -> Result<ExitCode> {
    let filters = filter_map(&args.filters);
    let options = ListNetworksOptions {
        filters: (!filters.is_empty()).then_some(filters),
    };
    let networks = client.docker.list_networks(Some(options)).await?;
    let values: Vec<Value> = networks
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let text = render_ls(values, args)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Rows sorted by name, as the docker CLI sorts them.
fn render_ls(mut networks: Vec<Value>, args: &NetworkLsArgs) -> Result<String> {
    let name = |v: &Value| v["Name"].as_str().unwrap_or_default().to_string();
    networks.sort_by_key(name);
    let rows: Vec<Value> = networks.iter().map(|n| ls_row(n, !args.no_trunc)).collect();
    if args.quiet {
        return Ok(rows
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or_default()))
            .collect());
    }
    ListFormat::parse(args.format.as_deref(), DEFAULT_TABLE)?.render(TITLES, &rows)
}

/// `key=value` for each entry of a JSON object of strings (labels, options).
fn key_values(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn ls_row(n: &Value, trunc: bool) -> Value {
    let text = |key: &str| n[key].as_str().unwrap_or_default().to_string();
    let flag = |key: &str| n[key].as_bool().unwrap_or(false).to_string();
    let id = text("Id");
    let mut labels = key_values(&n["Labels"]);
    labels.sort();
    let created = chrono::DateTime::parse_from_rfc3339(&text("Created"))
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S%.f +0000 UTC")
                .to_string()
        })
        .unwrap_or_default();
    json!({
        "ID": if trunc { short_id(&id).to_string() } else { id },
        "Name": text("Name"),
        "Driver": text("Driver"),
        "Scope": text("Scope"),
        "IPv4": n["EnableIPv4"].as_bool().unwrap_or(true).to_string(),
        "IPv6": flag("EnableIPv6"),
        "Internal": flag("Internal"),
        "Labels": labels.join(","),
        "CreatedAt": created,
        "Endpoints": n["SiloEndpointCount"].as_u64().map(|c| c.to_string()).unwrap_or_default(),
    })
}

// ---- inspect -------------------------------------------------------------------------------------

async fn inspect(client: &Client, args: &NetworkInspectArgs) -> Result<ExitCode> {
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(t) => Some(Template::parse(t)?),
    };
    let plain_host_view = args.host_view && args.format.is_none();
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.networks {
        // The daemon's JSON as it came, so silo's fields survive.
        let path = if args.host_view {
            format!("/silo/networks/{}/host-view", path_ref(name))
        } else {
            let verbose = if args.verbose { "?verbose=1" } else { "" };
            format!("/networks/{}{verbose}", path_ref(name))
        };
        match client.raw_json(path).await {
            Ok(v) => found.push(v),
            Err(e) => {
                failed = true;
                report::daemon_error(&e);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match template {
        None if plain_host_view => {
            let views: Vec<String> = found.iter().map(host_view_text).collect();
            out.write_all(views.join("\n").as_bytes())?;
        }
        None => writeln!(out, "{}", pretty_json(&found)?)?,
        Some(t) => {
            for v in &found {
                writeln!(out, "{}", t.execute(v)?)?;
            }
        }
    }
    if failed {
        return Err(StatusError::silent(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /silo/networks/{id}/host-view` as `Get-HnsNetwork` lays a network out: the facts, then
/// tables of subnets, endpoints and host objects.
fn host_view_text(view: &Value) -> String {
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) if s.is_empty() => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let n = &view["network"];
    let endpoints = view["endpoints"].as_array().cloned().unwrap_or_default();
    let objects = view["host_objects"].as_array().cloned().unwrap_or_default();
    let mut out = String::new();
    let mut fact = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    fact("Name:", s(&n["name"]));
    fact("Id:", s(&n["id"]));
    fact("Type:", s(&n["driver"]));
    fact("Interface:", s(&n["interface"]));
    fact("Internal:", s(&n["internal"]));
    fact("IPv6:", s(&n["enable_ipv6"]));
    fact("Default:", s(&n["default"]));
    fact("Created:", s(&n["created"]));
    fact(
        "MAC pool:",
        format!(
            "{} - {}",
            s(&n["mac_pool"]["start"]),
            s(&n["mac_pool"]["end"])
        ),
    );
    let pairs = |v: &Value| -> String {
        let joined = key_values(v);
        if joined.is_empty() {
            "-".to_string()
        } else {
            joined.join(",")
        }
    };
    fact("Options:", pairs(&n["options"]));
    fact("Labels:", pairs(&n["labels"]));
    fact("Endpoint count:", endpoints.len().to_string());

    let indent = |table: &Table| -> String {
        table
            .render()
            .lines()
            .map(|l| format!("  {}\n", l.trim_end()))
            .collect()
    };
    let mut subnets = Table::new(&["PREFIX", "GATEWAY", "RANGE"]);
    for sub in n["subnets"].as_array().into_iter().flatten() {
        subnets.row(vec![
            s(&sub["subnet"]),
            s(&sub["gateway"]),
            s(&sub["ip_range"]),
        ]);
    }
    out.push_str("Subnets:\n");
    out.push_str(&indent(&subnets));

    let mut eps = Table::new(&[
        "CONTAINER",
        "INTERFACE",
        "IPV4",
        "IPV6",
        "MAC",
        "PORTS",
        "ENDPOINT",
    ]);
    for e in &endpoints {
        let ports: Vec<String> = e["policies"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let host_ip = p["host_ip"].as_str().unwrap_or("0.0.0.0");
                format!(
                    "{host_ip}:{}->{}/{}",
                    p["host_port"],
                    p["container_port"],
                    p["protocol"].as_str().unwrap_or("tcp")
                )
            })
            .collect();
        let container = format!(
            "{} ({})",
            s(&e["container_name"]),
            short_id(e["container_id"].as_str().unwrap_or_default())
        );
        eps.row(vec![
            container,
            s(&e["ifname"]),
            s(&e["ipv4"]),
            s(&e["ipv6"]),
            s(&e["mac"]),
            if ports.is_empty() {
                "-".to_string()
            } else {
                ports.join(", ")
            },
            short_id(e["id"].as_str().unwrap_or_default()).to_string(),
        ]);
    }
    out.push_str("Endpoints:\n");
    out.push_str(&indent(&eps));

    let mut objs = Table::new(&["KIND", "NAME", "PRESENT", "DETAIL"]);
    for o in &objects {
        let present = if o["present"].as_bool().unwrap_or(false) {
            "yes"
        } else {
            "NO"
        };
        objs.row(vec![
            s(&o["kind"]),
            s(&o["name"]),
            present.to_string(),
            s(&o["detail"]),
        ]);
    }
    out.push_str("Host objects:\n");
    out.push_str(&indent(&objs));
    out
}

// ---- rm, connect, disconnect, prune --------------------------------------------------------------

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

async fn rm(client: &Client, args: &NetworkRmArgs) -> Result<ExitCode> {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for name in &args.networks {
        match client.docker.remove_network(name).await {
            Ok(()) => writeln!(out, "{name}")?,
            Err(e) if args.force && is_not_found(&e) => {}
            Err(e) => {
                failed = true;
                report::daemon_error(&e.into());
            }
        }
    }
    if failed {
        return Err(StatusError::silent(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn connect_request(args: &NetworkConnectArgs) -> Result<NetworkConnectRequest> {
    let ipv4 = match args.ip {
        Some(IpAddr::V6(ip)) => bail!("invalid IPv4 address: {ip}"),
        other => other.map(|ip| ip.to_string()),
    };
    let ipv6 = match args.ip6 {
        Some(IpAddr::V4(ip)) => bail!("invalid IPv6 address: {ip}"),
        other => other.map(|ip| ip.to_string()),
    };
    let ipam_config = (ipv4.is_some() || ipv6.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: ipv4,
        ipv6_address: ipv6,
        ..Default::default()
    });
    Ok(NetworkConnectRequest {
        container: args.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config,
            aliases: Some(args.aliases.clone()).filter(|a| !a.is_empty()),
            driver_opts: Some(args.driver_opts.iter().cloned().collect::<HashMap<_, _>>())
                .filter(|o| !o.is_empty()),
            ..Default::default()
        }),
    })
}

async fn connect(client: &Client, args: &NetworkConnectArgs) -> Result<ExitCode> {
    client
        .docker
        .connect_network(&args.network, connect_request(args)?)
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn disconnect(client: &Client, args: &NetworkDisconnectArgs) -> Result<ExitCode> {
    let request = NetworkDisconnectRequest {
        container: args.container.clone(),
        force: Some(args.force),
    };
    client
        .docker
        .disconnect_network(&args.network, request)
        .await?;
    Ok(ExitCode::SUCCESS)
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ";

async fn prune(client: &Client, args: &NetworkPruneArgs) -> Result<ExitCode> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(ExitCode::SUCCESS);
    }
    let filters = filter_map(&args.filters);
    let options = PruneNetworksOptions {
        filters: (!filters.is_empty()).then_some(filters),
    };
    let report = client.docker.prune_networks(Some(options)).await?;
    let deleted = report.networks_deleted.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Networks:")?;
        for name in &deleted {
            writeln!(out, "{name}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
