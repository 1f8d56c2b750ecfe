use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bulwark_core::KeyHash;
use bulwark_store::{Store, StoreError, StoredKey};
use moka::{
    ops::compute::{CompResult, Op},
    sync::Cache,
};
use subtle::ConstantTimeEq;

use crate::{KeyHasher, MAX_PRESENTED_KEY_LEN};

/// The gateway's view of API keys.
///
/// Lookups hit memory; a miss reads the store once and remembers the answer, including
/// "no such key" for a short while. [`KeyCache::follow`] polls the store's change feed
/// (keys whose `version` grew) and applies every change, whichever process made it, so a
/// suspension reaches all requests within one poll interval.
///
/// Entries are keyed by the keyed hash of the secret. Looking up by that hash leaks
/// nothing through timing: an attacker cannot choose hash prefixes without the pepper.
/// The final comparison is constant-time regardless.
#[derive(Debug)]
pub struct KeyCache {
    hasher: KeyHasher,
    store: Arc<dyn Store>,
    known: Cache<KeyHash, Arc<StoredKey>>,
    unknown: Cache<KeyHash, ()>,
    /// The highest key version applied from the change feed.
    watermark: AtomicU64,
    /// Bumped on every applied change; a miss that raced with a change does not cache
    /// "unknown".
    generation: AtomicU64,
    misses: AtomicU64,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub misses: u64,
    pub watermark: u64,
}

const MAX_KNOWN: u64 = 1_000_000;
const MAX_UNKNOWN: u64 = 100_000;
const UNKNOWN_TTL: Duration = Duration::from_secs(30);
const FEED_PAGE: usize = 1000;

impl KeyCache {
    /// A cache over `store`, starting from the store's current key version.
    pub async fn new(store: Arc<dyn Store>, hasher: KeyHasher) -> Result<Self, StoreError> {
        let watermark = store.key_version().await?;
        Ok(Self {
            hasher,
            store,
            known: Cache::builder().max_capacity(MAX_KNOWN).build(),
            unknown: Cache::builder()
                .max_capacity(MAX_UNKNOWN)
                .time_to_live(UNKNOWN_TTL)
                .build(),
            watermark: AtomicU64::new(watermark),
            generation: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The key whose secret is `presented`, whatever its status; `None` if there is none.
    pub async fn lookup(&self, presented: &str) -> Result<Option<Arc<StoredKey>>, StoreError> {
        if presented.is_empty() || presented.len() > MAX_PRESENTED_KEY_LEN {
            return Ok(None);
        }
        let hash = self.hasher.hash(presented);
        if let Some(entry) = self.known.get(&hash) {
            return Ok(verified(&entry, &hash));
        }
        if self.unknown.contains_key(&hash) {
            return Ok(None);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::Acquire);
        match self.store.key_by_hash(&hash).await? {
            Some(stored) => {
                let stored = self.insert_if_newer(stored);
                Ok(verified(&stored, &hash))
            }
            None => {
                if self.generation.load(Ordering::Acquire) == generation {
                    self.unknown.insert(hash, ());
                }
                Ok(None)
            }
        }
    }

    /// Applies one changed key right away (the admin API calls this after a change so
    /// its own process does not wait for the next poll).
    pub fn apply(&self, stored: StoredKey) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.unknown.invalidate(&stored.hash);
        self.insert_if_newer(stored);
    }

    /// Reads the change feed once and applies every change; returns how many.
    pub async fn refresh(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            let since = self.watermark.load(Ordering::Acquire);
            let changes = self.store.keys_changed_since(since, FEED_PAGE).await?;
            let page = changes.len();
            for stored in changes {
                let version = stored.record.version;
                self.apply(stored);
                self.watermark.fetch_max(version, Ordering::AcqRel);
                applied += 1;
            }
            if page < FEED_PAGE {
                return Ok(applied);
            }
        }
    }

    /// Polls the change feed every `interval` until `shutdown` resolves. A failing poll is
    /// logged and retried; it never stops request handling, which keeps serving the last
    /// known state.
    pub async fn follow(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {
                    if let Err(error) = self.refresh().await {
                        tracing::warn!(%error, "key change feed poll failed; serving cached key state");
                    }
                }
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.known.entry_count(),
            misses: self.misses.load(Ordering::Relaxed),
            watermark: self.watermark.load(Ordering::Relaxed),
        }
    }

    /// Inserts `stored` unless the cache already holds a newer version of the key (a slow
    /// lookup must not overwrite a change the feed applied meanwhile). Returns the entry
    /// that is cached afterwards.
    fn insert_if_newer(&self, stored: StoredKey) -> Arc<StoredKey> {
        let hash = stored.hash;
        let fresh = Arc::new(stored);
        let result = self
            .known
            .entry(hash)
            .and_compute_with(|existing| match existing {
                Some(entry) if entry.value().record.version >= fresh.record.version => Op::Nop,
                _ => Op::Put(Arc::clone(&fresh)),
            });
        match result {
            CompResult::Unchanged(entry)
            | CompResult::Inserted(entry)
            | CompResult::ReplacedWith(entry) => entry.into_value(),
            _ => fresh,
        }
    }
}

fn verified(entry: &Arc<StoredKey>, presented_hash: &KeyHash) -> Option<Arc<StoredKey>> {
    bool::from(entry.hash.0.ct_eq(&presented_hash.0)).then(|| Arc::clone(entry))
}
