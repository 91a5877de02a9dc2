//! Builds the compute service containers run on: the process backend, with its state under
//! `<data_root>/c` and the `silo-shim` binary installed next to `silod`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use silo_compute::host::CgroupInfo;
use silo_compute::process::ProcessComputeService;
use silo_engine::ContainerRuntime;

/// The shim's executable name, looked up in `silod`'s own directory.
const SHIM_BINARY: &str = "silo-shim";
/// `sun_path` holds 108 bytes including the NUL.
const MAX_SOCKET_PATH: usize = 107;
/// Length of a container id, which names each system's state directory.
const ID_LEN: usize = 64;

/// `<data_root>/c`: short on purpose, because every container's shim socket lives at
/// `<state_root>/<64-hex id>/shim.sock` and must fit in `sun_path`.
pub fn state_root(data_root: &Path) -> Result<PathBuf> {
    let root = data_root.join("c");
    let socket_len = root.as_os_str().len() + 1 + ID_LEN + 1 + silo_shim::SOCKET_FILE.len();
    if socket_len > MAX_SOCKET_PATH {
        bail!(
            "data root {} is too long for container shim sockets ({socket_len} > {MAX_SOCKET_PATH} bytes); use a data root of at most {} bytes",
            data_root.display(),
            data_root.as_os_str().len() - (socket_len - MAX_SOCKET_PATH)
        );
    }
    Ok(root)
}

/// The container runtime, or `None` (containers unavailable, images still served) when the
/// host lacks what it needs: the shim binary or cgroups.
pub fn build(data_root: &Path) -> Result<Option<ContainerRuntime>> {
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
    let service = ProcessComputeService::new(state_root.clone(), shim, cgroups)
        .with_context(|| format!("create container state root {}", state_root.display()))?;
    Ok(Some(ContainerRuntime {
        compute: Arc::new(service),
        state_root,
    }))
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
}
