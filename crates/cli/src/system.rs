//! `silo version` and `silo info`: the client's facts, then whatever the daemon reports.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;

use crate::args::InfoArgs;
use crate::connect::{connect, Endpoint};
use crate::format::{bytes_size, template::Template};

/// Column where values start, as docker's tabwriter aligns `docker version`.
const VALUE_COLUMN: usize = 20;

fn kv(out: &mut String, indent: usize, key: &str, value: &str) {
    let key = format!("{}{key}:", " ".repeat(indent));
    let pad = VALUE_COLUMN.saturating_sub(key.len()).max(1);
    out.push_str(&format!("{key}{}{value}\n", " ".repeat(pad)));
}

fn client_section(endpoint: &Endpoint) -> String {
    let mut s = String::from("Client: silo\n");
    kv(&mut s, 1, "Version", env!("CARGO_PKG_VERSION"));
    kv(&mut s, 1, "API version", "1.51");
    kv(
        &mut s,
        1,
        "OS/Arch",
        &format!(
            "{}/{}",
            std::env::consts::OS,
            go_arch(std::env::consts::ARCH)
        ),
    );
    kv(&mut s, 1, "Host", &endpoint.host);
    s
}

/// Rust's architecture names as Go (and so OCI and docker) spells them.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub async fn version(endpoint: Endpoint) -> Result<ExitCode> {
    // The client half prints even when no daemon answers, as with docker.
    std::io::stdout()
        .lock()
        .write_all(client_section(&endpoint).as_bytes())?;
    let client = connect(endpoint).await?;
    let server = client.raw_json("/version".into()).await?;
    std::io::stdout()
        .lock()
        .write_all(server_section(&server).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn server_section(v: &Value) -> String {
    let name = v
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("silod");
    let mut s = format!("\nServer: {name}\n Engine:\n");
    kv(&mut s, 2, "Version", &text(v, "Version"));
    kv(
        &mut s,
        2,
        "API version",
        &format!(
            "{} (minimum version {})",
            text(v, "ApiVersion"),
            text(v, "MinAPIVersion")
        ),
    );
    for (label, key) in [("Git commit", "GitCommit"), ("Built", "BuildTime")] {
        if !text(v, key).is_empty() {
            kv(&mut s, 2, label, &text(v, key));
        }
    }
    kv(
        &mut s,
        2,
        "OS/Arch",
        &format!("{}/{}", text(v, "Os"), text(v, "Arch")),
    );
    kv(&mut s, 2, "Kernel version", &text(v, "KernelVersion"));
    kv(&mut s, 2, "Experimental", &text(v, "Experimental"));
    let components = v.get("Components").and_then(Value::as_array);
    for c in components.into_iter().flatten() {
        let name = text(c, "Name");
        if name == "Engine" {
            continue;
        }
        s.push_str(&format!(" {name}:\n"));
        kv(&mut s, 2, "Version", &text(c, "Version"));
    }
    s
}

pub async fn info(endpoint: Endpoint, args: &InfoArgs) -> Result<ExitCode> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.to_string()),
    };
    if template.is_none() {
        std::io::stdout()
            .lock()
            .write_all(client_section(&endpoint).as_bytes())?;
    }
    let client = connect(endpoint).await?;
    let v = client.raw_json("/info".into()).await?;
    let mut out = std::io::stdout().lock();
    match template.as_deref() {
        Some("json") => writeln!(out, "{}", serde_json::to_string(&v)?)?,
        Some(t) => writeln!(out, "{}", Template::parse(t)?.execute(&v)?)?,
        None => {
            out.write_all(info_text(&v).as_bytes())?;
            for w in v
                .get("Warnings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                eprintln!("{}", w.as_str().unwrap_or_default());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn info_text(v: &Value) -> String {
    let mut s = String::from("\nServer:\n");
    let line = |s: &mut String, indent: usize, key: &str, value: String| {
        s.push_str(&format!("{}{key}: {value}\n", " ".repeat(indent)));
    };
    line(&mut s, 1, "Containers", text(v, "Containers"));
    line(&mut s, 2, "Running", text(v, "ContainersRunning"));
    line(&mut s, 2, "Paused", text(v, "ContainersPaused"));
    line(&mut s, 2, "Stopped", text(v, "ContainersStopped"));
    line(&mut s, 1, "Images", text(v, "Images"));
    let fields = [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Isolation", "Isolation"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ];
    for (label, key) in fields {
        if v.get(key).is_some() {
            line(&mut s, 1, label, text(v, key));
        }
    }
    if let Some(mem) = v.get("MemTotal").and_then(Value::as_f64) {
        line(&mut s, 1, "Total Memory", bytes_size(mem));
    }
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
        ("Debug Mode", "Debug"),
        ("Experimental", "ExperimentalBuild"),
        ("Live Restore Enabled", "LiveRestoreEnabled"),
    ] {
        if v.get(key).is_some() {
            line(&mut s, 1, label, text(v, key));
        }
    }
    let insecure = v
        .pointer("/RegistryConfig/InsecureRegistryCIDRs")
        .and_then(Value::as_array);
    if let Some(cidrs) = insecure.filter(|c| !c.is_empty()) {
        s.push_str(" Insecure Registries:\n");
        for c in cidrs {
            s.push_str(&format!("  {}\n", c.as_str().unwrap_or_default()));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_aligns_values_like_docker() {
        let v = json!({"Platform": {"Name": "silo"}, "Version": "0.1.0", "ApiVersion": "1.51",
            "MinAPIVersion": "1.40", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1",
            "Experimental": false, "Components": [{"Name": "Engine", "Version": "0.1.0"}]});
        let text = server_section(&v);
        assert!(text.starts_with("\nServer: silo\n Engine:\n  Version:          0.1.0\n"));
        assert!(text.contains("  API version:      1.51 (minimum version 1.40)\n"));
        assert!(text.contains("  OS/Arch:          linux/amd64\n"));
    }

    #[test]
    fn info_lists_daemon_fields() {
        let v = json!({"Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0,
            "ContainersStopped": 2, "Images": 4, "ServerVersion": "0.1.0",
            "MemTotal": 25_169_395_712_i64, "Isolation": "process"});
        let text = info_text(&v);
        assert!(text.contains(" Containers: 3\n  Running: 1\n"));
        assert!(text.contains(" Default Isolation: process\n"));
        assert!(text.contains(" Total Memory: 23.44GiB\n"));
        assert!(!text.contains("Cgroup Driver"));
    }
}
