//! `run`/`create` flags to the Engine API's create body, with docker's parsing of sizes, CPUs,
//! restart policies, env files and labels, and docker's refusals of contradictory flags.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigIsolationEnum, HostConfigLogConfig, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::args::RunArgs;

/// Where the container's streams go, as `run` decides from `-d`, `-a` and `-i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Attach {
    pub fn any(&self) -> bool {
        self.stdin || self.stdout || self.stderr
    }
}

/// A validated `run`/`create`: the body to send and how the client attaches.
#[derive(Debug)]
pub struct CreatePlan {
    pub body: ContainerCreateBody,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub attach: Attach,
    pub tty: bool,
    pub auto_remove: bool,
}

/// Builds the plan; `detached` is `-d` for `run` and always true for `create`; `env_of` reads the
/// local environment (injected for tests) for `-e NAME` without a value.
pub fn plan(
    args: &RunArgs,
    detached: bool,
    env_of: &dyn Fn(&str) -> Option<String>,
) -> Result<CreatePlan> {
    let flag = |v: Option<bool>| v.unwrap_or(false);
    let interactive = flag(args.interactive);
    let tty = flag(args.tty);
    let auto_remove = flag(args.rm);
    if detached && !args.attach.is_empty() {
        bail!("conflicting options: cannot specify both --attach and --detach");
    }
    let attach = if detached {
        Attach::default()
    } else if args.attach.is_empty() {
        Attach {
            stdin: interactive,
            stdout: true,
            stderr: true,
        }
    } else {
        let has = |s: &str| args.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
        Attach {
            stdin: has("stdin"),
            stdout: has("stdout"),
            stderr: has("stderr"),
        }
    };
    let restart = args.restart.clone();
    if auto_remove {
        if let Some(name) = restart.as_ref().and_then(|r| r.name) {
            if name != RestartPolicyNameEnum::NO && name != RestartPolicyNameEnum::EMPTY {
                bail!("conflicting options: cannot specify both --restart and --rm");
            }
        }
    }
    if args.image().is_empty() {
        bail!("an image name is required");
    }

    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file, env_of)?);
    }
    for e in &args.env {
        env.push(env_entry(e, env_of)?);
    }
    let labels = key_values(&args.labels, "label")?;
    let log_config =
        (args.log_driver.is_some() || !args.log_opts.is_empty()).then(|| HostConfigLogConfig {
            typ: args.log_driver.clone(),
            config: Some(
                args.log_opts
                    .iter()
                    .map(|o| match o.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (o.clone(), String::new()),
                    })
                    .collect(),
            ),
        });
    for o in &args.log_opts {
        if !o.contains('=') {
            bail!("invalid argument {o:?} for \"--log-opt\" flag: expected key=value");
        }
    }
    let tmpfs: HashMap<String, String> = args
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    if let Some(bad) = tmpfs.keys().find(|p| !p.starts_with('/')) {
        bail!("invalid mount path for --tmpfs {bad:?}: must be absolute");
    }
    let isolation = args
        .isolation
        .as_deref()
        .map(|i| match i.to_ascii_lowercase().as_str() {
            "process" => HostConfigIsolationEnum::PROCESS,
            // silo spells the micro-VM backend `vm` too; on the wire it is Docker's `hyperv`.
            "hyperv" | "vm" => HostConfigIsolationEnum::HYPERV,
            _ => HostConfigIsolationEnum::DEFAULT,
        });
    let entrypoint = args.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            // `--entrypoint ""` resets the image's entrypoint, as docker sends it.
            vec![String::new()]
        } else {
            vec![e.clone()]
        }
    });
    let command = args.command();
    let host_config = HostConfig {
        auto_remove: Some(auto_remove),
        init: args.init,
        memory: args.memory,
        nano_cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        readonly_rootfs: args.read_only,
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        privileged: args.privileged,
        cap_add: (!args.cap_add.is_empty()).then(|| args.cap_add.clone()),
        cap_drop: (!args.cap_drop.is_empty()).then(|| args.cap_drop.clone()),
        security_opt: (!args.security_opt.is_empty()).then(|| args.security_opt.clone()),
        restart_policy: restart,
        log_config,
        isolation,
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(args.image().to_string()),
        cmd: (!command.is_empty()).then(|| command.to_vec()),
        entrypoint,
        env: (!env.is_empty()).then_some(env),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: Some(tty),
        open_stdin: Some(interactive),
        stdin_once: Some(attach.stdin),
        attach_stdin: Some(attach.stdin),
        attach_stdout: Some(attach.stdout),
        attach_stderr: Some(attach.stderr),
        labels: (!labels.is_empty()).then_some(labels),
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        host_config: Some(host_config),
        ..Default::default()
    };
    Ok(CreatePlan {
        body,
        name: args.name.clone(),
        platform: args.platform.as_ref().map(ToString::to_string),
        attach,
        tty,
        auto_remove,
    })
}

/// `-e NAME=value` as given; `-e NAME` takes the local value, or is sent bare (the daemon then
/// drops it), as docker does.
pub fn env_entry(e: &str, env_of: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let name = e.split_once('=').map_or(e, |(k, _)| k);
    if name.is_empty() {
        bail!("invalid environment variable: {e}");
    }
    if e.contains('=') {
        return Ok(e.to_string());
    }
    Ok(match env_of(name) {
        Some(v) => format!("{name}={v}"),
        None => name.to_string(),
    })
}

/// Docker's env-file format: one `NAME=value` per line (taken literally, no quotes), `NAME`
/// alone takes the local value, blank lines and `#` comments are skipped.
pub fn read_env_file(path: &Path, env_of: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("open env file {}", path.display()))?;
    parse_env_file(&text, env_of).with_context(|| format!("env file {}", path.display()))
}

pub fn parse_env_file(text: &str, env_of: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(k, _)| k);
        if name.chars().any(char::is_whitespace) {
            bail!("line {}: variable '{name}' contains whitespaces", n + 1);
        }
        if line.contains('=') {
            out.push(line.to_string());
        } else if let Some(v) = env_of(name) {
            out.push(format!("{name}={v}"));
        }
    }
    Ok(out)
}

/// `key=value` (or bare `key`, an empty value) flags as a map.
pub fn key_values(items: &[String], what: &str) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        if k.is_empty() {
            bail!("invalid {what} {item:?}: empty key");
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// go-units `RAMInBytes`: `512`, `64k`, `1.5g`, `100mb`, `2GiB` (binary multiples).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, suffix) = lower.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let unit = suffix.trim_end_matches('b').trim_end_matches('i');
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("invalid suffix: '{suffix}'")),
    };
    // "1ib" is not a size; only a unit letter may carry `i`.
    if unit.is_empty() && suffix.contains('i') {
        return Err(format!("invalid suffix: '{suffix}'"));
    }
    Ok((value * (1u64 << shift) as f64) as i64)
}

/// `--cpus 1.5` as nano-CPUs, as docker's `NanoCPUs` parses it.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("failed to parse {s} as a rational number"));
    }
    let nano = (v * 1e9).round();
    if nano > i64::MAX as f64 {
        return Err("value is too precise".into());
    }
    Ok(nano as i64)
}

/// `no`, `always`, `unless-stopped`, `on-failure[:max-retries]`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let name = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => {
            return Err(format!(
                "invalid restart policy format: unknown policy '{name}'"
            ))
        }
    };
    let maximum_retry_count = match count {
        None => None,
        Some(_) if name != RestartPolicyNameEnum::ON_FAILURE => return Err(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
                .to_string(),
        ),
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            format!("invalid restart policy format: maximum retry count must be an integer: {c}")
        })?),
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["silo", "run"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Run(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert_eq!(parse_bytes("100m"), Ok(100 << 20));
        assert_eq!(parse_bytes("100MB"), Ok(100 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert!(parse_bytes("1zz").is_err());
        assert!(parse_bytes("m").is_err());
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert!(parse_cpus("abc").is_err());
    }

    #[test]
    fn restart_policies() {
        let p = parse_restart("on-failure:3").expect("valid");
        assert_eq!(p.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(p.maximum_retry_count, Some(3));
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn env_files_and_bare_names() {
        let env = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let parsed = parse_env_file("# c\n\nA=1\n  B=x y\nHOME\nMISSING\n", &env).expect("ok");
        assert_eq!(parsed, vec!["A=1", "B=x y", "HOME=/root"]);
        assert!(parse_env_file("BAD NAME=1", &env).is_err());
        assert_eq!(env_entry("HOME", &env).expect("ok"), "HOME=/root");
        assert_eq!(env_entry("NOPE", &env).expect("ok"), "NOPE");
        assert!(env_entry("=x", &env).is_err());
    }

    #[test]
    fn command_after_image_keeps_its_flags() {
        let a = run_args(&["-d", "--rm", "img", "sh", "-c", "exit 3", "-d"]);
        assert_eq!(a.detach, Some(true));
        assert_eq!(a.image(), "img");
        assert_eq!(a.command(), ["sh", "-c", "exit 3", "-d"]);
        let a = run_args(&["-it", "--init=false", "--rm=false", "img"]);
        assert_eq!((a.interactive, a.tty), (Some(true), Some(true)));
        assert_eq!((a.init, a.rm), (Some(false), Some(false)));
        let a = run_args(&["-h", "box", "-m", "64m", "--cpus", "0.5", "img", "true"]);
        assert_eq!(a.hostname.as_deref(), Some("box"));
        assert_eq!(a.memory, Some(64 << 20));
        assert_eq!(a.cpus, Some(500_000_000));
    }

    #[test]
    fn attached_run_body() {
        let a = run_args(&[
            "-i",
            "--rm",
            "-e",
            "A=1",
            "-l",
            "k=v",
            "--tmpfs",
            "/run:size=1m",
            "--isolation",
            "vm",
            "--entrypoint",
            "",
            "img",
            "echo",
            "hi",
        ]);
        let p = plan(&a, false, &no_env).expect("valid");
        assert_eq!(
            p.attach,
            Attach {
                stdin: true,
                stdout: true,
                stderr: true
            }
        );
        let b = &p.body;
        assert_eq!(
            b.cmd.as_deref(),
            Some(&["echo".to_string(), "hi".to_string()][..])
        );
        assert_eq!(b.entrypoint.as_deref(), Some(&[String::new()][..]));
        assert_eq!(b.env.as_deref(), Some(&["A=1".to_string()][..]));
        assert_eq!(b.stdin_once, Some(true));
        let hc = b.host_config.as_ref().expect("host config");
        assert_eq!(hc.auto_remove, Some(true));
        assert_eq!(hc.isolation, Some(HostConfigIsolationEnum::HYPERV));
        assert_eq!(hc.tmpfs.as_ref().expect("tmpfs")["/run"], "size=1m");
    }

    #[test]
    fn docker_refusals() {
        let a = run_args(&["--rm", "--restart", "always", "img"]);
        assert!(plan(&a, true, &no_env).is_err());
        let a = run_args(&["-a", "stdout", "img"]);
        assert!(plan(&a, true, &no_env).is_err());
        let p = plan(&a, false, &no_env).expect("valid");
        assert!(p.attach.stdout && !p.attach.stderr && !p.attach.stdin);
    }
}
