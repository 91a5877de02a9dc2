//! Which daemon to talk to, and getting a live connection to it.
//!
//! Host precedence is docker's, with silo's own variable first: `-H`, then `SILO_HOST`, then
//! `DOCKER_HOST`, then the default socket. Only when the *default* socket is silent (no flag, no
//! variable) and we are root do we start `silod` ourselves: an explicit host that does not answer
//! is the user's to fix, and a daemon started for a non-root user could not manage containers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bollard::{ClientVersion, Docker};

use crate::args::GlobalArgs;
use crate::autostart;

pub const DEFAULT_SOCKET: &str = "/run/silo/silo.sock";
pub const DEFAULT_HOST: &str = "unix:///run/silo/silo.sock";

/// Long transfers (pull, load, import) only answer once the daemon has read the whole body, so the
/// per-request timeout must be generous; liveness is checked separately with a short ping.
const REQUEST_TIMEOUT_SECS: u64 = 3600;
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The API version silod advertises; we negotiate down for older daemons.
const CLIENT_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 51,
};

/// Where the host string came from; only `Default` may trigger an autostart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource {
    Flag,
    SiloHostEnv,
    DockerHostEnv,
    Default,
}

/// Client TLS files (`--tlsverify`); the daemon's certificate is always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A validated daemon address: step two of argument parsing for the connection flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As the user would write it: `unix:///run/silo/silo.sock`, `tcp://host:2376`.
    pub host: String,
    pub source: HostSource,
    pub tls: Option<TlsFiles>,
}

/// Picks the host string by precedence; empty values count as unset, as in docker.
pub fn select_host(
    flag: Option<&str>,
    silo_host: Option<&str>,
    docker_host: Option<&str>,
) -> (String, HostSource) {
    let set = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(h) = set(flag) {
        (h, HostSource::Flag)
    } else if let Some(h) = set(silo_host) {
        (h, HostSource::SiloHostEnv)
    } else if let Some(h) = set(docker_host) {
        (h, HostSource::DockerHostEnv)
    } else {
        (DEFAULT_HOST.to_string(), HostSource::Default)
    }
}

impl Endpoint {
    /// Validates the connection flags against the environment `env` (injected for tests).
    pub fn from_args(args: &GlobalArgs, env: impl Fn(&str) -> Option<String>) -> Result<Endpoint> {
        let (host, source) = select_host(
            args.host.as_deref(),
            env("SILO_HOST").as_deref(),
            env("DOCKER_HOST").as_deref(),
        );
        let host = normalize_host(&host)?;
        let wants_tls = args.tls || args.tlsverify;
        let tls = if wants_tls {
            if !host.starts_with("tcp://") {
                bail!("--tls/--tlsverify need a tcp:// host, not {host}");
            }
            let dir = env("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".docker")))
                .unwrap_or_else(|| PathBuf::from(".docker"));
            Some(TlsFiles {
                ca: args.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
                cert: args.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem")),
                key: args.tlskey.clone().unwrap_or_else(|| dir.join("key.pem")),
            })
        } else {
            None
        };
        Ok(Endpoint { host, source, tls })
    }

    /// Whether silence here may be answered by starting silod.
    pub fn may_autostart(&self) -> bool {
        self.source == HostSource::Default
    }
}

/// Accepts `unix:///path`, `tcp://host:port` and docker's shorthands (`unix://` alone, a bare
/// `/path`, `tcp://host` without a port).
pub fn normalize_host(host: &str) -> Result<String> {
    if let Some(path) = host.strip_prefix("unix://") {
        let path = if path.is_empty() {
            DEFAULT_SOCKET
        } else {
            path
        };
        return Ok(format!("unix://{path}"));
    }
    if host.starts_with('/') {
        return Ok(format!("unix://{host}"));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() {
            bail!("invalid host {host:?}: missing address");
        }
        let has_port = addr
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !addr.ends_with(']');
        return Ok(if has_port {
            format!("tcp://{addr}")
        } else {
            format!("tcp://{addr}:2375")
        });
    }
    bail!("unsupported host {host:?}: silo speaks unix:///path and tcp://host:port")
}

/// A connection that answered `/_ping`.
#[derive(Debug, Clone)]
pub struct Client {
    pub docker: Docker,
}

/// Connects, starting silod first when allowed (see the module docs).
pub async fn connect(endpoint: Endpoint) -> Result<Client> {
    match try_connect(&endpoint).await {
        Ok(docker) => Ok(Client { docker }),
        Err(reason) if endpoint.may_autostart() && rustix::process::geteuid().is_root() => {
            let docker = autostart::start_and_wait(&endpoint)
                .await
                .with_context(|| {
                    format!("cannot connect to silod at {}: {reason}", endpoint.host)
                })?;
            Ok(Client { docker })
        }
        Err(reason) => bail!("cannot connect to silod at {}: {reason}", endpoint.host),
    }
}

/// One attempt: build the transport, ping, negotiate the API version. The error is a
/// human-readable reason.
pub async fn try_connect(endpoint: &Endpoint) -> Result<Docker, String> {
    let docker = transport(endpoint).map_err(|e| error_chain(&e))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Err(_) => return Err(format!("no answer to /_ping within {PING_TIMEOUT:?}")),
        Ok(Err(e)) => return Err(error_chain(&e)),
        Ok(Ok(_)) => {}
    }
    docker
        .negotiate_version()
        .await
        .map_err(|e| error_chain(&e))
}

fn transport(endpoint: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    let host = endpoint.host.as_str();
    match (&endpoint.tls, host.strip_prefix("unix://")) {
        (_, Some(_)) => Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, &CLIENT_API),
        (Some(tls), None) => Docker::connect_with_ssl(
            host,
            &tls.key,
            &tls.cert,
            &tls.ca,
            REQUEST_TIMEOUT_SECS,
            &CLIENT_API,
        ),
        (None, None) => Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, &CLIENT_API),
    }
}

/// The innermost cause: for connection failures that is the useful part ("Connection refused
/// (os error 111)"), under layers of "Error in the hyper legacy client: client error (Connect)".
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = err;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(host: Option<&str>) -> GlobalArgs {
        GlobalArgs {
            host: host.map(str::to_string),
            tls: false,
            tlsverify: false,
            tlscacert: None,
            tlscert: None,
            tlskey: None,
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn precedence_flag_silo_docker_default() {
        assert_eq!(
            select_host(Some("tcp://a:1"), Some("tcp://b:1"), Some("tcp://c:1")),
            ("tcp://a:1".into(), HostSource::Flag)
        );
        assert_eq!(
            select_host(None, Some("tcp://b:1"), Some("tcp://c:1")),
            ("tcp://b:1".into(), HostSource::SiloHostEnv)
        );
        assert_eq!(
            select_host(None, Some(""), Some("tcp://c:1")),
            ("tcp://c:1".into(), HostSource::DockerHostEnv)
        );
        assert_eq!(
            select_host(Some(" "), None, None),
            (DEFAULT_HOST.into(), HostSource::Default)
        );
    }

    #[test]
    fn only_the_default_may_autostart() {
        let e = Endpoint::from_args(&args(None), env(&[])).expect("valid");
        assert_eq!(e.host, DEFAULT_HOST);
        assert!(e.may_autostart());
        let e = Endpoint::from_args(&args(None), env(&[("DOCKER_HOST", "unix:///x.sock")]))
            .expect("valid");
        assert_eq!(e.host, "unix:///x.sock");
        assert!(!e.may_autostart());
        // Naming the default socket explicitly still counts as explicit.
        let e = Endpoint::from_args(&args(Some(DEFAULT_HOST)), env(&[])).expect("valid");
        assert!(!e.may_autostart());
    }

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(normalize_host("unix://").expect("ok"), DEFAULT_HOST);
        assert_eq!(
            normalize_host("/tmp/s.sock").expect("ok"),
            "unix:///tmp/s.sock"
        );
        assert_eq!(normalize_host("tcp://h").expect("ok"), "tcp://h:2375");
        assert_eq!(normalize_host("tcp://h:2376/").expect("ok"), "tcp://h:2376");
        assert!(normalize_host("ssh://h").is_err());
        assert!(normalize_host("tcp://").is_err());
    }

    #[test]
    fn tls_files_default_to_cert_path() {
        let mut a = args(Some("tcp://h:2376"));
        a.tlsverify = true;
        a.tlskey = Some("/k.pem".into());
        let e = Endpoint::from_args(&a, env(&[("DOCKER_CERT_PATH", "/certs")])).expect("valid");
        let tls = e.tls.expect("tls");
        assert_eq!(tls.ca, PathBuf::from("/certs/ca.pem"));
        assert_eq!(tls.cert, PathBuf::from("/certs/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/k.pem"));
        let mut a = args(None);
        a.tls = true;
        assert!(Endpoint::from_args(&a, env(&[])).is_err(), "tls over unix");
    }
}
