//! WAL checkpoints on a thread of their own.
//!
//! SQLite copies the WAL back into the database file (and syncs it) inside whichever commit
//! crosses `wal_autocheckpoint`, so an event batch would pay for the disk writes of the
//! batches before it. This thread, with its own connection, checkpoints after this
//! process's writes instead, while the writer goes on. The writer keeps a high
//! `wal_autocheckpoint` of its own as a safety net, so the WAL stays bounded if this
//! thread falls behind or is gone.

use std::{
    path::PathBuf,
    sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    time::Duration,
};

use rusqlite::Connection;

use super::schema::{Role, open_connection};
use crate::StoreError;

/// At most this often: each checkpoint ends with a sync of the database file, and a
/// trickle of small writes should not cost a sync each. Short enough that a burst at full
/// speed stays far below the writer's safety net between two checkpoints.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Wakes the checkpoint thread; the thread ends when this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    pub(super) fn start(path: PathBuf) -> Result<Self, StoreError> {
        let conn = open_connection(&path, Role::Checkpointer)?;
        // One pending wake-up is enough: it covers every write before it.
        let (wake, wakeups) = sync_channel(1);
        std::thread::Builder::new()
            .name("bulwark-store-checkpoint".to_owned())
            .spawn(move || run(&conn, &wakeups))
            .map_err(|err| {
                StoreError::Backend(format!("cannot start the checkpoint thread: {err}"))
            })?;
        Ok(Self { wake })
    }

    /// Asks for a checkpoint soon; never blocks.
    pub(super) fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            // The thread is gone (it never panics, so only at shutdown): the writer's own
            // autocheckpoint takes over.
            Err(TrySendError::Disconnected(())) => {}
        }
    }
}

fn run(conn: &Connection, wakeups: &Receiver<()>) {
    while wakeups.recv().is_ok() {
        // PASSIVE never blocks the writer or readers; what it cannot copy yet (frames a
        // reader still needs) waits for the next round.
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
        std::thread::sleep(MIN_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
                 INSERT INTO t SELECT randomblob(4000) FROM n;",
            )
            .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        assert!(before < 100_000, "nothing checkpointed yet: {before} bytes");

        let checkpointer = Checkpointer::start(path.clone()).unwrap();
        checkpointer.wake();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < 800_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint after 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Dropping it ends the thread; waking a stopped checkpointer is harmless.
        drop(checkpointer);
    }
}
