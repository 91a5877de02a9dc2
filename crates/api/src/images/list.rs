//! `GET /images/json?all=&filters=&digests=` with Docker's image filters.

use axum::extract::State;
use axum::Json;
use bollard_stubs::models::ImageSummary;
use chrono::{DateTime, Utc};
use silo_engine::ImageRecord;

use super::convert;
use crate::error::ApiError;
use crate::filters::{glob_match, Filters};
use crate::params::Params;
use crate::{blocking, AppState};

const IMAGE_FILTERS: &[&str] = &["dangling", "label", "before", "since", "reference"];

pub async fn list(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    // `all` (intermediate images) and `digests` (RepoDigests are always sent) change nothing here.
    let filters = Filters::parse(params.get("filters"))?;
    filters.validate(IMAGE_FILTERS)?;
    let engine = state.engine;
    let summaries = blocking(move || {
        let records = engine.images()?;
        filter_images(records, &filters, |name| Ok(engine.image(name)?))
    })
    .await?;
    Ok(Json(summaries))
}

/// Apply `filters` and render the survivors, newest first. `lookup` resolves the images named by
/// `before`/`since`.
pub fn filter_images(
    records: Vec<ImageRecord>,
    filters: &Filters,
    lookup: impl Fn(&str) -> Result<ImageRecord, ApiError>,
) -> Result<Vec<ImageSummary>, ApiError> {
    let dangling = filters.bool("dangling")?;
    let before = bounds(filters.get("before"), &lookup)?;
    let since = bounds(filters.get("since"), &lookup)?;
    let patterns = filters.get("reference");

    let mut out = Vec::new();
    for record in &records {
        let created = convert::created(record);
        if !before.iter().all(|b| created.is_some_and(|c| c < *b)) {
            continue;
        }
        if !since.iter().all(|s| created.is_some_and(|c| c > *s)) {
            continue;
        }
        let labels = record
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().as_ref());
        if !filters.match_labels("label", |k| {
            labels.and_then(|l| l.get(k)).map(String::as_str)
        }) {
            continue;
        }
        let is_dangling = record.repo_tags.is_empty();
        if dangling.is_some_and(|want| want != is_dangling) {
            continue;
        }
        let keep =
            |r: &&String| patterns.is_empty() || patterns.iter().any(|p| reference_matches(p, r));
        let tags: Vec<String> = record.repo_tags.iter().filter(keep).cloned().collect();
        let digests: Vec<String> = record.repo_digests.iter().filter(keep).cloned().collect();
        if !patterns.is_empty() && tags.is_empty() && digests.is_empty() {
            continue;
        }
        out.push(convert::summary(record, tags, digests));
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

fn bounds(
    names: &[String],
    lookup: &impl Fn(&str) -> Result<ImageRecord, ApiError>,
) -> Result<Vec<DateTime<Utc>>, ApiError> {
    names
        .iter()
        .map(|name| {
            let record = lookup(name)?;
            Ok(convert::created(&record).unwrap_or(DateTime::<Utc>::MIN_UTC))
        })
        .collect()
}

/// Docker's `reference.FamiliarMatch`: the pattern matches the full familiar reference or its
/// name without tag/digest.
fn reference_matches(pattern: &str, reference: &str) -> bool {
    glob_match(pattern, reference) || glob_match(pattern, familiar_name(reference))
}

fn familiar_name(reference: &str) -> &str {
    if let Some((name, _digest)) = reference.split_once('@') {
        return name;
    }
    let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[slash..].rfind(':') {
        Some(colon) => &reference[..slash + colon],
        None => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::super::convert::tests::{config, record};
    use super::*;
    use serde_json::json;

    fn sample() -> Vec<ImageRecord> {
        let mut a = record(
            &["busybox:latest", "busybox:1.36"],
            config("2024-01-01T00:00:00Z", json!({"tier": "base"})),
        );
        a.id = "sha256:a".into();
        a.repo_digests = vec!["busybox@sha256:d1".into()];
        let mut b = record(
            &["127.0.0.1:5000/team/app:v1"],
            config("2024-02-01T00:00:00Z", json!({"tier": "app", "x": ""})),
        );
        b.id = "sha256:b".into();
        let mut c = record(&[], config("2024-03-01T00:00:00Z", json!(null)));
        c.id = "sha256:c".into();
        vec![a, b, c]
    }

    fn run(filters: &str) -> Vec<String> {
        let records = sample();
        let by_name = records.clone();
        let lookup = |name: &str| {
            by_name
                .iter()
                .find(|r| r.repo_tags.iter().any(|t| t == name) || r.id == name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))
        };
        let f = Filters::parse(Some(filters)).unwrap();
        filter_images(records, &f, lookup)
            .unwrap()
            .into_iter()
            .map(|s| format!("{}{:?}", s.id, s.repo_tags))
            .collect()
    }

    #[test]
    fn no_filters_newest_first() {
        assert_eq!(
            run("{}"),
            [
                "sha256:c[]",
                r#"sha256:b["127.0.0.1:5000/team/app:v1"]"#,
                r#"sha256:a["busybox:latest", "busybox:1.36"]"#
            ]
        );
    }

    #[test]
    fn dangling() {
        assert_eq!(run(r#"{"dangling":["true"]}"#), ["sha256:c[]"]);
        assert_eq!(run(r#"{"dangling":{"false":true}}"#).len(), 2);
    }

    #[test]
    fn reference_keeps_only_matching_tags() {
        assert_eq!(
            run(r#"{"reference":["busybox:1.*"]}"#),
            [r#"sha256:a["busybox:1.36"]"#]
        );
        assert_eq!(
            run(r#"{"reference":["busybox"]}"#),
            [r#"sha256:a["busybox:latest", "busybox:1.36"]"#]
        );
        assert_eq!(
            run(r#"{"reference":["127.0.0.1:5000/team/*"]}"#),
            [r#"sha256:b["127.0.0.1:5000/team/app:v1"]"#]
        );
        assert!(run(r#"{"reference":["nothing*"]}"#).is_empty());
    }

    #[test]
    fn labels_before_since() {
        assert_eq!(
            run(r#"{"label":["tier=app"]}"#),
            [r#"sha256:b["127.0.0.1:5000/team/app:v1"]"#]
        );
        assert_eq!(run(r#"{"label":["tier"]}"#).len(), 2);
        assert_eq!(run(r#"{"label":["x"]}"#).len(), 1);
        assert_eq!(run(r#"{"before":["127.0.0.1:5000/team/app:v1"]}"#).len(), 1);
        assert_eq!(run(r#"{"since":["busybox:latest"]}"#).len(), 2);
    }

    #[test]
    fn since_unknown_image_is_404() {
        let f = Filters::parse(Some(r#"{"since":["nope"]}"#)).unwrap();
        let err = filter_images(sample(), &f, |n| {
            Err(ApiError::not_found(format!("No such image: {n}")))
        })
        .unwrap_err();
        assert_eq!(err.status(), 404);
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar_name("busybox:latest"), "busybox");
        assert_eq!(
            familiar_name("127.0.0.1:5000/team/app:v1"),
            "127.0.0.1:5000/team/app"
        );
        assert_eq!(
            familiar_name("127.0.0.1:5000/team/app"),
            "127.0.0.1:5000/team/app"
        );
        assert_eq!(familiar_name("busybox@sha256:d1"), "busybox");
    }
}
