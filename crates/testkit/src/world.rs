//! A daemon with busybox pulled from its own test registry: the starting point of every
//! container end-to-end test.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cmd::run_any;
use crate::{fixtures, run_fail, run_ok, TestDaemon, TestRegistry};

/// Whether container tests can run here (they need root for namespaces, cgroups, overlayfs);
/// says why not on stderr.
pub fn can_run_containers() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0;
    if !ok {
        eprintln!("skipped: container tests need root");
    }
    ok
}

/// A daemon with busybox pulled. Dropping it removes every container first, while the daemon
/// can still kill them, then stops the daemon and the registry.
pub struct World {
    pub daemon: TestDaemon,
    _reg: TestRegistry,
    _fixture_dir: TempDir,
    /// The pulled reference, `127.0.0.1:PORT/busybox:latest`.
    pub image: String,
}

impl World {
    /// Starts a registry and a daemon (with `daemon_args`) and pulls busybox.
    pub fn new() -> Self {
        Self::with_args(&[])
    }

    /// Like [`World::new`] with extra silod flags.
    pub fn with_args(daemon_args: &[&str]) -> Self {
        Self::with_config_and_args("{}", daemon_args)
    }

    /// Like [`World::new`] with `daemon_json` as silod's config file.
    pub fn with_config(daemon_json: &str) -> Self {
        Self::with_config_and_args(daemon_json, &[])
    }

    /// A daemon whose registry holds busybox, not pulled yet (for tests of pulling on `run`).
    pub fn unpulled() -> Self {
        Self::build("{}", &[], false)
    }

    fn with_config_and_args(daemon_json: &str, daemon_args: &[&str]) -> Self {
        Self::build(daemon_json, daemon_args, true)
    }

    fn build(daemon_json: &str, daemon_args: &[&str], pull: bool) -> Self {
        let dir = tempfile::tempdir().expect("fixture dir");
        let layout = fixtures::build_busybox(&dir.path().join("layout")).expect("build busybox");
        let reg = TestRegistry::start();
        reg.push_layout(&layout.dir, "busybox:latest")
            .expect("push fixture with skopeo");
        let mut args = vec!["--insecure-registry", reg.addr()];
        args.extend_from_slice(daemon_args);
        let daemon = TestDaemon::start_with_config(daemon_json, &args);
        let image = reg.image("busybox:latest");
        let world = World {
            daemon,
            _reg: reg,
            _fixture_dir: dir,
            image,
        };
        if pull {
            world.docker(&["pull", "-q", &world.image]);
        }
        world
    }

    /// A `docker` command aimed at the daemon.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.daemon.docker();
        cmd.args(args);
        cmd
    }

    /// Runs docker, asserting success; returns stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        run_ok(&mut self.docker_cmd(args))
    }

    /// Runs docker, asserting failure; returns stderr.
    pub fn docker_fail(&self, args: &[&str]) -> String {
        run_fail(&mut self.docker_cmd(args)).1
    }

    /// `"<status> <exit code>"` of a container.
    pub fn state(&self, name: &str) -> String {
        self.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            name,
        ])
        .trim()
        .to_string()
    }

    /// Polls `docker logs` until it contains `text` (10 s at most); returns what it saw.
    pub fn wait_for_log(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, out, err) = run_any(&mut self.docker_cmd(&["logs", name]));
            let all = out + &err;
            if all.contains(text) || Instant::now() > deadline {
                return all;
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- silod log ---\n{}", self.daemon.log());
        }
        let (_, ids, _) = run_any(&mut self.docker_cmd(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            let _ = run_any(&mut self.docker_cmd(&["rm", "-f", id]));
        }
    }
}
