//! Opening connections and migrating the schema.
//!
//! The schema version lives in `PRAGMA user_version`; migration `n` (1-based) moves the
//! database from version `n - 1` to `n` and runs in the same `BEGIN IMMEDIATE`
//! transaction as the version bump, so concurrent openers (server and CLI) cannot both
//! apply it, and a failed migration leaves the database as it was.

use std::{path::Path, time::Duration};

use rusqlite::Connection;

use super::sql::{db_error, immediate};
use crate::StoreError;

/// The migrations, in order; the schema version is how many of them ran.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_alerts.sql"),
    include_str!("migrations/0003_compact_events.sql"),
    include_str!("migrations/0004_request_blocks.sql"),
];

/// How long a statement waits for another connection's (or process's) lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Enough for every distinct statement this crate prepares (list filters included).
const STATEMENT_CACHE: usize = 64;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The one connection that writes; it also sets the journal mode and migrates.
    Writer,
    /// A pooled connection for queries; `query_only` guards against a write slipping in.
    Reader,
    /// The connection of the checkpoint thread.
    Checkpointer,
}

/// The page size of a new database file. Twice SQLite's default: an event row was about
/// 1 KB when this was measured (requests are in blocks now, `blocks.rs`), and every page
/// a transaction touches is written whole to the WAL and again by the checkpoint, so
/// fewer, larger pages cost less per appended event. Fixed once the file exists.
const PAGE_SIZE: u32 = 8_192;

/// The writer's page cache, in KiB (SQLite's default is 2 MiB). It holds what every batch
/// touches again: the last pages of the tables and of their indexes (and, for databases
/// with requests stored before blocks, the last page of each key's entries in
/// `events_by_key`, which retention deletes from). When a transaction outgrows the cache,
/// SQLite spills dirty pages to the WAL mid-transaction and reads them back later, which
/// was the biggest single cost of an append.
const WRITER_CACHE_KIB: i64 = 32 * 1_024;

/// The writer's own checkpoint threshold, in pages: far above what the checkpoint thread
/// lets the WAL reach, so it only acts when that thread cannot.
const WRITER_AUTOCHECKPOINT: u32 = 16_384;

/// The WAL file is cut back to this size after a checkpoint let it restart, so that one
/// burst does not leave a huge file behind.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Opens a connection to `path` (creating the file if needed) and applies the
/// per-connection settings.
pub(super) fn open_connection(path: &Path, role: Role) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|err| StoreError::Backend(format!("cannot open `{}`: {err}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if role == Role::Writer {
        // Before anything is written; a no-op on an existing file.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(db_error)?;
        // Persistent in the file: readers opened later (and other processes) inherit it.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Still correct, only slower: readers and the writer then block each other.
            tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
        }
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)
            .map_err(db_error)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(db_error)?;
        // Negative: in KiB rather than pages.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(db_error)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_error)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db_error)?;
    if role == Role::Reader {
        conn.pragma_update(None, "query_only", true)
            .map_err(db_error)?;
    }
    Ok(conn)
}

/// The schema version this build creates and reads.
pub(super) fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// Brings the database to [`latest_version`]; refuses a database that a newer build
/// already migrated further.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let latest = latest_version();
    // The common case (already current) takes no write lock, so opening the CLI does not
    // wait for the server's event batch.
    if schema_version(conn)? == latest {
        return Ok(());
    }
    let tx = immediate(conn)?;
    let current = schema_version(&tx)?;
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql).map_err(|err| {
            StoreError::Backend(format!("schema migration {} failed: {err}", done + 1))
        })?;
        tx.pragma_update(None, "user_version", done + 1)
            .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    if current < latest {
        tracing::info!(from = current, to = latest, "migrated the database schema");
    }
    Ok(())
}

/// The stored schema version; `Backend` when it is newer than this build.
fn schema_version(conn: &Connection) -> Result<usize, StoreError> {
    let stored: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db_error)?;
    let latest = latest_version();
    match usize::try_from(stored) {
        Ok(version) if version <= latest => Ok(version),
        Ok(_) => Err(StoreError::Backend(format!(
            "database schema version {stored} is newer than this build ({latest})"
        ))),
        Err(_) => Err(StoreError::Corrupt(format!(
            "database schema version {stored} is negative"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_set_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), latest_version());
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "accounts",
                "alerts",
                "events",
                "keys",
                "request_blocks",
                "tenants"
            ]
        );
    }

    #[test]
    fn newer_and_negative_versions_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        let expected = format!(
            "database schema version 7 is newer than this build ({})",
            latest_version()
        );
        assert!(err.contains(&expected), "{err}");
        conn.pragma_update(None, "user_version", -1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::Corrupt(_))));
    }
}
