//! WAL checkpoints on a thread of their own.
//!
//! SQLite copies the WAL back into the database file (and syncs it) inside whichever commit
//! crosses `wal_autocheckpoint`, so an event batch would pay for the disk writes of the
//! batches before it. This thread, with its own connection, checkpoints after this
//! process's writes instead, while the writer goes on. The writer keeps a high
//! `wal_autocheckpoint` of its own as a safety net, so the WAL stays bounded if this
//! thread falls behind or is gone.
//!
//! The thread waits for a pause in this process's writes before it checkpoints. Event
//! batches come in bursts (the event writer flushes a few batches back to back, then
//! sleeps), and a checkpoint that starts mid-burst can copy only what was committed when it
//! started: the WAL then never empties, so it grows instead of starting over from its
//! beginning, until the writer's safety net checkpoints inside a commit after all. Between
//! bursts, a checkpoint copies everything, and the next write restarts the WAL.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::{Duration, Instant},
};

use rusqlite::Connection;

use super::schema::{Role, open_connection};
use crate::StoreError;

/// At most this often: each checkpoint syncs the WAL and the database file, and copies
/// every page written since the one before once, however many commits wrote it (index
/// pages are rewritten by nearly every batch). Short enough that the WAL stays far below
/// the writer's safety net at full speed.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// No write for this long is a pause. Batches of a burst follow each other within a
/// millisecond or two.
const PAUSE: Duration = Duration::from_millis(10);

/// Checkpoints anyway after waiting this long for a pause, so that a writer that never
/// pauses still has its WAL copied back.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Wakes the checkpoint thread and tells it when this process writes; the thread ends
/// when this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
    /// Write transactions started plus finished: odd while one runs.
    writes: Arc<AtomicU64>,
}

impl Checkpointer {
    pub(super) fn start(path: PathBuf) -> Result<Self, StoreError> {
        let conn = open_connection(&path, Role::Checkpointer)?;
        // One pending wake-up is enough: it covers every write before it.
        let (wake, wakeups) = sync_channel(1);
        let writes = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&writes);
        std::thread::Builder::new()
            .name("bulwark-store-checkpoint".to_owned())
            .spawn(move || run(&conn, &wakeups, &seen))
            .map_err(|err| {
                StoreError::Backend(format!("cannot start the checkpoint thread: {err}"))
            })?;
        Ok(Self { wake, writes })
    }

    /// Runs `write`, one write transaction of this process, then asks for a checkpoint.
    pub(super) fn write<T>(&self, write: impl FnOnce() -> T) -> T {
        // Nothing in `write` panics (the crate denies it); if it did, the count would stay
        // odd and checkpoints would only wait `MAX_WAIT` each.
        self.writes.fetch_add(1, Ordering::AcqRel);
        let result = write();
        self.writes.fetch_add(1, Ordering::AcqRel);
        self.wake();
        result
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

fn run(conn: &Connection, wakeups: &Receiver<()>, writes: &AtomicU64) {
    while wakeups.recv().is_ok() {
        wait_for_pause(writes);
        // The checkpoint covers the writes that woke the thread while it waited.
        while wakeups.try_recv().is_ok() {}
        // PASSIVE never blocks the writer or readers; what it cannot copy yet (frames a
        // reader still needs) waits for the next round.
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
        std::thread::sleep(MIN_INTERVAL);
    }
}

/// Returns once no write of this process has run for [`PAUSE`], or after [`MAX_WAIT`].
fn wait_for_pause(writes: &AtomicU64) {
    let deadline = Instant::now() + MAX_WAIT;
    loop {
        let before = writes.load(Ordering::Acquire);
        std::thread::sleep(PAUSE);
        let after = writes.load(Ordering::Acquire);
        if (after == before && after.is_multiple_of(2)) || Instant::now() >= deadline {
            return;
        }
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
