//! Images for silo: references, platform matching (including Windows `os.version` rules), the
//! registry client, and the image service (metadata in SQLite, content in `silo-storage`).
//!
//! Nothing here knows about containers; the engine composes images with the other services.

mod archive;
mod changes;
mod error;
mod import;
mod media;
pub mod model;
pub mod platform;
pub mod progress;
mod pull;
mod push;
pub mod reference;
pub mod registry;
mod remove;
mod resolve;
mod service;
mod store;

pub use archive::Loaded;
pub use error::ImageError;
pub use import::ImportOptions;
pub use model::{ImageRecord, LayerRecord};
pub use progress::{Progress, ProgressAction, ProgressSender};
pub use pull::PullOptions;
pub use push::Pushed;
pub use remove::{HistoryRow, Removed};
pub use service::{ImageService, ImageServiceConfig, Matched};
