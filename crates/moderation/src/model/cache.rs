//! A per-thread cache of each token's own evidence: the summed weights of its unigram and
//! byte n-grams, which depend on the token's bytes alone. Natural text repeats a few
//! thousand words most of the time, and a cached token costs one probe instead of a
//! dozen or more scattered reads of the weight table.
//!
//! The cache changes no result: a slot holds the exact integer sums the model would
//! compute, keyed by the model's identity and the token's full bytes (never by a hash
//! alone), so a hit and a miss add the same numbers.

use std::{
    cell::RefCell,
    sync::atomic::{AtomicU64, Ordering},
};

use bulwark_core::Category;

/// Slots per thread (a power of two), in sets of two. 2,048 × 80 bytes = 160 KiB per thread
/// that scans.
const SLOTS: usize = 2048;

/// Tokens longer than this are not cached (the default model keeps 24 bytes of a token).
pub(crate) const CACHED_TOKEN_BYTES: usize = 24;

/// A cached token's bytes, zero-padded, as little-endian words: compared in three
/// steps, without a call to `memcmp`.
pub(crate) type Key = [u64; CACHED_TOKEN_BYTES / 8];

/// The key of `token` (at most [`CACHED_TOKEN_BYTES`] bytes are read): `bytes` holds the
/// token's first bytes, followed by anything; only the first `len` count.
#[inline]
pub(crate) fn key(bytes: &[u8; CACHED_TOKEN_BYTES], len: usize) -> Key {
    let [m0, m1, m2] = KEY_MASKS
        .get(len.min(CACHED_TOKEN_BYTES))
        .copied()
        .unwrap_or_default();
    let word = |i: usize| {
        bytes
            .get(8 * i..8 * i + 8)
            .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
            .map_or(0, u64::from_le_bytes)
    };
    [word(0) & m0, word(1) & m1, word(2) & m2]
}

/// Per token length, the masks that keep a key's words to the token's bytes.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const KEY_MASKS: [Key; CACHED_TOKEN_BYTES + 1] = {
    let mut masks = [[0u64; CACHED_TOKEN_BYTES / 8]; CACHED_TOKEN_BYTES + 1];
    let mut len = 0;
    while len <= CACHED_TOKEN_BYTES {
        let mut i = 0;
        while i < CACHED_TOKEN_BYTES / 8 {
            let valid = len.saturating_sub(8 * i);
            masks[len][i] = if valid >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * valid)) - 1
            };
            i += 1;
        }
        len += 1;
    }
    masks
};

/// A token's own evidence: integer weight sums per category and the feature count.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Own {
    pub(crate) sums: [i32; Category::COUNT],
    pub(crate) features: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The model the sums belong to; `0` for an empty slot (no model has id 0).
    model: u64,
    len: u8,
    token: Key,
    /// The token's unigram hash under the model (its seed): kept so that a cached token
    /// is not hashed again.
    unigram: u64,
    own: Own,
}

/// One thread's cache.
#[derive(Debug)]
pub(crate) struct TokenCache {
    slots: Box<[Slot]>,
}

thread_local! {
    static CACHE: RefCell<Option<TokenCache>> = const { RefCell::new(None) };
}

/// A fresh, process-unique model identity (never 0).
pub(crate) fn next_model_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl TokenCache {
    /// Runs `f` with this thread's cache, or with `None` when it is in use further up
    /// the stack (never the case today; the scan is then merely uncached).
    pub(crate) fn with<R>(f: impl FnOnce(Option<&mut TokenCache>) -> R) -> R {
        CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let cache = slot.get_or_insert_with(|| TokenCache {
                    slots: vec![Slot::default(); SLOTS].into_boxed_slice(),
                });
                f(Some(cache))
            }
            Err(_) => f(None),
        })
    }

    /// The set of two slots a token's evidence under `model` lives in, if it can be
    /// cached. The model takes part in the set: two models with the same seed (the
    /// built-in n-gram model and the output side's phishing detector) read the same
    /// tokens, and would otherwise compete for the same slots.
    #[inline]
    fn set(&self, model: u64, token: &Key, len: usize) -> Option<usize> {
        if len > CACHED_TOKEN_BYTES || len == 0 {
            return None;
        }
        let [a, b, c] = *token;
        let h =
            (a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ model.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Some(((h >> 40) as usize & (SLOTS - 1)) & !1)
    }

    /// The unigram hash and evidence of the token of `len` bytes whose [`key`] is
    /// `token`, under `model`, if cached.
    #[inline]
    pub(crate) fn get(&self, model: u64, token: &Key, len: usize) -> Option<(u64, Own)> {
        let set = self.set(model, token, len)?;
        let pair = self.slots.get(set..set + 2)?;
        pair.iter()
            .find(|slot| {
                slot.model == model && usize::from(slot.len) == len && slot.token == *token
            })
            .map(|slot| (slot.unigram, slot.own))
    }

    /// Caches a token's unigram hash and evidence under `model` (the newer of its set's
    /// two slots; the older one goes).
    #[inline]
    pub(crate) fn insert(&mut self, model: u64, token: Key, len: usize, unigram: u64, own: Own) {
        let Some(set) = self.set(model, &token, len) else {
            return;
        };
        let Some([newer, older]) = self.slots.get_mut(set..set + 2) else {
            return;
        };
        *older = *newer;
        *newer = Slot {
            model,
            len: len as u8,
            token,
            unigram,
            own,
        };
    }
}
