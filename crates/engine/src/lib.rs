//! The engine: Docker's objects (images now; containers, networks and volumes next) composed
//! from silo's services. The API layer calls only this crate; services never call back up.

mod containers;
mod events;
mod networks;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use silo_errdefs::{ErrorKind, HasKind};
use silo_image::platform::{Isolation, Platform, ResolveReport};
use silo_image::registry::{Credentials, RegistryOptions};
/// One row of `image history`, newest first.
pub use silo_image::HistoryRow as HistoryEntry;
use silo_image::{
    ImageError, ImageService, ImageServiceConfig, ImportOptions, PullOptions, Removed,
};
pub use silo_image::{ImageRecord, Progress, ProgressAction, ProgressSender};
use tokio::io::{AsyncRead, AsyncWrite};

pub use containers::model::{
    Container, ContainerConfig, ContainerState, CreateRequest, EndpointSettings, HostConfig,
    HostOptions, LogLine, LogStream, NetworkAttachment, PortBinding, RestartPolicy,
    Status as ContainerStatus, StopPhase, Ulimit,
};
pub use containers::network::ContainerNetwork;
pub use containers::signal::parse_signal;
pub use containers::{
    Attachment, ContainerError, ContainerPruneReport, ContainerRuntime, ContainerStats, ExecConfig,
    ExecInfo, ExecStream, LogOptions, TopOutput, UpdateRequest,
};
pub use events::{Event, EventBus, HISTORY as EVENT_HISTORY};
/// Networks: the service's objects and the engine's network verbs (`networks.rs`).
pub use networks::*;
/// The compute service's stream types, which the API splices onto hijacked connections.
pub use silo_compute::{AttachOptions, AttachStream};
/// What `GET /compute/systems/{id}` reports (silo extension).
pub use silo_compute::{Properties as ComputeProperties, SystemSummary as ComputeSystemSummary};

/// Everything the engine needs to know at start, read by silod from daemon.json and flags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Root of all persistent state (`/var/lib/silo`).
    pub data_root: PathBuf,
    /// Registries reached over plain HTTP (`host:port` or a CIDR). Loopback is always insecure,
    /// as in Docker.
    pub insecure_registries: Vec<String>,
    /// Mirrors tried before Docker Hub (`https://mirror.example`).
    pub registry_mirrors: Vec<String>,
    /// Default isolation for new containers: `process` or `hyperv`.
    pub default_isolation: String,
    /// daemon.json `log-opts`: defaults for every container's `--log-opt` (`max-size`,
    /// `max-file`).
    #[serde(default)]
    pub default_log_opts: std::collections::BTreeMap<String, String>,
}

/// Credentials from a client (`X-Registry-Auth`), passed through to the registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
    pub server_address: Option<String>,
}

/// Anonymous when the client sent nothing.
fn credentials(creds: Option<RegistryCredentials>) -> Credentials {
    let creds = creds.unwrap_or_default();
    Credentials {
        username: creds.username.unwrap_or_default(),
        password: creds.password.unwrap_or_default(),
        identity_token: creds.identity_token.unwrap_or_default(),
    }
}

/// One line of `DELETE /images/{name}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDeleteItem {
    /// A tag or digest reference was removed (familiar form).
    Untagged(String),
    /// An image (by id) and its content were removed.
    Deleted(String),
}

impl From<Removed> for ImageDeleteItem {
    fn from(r: Removed) -> Self {
        match r {
            Removed::Untagged(s) => ImageDeleteItem::Untagged(s),
            Removed::Deleted(s) => ImageDeleteItem::Deleted(s),
        }
    }
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PruneReport {
    pub deleted: Vec<ImageDeleteItem>,
    pub space_reclaimed: u64,
}

/// What `push` sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResult {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

/// Facts for `/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemInfo {
    pub images: usize,
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub data_root: PathBuf,
    pub storage_driver: String,
    pub default_isolation: String,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
}

/// Errors from the engine, classified for the API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An image operation failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A container operation failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// A network operation failed (boxed: the service's errors are large).
    #[error(transparent)]
    Network(Box<silo_network::NetworkError>),
    /// An image is used by a container and `force` was not given.
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    ImageInUse {
        reference: String,
        container: String,
        image: String,
    },
    /// A request parameter is invalid.
    #[error("invalid {what}: {value:?}: {reason}")]
    InvalidParameter {
        what: &'static str,
        value: String,
        reason: String,
    },
}

impl HasKind for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Image(e) => e.kind(),
            EngineError::Container(e) => e.kind(),
            EngineError::Network(e) => networks::network_error_kind(e),
            EngineError::ImageInUse { .. } => ErrorKind::Conflict,
            EngineError::InvalidParameter { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// Layers are unpacked directories stacked with overlayfs.
const STORAGE_DRIVER: &str = "overlayfs";

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The engine. Cheap to clone; every clone shares the same state.
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
    images: ImageService,
    events: EventBus,
    containers: Arc<containers::Containers>,
}

impl Engine {
    /// Opens the engine's state under `config.data_root`, creating it on first start, without a
    /// compute service: container operations answer Unavailable.
    pub async fn open(config: EngineConfig) -> Result<Self> {
        Self::open_with(config, None).await
    }

    /// Opens the engine with `runtime` running its containers, and reconnects to every
    /// container that was running when the daemon last stopped.
    pub async fn open_with(
        config: EngineConfig,
        runtime: Option<ContainerRuntime>,
    ) -> Result<Self> {
        let registry = RegistryOptions {
            insecure: config.insecure_registries.clone(),
            mirrors: config.registry_mirrors.clone(),
        };
        registry.validate().map_err(ImageError::from)?;
        let images = ImageService::open(ImageServiceConfig {
            root: config.data_root.join("image"),
            registry,
        })?;
        let events = EventBus::default();
        let containers = containers::Containers::open(config.data_root.join("engine"), runtime)?;
        let engine = Engine {
            config,
            images,
            events,
            containers: Arc::new(containers),
        };
        engine.reconnect_containers().await?;
        Ok(engine)
    }

    /// The event bus (for `/events`).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Facts for `/info`.
    pub fn info(&self) -> Result<SystemInfo> {
        let containers = self.containers.store().all()?;
        let count = |f: fn(ContainerStatus) -> bool| {
            containers.iter().filter(|c| f(c.state.status)).count()
        };
        Ok(SystemInfo {
            images: self.images.list()?.len(),
            containers: containers.len(),
            containers_running: count(|s| {
                matches!(s, ContainerStatus::Running | ContainerStatus::Restarting)
            }),
            containers_paused: count(|s| s == ContainerStatus::Paused),
            containers_stopped: count(|s| {
                !matches!(
                    s,
                    ContainerStatus::Running
                        | ContainerStatus::Restarting
                        | ContainerStatus::Paused
                )
            }),
            data_root: self.config.data_root.clone(),
            storage_driver: STORAGE_DRIVER.into(),
            default_isolation: self.config.default_isolation.clone(),
            insecure_registries: self.config.insecure_registries.clone(),
            registry_mirrors: self.config.registry_mirrors.clone(),
        })
    }

    /// Pulls an image; `platform` is `os/arch[/variant]`.
    pub async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        creds: Option<RegistryCredentials>,
        progress: ProgressSender,
    ) -> Result<ImageRecord> {
        self.pull_with(reference, platform, None, creds, progress)
            .await
    }

    /// Pulls an image, matching `windows/*` entries against `os_version` (silo extension).
    pub async fn pull_with(
        &self,
        reference: &str,
        platform: Option<&str>,
        os_version: Option<&str>,
        creds: Option<RegistryCredentials>,
        progress: ProgressSender,
    ) -> Result<ImageRecord> {
        let options = PullOptions {
            platform: platform.map(str::to_string),
            os_version: os_version.map(str::to_string),
            credentials: credentials(creds),
        };
        let image = self.images.pull(reference, options, progress).await?;
        self.events.image("pull", reference, Some(reference));
        Ok(image)
    }

    /// Pushes an image to the registry its name points at.
    pub async fn push(
        &self,
        name: &str,
        creds: Option<RegistryCredentials>,
        progress: ProgressSender,
    ) -> Result<PushResult> {
        let pushed = self
            .images
            .push(name, &credentials(creds), progress)
            .await?;
        self.events.image("push", name, Some(name));
        Ok(PushResult {
            tag: pushed.tag,
            digest: pushed.digest,
            size: pushed.size,
        })
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.images.list()?)
    }

    /// One image by reference, id or id prefix.
    pub fn image(&self, name_or_id: &str) -> Result<ImageRecord> {
        Ok(self.images.find(name_or_id)?)
    }

    /// The unpacked layer directories of a Linux image, base first (FailedPrecondition for a
    /// Windows image).
    pub fn image_rootfs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        Ok(self.images.rootfs_layers(image)?)
    }

    /// Name of the storage driver, as `/info` and image inspect report it.
    pub fn storage_driver(&self) -> &'static str {
        STORAGE_DRIVER
    }

    /// Tags `source` as `target` (`repo[:tag]`).
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let image = self.images.tag(source, target)?;
        self.events.image("tag", &image.id, Some(target));
        Ok(())
    }

    /// `docker rmi`. `_prune_parents` has no effect: silo images have no parent chain.
    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
        _prune_parents: bool,
    ) -> Result<Vec<ImageDeleteItem>> {
        if !force {
            let image = self.images.find(name)?;
            let users = self.containers.images_in_use()?;
            if let Some((_, container)) = users.iter().find(|(id, _)| *id == image.id) {
                return Err(EngineError::ImageInUse {
                    reference: name.to_string(),
                    container: container.chars().take(12).collect(),
                    image: image
                        .id
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect(),
                });
            }
        }
        let removed = self.images.remove(name, force).await?;
        for item in &removed {
            match item {
                Removed::Untagged(r) => self.events.image("untag", r, Some(r)),
                Removed::Deleted(id) => self.events.image("delete", id, None),
            }
        }
        Ok(removed.into_iter().map(Into::into).collect())
    }

    /// `image history`.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        Ok(self.images.history(name)?)
    }

    /// `image prune`: dangling images, or all unused ones when `!dangling_only`.
    pub async fn prune_images(&self, dangling_only: bool) -> Result<PruneReport> {
        let in_use: HashSet<String> = self
            .containers
            .images_in_use()?
            .into_iter()
            .map(|(image, _)| image)
            .collect();
        let (removed, reclaimed) = self.images.prune(!dangling_only, &in_use).await?;
        for item in &removed {
            if let Removed::Deleted(id) = item {
                self.events.image("delete", id, None);
            }
        }
        Ok(PruneReport {
            deleted: removed.into_iter().map(Into::into).collect(),
            space_reclaimed: reclaimed,
        })
    }

    /// Writes the named images as a docker-archive tar.
    pub async fn save<W: AsyncWrite + Send + Unpin + 'static>(
        &self,
        names: Vec<String>,
        out: W,
    ) -> Result<()> {
        self.images.save(&names, out).await?;
        for name in &names {
            self.events.image("save", name, Some(name));
        }
        Ok(())
    }

    /// Loads a docker-archive tar; returns `Loaded image: …` lines.
    pub async fn load<R: AsyncRead + Send + Unpin + 'static>(
        &self,
        input: R,
        progress: ProgressSender,
    ) -> Result<Vec<String>> {
        let loaded = self.images.load(input, progress).await?;
        let mut lines = Vec::new();
        for image in loaded {
            self.events
                .image("load", &image.id, image.tags.first().map(String::as_str));
            if image.tags.is_empty() {
                lines.push(format!("Loaded image ID: {}", image.id));
            }
            lines.extend(image.tags.iter().map(|t| format!("Loaded image: {t}")));
        }
        Ok(lines)
    }

    /// Imports a root filesystem tarball as a new image.
    pub async fn import<R: AsyncRead + Send + Unpin + 'static>(
        &self,
        input: R,
        target: Option<&str>,
        changes: Vec<String>,
        message: Option<&str>,
        platform: Option<&str>,
    ) -> Result<ImageRecord> {
        let options = ImportOptions {
            target: target.map(str::to_string),
            changes,
            message: message.map(str::to_string),
            platform: platform.map(str::to_string),
        };
        let image = self.images.import(input, options).await?;
        self.events.image("import", &image.id, target);
        Ok(image)
    }

    /// Which manifest of `reference` fits `platform`, `os_version` and `isolation`, and why.
    pub async fn resolve(
        &self,
        reference: &str,
        platform: &str,
        os_version: Option<&str>,
        isolation: Option<&str>,
        creds: Option<RegistryCredentials>,
    ) -> Result<ResolveReport> {
        let mut wanted = Platform::parse(platform).map_err(ImageError::from)?;
        if let Some(v) = os_version {
            wanted.os_version = Some(v.to_string());
        }
        let isolation = isolation
            .map(|i| {
                i.parse::<Isolation>()
                    .map_err(|e| EngineError::InvalidParameter {
                        what: "isolation",
                        value: i.to_string(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        Ok(self
            .images
            .resolve(reference, &wanted, isolation, &credentials(creds))
            .await?)
    }
}
