//! Judging every index entry against the wanted platform and isolation, and picking one.

use super::windows::{self, WindowsVersion};
use super::{Candidate, CandidateReport, Chosen, Isolation, Platform, ResolveReport};

/// How good an accepted entry is; greater is better. Fields, in order: accepted by process
/// isolation (only matters when no isolation was asked for, as process is silo's default),
/// exact build/variant, then build (or variant level), then revision.
type Rank = (bool, bool, u32, u32);

/// One entry judged: which isolations accept it, why, and how good a fit it is.
struct Verdict {
    accepted: bool,
    accepted_by: Vec<Isolation>,
    reason: String,
    rank: Rank,
}

/// Judges every candidate for `wanted` (normalised here) and picks the best acceptable one.
///
/// The report's `reference` and `index_digest` are empty; set them with
/// [`ResolveReport::with_source`].
pub fn resolve(
    candidates: &[Candidate],
    wanted: &Platform,
    isolation: Option<Isolation>,
) -> ResolveReport {
    let wanted = wanted.normalized();
    let verdicts: Vec<Verdict> = candidates
        .iter()
        .map(|c| judge(c, &wanted, isolation))
        .collect();
    let mut best: Option<usize> = None;
    for (i, v) in verdicts.iter().enumerate() {
        if v.accepted && best.is_none_or(|b| v.rank > verdicts[b].rank) {
            best = Some(i);
        }
    }
    let accepted_count = verdicts.iter().filter(|v| v.accepted).count();
    let chosen = best.map(|i| {
        let mut reason = verdicts[i].reason.clone();
        if accepted_count > 1 {
            reason.push_str(&format!(
                "; preferred over {} other acceptable entr{}",
                accepted_count - 1,
                if accepted_count == 2 { "y" } else { "ies" }
            ));
        }
        Chosen {
            digest: candidates[i].digest.clone(),
            platform: platform_label(&candidates[i]),
            reason,
        }
    });
    let reports = candidates
        .iter()
        .zip(verdicts)
        .map(|(c, v)| CandidateReport {
            digest: c.digest.clone(),
            platform: platform_label(c),
            accepted: v.accepted,
            reason: v.reason,
            accepted_by: v.accepted_by,
        })
        .collect();
    ResolveReport {
        reference: String::new(),
        index_digest: None,
        wanted,
        isolation,
        chosen,
        candidates: reports,
    }
}

fn platform_label(c: &Candidate) -> String {
    c.platform
        .as_ref()
        .map_or_else(|| "unknown".to_string(), |p| p.normalized().to_string())
}

fn rejected(reason: String) -> Verdict {
    Verdict {
        accepted: false,
        accepted_by: Vec::new(),
        reason,
        rank: (false, false, 0, 0),
    }
}

fn judge(candidate: &Candidate, wanted: &Platform, isolation: Option<Isolation>) -> Verdict {
    let Some(platform) = &candidate.platform else {
        return rejected("no platform".to_string());
    };
    let p = platform.normalized();
    if p.os != wanted.os {
        return rejected(format!("os {} does not match {}", p.os, wanted.os));
    }
    if p.architecture != wanted.architecture {
        return rejected(format!(
            "architecture {} does not match {}",
            p.architecture, wanted.architecture
        ));
    }
    if wanted.is_windows() {
        judge_windows(&p, wanted, isolation)
    } else {
        judge_variant(&p, wanted)
    }
}

/// Variant levels that run older ones: an `arm/v7` host runs `v6` images, `amd64/v3` runs `v2`.
fn variant_level(variant: Option<&str>) -> Option<u32> {
    variant?.strip_prefix('v')?.parse().ok()
}

fn judge_variant(p: &Platform, wanted: &Platform) -> Verdict {
    let accept = |reason: String, exact: bool| Verdict {
        accepted: true,
        accepted_by: Isolation::ALL.to_vec(),
        reason,
        rank: (
            true,
            exact,
            variant_level(p.variant.as_deref()).unwrap_or(0),
            0,
        ),
    };
    match (&wanted.variant, &p.variant) {
        (None, None) => accept(format!("{} matches", p), true),
        (None, Some(v)) => accept(
            format!("{} matches (any variant wanted, entry has {v})", p),
            false,
        ),
        (Some(w), Some(v)) if w == v => accept(format!("{} matches exactly", p), true),
        (Some(w), v) => match (variant_level(Some(w)), variant_level(v.as_deref())) {
            (Some(want), Some(have)) if have < want => accept(
                format!("variant {} runs on {w}", v.as_deref().unwrap_or("none")),
                false,
            ),
            _ => rejected(format!(
                "variant {} does not match {w}",
                v.as_deref().unwrap_or("none")
            )),
        },
    }
}

fn judge_windows(p: &Platform, wanted: &Platform, isolation: Option<Isolation>) -> Verdict {
    let Some(host_version) = &wanted.os_version else {
        let version = p.os_version.clone().unwrap_or_default();
        let parsed = WindowsVersion::parse(&version).ok();
        return Verdict {
            accepted: true,
            accepted_by: Isolation::ALL.to_vec(),
            reason: "no host os.version given, so os.version was not checked".to_string(),
            rank: (
                true,
                false,
                parsed.map_or(0, |v| v.build),
                parsed.map_or(0, |v| v.revision),
            ),
        };
    };
    let Ok(host) = WindowsVersion::parse(host_version) else {
        return rejected(format!(
            "host os.version {host_version:?} is not a Windows version"
        ));
    };
    let Some(image_version) = &p.os_version else {
        return rejected(format!(
            "entry has no os.version to check against host {host}"
        ));
    };
    let Ok(image) = WindowsVersion::parse(image_version) else {
        return rejected(format!(
            "entry os.version {image_version:?} is not a Windows version"
        ));
    };
    let outcomes: Vec<(Isolation, Result<String, String>)> = Isolation::ALL
        .iter()
        .map(|&i| (i, windows::check(&host, &image, i)))
        .collect();
    let accepted_by: Vec<Isolation> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    let text = |r: &Result<String, String>| match r {
        Ok(s) | Err(s) => s.clone(),
    };
    let (accepted, reason) = match isolation {
        Some(wanted_iso) => {
            let outcome = windows::check(&host, &image, wanted_iso);
            (outcome.is_ok(), text(&outcome))
        }
        None => (
            !accepted_by.is_empty(),
            outcomes
                .iter()
                .map(|(_, r)| text(r))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let (exact, build, revision) = windows::preference(&host, &image);
    let process_first = isolation.is_some() || accepted_by.contains(&Isolation::Process);
    Verdict {
        accepted,
        accepted_by,
        reason,
        rank: (process_first, exact, build, revision),
    }
}
