//! `save` and `load` in the docker-archive format that `docker load` reads: the layout Docker 25
//! writes, an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus Docker's
//! `manifest.json`, with layers as uncompressed tars named by their diff_id. `load` also reads
//! the older layout (`<id>/layer.tar`, `<id>.json`), since `manifest.json` names the paths.

mod load;
mod save;

pub use load::Loaded;

use serde::{Deserialize, Serialize};

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}
