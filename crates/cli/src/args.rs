//! Command-line arguments, step one of two: clap structs that only describe what was typed.
//! Values that have a shape (`os/arch[/variant]`, `key=value` filters) are parsed by clap value
//! parsers into small types here; the connection flags become a validated
//! [`crate::connect::Endpoint`] in step two, so no verb re-validates anything.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

pub use crate::container::args::*;
pub use crate::network::NetworkCommand;

#[derive(Debug, Parser)]
#[command(
    name = "silo",
    version,
    about = "A self-sufficient runtime for containers (silo client)",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Connection flags, named as docker names them.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long, value_name = "HOST")]
    pub host: Option<String>,
    /// Use TLS; silo always verifies the daemon certificate, so this acts as --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long, env = "DOCKER_TLS_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the silo version information
    Version,
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// List images
    Images(ListArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball or a directory to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Return low-level information on containers or images
    Inspect(AnyInspectArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// The compute service's systems (silo extension, like hcsdiag)
    #[command(subcommand)]
    Compute(ComputeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball or a directory to create a filesystem image
    Import(ImportArgs),
    /// Show which manifest of REF fits a platform, and why every other one does not (silo)
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a Go-template subset, or "json"
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<Filter>,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go-template subset, or "json"
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Windows OS version to choose among windows/* manifests (silo extension)
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Push only this platform of a multi-platform image
    #[arg(long)]
    pub platform: Option<Platform>,
    #[arg(value_name = "NAME[:TAG]")]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<Platform>,
    /// A tar file, "-" for STDIN, a URL, or a directory (silo extension)
    #[arg(value_name = "FILE|URL|-|DIR")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Platform to resolve for (os/arch[/variant])
    #[arg(long, required = true)]
    pub platform: Platform,
    /// Host OS version to match windows/* entries against
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,
    /// Isolation the container would run with
    #[arg(long, value_parser = ["process", "hyperv"])]
    pub isolation: Option<String>,
    /// Print the daemon's report as JSON
    #[arg(long)]
    pub json: bool,
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `os/arch[/variant]`, checked when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Platform, String> {
        let lower = s.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        let bad = || format!("invalid platform {s:?}: expected os/arch[/variant]");
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One `--filter key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: String,
    pub value: String,
}

impl FromStr for Filter {
    type Err = String;

    fn from_str(s: &str) -> Result<Filter, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Filter {
                key: k.trim().to_ascii_lowercase(),
                value: v.to_string(),
            }),
            _ => Err(format!("bad format of filter (expected name=value): {s}")),
        }
    }
}

/// Filters in the shape the Engine API wants: `{"key": ["v1", "v2"]}`.
pub fn filter_map(filters: &[Filter]) -> std::collections::HashMap<String, Vec<String>> {
    let mut map = std::collections::HashMap::<String, Vec<String>>::new();
    for f in filters {
        map.entry(f.key.clone()).or_default().push(f.value.clone());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parses_two_or_three_parts() {
        let p: Platform = "windows/amd64".parse().expect("valid");
        assert_eq!(p.to_string(), "windows/amd64");
        let p: Platform = "Linux/ARM64/v8".parse().expect("valid");
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_group_by_key() {
        let fs: Vec<Filter> = ["dangling=true", "label=a=b", "label=c"]
            .iter()
            .map(|s| s.parse().expect("valid"))
            .collect();
        let map = filter_map(&fs);
        assert_eq!(map["dangling"], vec!["true"]);
        assert_eq!(map["label"], vec!["a=b", "c"]);
        assert!("novalue".parse::<Filter>().is_err());
    }

    #[test]
    fn cli_parses_docker_spellings() {
        let cli = Cli::try_parse_from(["silo", "-H", "tcp://h:2375", "image", "ls", "-aq"])
            .expect("parses");
        assert_eq!(cli.global.host.as_deref(), Some("tcp://h:2375"));
        assert!(matches!(
            cli.command,
            Command::Image(ImageCommand::Ls(ListArgs {
                all: true,
                quiet: true,
                ..
            }))
        ));
        let cli = Cli::try_parse_from([
            "silo",
            "pull",
            "--platform",
            "windows/amd64",
            "--os-version",
            "10.0.17763.2000",
            "x",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Pull(PullArgs {
                os_version: Some(_),
                ..
            })
        ));
        assert!(Cli::try_parse_from(["silo", "pull", "--platform", "bad", "x"]).is_err());
        assert!(Cli::try_parse_from(["silo", "rmi"]).is_err());
    }
}
