//! Image metadata in SQLite: which images exist, their manifests and layers, and which
//! references (tags and digests) point at them. Content lives in `silo-storage`; this store
//! only ever records an image after all of its content is committed, so a crash at any point
//! leaves either no record or a complete one.
//!
//! Schema (see [`schema::MIGRATIONS`]):
//! ```text
//! images(id PK = config digest, manifest_digest, manifest_media_type, config_json,
//!        layers_json, size, loaded_at, last_tag_time)
//! refs(name PK = normalised reference, image_id -> images.id ON DELETE CASCADE,
//!      kind 'tag'|'digest', created_at)
//! ```

mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;
use rusqlite::{params, Connection, OptionalExtension};

use crate::model::{ImageRecord, LayerRecord};
use crate::reference::Reference;
use crate::ImageError;

/// What kind of name a reference row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `repo:tag`, moves between images.
    Tag,
    /// `repo@sha256:…`, fixed to the manifest it names.
    Digest,
}

impl RefKind {
    fn as_str(self) -> &'static str {
        match self {
            RefKind::Tag => "tag",
            RefKind::Digest => "digest",
        }
    }
}

/// An image about to be recorded: everything but its references.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config_json: Vec<u8>,
    pub layers: Vec<LayerRecord>,
    pub size: u64,
}

/// The SQLite-backed image metadata store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl MetadataStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let db_err = |source| ImageError::Database {
            op: "open image database",
            path: path.to_path_buf(),
            source,
        };
        let conn = silo_statedb::open(path, schema::MIGRATIONS).map_err(db_err)?;
        Ok(MetadataStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write is a
        // transaction), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn db_err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> ImageError + '_ {
        move |source| ImageError::Database {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Records `image` (or keeps the existing row if the id is known) and points `refs` at it,
    /// in one transaction. Tags already pointing elsewhere move; the old image keeps its other
    /// references (and becomes dangling if it had none).
    pub fn commit(
        &self,
        image: &NewImage,
        refs: &[(Reference, RefKind)],
    ) -> Result<(), ImageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.db_err("begin commit"))?;
        let layers_json = serde_json::to_string(&image.layers).map_err(ImageError::Encode)?;
        let now = Utc::now().to_rfc3339();
        tx.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, config_json, layers_json, size, loaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                 manifest_media_type = excluded.manifest_media_type,
                 layers_json = excluded.layers_json",
            params![
                image.id,
                image.manifest_digest,
                image.manifest_media_type,
                image.config_json,
                layers_json,
                image.size as i64,
                now
            ],
        )
        .map_err(self.db_err("insert image"))?;
        for (reference, kind) in refs {
            upsert_ref(&tx, reference, *kind, &image.id)
                .map_err(self.db_err("insert reference"))?;
        }
        if refs.iter().any(|(_, k)| *k == RefKind::Tag) {
            tx.execute(
                "UPDATE images SET last_tag_time = ?1 WHERE id = ?2",
                params![now, image.id],
            )
            .map_err(self.db_err("update tag time"))?;
        }
        tx.commit().map_err(self.db_err("commit image"))
    }

    /// Points `reference` at the existing image `id`.
    pub fn add_ref(
        &self,
        id: &str,
        reference: &Reference,
        kind: RefKind,
    ) -> Result<(), ImageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.db_err("begin tag"))?;
        upsert_ref(&tx, reference, kind, id).map_err(self.db_err("tag image"))?;
        if kind == RefKind::Tag {
            tx.execute(
                "UPDATE images SET last_tag_time = ?1 WHERE id = ?2",
                params![Utc::now().to_rfc3339(), id],
            )
            .map_err(self.db_err("update tag time"))?;
        }
        tx.commit().map_err(self.db_err("commit tag"))
    }

    /// Removes one reference; returns whether it existed.
    pub fn remove_ref(&self, name: &str) -> Result<bool, ImageError> {
        let n = self
            .conn()
            .execute("DELETE FROM refs WHERE name = ?1", params![name])
            .map_err(self.db_err("remove reference"))?;
        Ok(n > 0)
    }

    /// Removes an image row and every reference to it.
    pub fn remove_image(&self, id: &str) -> Result<(), ImageError> {
        self.conn()
            .execute("DELETE FROM images WHERE id = ?1", params![id])
            .map_err(self.db_err("remove image"))?;
        Ok(())
    }

    /// The image a normalised reference points at.
    pub fn resolve_ref(&self, name: &str) -> Result<Option<String>, ImageError> {
        self.conn()
            .query_row(
                "SELECT image_id FROM refs WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err("look up reference"))
    }

    /// Image ids starting with `prefix` (a hex prefix of the id, without `sha256:`).
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ImageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM images WHERE substr(id, 8, ?1) = ?2")
            .map_err(self.db_err("look up id prefix"))?;
        let rows = stmt
            .query_map(params![prefix.len() as i64, prefix], |r| r.get(0))
            .map_err(self.db_err("look up id prefix"))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(self.db_err("look up id prefix"))
    }

    /// One image with its references, if it exists.
    pub fn get(&self, id: &str) -> Result<Option<ImageRecord>, ImageError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, manifest_digest, manifest_media_type, config_json, layers_json, size,
                        loaded_at, last_tag_time FROM images WHERE id = ?1",
                params![id],
                RawImage::from_row,
            )
            .optional()
            .map_err(self.db_err("read image"))?;
        match row {
            None => Ok(None),
            Some(raw) => {
                let refs = refs_of(&conn, id).map_err(self.db_err("read references"))?;
                raw.into_record(refs).map(Some)
            }
        }
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, manifest_digest, manifest_media_type, config_json, layers_json, size,
                        loaded_at, last_tag_time FROM images ORDER BY loaded_at DESC",
            )
            .map_err(self.db_err("list images"))?;
        let raws = stmt
            .query_map([], RawImage::from_row)
            .map_err(self.db_err("list images"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db_err("list images"))?;
        let mut all_refs = all_refs(&conn).map_err(self.db_err("list references"))?;
        raws.into_iter()
            .map(|raw| {
                let refs = all_refs.remove(&raw.id).unwrap_or_default();
                raw.into_record(refs)
            })
            .collect()
    }
}

fn upsert_ref(
    tx: &rusqlite::Transaction<'_>,
    reference: &Reference,
    kind: RefKind,
    id: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO refs (name, image_id, kind, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, kind = excluded.kind",
        params![
            reference.to_string(),
            id,
            kind.as_str(),
            Utc::now().to_rfc3339()
        ],
    )?;
    Ok(())
}

/// (normalised name, kind) of one image's references.
type RefRows = Vec<(String, String)>;

fn refs_of(conn: &Connection, id: &str) -> rusqlite::Result<RefRows> {
    let mut stmt =
        conn.prepare("SELECT name, kind FROM refs WHERE image_id = ?1 ORDER BY created_at, name")?;
    let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn all_refs(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<String, RefRows>> {
    let mut stmt =
        conn.prepare("SELECT image_id, name, kind FROM refs ORDER BY created_at, name")?;
    let mut map: std::collections::HashMap<String, RefRows> = Default::default();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (id, name, kind) = row?;
        map.entry(id).or_default().push((name, kind));
    }
    Ok(map)
}

struct RawImage {
    id: String,
    manifest_digest: String,
    manifest_media_type: String,
    config_json: Vec<u8>,
    layers_json: String,
    size: i64,
    loaded_at: String,
    last_tag_time: Option<String>,
}

impl RawImage {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawImage {
            id: r.get(0)?,
            manifest_digest: r.get(1)?,
            manifest_media_type: r.get(2)?,
            config_json: r.get(3)?,
            layers_json: r.get(4)?,
            size: r.get(5)?,
            loaded_at: r.get(6)?,
            last_tag_time: r.get(7)?,
        })
    }

    fn into_record(self, refs: RefRows) -> Result<ImageRecord, ImageError> {
        let corrupt = |what: &'static str| ImageError::CorruptRecord {
            id: self.id.clone(),
            what,
        };
        let config = ImageConfiguration::from_reader(self.config_json.as_slice())
            .map_err(|_| corrupt("config"))?;
        let layers: Vec<LayerRecord> =
            serde_json::from_str(&self.layers_json).map_err(|_| corrupt("layers"))?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for (name, kind) in refs {
            let Ok(reference) = Reference::parse(&name) else {
                continue;
            };
            if kind == RefKind::Digest.as_str() {
                repo_digests.push(reference.familiar());
            } else {
                repo_tags.push(reference.familiar());
            }
        }
        Ok(ImageRecord {
            id: self.id.clone(),
            repo_tags,
            repo_digests,
            manifest_digest: self.manifest_digest.clone(),
            manifest_media_type: self.manifest_media_type.clone(),
            config,
            layers,
            size: self.size.max(0) as u64,
            loaded_at: parse_time(&self.loaded_at).unwrap_or_else(Utc::now),
            last_tag_time: self.last_tag_time.as_deref().and_then(parse_time),
        })
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
