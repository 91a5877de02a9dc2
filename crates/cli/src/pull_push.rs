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
    let reference =
        Reference::parse(&args.reference).with_context(|| format!("pull {}", args.reference))?;
    let tag_or_digest = reference
        .digest()
        .or(reference.tag())
        .unwrap_or(silo_image::reference::DEFAULT_TAG)
        .to_string();
    let platform = args.platform.as_ref().map(ToString::to_string);
    let name = reference.name();
    let mut pairs = vec![
        ("fromImage", name.as_str()),
        ("tag", tag_or_digest.as_str()),
    ];
    if let Some(p) = &platform {
        pairs.push(("platform", p));
    }
    // silo extension: lets the daemon choose among windows/* entries by OS version.
    if let Some(v) = &args.os_version {
        pairs.push(("os_version", v));
    }
    let mut req = RawRequest::post(format!("/images/create?{}", query(&pairs)));
    let auth = auth::for_reference(&args.reference);
    if auth != auth::AuthConfig::default() {
        req.headers.push(("X-Registry-Auth", auth.header()));
    }
    progress::follow(client.raw(req), Display::for_stdout(args.quiet)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{reference}")?;
    Ok(ExitCode::SUCCESS)
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
