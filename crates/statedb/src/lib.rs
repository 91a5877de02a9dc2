//! How every silo service opens its SQLite database: write-ahead log with `synchronous =
//! NORMAL` (a crash or `kill -9` of the daemon loses no committed row; only a crash of the host
//! itself may lose the last commits, and then the containers are gone too), a busy timeout,
//! foreign keys on, and the service's ordered schema migrations. NORMAL spares an fsync per
//! commit, which container start and stop pay several times.
//!
//! A migration list is append-only: `PRAGMA user_version` counts the entries applied, and each
//! entry runs in its own transaction, so a database is always at exactly one version.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Opens (creating) the database at `path` and brings it to the latest schema.
pub fn open(path: &Path, migrations: &[&str]) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    migrate(&mut conn, migrations)?;
    Ok(conn)
}

/// Applies the entries of `migrations` not applied yet, in order.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_in_order_and_only_once() {
        let dir = std::env::temp_dir().join(format!("statedb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let first = ["CREATE TABLE a (x INTEGER);"];
        drop(open(&path, &first).unwrap());
        // Re-opening applies only the appended entry (a second CREATE of `a` would fail).
        let both = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER);"];
        let conn = open(&path, &both).unwrap();
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
