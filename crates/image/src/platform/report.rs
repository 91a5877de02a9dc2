//! The resolver's verdict, as JSON for the API/CLI and as text for error messages.
//!
//! The JSON shape is a contract with the CLI and API (`silo image resolve`, pull errors), so the
//! field names here must not change without changing them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Isolation, Platform, PlatformError};

/// The entry picked from an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    pub digest: String,
    /// The entry's platform as [`Platform`]'s Display prints it.
    pub platform: String,
    pub reason: String,
}

/// How one index entry was judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateReport {
    pub digest: String,
    pub platform: String,
    /// Accepted under the requested isolation (or under either, when none was requested).
    pub accepted: bool,
    /// A sentence: why accepted or rejected.
    pub reason: String,
    /// Which isolation modes would accept the entry, whatever was requested.
    pub accepted_by: Vec<Isolation>,
}

/// Every index entry with its verdict, and the chosen one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveReport {
    pub reference: String,
    pub index_digest: Option<String>,
    pub wanted: Platform,
    pub isolation: Option<Isolation>,
    pub chosen: Option<Chosen>,
    pub candidates: Vec<CandidateReport>,
}

impl ResolveReport {
    /// Names the image and index the report is about (for messages and JSON).
    pub fn with_source(
        mut self,
        reference: impl Into<String>,
        index_digest: Option<String>,
    ) -> Self {
        self.reference = reference.into();
        self.index_digest = index_digest;
        self
    }

    /// The digest of the chosen entry, if any fits.
    pub fn chosen_digest(&self) -> Option<&str> {
        self.chosen.as_ref().map(|c| c.digest.as_str())
    }

    /// The chosen entry, or a NotFound error whose message is this whole explanation.
    pub fn into_result(self) -> Result<Chosen, PlatformError> {
        match self.chosen {
            Some(chosen) => Ok(chosen),
            None => Err(PlatformError::NoMatch(Box::new(self))),
        }
    }

    fn isolation_text(&self) -> &'static str {
        match self.isolation {
            Some(Isolation::Process) => "process isolation",
            Some(Isolation::HyperV) => "hyperv isolation",
            None => "process or hyperv isolation",
        }
    }
}

impl fmt::Display for ResolveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference = if self.reference.is_empty() {
            "the index"
        } else {
            &self.reference
        };
        match &self.chosen {
            Some(chosen) => writeln!(
                f,
                "{reference}: chose {} ({}) for {} with {}: {}",
                chosen.digest,
                chosen.platform,
                self.wanted,
                self.isolation_text(),
                chosen.reason
            )?,
            None => writeln!(
                f,
                "no manifest in {reference} fits {} with {}:",
                self.wanted,
                self.isolation_text()
            )?,
        }
        if let Some(index) = &self.index_digest {
            writeln!(f, "  index {index}")?;
        }
        if self.candidates.is_empty() {
            return write!(f, "  (the index lists no manifests)");
        }
        for (i, c) in self.candidates.iter().enumerate() {
            let verdict = if c.accepted { "accepted" } else { "rejected" };
            write!(
                f,
                "  - {} {}: {verdict}: {}",
                c.digest, c.platform, c.reason
            )?;
            if !c.accepted {
                if let Some(other) = c.accepted_by.first() {
                    write!(f, " ({other} isolation would accept it)")?;
                }
            }
            if i + 1 < self.candidates.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
