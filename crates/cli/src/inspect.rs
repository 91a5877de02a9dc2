//! `silo image inspect` (and `silo inspect` for images).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::args::InspectArgs;
use crate::connect::Client;
use crate::format::template::Template;
use crate::report;

pub async fn inspect(client: &Client, args: &InspectArgs) -> Result<ExitCode> {
    // Parse the template before talking to the daemon so a typo fails fast.
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(t) => Some(Template::parse(t)?),
    };
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match client.docker.inspect_image(name).await {
            Ok(image) => found.push(image),
            Err(e) => {
                failed = true;
                report::daemon_error(&e.into());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match template {
        None => {
            out.write_all(pretty_json(&found)?.as_bytes())?;
            writeln!(out)?;
        }
        Some(t) => {
            for image in &found {
                let value: Value = serde_json::to_value(image)?;
                writeln!(out, "{}", t.execute(&value)?)?;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// JSON indented with four spaces, as docker prints `inspect` output.
pub fn pretty_json<T: Serialize>(value: &T) -> Result<String> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_uses_four_spaces() {
        let v = serde_json::json!([{"Id": "sha256:1", "RepoTags": ["a:b"]}]);
        assert_eq!(
            pretty_json(&v).expect("json"),
            "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:b\"\n        ]\n    }\n]"
        );
        assert_eq!(pretty_json(&Vec::<u8>::new()).expect("json"), "[]");
    }
}
