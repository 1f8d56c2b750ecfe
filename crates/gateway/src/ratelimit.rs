//! Per-key rate limits: requests per minute and tokens per minute, as continuously
//! refilling buckets, with OpenAI's `x-ratelimit-*` headers.
//!
//! Token use is only known after the response, so a request reserves an estimate
//! (prompt characters / 4 plus its `max_tokens`) and the difference is settled when the
//! usage arrives; a key that used more than it reserved goes into debt and waits longer.
//! This limiter is per gateway process; cluster-wide limits (Redis) will implement the
//! same operations.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bulwark_core::{KeyId, KeyRecord};
use http::{HeaderMap, HeaderName, HeaderValue};
use moka::sync::Cache;
use parking_lot::Mutex;

use crate::error::{LimitKind, Rejection, format_wait};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    capacity: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from(per_minute);
        Self {
            capacity,
            level: capacity,
            updated: now,
        }
    }

    fn rate_per_sec(&self) -> f64 {
        self.capacity / 60.0
    }

    fn refill(&mut self, per_minute: u32, now: Instant) {
        let capacity = f64::from(per_minute);
        if (capacity - self.capacity).abs() > f64::EPSILON {
            // The key's limit changed: keep the used share, rescale to the new limit.
            self.level = self.level / self.capacity.max(1.0) * capacity;
            self.capacity = capacity;
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.rate_per_sec()).min(self.capacity);
        self.updated = now;
    }

    /// Time until `amount` is available.
    fn wait_for(&self, amount: f64) -> Duration {
        let missing = amount - self.level;
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(missing / self.rate_per_sec())
    }

    /// Time until the bucket is full again.
    fn reset(&self) -> Duration {
        self.wait_for(self.capacity)
    }

    fn remaining(&self) -> u64 {
        self.level.max(0.0).floor() as u64
    }
}

#[derive(Debug, Default)]
struct KeyBuckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

/// A key's limit state after a check, for the response headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LimitState {
    requests: Option<(u32, u64, Duration)>,
    tokens: Option<(u32, u64, Duration)>,
}

impl LimitState {
    /// Writes `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
    ///
    /// Every answer to a limited key carries these six headers: their names are built
    /// once, not formatted and copied into new buffers on every answer.
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        for (names, state) in [
            (&REQUEST_HEADERS, self.requests),
            (&TOKEN_HEADERS, self.tokens),
        ] {
            if let Some((limit, remaining, reset)) = state {
                let [limit_name, remaining_name, reset_name] = names;
                headers.insert(limit_name.clone(), HeaderValue::from(limit));
                headers.insert(remaining_name.clone(), HeaderValue::from(remaining));
                if let Ok(value) = HeaderValue::try_from(format_wait(reset)) {
                    headers.insert(reset_name.clone(), value);
                }
            }
        }
    }
}

/// The names of the `limit`, `remaining` and `reset` headers of one kind of limit.
type LimitHeaders = [HeaderName; 3];

static REQUEST_HEADERS: LimitHeaders = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
];

static TOKEN_HEADERS: LimitHeaders = [
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// Per-key limits for this process.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    keys: Cache<KeyId, Arc<Mutex<KeyBuckets>>>,
}

/// Keys idle this long lose their state (they start again with full buckets, which is
/// what a refill over that time would give them anyway).
const IDLE: Duration = Duration::from_secs(120);

impl RateLimiter {
    pub(crate) fn new() -> Self {
        Self {
            keys: Cache::builder()
                .time_to_idle(IDLE)
                .max_capacity(10_000_000)
                .build(),
        }
    }

    /// `key`'s buckets, looked up once for a whole request (a lookup hashes the key id and
    /// records the access in the cache's bookkeeping); nothing for a key without limits.
    pub(crate) fn for_key(&self, key: &KeyRecord) -> KeyLimits {
        if key.rpm.is_none() && key.tpm.is_none() {
            return KeyLimits(None);
        }
        KeyLimits(Some(self.keys.get_with_by_ref(&key.id, Arc::default)))
    }
}

/// One key's buckets as a request holds them, from [`RateLimiter::for_key`]. Every
/// operation takes the key's record, whose `rpm` and `tpm` are the limits in force.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyLimits(Option<Arc<Mutex<KeyBuckets>>>);

impl KeyLimits {
    /// Takes one request from the key's request budget.
    pub(crate) fn check_request(&self, key: &KeyRecord) -> Result<LimitState, Rejection> {
        let (Some(rpm), Some(buckets)) = (key.rpm, &self.0) else {
            return Ok(self.state(key));
        };
        let now = Instant::now();
        let mut b = buckets.lock();
        let bucket = b.requests.get_or_insert_with(|| Bucket::new(rpm, now));
        bucket.refill(rpm, now);
        if bucket.level < 1.0 {
            return Err(Rejection::RateLimited {
                key: key.id.to_string(),
                kind: LimitKind::Requests,
                limit: u64::from(rpm),
                requested: 1,
                retry_after: bucket.wait_for(1.0),
            });
        }
        bucket.level -= 1.0;
        Ok(snapshot(&b, key, now))
    }

    /// Reserves `estimate` tokens. A request larger than the whole per-minute budget can
    /// never pass and is refused outright.
    pub(crate) fn reserve_tokens(
        &self,
        key: &KeyRecord,
        estimate: u64,
    ) -> Result<LimitState, Rejection> {
        let (Some(tpm), Some(buckets)) = (key.tpm, &self.0) else {
            return Ok(self.state(key));
        };
        let now = Instant::now();
        let mut b = buckets.lock();
        let bucket = b.tokens.get_or_insert_with(|| Bucket::new(tpm, now));
        bucket.refill(tpm, now);
        let amount = estimate as f64;
        if amount > bucket.level {
            let retry_after = if amount > bucket.capacity {
                Duration::from_secs(60)
            } else {
                bucket.wait_for(amount)
            };
            return Err(Rejection::RateLimited {
                key: key.id.to_string(),
                kind: LimitKind::Tokens,
                limit: u64::from(tpm),
                requested: estimate,
                retry_after,
            });
        }
        bucket.level -= amount;
        Ok(snapshot(&b, key, now))
    }

    /// Settles a reservation once real usage is known: refunds or charges the difference.
    pub(crate) fn settle_tokens(&self, key: &KeyRecord, reserved: u64, actual: u64) {
        let Some(buckets) = &self.0 else { return };
        if key.tpm.is_none() || reserved == actual {
            return;
        }
        let mut b = buckets.lock();
        if let Some(bucket) = &mut b.tokens {
            bucket.level = (bucket.level + reserved as f64 - actual as f64).min(bucket.capacity);
        }
    }

    /// The key's current state without taking anything.
    pub(crate) fn state(&self, key: &KeyRecord) -> LimitState {
        let Some(buckets) = &self.0 else {
            return LimitState::default();
        };
        snapshot(&buckets.lock(), key, Instant::now())
    }
}

fn snapshot(b: &KeyBuckets, key: &KeyRecord, now: Instant) -> LimitState {
    let view = |limit: Option<u32>, bucket: Option<Bucket>| {
        limit.map(|limit| match bucket {
            Some(mut bucket) => {
                bucket.refill(limit, now);
                (limit, bucket.remaining(), bucket.reset())
            }
            None => (limit, u64::from(limit), Duration::ZERO),
        })
    };
    LimitState {
        requests: view(key.rpm, b.requests),
        tokens: view(key.tpm, b.tokens),
    }
}

/// Tokens a request is expected to use before its usage is known.
pub(crate) fn estimate_tokens(input_chars: usize, max_output: Option<u64>) -> u64 {
    (input_chars as u64).div_ceil(4) + max_output.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{AccountId, KeyStatus, TenantId, Timestamp};

    fn key(rpm: Option<u32>, tpm: Option<u32>) -> KeyRecord {
        KeyRecord {
            id: KeyId::generate(),
            tenant: TenantId::generate(),
            account: AccountId::generate(),
            name: None,
            prefix: "bw-live-xxxx".into(),
            models: vec![],
            rpm,
            tpm,
            status: KeyStatus::Active,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            version: 1,
        }
    }

    #[test]
    fn requests_run_out_and_report_a_wait() {
        let limiter = RateLimiter::new();
        let k = key(Some(2), None);
        assert!(limiter.for_key(&k).check_request(&k).is_ok());
        // A second request looks the key up again and finds the same buckets.
        let state = limiter.for_key(&k).check_request(&k).unwrap();
        let mut headers = HeaderMap::new();
        state.write_headers(&mut headers);
        assert_eq!(headers["x-ratelimit-limit-requests"], "2");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
        match limiter.for_key(&k).check_request(&k) {
            Err(Rejection::RateLimited {
                retry_after,
                kind: LimitKind::Requests,
                ..
            }) => {
                assert!(
                    retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[test]
    fn tokens_are_reserved_and_settled() {
        let limiter = RateLimiter::new();
        let k = key(None, Some(100));
        let first = limiter.for_key(&k);
        first.reserve_tokens(&k, 80).unwrap();
        assert!(limiter.for_key(&k).reserve_tokens(&k, 30).is_err());
        first.settle_tokens(&k, 80, 10);
        assert!(
            limiter.for_key(&k).reserve_tokens(&k, 30).is_ok(),
            "refund makes room"
        );
        match limiter.for_key(&k).reserve_tokens(&k, 1000) {
            Err(Rejection::RateLimited { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_secs(60))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unlimited_keys_have_no_headers() {
        let limiter = RateLimiter::new();
        let mut headers = HeaderMap::new();
        let k = key(None, None);
        let limits = limiter.for_key(&k);
        limits
            .check_request(&k)
            .unwrap()
            .write_headers(&mut headers);
        limits.reserve_tokens(&k, 1_000_000).unwrap();
        assert!(headers.is_empty());
        assert_eq!(
            limiter.keys.entry_count(),
            0,
            "no state kept for unlimited keys"
        );
    }

    #[test]
    fn estimate() {
        assert_eq!(estimate_tokens(9, Some(10)), 13);
        assert_eq!(estimate_tokens(0, None), 0);
    }
}
