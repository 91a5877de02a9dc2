//! `silo ps` / `silo container ls`, with docker's columns, truncation and `--format` fields.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::args::PsArgs;
use crate::args::filter_map;
use crate::connect::Client;
use crate::format::context::ListFormat;
use crate::format::{created_since, ellipsis, human_size_precision, short_id};

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Field names and their column titles (docker's `ContainerContext`).
pub const TITLES: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub async fn ps(client: &Client, args: &PsArgs) -> Result<ExitCode> {
    let filters = filter_map(&args.filters);
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    let options = ListContainersOptions {
        // `-n`/`-l` include stopped containers, as docker's daemon reads `limit`.
        all: args.all || limit > 0,
        limit: (limit > 0).then_some(limit),
        size: args.size,
        filters: (!filters.is_empty()).then_some(filters),
    };
    let containers = client.docker.list_containers(Some(options)).await?;
    let text = render(&containers, args, Utc::now())?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn render(containers: &[ContainerSummary], args: &PsArgs, now: DateTime<Utc>) -> Result<String> {
    let trunc = !args.no_trunc;
    if args.quiet {
        return Ok(containers
            .iter()
            .map(|c| format!("{}\n", row(c, trunc, now)["ID"].as_str().unwrap_or("")))
            .collect());
    }
    let default = if args.size {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        DEFAULT_TABLE.to_string()
    };
    let format = ListFormat::parse(args.format.as_deref(), &default)?;
    let rows: Vec<Value> = containers.iter().map(|c| row(c, trunc, now)).collect();
    format.render(TITLES, &rows)
}

/// One container as docker's `ContainerContext` prints it.
fn row(c: &ContainerSummary, trunc: bool, now: DateTime<Utc>) -> Value {
    let id = c.id.as_deref().unwrap_or_default();
    let id = if trunc { short_id(id) } else { id };
    let mut image = c.image.clone().unwrap_or_default();
    if trunc {
        let image_id = c.image_id.as_deref().unwrap_or_default();
        if short_id(image_id) == short_id(&image) && image.starts_with("sha256:") {
            image = short_id(&image).to_string();
        } else if let Some((name, _)) = image.split_once('@') {
            // A digest-pinned reference shows as its name, as docker truncates it.
            image = name.to_string();
        }
    }
    let command = c.command.clone().unwrap_or_default();
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let names: Vec<&str> = c
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        // Link aliases (`other/alias`) are shown only with --no-trunc.
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let created = c.created.unwrap_or_default();
    let mut labels: Vec<String> = c
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let size = match (c.size_rw, c.size_root_fs) {
        (None, None) => String::new(),
        (rw, virt) => {
            let rw = human_size_precision(rw.unwrap_or_default() as f64, 3);
            match virt.filter(|v| *v > 0) {
                Some(v) => format!("{rw} (virtual {})", human_size_precision(v as f64, 3)),
                None => rw,
            }
        }
    };
    json!({
        "ID": id,
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": created_at(created),
        "RunningFor": created_since(created, now),
        "Ports": ports(c),
        "State": c.state.map(|s| s.to_string()).unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
        "Size": size,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": "",
        "Networks": "",
        "LocalVolumes": "0",
    })
}

/// docker's `DisplayablePorts`: `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports(c: &ContainerSummary) -> String {
    let mut out: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match (p.ip.as_deref(), p.public_port) {
                (Some(ip), Some(public)) if !ip.is_empty() => {
                    format!("{ip}:{public}->{}/{proto}", p.private_port)
                }
                _ => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out.join(", ")
}

/// Go's `time.Time.String()` for a Unix timestamp, in UTC: `2026-11-22 08:20:43 +0000 UTC`.
fn created_at(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerSummaryStateEnum;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn summary() -> ContainerSummary {
        ContainerSummary {
            id: Some(ID.into()),
            names: Some(vec!["/web".into()]),
            image: Some("127.0.0.1:5000/busybox:latest".into()),
            image_id: Some("sha256:feed".into()),
            command: Some("sh -c 'echo hello; sleep 1000'".into()),
            created: Some(1_700_000_000 - 120),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            status: Some("Up 2 minutes".into()),
            ..Default::default()
        }
    }

    fn args() -> PsArgs {
        PsArgs {
            all: false,
            quiet: false,
            no_trunc: false,
            filters: vec![],
            format: None,
            last: -1,
            latest: false,
            size: false,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid")
    }

    #[test]
    fn default_columns_like_docker_ps() {
        let text = render(&[summary()], &args(), now()).expect("renders");
        assert_eq!(
            text,
            "CONTAINER ID   IMAGE                           COMMAND                  CREATED         STATUS         PORTS     NAMES\n\
             0123456789ab   127.0.0.1:5000/busybox:latest   \"sh -c 'echo hello; …\"   2 minutes ago   Up 2 minutes             web\n"
        );
    }

    #[test]
    fn quiet_no_trunc_and_format() {
        let mut a = args();
        a.quiet = true;
        assert_eq!(
            render(&[summary()], &a, now()).expect("renders"),
            "0123456789ab\n"
        );
        a.no_trunc = true;
        assert_eq!(
            render(&[summary()], &a, now()).expect("renders"),
            format!("{ID}\n")
        );
        let mut a = args();
        a.format = Some("{{.Names}} {{.State}} {{.Command}}".into());
        assert_eq!(
            render(&[summary()], &a, now()).expect("renders"),
            "web running \"sh -c 'echo hello; …\"\n"
        );
    }

    #[test]
    fn quoting_is_gos() {
        assert_eq!(go_quote("a \"b\"\\"), "\"a \\\"b\\\"\\\\\"");
    }
}
