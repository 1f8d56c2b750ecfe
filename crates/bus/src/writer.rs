use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bulwark_core::Event;
use bulwark_store::Store;

use crate::Subscription;

/// Counters of a [`StoreWriter`], shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Events written (new rows; duplicates by id are not counted).
    pub written: AtomicU64,
    /// Batches that failed and were retried.
    pub retries: AtomicU64,
    /// Events given up on after the retries (counted, logged, never silently lost).
    pub failed: AtomicU64,
}

/// Drains a subscription into the store in batches, off the request path.
#[derive(Debug)]
pub struct StoreWriter {
    store: Arc<dyn Store>,
    batch_size: usize,
    flush_interval: Duration,
    stats: Arc<WriterStats>,
}

const MAX_ATTEMPTS: u32 = 5;

impl StoreWriter {
    pub fn new(store: Arc<dyn Store>, batch_size: usize, flush_interval: Duration) -> Self {
        Self {
            store,
            batch_size: batch_size.max(1),
            flush_interval,
            stats: Arc::default(),
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until the subscription ends (the bus was closed). The first event of a batch
    /// starts the clock; the writer then sleeps for `flush_interval` rather than waking
    /// for every event (a wake-up per event costs more than the write), and writes what
    /// has queued in chunks of `batch_size`. Everything still queued when the bus closes
    /// is written before returning, so awaiting this on shutdown flushes.
    pub async fn run(self, mut sub: Subscription) {
        let mut batch: Vec<Arc<Event>> = Vec::with_capacity(self.batch_size);
        while let Some(first) = sub.recv().await {
            batch.push(first);
            tokio::time::sleep(self.flush_interval).await;
            loop {
                let room = self.batch_size.saturating_sub(batch.len());
                sub.drain_into(&mut batch, room);
                let full = batch.len() >= self.batch_size;
                self.write(&mut batch).await;
                if !full {
                    break;
                }
            }
        }
        self.write(&mut batch).await;
    }

    async fn write(&self, batch: &mut Vec<Arc<Event>>) {
        if !batch.is_empty() {
            self.write_batch(batch).await;
            batch.clear();
        }
    }

    async fn write_batch(&self, events: &[Arc<Event>]) {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=MAX_ATTEMPTS {
            match self.store.append_shared_events(events).await {
                Ok(n) => {
                    self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
                    return;
                }
                Err(error) if attempt < MAX_ATTEMPTS => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, attempt, events = events.len(), "event batch write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) => {
                    self.stats
                        .failed
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    tracing::error!(%error, events = events.len(), "event batch write failed; events lost");
                }
            }
        }
    }
}
