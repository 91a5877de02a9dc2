//! Calls to the standard CNI plugins (`/usr/lib/cni`, Debian package
//! `containernetworking-plugins`) without libcni: the plugin binary is run with the network
//! configuration on stdin and the CNI_* variables in its environment, as the CNI spec
//! describes. silo does its own IPAM, so every configuration uses the `static` IPAM plugin
//! with the addresses the service allocated.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{netns, HostError};

/// The CNI spec version silo speaks.
pub const CNI_VERSION: &str = "1.0.0";

/// Where Debian installs the plugins.
pub const DEFAULT_PLUGIN_DIR: &str = "/usr/lib/cni";

/// The plugins silo's drivers use.
const REQUIRED_PLUGINS: [&str; 4] = ["bridge", "macvlan", "ipvlan", "static"];

/// The CNI plugins in one directory.
#[derive(Debug, Clone)]
pub struct Cni {
    plugin_dir: PathBuf,
}

/// One interface to add to (or delete from) a container's network namespace.
#[derive(Debug, Clone)]
pub struct CniAttachment {
    pub container_id: String,
    pub netns: PathBuf,
    /// The interface's name inside the namespace (`eth0`).
    pub ifname: String,
    /// A network configuration, e.g. from [`bridge_config`].
    pub config: Value,
}

/// The result of an ADD (the parts of the spec's result the service uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<CniInterface>,
    #[serde(default)]
    pub ips: Vec<CniIp>,
}

/// An interface the plugin created or touched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CniInterface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    /// The namespace path for interfaces inside the container; `None` on the host side.
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// An address the plugin configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CniIp {
    pub address: IpNet,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Index into [`CniResult::interfaces`].
    #[serde(default)]
    pub interface: Option<usize>,
}

/// The spec's error object, printed on stdout with a non-zero exit.
#[derive(Debug, Deserialize)]
struct CniErrorReply {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

impl Default for Cni {
    fn default() -> Self {
        Cni::new(DEFAULT_PLUGIN_DIR)
    }
}

impl Cni {
    pub fn new(plugin_dir: impl Into<PathBuf>) -> Self {
        Cni {
            plugin_dir: plugin_dir.into(),
        }
    }

    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// Fails, naming the Debian package, unless every plugin silo's drivers use is present.
    pub fn check_installed(&self) -> Result<(), HostError> {
        let missing: Vec<&str> = REQUIRED_PLUGINS
            .iter()
            .copied()
            .filter(|p| !is_executable(&self.plugin_dir.join(p)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(HostError::NotInstalled {
            what: format!(
                "CNI plugin(s) {} in {}",
                missing.join(", "),
                self.plugin_dir.display()
            ),
            hint: "install the Debian package containernetworking-plugins \
                   (apt-get install containernetworking-plugins)"
                .to_string(),
        })
    }

    /// Adds the interface. An interface of that name already in the namespace (a retried or
    /// repeated ADD) is replaced; a failed ADD is followed by a DEL so no veth or address is
    /// left behind.
    pub async fn add(&self, att: &CniAttachment) -> Result<CniResult, HostError> {
        let out = match self.exec("ADD", att, &att.netns).await {
            Err(e) if is_already_exists(&e) => {
                self.del(att).await?;
                self.exec("ADD", att, &att.netns).await
            }
            other => other,
        };
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                if let Err(cleanup) = self.del(att).await {
                    tracing::warn!("cleaning up after failed CNI ADD: {cleanup}");
                }
                return Err(e);
            }
        };
        serde_json::from_str(&out).map_err(|e| {
            HostError::invalid(
                "parse CNI result for",
                attachment_name(att),
                format!("{e}: {out}"),
            )
        })
    }

    /// Deletes the interface. Succeeds when the namespace or the interface is already gone
    /// (the plugins treat a DEL without a namespace as "nothing to undo in it").
    pub async fn del(&self, att: &CniAttachment) -> Result<(), HostError> {
        // A path that is no namespace (removed, or never mounted) would make the plugin fail
        // to open it; the spec lets DEL run without one.
        let netns = if netns::is_netns(&att.netns) {
            att.netns.as_path()
        } else {
            Path::new("")
        };
        self.exec("DEL", att, netns).await.map(drop)
    }

    /// Runs the plugin named by the configuration's `type` and returns its stdout.
    async fn exec(
        &self,
        command: &'static str,
        att: &CniAttachment,
        netns: &Path,
    ) -> Result<String, HostError> {
        use tokio::io::AsyncWriteExt;

        let action = match command {
            "ADD" => "add CNI interface",
            "DEL" => "delete CNI interface",
            _ => "check CNI interface",
        };
        let object = attachment_name(att);
        let plugin = att.config["type"]
            .as_str()
            .filter(|t| !t.is_empty() && !t.contains('/'))
            .ok_or_else(|| {
                HostError::invalid(action, &object, "configuration has no plugin type")
            })?;
        let binary = self.plugin_dir.join(plugin);
        if !is_executable(&binary) {
            return Err(HostError::NotInstalled {
                what: format!("CNI plugin {}", binary.display()),
                hint: "install the Debian package containernetworking-plugins".to_string(),
            });
        }
        let stdin = serde_json::to_vec(&att.config)
            .map_err(|e| HostError::invalid(action, &object, e.to_string()))?;

        let mut child = tokio::process::Command::new(&binary)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &att.container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", &att.ifname)
            .env("CNI_PATH", &self.plugin_dir)
            .env_remove("CNI_ARGS")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HostError::io(action, &object, e))?;
        if let Some(mut pipe) = child.stdin.take() {
            let _ = pipe.write_all(&stdin).await;
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| HostError::io(action, &object, e))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        match serde_json::from_str::<CniErrorReply>(&stdout) {
            Ok(reply) if !reply.msg.is_empty() => Err(HostError::Cni {
                action,
                object,
                plugin: plugin.to_string(),
                code: reply.code,
                msg: reply.msg,
                details: reply.details,
            }),
            _ => Err(HostError::Command {
                action,
                object,
                command: binary.display().to_string(),
                stderr: if stderr.is_empty() {
                    format!("exited with {}: {}", output.status, stdout.trim())
                } else {
                    stderr
                },
            }),
        }
    }
}

fn attachment_name(att: &CniAttachment) -> String {
    format!(
        "{} in {} (container {})",
        att.ifname,
        att.netns.display(),
        att.container_id
    )
}

/// The plugins say "already exists" for an interface name taken in the namespace.
fn is_already_exists(e: &HostError) -> bool {
    matches!(e, HostError::Cni { msg, details, .. } if msg.contains("already exists") || details.contains("already exists"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Configuration for a veth into host bridge `bridge`. The bridge already holds the gateway
/// address (the plugin's `isGateway` finds it there and leaves it); masquerade is silo's, in
/// nftables, so `ipMasq` is off. `default_route` is false for internal networks.
pub fn bridge_config(
    network_name: &str,
    bridge: &str,
    addrs: &[(IpNet, Option<IpAddr>)],
    default_route: bool,
    mac: Option<&str>,
) -> Value {
    let mut config = json!({
        "cniVersion": CNI_VERSION,
        "name": network_name,
        "type": "bridge",
        "bridge": bridge,
        "isGateway": true,
        "ipMasq": false,
        "hairpinMode": true,
        "ipam": static_ipam(addrs, default_route),
    });
    set_mac(&mut config, mac);
    config
}

/// Configuration for a macvlan (bridge mode) interface on host link `parent`.
pub fn macvlan_config(
    network_name: &str,
    parent: &str,
    addrs: &[(IpNet, Option<IpAddr>)],
    default_route: bool,
    mac: Option<&str>,
) -> Value {
    let mut config = json!({
        "cniVersion": CNI_VERSION,
        "name": network_name,
        "type": "macvlan",
        "master": parent,
        "mode": "bridge",
        "ipam": static_ipam(addrs, default_route),
    });
    set_mac(&mut config, mac);
    config
}

/// Configuration for an ipvlan (L2 mode) interface on host link `parent`; ipvlan interfaces
/// share the parent's MAC, so there is none to choose.
pub fn ipvlan_config(
    network_name: &str,
    parent: &str,
    addrs: &[(IpNet, Option<IpAddr>)],
    default_route: bool,
) -> Value {
    json!({
        "cniVersion": CNI_VERSION,
        "name": network_name,
        "type": "ipvlan",
        "master": parent,
        "mode": "l2",
        "ipam": static_ipam(addrs, default_route),
    })
}

/// The container interface's MAC goes in `runtimeConfig.mac` (the `mac` capability libcni
/// would fill in): plugins 1.1 read it there, while the bridge plugin ignores a top-level
/// `mac`.
fn set_mac(config: &mut Value, mac: Option<&str>) {
    if let Some(mac) = mac {
        config["runtimeConfig"] = json!({ "mac": mac });
    }
}

/// `static` IPAM with the service's addresses; a default route per family that has a gateway
/// when `default_route`.
fn static_ipam(addrs: &[(IpNet, Option<IpAddr>)], default_route: bool) -> Value {
    let addresses: Vec<Value> = addrs
        .iter()
        .map(|(address, gateway)| match gateway {
            Some(gw) => json!({"address": address.to_string(), "gateway": gw.to_string()}),
            None => json!({"address": address.to_string()}),
        })
        .collect();
    let mut routes = Vec::new();
    if default_route {
        let has_gw = |v4: bool| {
            addrs
                .iter()
                .any(|(a, gw)| a.addr().is_ipv4() == v4 && gw.is_some())
        };
        if has_gw(true) {
            routes.push(json!({"dst": "0.0.0.0/0"}));
        }
        if has_gw(false) {
            routes.push(json!({"dst": "::/0"}));
        }
    }
    json!({"type": "static", "addresses": addresses, "routes": routes})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> Vec<(IpNet, Option<IpAddr>)> {
        vec![(
            "10.77.0.2/24".parse().unwrap(),
            Some("10.77.0.1".parse().unwrap()),
        )]
    }

    #[test]
    fn bridge_config_has_static_ipam_and_default_route() {
        let mut addrs = v4();
        addrs.push((
            "fd00::2/64".parse().unwrap(),
            Some("fd00::1".parse().unwrap()),
        ));
        let c = bridge_config("net1", "silo1", &addrs, true, Some("02:42:0a:4d:00:02"));
        assert_eq!(c["cniVersion"], "1.0.0");
        assert_eq!(c["type"], "bridge");
        assert_eq!(c["bridge"], "silo1");
        assert_eq!(c["isGateway"], true);
        assert_eq!(c["ipMasq"], false);
        assert_eq!(c["hairpinMode"], true);
        assert_eq!(c["runtimeConfig"]["mac"], "02:42:0a:4d:00:02");
        assert_eq!(c["ipam"]["type"], "static");
        assert_eq!(
            c["ipam"]["addresses"],
            json!([
                {"address": "10.77.0.2/24", "gateway": "10.77.0.1"},
                {"address": "fd00::2/64", "gateway": "fd00::1"}
            ])
        );
        assert_eq!(
            c["ipam"]["routes"],
            json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}])
        );
    }

    #[test]
    fn internal_networks_get_no_route() {
        let c = bridge_config("int", "silo2", &v4(), false, None);
        assert_eq!(c["ipam"]["routes"], json!([]));
        assert!(c.get("runtimeConfig").is_none());
    }

    #[test]
    fn macvlan_and_ipvlan_modes() {
        let m = macvlan_config("t", "eth9", &v4(), true, None);
        assert_eq!(
            (m["type"].as_str(), m["mode"].as_str(), m["master"].as_str()),
            (Some("macvlan"), Some("bridge"), Some("eth9"))
        );
        let i = ipvlan_config("l", "eth9", &v4(), false);
        assert_eq!(
            (i["type"].as_str(), i["mode"].as_str()),
            (Some("ipvlan"), Some("l2"))
        );
        assert_eq!(i["ipam"]["routes"], json!([]));
    }

    #[test]
    fn result_parses() {
        let out = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"silo1","mac":"aa:bb:cc:dd:ee:ff"},
            {"name":"veth1","mac":"aa:bb:cc:dd:ee:00"},
            {"name":"eth0","mac":"02:42:0a:4d:00:02","sandbox":"/run/silo/netns/x"}],
            "ips":[{"interface":2,"address":"10.77.0.2/24","gateway":"10.77.0.1"}],
            "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#;
        let r: CniResult = serde_json::from_str(out).unwrap();
        assert_eq!(r.interfaces.len(), 3);
        assert_eq!(
            r.interfaces[2].sandbox.as_deref(),
            Some("/run/silo/netns/x")
        );
        assert_eq!(r.ips[0].interface, Some(2));
        assert_eq!(r.ips[0].gateway, Some("10.77.0.1".parse().unwrap()));
    }
}
