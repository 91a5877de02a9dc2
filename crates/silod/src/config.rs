//! The daemon's configuration: `daemon.json` plus dockerd-compatible flags.
//!
//! As with dockerd, a directive given both as a flag and in the file is an error rather than a
//! silent override, so what runs is never a surprise.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

pub const DEFAULT_SOCKET: &str = "/run/silo/silo.sock";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/silo";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/silo/daemon.json";
pub const DEFAULT_PIDFILE: &str = "/run/silo/silod.pid";
pub const DEFAULT_BRIDGE: &str = "silo0";
pub const DEFAULT_EXEC_ROOT: &str = "/run/silo";

/// silod's command line (dockerd's names for the same settings).
#[derive(Debug, Parser, Default)]
#[command(
    name = "silod",
    version,
    about = "The silo daemon: the Docker Engine API on silo's services"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port (repeatable).
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Daemon configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// Path of the pid file.
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Registry reached over plain HTTP (host:port or CIDR; repeatable).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Registry mirror for Docker Hub (repeatable).
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Runtime options, e.g. isolation=process|hyperv (repeatable).
    #[arg(long = "exec-opt")]
    pub exec_opts: Vec<String>,
    /// Use TLS on TCP listeners (implied by --tlsverify).
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and require clients to present a certificate signed by --tlscacert.
    #[arg(long)]
    pub tlsverify: bool,
    /// CA that client certificates must be signed by.
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Server certificate.
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Server key.
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// Allow a TCP listener on a loopback address without TLS (any local user can then drive
    /// the daemon, which is root on this host).
    #[arg(long)]
    pub allow_insecure_loopback_tcp: bool,
    /// Log level: error, warn, info, debug, trace.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// The static init run as PID 1 of containers with init (silo's default; Docker's
    /// --init). Default: silo-init beside silod, then ../init/release/silo-init (a repo build,
    /// see scripts/build-init.sh), then /usr/local/lib/silo/silo-init.
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// Default log driver of containers; silo writes json-file logs only.
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Default json-file log options of containers: max-size=10m, max-file=3 (repeatable).
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// The default network's bridge (default silo0). Its nftables table is `silo`, or
    /// `silo_<bridge>` for any other bridge, so several daemons can share a host.
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// The default network's gateway and prefix, e.g. 10.200.0.1/24 (default: a free /20 of
    /// 10.210.0.0/15).
    #[arg(long)]
    pub bip: Option<String>,
    /// Root of the daemon's runtime state (network namespaces); default /run/silo.
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Where subnets of networks created without --subnet come from, Docker's form:
    /// base=10.210.0.0/15,size=24.
    #[arg(long)]
    pub default_address_pool: Option<String>,
}

/// `daemon.json`, with Docker's key names.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub hosts: Vec<String>,
    pub data_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    #[serde(default)]
    pub exec_opts: Vec<String>,
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub log_level: Option<String>,
    pub init_path: Option<PathBuf>,
    pub log_driver: Option<String>,
    #[serde(default)]
    pub log_opts: std::collections::BTreeMap<String, String>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub exec_root: Option<PathBuf>,
    #[serde(default)]
    pub default_address_pools: Vec<AddressPool>,
}

/// One entry of daemon.json's `default-address-pools`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

/// Where and how to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// TLS material for TCP listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub verify_clients: bool,
}

/// The validated, merged configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub hosts: Vec<Host>,
    pub data_root: PathBuf,
    pub pidfile: PathBuf,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub default_isolation: String,
    pub tls: Option<Tls>,
    pub log_level: String,
    /// `init-path` when set; otherwise the runtime looks in its default places.
    pub init_path: Option<PathBuf>,
    /// `log-opts`: defaults for every container's `--log-opt` (`max-size`, `max-file`).
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// `bridge`: the default network's bridge.
    pub bridge: String,
    /// `bip`: the default network's gateway address with its prefix length.
    pub bip: Option<ipnet::IpNet>,
    /// `exec-root`: runtime state (network namespace files).
    pub exec_root: PathBuf,
    /// `default-address-pools` (the first): base prefix and the size of each network's.
    pub address_pool: Option<(ipnet::Ipv4Net, u8)>,
}

impl FileConfig {
    /// Reads `path`; a missing default file is an empty configuration, a missing explicit one
    /// is an error.
    pub fn read(path: &Path, explicit: bool) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("invalid configuration file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("read configuration file {}", path.display())),
        }
    }
}

/// Merges flags and file, refusing a directive set in both.
pub fn merge(flags: Flags, file: FileConfig) -> Result<DaemonConfig> {
    let mut conflicts = Vec::new();
    let mut both = |name: &str, flag: bool, file: bool| {
        if flag && file {
            conflicts.push(name.to_string());
        }
    };
    both("hosts", !flags.hosts.is_empty(), !file.hosts.is_empty());
    both(
        "data-root",
        flags.data_root.is_some(),
        file.data_root.is_some(),
    );
    both("pidfile", flags.pidfile.is_some(), file.pidfile.is_some());
    both(
        "insecure-registries",
        !flags.insecure_registries.is_empty(),
        !file.insecure_registries.is_empty(),
    );
    both(
        "registry-mirrors",
        !flags.registry_mirrors.is_empty(),
        !file.registry_mirrors.is_empty(),
    );
    both(
        "exec-opts",
        !flags.exec_opts.is_empty(),
        !file.exec_opts.is_empty(),
    );
    both("tlsverify", flags.tlsverify, file.tlsverify.is_some());
    both(
        "tlscacert",
        flags.tlscacert.is_some(),
        file.tlscacert.is_some(),
    );
    both("tlscert", flags.tlscert.is_some(), file.tlscert.is_some());
    both("tlskey", flags.tlskey.is_some(), file.tlskey.is_some());
    both(
        "log-level",
        flags.log_level.is_some(),
        file.log_level.is_some(),
    );
    both(
        "init-path",
        flags.init_path.is_some(),
        file.init_path.is_some(),
    );
    both(
        "log-opts",
        !flags.log_opts.is_empty(),
        !file.log_opts.is_empty(),
    );
    both(
        "log-driver",
        flags.log_driver.is_some(),
        file.log_driver.is_some(),
    );
    both("bridge", flags.bridge.is_some(), file.bridge.is_some());
    both(
        "default-address-pools",
        flags.default_address_pool.is_some(),
        !file.default_address_pools.is_empty(),
    );
    both("bip", flags.bip.is_some(), file.bip.is_some());
    both(
        "exec-root",
        flags.exec_root.is_some(),
        file.exec_root.is_some(),
    );
    if !conflicts.is_empty() {
        bail!(
            "the following directives are specified both as a flag and in the configuration file: {} (from {})",
            conflicts.join(", "),
            flags.config_file.display()
        );
    }
    let or = |a: Vec<String>, b: Vec<String>| if a.is_empty() { b } else { a };
    let raw_hosts = or(flags.hosts, file.hosts);
    let raw_hosts = if raw_hosts.is_empty() {
        vec![format!("unix://{DEFAULT_SOCKET}")]
    } else {
        raw_hosts
    };
    let hosts = raw_hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<Result<Vec<_>>>()?;
    let default_isolation = isolation_from(&or(flags.exec_opts, file.exec_opts))?;
    let verify = flags.tlsverify || file.tlsverify.unwrap_or(false);
    let use_tls = verify || flags.tls || file.tls.unwrap_or(false);
    let tls = if use_tls {
        let cert = flags
            .tlscert
            .or(file.tlscert)
            .context("TLS needs --tlscert")?;
        let key = flags.tlskey.or(file.tlskey).context("TLS needs --tlskey")?;
        let ca = flags.tlscacert.or(file.tlscacert);
        if verify && ca.is_none() {
            bail!("--tlsverify needs --tlscacert: client certificates are checked against it");
        }
        Some(Tls {
            ca,
            cert,
            key,
            verify_clients: verify,
        })
    } else {
        None
    };
    check_tcp_exposure(&hosts, tls.as_ref(), flags.allow_insecure_loopback_tcp)?;
    match flags.log_driver.as_deref().or(file.log_driver.as_deref()) {
        None | Some("json-file") => {}
        Some(other) => bail!("unsupported log-driver {other:?}: silo writes json-file logs"),
    }
    let log_opts = if flags.log_opts.is_empty() {
        file.log_opts.clone()
    } else {
        flags
            .log_opts
            .iter()
            .map(|o| match o.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => bail!("invalid --log-opt {o:?}: expected key=value"),
            })
            .collect::<Result<_>>()?
    };
    for (key, value) in &log_opts {
        match key.as_str() {
            "max-size" => {
                silo_shim::logs::parse_size(value)
                    .with_context(|| format!("invalid log-opts max-size {value:?}"))?;
            }
            "max-file" => {
                if !value.parse::<u32>().is_ok_and(|n| n >= 1) {
                    bail!("invalid log-opts max-file {value:?}: expected a positive integer");
                }
            }
            other => bail!("unsupported log-opt {other:?} (json-file supports max-size, max-file)"),
        }
    }
    let bridge = flags
        .bridge
        .or(file.bridge)
        .unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ']) {
        bail!("invalid bridge name {bridge:?}: 1 to 15 characters, no '/' or spaces");
    }
    let bip = match flags.bip.or(file.bip) {
        None => None,
        Some(raw) => Some(raw.parse::<ipnet::IpNet>().with_context(|| {
            format!("invalid bip {raw:?}: expected an address with its prefix, e.g. 10.200.0.1/24")
        })?),
    };
    let pool = match (
        &flags.default_address_pool,
        file.default_address_pools.first(),
    ) {
        (Some(flag), _) => Some(parse_address_pool(flag)?),
        (None, Some(p)) => Some(parse_address_pool(&format!(
            "base={},size={}",
            p.base, p.size
        ))?),
        (None, None) => None,
    };
    Ok(DaemonConfig {
        address_pool: pool,
        bridge,
        bip,
        exec_root: flags
            .exec_root
            .or(file.exec_root)
            .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into()),
        hosts,
        data_root: flags
            .data_root
            .or(file.data_root)
            .unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
        pidfile: flags
            .pidfile
            .or(file.pidfile)
            .unwrap_or_else(|| DEFAULT_PIDFILE.into()),
        insecure_registries: or(flags.insecure_registries, file.insecure_registries),
        registry_mirrors: or(flags.registry_mirrors, file.registry_mirrors),
        default_isolation,
        tls,
        log_level: flags
            .log_level
            .or(file.log_level)
            .unwrap_or_else(|| "info".into()),
        init_path: flags.init_path.or(file.init_path),
        log_opts,
    })
}

/// Docker's `base=10.210.0.0/15,size=24`.
fn parse_address_pool(raw: &str) -> Result<(ipnet::Ipv4Net, u8)> {
    let mut base = None;
    let mut size = None;
    for part in raw.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => {
                base = Some(v.parse::<ipnet::Ipv4Net>().with_context(|| {
                    format!("invalid default-address-pool base {v:?}: expected an IPv4 prefix")
                })?)
            }
            Some(("size", v)) => {
                size = Some(
                    v.parse::<u8>()
                        .with_context(|| format!("invalid default-address-pool size {v:?}"))?,
                )
            }
            _ => bail!("invalid default-address-pool {raw:?}: expected base=CIDR,size=N"),
        }
    }
    let (Some(base), Some(size)) = (base, size) else {
        bail!("invalid default-address-pool {raw:?}: expected base=CIDR,size=N");
    };
    if size < base.prefix_len() || size > 30 {
        bail!("invalid default-address-pool {raw:?}: size must be between the base's prefix length and 30");
    }
    Ok((base.trunc(), size))
}

/// `unix:///path`, `tcp://host:port` (dockerd also accepts a bare `/path` and `fd://`, not us).
pub fn parse_host(raw: &str) -> Result<Host> {
    if let Some(path) = raw.strip_prefix("unix://") {
        let path = if path.is_empty() {
            DEFAULT_SOCKET
        } else {
            path
        };
        return Ok(Host::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = raw.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("invalid -H {raw}: expected tcp://IP:PORT"))?;
        return Ok(Host::Tcp(addr));
    }
    bail!("invalid -H {raw}: expected unix:///path or tcp://IP:PORT")
}

/// TCP off loopback only with mutual TLS; loopback without TLS only when explicitly allowed.
fn check_tcp_exposure(hosts: &[Host], tls: Option<&Tls>, allow_loopback: bool) -> Result<()> {
    for host in hosts {
        let Host::Tcp(addr) = host else { continue };
        let mutual = tls.is_some_and(|t| t.verify_clients);
        if mutual {
            continue;
        }
        if !addr.ip().is_loopback() {
            bail!(
                "refusing to listen on tcp://{addr} without mutual TLS: anyone reaching it would be root on this host; use --tlsverify --tlscacert --tlscert --tlskey"
            );
        }
        if tls.is_none() && !allow_loopback {
            bail!(
                "refusing to listen on tcp://{addr} without TLS: every local user could drive the daemon; pass --allow-insecure-loopback-tcp to accept that"
            );
        }
    }
    Ok(())
}

fn isolation_from(exec_opts: &[String]) -> Result<String> {
    let mut isolation = "process".to_string();
    for opt in exec_opts {
        let (key, value) = opt
            .split_once('=')
            .with_context(|| format!("invalid exec-opt {opt:?}: expected key=value"))?;
        match (key.trim(), value.trim()) {
            ("isolation", "process" | "default") => isolation = "process".into(),
            ("isolation", "hyperv" | "vm") => isolation = "hyperv".into(),
            ("isolation", other) => {
                bail!("invalid isolation {other:?}: expected process or hyperv")
            }
            (other, _) => bail!("unsupported exec-opt {other:?} (supported: isolation)"),
        }
    }
    Ok(isolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("silod").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_listen_on_the_root_socket() {
        let c = merge(flags(&[]), FileConfig::default()).unwrap();
        assert_eq!(c.hosts, vec![Host::Unix(DEFAULT_SOCKET.into())]);
        assert_eq!(c.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(c.default_isolation, "process");
    }

    #[test]
    fn a_directive_in_both_places_is_an_error() {
        let file: FileConfig = serde_json::from_str(r#"{"data-root": "/x"}"#).unwrap();
        let err = merge(flags(&["--data-root", "/y"]), file).unwrap_err();
        assert!(err.to_string().contains("data-root"), "{err}");
    }

    #[test]
    fn file_keys_are_dockers() {
        let file: FileConfig = serde_json::from_str(
            r#"{"hosts": ["unix:///tmp/s.sock"], "insecure-registries": ["10.0.0.0/8"],
                "exec-opts": ["isolation=hyperv"]}"#,
        )
        .unwrap();
        let c = merge(flags(&[]), file).unwrap();
        assert_eq!(c.hosts, vec![Host::Unix("/tmp/s.sock".into())]);
        assert_eq!(c.insecure_registries, vec!["10.0.0.0/8"]);
        assert_eq!(c.default_isolation, "hyperv");
        assert!(serde_json::from_str::<FileConfig>(r#"{"no-such-key": 1}"#).is_err());
    }

    #[test]
    fn log_opts_are_dockers_and_validated() {
        let file: FileConfig = serde_json::from_str(
            r#"{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}"#,
        )
        .unwrap();
        let c = merge(flags(&[]), file).unwrap();
        assert_eq!(c.log_opts["max-size"], "10m");
        assert_eq!(c.log_opts["max-file"], "3");
        let c = merge(flags(&["--log-opt", "max-size=1k"]), FileConfig::default()).unwrap();
        assert_eq!(c.log_opts["max-size"], "1k");
        for bad in [
            r#"{"log-opts": {"max-size": "lots"}}"#,
            r#"{"log-opts": {"max-file": "0"}}"#,
            r#"{"log-opts": {"labels": "a"}}"#,
            r#"{"log-driver": "syslog"}"#,
        ] {
            let file: FileConfig = serde_json::from_str(bad).unwrap();
            assert!(merge(flags(&[]), file).is_err(), "{bad}");
        }
    }

    #[test]
    fn network_settings_come_from_flags_or_the_file() {
        let c = merge(flags(&[]), FileConfig::default()).unwrap();
        assert_eq!(c.bridge, DEFAULT_BRIDGE);
        assert_eq!((c.bip, c.address_pool), (None, None));
        assert_eq!(c.exec_root, PathBuf::from(DEFAULT_EXEC_ROOT));
        let c = merge(
            flags(&[
                "--bridge",
                "br1",
                "--bip",
                "10.200.0.1/24",
                "--default-address-pool",
                "base=10.201.0.0/16,size=26",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.bridge, "br1");
        assert_eq!(c.bip, Some("10.200.0.1/24".parse().unwrap()));
        assert_eq!(c.address_pool, Some(("10.201.0.0/16".parse().unwrap(), 26)));
        let file: FileConfig = serde_json::from_str(
            r#"{"default-address-pools": [{"base": "10.202.0.0/16", "size": 24}]}"#,
        )
        .unwrap();
        let c = merge(flags(&[]), file).unwrap();
        assert_eq!(c.address_pool, Some(("10.202.0.0/16".parse().unwrap(), 24)));
        for bad in [
            &["--bip", "10.200.0.1"][..],
            &["--bridge", "a-name-longer-than-15"],
            &["--default-address-pool", "base=10.0.0.0/16,size=8"],
            &["--default-address-pool", "10.0.0.0/16"],
        ] {
            assert!(merge(flags(bad), FileConfig::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn init_path_comes_from_the_flag_or_the_file_not_both() {
        assert_eq!(
            merge(flags(&[]), FileConfig::default()).unwrap().init_path,
            None
        );
        let file: FileConfig = serde_json::from_str(r#"{"init-path": "/opt/init"}"#).unwrap();
        let c = merge(flags(&[]), file).unwrap();
        assert_eq!(c.init_path, Some(PathBuf::from("/opt/init")));
        let c = merge(flags(&["--init-path", "/x/init"]), FileConfig::default()).unwrap();
        assert_eq!(c.init_path, Some(PathBuf::from("/x/init")));
        let file: FileConfig = serde_json::from_str(r#"{"init-path": "/opt/init"}"#).unwrap();
        let err = merge(flags(&["--init-path", "/x/init"]), file).unwrap_err();
        assert!(err.to_string().contains("init-path"), "{err}");
    }

    #[test]
    fn tcp_off_loopback_needs_mutual_tls() {
        let err = merge(flags(&["-H", "tcp://0.0.0.0:2376"]), FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("mutual TLS"), "{err}");
        let ok = merge(
            flags(&[
                "-H",
                "tcp://0.0.0.0:2376",
                "--tlsverify",
                "--tlscacert",
                "ca.pem",
                "--tlscert",
                "cert.pem",
                "--tlskey",
                "key.pem",
            ]),
            FileConfig::default(),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn loopback_tcp_without_tls_needs_explicit_consent() {
        assert!(merge(
            flags(&["-H", "tcp://127.0.0.1:2375"]),
            FileConfig::default()
        )
        .is_err());
        let c = merge(
            flags(&[
                "-H",
                "tcp://127.0.0.1:2375",
                "--allow-insecure-loopback-tcp",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.hosts, vec![Host::Tcp("127.0.0.1:2375".parse().unwrap())]);
    }

    #[test]
    fn bad_exec_opts_and_hosts_are_rejected() {
        assert!(merge(
            flags(&["--exec-opt", "isolation=magic"]),
            FileConfig::default()
        )
        .is_err());
        assert!(merge(
            flags(&["--exec-opt", "native.cgroupdriver=systemd"]),
            FileConfig::default()
        )
        .is_err());
        assert!(parse_host("http://x").is_err());
    }
}
