//! Windows `os.version` compatibility, the rule Windows Server applies to container images.
//!
//! A process-isolated container shares the host kernel, so its user mode must be built for that
//! kernel: before Windows Server 2022 (build 20348) that meant the very same build (and on 14393
//! the same revision too); from 20348 on, the kernel keeps a stable interface back to the
//! previous LTSC release. A Hyper-V container brings its own kernel, so any image not newer than
//! the host works. These rules are ours to state once, here, and are tested against the builds
//! the fixtures carry.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Isolation, PlatformError};

/// Builds of the Windows Server LTSC releases: 2016, 2019, 2022, 2025.
pub const LTSC_BUILDS: [u32; 4] = [14393, 17763, 20348, 26100];

/// From this build on, process isolation accepts images back to the previous LTSC build.
const STABLE_ABI_BUILD: u32 = 20348;

/// The build on which process isolation also requires the host's revision.
const REVISION_LOCKED_BUILD: u32 = 14393;

/// A Windows version `major.minor.build[.revision]` (`10.0.17763.1879`), compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WindowsVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// The update revision (UBR); `0` when the version string has none.
    pub revision: u32,
}

impl WindowsVersion {
    /// Parses `10.0.17763.1879` or `10.0.17763` (revision 0).
    pub fn parse(s: &str) -> Result<WindowsVersion, PlatformError> {
        let invalid = || PlatformError::InvalidOsVersion {
            input: s.to_string(),
        };
        let parts = s
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| invalid()))
            .collect::<Result<Vec<_>, _>>()?;
        match parts[..] {
            [major, minor, build] => Ok(WindowsVersion {
                major,
                minor,
                build,
                revision: 0,
            }),
            [major, minor, build, revision] => Ok(WindowsVersion {
                major,
                minor,
                build,
                revision,
            }),
            _ => Err(invalid()),
        }
    }

    /// Whether `self` and `other` are the same release (`major.minor.build`).
    fn same_build(&self, other: &WindowsVersion) -> bool {
        self.release() == other.release()
    }

    fn release(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.build)
    }
}

impl fmt::Display for WindowsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.revision
        )
    }
}

impl FromStr for WindowsVersion {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WindowsVersion::parse(s)
    }
}

/// The largest LTSC build strictly lower than `build`, if any.
pub fn previous_ltsc(build: u32) -> Option<u32> {
    LTSC_BUILDS.iter().copied().filter(|&b| b < build).max()
}

/// Whether an image built for `image` runs on `host` with `isolation`; `Err` holds the reason.
pub fn check(
    host: &WindowsVersion,
    image: &WindowsVersion,
    isolation: Isolation,
) -> Result<String, String> {
    match isolation {
        Isolation::Process => check_process(host, image),
        Isolation::HyperV => check_hyperv(host, image),
    }
}

fn check_process(host: &WindowsVersion, image: &WindowsVersion) -> Result<String, String> {
    if (image.major, image.minor) != (host.major, host.minor) {
        return Err(format!(
            "process isolation needs the host's major.minor {}.{}",
            host.major, host.minor
        ));
    }
    if host.build < STABLE_ABI_BUILD {
        if image.build != host.build {
            return Err(format!(
                "process isolation on build {} needs the same build, not {}",
                host.build, image.build
            ));
        }
        if host.build == REVISION_LOCKED_BUILD && image.revision != host.revision {
            return Err(format!(
                "process isolation on build {} also needs the host's revision {}, not {}",
                host.build, host.revision, image.revision
            ));
        }
        return Ok(format!(
            "process isolation: same build {} as the host",
            host.build
        ));
    }
    let lowest = previous_ltsc(host.build).unwrap_or(host.build);
    match image.build {
        b if b > host.build => Err(format!(
            "process isolation: build {b} is newer than the host's {}",
            host.build
        )),
        b if b < lowest => Err(format!(
            "process isolation on build {} accepts builds {lowest} to {}, not {b}",
            host.build, host.build
        )),
        b if b == host.build => Ok(format!("process isolation: same build {b} as the host")),
        b => Ok(format!(
            "process isolation: build {b} is within {lowest} (previous LTSC) to {} (host)",
            host.build
        )),
    }
}

fn check_hyperv(host: &WindowsVersion, image: &WindowsVersion) -> Result<String, String> {
    match image.release().cmp(&host.release()) {
        Ordering::Greater => Err(format!(
            "hyperv isolation: {}.{}.{} is newer than the host's {}.{}.{}",
            image.major, image.minor, image.build, host.major, host.minor, host.build
        )),
        Ordering::Equal => Ok(format!(
            "hyperv isolation: same build {} as the host",
            host.build
        )),
        Ordering::Less => Ok(format!(
            "hyperv isolation: build {} is not newer than the host's {}",
            image.build, host.build
        )),
    }
}

/// Orders acceptable entries: the host's exact build first, then the newest build, then the
/// highest revision (so `17763.5820` beats `17763.1879`). Greater is better.
pub fn preference(host: &WindowsVersion, image: &WindowsVersion) -> (bool, u32, u32) {
    (image.same_build(host), image.build, image.revision)
}
