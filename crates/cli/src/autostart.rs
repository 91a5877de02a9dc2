//! Starting `silod` when `silo` finds nobody on the default socket (root only; see `connect`).
//!
//! The daemon must outlive this short-lived client and not share its terminal: it gets its own
//! session, `/dev/null` as stdin and a log file for output, the way a service manager would.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bollard::Docker;

use crate::connect::{try_connect, Endpoint};

const LOG_DIR: &str = "/var/log/silo";
const LOG_FILE: &str = "/var/log/silo/silod.log";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Spawns silod and waits until it answers `/_ping`.
pub async fn start_and_wait(endpoint: &Endpoint) -> Result<Docker> {
    let silod = find_silod().ok_or_else(|| {
        anyhow!("no daemon is running and no silod binary was found next to silo or in PATH")
    })?;
    let mut child = spawn_detached(&silod)?;
    let pid = child.id();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(docker) = try_connect(endpoint).await {
            eprintln!("silo: no daemon was running; started silod (pid {pid}, log {LOG_FILE})");
            return Ok(docker);
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "started {} (pid {pid}) but it exited with {status}; see {LOG_FILE}",
                silod.display()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "started {} (pid {pid}) but it did not answer /_ping within {}s; see {LOG_FILE}",
                silod.display(),
                STARTUP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `silod` next to the running `silo` (an unpacked release or `target/debug`), else in `PATH`.
pub fn find_silod() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("silod")));
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside
        .into_iter()
        .chain(std::env::split_paths(&path).map(|dir| dir.join("silod")))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn spawn_detached(silod: &Path) -> Result<std::process::Child> {
    fs::create_dir_all(LOG_DIR).with_context(|| format!("create {LOG_DIR}"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG_FILE)
        .with_context(|| format!("open {LOG_FILE}"))?;
    let log_err = log.try_clone().with_context(|| format!("dup {LOG_FILE}"))?;
    let mut cmd = Command::new(silod);
    cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
    // SAFETY: the closure runs in the forked child before exec and only calls setsid(2), which is
    // async-signal-safe and touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
        .with_context(|| format!("start {}", silod.display()))
}
