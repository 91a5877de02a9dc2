//! `silo images` / `silo image ls` and `silo image history`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use bollard::models::{ImageHistoryResponseItem, ImageSummary};
use bollard::query_parameters::ListImagesOptions;
use chrono::{DateTime, Utc};

use crate::args::{filter_map, HistoryArgs, ListArgs};
use crate::connect::Client;
use crate::format::{created_since, ellipsis, human_size_precision, short_id, Table};

const NONE: &str = "<none>";

pub async fn list(client: &Client, args: &ListArgs) -> Result<ExitCode> {
    let mut filters = filter_map(&args.filters);
    if let Some(reference) = &args.reference {
        filters
            .entry("reference".into())
            .or_default()
            .push(reference.clone());
    }
    let options = ListImagesOptions {
        all: args.all,
        digests: args.digests,
        filters: (!filters.is_empty()).then_some(filters),
        ..Default::default()
    };
    let images = client.docker.list_images(Some(options)).await?;
    let text = render_list(&images, args, Utc::now());
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One output row: docker's `imageContext`.
#[derive(Debug)]
struct Row<'a> {
    repo: String,
    tag: String,
    digest: String,
    image: &'a ImageSummary,
}

/// Docker's expansion of an image into rows: one per repo:tag (times digests with
/// `--digests`), one per repository known only by digest, or a single `<none>` row.
fn rows(image: &ImageSummary, show_digests: bool) -> Vec<Row<'_>> {
    let mut tags: Vec<(String, Vec<String>)> = Vec::new();
    for rt in &image.repo_tags {
        let Some((repo, tag)) = split_tag(rt) else {
            continue;
        };
        match tags.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, ts)) => ts.push(tag),
            None => tags.push((repo, vec![tag])),
        }
    }
    let mut digests: Vec<(String, Vec<String>)> = Vec::new();
    for rd in &image.repo_digests {
        let Some((repo, digest)) = rd.split_once('@') else {
            continue;
        };
        let repo = familiar(repo);
        match digests.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, ds)) => ds.push(digest.to_string()),
            None => digests.push((repo, vec![digest.to_string()])),
        }
    }
    let row = |repo: &str, tag: &str, digest: &str| Row {
        repo: repo.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
        image,
    };
    let mut out = Vec::new();
    for (repo, repo_tags) in &tags {
        let pos = digests.iter().position(|(r, _)| r == repo);
        let repo_digests = pos.map(|p| digests.remove(p).1).unwrap_or_default();
        for tag in repo_tags {
            if !show_digests || repo_digests.is_empty() {
                out.push(row(repo, tag, ""));
            } else {
                out.extend(repo_digests.iter().map(|d| row(repo, tag, d)));
            }
        }
    }
    for (repo, repo_digests) in &digests {
        if show_digests {
            out.extend(repo_digests.iter().map(|d| row(repo, NONE, d)));
        } else {
            out.push(row(repo, NONE, ""));
        }
    }
    if tags.is_empty() && image.repo_digests.is_empty() {
        out.push(row(NONE, NONE, NONE));
    }
    out
}

fn render_list(images: &[ImageSummary], args: &ListArgs, now: DateTime<Utc>) -> String {
    let id = |image: &ImageSummary| {
        if args.no_trunc {
            image.id.clone()
        } else {
            short_id(&image.id).to_string()
        }
    };
    let all_rows = images.iter().flat_map(|i| rows(i, args.digests));
    if args.quiet {
        return all_rows.map(|r| format!("{}\n", id(r.image))).collect();
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = Table::new(&header);
    for r in all_rows {
        let mut cells = vec![r.repo, r.tag];
        if args.digests {
            cells.push(if r.digest.is_empty() {
                NONE.into()
            } else {
                r.digest
            });
        }
        cells.push(id(r.image));
        cells.push(created_since(r.image.created, now));
        cells.push(human_size_precision(r.image.size as f64, 3));
        table.row(cells);
    }
    table.render()
}

/// `repo:tag` split at the last colon after the last slash (a registry port is not a tag).
fn split_tag(reference: &str) -> Option<(String, String)> {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    let colon = reference[slash..].rfind(':')? + slash;
    Some((
        familiar(&reference[..colon]),
        reference[colon + 1..].to_string(),
    ))
}

/// Docker's familiar form of a repository name (`docker.io/library/busybox` -> `busybox`).
fn familiar(repo: &str) -> String {
    let short = repo.strip_prefix("docker.io/").unwrap_or(repo);
    match short.strip_prefix("library/") {
        Some(s) if !s.contains('/') => s.to_string(),
        _ => short.to_string(),
    }
}

pub async fn history(client: &Client, args: &HistoryArgs) -> Result<ExitCode> {
    let items = client.docker.image_history(&args.image).await?;
    let text = render_history(&items, args, Utc::now());
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn render_history(
    items: &[ImageHistoryResponseItem],
    args: &HistoryArgs,
    now: DateTime<Utc>,
) -> String {
    let id = |item: &ImageHistoryResponseItem| match item.id.as_str() {
        "" | "<missing>" => "<missing>".to_string(),
        full if args.no_trunc => full.to_string(),
        full => short_id(full).to_string(),
    };
    if args.quiet {
        return items.iter().map(|i| format!("{}\n", id(i))).collect();
    }
    let mut table = Table::new(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
    for item in items {
        let created = if args.human {
            created_since(item.created, now)
        } else {
            DateTime::<Utc>::from_timestamp(item.created, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let created_by = item.created_by.replace('\t', " ");
        let created_by = if args.no_trunc {
            created_by
        } else {
            ellipsis(&created_by, 45)
        };
        let size = if args.human {
            human_size_precision(item.size as f64, 3)
        } else {
            item.size.to_string()
        };
        table.row(vec![
            id(item),
            created,
            created_by,
            size,
            item.comment.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn image(id: &str, tags: &[&str], digests: &[&str]) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            repo_tags: tags.iter().map(|s| s.to_string()).collect(),
            repo_digests: digests.iter().map(|s| s.to_string()).collect(),
            created: 1_700_000_000 - 7200,
            size: 4_264_000,
            labels: HashMap::new(),
            ..Default::default()
        }
    }

    fn list_args(digests: bool, quiet: bool) -> ListArgs {
        ListArgs {
            all: false,
            quiet,
            digests,
            no_trunc: false,
            filters: vec![],
            reference: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid")
    }

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn one_row_per_tag_and_none_for_untagged() {
        let images = [
            image(
                ID,
                &["busybox:latest", "127.0.0.1:5000/bb:1"],
                &["busybox@sha256:aa"],
            ),
            image("sha256:fedcba9876543210", &[], &[]),
        ];
        assert_eq!(
            render_list(&images, &list_args(false, false), now()),
            "REPOSITORY          TAG       IMAGE ID       CREATED       SIZE\n\
             busybox             latest    0123456789ab   2 hours ago   4.26MB\n\
             127.0.0.1:5000/bb   1         0123456789ab   2 hours ago   4.26MB\n\
             <none>              <none>    fedcba987654   2 hours ago   4.26MB\n"
        );
    }

    #[test]
    fn digests_column_and_digest_only_repos() {
        let images = [image(
            ID,
            &["busybox:latest"],
            &["docker.io/library/busybox@sha256:aa", "other@sha256:bb"],
        )];
        let text = render_list(&images, &list_args(true, false), now());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("REPOSITORY   TAG       DIGEST"));
        assert!(lines[1].starts_with("busybox      latest    sha256:aa"));
        assert!(lines[2].starts_with("other        <none>    sha256:bb"));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn quiet_prints_ids_per_row() {
        let images = [image(ID, &["a:1", "a:2"], &[])];
        assert_eq!(
            render_list(&images, &list_args(false, true), now()),
            "0123456789ab\n0123456789ab\n"
        );
    }

    #[test]
    fn history_truncates_created_by() {
        let items = [
            ImageHistoryResponseItem {
                id: ID.into(),
                created: 1_700_000_000 - 90,
                created_by: "/bin/sh -c #(nop)\tCMD [\"sh\"] and a very long tail that goes on"
                    .into(),
                tags: vec![],
                size: 0,
                comment: "".into(),
            },
            ImageHistoryResponseItem {
                id: "<missing>".into(),
                created: 1_700_000_000 - 7200,
                created_by: "ADD rootfs.tar /".into(),
                tags: vec![],
                size: 4_264_000,
                comment: "imported".into(),
            },
        ];
        let args = HistoryArgs {
            human: true,
            no_trunc: false,
            quiet: false,
            image: "x".into(),
        };
        let text = render_history(&items, &args, now());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "IMAGE          CREATED              CREATED BY                                      SIZE      COMMENT");
        assert_eq!(lines[1], "0123456789ab   About a minute ago   /bin/sh -c #(nop) CMD [\"sh\"] and a very long…   0B        ");
        assert_eq!(lines[2], "<missing>      2 hours ago          ADD rootfs.tar /                                4.26MB    imported");
    }
}
