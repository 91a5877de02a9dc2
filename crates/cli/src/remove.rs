//! `silo tag`, `silo rmi` and `silo image prune`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use bollard::models::ImageDeleteResponseItem;
use bollard::query_parameters::{PruneImagesOptions, RemoveImageOptions, TagImageOptions};
use silo_image::reference::Reference;

use crate::args::{filter_map, PruneArgs, RmiArgs, TagArgs};
use crate::connect::Client;
use crate::format::human_size;
use crate::report;

pub async fn tag(client: &Client, args: &TagArgs) -> Result<ExitCode> {
    let target = Reference::parse(&args.target).with_context(|| format!("tag {}", args.target))?;
    if target.digest().is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let options = TagImageOptions {
        repo: Some(target.name()),
        tag: target.tag().map(str::to_string),
    };
    client.docker.tag_image(&args.source, Some(options)).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn rmi(client: &Client, args: &RmiArgs) -> Result<ExitCode> {
    let options = RemoveImageOptions {
        force: args.force,
        noprune: args.no_prune,
        ..Default::default()
    };
    let mut failed = false;
    for image in &args.images {
        // Like docker: report each failure and go on with the rest.
        match client
            .docker
            .remove_image(image, Some(options.clone()), None)
            .await
        {
            Ok(items) => print_deleted(&items)?,
            Err(e) => {
                failed = true;
                report::daemon_error(&e.into());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_deleted(items: &[ImageDeleteResponseItem]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(deleted_lines(items, "Untagged", "Deleted").as_bytes())?;
    Ok(())
}

/// `Untagged: …` / `Deleted: …`, one line per item (`rmi` capitalizes, `prune` does not).
fn deleted_lines(items: &[ImageDeleteResponseItem], untagged: &str, deleted: &str) -> String {
    let mut s = String::new();
    for item in items {
        if let Some(u) = &item.untagged {
            s.push_str(&format!("{untagged}: {u}\n"));
        }
        if let Some(d) = &item.deleted {
            s.push_str(&format!("{deleted}: {d}\n"));
        }
    }
    s
}

const PRUNE_DANGLING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ";
const PRUNE_ALL: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] ";

pub async fn prune(client: &Client, args: &PruneArgs) -> Result<ExitCode> {
    if !args.force && !confirm(if args.all { PRUNE_ALL } else { PRUNE_DANGLING })? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut filters = filter_map(&args.filters);
    filters.insert("dangling".into(), vec![(!args.all).to_string()]);
    let options = PruneImagesOptions {
        filters: Some(filters),
    };
    let report = client.docker.prune_images(Some(options)).await?;
    let deleted = report.images_deleted.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Images:")?;
        out.write_all(deleted_lines(&deleted, "untagged", "deleted").as_bytes())?;
        writeln!(out)?;
    }
    let reclaimed = report.space_reclaimed.unwrap_or(0).max(0) as f64;
    writeln!(out, "Total reclaimed space: {}", human_size(reclaimed))?;
    Ok(ExitCode::SUCCESS)
}

/// docker's prompt: only `y`/`Y` (or "yes") confirms; a closed or non-terminal stdin declines.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question}")?;
    err.flush()?;
    // Read even when stdin is a pipe, like docker (`yes | silo image prune`).
    let stdin = std::io::stdin();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(answer == "y" || answer == "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_lines_like_docker() {
        let items = [
            ImageDeleteResponseItem {
                untagged: Some("busybox:latest".into()),
                deleted: None,
            },
            ImageDeleteResponseItem {
                untagged: None,
                deleted: Some("sha256:abc".into()),
            },
        ];
        assert_eq!(
            deleted_lines(&items, "Untagged", "Deleted"),
            "Untagged: busybox:latest\nDeleted: sha256:abc\n"
        );
    }
}
