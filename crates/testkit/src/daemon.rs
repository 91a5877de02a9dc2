//! `silod` under test: its own data root, socket, pidfile, config and log in a temp dir, driven
//! by the stock docker CLI and by `silo`.
//!
//! The harness is deliberately the same shape a user would see (`-H unix://…`, `DOCKER_HOST`),
//! so tests exercise the real socket and the real CLI parsing, not an in-process shortcut.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::http;

/// How long `silod` may take to answer `/_ping`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `silod` gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The docker CLI used as a real client; `SILO_DOCKER_CLI` overrides it.
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";

/// Directory holding `silod` and `silo`: `$SILO_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`,
/// else `<workspace>/target/debug`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SILO_BIN_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d).join("debug");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("target")
        .join("debug")
}

/// A running `silod`; stopped (TERM, then KILL) and its temp dir unmounted and removed on drop.
#[derive(Debug)]
pub struct TestDaemon {
    child: Option<Child>,
    args: Vec<String>,
    silod: PathBuf,
    silo: PathBuf,
    net: NetSlot,
    // Declared last: removed after the daemon is gone.
    dir: TempDir,
}

/// Daemons under test share the host's network stack: each claims a slot that gives it its
/// own default bridge (`st<N>`), nftables table (`silo_st<N>`) and a /20 of 10.220.0.0/14
/// (default network in the first /24, networks without --subnet in the rest).
#[derive(Debug)]
struct NetSlot {
    slot: crate::slots::Slot,
}

/// How many daemons may run networks at once.
const NET_SLOTS: usize = 64;

impl NetSlot {
    fn claim() -> Result<Self> {
        let slot = crate::slots::claim("daemon-net", NET_SLOTS)
            .context("every daemon network slot is taken")?;
        Ok(NetSlot { slot })
    }

    fn bridge(&self) -> String {
        format!("st{}", self.slot.index)
    }

    /// `10.<a>.<b>.0`: the first address of the slot's /20, plus `offset` /24s.
    fn prefix(&self, offset: usize) -> String {
        let n = self.slot.index * 16 + offset;
        format!("10.{}.{}", 220 + n / 256, n % 256)
    }

    fn args(&self, exec_root: &Path) -> Vec<String> {
        vec![
            "--bridge".into(),
            self.bridge(),
            "--bip".into(),
            format!("{}.1/24", self.prefix(0)),
            "--default-address-pool".into(),
            format!("base={}.0/20,size=24", self.prefix(0)),
            "--exec-root".into(),
            exec_root.display().to_string(),
        ]
    }

    /// Removes what the daemon left on the host: links holding an address of the slot's
    /// /20 (the default bridge and user networks' bridges), and its nftables table.
    fn clean(&self) {
        let prefix = format!("10.{}.", 220 + self.slot.index * 16 / 256);
        let first = self.slot.index * 16 % 256;
        let out = Command::new("ip")
            .args(["-j", "-4", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let links: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        for link in links {
            let mine = link["addr_info"].as_array().into_iter().flatten().any(|a| {
                a["local"].as_str().is_some_and(|ip| {
                    ip.strip_prefix(&prefix)
                        .and_then(|rest| rest.split('.').next()?.parse::<usize>().ok())
                        .is_some_and(|third| (first..first + 16).contains(&third))
                })
            });
            if let (true, Some(name)) = (mine, link["ifname"].as_str()) {
                let _ = Command::new("ip").args(["link", "del", name]).output();
            }
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &format!("silo_{}", self.bridge())])
            .stderr(Stdio::null())
            .output();
    }
}

impl TestDaemon {
    /// Starts `silod` with an empty `daemon.json`. Panics with the log if it is not ready in 20 s.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `silod` with extra flags (e.g. `--insecure-registry`). If `--config-file` is among
    /// them it replaces the harness's own `{}` config.
    pub fn start_with(args: &[&str]) -> Self {
        Self::try_start("{}", args).unwrap_or_else(|e| panic!("start silod: {e:#}"))
    }

    /// Starts `silod` with `daemon_json` as its config file.
    pub fn start_with_config(daemon_json: &str, args: &[&str]) -> Self {
        Self::try_start(daemon_json, args).unwrap_or_else(|e| panic!("start silod: {e:#}"))
    }

    /// Fallible form of the constructors, with binaries from [`bin_dir`].
    pub fn try_start(daemon_json: &str, extra: &[&str]) -> Result<Self> {
        Self::try_start_from(&bin_dir(), daemon_json, extra)
    }

    /// Starts `silod` from `bins` (which also holds `silo`): lets a test run a stand-in daemon
    /// without touching process-wide environment variables.
    pub fn try_start_from(bins: &Path, daemon_json: &str, extra: &[&str]) -> Result<Self> {
        let silod = bins.join("silod");
        if !silod.is_file() {
            bail!(
                "{} not found: run `cargo build --workspace` or set SILO_BIN_DIR",
                silod.display()
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("silo-daemon-");
        let dir = match std::env::var_os("SILO_TEST_TMPDIR") {
            Some(base) => builder.tempdir_in(base),
            None => builder.tempdir(),
        }
        .context("create daemon temp dir")?;
        let p = dir.path();
        fs::create_dir_all(p.join("docker-config")).context("create docker config dir")?;
        let mut args = vec![
            "--data-root".to_string(),
            p.join("root").display().to_string(),
            "-H".to_string(),
            format!("unix://{}", p.join("silod.sock").display()),
            "--pidfile".to_string(),
            p.join("silod.pid").display().to_string(),
        ];
        if !extra.contains(&"--config-file") {
            let config = p.join("daemon.json");
            fs::write(&config, daemon_json).context("write daemon.json")?;
            args.push("--config-file".to_string());
            args.push(config.display().to_string());
        }
        let net = NetSlot::claim()?;
        // A previous holder killed mid-test may have left its bridges and table behind.
        net.clean();
        args.extend(net.args(&p.join("run")));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut d = TestDaemon {
            child: None,
            args,
            silod,
            silo: bins.join("silo"),
            net,
            dir,
        };
        d.spawn()?;
        Ok(d)
    }

    fn spawn(&mut self) -> Result<()> {
        let log_path = self.dir.path().join("silod.log");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .context("open silod.log")?;
        writeln!(
            log,
            "=== testkit: starting {} {:?}",
            self.silod.display(),
            self.args
        )
        .context("write silod.log")?;
        let child = Command::new(&self.silod)
            .args(&self.args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("clone log handle")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.silod.display()))?;
        self.child = Some(child);
        if let Err(e) = self.wait_ready() {
            self.stop();
            bail!(
                "{e:#}\n--- silod log ({}) ---\n{}",
                log_path.display(),
                self.log()
            );
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let socket = self.socket();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("poll silod")? {
                    bail!("silod exited during startup: {status}");
                }
            }
            if let Ok(r) = http::get_unix(&socket, "/_ping", Duration::from_secs(2)) {
                if r.status == 200 && r.text().trim() == "OK" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("silod did not answer GET /_ping with OK within {READY_TIMEOUT:?}");
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("silod.sock")
    }

    /// `unix://<socket>`, for `DOCKER_HOST` / `SILO_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// `--data-root`.
    /// A /24 of this daemon's own address space for `--subnet` in tests: `10.a.b.0/24`
    /// (`index` 1 to 15; 0 is the default network). Networks created without `--subnet`
    /// take the lowest free ones, so tests should count down from 15.
    pub fn subnet(&self, index: usize) -> String {
        assert!(
            (1..16).contains(&index),
            "subnet index {index} outside 1..16"
        );
        format!("{}.0/24", self.net.prefix(index))
    }

    /// The first three octets of [`Self::subnet`] (`10.a.b`), for addresses inside it.
    pub fn subnet_prefix(&self, index: usize) -> String {
        assert!(
            (1..16).contains(&index),
            "subnet index {index} outside 1..16"
        );
        self.net.prefix(index)
    }

    /// An IPv6 /64 of this daemon's own (`fd5e:<slot>:<index>::/64`), for dual-stack tests.
    pub fn subnet_v6(&self, index: usize) -> String {
        format!("fd5e:{:x}:{index:x}::/64", self.net.slot.index)
    }

    /// The default network's bridge.
    pub fn bridge(&self) -> String {
        self.net.bridge()
    }

    /// This daemon's nftables table.
    pub fn nft_table(&self) -> String {
        format!("silo_{}", self.net.bridge())
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The harness temp dir (socket, pidfile, log, daemon.json, docker config).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything `silod` wrote to stdout/stderr, across restarts.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("silod.log")).unwrap_or_default()
    }

    /// The stock docker CLI pointed at this daemon, with a private `DOCKER_CONFIG` so logins
    /// and contexts of the machine never leak into tests.
    pub fn docker(&self) -> Command {
        let cli = std::env::var_os("SILO_DOCKER_CLI").unwrap_or_else(|| DOCKER_CLI.into());
        let mut c = Command::new(cli);
        c.env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        c
    }

    /// The `silo` CLI pointed at this daemon through `SILO_HOST`.
    pub fn silo(&self) -> Command {
        let mut c = Command::new(&self.silo);
        c.env("SILO_HOST", self.docker_host())
            .env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }

    /// SIGKILLs the daemon (no cleanup runs: this simulates a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the daemon if running and starts it again on the same data root and socket.
    /// Panics with the log if it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("restart silod: {e:#}");
        }
    }

    /// SIGTERM, then SIGKILL if the daemon is still alive after 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) takes plain integers; `pid` is our own child, not yet reaped
            // (we hold its `Child`), so the pid cannot have been reused.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
        unmount_under(self.dir.path());
        self.net.clean();
    }
}

/// Lazily unmounts every mount point at or below `dir`, deepest first, so the temp dir can be
/// removed even when the daemon left overlay mounts behind.
pub fn unmount_under(dir: &Path) {
    let Ok(dir) = dir.canonicalize() else {
        return;
    };
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_path(p)))
        .filter(|p| p.starts_with(&dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in points {
        let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| matches!(c, b'0'..=b'7'))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape_mount_path(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }

    #[test]
    fn bin_dir_points_into_workspace() {
        if std::env::var_os("SILO_BIN_DIR").is_none()
            && std::env::var_os("CARGO_TARGET_DIR").is_none()
        {
            assert!(bin_dir().ends_with("target/debug"));
        }
    }
}
