//! A small pool of reader connections.
//!
//! In WAL mode readers do not wait for the writer, but a connection serves one thread at a
//! time; a few pooled connections let key lookups and exports run beside each other and
//! beside a long event batch. An empty pool opens a new connection rather than wait, and
//! keeps at most [`MAX_IDLE`] of them for later.

use std::path::PathBuf;

use parking_lot::Mutex;
use rusqlite::Connection;

use super::schema::{Role, open_connection};
use crate::StoreError;

/// Idle reader connections kept open.
const MAX_IDLE: usize = 4;

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::with_capacity(MAX_IDLE)),
        }
    }

    /// Runs `op` on a reader connection. Blocking: call it from a blocking thread.
    pub(super) fn with<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, Role::Reader)?,
        };
        let result = op(&conn);
        let surplus = {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
                None
            } else {
                Some(conn)
            }
        };
        // Closing a connection can touch the file: not while holding the lock.
        drop(surplus);
        result
    }

    /// How many connections wait in the pool.
    pub(super) fn idle(&self) -> usize {
        self.idle.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max_idle_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let readers = Readers::new(path);
        readers.with(|_| Ok(())).unwrap();
        assert_eq!(readers.idle(), 1);
        // Nested use checks out more connections than the pool keeps.
        fn nest(readers: &Readers, depth: usize) -> Result<(), StoreError> {
            readers.with(|conn| {
                conn.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0))
                    .unwrap();
                if depth > 0 {
                    nest(readers, depth - 1)
                } else {
                    Ok(())
                }
            })
        }
        nest(&readers, MAX_IDLE + 2).unwrap();
        assert_eq!(readers.idle(), MAX_IDLE);
    }

    #[test]
    fn readers_refuse_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let readers = Readers::new(path);
        let err = readers
            .with(|conn| {
                conn.execute("INSERT INTO t VALUES (1)", [])
                    .map_err(super::super::sql::db_error)
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
    }
}
