//! End-to-end container operations with the stock docker CLI (and raw API calls through curl
//! where the CLI would refuse to send a request): create options enforced inside the container,
//! restart / rename / update / prune / stop signals, restart policies (also across a daemon
//! restart), top and stats, events, info counts and list filters, the compute inspection
//! endpoints and bad input. Needs root (namespaces, cgroups, overlayfs); skipped otherwise.
//! Each test owns its registry and daemon and removes every container it made, even when it
//! fails, before the daemon goes away.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers as can_run, run_ok, World};

/// What these tests ask of a [`World`] beyond the shared helpers.
trait Ops {
    fn inspect(&self, name: &str, format: &str) -> String;
    fn run(&self, args: &[&str]) -> (i32, String);
    fn wait_inspect(&self, name: &str, format: &str, check: impl Fn(&str) -> bool) -> String;
    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String);
    fn cgroup_file(&self, name: &str, controller: &str, file: &str) -> String;
}

impl Ops for World {
    fn inspect(&self, name: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, name])
            .trim()
            .to_string()
    }

    /// `docker run -d ARGS`, waits for the exit, returns (exit code, stdout+stderr logs) and
    /// removes the container.
    fn run(&self, args: &[&str]) -> (i32, String) {
        let mut full = vec!["run", "-d"];
        full.extend_from_slice(args);
        let id = self.docker(&full).trim().to_string();
        let code: i32 = self
            .docker(&["wait", &id])
            .trim()
            .parse()
            .expect("exit code");
        let (_, out, err) = run_any(self.daemon.docker().args(["logs", &id]));
        self.docker(&["rm", "-f", &id]);
        (code, out + &err)
    }

    /// Polls until `check` holds on `docker inspect -f format name` (10 s).
    fn wait_inspect(&self, name: &str, format: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, out, _) = run_any(self.daemon.docker().args(["inspect", "-f", format, name]));
            let out = out.trim().to_string();
            if check(&out) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {format} is still {out:?}\n{}",
                self.daemon.log()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// A raw API call over the daemon's socket: (status, body).
    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let socket = self.daemon.socket();
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(&socket)
            .args(["-X", method, "-H", "Content-Type: application/json"]);
        if let Some(body) = body {
            cmd.args(["--data-binary", body]);
        }
        cmd.arg(format!("http://localhost/v1.51{path}"));
        let out = run_ok(&mut cmd);
        let (body, code) = out.rsplit_once('\n').expect("status line");
        (code.trim().parse().expect("status"), body.to_string())
    }

    /// The container's cgroup v1 file `<controller>/silo/<id>/<file>`.
    fn cgroup_file(&self, name: &str, controller: &str, file: &str) -> String {
        let id = self.inspect(name, "{{.Id}}");
        let path = PathBuf::from("/sys/fs/cgroup")
            .join(controller)
            .join("silo")
            .join(id)
            .join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

#[test]
fn create_options_are_enforced_inside_the_container() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    // -w, -e and --hostname; the hostname is the container's own.
    let (code, out) = w.run(&[
        "-w",
        "/tmp",
        "-e",
        "GREETING=hi",
        "--hostname",
        "box1",
        img,
        "sh",
        "-c",
        "pwd; echo $GREETING; hostname",
    ]);
    assert_eq!((code, out.as_str()), (0, "/tmp\nhi\nbox1\n"));

    // Isolation: only the container's processes and none of the host's mounts are visible.
    let (code, out) = w.run(&[
        img,
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'; cut -d' ' -f2 /proc/mounts",
    ]);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let pids: usize = lines.next().unwrap().parse().unwrap();
    assert!(pids <= 5, "container sees {pids} pids:\n{out}");
    for mountpoint in lines {
        for host_only in ["/tmp", "/mnt", "/run/netns", "/work", "/home", "/root"] {
            assert!(
                !mountpoint.starts_with(host_only),
                "host mount {mountpoint} visible:\n{out}"
            );
        }
    }

    // --read-only: the root refuses writes, a --tmpfs stays writable.
    let (code, out) = w.run(&[
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        img,
        "sh",
        "-c",
        "touch /x && echo wrote-root; touch /run/ok && echo wrote-tmpfs; grep ' /run ' /proc/mounts",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("wrote-root"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("wrote-tmpfs"), "{out}");
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");

    // --user.
    let (code, out) = w.run(&["--user", "1000", img, "id", "-u"]);
    assert_eq!((code, out.as_str()), (0, "1000\n"));

    // --cap-drop ALL: root cannot chown; by default it can.
    let chown = "touch /f && chown 1000 /f && echo chowned";
    let (code, out) = w.run(&["--cap-drop", "ALL", img, "sh", "-c", chown]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let (code, out) = w.run(&[img, "sh", "-c", chown]);
    assert_eq!((code, out.as_str()), (0, "chowned\n"));
    // --cap-add brings one back on top of ALL dropped.
    let (code, out) = w.run(&[
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        img,
        "sh",
        "-c",
        chown,
    ]);
    assert_eq!((code, out.as_str()), (0, "chowned\n"));

    // --privileged may mount; an ordinary container may not.
    let mount = "mkdir -p /m && mount -t tmpfs tmpfs /m && echo mounted";
    let (code, out) = w.run(&["--privileged", img, "sh", "-c", mount]);
    assert_eq!((code, out.as_str()), (0, "mounted\n"));
    let (code, out) = w.run(&[img, "sh", "-c", mount]);
    assert_ne!(code, 0, "{out}");

    // no-new-privileges, ulimit, oom-score-adj and shm-size.
    let (code, out) = w.run(&[
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=100:200",
        "--oom-score-adj",
        "500",
        "--shm-size",
        "128m",
        img,
        "sh",
        "-c",
        "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; df -k /dev/shm | tail -1",
    ]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().last(), Some("1"), "{out}");
    assert_eq!(&lines[1..4], ["100", "200", "500"], "{out}");
    assert!(lines[4].contains("131072"), "{out}");

    // Limits land in the container's cgroup.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "limited",
        "--memory",
        "64m",
        "--memory-swap",
        "96m",
        "--cpu-quota",
        "25000",
        "--cpu-period",
        "50000",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "10",
        img,
        "sleep",
        "1000",
    ]);
    assert_eq!(
        w.cgroup_file("limited", "memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        w.cgroup_file("limited", "memory", "memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(w.cgroup_file("limited", "cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(
        w.cgroup_file("limited", "cpu", "cpu.cfs_period_us"),
        "50000"
    );
    assert_eq!(w.cgroup_file("limited", "cpu", "cpu.shares"), "512");
    assert_eq!(w.cgroup_file("limited", "pids", "pids.max"), "10");
    let hc = w.inspect(
        "limited",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuQuota}} {{.HostConfig.PidsLimit}}",
    );
    assert_eq!(hc, "67108864 100663296 25000 10");
    w.docker(&[
        "run", "-d", "--name", "halfcpu", "--cpus", "0.5", img, "sleep", "1000",
    ]);
    assert_eq!(w.cgroup_file("halfcpu", "cpu", "cpu.cfs_quota_us"), "50000");
    w.docker(&["rm", "-f", "limited", "halfcpu"]);

    // What silo cannot honour is refused with a clear message, never ignored.
    for (args, expect) in [
        (vec!["-v", "/tmp:/data"], "volumes"),
        (vec!["--link", "db:db"], "--link"),
        (vec!["--device", "/dev/null:/dev/xnull"], "--device"),
        (vec!["--security-opt", "apparmor=foo"], "AppArmor"),
        (
            vec!["--isolation", "hyperv"],
            "VM isolation is not available yet",
        ),
        (vec!["--log-driver", "syslog"], "log driver"),
        (
            vec!["--log-opt", "max-file=x", "--log-opt", "max-size=1k"],
            "max-file",
        ),
    ] {
        let mut full = vec!["create"];
        full.extend_from_slice(&args);
        full.extend_from_slice(&[img, "true"]);
        let err = w.docker_fail(&full);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert!(w.docker(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn memory_and_pids_limits_bite() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    // `tail` keeps a line that never ends in memory: 100 MiB against a 32 MiB limit.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--memory",
        "32m",
        img,
        "sh",
        "-c",
        "head -c 100m /dev/zero | tail",
    ]);
    assert_eq!(w.docker(&["wait", "hog"]).trim(), "137");
    assert_eq!(
        w.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );
    let events = w.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &now(),
        "--filter",
        "container=hog",
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.lines().any(|l| l == "oom"), "{events}");

    // A fork bomb stops at the pids limit. The bomb runs in a child shell (ash gives up on a
    // failed fork), and the outer shell counts with its own glob: no fork is left for ls.
    let (code, out) = w.run(&[
        "--pids-limit",
        "10",
        img,
        "sh",
        "-c",
        "sh -c 'for i in $(seq 20); do sleep 5 & done'; \
         n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo count=$n",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("can't fork"), "{out}");
    let count: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("count="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // init, the outer shell and the sleeps that got a pid.
    assert!((5..=10).contains(&count), "{count} processes:\n{out}");
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!("{secs:.3}")
}

#[test]
fn restart_rename_update_stop_and_prune() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    // restart keeps the container's files and its earlier output.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "keeper",
        img,
        "sh",
        "-c",
        "echo run >> /runs; wc -l < /runs; sleep 1000",
    ]);
    assert!(w.wait_for_log("keeper", "1").contains('1'));
    let started = w.inspect("keeper", "{{.State.StartedAt}}");
    let t0 = Instant::now();
    w.docker(&["restart", "-t", "1", "keeper"]);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(w.inspect("keeper", "{{.State.Status}}"), "running");
    assert_ne!(w.inspect("keeper", "{{.State.StartedAt}}"), started);
    let logs = w.wait_for_log("keeper", "2");
    assert_eq!(logs, "1\n2\n");
    // docker start of an exited container runs it again, too.
    w.docker(&["stop", "keeper"]);
    w.docker(&["start", "keeper"]);
    assert_eq!(w.wait_for_log("keeper", "3"), "1\n2\n3\n");

    // rename.
    w.docker(&["rename", "keeper", "renamed"]);
    assert_eq!(w.inspect("renamed", "{{.Name}}"), "/renamed");
    w.docker(&["create", "--name", "other", img, "true"]);
    let err = w.docker_fail(&["rename", "renamed", "other"]);
    assert!(err.contains("already in use"), "{err}");
    let err = w.docker_fail(&["rename", "nope", "x"]);
    assert!(err.contains("No such container: nope"), "{err}");

    // update, live.
    w.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "256",
        "--pids-limit",
        "20",
        "--restart",
        "on-failure:3",
        "renamed",
    ]);
    assert_eq!(
        w.cgroup_file("renamed", "memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(w.cgroup_file("renamed", "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(w.cgroup_file("renamed", "cpu", "cpu.shares"), "256");
    assert_eq!(w.cgroup_file("renamed", "pids", "pids.max"), "20");
    assert_eq!(
        w.inspect(
            "renamed",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "67108864 500000000 20 on-failure:3"
    );
    // The new limits outlive a restart (a new compute system is built from the record).
    w.docker(&["restart", "-t", "1", "renamed"]);
    assert_eq!(w.cgroup_file("renamed", "pids", "pids.max"), "20");

    // stop --signal, and which phase ended it.
    let t0 = Instant::now();
    w.docker(&["stop", "-s", "SIGKILL", "-t", "30", "renamed"]);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(
        w.inspect("renamed", "{{.State.ExitCode}} {{.State.SiloExitType}}"),
        "137 GracefulExit"
    );
    // A PID 1 that ignores SIGTERM is killed after the timeout: ForcedExit.
    w.docker(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "stubborn",
        img,
        "sleep",
        "1000",
    ]);
    w.docker(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(
        w.inspect("stubborn", "{{.State.ExitCode}} {{.State.SiloExitType}}"),
        "137 ForcedExit"
    );
    let events = w.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &now(),
        "--filter",
        "container=stubborn",
        "--filter",
        "event=stop",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"exitType\"}}",
    ]);
    assert_eq!(events, "die ForcedExit\nstop ForcedExit\n");
    // The container's StopSignal and StopTimeout are used when stop names none.
    w.docker(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "polite",
        "--stop-signal",
        "SIGINT",
        img,
        "sh",
        "-c",
        "trap 'echo got INT; exit 3' INT; while true; do sleep 0.1; done",
    ]);
    sleep(Duration::from_millis(300));
    w.docker(&["stop", "polite"]);
    assert_eq!(
        w.inspect(
            "polite",
            "{{.State.ExitCode}} {{.State.SiloExitType}} {{.Config.StopSignal}}"
        ),
        "3 GracefulExit SIGINT"
    );
    assert!(w.wait_for_log("polite", "got INT").contains("got INT"));
    w.docker(&[
        "run",
        "-d",
        "--init=false",
        "--name",
        "quick",
        "--stop-timeout",
        "1",
        img,
        "sleep",
        "1000",
    ]);
    let t0 = Instant::now();
    w.docker(&["stop", "quick"]);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    // prune: only stopped containers, only those the filters select.
    w.docker(&[
        "run", "-d", "--name", "alive", "--label", "tier=x", img, "sleep", "1000",
    ]);
    w.docker(&[
        "create", "--name", "keepme", "--label", "keep=yes", img, "true",
    ]);
    let out = w.docker(&["container", "prune", "-f", "--filter", "label!=keep=yes"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let left = w.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort_unstable();
    assert_eq!(left, ["alive", "keepme"]);
    let out = w.docker(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert!(!out.contains(&w.inspect("keepme", "{{.Id}}")), "{out}");
    assert!(w.docker(&["ps", "-a"]).contains("keepme"));

    // rm -f -v removes a running container (it has no volumes to remove).
    w.docker(&["rm", "-f", "-v", "alive", "keepme"]);
    assert!(w.docker(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn restart_policies() {
    if !can_run() {
        return;
    }
    let mut w = World::new();
    let img = w.image.clone();
    let img = img.as_str();

    // on-failure:2 restarts a failing container twice, then leaves it exited.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        img,
        "sh",
        "-c",
        "echo attempt; exit 3",
    ]);
    w.wait_inspect("flaky", "{{.RestartCount}} {{.State.Status}}", |s| {
        s == "2 exited"
    });
    sleep(Duration::from_secs(1));
    assert_eq!(
        w.inspect(
            "flaky",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"
        ),
        "2 exited 3"
    );
    assert_eq!(
        w.wait_for_log("flaky", "attempt\nattempt\nattempt"),
        "attempt\nattempt\nattempt\n"
    );
    // on-failure leaves a successful exit alone, and "no" never restarts.
    for (name, policy, cmd) in [("fine", "on-failure", "true"), ("never", "no", "false")] {
        w.docker(&["run", "-d", "--name", name, "--restart", policy, img, cmd]);
        w.wait_inspect(name, "{{.State.Status}}", |s| s == "exited");
        sleep(Duration::from_millis(700));
        assert_eq!(
            w.inspect(name, "{{.RestartCount}} {{.State.Status}}"),
            "0 exited"
        );
    }

    // always restarts with a growing back-off until a user stops it.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        img,
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    w.wait_inspect("loop", "{{.RestartCount}}", |s| {
        s.parse::<u32>().is_ok_and(|n| n >= 3)
    });
    w.docker(&["stop", "-t", "1", "loop"]);
    let count = w.inspect("loop", "{{.RestartCount}}");
    sleep(Duration::from_secs(2));
    assert_eq!(
        w.inspect("loop", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {count}")
    );

    // --rm and a restart policy conflict (the CLI checks too; ask the daemon directly).
    let (status, body) = w.curl(
        "POST",
        "/containers/create",
        Some(&format!(
            r#"{{"Image":"{img}","Cmd":["true"],"HostConfig":{{"AutoRemove":true,"RestartPolicy":{{"Name":"always"}}}}}}"#
        )),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("can't create 'AutoRemove' container with restart policy"),
        "{body}"
    );

    // Across a daemon restart: `always` comes back even after a user stop, `unless-stopped`
    // comes back unless a user stopped it, and a container that died while the daemon was
    // down is restarted by its policy.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "us-running",
        "--restart",
        "unless-stopped",
        img,
        "sleep",
        "1000",
    ]);
    w.docker(&[
        "run",
        "-d",
        "--name",
        "us-stopped",
        "--restart",
        "unless-stopped",
        img,
        "sleep",
        "1000",
    ]);
    w.docker(&[
        "run",
        "-d",
        "--name",
        "al-stopped",
        "--restart",
        "always",
        img,
        "sleep",
        "1000",
    ]);
    w.docker(&["stop", "us-stopped", "al-stopped"]);
    let pid: i32 = w.inspect("us-running", "{{.State.Pid}}").parse().unwrap();
    w.daemon.kill9();
    // The container dies while nobody watches.
    // SAFETY: plain kill(2) of a pid we read from inspect.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    sleep(Duration::from_secs(1));
    w.daemon.restart();
    w.wait_inspect("us-running", "{{.State.Status}}", |s| s == "running");
    w.wait_inspect("al-stopped", "{{.State.Status}}", |s| s == "running");
    sleep(Duration::from_millis(500));
    assert_eq!(w.inspect("us-stopped", "{{.State.Status}}"), "exited");
    assert_ne!(w.inspect("us-running", "{{.State.Pid}}"), pid.to_string());
}

#[test]
fn top_stats_info_and_list_filters() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    w.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "--memory",
        "64m",
        img,
        "sleep",
        "1000",
    ]);
    let top = w.docker(&["top", "web"]);
    let header = top.lines().next().unwrap();
    assert!(header.contains("PID") && header.contains("CMD"), "{top}");
    assert!(top.lines().any(|l| l.ends_with("sleep 1000")), "{top}");
    assert!(!top.contains("silod"), "host processes leaked:\n{top}");
    let top = w.docker(&["top", "web", "-o", "pid,comm"]);
    assert!(top.lines().any(|l| l.trim().ends_with("sleep")), "{top}");

    let stats = w.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
        "web",
    ]);
    let fields: Vec<&str> = stats.trim().split('|').collect();
    assert_eq!(fields[0], "web", "{stats}");
    assert!(fields[1].ends_with("/ 64MiB"), "{stats}");
    assert!(!fields[1].starts_with("0B"), "{stats}");
    let pids: u32 = fields[2].parse().unwrap();
    assert!((1..=5).contains(&pids), "{stats}");
    assert!(fields[3].ends_with('%'), "{stats}");
    let (status, body) = w.curl("GET", "/containers/web/stats?stream=false", None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(v["memory_stats"]["limit"], 64 << 20, "{body}");
    assert!(
        v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0,
        "{body}"
    );
    assert!(
        v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert!(
        v["precpu_stats"]["cpu_usage"]["total_usage"].is_u64(),
        "{body}"
    );
    assert!(v["pids_stats"]["current"].as_u64().unwrap() >= 1, "{body}");
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z", "{body}");

    // A stream sends one object per second (curl gives up after 2.5 s).
    let (_, body, _) = run_any(
        Command::new("curl")
            .args(["-s", "-m", "2.5", "--unix-socket"])
            .arg(w.daemon.socket())
            .arg("http://localhost/containers/web/stats"),
    );
    let samples: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!((2..=4).contains(&samples.len()), "{body}");
    assert_eq!(samples[1]["preread"], samples[0]["read"], "{body}");

    // Not running: top is a conflict.
    w.docker(&[
        "run",
        "-d",
        "--name",
        "done",
        "--label",
        "tier=back",
        img,
        "sh",
        "-c",
        "exit 3",
    ]);
    w.docker(&["wait", "done"]);
    let err = w.docker_fail(&["top", "done"]);
    assert!(err.contains("is not running"), "{err}");
    w.docker(&["create", "--name", "fresh", img, "true"]);

    let info = w.docker(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}",
    ]);
    assert_eq!(info.trim(), "3 1 0 2");

    let names = |args: &[&str]| {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let out = w.docker(&full);
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v.join(",")
    };
    assert_eq!(names(&[]), "web");
    assert_eq!(names(&["-a"]), "done,fresh,web");
    assert_eq!(names(&["--filter", "status=exited"]), "done");
    assert_eq!(names(&["-a", "--filter", "status=created"]), "fresh");
    assert_eq!(names(&["-a", "--filter", "label=tier"]), "done,web");
    assert_eq!(names(&["-a", "--filter", "label=tier=back"]), "done");
    assert_eq!(names(&["-a", "--filter", "name=we"]), "web");
    assert_eq!(names(&["-a", "--filter", "exited=3"]), "done");
    assert_eq!(names(&["-a", "--filter", "exited=0"]), "");
    assert_eq!(
        names(&["-a", "--filter", &format!("ancestor={img}")]),
        "done,fresh,web"
    );
    assert_eq!(names(&["-a", "--filter", "ancestor=nosuchimage"]), "");
    let web_id = w.inspect("web", "{{.Id}}");
    assert_eq!(
        names(&["-a", "--filter", &format!("id={}", &web_id[..12])]),
        "web"
    );
    assert_eq!(names(&["-a", "--filter", "since=web"]), "done,fresh");
    assert_eq!(names(&["-a", "--filter", "before=fresh"]), "done,web");
    assert_eq!(names(&["-n", "1"]), "fresh");
    assert_eq!(names(&["-l"]), "fresh");
    let sized = w.docker(&["ps", "-s", "--format", "{{.Size}}", "--filter", "name=web"]);
    assert!(sized.contains("virtual"), "{sized}");
    let err = w.docker_fail(&["ps", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let err = w.docker_fail(&["ps", "--filter", "status=sleepy"]);
    assert!(err.contains("Invalid filter 'status=sleepy'"), "{err}");
    let err = w.docker_fail(&["ps", "--filter", "since=nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
}

#[test]
fn events_history_filters_and_until() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();
    let since = now();

    // A live subscriber started first sees what follows.
    let follower = w
        .daemon
        .docker()
        .args([
            "events",
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(500));

    w.docker(&[
        "run", "-d", "--name", "ev", "--label", "app=demo", img, "sh", "-c", "exit 4",
    ]);
    w.docker(&["wait", "ev"]);
    w.docker(&["rename", "ev", "ev2"]);
    w.docker(&["update", "--cpu-shares", "512", "ev2"]);
    w.docker(&["start", "ev2"]);
    w.docker(&["wait", "ev2"]);
    w.docker(&["run", "-d", "--name", "other", img, "sleep", "1000"]);
    w.docker(&["kill", "-s", "WINCH", "other"]);
    w.docker(&["restart", "-t", "1", "other"]);
    w.docker(&["rm", "-f", "ev2", "other"]);
    let until = now();

    // `--since`/`--until` in the past: the history, and the command ends by itself.
    let t0 = Instant::now();
    let all = w.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let actions: Vec<&str> = all.lines().filter(|l| l.contains(" ev")).collect();
    assert_eq!(
        actions,
        [
            "container create ev",
            "container start ev",
            "container die ev",
            "container rename ev2",
            "container update ev2",
            "container start ev2",
            "container die ev2",
            "container destroy ev2",
        ],
        "{all}"
    );
    for expected in [
        "container kill other",
        "container restart other",
        "container stop other",
        "container destroy other",
    ] {
        assert!(all.lines().any(|l| l == expected), "{expected}:\n{all}");
    }
    // Filters: event, container, label, image; attributes carry exitCode and signal.
    let dies = w.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--filter",
        "label=app=demo",
        "--format",
        "{{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(dies, "4\n4\n");
    let kills = w.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=other",
        "--filter",
        "event=kill",
        "--format",
        "{{.Actor.Attributes.signal}}",
    ]);
    assert!(kills.starts_with("28\n"), "{kills}");
    let by_image = w.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("image={img}"),
        "--filter",
        "event=create",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(by_image, "ev\nother\n");
    let json = w.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=rename",
        "--format",
        "{{json .}}",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Actor"]["Attributes"]["oldName"], "/ev", "{json}");
    assert_eq!(v["status"], "rename");
    assert!(v["timeNano"].as_i64().unwrap() > 0);
    // The whole history with --since 0 ends too.
    let t0 = Instant::now();
    w.docker(&["events", "--since", "0", "--until", &now()]);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // A bad filter is a 400.
    let err = w.docker_fail(&["events", "--filter", "colour=red", "--until", &now()]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");

    let mut follower = follower;
    let _ = follower.kill();
    let out = follower.wait_with_output().unwrap();
    let started = String::from_utf8_lossy(&out.stdout);
    assert_eq!(started, "ev\nev2\nother\nother\n");
}

#[test]
fn bad_input_and_compute_endpoints() {
    if !can_run() {
        return;
    }
    let w = World::new();
    let img = w.image.as_str();

    let (status, body) = w.curl("GET", "/containers/nope/json", None);
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"message":"No such container: nope"}"#)
    );
    for (method, path) in [
        ("POST", "/containers/nope/start"),
        ("POST", "/containers/nope/restart"),
        ("POST", "/containers/nope/rename?name=x"),
        ("GET", "/containers/nope/top"),
        ("GET", "/containers/nope/stats?stream=false"),
        ("DELETE", "/containers/nope"),
    ] {
        let (status, body) = w.curl(method, path, None);
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(body.contains("No such container: nope"), "{body}");
    }
    let (status, body) = w.curl("POST", "/containers/nope/update", Some("{}"));
    assert_eq!(status, 404, "{body}");
    let (status, body) = w.curl("POST", "/containers/create", Some("{not json"));
    assert_eq!(status, 400, "{body}");
    let (status, body) = w.curl("POST", "/containers/prune?filters=%7Bbad", None);
    assert_eq!(status, 400, "{body}");
    let (status, body) = w.curl(
        "POST",
        "/containers/create",
        Some(&format!(
            r#"{{"Image":"{img}","HostConfig":{{"SecurityOpt":["bogus"]}}}}"#
        )),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = w.curl(
        "POST",
        "/containers/create",
        Some(&format!(
            r#"{{"Image":"{img}","HostConfig":{{"Isolation":"hyperv"}}}}"#
        )),
    );
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("VM isolation is not available yet"), "{body}");

    w.docker(&["run", "-d", "--name", "c1", img, "sleep", "1000"]);
    let (status, body) = w.curl(
        "POST",
        "/containers/create?name=c1",
        Some(&format!(r#"{{"Image":"{img}","Cmd":["true"]}}"#)),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already in use"), "{body}");
    let (status, body) = w.curl("POST", "/containers/c1/update", Some("{bad"));
    assert_eq!(status, 400, "{body}");
    let (status, body) = w.curl("POST", "/containers/c1/stop?signal=SIGNOPE", None);
    assert_eq!(status, 400, "{body}");

    // The compute service's own view.
    let id = w.inspect("c1", "{{.Id}}");
    let (status, body) = w.curl("GET", "/compute/systems", None);
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entry["owner"], "silod");
    assert_eq!(entry["isolation"], "process");
    assert_eq!(entry["state"], "running");
    let (status, body) = w.curl("GET", &format!("/compute/systems/{id}"), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["summary"]["id"], id.as_str());
    assert_eq!(v["properties"]["state"], "running");
    let procs = v["properties"]["processList"].as_array().unwrap();
    assert!(
        procs
            .iter()
            .any(|p| p["command"].as_str().unwrap().contains("sleep 1000")),
        "{body}"
    );
    assert!(
        v["properties"]["statistics"]["memory"]["usage"]
            .as_u64()
            .unwrap()
            > 0,
        "{body}"
    );
    // Unversioned paths work too; unknown ids are 404.
    let out = run_ok(
        Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(w.daemon.socket())
            .arg("http://localhost/compute/systems/nope"),
    );
    assert!(out.ends_with("\n404"), "{out}");
}

#[test]
fn daemon_defaults_for_logs_and_isolation() {
    if !can_run() {
        return;
    }
    // daemon.json log-opts rotate every container's log unless it asks otherwise.
    let w = World::with_config(r#"{"log-opts": {"max-size": "1k", "max-file": "2"}}"#);
    let img = w.image.as_str();
    let chatty = "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done";
    for (name, extra) in [
        ("rotated", vec![]),
        ("own", vec!["--log-opt", "max-size=100k"]),
    ] {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(&extra);
        args.extend_from_slice(&[img, "sh", "-c", chatty]);
        w.docker(&args);
        w.docker(&["wait", name]);
    }
    let files = |name: &str| -> Vec<String> {
        let id = w.inspect(name, "{{.Id}}");
        let dir = w.daemon.data_root().join("c").join(id);
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("log.json"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(files("rotated"), ["log.json", "log.json.1"]);
    assert_eq!(files("own"), ["log.json"]);
    let logs = w.docker(&["logs", "rotated"]);
    assert!(logs.ends_with("line-199\n"), "{logs}");
    assert!(
        !logs.contains("line-0\n"),
        "rotation kept everything:\n{logs}"
    );
    assert_eq!(
        w.inspect("own", "{{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}"),
        "100k 2"
    );
    drop(w);

    // exec-opts isolation=hyperv: silo says VM isolation is not there yet; --isolation=process
    // still works.
    let w = World::with_config(r#"{"exec-opts": ["isolation=hyperv"]}"#);
    let img = w.image.as_str();
    let err = w.docker_fail(&["create", img, "true"]);
    assert!(err.contains("VM isolation is not available yet"), "{err}");
    let (code, _) = w.run(&["--isolation", "process", img, "true"]);
    assert_eq!(code, 0);
}
