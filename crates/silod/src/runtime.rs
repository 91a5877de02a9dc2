//! Builds the compute service containers run on: the process backend, with its state under
//! `<data_root>/c`, the `silo-shim` binary installed next to `silod` and the static
//! `silo-init` that containers run as PID 1 (see [`init_path`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use silo_compute::host::CgroupInfo;
use silo_compute::process::{check_init_binary, ProcessComputeService};
use silo_engine::ContainerRuntime;
use silo_network::{NetworkConfig, NetworkService};

use crate::config::DaemonConfig;

/// The shim's executable name, looked up in `silod`'s own directory.
const SHIM_BINARY: &str = "silo-shim";
/// The init's executable name.
const INIT_BINARY: &str = "silo-init";
/// Where `scripts/setup.sh` installs the init.
pub const INSTALLED_INIT: &str = "/usr/local/lib/silo/silo-init";
/// `sun_path` holds 108 bytes including the NUL.
const MAX_SOCKET_PATH: usize = 107;
/// Length of a container id, which names each system's state directory.
const ID_LEN: usize = 64;

/// `<data_root>/c`: short on purpose, because every container's shim socket lives at
/// `<state_root>/<64-hex id>/{shim,attach}.sock` and must fit in `sun_path`.
pub fn state_root(data_root: &Path) -> Result<PathBuf> {
    let root = data_root.join("c");
    let socket_len = root.as_os_str().len() + 1 + ID_LEN + 1 + silo_shim::LONGEST_SOCKET_FILE;
    if socket_len > MAX_SOCKET_PATH {
        bail!(
            "data root {} is too long for container shim sockets ({socket_len} > {MAX_SOCKET_PATH} bytes); use a data root of at most {} bytes",
            data_root.display(),
            data_root.as_os_str().len() - (socket_len - MAX_SOCKET_PATH)
        );
    }
    Ok(root)
}

/// Where the init is looked for when `init-path` is not set, in order: beside `silod` (an
/// install that keeps them together), `<exe dir>/../init/release/silo-init` (so the repo's
/// `target/debug/silod` finds what `scripts/build-init.sh` built in `target/init/release`),
/// then [`INSTALLED_INIT`].
pub fn init_candidates(exe_dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![exe_dir.join(INIT_BINARY)];
    if let Some(target) = exe_dir.parent() {
        out.push(target.join("init").join("release").join(INIT_BINARY));
    }
    out.push(PathBuf::from(INSTALLED_INIT));
    out
}

/// The configured init, else the first default candidate that exists, else the installed
/// location (so errors name where it was expected). Logs a warning when the result cannot run
/// in containers; creates with init then fail naming the path, until it is installed.
pub fn init_path(configured: Option<&Path>, exe_dir: &Path) -> PathBuf {
    let candidates = init_candidates(exe_dir);
    let path = match configured {
        // The runtime resolves the bind source after entering the container's mount
        // namespace, where a relative path means nothing.
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
        None => candidates
            .iter()
            .find(|p| p.exists())
            .cloned()
            .unwrap_or_else(|| PathBuf::from(INSTALLED_INIT)),
    };
    match check_init_binary(&path) {
        Ok(()) => tracing::info!(init = %path.display(), "container init"),
        Err(e) if configured.is_none() => {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            tracing::warn!(
                "{e}; looked in {}: containers with init (the default) cannot be created until it is there",
                tried.join(", ")
            );
        }
        Err(e) => tracing::warn!(
            "{e}: containers with init (the default) cannot be created until it is fixed"
        ),
    }
    path
}

/// The container runtime, or `None` (containers unavailable, images still served) when the
/// host lacks what it needs: the shim binary or cgroups. `init` is the configured
/// `init-path`, if any.
pub async fn build(config: &DaemonConfig) -> Result<Option<ContainerRuntime>> {
    let data_root = config.data_root.as_path();
    let init = config.init_path.as_deref();
    let state_root = state_root(data_root)?;
    let exe = std::env::current_exe().context("find silod's own path")?;
    let shim = exe
        .parent()
        .map(|dir| dir.join(SHIM_BINARY))
        .unwrap_or_else(|| PathBuf::from(SHIM_BINARY));
    if !shim.is_file() {
        tracing::warn!("{} not found: containers are unavailable", shim.display());
        return Ok(None);
    }
    let cgroups = match CgroupInfo::detect() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cgroups: {e}: containers are unavailable");
            return Ok(None);
        }
    };
    let init = init_path(init, exe.parent().unwrap_or(Path::new("/")));
    let service = ProcessComputeService::new(state_root.clone(), shim, init, cgroups)
        .with_context(|| format!("create container state root {}", state_root.display()))?;
    Ok(Some(ContainerRuntime {
        compute: Arc::new(service),
        state_root,
        network: network_service(config).await,
    }))
}

/// The network service, or `None` (containers get `--network none` and `host` only) when the
/// host lacks what it needs (CNI plugins, nftables); the log says which.
async fn network_service(config: &DaemonConfig) -> Option<NetworkService> {
    let mut net = NetworkConfig::new(&config.data_root);
    net.netns_dir = config.exec_root.join("netns");
    net.default_bridge = config.bridge.clone();
    if config.bridge != crate::config::DEFAULT_BRIDGE {
        net.nft_table = format!("silo_{}", config.bridge.replace('-', "_"));
    }
    if let Some((base, size)) = config.address_pool {
        net.address_pool = base;
        net.pool_size = size;
    }
    if let Some(bip) = config.bip {
        net.default_subnet = Some(bip.trunc());
        net.default_gateway = Some(bip.addr());
    }
    match NetworkService::open(net).await {
        Ok(service) => Some(service),
        Err(e) => {
            tracing::warn!("network service: {e}: containers get --network none and host only");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_data_root_is_refused_with_the_limit() {
        assert!(state_root(Path::new("/var/lib/silo")).is_ok());
        let long = PathBuf::from(format!("/{}", "x".repeat(60)));
        let err = state_root(&long).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn the_init_is_found_beside_silod_then_in_the_repo_build_then_installed() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("debug");
        std::fs::create_dir(&bin).unwrap();
        assert_eq!(
            init_candidates(&bin),
            vec![
                bin.join("silo-init"),
                dir.path().join("init/release/silo-init"),
                PathBuf::from(INSTALLED_INIT),
            ]
        );
        let repo_build = dir.path().join("init/release/silo-init");
        std::fs::create_dir_all(repo_build.parent().unwrap()).unwrap();
        std::fs::write(&repo_build, b"").unwrap();
        assert_eq!(init_path(None, &bin), repo_build);
        std::fs::write(bin.join("silo-init"), b"").unwrap();
        assert_eq!(init_path(None, &bin), bin.join("silo-init"));
        // An explicit init-path wins, even when it does not exist (the warning names it).
        let explicit = Path::new("/nowhere/silo-init");
        assert_eq!(init_path(Some(explicit), &bin), explicit);
    }
}
