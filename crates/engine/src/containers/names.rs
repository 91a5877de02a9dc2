//! Container ids and names, with Docker's rules.

use std::io::Read;

use super::error::ContainerError;

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dazzling",
    "eager",
    "festive",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];

const NOUNS: &[&str] = &[
    "archimedes",
    "babbage",
    "curie",
    "darwin",
    "euler",
    "fermat",
    "galileo",
    "hopper",
    "hypatia",
    "kepler",
    "lovelace",
    "noether",
    "pascal",
    "ramanujan",
    "shannon",
    "tesla",
    "turing",
    "wozniak",
];

/// 32 random bytes as 64 hex characters, like Docker's ids.
pub fn new_id() -> Result<String, ContainerError> {
    let mut bytes = [0u8; 32];
    let path = "/dev/urandom";
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| ContainerError::Io {
            action: "read",
            path: path.into(),
            source,
        })?;
    Ok(hex::encode(bytes))
}

/// A generated `adjective_noun` name picked from the id's bytes. `attempt` > 0 (the caller
/// retries when the name is taken) appends a number, as Docker does.
pub fn generate(id: &str, attempt: u32) -> String {
    let n = u64::from_str_radix(id.get(..12).unwrap_or("0"), 16).unwrap_or_default();
    let adjective = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[((n >> 16) % NOUNS.len() as u64) as usize];
    if attempt == 0 {
        return format!("/{adjective}_{noun}");
    }
    // Digits from another part of the id, widening with each attempt.
    let m = u64::from_str_radix(id.get(12..24).unwrap_or("0"), 16).unwrap_or_default();
    let suffix = m % 10u64.pow(attempt.min(6));
    format!("/{adjective}_{noun}{suffix}")
}

/// Checks a requested name (`web` or `/web`) and returns Docker's stored form `/web`.
pub fn validate(name: &str) -> Result<String, ContainerError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(ContainerError::InvalidName(name.to_string()));
    }
    Ok(format!("/{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rules() {
        assert_eq!(validate("web").unwrap(), "/web");
        assert_eq!(validate("/web-1.a_b").unwrap(), "/web-1.a_b");
        assert!(validate("").is_err());
        assert!(validate("-web").is_err());
        assert!(validate("we b").is_err());
    }

    #[test]
    fn ids_are_64_hex_and_generated_names_look_like_dockers() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let name = generate(&id, 0);
        assert!(name.starts_with('/') && name.contains('_'), "{name}");
        // Retries keep the words and add digits, so they differ from the first pick.
        let retry = generate(&id, 3);
        assert!(
            retry.starts_with(&name) && retry.len() > name.len(),
            "{retry}"
        );
        assert!(retry[name.len()..].chars().all(|c| c.is_ascii_digit()));
    }
}
