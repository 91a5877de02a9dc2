//! The engine: Docker's objects (images now; containers, networks, volumes later) composed from
//! silo's services. The API layer calls only this crate; services never call back up.
//!
//! WIP: signatures are fixed, bodies are being written (image store lands next).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use silo_errdefs::{ErrorKind, HasKind};
pub use silo_image::{ImageRecord, Progress, ProgressAction, ProgressSender};
use tokio::io::{AsyncRead, AsyncWrite};

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
}

/// Credentials from a client (`X-Registry-Auth`), passed through to the registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
    pub server_address: Option<String>,
}

/// One line of `DELETE /images/{name}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDeleteItem {
    /// A tag or digest reference was removed (familiar form).
    Untagged(String),
    /// An image (by id) and its content were removed.
    Deleted(String),
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PruneReport {
    pub deleted: Vec<ImageDeleteItem>,
    pub space_reclaimed: u64,
}

/// One row of `image history`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Image id for the top row and rows that are images themselves, `<missing>` otherwise.
    pub id: String,
    /// Seconds since the epoch.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
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
    pub data_root: PathBuf,
    pub storage_driver: String,
    pub default_isolation: String,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
}

/// Errors from the engine, classified for the API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Placeholder(String),
}

impl HasKind for EngineError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The engine. Cheap to clone; every clone shares the same state.
#[derive(Debug, Clone)]
pub struct Engine {}

impl Engine {
    pub async fn open(_config: EngineConfig) -> Result<Self> {
        todo!("WIP")
    }
    pub fn info(&self) -> Result<SystemInfo> {
        todo!("WIP")
    }
    pub async fn pull(
        &self,
        _reference: &str,
        _platform: Option<&str>,
        _creds: Option<RegistryCredentials>,
        _progress: ProgressSender,
    ) -> Result<ImageRecord> {
        todo!("WIP")
    }
    pub async fn push(
        &self,
        _name: &str,
        _creds: Option<RegistryCredentials>,
        _progress: ProgressSender,
    ) -> Result<PushResult> {
        todo!("WIP")
    }
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        todo!("WIP")
    }
    pub fn image(&self, _name_or_id: &str) -> Result<ImageRecord> {
        todo!("WIP")
    }
    pub fn tag(&self, _source: &str, _target: &str) -> Result<()> {
        todo!("WIP")
    }
    pub fn remove_image(&self, _name: &str, _force: bool, _prune_parents: bool) -> Result<Vec<ImageDeleteItem>> {
        todo!("WIP")
    }
    pub fn history(&self, _name: &str) -> Result<Vec<HistoryEntry>> {
        todo!("WIP")
    }
    pub fn prune_images(&self, _dangling_only: bool) -> Result<PruneReport> {
        todo!("WIP")
    }
    pub async fn save<W: AsyncWrite + Send + Unpin + 'static>(&self, _names: Vec<String>, _out: W) -> Result<()> {
        todo!("WIP")
    }
    pub async fn load<R: AsyncRead + Send + Unpin + 'static>(&self, _input: R, _progress: ProgressSender) -> Result<Vec<String>> {
        todo!("WIP")
    }
    pub async fn import<R: AsyncRead + Send + Unpin + 'static>(
        &self,
        _input: R,
        _target: Option<&str>,
        _changes: Vec<String>,
        _message: Option<&str>,
        _platform: Option<&str>,
    ) -> Result<ImageRecord> {
        todo!("WIP")
    }
    pub async fn resolve(
        &self,
        _reference: &str,
        _platform: &str,
        _os_version: Option<&str>,
        _isolation: Option<&str>,
        _creds: Option<RegistryCredentials>,
    ) -> Result<serde_json::Value> {
        todo!("WIP: returns silo_image::platform::ResolveReport")
    }
}
