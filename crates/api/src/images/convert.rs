//! Image records → Docker API models.

use std::collections::HashMap;

use bollard_stubs::models::{
    DriverData, ImageConfig, ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect,
    ImageInspectMetadata, ImageInspectRootFs, ImageSummary, OciDescriptor,
};
use chrono::{DateTime, SecondsFormat, Utc};
use silo_engine::{HistoryEntry, ImageDeleteItem, ImageRecord};

/// Seconds since the epoch of the image config's `created`, 0 when absent or unparsable.
pub fn created_unix(record: &ImageRecord) -> i64 {
    created(record).map(|t| t.timestamp()).unwrap_or(0)
}

/// The image config's `created`.
pub fn created(record: &ImageRecord) -> Option<DateTime<Utc>> {
    let raw = record.config.created().as_deref()?;
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn labels(record: &ImageRecord) -> HashMap<String, String> {
    record
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default()
}

/// One row of `GET /images/json`, showing only the given tags and digests.
pub fn summary(
    record: &ImageRecord,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
) -> ImageSummary {
    ImageSummary {
        id: record.id.clone(),
        parent_id: String::new(),
        repo_tags,
        repo_digests,
        created: created_unix(record),
        size: clamp(record.size),
        shared_size: -1,
        labels: labels(record),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// Where an image's layers are on disk, for `GraphDriver` in image inspect.
#[derive(Debug, Clone, Default)]
pub struct GraphDriver {
    pub name: &'static str,
    /// Unpacked layers, base first.
    pub lower_dirs: Vec<std::path::PathBuf>,
}

/// `GET /images/{name}/json`.
pub fn inspect(record: &ImageRecord, driver: &GraphDriver) -> ImageInspect {
    let cfg = &record.config;
    let comment = cfg
        .history()
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    ImageInspect {
        id: Some(record.id.clone()),
        descriptor: Some(OciDescriptor {
            media_type: Some(record.manifest_media_type.clone()),
            digest: Some(record.manifest_digest.clone()),
            ..Default::default()
        }),
        repo_tags: Some(record.repo_tags.clone()),
        repo_digests: Some(record.repo_digests.clone()),
        comment: Some(comment),
        created: cfg.created().as_deref().and_then(bollard_date),
        author: Some(cfg.author().clone().unwrap_or_default()),
        config: Some(image_config(record)),
        architecture: Some(cfg.architecture().to_string()),
        variant: cfg.variant().clone(),
        os: Some(cfg.os().to_string()),
        os_version: cfg.os_version().clone(),
        size: Some(clamp(record.size)),
        graph_driver: Some(graph_driver(driver)),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".to_string(),
            layers: Some(cfg.rootfs().diff_ids().clone()),
        }),
        metadata: Some(ImageInspectMetadata {
            last_tag_time: record
                .last_tag_time
                .and_then(|t| bollard_date(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
        }),
        ..Default::default()
    }
}

/// overlayfs lists lower directories top first, as Docker's `LowerDir` does.
fn graph_driver(driver: &GraphDriver) -> DriverData {
    let mut data = HashMap::new();
    if !driver.lower_dirs.is_empty() {
        let top_first: Vec<String> = driver
            .lower_dirs
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        data.insert("LowerDir".to_string(), top_first.join(":"));
    }
    DriverData {
        name: driver.name.to_string(),
        data,
    }
}

fn image_config(record: &ImageRecord) -> ImageConfig {
    let Some(c) = record.config.config() else {
        return ImageConfig::default();
    };
    ImageConfig {
        user: c.user().clone(),
        exposed_ports: c.exposed_ports().clone(),
        env: c.env().clone(),
        cmd: c.cmd().clone(),
        volumes: c.volumes().clone(),
        working_dir: c.working_dir().clone(),
        entrypoint: c.entrypoint().clone(),
        labels: c.labels().clone(),
        stop_signal: c.stop_signal().clone(),
        // OCI configs have no ONBUILD; Docker-built images carry it only in their own config.
        on_build: None,
        ..Default::default()
    }
}

/// A timestamp in bollard-stubs' date type. That type is a `String`, a chrono or a `time` date
/// depending on which features other crates enable on bollard-stubs; going through its own
/// deserializer keeps this crate compiling whichever it is.
fn bollard_date(rfc3339: &str) -> Option<bollard_stubs::models::BollardDate> {
    let metadata: ImageInspectMetadata =
        serde_json::from_value(serde_json::json!({ "LastTagTime": rfc3339 })).ok()?;
    metadata.last_tag_time
}

pub fn history_item(entry: HistoryEntry) -> ImageHistoryResponseItem {
    ImageHistoryResponseItem {
        id: entry.id,
        created: entry.created,
        created_by: entry.created_by,
        tags: entry.tags,
        size: clamp(entry.size),
        comment: entry.comment,
    }
}

pub fn delete_item(item: ImageDeleteItem) -> ImageDeleteResponseItem {
    match item {
        ImageDeleteItem::Untagged(r) => ImageDeleteResponseItem {
            untagged: Some(r),
            deleted: None,
        },
        ImageDeleteItem::Deleted(id) => ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as the store would hold it, from a Docker-style config JSON.
    pub fn record(tags: &[&str], config: serde_json::Value) -> ImageRecord {
        let config = serde_json::from_value(config).unwrap();
        ImageRecord {
            id: "sha256:aaaa".into(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: vec![],
            manifest_digest: "sha256:mmmm".into(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            config,
            layers: vec![],
            size: 4321,
            loaded_at: Utc::now(),
            last_tag_time: None,
        }
    }

    pub fn config(created: &str, labels: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": labels, "ExposedPorts": {"80/tcp": {}}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:d1"]},
            "history": [{"created_by": "ADD rootfs", "comment": "imported"}]
        })
    }

    #[test]
    fn inspect_shape() {
        let r = record(
            &["busybox:latest"],
            config("2024-05-01T10:00:00Z", serde_json::json!({"a": "b"})),
        );
        let driver = GraphDriver {
            name: "overlayfs",
            lower_dirs: vec!["/l/base".into(), "/l/top".into()],
        };
        let v = serde_json::to_value(inspect(&r, &driver)).unwrap();
        assert_eq!(v["GraphDriver"]["Data"]["LowerDir"], "/l/top:/l/base");
        assert_eq!(v["Id"], "sha256:aaaa");
        assert_eq!(v["RepoTags"][0], "busybox:latest");
        assert!(v["Created"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01T10:00:00"));
        assert_eq!(v["Config"]["Cmd"][0], "sh");
        assert_eq!(
            v["Config"]["ExposedPorts"],
            serde_json::json!({"80/tcp": {}})
        );
        assert_eq!(v["Config"]["Labels"]["a"], "b");
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Size"], 4321);
        assert_eq!(v["GraphDriver"]["Name"], "overlayfs");
        assert_eq!(
            v["RootFS"],
            serde_json::json!({"Type": "layers", "Layers": ["sha256:d1"]})
        );
        assert_eq!(v["Descriptor"]["digest"], "sha256:mmmm");
        assert_eq!(v["Comment"], "imported");
    }

    #[test]
    fn summary_shape() {
        let r = record(
            &["busybox:latest"],
            config("2024-05-01T10:00:00Z", serde_json::json!(null)),
        );
        let v = serde_json::to_value(summary(&r, r.repo_tags.clone(), vec![])).unwrap();
        assert_eq!(v["Created"], 1714557600);
        assert_eq!(v["SharedSize"], -1);
        assert_eq!(v["Containers"], -1);
        assert_eq!(v["ParentId"], "");
        assert_eq!(v["Labels"], serde_json::json!({}));
    }
}
