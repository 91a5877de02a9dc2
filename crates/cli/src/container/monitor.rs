//! `silo top` and `silo stats`: what runs in a container and what it uses, in docker's columns
//! and with docker's arithmetic (CPU % from the delta against the previous sample, memory
//! without the page cache).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use bollard::query_parameters::{ListContainersOptions, StatsOptions, TopOptions};
use futures::StreamExt;
use serde_json::{json, Value};

use super::args::{StatsArgs, TopArgs};
use crate::connect::Client;
use crate::format::context::ListFormat;
use crate::format::{bytes_size, human_size_precision, short_id, Table};

pub async fn top(client: &Client, args: &TopArgs) -> Result<ExitCode> {
    let ps_args = if args.ps_args.is_empty() {
        "-ef".to_string()
    } else {
        args.ps_args.join(" ")
    };
    let answer = client
        .docker
        .top_processes(&args.container, Some(TopOptions { ps_args }))
        .await?;
    let titles = answer.titles.unwrap_or_default();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    // docker's `top` writer: tabwriter with a minimum cell width of 20.
    let mut table = Table::new(&titles).with_min_width(20);
    for process in answer.processes.unwrap_or_default() {
        table.row(process);
    }
    std::io::stdout()
        .lock()
        .write_all(table.render().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const TITLES: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

pub async fn stats(client: &Client, args: &StatsArgs) -> Result<ExitCode> {
    let format = ListFormat::parse(args.format.as_deref(), DEFAULT_TABLE)?;
    let names = if args.containers.is_empty() {
        let options = ListContainersOptions {
            all: args.all,
            ..Default::default()
        };
        client
            .docker
            .list_containers(Some(options))
            .await?
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    } else {
        args.containers.clone()
    };
    if args.no_stream {
        let mut rows = Vec::new();
        let mut failed = false;
        for name in &names {
            let options = StatsOptions {
                stream: false,
                one_shot: false,
            };
            let mut s = client.docker.stats(name, Some(options));
            match s.next().await {
                Some(Ok(sample)) => rows.push(row(name, &serde_json::to_value(sample)?, args)),
                Some(Err(e)) => {
                    failed = true;
                    crate::report::daemon_error(&e.into());
                }
                None => {}
            }
        }
        let text = format.render(TITLES, &rows)?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
        if failed {
            return Err(crate::report::StatusError::silent(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    stream_stats(client, names, args, &format).await
}

/// Streams every container's samples and redraws the table each second until interrupted.
async fn stream_stats(
    client: &Client,
    names: Vec<String>,
    args: &StatsArgs,
    format: &ListFormat,
) -> Result<ExitCode> {
    if names.is_empty() && !args.containers.is_empty() {
        bail!("no containers to show");
    }
    let latest: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let mut tasks = Vec::new();
    for name in &names {
        let client = client.clone();
        let name = name.clone();
        let latest = latest.clone();
        tasks.push(tokio::spawn(async move {
            let options = StatsOptions {
                stream: true,
                one_shot: false,
            };
            let mut s = client.docker.stats(&name, Some(options));
            while let Some(Ok(sample)) = s.next().await {
                if let (Ok(v), Ok(mut map)) = (serde_json::to_value(sample), latest.lock()) {
                    map.insert(name.clone(), v);
                }
            }
            if let Ok(mut map) = latest.lock() {
                map.remove(&name);
            }
        }));
    }
    let terminal = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let rows: Vec<Value> = match latest.lock() {
            Ok(map) => names
                .iter()
                .filter_map(|n| map.get(n).map(|v| row(n, v, args)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut text = format.render(TITLES, &rows)?;
        if terminal {
            text = format!("\x1b[2J\x1b[H{text}");
        }
        std::io::stdout().lock().write_all(text.as_bytes())?;
        if tasks.iter().all(|t| t.is_finished()) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0)
}

/// One sample in docker's `stats` fields.
fn row(name: &str, s: &Value, args: &StatsArgs) -> Value {
    let id = s.get("id").and_then(Value::as_str).unwrap_or(name);
    let id = if args.no_trunc { id } else { short_id(id) };
    let container_name = s
        .get("name")
        .and_then(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        .unwrap_or(name);
    let cpu_delta =
        num(s, "/cpu_stats/cpu_usage/total_usage") - num(s, "/precpu_stats/cpu_usage/total_usage");
    let system_delta =
        num(s, "/cpu_stats/system_cpu_usage") - num(s, "/precpu_stats/system_cpu_usage");
    let mut online = num(s, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let usage = num(s, "/memory_stats/usage");
    // cgroup v1 reports `total_inactive_file`, v2 `inactive_file`; docker subtracts it.
    let inactive = [
        "/memory_stats/stats/total_inactive_file",
        "/memory_stats/stats/inactive_file",
    ]
    .iter()
    .map(|p| num(s, p))
    .find(|v| *v > 0.0 && *v < usage)
    .unwrap_or(0.0);
    let mem = usage - inactive;
    let limit = num(s, "/memory_stats/limit");
    let mem_percent = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s.get("networks").and_then(Value::as_object) {
        for n in nets.values() {
            rx += num(n, "/rx_bytes");
            tx += num(n, "/tx_bytes");
        }
    }
    let (mut read, mut write) = (0.0, 0.0);
    let entries = s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array);
    for e in entries.into_iter().flatten() {
        let value = num(e, "/value");
        match e
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(op) if op == "read" => read += value,
            Some(op) if op == "write" => write += value,
            _ => {}
        }
    }
    let io = |a: f64, b: f64| {
        format!(
            "{} / {}",
            human_size_precision(a, 3),
            human_size_precision(b, 3)
        )
    };
    json!({
        "ID": id,
        "Container": name,
        "Name": container_name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_percent:.2}%"),
        "NetIO": io(rx, tx),
        "BlockIO": io(read, write),
        "PIDs": format!("{}", num(s, "/pids_stats/current") as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_arithmetic() {
        let sample = json!({
            "id": "0123456789abcdef0123", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64}, "system_cpu_usage": 2_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64}, "system_cpu_usage": 1_000_000_000u64},
            "memory_stats": {"usage": 3_145_728u64, "limit": 1_073_741_824u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "pids_stats": {"current": 3},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]}
        });
        let args = StatsArgs {
            all: false,
            no_stream: true,
            no_trunc: false,
            format: None,
            containers: vec![],
        };
        let r = row("web", &sample, &args);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 1GiB");
        assert_eq!(r["MemPerc"], "0.20%");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["NetIO"], "0B / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
