//! `insecure-registries`: a plain-HTTP registry that is not on loopback is used only when the
//! daemon is told so, by `host:port` or by a CIDR containing its address.
//!
//! Loopback registries are implicitly insecure (like Docker), so the policy can only be seen on
//! another address. Each test creates its own network namespace with a veth pair and runs
//! `docker-registry` inside it on a TEST-NET-2 address (RFC 5737, 198.51.100.0/24): traffic goes
//! only to that namespace. 192.0.2.0/24 (TEST-NET-1) is not used because build machines may
//! have it on their real interface (this one does: eth0 is 192.0.2.2/24, gateway 192.0.2.1).
//!
//! /30 blocks are handed out under an `flock` per block in the temp dir, so parallel tests and
//! parallel test processes never share addresses; the kernel drops the lock if a process dies.
//! [`NetnsRegistry`] kills the registry and deletes the veth and the namespace on drop, also on
//! panic. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::fixtures::{self, Layout};
use silo_testkit::{http, TestDaemon};
use tempfile::TempDir;

/// The /24 the /30 blocks come from; also the CIDR the CIDR test allows.
const NET_PREFIX: &str = "198.51.100";
const NET_CIDR: &str = "198.51.100.0/24";
const REGISTRY_PORT: u16 = 5000;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs `ip ARGS`; `Err(stderr)` on failure.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("spawn ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// An exclusive claim on one /30 of [`NET_PREFIX`], held while the file stays open.
struct BlockLock {
    _file: File,
    base: u8,
}

fn claim_block() -> BlockLock {
    let used = ip(&["-4", "-o", "addr", "show"]).unwrap_or_default();
    let start = (std::process::id() as usize * 7 + NEXT.load(Ordering::SeqCst)) % 64;
    for i in 0..64 {
        let base = (((start + i) % 64) * 4) as u8;
        // Something outside our locks already uses this block: leave it alone.
        if (1..=2).any(|h| used.contains(&format!("{NET_PREFIX}.{}/", base + h))) {
            continue;
        }
        let path = std::env::temp_dir().join(format!("silo-testnet-{NET_PREFIX}.{base}.lock"));
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        // SAFETY: flock(2) on a descriptor we own and keep open for the lock's lifetime.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return BlockLock { _file: file, base };
        }
    }
    panic!("no free /30 in {NET_CIDR} (all locked or in use)");
}

/// A network namespace with a veth to the host and `docker-registry` serving plain HTTP on the
/// namespace's end. Everything is torn down on drop, in reverse order of creation.
struct NetnsRegistry {
    ns: String,
    veth_host: String,
    /// `198.51.100.N:5000`.
    addr: String,
    child: Option<Child>,
    ns_created: bool,
    veth_created: bool,
    dir: TempDir,
    // Released last, after the addresses are gone.
    _block: BlockLock,
}

impl NetnsRegistry {
    fn start() -> NetnsRegistry {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let block = claim_block();
        let host_ip = format!("{NET_PREFIX}.{}", block.base + 1);
        let ns_ip = format!("{NET_PREFIX}.{}", block.base + 2);
        let mut r = NetnsRegistry {
            ns: format!("silo-t-{pid}-{n}"),
            // IFNAMSIZ is 16: "st" + pid (≤ 7) + "-" + n + "h" fits.
            veth_host: format!("st{pid}-{n}h"),
            addr: format!("{ns_ip}:{REGISTRY_PORT}"),
            child: None,
            ns_created: false,
            veth_created: false,
            dir: tempfile::Builder::new()
                .prefix("silo-netns-registry-")
                .tempdir()
                .expect("registry temp dir"),
            _block: block,
        };
        // From here on, a panic drops `r`, which undoes whatever was done.
        let veth_ns = format!("st{pid}-{n}n");
        let must = |res: Result<String, String>| {
            res.unwrap_or_else(|e| panic!("network namespace setup (needs root): {e}"))
        };
        must(ip(&["netns", "add", &r.ns]));
        r.ns_created = true;
        must(ip(&[
            "link",
            "add",
            &r.veth_host,
            "type",
            "veth",
            "peer",
            "name",
            &veth_ns,
        ]));
        r.veth_created = true;
        must(ip(&["link", "set", &veth_ns, "netns", &r.ns]));
        must(ip(&[
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &r.veth_host,
        ]));
        must(ip(&["link", "set", &r.veth_host, "up"]));
        let in_ns = |args: &[&str]| {
            let mut full = vec!["netns", "exec", r.ns.as_str(), "ip"];
            full.extend_from_slice(args);
            must(ip(&full));
        };
        in_ns(&["addr", "add", &format!("{ns_ip}/30"), "dev", &veth_ns]);
        in_ns(&["link", "set", &veth_ns, "up"]);
        in_ns(&["link", "set", "lo", "up"]);

        let storage = r.dir.path().join("storage");
        fs::create_dir_all(&storage).expect("registry storage");
        let config = r.dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {}\n  secret: silo-testkit\n",
                storage.display(),
                r.addr
            ),
        )
        .expect("registry config");
        let log = File::create(r.log_path()).expect("registry log");
        // `ip netns exec` execs the command in place, so the child pid is the registry's.
        let child = Command::new("ip")
            .args(["netns", "exec", &r.ns, "/usr/bin/docker-registry", "serve"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry in the netns");
        r.child = Some(child);
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "docker-registry in {} exited: {status}\n{}",
                    self.ns,
                    self.log()
                );
            }
            if let Ok(r) = http::get_tcp(&self.addr, "/v2/", Duration::from_secs(2)) {
                if r.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "registry at {} (netns {}) not ready in 15 s\n{}",
                self.addr,
                self.ns,
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn image(&self, reference: &str) -> String {
        format!("{}/{reference}", self.addr)
    }

    fn push(&self, layout: &Path, reference: &str) {
        fixtures::push_layout(layout, &self.addr, reference).unwrap_or_else(|e| {
            panic!(
                "skopeo push to {}: {e:#}\n--- registry log ---\n{}",
                self.addr,
                self.log()
            )
        });
    }
}

impl Drop for NetnsRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.ns_created {
            // Anything else still inside our namespace was started by this guard.
            if let Ok(pids) = ip(&["netns", "pids", &self.ns]) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: kill(2) with plain integers; the pids are processes in the
                    // namespace this guard created.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        if self.veth_created {
            // Deleting one end deletes the pair, wherever the peer is.
            if let Err(e) = ip(&["link", "del", &self.veth_host]) {
                if !e.contains("Cannot find device") {
                    eprintln!("cleanup: {e}");
                }
            }
        }
        if self.ns_created {
            if let Err(e) = ip(&["netns", "del", &self.ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// A namespaced registry holding busybox.
struct World {
    reg: NetnsRegistry,
    layout: Layout,
    _fixture: TempDir,
}

impl World {
    fn new() -> World {
        let fixture = tempfile::tempdir().expect("fixture dir");
        let layout = fixtures::build_busybox(&fixture.path().join("layout")).expect("busybox");
        let reg = NetnsRegistry::start();
        reg.push(&layout.dir, "busybox:latest");
        World {
            reg,
            layout,
            _fixture: fixture,
        }
    }

    fn image(&self) -> String {
        self.reg.image("busybox:latest")
    }

    fn config_digest(&self) -> String {
        self.layout
            .primary()
            .expect("one manifest")
            .config_digest
            .clone()
    }

    /// `docker pull` through `daemon`; (exit code, stdout + stderr).
    fn pull(&self, daemon: &TestDaemon) -> (i32, String) {
        let (code, out, err) = run_any(daemon.docker().args(["pull", &self.image()]));
        (code, format!("{out}{err}"))
    }

    fn explain(&self, daemon: &TestDaemon, what: &str, output: &str) -> String {
        format!(
            "{what}\n--- docker output ---\n{output}\n--- registry log (netns {}) ---\n{}\n--- silod log ---\n{}",
            self.reg.ns,
            self.reg.log(),
            daemon.log()
        )
    }

    fn assert_pull_ok(&self, daemon: &TestDaemon) {
        let (code, output) = self.pull(daemon);
        assert_eq!(code, 0, "{}", self.explain(daemon, "pull failed", &output));
        assert!(
            output.contains(&self.layout.index_digest),
            "{}",
            self.explain(daemon, "pull output lacks the digest", &output)
        );
        let (code, id, err) = run_any(daemon.docker().args([
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &self.image(),
        ]));
        assert_eq!(code, 0, "{}", self.explain(daemon, "inspect failed", &err));
        assert_eq!(id.trim(), self.config_digest());
    }

    fn assert_pull_refused(&self, daemon: &TestDaemon, setting: &str) {
        let (code, output) = self.pull(daemon);
        assert_ne!(
            code,
            0,
            "{}",
            self.explain(
                daemon,
                &format!("pull over plain HTTP succeeded with {setting}"),
                &output
            )
        );
        // Clear: names the registry and says the TLS connection is what failed.
        let lower = output.to_ascii_lowercase();
        assert!(
            output.contains(&self.reg.addr)
                && ["https", "tls", "certificate", "insecure"]
                    .iter()
                    .any(|w| lower.contains(w)),
            "{}",
            self.explain(
                daemon,
                "error does not name the registry and the HTTPS/TLS failure",
                &output
            )
        );
        let (code, _, err) = run_any(daemon.docker().args(["image", "inspect", &self.image()]));
        assert!(
            code != 0 && err.contains("No such image"),
            "image present after a refused pull: {err}"
        );
        eprintln!("{setting}: pull refused as expected: {}", output.trim());
    }
}

/// `docker info`'s `RegistryConfig`.
fn registry_config(daemon: &TestDaemon) -> serde_json::Value {
    let (code, out, err) =
        run_any(
            daemon
                .docker()
                .args(["info", "--format", "{{json .RegistryConfig}}"]),
        );
    assert_eq!(code, 0, "docker info: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("RegistryConfig JSON {out:?}: {e}"))
}

#[test]
fn plain_http_registry_off_loopback_is_refused_unless_listed() {
    let w = World::new();
    let d = TestDaemon::start();
    w.assert_pull_refused(&d, "no --insecure-registry");
    drop(d);

    // Entries that do not cover the registry change nothing.
    let other_port = format!("{}:{}", w.reg.addr.split(':').next().unwrap_or(""), 5001);
    let d = TestDaemon::start_with(&[
        "--insecure-registry",
        "10.0.0.0/8",
        "--insecure-registry",
        &other_port,
    ]);
    w.assert_pull_refused(&d, "--insecure-registry 10.0.0.0/8 and host:5001");
}

/// Regression: the refusal used to be rustls jargon ("received corrupt message of type
/// InvalidContentType") classed as "unavailable". It must say that the registry speaks plain
/// HTTP and point at `insecure-registries`, as dockerd's "server gave HTTP response to HTTPS
/// client" does.
#[test]
fn refused_plain_http_pull_explains_the_cause() {
    let w = World::new();
    let d = TestDaemon::start();
    let (code, output) = w.pull(&d);
    assert_ne!(code, 0, "{}", w.explain(&d, "pull succeeded", &output));
    let lower = output.to_ascii_lowercase();
    assert!(
        [
            "http response",
            "plain http",
            "insecure-registr",
            "insecure registr"
        ]
        .iter()
        .any(|w| lower.contains(w)),
        "the error should say the registry answered plain HTTP (or point at \
         insecure-registries), got:\n{}",
        output.trim()
    );
}

#[test]
fn insecure_registry_host_port_allows_plain_http_pull() {
    let w = World::new();
    let d = TestDaemon::start_with(&["--insecure-registry", &w.reg.addr]);
    let cfg = registry_config(&d);
    assert_eq!(
        cfg["IndexConfigs"][w.reg.addr.as_str()]["Secure"],
        false,
        "{cfg}"
    );
    w.assert_pull_ok(&d);
}

#[test]
fn insecure_registry_cidr_allows_plain_http_pull() {
    let w = World::new();
    let d = TestDaemon::start_with(&["--insecure-registry", NET_CIDR]);
    let cfg = registry_config(&d);
    let cidrs = cfg["InsecureRegistryCIDRs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(cidrs.iter().any(|c| c == NET_CIDR), "{cfg}");
    w.assert_pull_ok(&d);
}

#[test]
fn daemon_json_insecure_registries_allows_plain_http_pull() {
    let w = World::new();
    let d = TestDaemon::start_with_config(
        &serde_json::json!({ "insecure-registries": [w.reg.addr] }).to_string(),
        &[],
    );
    w.assert_pull_ok(&d);
}

#[test]
fn netns_guard_removes_namespace_and_veth() {
    let reg = NetnsRegistry::start();
    let (ns, veth) = (reg.ns.clone(), reg.veth_host.clone());
    let pid = reg.child.as_ref().map(Child::id).expect("registry pid");
    assert!(ip(&["netns", "list"]).unwrap_or_default().contains(&ns));
    drop(reg);
    assert!(
        !ip(&["netns", "list"]).unwrap_or_default().contains(&ns),
        "netns {ns} left behind"
    );
    assert!(
        ip(&["link", "show", &veth]).is_err(),
        "veth {veth} left behind"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .map(|c| !c.contains("docker-registry"))
                .unwrap_or(true),
        "registry pid {pid} still running"
    );
}
