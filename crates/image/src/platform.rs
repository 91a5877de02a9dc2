//! Platforms, and choosing the entry of an image index that fits the host.
//!
//! `oci-client` would pick the first `os/arch` match; that is wrong for Windows images, whose
//! index entries differ only by `os.version` and whose compatibility depends on the isolation
//! mode (see [`windows`]). [`resolve`] therefore judges *every* entry and returns a
//! [`ResolveReport`] that says why each was accepted or rejected, so a failed pull can explain
//! itself ("hyperv isolation would accept it") instead of printing "no matching manifest".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use silo_errdefs::{ErrorKind, HasKind};

mod candidates;
mod report;
mod resolve;
pub mod windows;

pub use candidates::{candidates_from_index, candidates_from_index_json, Candidate};
pub use report::{CandidateReport, Chosen, ResolveReport};
pub use resolve::resolve;
pub use windows::WindowsVersion;

/// Errors of platform parsing and resolution.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A platform string is not `os[/arch[/variant]][ os.version]`.
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform { input: String, reason: &'static str },
    /// An `os.version` is not `major.minor.build[.revision]`.
    #[error("invalid Windows os.version {input:?}: expected major.minor.build[.revision]")]
    InvalidOsVersion { input: String },
    /// An isolation mode other than `process`, `hyperv` or `vm`.
    #[error("invalid isolation {input:?}: expected process, hyperv or vm")]
    InvalidIsolation { input: String },
    /// An image index that is not valid JSON of the expected shape.
    #[error("invalid image index: {source}")]
    InvalidIndex { source: serde_json::Error },
    /// No index entry fits; the report explains every entry.
    #[error("{0}")]
    NoMatch(Box<ResolveReport>),
}

impl HasKind for PlatformError {
    fn kind(&self) -> ErrorKind {
        match self {
            PlatformError::NoMatch(_) => ErrorKind::NotFound,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// An OS/architecture pair as index entries and `--platform` name it, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// Windows only: `10.0.17763.1879`. For the wanted platform it is the host's version.
    pub os_version: Option<String>,
}

impl Platform {
    /// A normalised platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
        }
        .normalized()
    }

    /// The platform this daemon runs: always `linux`, with the build's architecture.
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// Parses `os[/arch[/variant]]`, optionally followed by a space and an `os.version` (the form
    /// [`Display`](fmt::Display) prints). A missing architecture means the host's.
    pub fn parse(input: &str) -> Result<Platform, PlatformError> {
        let invalid = |reason| PlatformError::InvalidPlatform {
            input: input.to_string(),
            reason,
        };
        let mut words = input.split_whitespace();
        let spec = words.next().ok_or_else(|| invalid("empty platform"))?;
        let os_version = words.next();
        if words.next().is_some() {
            return Err(invalid("expected os/arch[/variant] [os.version]"));
        }
        let parts: Vec<&str> = spec.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("empty component"));
        }
        let host_arch = Platform::host().architecture;
        let platform = match parts[..] {
            [os] => Platform::new(os, &host_arch, None),
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(invalid("expected os/arch[/variant]")),
        };
        match os_version {
            Some(v) => platform.with_os_version(v),
            None => Ok(platform),
        }
    }

    /// The same platform with a validated Windows `os.version` (the host's, from `--os-version`).
    pub fn with_os_version(self, os_version: &str) -> Result<Platform, PlatformError> {
        WindowsVersion::parse(os_version)?;
        Ok(Platform {
            os_version: Some(os_version.to_string()),
            ..self
        })
    }

    /// Docker/containerd spellings folded to one: `x86_64`→`amd64`, `aarch64`→`arm64/v8`,
    /// `armhf`→`arm/v7`, `armel`→`arm/v6`, bare `arm`→`arm/v7`, `i386`→`386`.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            os => os.to_string(),
        };
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty());
        let with_v = |v: String| {
            if v.starts_with('v') {
                v
            } else {
                format!("v{v}")
            }
        };
        let (architecture, variant) = match arch.as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64", variant),
            "aarch64" | "arm64" => match variant.as_deref() {
                None | Some("8") | Some("v8") | Some("v8.0") => ("arm64", Some("v8".to_string())),
                _ => ("arm64", variant.map(with_v)),
            },
            "armhf" => ("arm", Some("v7".to_string())),
            "armel" => ("arm", Some("v6".to_string())),
            "arm" => (
                "arm",
                Some(variant.map_or_else(|| "v7".to_string(), with_v)),
            ),
            "i386" | "i686" | "x86" | "386" => ("386", variant),
            other => (other, variant),
        };
        Platform {
            os,
            architecture: architecture.to_string(),
            variant,
            os_version: self.os_version.clone(),
        }
    }

    fn is_windows(&self) -> bool {
        self.os == "windows"
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, " {version}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

/// How a container will be isolated, which decides which Windows images fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Shares the host kernel.
    Process,
    /// Runs in a utility VM with its own kernel.
    HyperV,
}

impl Isolation {
    /// Both modes, in the order reports list them.
    pub const ALL: [Isolation; 2] = [Isolation::Process, Isolation::HyperV];

    /// `process` or `hyperv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::HyperV => "hyperv",
        }
    }

    /// Parses `process`, `hyperv` or `vm`. `default` is for the caller to resolve first.
    pub fn parse(input: &str) -> Result<Isolation, PlatformError> {
        match input.to_ascii_lowercase().as_str() {
            "process" => Ok(Isolation::Process),
            "hyperv" | "vm" => Ok(Isolation::HyperV),
            _ => Err(PlatformError::InvalidIsolation {
                input: input.to_string(),
            }),
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Isolation {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Isolation::parse(s)
    }
}

#[cfg(test)]
mod tests;
