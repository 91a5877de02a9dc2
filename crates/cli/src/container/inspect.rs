//! `silo inspect` for containers and images (`--type`), and `silo container inspect`. The
//! daemon's JSON is printed as it came, so fields silo adds survive; templates run over it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;

use super::args::AnyInspectArgs;
use crate::connect::Client;
use crate::format::template::Template;
use crate::inspect::pretty_json;
use crate::raw::path_ref;
use crate::report::{self, StatusError};

fn is_not_found(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<bollard::errors::Error>(),
        Some(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}

async fn container(client: &Client, name: &str, size: bool) -> Result<Value> {
    let query = if size { "?size=1" } else { "" };
    client
        .raw_json(format!("/containers/{}/json{query}", path_ref(name)))
        .await
}

async fn image(client: &Client, name: &str) -> Result<Value> {
    client
        .raw_json(format!("/images/{}/json", path_ref(name)))
        .await
}

/// Whether `name` could name a container (docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, or an id);
/// `127.0.0.1:5000/busybox` cannot, so it is looked up as an image only.
fn could_be_container(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// One object by name: a container, else an image, as docker searches when `--type` is unset.
async fn lookup(client: &Client, name: &str, args: &AnyInspectArgs) -> Result<Value> {
    match args.kind.as_deref() {
        None if !could_be_container(name) => match image(client, name).await {
            Err(e) if is_not_found(&e) => Err(no_such_object(name)),
            other => other,
        },
        Some("container") => container(client, name, args.size).await,
        Some("image") => image(client, name).await,
        _ => match container(client, name, args.size).await {
            Err(e) if is_not_found(&e) => match image(client, name).await {
                Err(e) if is_not_found(&e) => Err(no_such_object(name)),
                other => other,
            },
            other => other,
        },
    }
}

fn no_such_object(name: &str) -> anyhow::Error {
    anyhow::Error::new(StatusError {
        code: 1,
        message: Some(format!("Error: No such object: {name}")),
    })
}

pub async fn inspect(client: &Client, args: &AnyInspectArgs) -> Result<ExitCode> {
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(t) => Some(Template::parse(t)?),
    };
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match lookup(client, name, args).await {
            Ok(v) => found.push(v),
            Err(e) => {
                failed = true;
                report::daemon_error(&e);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match template {
        None => writeln!(out, "{}", pretty_json(&found)?)?,
        Some(t) => {
            for v in &found {
                writeln!(out, "{}", t.execute(v)?)?;
            }
        }
    }
    if failed {
        return Err(StatusError::silent(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_not_container_names() {
        assert!(could_be_container("web"));
        assert!(could_be_container("/web_1.a-b"));
        assert!(could_be_container("0123456789ab"));
        assert!(!could_be_container("127.0.0.1:5000/busybox:latest"));
        assert!(!could_be_container("busybox:latest"));
        assert!(!could_be_container(""));
    }
}
