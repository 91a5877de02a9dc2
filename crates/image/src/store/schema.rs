//! The image database schema, changed only by appending to [`MIGRATIONS`].
//!
//! `PRAGMA user_version` records how many migrations ran; each runs in its own transaction,
//! so an interrupted upgrade resumes where it stopped.

/// Ordered schema changes. Never edit a released entry; append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: images and the references that name them.
    "CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        config_json BLOB NOT NULL,
        layers_json TEXT NOT NULL,
        size INTEGER NOT NULL,
        loaded_at TEXT NOT NULL,
        last_tag_time TEXT
    );
    CREATE TABLE refs (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        created_at TEXT NOT NULL
    );
    CREATE INDEX refs_by_image ON refs(image_id);",
];
