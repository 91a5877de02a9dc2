//! Content digests.
//!
//! Only sha256 exists in the images silo accepts, so [`Digest`] is sha256-only and always held in
//! canonical form; two equal digests are equal strings, which keeps map keys and paths trivial.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Result, StorageError};

const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A sha256 content digest, `sha256:<64 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses the canonical string form; anything else (other algorithms, uppercase, wrong
    /// length) is rejected so that paths built from digests are always well-formed.
    pub fn parse(s: &str) -> Result<Digest> {
        let bad = |reason| StorageError::InvalidDigest {
            input: s.chars().take(100).collect(),
            reason,
        };
        let hex = match s.split_once(':') {
            Some(("sha256", hex)) => hex,
            Some(_) => return Err(bad("only sha256 digests are supported")),
            None => return Err(bad("missing algorithm prefix (expected sha256:<hex>)")),
        };
        if hex.len() != HEX_LEN {
            return Err(bad("sha256 hex must be 64 characters"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("sha256 hex must be lowercase hexadecimal"));
        }
        Ok(Digest(s.to_owned()))
    }

    /// Builds a digest from bare hex (e.g. a file name in the blob store).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        Digest::parse(&format!("{PREFIX}{hex}"))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// Finishes a running hash.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(hasher.finalize())))
    }

    /// The full string form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// The first 12 hex characters, as docker shows ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl FromStr for Digest {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = StorageError;
    fn try_from(s: String) -> Result<Digest> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silo_errdefs::{ErrorKind, HasKind};

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_empty_matches_known_value() {
        let d = Digest::of(b"");
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.to_string(), EMPTY);
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_input() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d, Digest::of(b""));
        for bad in [
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(err.to_string().contains("invalid digest"), "{err}");
        }
    }

    #[test]
    fn serde_is_plain_string() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nope\"").is_err());
    }

    #[test]
    fn from_hasher_equals_of() {
        let mut h = Sha256::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(Digest::from_hasher(h), Digest::of(b"hello world"));
    }
}
