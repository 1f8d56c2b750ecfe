//! Event retention: deleting old `api.request` events in bounded batches, by hand
//! (`bulwark events prune`) or on a schedule in the server.
//!
//! A request event is about 230 bytes of database; at 1,000 requests a second that is
//! 20 GB a day, so an operator who keeps events for 30 days wants them gone after, without
//! stopping the gateway. Deleting runs in batches of about [`PRUNE_BATCH`] events (whole
//! blocks of them, `sqlite/blocks.rs`), each its own short transaction with a pause after
//! it, so the event writer's batches interleave with a large backlog instead of waiting
//! for it. SQLite reuses the freed pages for new events;
//! the file itself only shrinks with `VACUUM`.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bulwark_core::Timestamp;

use crate::{Store, StoreError};

/// Events deleted per transaction (the last block deleted may take it past this).
pub const PRUNE_BATCH: usize = 10_000;

/// The pause after each full batch: the event writer's turn.
const PAUSE: Duration = Duration::from_millis(20);

/// Deletes every `api.request` event stamped before `before` (management events stay),
/// batch by batch; returns how many were deleted. `progress` sees the running total after
/// each batch.
pub async fn prune_before(
    store: &dyn Store,
    before: Timestamp,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let mut total = 0_u64;
    loop {
        let deleted = store.prune_events(before, PRUNE_BATCH).await?;
        total += deleted as u64;
        progress(total);
        if deleted < PRUNE_BATCH {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The server's scheduled pruning: at start and then every `interval`, the events older
/// than `retention` go.
#[derive(Debug)]
pub struct Retention {
    store: Arc<dyn Store>,
    retention: Duration,
    pruned: Arc<AtomicU64>,
}

impl Retention {
    /// How often the server prunes: often enough that one round is a small job (an hour of
    /// traffic at most), rarely enough to cost nothing in between.
    pub const INTERVAL: Duration = Duration::from_secs(600);

    pub fn new(store: Arc<dyn Store>, retention: Duration) -> Self {
        Self {
            store,
            retention,
            pruned: Arc::default(),
        }
    }

    /// Events deleted so far (for the server's metrics).
    pub fn pruned(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.pruned)
    }

    /// Prunes until `stop` resolves. A failed round is logged and tried again at the next.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let rounds = async {
            loop {
                let before = Timestamp::now().offset(-retention);
                let counter = &self.pruned;
                let mut counted = 0;
                let result = prune_before(&*self.store, before, |total| {
                    counter.fetch_add(total - counted, Ordering::Relaxed);
                    counted = total;
                })
                .await;
                match result {
                    Ok(0) => tracing::debug!(%before, "no events to prune"),
                    Ok(deleted) => tracing::info!(deleted, %before, "pruned old request events"),
                    Err(error) => {
                        tracing::warn!(%error, "pruning old events failed; trying again later")
                    }
                }
                tokio::time::sleep(Self::INTERVAL).await;
            }
        };
        tokio::select! {
            () = rounds => {}
            () = stop => {}
        }
    }
}
