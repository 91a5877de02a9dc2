//! `silo pull` and `silo push`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use silo_image::reference::Reference;

use crate::args::{PullArgs, PushArgs};
use crate::auth;
use crate::connect::Client;
use crate::progress::{self, Display};
use crate::raw::{path_ref, query, RawRequest};

pub async fn pull(client: &Client, args: &PullArgs) -> Result<ExitCode> {
    let reference = pull_image(
        client,
        &args.reference,
        args.platform.as_ref().map(ToString::to_string),
        args.os_version.as_deref(),
        Display::for_stdout(args.quiet),
    )
    .await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{reference}")?;
    Ok(ExitCode::SUCCESS)
}

/// Pulls `reference` showing progress on `display`; returns the parsed reference. `run` uses
/// this too when the image is missing, with progress on stderr.
pub async fn pull_image(
    client: &Client,
    reference: &str,
    platform: Option<String>,
    os_version: Option<&str>,
    display: Display,
) -> Result<Reference> {
    let parsed = Reference::parse(reference).with_context(|| format!("pull {reference}"))?;
    let tag_or_digest = parsed
        .digest()
        .or(parsed.tag())
        .unwrap_or(silo_image::reference::DEFAULT_TAG)
        .to_string();
    let name = parsed.name();
    let mut pairs = vec![
        ("fromImage", name.as_str()),
        ("tag", tag_or_digest.as_str()),
    ];
    if let Some(p) = &platform {
        pairs.push(("platform", p));
    }
    // silo extension: lets the daemon choose among windows/* entries by OS version.
    if let Some(v) = os_version {
        pairs.push(("os_version", v));
    }
    let mut req = RawRequest::post(format!("/images/create?{}", query(&pairs)));
    let auth = auth::for_reference(reference);
    if auth != auth::AuthConfig::default() {
        req.headers.push(("X-Registry-Auth", auth.header()));
    }
    progress::follow(client.raw(req), display).await?;
    Ok(parsed)
}

pub async fn push(client: &Client, args: &PushArgs) -> Result<ExitCode> {
    let reference =
        Reference::parse(&args.reference).with_context(|| format!("push {}", args.reference))?;
    let mut pairs = Vec::new();
    let tag = reference.tag().map(str::to_string);
    if let Some(tag) = &tag {
        pairs.push(("tag", tag.as_str()));
    }
    let platform = args.platform.as_ref().map(ToString::to_string);
    if let Some(p) = &platform {
        pairs.push(("platform", p.as_str()));
    }
    let path = format!(
        "/images/{}/push?{}",
        path_ref(&reference.familiar_name()),
        query(&pairs)
    );
    let mut req = RawRequest::post(path);
    // The daemon wants the header on every push, even without credentials.
    req.headers.push((
        "X-Registry-Auth",
        auth::for_reference(&args.reference).header(),
    ));
    progress::follow(client.raw(req), Display::for_stdout(args.quiet)).await?;
    if args.quiet {
        // docker push -q prints only the reference; the digest line is in the messages.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", reference.familiar())?;
    }
    Ok(ExitCode::SUCCESS)
}
