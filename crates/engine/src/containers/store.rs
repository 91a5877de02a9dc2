//! The container database, `<data_root>/engine/containers.db` (SQLite, WAL).
//!
//! Schema (changed only by appending to [`MIGRATIONS`]; `PRAGMA user_version` counts the ones
//! applied, each in its own transaction):
//!
//! ```text
//! containers(id TEXT PK, name TEXT UNIQUE, record TEXT)   -- record: model::Container as JSON
//! ```
//!
//! The record is one JSON document rather than columns because it is read and written whole,
//! and its fields follow Docker's API, which grows often; the name is a column so SQLite
//! enforces its uniqueness.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::ContainerError;
use super::model::Container;

/// Ordered schema changes. Never edit a released entry; append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: containers, one JSON record each.
    "CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
    );",
];

/// The open database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ContainerError> {
        let db = |source| ContainerError::Database {
            path: path.to_path_buf(),
            source,
        };
        let conn = silo_statedb::open(path, MIGRATIONS).map_err(db)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn db(&self, source: rusqlite::Error) -> ContainerError {
        ContainerError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a new record; a taken name is NameInUse.
    pub fn insert(&self, c: &Container) -> Result<(), ContainerError> {
        if let Some(other) = self.by_name(&c.name)? {
            return Err(ContainerError::NameInUse {
                name: c.name.clone(),
                id: other.id,
            });
        }
        let json = encode(c)?;
        self.conn
            .execute(
                "INSERT INTO containers (id, name, record) VALUES (?1, ?2, ?3)",
                params![c.id, c.name, json],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Replaces an existing record; a record removed meanwhile stays removed (returns false).
    pub fn update(&self, c: &Container) -> Result<bool, ContainerError> {
        let json = encode(c)?;
        let n = self
            .conn
            .execute(
                "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
                params![c.id, c.name, json],
            )
            .map_err(|e| self.db(e))?;
        Ok(n > 0)
    }

    /// Deletes a record.
    pub fn delete(&self, id: &str) -> Result<(), ContainerError> {
        self.conn
            .execute("DELETE FROM containers WHERE id = ?1", params![id])
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Every record, newest first.
    pub fn all(&self) -> Result<Vec<Container>, ContainerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, record FROM containers")
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(|e| self.db(e))?;
            out.push(decode(&id, &json)?);
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.created));
        Ok(out)
    }

    fn by_name(&self, name: &str) -> Result<Option<Container>, ContainerError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, record FROM containers WHERE name = ?1",
                params![name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        row.map(|(id, json)| decode(&id, &json)).transpose()
    }

    /// Docker's lookup order: full id, then exact name (with or without `/`), then a unique
    /// id prefix.
    pub fn find(&self, key: &str) -> Result<Container, ContainerError> {
        let all = self.all()?;
        if let Some(c) = all.iter().find(|c| c.id == key) {
            return Ok(c.clone());
        }
        let name = format!("/{}", key.trim_start_matches('/'));
        if let Some(c) = all.iter().find(|c| c.name == name) {
            return Ok(c.clone());
        }
        let mut matches = all
            .into_iter()
            .filter(|c| !key.is_empty() && c.id.starts_with(key));
        match (matches.next(), matches.next()) {
            (Some(c), None) => Ok(c),
            (Some(_), Some(_)) => Err(ContainerError::Ambiguous(key.to_string())),
            _ => Err(ContainerError::NotFound(key.to_string())),
        }
    }
}

fn encode(c: &Container) -> Result<String, ContainerError> {
    serde_json::to_string(c).map_err(|source| ContainerError::Record {
        id: c.id.clone(),
        source,
    })
}

fn decode(id: &str, json: &str) -> Result<Container, ContainerError> {
    serde_json::from_str(json).map_err(|source| ContainerError::Record {
        id: id.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::model::{ContainerConfig, ContainerState, HostConfig};

    fn sample(id: &str, name: &str) -> Container {
        Container {
            id: id.to_string(),
            name: name.to_string(),
            image_id: "sha256:abc".into(),
            image_name: "busybox".into(),
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            created: chrono::Utc::now(),
            state: ContainerState::default(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn migrations_apply_in_order_and_only_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        silo_statedb::migrate(&mut conn, MIGRATIONS).unwrap();
        silo_statedb::migrate(&mut conn, MIGRATIONS).unwrap();
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        conn.execute(
            "INSERT INTO containers (id, name, record) VALUES ('a', '/n', '{}')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn finds_by_id_name_and_unique_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).unwrap();
        store.insert(&sample("abc1", "/web")).unwrap();
        store.insert(&sample("abd2", "/db")).unwrap();
        assert_eq!(store.find("web").unwrap().id, "abc1");
        assert_eq!(store.find("/db").unwrap().id, "abd2");
        assert_eq!(store.find("abc").unwrap().id, "abc1");
        assert!(matches!(
            store.find("ab"),
            Err(ContainerError::Ambiguous(_))
        ));
        assert!(matches!(store.find("zz"), Err(ContainerError::NotFound(_))));
        let dup = store.insert(&sample("xyz", "/web")).unwrap_err();
        assert!(matches!(dup, ContainerError::NameInUse { .. }), "{dup}");
        store.delete("abc1").unwrap();
        assert!(!store.update(&sample("abc1", "/web")).unwrap());
    }
}
