//! Images for silo: references, platform matching (including Windows `os.version` rules), the
//! registry client, and the image store (metadata in SQLite, content in `silo-storage`).
//!
//! Nothing here knows about containers; the engine composes images with the other services.

pub mod model;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod progress;

pub use model::{ImageRecord, LayerRecord};
pub use progress::{Progress, ProgressAction, ProgressSender};
