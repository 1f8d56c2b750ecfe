//! The per-subject state: rolling counts over three horizons, distinct-count sketches,
//! the infrastructure a subject has recently used, an hour-of-week activity profile and
//! inter-arrival statistics. Fixed size, no heap: [`SubjectState`] is the whole of it.
//!
//! Horizons are tumbling buckets (the current minute / hour / day and the one before);
//! "the last hour" is estimated as the current hour plus the unexpired share of the
//! previous one (the sliding-window estimate). Counters saturate instead of wrapping.

use super::{
    features::{DAY_MS, Features, HOUR_MS, MINUTE_MS, hour_of_week},
    sketch::{Hll32, RecentSet},
};
use bulwark_core::Category;

/// Counts of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u32,
    pub errors: u32,
    pub blocked: u32,
    pub flagged: u32,
    pub tokens: u64,
    pub spend_micros: u64,
}

impl Counts {
    fn add(&mut self, f: &Features) {
        self.requests = self.requests.saturating_add(1);
        self.errors = self.errors.saturating_add(u32::from(f.error));
        self.blocked = self.blocked.saturating_add(u32::from(f.blocked));
        self.flagged = self
            .flagged
            .saturating_add(u32::from(f.flagged || f.blocked));
        self.tokens = self.tokens.saturating_add(f.tokens);
        self.spend_micros = self.spend_micros.saturating_add(f.spend_micros);
    }
}

/// A bucket that closed when time moved on, and how many empty buckets followed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub counts: Counts,
    pub index: u32,
    pub empty_after: u32,
}

/// The current and previous bucket of one horizon (`repr(C)`: the index and the current
/// bucket, touched by every event, first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Rolling {
    /// Bucket index since the epoch (minutes, hours or days).
    pub index: u32,
    pub current: Counts,
    pub previous: Counts,
}

impl Rolling {
    /// Moves to bucket `index`; returns the bucket that closed, if any. An index before
    /// the current one (a late event) stays in the current bucket.
    fn advance(&mut self, index: u32) -> Option<Closed> {
        if index <= self.index {
            return None;
        }
        let closed = Closed {
            counts: self.current,
            index: self.index,
            empty_after: index - self.index - 1,
        };
        self.previous = if index == self.index + 1 {
            self.current
        } else {
            Counts::default()
        };
        self.current = Counts::default();
        self.index = index;
        Some(closed)
    }

    /// The sliding-window estimate of a count over the last full bucket: the current
    /// bucket plus the unexpired share of the previous one.
    pub fn sliding(&self, elapsed_share: f64, count: impl Fn(&Counts) -> u64) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let (current, previous) = (count(&self.current) as f64, count(&self.previous) as f64);
        current + previous * (1.0 - elapsed_share.clamp(0.0, 1.0))
    }
}

/// Flagged and blocked requests per category over one horizon (current bucket), and
/// flagged ones in the previous bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoryCounts {
    pub flagged: [u16; Category::COUNT],
    pub blocked: [u16; Category::COUNT],
    pub previous_flagged: [u16; Category::COUNT],
}

impl CategoryCounts {
    fn roll(&mut self, closed: Option<Closed>) {
        if let Some(closed) = closed {
            self.previous_flagged = if closed.empty_after == 0 {
                self.flagged
            } else {
                [0; Category::COUNT]
            };
            self.flagged = [0; Category::COUNT];
            self.blocked = [0; Category::COUNT];
        }
    }

    fn add(&mut self, f: &Features) {
        if f.flagged_categories | f.blocked_categories == 0 {
            return;
        }
        for (i, (flagged, blocked)) in self.flagged.iter_mut().zip(&mut self.blocked).enumerate() {
            let bit = 1_u8 << i;
            if f.flagged_categories & bit != 0 {
                *flagged = flagged.saturating_add(1);
            }
            if f.blocked_categories & bit != 0 {
                *blocked = blocked.saturating_add(1);
            }
        }
    }
}

/// Requests per hour of the week, as a log-scale average over past weeks: one byte per
/// hour, `round(8·log2(1 + requests))` (a step is 9%; 255 is 2^32 requests an hour).
/// Each hour moves halfway to what the latest week saw, so a week's habits are learnt in
/// a few weeks and forgotten as fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile(pub [u8; 168]);

impl Default for Profile {
    fn default() -> Self {
        Self([0; 168])
    }
}

impl Profile {
    fn quantise(requests: f64) -> u8 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 0..=255"
        )]
        let q = (8.0 * (1.0 + requests.max(0.0)).log2())
            .round()
            .clamp(0.0, 255.0) as u8;
        q
    }

    fn rate(q: u8) -> f64 {
        (f64::from(q) / 8.0).exp2() - 1.0
    }

    /// Folds one closed hour (`index` since the epoch, `requests` in it) into its slot.
    fn learn(&mut self, index: u32, requests: u32) {
        if let Some(slot) = self.0.get_mut(hour_of_week(index)) {
            let target = Self::quantise(f64::from(requests));
            // Halfway, rounded towards the target so that a slot always reaches it.
            let sum = u16::from(*slot) + u16::from(target);
            let half = if target > *slot {
                sum.div_ceil(2)
            } else {
                sum / 2
            };
            *slot = u8::try_from(half).unwrap_or(u8::MAX);
        }
    }

    /// Typical requests in this hour of the week.
    pub fn requests_at(&self, hour_of_week: usize) -> f64 {
        self.0.get(hour_of_week).copied().map_or(0.0, Self::rate)
    }

    /// Typical requests per hour over the whole week.
    pub fn mean(&self) -> f64 {
        self.0.iter().map(|q| Self::rate(*q)).sum::<f64>() / 168.0
    }
}

/// The subject's state. Size: `size_of::<SubjectState>()` (see
/// [`SubjectState::BYTES`]), fixed. `repr(C)`: the detectors' memories (read when a
/// minute closes, which for most subjects is most events) and then the hot part of the
/// statistics, so that what an event touches is one run of adjacent cache lines right
/// after the table's slot header, and the cold part of the statistics comes last.
#[derive(Debug, Clone, PartialEq)]
#[repr(C)]
pub struct SubjectState {
    pub memory: super::detectors::Memory,
    pub stats: SubjectStats,
}

/// What every detector may read about a subject.
///
/// Laid out `repr(C)`, hot part first: the fields every event reads or writes (latest
/// time, counts of the current buckets, inter-arrival statistics, recent infrastructure,
/// sketches, the minute's first event: the first ~430 bytes, seven adjacent cache lines)
/// and then the cold part, touched only when a bucket closes or a request is flagged
/// (category counts, the hour-of-week profile).
#[derive(Debug, Clone, PartialEq)]
#[repr(C)]
pub struct SubjectStats {
    /// Event time of the latest and of the first request, ms since the epoch.
    pub last_ms: i64,
    pub first_ms: i64,
    pub minute: Rolling,
    pub hour: Rolling,
    pub day: Rolling,
    /// Requests ever seen (saturating).
    pub requests: u32,
    /// Exponentially weighted mean and variance of ln(seconds between requests).
    pub gap_log_mean: f32,
    pub gap_log_var: f32,
    /// The last few ASNs, countries and networks (fingerprints) the subject used.
    pub recent_asns: RecentSet<4>,
    pub recent_countries: RecentSet<4>,
    pub recent_networks: RecentSet<4>,
    /// Distinct client IPs, networks (/24 and /48), ASNs, countries, user agents, models.
    pub ips: Hll32,
    pub networks: Hll32,
    pub asns: Hll32,
    pub countries: Hll32,
    pub user_agents: Hll32,
    pub models: Hll32,
    /// The first event of the current minute and the first flagged event of the current
    /// hour (ULID bits; 0 = none), for the evidence of alerts.
    pub minute_first_event: [u8; 16],
    pub hour_first_flag: [u8; 16],
    pub hour_categories: CategoryCounts,
    pub day_categories: CategoryCounts,
    pub profile: Profile,
}

/// What one event changed that detectors may care about.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Update {
    /// The minute / hour that closed because of this event.
    pub minute: Option<Closed>,
    pub hour: Option<Closed>,
    /// First sighting of this ASN / country / network for a subject that had some.
    pub new_asn: bool,
    pub new_country: bool,
    pub new_network: bool,
    /// Seconds since the subject's previous request (None for its first).
    pub gap_s: Option<f64>,
}

impl SubjectStats {
    fn new(f: &Features) -> Self {
        Self {
            first_ms: f.time_ms,
            last_ms: f.time_ms,
            requests: 0,
            minute: Rolling {
                index: f.bucket(MINUTE_MS),
                ..Rolling::default()
            },
            hour: Rolling {
                index: f.bucket(HOUR_MS),
                ..Rolling::default()
            },
            day: Rolling {
                index: f.bucket(DAY_MS),
                ..Rolling::default()
            },
            hour_categories: CategoryCounts::default(),
            day_categories: CategoryCounts::default(),
            ips: Hll32::default(),
            networks: Hll32::default(),
            asns: Hll32::default(),
            countries: Hll32::default(),
            user_agents: Hll32::default(),
            models: Hll32::default(),
            recent_asns: RecentSet::default(),
            recent_countries: RecentSet::default(),
            recent_networks: RecentSet::default(),
            profile: Profile::default(),
            gap_log_mean: 0.0,
            gap_log_var: 0.0,
            minute_first_event: [0; 16],
            hour_first_flag: [0; 16],
        }
    }

    /// Share of the current minute / hour that has elapsed at the latest event.
    pub fn hour_elapsed(&self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "within an hour")]
        let share = (self.last_ms.max(0) % HOUR_MS) as f64 / HOUR_MS as f64;
        share
    }

    /// Folds one request in.
    fn record(&mut self, f: &Features, event_bits: Option<u128>) -> Update {
        let mut update = Update::default();
        if self.requests > 0 {
            #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
            let gap = (f.time_ms - self.last_ms).max(0) as f64 / 1000.0;
            update.gap_s = Some(gap);
            let lg = gap.max(0.001).ln();
            // α = 1/32: about the last 32 gaps.
            let alpha = if self.requests < 32 {
                1.0 / f64::from(self.requests)
            } else {
                1.0 / 32.0
            };
            let mean = f64::from(self.gap_log_mean);
            let delta = lg - mean;
            #[allow(
                clippy::cast_possible_truncation,
                reason = "f32 is enough for statistics"
            )]
            {
                self.gap_log_mean = (mean + alpha * delta) as f32;
                self.gap_log_var =
                    ((1.0 - alpha) * (f64::from(self.gap_log_var) + alpha * delta * delta)) as f32;
            }
        }
        self.last_ms = self.last_ms.max(f.time_ms);
        self.requests = self.requests.saturating_add(1);

        update.minute = self.minute.advance(f.bucket(MINUTE_MS));
        if update.minute.is_some() || self.minute_first_event == [0; 16] {
            self.minute_first_event = event_bits.unwrap_or(0).to_be_bytes();
        }
        update.hour = self.hour.advance(f.bucket(HOUR_MS));
        self.hour_categories.roll(update.hour);
        if update.hour.is_some() {
            self.hour_first_flag = [0; 16];
        }
        if let Some(closed) = update.hour {
            self.profile.learn(closed.index, closed.counts.requests);
            // Hours without requests pull their slots towards zero (a week at most).
            for skipped in 1..=closed.empty_after.min(168) {
                self.profile.learn(closed.index.saturating_add(skipped), 0);
            }
        }
        let day = self.day.advance(f.bucket(DAY_MS));
        self.day_categories.roll(day);

        self.minute.current.add(f);
        self.hour.current.add(f);
        self.day.current.add(f);
        self.hour_categories.add(f);
        self.day_categories.add(f);
        if (f.flagged || f.blocked) && self.hour_first_flag == [0; 16] {
            self.hour_first_flag = event_bits.unwrap_or(0).to_be_bytes();
        }

        for (sketch, hash) in [
            (&mut self.ips, f.ip_hash),
            (&mut self.networks, f.prefix_hash),
            (&mut self.user_agents, f.user_agent_hash),
            (&mut self.models, f.model_hash),
        ] {
            if let Some(hash) = hash {
                sketch.add(hash);
            }
        }
        if let Some(asn) = f.asn {
            self.asns.add(super::sketch::hash_u64(
                super::features::seed::ASN,
                u64::from(asn),
            ));
            let had = !self.recent_asns.is_empty();
            update.new_asn = self.recent_asns.insert(asn) && had;
        }
        if let Some(country) = f.country {
            self.countries.add(super::sketch::hash_u64(
                super::features::seed::COUNTRY,
                u64::from(country),
            ));
            let had = !self.recent_countries.is_empty();
            update.new_country = self.recent_countries.insert(country) && had;
        }
        if let Some(prefix) = f.prefix_hash {
            let had = !self.recent_networks.is_empty();
            #[allow(clippy::cast_possible_truncation, reason = "a 32-bit fingerprint")]
            let fingerprint = (prefix >> 32) as u32;
            update.new_network = self.recent_networks.insert(fingerprint) && had;
        }
        update
    }
}

impl SubjectState {
    /// Bytes of one subject's state.
    pub const BYTES: usize = std::mem::size_of::<Self>();

    /// A subject first seen with `f`.
    pub fn new(f: &Features) -> Self {
        Self {
            stats: SubjectStats::new(f),
            memory: super::detectors::Memory::default(),
        }
    }

    /// Folds one request into the statistics (the detectors' memories are theirs).
    pub fn record(&mut self, f: &Features, event_bits: Option<u128>) -> Update {
        self.stats.record(f, event_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_buckets_close_and_skip() {
        let mut r = Rolling {
            index: 10,
            ..Rolling::default()
        };
        r.current.requests = 5;
        assert_eq!(r.advance(9), None, "late events stay in the current bucket");
        let closed = r.advance(11).unwrap();
        assert_eq!(
            (closed.counts.requests, closed.index, closed.empty_after),
            (5, 10, 0)
        );
        assert_eq!(r.previous.requests, 5);
        r.current.requests = 2;
        let closed = r.advance(20).unwrap();
        assert_eq!((closed.counts.requests, closed.empty_after), (2, 8));
        assert_eq!(r.previous.requests, 0, "the bucket before 20 was empty");
        r.current.requests = 4;
        r.previous.requests = 10;
        assert!((r.sliding(0.25, |c| u64::from(c.requests)) - 11.5).abs() < 1e-9);
    }

    #[test]
    fn profile_learns_the_week() {
        let mut p = Profile::default();
        let monday_9 = 4 * 24 + 9;
        for week in 0..6 {
            p.learn(monday_9 + week * 168, 600);
        }
        let at = p.requests_at(9);
        assert!((500.0..700.0).contains(&at), "{at}");
        assert_eq!(p.requests_at(10), 0.0);
        assert!(p.mean() > 0.0 && p.mean() < at);
    }
}
