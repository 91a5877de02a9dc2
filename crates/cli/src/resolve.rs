//! `silo image resolve` (silo extension): which manifest of an index the daemon would pull for
//! a platform, and why every other entry was accepted or rejected.
//!
//! The report is deserialized into types of our own: the daemon's JSON is the contract, and the
//! CLI should not need the image crate's internals to read it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::args::ResolveArgs;
use crate::connect::Client;
use crate::format::{short_id, Table};
use crate::raw::{path_ref, query};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResolveReport {
    pub reference: String,
    #[serde(default)]
    pub index_digest: Option<String>,
    pub wanted: Wanted,
    #[serde(default)]
    pub isolation: Option<String>,
    #[serde(default)]
    pub chosen: Option<Chosen>,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Wanted {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chosen {
    pub digest: String,
    pub platform: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Candidate {
    pub digest: String,
    pub platform: String,
    pub accepted: bool,
    pub reason: String,
    #[serde(default)]
    pub accepted_by: Vec<String>,
}

impl Wanted {
    /// `windows/amd64 10.0.17763.2000`, `linux/arm64/v8`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            s.push('/');
            s.push_str(v);
        }
        if let Some(v) = &self.os_version {
            s.push(' ');
            s.push_str(v);
        }
        s
    }
}

pub async fn resolve(client: &Client, args: &ResolveArgs) -> Result<ExitCode> {
    let platform = args.platform.to_string();
    let mut pairs = vec![("platform", platform.as_str())];
    if let Some(v) = &args.os_version {
        pairs.push(("os_version", v));
    }
    if let Some(i) = &args.isolation {
        pairs.push(("isolation", i));
    }
    let path = format!(
        "/distribution/{}/resolve?{}",
        path_ref(&args.reference),
        query(&pairs)
    );
    let value = client.raw_json(path).await?;
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report: ResolveReport =
        serde_json::from_value(value).context("read the daemon's resolve report")?;
    let (text, found) = render(&report);
    if found {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        Ok(ExitCode::SUCCESS)
    } else {
        std::io::stderr().lock().write_all(text.as_bytes())?;
        Ok(ExitCode::FAILURE)
    }
}

/// The human report, and whether a manifest was chosen.
pub fn render(report: &ResolveReport) -> (String, bool) {
    let mut s = String::new();
    match &report.chosen {
        Some(chosen) => {
            s.push_str(&format!("{}\n", chosen.digest));
            s.push_str(&format!("platform: {}\n", chosen.platform));
            s.push_str(&format!("why: {}\n", chosen.reason));
            if !report.candidates.is_empty() {
                s.push('\n');
            }
        }
        None => {
            let isolation = report
                .isolation
                .as_deref()
                .map(|i| format!(" with {i} isolation"))
                .unwrap_or_default();
            s.push_str(&format!(
                "no manifest in {} fits {}{isolation}:\n",
                report.reference,
                report.wanted.describe()
            ));
        }
    }
    if !report.candidates.is_empty() {
        s.push_str(&candidate_table(report).render());
    }
    (s, report.chosen.is_some())
}

fn candidate_table(report: &ResolveReport) -> Table {
    let chosen = report.chosen.as_ref().map(|c| c.digest.as_str());
    let mut table = Table::new(&["PLATFORM", "DIGEST", "VERDICT", "REASON"]);
    for c in &report.candidates {
        let verdict = if Some(c.digest.as_str()) == chosen {
            "chosen"
        } else if c.accepted {
            "accepted"
        } else {
            "rejected"
        };
        let mut reason = c.reason.clone();
        let others: Vec<&str> = c
            .accepted_by
            .iter()
            .map(String::as_str)
            .filter(|i| Some(*i) != report.isolation.as_deref())
            .collect();
        if !c.accepted && !others.is_empty() {
            reason.push_str(&format!(" ({} isolation would accept)", others.join("/")));
        }
        table.row(vec![
            c.platform.clone(),
            short_id(&c.digest).to_string(),
            verdict.to_string(),
            reason,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn report(chosen: bool) -> ResolveReport {
        let json = serde_json::json!({
            "reference": "127.0.0.1:5000/win:ltsc",
            "index_digest": null,
            "wanted": {"os": "windows", "architecture": "amd64", "variant": null, "os_version": "10.0.17763.2000"},
            "isolation": "process",
            "chosen": if chosen {
                serde_json::json!({"digest": D1, "platform": "windows/amd64 10.0.17763.5820", "reason": "same build 17763"})
            } else { serde_json::Value::Null },
            "candidates": [
                {"digest": D1, "platform": "windows/amd64 10.0.17763.5820", "accepted": chosen,
                 "reason": if chosen { "same build 17763" } else { "build 17763 != host 20348" },
                 "accepted_by": if chosen { vec!["process", "hyperv"] } else { vec!["hyperv"] }},
                {"digest": D2, "platform": "windows/amd64 10.0.20348.1", "accepted": false,
                 "reason": "build 20348 newer than host 17763"}
            ]
        });
        serde_json::from_value(json).expect("report")
    }

    #[test]
    fn chosen_report_prints_digest_first() {
        let (text, found) = render(&report(true));
        assert!(found);
        assert_eq!(
            text,
            format!(
                "{D1}\nplatform: windows/amd64 10.0.17763.5820\nwhy: same build 17763\n\n\
                 PLATFORM                        DIGEST         VERDICT    REASON\n\
                 windows/amd64 10.0.17763.5820   111111111111   chosen     same build 17763\n\
                 windows/amd64 10.0.20348.1      222222222222   rejected   build 20348 newer than host 17763\n"
            )
        );
    }

    #[test]
    fn no_fit_explains_and_hints_hyperv() {
        let (text, found) = render(&report(false));
        assert!(!found);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "no manifest in 127.0.0.1:5000/win:ltsc fits windows/amd64 10.0.17763.2000 with process isolation:"
        );
        assert!(lines[2]
            .ends_with("rejected   build 17763 != host 20348 (hyperv isolation would accept)"));
        assert!(lines[3].ends_with("build 20348 newer than host 17763"));
    }

    #[test]
    fn wanted_describes_variant_and_version() {
        let w = Wanted {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            os_version: None,
        };
        assert_eq!(w.describe(), "linux/arm64/v8");
    }
}
