//! `silo compute ls` and `silo compute inspect` (silo extension, the `hcsdiag list` analog):
//! the compute service's systems as silod's `/compute/systems` endpoints report them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::Value;

use super::args::{ComputeInspectArgs, ComputeLsArgs};
use crate::connect::Client;
use crate::format::context::ListFormat;
use crate::inspect::pretty_json;
use crate::raw::path_ref;

const DEFAULT_TABLE: &str = "table {{.id}}\t{{.owner}}\t{{.isolation}}\t{{.state}}";
const TITLES: &[(&str, &str)] = &[
    ("id", "ID"),
    ("owner", "OWNER"),
    ("isolation", "ISOLATION"),
    ("state", "STATE"),
];

pub async fn ls(client: &Client, args: &ComputeLsArgs) -> Result<ExitCode> {
    let answer = client.raw_json("/compute/systems".into()).await?;
    let Value::Array(systems) = answer else {
        bail!("silod answered /compute/systems with something other than a list: {answer}");
    };
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for s in &systems {
            writeln!(
                out,
                "{}",
                s.get("id").and_then(Value::as_str).unwrap_or_default()
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = ListFormat::parse(args.format.as_deref(), DEFAULT_TABLE)?;
    out.write_all(format.render(TITLES, &systems)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn inspect(client: &Client, args: &ComputeInspectArgs) -> Result<ExitCode> {
    let answer = client
        .raw_json(format!("/compute/systems/{}", path_ref(&args.id)))
        .await?;
    writeln!(std::io::stdout().lock(), "{}", pretty_json(&answer)?)?;
    Ok(ExitCode::SUCCESS)
}
