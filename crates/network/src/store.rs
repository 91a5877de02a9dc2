//! The network database, `<state_dir>/networks.db` (SQLite, WAL).
//!
//! ```text
//! networks(id PK, name UNIQUE, record)                      -- model::Network as JSON
//! endpoints(id PK, network_id FK, container_id, record,     -- model::Endpoint as JSON
//!           UNIQUE(network_id, container_id))
//! addresses(network_id FK, address, endpoint_id FK,         -- what IPAM handed out
//!           PK(network_id, address))
//! cursors(network_id FK, family, last, PK(network_id, family))  -- last address handed out
//! ```
//!
//! An endpoint and its addresses are written in one transaction, and the primary key on
//! (network, address) makes SQLite itself refuse a second holder of an address, whatever the
//! service's memory says after a crash.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::NetworkError;
use crate::model::{Endpoint, Network};

/// Ordered schema changes. Never edit a released entry; append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: networks, endpoints and IPAM state.
    "CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
    );
    CREATE TABLE endpoints (
        id TEXT PRIMARY KEY,
        network_id TEXT NOT NULL REFERENCES networks(id),
        container_id TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (network_id, container_id)
    );
    CREATE INDEX endpoints_by_container ON endpoints(container_id);
    CREATE TABLE addresses (
        network_id TEXT NOT NULL REFERENCES networks(id),
        address TEXT NOT NULL,
        endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
        PRIMARY KEY (network_id, address)
    );
    CREATE TABLE cursors (
        network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        family INTEGER NOT NULL,
        last TEXT NOT NULL,
        PRIMARY KEY (network_id, family)
    );",
];

/// The open database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

fn family(addr: IpAddr) -> i64 {
    if addr.is_ipv4() {
        4
    } else {
        6
    }
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, NetworkError> {
        let conn =
            silo_statedb::open(path, MIGRATIONS).map_err(|source| NetworkError::Database {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> NetworkError + '_ {
        |source| NetworkError::Database {
            path: self.path.clone(),
            source,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, json: &str) -> Result<T, NetworkError> {
        serde_json::from_str(json).map_err(|e| NetworkError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// Records a new network; a taken name is `NameInUse`.
    pub fn insert_network(&self, n: &Network) -> Result<(), NetworkError> {
        let json = serde_json::to_string(n).expect("networks serialize");
        match self.conn.execute(
            "INSERT INTO networks (id, name, record) VALUES (?1, ?2, ?3)",
            params![n.id, n.name, json],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(NetworkError::NameInUse(n.name.clone()))
            }
            Err(e) => Err(self.db()(e)),
        }
    }

    /// Every network, oldest first.
    pub fn networks(&self) -> Result<Vec<Network>, NetworkError> {
        let mut stmt = self
            .conn
            .prepare("SELECT record FROM networks ORDER BY rowid")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        rows.iter().map(|json| self.decode(json)).collect()
    }

    /// Removes a network and its IPAM cursors; its endpoints must be gone already.
    pub fn delete_network(&self, id: &str) -> Result<(), NetworkError> {
        self.conn
            .execute("DELETE FROM networks WHERE id = ?1", params![id])
            .map_err(self.db())?;
        Ok(())
    }

    /// Records an endpoint with its addresses, atomically. An address another endpoint holds
    /// is `AddressInUse`; nothing is written then.
    pub fn insert_endpoint(&mut self, ep: &Endpoint) -> Result<(), NetworkError> {
        let json = serde_json::to_string(ep).expect("endpoints serialize");
        let path = self.path.clone();
        let db = move |source| NetworkError::Database {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&db)?;
        tx.execute(
            "INSERT INTO endpoints (id, network_id, container_id, record) VALUES (?1, ?2, ?3, ?4)",
            params![ep.id, ep.network_id, ep.container_id, json],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                NetworkError::AlreadyAttached {
                    container: ep.container_id.clone(),
                    network: ep.network_id.clone(),
                }
            }
            e => db(e),
        })?;
        for addr in ep.ipv4.iter().chain(ep.ipv6.iter()).map(|n| n.addr()) {
            let inserted = tx.execute(
                "INSERT INTO addresses (network_id, address, endpoint_id) VALUES (?1, ?2, ?3)",
                params![ep.network_id, addr.to_string(), ep.id],
            );
            match inserted {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(NetworkError::AddressInUse { addr });
                }
                Err(e) => return Err(db(e)),
            }
            if !ep.static_ip {
                tx.execute(
                    "INSERT INTO cursors (network_id, family, last) VALUES (?1, ?2, ?3)
                     ON CONFLICT (network_id, family) DO UPDATE SET last = excluded.last",
                    params![ep.network_id, family(addr), addr.to_string()],
                )
                .map_err(&db)?;
            }
        }
        tx.commit().map_err(&db)
    }

    /// Removes an endpoint and releases its addresses.
    pub fn delete_endpoint(&self, id: &str) -> Result<(), NetworkError> {
        self.conn
            .execute("DELETE FROM endpoints WHERE id = ?1", params![id])
            .map_err(self.db())?;
        Ok(())
    }

    /// Every endpoint, oldest first.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, NetworkError> {
        self.endpoints_where("1", params![])
    }

    /// The endpoints on network `id`.
    pub fn endpoints_of_network(&self, id: &str) -> Result<Vec<Endpoint>, NetworkError> {
        self.endpoints_where("network_id = ?1", params![id])
    }

    /// The endpoints of container `id`, in the order they were attached.
    pub fn endpoints_of_container(&self, id: &str) -> Result<Vec<Endpoint>, NetworkError> {
        self.endpoints_where("container_id = ?1", params![id])
    }

    fn endpoints_where(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Endpoint>, NetworkError> {
        let sql = format!("SELECT record FROM endpoints WHERE {clause} ORDER BY rowid");
        let mut stmt = self.conn.prepare(&sql).map_err(self.db())?;
        let rows = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        rows.iter().map(|json| self.decode(json)).collect()
    }

    /// Addresses handed out on network `id`.
    pub fn addresses(&self, id: &str) -> Result<HashSet<IpAddr>, NetworkError> {
        let mut stmt = self
            .conn
            .prepare("SELECT address FROM addresses WHERE network_id = ?1")
            .map_err(self.db())?;
        let rows = stmt
            .query_map(params![id], |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        Ok(rows.iter().filter_map(|a| a.parse().ok()).collect())
    }

    /// The last address IPAM handed out on network `id` for `addr`'s family.
    pub fn cursor(&self, id: &str, v4: bool) -> Result<Option<IpAddr>, NetworkError> {
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT last FROM cursors WHERE network_id = ?1 AND family = ?2",
                params![id, if v4 { 4 } else { 6 }],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        Ok(last.and_then(|l| l.parse().ok()))
    }
}
