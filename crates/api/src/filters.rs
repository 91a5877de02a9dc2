//! Docker's `filters` query parameter and the glob matching its `reference` filter uses.
//!
//! The value is JSON, either `{"key":["v1","v2"]}` or the legacy `{"key":{"v1":true}}` that old
//! clients still send. Unknown keys are rejected, as dockerd does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::ApiError;

/// Parsed filters: key → values, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawValues {
    List(Vec<String>),
    Legacy(BTreeMap<String, bool>),
}

impl Filters {
    /// Parse the `filters` parameter; absent or empty means no filters.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let raw = raw.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let parsed: BTreeMap<String, RawValues> = serde_json::from_str(raw)
            .map_err(|e| ApiError::invalid(format!("invalid filter JSON {raw:?}: {e}")))?;
        let map = parsed
            .into_iter()
            .map(|(key, values)| {
                let values = match values {
                    RawValues::List(list) => list,
                    RawValues::Legacy(map) => map
                        .into_iter()
                        .filter(|(_, on)| *on)
                        .map(|(v, _)| v)
                        .collect(),
                };
                (key, values)
            })
            .collect();
        Ok(Filters(map))
    }

    /// Reject keys not in `allowed` with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(ApiError::invalid(format!("invalid filter '{key}'"))),
            None => Ok(()),
        }
    }

    /// Whether `key` was given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The values of `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// A boolean filter such as `dangling`: `None` when absent, an error unless every value is
    /// `true`/`1` or `false`/`0`, and an error if they disagree.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let mut result = None;
        for value in self.get(key) {
            let b = match value.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ApiError::invalid(format!("Invalid filter '{key}={value}'"))),
            };
            if result.is_some_and(|r| r != b) {
                return Err(ApiError::invalid(format!(
                    "conflicting values for filter '{key}'"
                )));
            }
            result = Some(b);
        }
        Ok(result)
    }

    /// Docker's `label` semantics: every `k` or `k=v` given must be present in `labels`.
    pub fn match_labels<'a>(&self, key: &str, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels(k) == Some(v),
            None => labels(want).is_some(),
        })
    }
}

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/` character, `[...]`
/// a class (`[^...]` negated, `a-z` ranges), `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_at(&p, &n)
}

fn matches_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            // Try every split point up to the next '/'.
            let limit = n.iter().position(|c| *c == '/').unwrap_or(n.len());
            (0..=limit).any(|i| matches_at(rest, &n[i..]))
        }
        Some('?') => matches!(n.first(), Some(c) if *c != '/') && matches_at(&p[1..], &n[1..]),
        Some('[') => match (n.first(), class(&p[1..])) {
            (Some(c), Some((set, used))) if *c != '/' => {
                set.contains(*c) && matches_at(&p[1 + used..], &n[1..])
            }
            _ => false,
        },
        Some('\\') => match (p.get(1), n.first()) {
            (Some(pc), Some(nc)) => pc == nc && matches_at(&p[2..], &n[1..]),
            _ => false,
        },
        Some(pc) => n.first() == Some(pc) && matches_at(&p[1..], &n[1..]),
    }
}

/// A parsed `[...]` class.
struct CharClass {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != self.negated
    }
}

/// Parse a class body (after `[`); returns the class and how many chars it used, `]` included.
fn class(p: &[char]) -> Option<(CharClass, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some((CharClass { negated, ranges }, i + 1));
        }
        first = false;
        let lo = class_char(p, &mut i)?;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1) != Some(&']') {
            i += 1;
            class_char(p, &mut i)?
        } else {
            lo
        };
        if lo > hi {
            return None;
        }
        ranges.push((lo, hi));
    }
}

fn class_char(p: &[char], i: &mut usize) -> Option<char> {
    let mut c = *p.get(*i)?;
    if c == '\\' {
        *i += 1;
        c = *p.get(*i)?;
    }
    *i += 1;
    Some(c)
}

/// The filters every `prune` endpoint takes: `label`, `label!` and `until`, checked once and
/// then applied to each object's labels and creation time.
pub struct PruneFilter {
    filters: Filters,
    until: Option<chrono::DateTime<chrono::Utc>>,
}

impl PruneFilter {
    pub fn new(filters: &Filters) -> Result<Self, ApiError> {
        filters.validate(&["label", "label!", "until"])?;
        let until = match filters.get("until") {
            [] => None,
            [one] => Some(crate::containers::parse_time(one, chrono::Utc::now())?),
            _ => return Err(ApiError::invalid("more than one until filter specified")),
        };
        Ok(PruneFilter {
            filters: filters.clone(),
            until,
        })
    }

    /// Whether an object with these labels, created then, is pruned.
    pub fn matches<'a>(
        &self,
        label: impl Fn(&str) -> Option<&'a str>,
        created: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let negated = self
            .filters
            .get("label!")
            .iter()
            .any(|want| match want.split_once('=') {
                Some((k, v)) => label(k) == Some(v),
                None => label(want).is_some(),
            });
        self.filters.match_labels("label", &label)
            && !negated
            && self.until.is_none_or(|t| created < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let f = Filters::parse(Some(r#"{"dangling":["true"],"label":["a=b","c"]}"#)).unwrap();
        assert_eq!(f.get("label"), ["a=b", "c"]);
        assert_eq!(f.bool("dangling").unwrap(), Some(true));

        let f = Filters::parse(Some(r#"{"reference":{"busybox":true,"off":false}}"#)).unwrap();
        assert_eq!(f.get("reference"), ["busybox"]);
        assert!(f.get("missing").is_empty());
        assert_eq!(Filters::parse(None).unwrap(), Filters::default());
        assert_eq!(Filters::parse(Some("")).unwrap(), Filters::default());
    }

    #[test]
    fn bad_filters_are_400() {
        assert_eq!(Filters::parse(Some("{not json")).unwrap_err().status(), 400);
        assert_eq!(
            Filters::parse(Some(r#"{"a":"b"}"#)).unwrap_err().status(),
            400
        );
        let f = Filters::parse(Some(r#"{"bogus":["x"]}"#)).unwrap();
        let err = f.validate(&["dangling"]).unwrap_err();
        assert_eq!(err.message(), "invalid filter 'bogus'");
        let f = Filters::parse(Some(r#"{"dangling":["maybe"]}"#)).unwrap();
        assert_eq!(f.bool("dangling").unwrap_err().status(), 400);
    }

    #[test]
    fn labels() {
        let f = Filters::parse(Some(r#"{"label":["a=b","c"]}"#)).unwrap();
        let labels = |k: &str| match k {
            "a" => Some("b"),
            "c" => Some(""),
            _ => None,
        };
        assert!(f.match_labels("label", labels));
        let f = Filters::parse(Some(r#"{"label":["a=x"]}"#)).unwrap();
        assert!(!f.match_labels("label", labels));
    }

    #[test]
    fn glob_semantics_of_path_match() {
        assert!(glob_match("busybox", "busybox"));
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "team/app"));
        assert!(glob_match("*/*", "team/app"));
        assert!(glob_match(
            "127.0.0.1:5000/team/*:v?",
            "127.0.0.1:5000/team/app:v1"
        ));
        assert!(glob_match("[a-c]at", "bat"));
        assert!(!glob_match("[^a-c]at", "bat"));
        assert!(glob_match("[^a-c]at", "rat"));
        assert!(glob_match(r"a\*b", "a*b"));
        assert!(!glob_match(r"a\*b", "axb"));
        assert!(!glob_match("[z-a]", "b"));
        assert!(!glob_match("[abc", "a"));
    }
}
