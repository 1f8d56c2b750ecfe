//! The per-subject detectors and the trait they share.
//!
//! A detector sees one subject's statistics after each of its requests ([`View`]) and its
//! own per-subject memory (a field of [`Memory`]), and may answer with a [`Finding`]: a
//! score, a one-line summary and an explanation of numbers a person can check. The engine
//! turns findings into alerts (ids, subject, evidence, deduplication). Abuse-pattern
//! detectors to come (stolen keys, resale, phishing campaigns, fake-account rings) are
//! more implementations of [`SubjectDetector`]; one that needs memory per subject adds a
//! field to [`Memory`] and documents its size.

use std::fmt;

use bulwark_core::{Category, Explanation, Measure, SubjectType};

use super::{
    features::{DAY_MS, Features, country_text, network_of},
    spot::Spot,
    state::{Counts, SubjectStats, Update},
};

/// How many detectors an engine runs at most (the size of the deduplication table).
pub const MAX_DETECTORS: usize = 6;

/// Detector settings shared by the built-in detectors. Defaults in `docs/alerts.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// SPOT's risk `q`: the share of a subject's ordinary active minutes expected to cross
    /// its spike threshold.
    pub risk: f64,
    /// A spike must be at least this many times the expected rate…
    pub spike_min_ratio: f64,
    /// …and at least this many requests in the minute…
    pub spike_min_requests: u32,
    /// …(or tokens in the minute, for `token_spike`)…
    pub spike_min_tokens: u64,
    /// …from a subject with at least this many active minutes of history.
    pub min_active_minutes: u32,
    /// A moderation burst needs this many flagged requests in the last hour…
    pub burst_min_flagged: u32,
    /// …and at least this share of the subject's requests in it.
    pub burst_min_share: f64,
    /// New infrastructure is only news for a subject with this many requests…
    pub infra_min_requests: u32,
    /// …over at least this much event time (ms).
    pub infra_min_age_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            risk: 1e-4,
            spike_min_ratio: 4.0,
            spike_min_requests: 20,
            spike_min_tokens: 20_000,
            min_active_minutes: 30,
            burst_min_flagged: 5,
            burst_min_share: 0.05,
            infra_min_requests: 50,
            infra_min_age_ms: DAY_MS,
        }
    }
}

/// What a detector sees of one subject after one of its requests.
#[derive(Debug)]
pub struct View<'a> {
    pub subject: SubjectType,
    pub stats: &'a SubjectStats,
    pub features: &'a Features,
    pub update: &'a Update,
    pub settings: &'a Settings,
}

/// Events to cite besides the triggering one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The subject's first request of the current minute.
    MinuteStart,
    /// The subject's first flagged request of the current hour.
    FirstFlagThisHour,
}

/// What a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// In [0, 1]; the alert's severity follows from it.
    pub score: f64,
    pub summary: String,
    pub explanation: Explanation,
    pub evidence: Vec<Evidence>,
}

/// A streaming detector over subjects. Deterministic: the same requests in the same order
/// give the same findings. Must not panic and must stay O(1) per call.
pub trait SubjectDetector: fmt::Debug + Send {
    /// The name in alerts (`usage_spike`, …): stable, it is part of the alert schema.
    fn name(&self) -> &'static str;

    /// Learns from the request just folded into `view.stats` and judges it.
    fn observe(&self, view: &View<'_>, memory: &mut Memory) -> Option<Finding>;
}

/// The built-in detectors' memory per subject, and the deduplication table: 232 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct Memory {
    pub requests: RateMemory,
    pub tokens: RateMemory,
    pub burst: BurstMemory,
    /// Per detector (engine order): 1 + the minute of its last alert; 0 = never.
    pub alerted: [u32; MAX_DETECTORS],
}

/// A rate's robust baseline over the subject's active minutes, and its SPOT state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct RateMemory {
    /// Read on every event (first, so that it shares a cache line with the hot part of
    /// the subject's statistics).
    pub active_minutes: u32,
    /// Exponentially weighted mean of the per-minute value over active minutes, and of
    /// its absolute deviation from that mean.
    pub level: f32,
    pub deviation: f32,
    pub spot: Spot,
}

/// The initial SPOT threshold of the log2 ratio to the baseline: twice the baseline.
const SPOT_T: f64 = 1.0;

/// Active minutes that lay a baseline before its ratios feed SPOT.
const BASELINE_MINUTES: u32 = 10;

impl RateMemory {
    fn learn(&mut self, x: f64, weight: f64) {
        let n = f64::from(self.active_minutes.saturating_add(1));
        let alpha = (1.0 / n).max(1.0 / 30.0) * weight;
        let level = f64::from(self.level);
        let deviation = f64::from(self.deviation);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "f32 is enough for a baseline"
        )]
        {
            if self.active_minutes == 0 {
                self.level = x as f32;
                self.deviation = (x / 2.0) as f32;
            } else {
                self.deviation = (deviation + alpha * ((x - level).abs() - deviation)) as f32;
                self.level = (level + alpha * (x - level)) as f32;
            }
        }
        self.active_minutes = self.active_minutes.saturating_add(1);
    }
}

fn log2_ratio(x: f64, expected: f64) -> f64 {
    ((1.0 + x) / (1.0 + expected)).log2()
}

/// The factor the hour-of-week profile puts on a subject's baseline at `f`'s hour, once
/// it has a week of history: this hour's typical requests over the week's average,
/// within [0.5, 8]. 1 before that.
fn season_factor(stats: &SubjectStats, f: &Features) -> f64 {
    if f.time_ms - stats.first_ms < 7 * DAY_MS {
        return 1.0;
    }
    let mean = stats.profile.mean();
    if mean <= 0.0 {
        return 1.0;
    }
    (stats.profile.requests_at(f.hour_of_week()) / mean).clamp(0.5, 8.0)
}

/// Which rate a spike detector watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Requests per minute (`usage_spike`).
    Requests,
    /// Prompt plus completion tokens per minute (`token_spike`).
    Tokens,
}

/// A spike in a subject's per-minute rate: the current minute against the subject's
/// robust baseline (exponentially weighted level and absolute deviation over its active
/// minutes, scaled by its hour-of-week profile), alerting when the log2 ratio crosses
/// the subject's SPOT threshold.
#[derive(Debug, Clone, Copy)]
pub struct RateSpike(pub Rate);

impl RateSpike {
    fn value(&self, c: &Counts) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        match self.0 {
            Rate::Requests => f64::from(c.requests),
            Rate::Tokens => c.tokens as f64,
        }
    }

    fn unit(&self) -> &'static str {
        match self.0 {
            Rate::Requests => "requests",
            Rate::Tokens => "tokens",
        }
    }
}

impl SubjectDetector for RateSpike {
    fn name(&self) -> &'static str {
        match self.0 {
            Rate::Requests => "usage_spike",
            Rate::Tokens => "token_spike",
        }
    }

    fn observe(&self, view: &View<'_>, memory: &mut Memory) -> Option<Finding> {
        let settings = view.settings;
        let stats = view.stats;
        // Computed only when needed: the profile is the cold part of a subject's state.
        let season = || season_factor(stats, view.features);
        let memory = match self.0 {
            Rate::Requests => &mut memory.requests,
            Rate::Tokens => &mut memory.tokens,
        };
        // A minute closed: learn it, unless it was itself beyond the threshold (SPOT
        // keeps alarms out of its peaks; the level still follows them, slowly, so that a
        // lasting change becomes the new normal).
        if let Some(closed) = view.update.minute {
            let x = self.value(&closed.counts);
            if x > 0.0 {
                let expected = f64::from(memory.level) * season();
                let r = log2_ratio(x, expected);
                let mature = memory.active_minutes >= settings.min_active_minutes;
                if mature && r > memory.spot.threshold(SPOT_T, settings.risk) {
                    memory.learn(x, 0.25);
                } else {
                    // The first minutes only lay the baseline: against a level of one or
                    // two observations every ratio is noise, and would poison the tail.
                    if memory.active_minutes >= BASELINE_MINUTES {
                        memory.spot.observe(r, SPOT_T);
                    }
                    memory.learn(x, 1.0);
                }
            }
        }
        if memory.active_minutes < settings.min_active_minutes {
            return None;
        }
        let x = self.value(&stats.minute.current);
        let floor = match self.0 {
            Rate::Requests => f64::from(settings.spike_min_requests),
            #[allow(clippy::cast_precision_loss, reason = "a setting")]
            Rate::Tokens => settings.spike_min_tokens as f64,
        };
        if x < floor {
            return None;
        }
        let season = season();
        let expected = (f64::from(memory.level) * season).max(1.0);
        let z = memory.spot.threshold(SPOT_T, settings.risk);
        let r = log2_ratio(x, expected);
        let ratio = x / expected;
        if r <= z || ratio < settings.spike_min_ratio {
            return None;
        }
        let scale = (1.2533 * f64::from(memory.deviation))
            .max(expected.sqrt())
            .max(1.0);
        let deviation = (x - expected) / scale;
        let needed = ((1.0 + expected) * z.exp2() - 1.0)
            .max(expected * settings.spike_min_ratio)
            .max(floor);
        let mut explanation = Explanation::default();
        let unit = self.unit();
        explanation.push(
            format!("{unit}_per_minute"),
            Measure::new(x, expected, deviation).with_threshold(needed),
        );
        explanation.push("log2_ratio", Measure::new(r, 0.0, r).with_threshold(z));
        explanation.push("season_factor", Measure::new(season, 1.0, season - 1.0));
        if self.0 == Rate::Requests {
            let tokens = stats.minute.current.tokens;
            #[allow(clippy::cast_precision_loss, reason = "token counts")]
            let tokens = tokens as f64;
            let expected_tokens = f64::from(memory_level_tokens(stats, expected));
            explanation.push(
                "tokens_per_minute",
                Measure::new(tokens, expected_tokens, tokens - expected_tokens),
            );
        }
        if stats.hour.current.spend_micros > 0 {
            #[allow(clippy::cast_precision_loss, reason = "micro-dollars")]
            let spend = stats.hour.current.spend_micros as f64 / 1e6;
            #[allow(clippy::cast_precision_loss, reason = "micro-dollars")]
            let usual = stats.day.previous.spend_micros as f64 / 1e6 / 24.0;
            explanation.push(
                "spend_usd_this_hour",
                Measure::new(spend, usual, spend - usual),
            );
        }
        if let Some(gap) = view.update.gap_s {
            let mean = f64::from(stats.gap_log_mean);
            let sd = f64::from(stats.gap_log_var).sqrt().max(0.1);
            explanation.push(
                "inter_arrival_s",
                Measure::new(gap, mean.exp(), (gap.max(0.001).ln() - mean) / sd),
            );
        }
        Some(Finding {
            score: (1.0 - expected / x).clamp(0.0, 1.0),
            summary: format!(
                "{unit}/min {ratio:.0}x the {subject}'s baseline ({x:.0} this minute, {expected:.1} expected, threshold {needed:.0})",
                subject = view.subject
            ),
            explanation,
            evidence: vec![Evidence::MinuteStart],
        })
    }
}

/// Tokens per minute the request baseline implies, for the explanation: tokens per
/// request in the previous day (or the current one) times the expected requests.
fn memory_level_tokens(stats: &SubjectStats, expected_requests: f64) -> f32 {
    let day = if stats.day.previous.requests > 0 {
        &stats.day.previous
    } else {
        &stats.day.current
    };
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let per_request = day.tokens as f64 / f64::from(day.requests.max(1));
    #[allow(clippy::cast_possible_truncation, reason = "an explanation")]
    let tokens = (per_request * expected_requests) as f32;
    tokens
}

/// First requests from an ASN, a country or a network a subject with history has not
/// used recently (key, account and tenant subjects; a network is itself the
/// infrastructure). A subject that already spreads over many networks or ASNs (more
/// than its recent sets hold) is not judged on them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewInfrastructure;

impl SubjectDetector for NewInfrastructure {
    fn name(&self) -> &'static str {
        "new_infrastructure"
    }

    fn observe(&self, view: &View<'_>, _memory: &mut Memory) -> Option<Finding> {
        let (stats, f, u, s) = (view.stats, view.features, view.update, view.settings);
        if view.subject == SubjectType::Network
            || !(u.new_asn || u.new_country || u.new_network)
            || stats.requests < s.infra_min_requests
            || f.time_ms - stats.first_ms < s.infra_min_age_ms
        {
            return None;
        }
        let asn = u.new_asn && stats.asns.estimate() <= 4.5;
        let country = u.new_country && stats.countries.estimate() <= 4.5;
        let network = u.new_network && stats.networks.estimate() <= 3.5;
        if !(asn || country || network) {
            return None;
        }
        let mut explanation = Explanation::default();
        let mut what = Vec::new();
        let mut score: f64 = 0.0;
        let known = |set_len: usize| {
            #[allow(clippy::cast_precision_loss, reason = "a handful")]
            let after = set_len as f64;
            Measure::new(after, after - 1.0, 1.0)
        };
        if asn {
            what.push(format!("ASN {}", f.asn.unwrap_or_default()));
            explanation.push("recent_asns", known(stats.recent_asns.len()));
            score = score.max(0.9);
        }
        if country {
            what.push(format!(
                "country {}",
                country_text(f.country.unwrap_or_default())
            ));
            explanation.push("recent_countries", known(stats.recent_countries.len()));
            score = score.max(0.95);
        }
        if network {
            if let Some(ip) = f.ip {
                what.push(format!("network {}", network_of(ip)));
            }
            explanation.push("recent_networks", known(stats.recent_networks.len()));
            score = score.max(0.8);
        }
        #[allow(clippy::cast_precision_loss, reason = "a handful")]
        let extra = (what.len() - 1) as f64 * 0.03;
        #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
        let days = (f.time_ms - stats.first_ms) as f64 / DAY_MS as f64;
        #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
        let min_days = s.infra_min_age_ms as f64 / DAY_MS as f64;
        explanation.push(
            "history_days",
            Measure::new(days, min_days, days - min_days),
        );
        explanation.push(
            "history_requests",
            Measure::new(
                f64::from(stats.requests),
                f64::from(s.infra_min_requests),
                f64::from(stats.requests) - f64::from(s.infra_min_requests),
            ),
        );
        Some(Finding {
            score: (score + extra).min(0.99),
            summary: format!(
                "first request from {} for this {} after {} requests over {days:.1} days",
                what.join(", "),
                view.subject,
                stats.requests.saturating_sub(1)
            ),
            explanation,
            evidence: Vec::new(),
        })
    }
}

/// The moderation baseline of a subject: its usual share of flagged requests per hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstMemory {
    pub share: f32,
    pub hours: u16,
}

impl Default for BurstMemory {
    fn default() -> Self {
        // Until a subject has history it is assumed to be flagged on 1% of requests.
        Self {
            share: 0.01,
            hours: 0,
        }
    }
}

/// Bursts of moderation flags (guardrail probing): the flagged (or blocked) share of the
/// subject's requests over the last hour against its own usual share, with a binomial
/// z-score.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModerationBurst;

impl SubjectDetector for ModerationBurst {
    fn name(&self) -> &'static str {
        "moderation_burst"
    }

    fn observe(&self, view: &View<'_>, memory: &mut Memory) -> Option<Finding> {
        let (stats, f, s) = (view.stats, view.features, view.settings);
        let memory = &mut memory.burst;
        if let Some(closed) = view.update.hour
            && closed.counts.requests > 0
        {
            let share = f64::from(closed.counts.flagged) / f64::from(closed.counts.requests);
            let p0 = f64::from(memory.share).max(0.005);
            let anomalous = closed.counts.flagged >= s.burst_min_flagged
                && share >= s.burst_min_share.max(3.0 * p0);
            let alpha = (1.0 / f64::from(memory.hours.saturating_add(1))).max(1.0 / 24.0)
                * if anomalous { 0.25 } else { 1.0 };
            #[allow(clippy::cast_possible_truncation, reason = "f32 is enough for a share")]
            {
                memory.share = (p0 + alpha * (share - p0)) as f32;
            }
            memory.hours = memory.hours.saturating_add(1);
        }
        if !(f.flagged || f.blocked) {
            return None;
        }
        let elapsed = stats.hour_elapsed();
        let flagged = stats.hour.sliding(elapsed, |c| u64::from(c.flagged));
        let requests = stats
            .hour
            .sliding(elapsed, |c| u64::from(c.requests))
            .max(1.0);
        let share = flagged / requests;
        let p0 = f64::from(memory.share).clamp(0.005, 0.999);
        let z = (flagged - requests * p0) / (requests * p0 * (1.0 - p0)).sqrt();
        let needed = s.burst_min_share.max(3.0 * p0);
        if flagged < f64::from(s.burst_min_flagged) || share < needed || z < 4.0 {
            return None;
        }
        let mut explanation = Explanation::default();
        explanation.push(
            "flagged_share",
            Measure::new(share, p0, z).with_threshold(needed),
        );
        explanation.push(
            "flagged_requests",
            Measure::new(flagged, requests * p0, z).with_threshold(f64::from(s.burst_min_flagged)),
        );
        let blocked = stats.hour.sliding(elapsed, |c| u64::from(c.blocked));
        explanation.push(
            "blocked_requests",
            Measure::new(blocked, requests * p0, blocked - requests * p0),
        );
        let mut categories = Vec::new();
        for (i, category) in Category::ALL.into_iter().enumerate() {
            let now = stats.hour_categories.flagged.get(i).copied().unwrap_or(0);
            if now == 0 {
                continue;
            }
            let before = stats
                .day_categories
                .previous_flagged
                .get(i)
                .copied()
                .unwrap_or(0);
            let usual = f64::from(before) / 24.0;
            explanation.push(
                format!("category:{}", category.id()),
                Measure::new(f64::from(now), usual, f64::from(now) - usual),
            );
            categories.push(format!("{} {now}", category.id()));
        }
        let categories = if categories.is_empty() {
            String::new()
        } else {
            format!("; {}", categories.join(", "))
        };
        Some(Finding {
            score: (1.0 - p0 / share).clamp(0.0, 1.0),
            summary: format!(
                "{flagged:.0} of {requests:.0} requests in the last hour flagged by moderation ({:.0}% vs {:.1}% usual{categories})",
                share * 100.0,
                p0 * 100.0
            ),
            explanation,
            evidence: vec![Evidence::FirstFlagThisHour],
        })
    }
}

/// The built-in detectors, in engine order.
pub fn builtin() -> Vec<Box<dyn SubjectDetector>> {
    vec![
        Box::new(RateSpike(Rate::Requests)),
        Box::new(RateSpike(Rate::Tokens)),
        Box::new(NewInfrastructure),
        Box::new(ModerationBurst),
    ]
}
