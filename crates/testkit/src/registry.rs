//! A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.
//!
//! Using the reference implementation rather than a mock means tests see real behaviours:
//! chunked uploads, `Docker-Content-Digest`, 401 challenges with htpasswd, manifest-list
//! validation. Each instance has its own port, config and storage in a temp dir.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::fixtures;
use crate::http;

/// How long a registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `docker-registry`; killed and its storage removed on drop.
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    addr: String,
    creds: Option<(String, String)>,
    // Declared last: dropped after the process is gone.
    dir: TempDir,
}

fn registry_bin() -> PathBuf {
    std::env::var_os("SILO_DOCKER_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"))
}

/// Picks a free loopback port. The port is released before the registry binds it, so
/// another process could take it in between; [`TestRegistry::try_start`] retries for that.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr().context("local_addr")?.port())
}

impl TestRegistry {
    /// Starts an open registry. Panics (with the registry log) if it cannot start.
    pub fn start() -> Self {
        Self::try_start(None).unwrap_or_else(|e| panic!("start docker-registry: {e:#}"))
    }

    /// Starts a registry that requires basic auth with `user`/`pass`.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Self {
        Self::try_start(Some((user, pass)))
            .unwrap_or_else(|e| panic!("start docker-registry with htpasswd: {e:#}"))
    }

    /// Starts a registry, optionally with htpasswd auth; retries on port races.
    pub fn try_start(creds: Option<(&str, &str)>) -> Result<Self> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(creds) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("docker-registry did not start")))
    }

    fn start_once(creds: Option<(&str, &str)>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("silo-registry-")
            .tempdir()
            .context("create registry temp dir")?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).context("create registry storage")?;
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: silo-testkit\n",
            storage.display()
        );
        if let Some((user, pass)) = creds {
            let htpasswd = dir.path().join("htpasswd");
            write_htpasswd(&htpasswd, user, pass)?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: silo-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).context("write registry config")?;

        let log_path = dir.path().join("registry.log");
        let log = File::create(&log_path).context("create registry log")?;
        let child = Command::new(registry_bin())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("clone log handle")?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "spawn {} (apt-get install docker-registry)",
                    registry_bin().display()
                )
            })?;
        let mut reg = TestRegistry {
            child,
            addr,
            creds: creds.map(|(u, p)| (u.to_string(), p.to_string())),
            dir,
        };
        if let Err(e) = reg.wait_ready() {
            bail!(
                "{e:#}\n--- registry log ({}) ---\n{}",
                log_path.display(),
                reg.log()
            );
        }
        Ok(reg)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("poll registry")? {
                bail!("docker-registry exited early: {status}");
            }
            if let Ok(r) = http::get_tcp(&self.addr, "/v2/", Duration::from_secs(2)) {
                if r.status == 200 || r.status == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "docker-registry at {} not ready after {READY_TIMEOUT:?}",
                    self.addr
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The credentials the registry was started with, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's temp dir (config, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `ADDR/REFERENCE`, e.g. `127.0.0.1:5000/busybox:latest`.
    pub fn image(&self, reference: &str) -> String {
        format!("{}/{reference}", self.addr)
    }

    /// Pushes a fixture layout to `reference` (`repo:tag`), using the credentials if any.
    pub fn push_layout(&self, layout: &Path, reference: &str) -> Result<()> {
        fixtures::push_layout_with_creds(layout, &self.addr, reference, self.credentials())
    }
}

fn write_htpasswd(path: &Path, user: &str, pass: &str) -> Result<()> {
    // distribution only accepts bcrypt entries, hence -B.
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .context("run htpasswd (apt-get install apache2-utils)")?;
    if !out.status.success() {
        bail!(
            "htpasswd -Bbn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs::write(path, out.stdout).with_context(|| format!("write {}", path.display()))
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
