//! The `[detection]` section, validated: table caps, deduplication, warm-up, replay
//! lateness, the detectors' settings and model prices.

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;

use crate::{
    RawDetection,
    validated::{ConfigError, duration, duration_text, err},
};

/// The validated `[detection]` section; defaults in `RawDetection`'s documentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionConfig {
    pub enabled: bool,
    pub max_keys: usize,
    pub max_accounts: usize,
    pub max_tenants: usize,
    pub max_networks: usize,
    #[serde(with = "duration_text")]
    pub dedup_window: Duration,
    #[serde(with = "duration_text")]
    pub warmup: Duration,
    pub queue: usize,
    #[serde(with = "duration_text")]
    pub lateness: Duration,
    pub risk: f64,
    pub spike_min_ratio: f64,
    pub spike_min_requests: u32,
    pub spike_min_tokens: u64,
    pub min_active_minutes: u32,
    pub burst_min_flagged: u32,
    pub burst_min_share: f64,
    pub infra_min_requests: u32,
    #[serde(with = "duration_text")]
    pub infra_min_age: Duration,
    /// Model name or pattern → (prompt, completion) US dollars per million tokens.
    pub prices: BTreeMap<String, ModelPrice>,
}

/// A model's price, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelPrice {
    pub prompt: f64,
    pub completion: f64,
}

/// The most subjects of one kind a table may be asked to hold.
const MAX_SUBJECTS: usize = 50_000_000;

pub(crate) fn validate(errors: &mut Vec<ConfigError>, raw: &RawDetection) -> DetectionConfig {
    let mut cap = |field: &str, value: Option<usize>, default: usize| {
        let v = value.unwrap_or(default);
        if v > MAX_SUBJECTS {
            errors.push(err(
                format!("detection.{field}"),
                format!("{v} is more than {MAX_SUBJECTS}"),
            ));
            return default;
        }
        v
    };
    let max_keys = cap("max_keys", raw.max_keys, 100_000);
    let max_accounts = cap("max_accounts", raw.max_accounts, 100_000);
    let max_tenants = cap("max_tenants", raw.max_tenants, 10_000);
    let max_networks = cap("max_networks", raw.max_networks, 100_000);
    let queue = raw.queue.unwrap_or(65_536);
    if !(16..=1 << 24).contains(&queue) {
        errors.push(err(
            "detection.queue",
            format!("{queue} is outside the allowed range 16..={}", 1 << 24),
        ));
    }
    let mut within = |field: &str, value: Option<f64>, default: f64, low: f64, high: f64| {
        let v = value.unwrap_or(default);
        if !(v.is_finite() && v > low && v <= high) {
            errors.push(err(
                format!("detection.{field}"),
                format!("{v} is outside ({low}, {high}]"),
            ));
            return default;
        }
        v
    };
    let risk = within("risk", raw.risk, 1e-4, 0.0, 0.1);
    let spike_min_ratio = within("spike_min_ratio", raw.spike_min_ratio, 4.0, 1.0, 1e6);
    let burst_min_share = within("burst_min_share", raw.burst_min_share, 0.05, 0.0, 1.0);
    let mut prices = BTreeMap::new();
    for (model, price) in &raw.prices {
        let field = format!("detection.prices.\"{model}\"");
        let prompt = price.prompt.unwrap_or(0.0);
        let completion = price.completion.unwrap_or(0.0);
        if model.trim().is_empty() {
            errors.push(err(&field, "the model name must not be empty"));
        }
        if !(prompt.is_finite() && completion.is_finite() && prompt >= 0.0 && completion >= 0.0) {
            errors.push(err(&field, "prices must be finite and not negative"));
            continue;
        }
        prices.insert(model.clone(), ModelPrice { prompt, completion });
    }
    DetectionConfig {
        enabled: raw.enabled.unwrap_or(true),
        max_keys,
        max_accounts,
        max_tenants,
        max_networks,
        dedup_window: duration(
            errors,
            "detection.dedup_window",
            raw.dedup_window.as_deref(),
            "1h",
            false,
        ),
        warmup: duration(
            errors,
            "detection.warmup",
            raw.warmup.as_deref(),
            "24h",
            false,
        ),
        queue,
        lateness: duration(
            errors,
            "detection.lateness",
            raw.lateness.as_deref(),
            "10s",
            false,
        ),
        risk,
        spike_min_ratio,
        spike_min_requests: raw.spike_min_requests.unwrap_or(20),
        spike_min_tokens: raw.spike_min_tokens.unwrap_or(20_000),
        min_active_minutes: raw.min_active_minutes.unwrap_or(30),
        burst_min_flagged: raw.burst_min_flagged.unwrap_or(5),
        burst_min_share,
        infra_min_requests: raw.infra_min_requests.unwrap_or(50),
        infra_min_age: duration(
            errors,
            "detection.infra_min_age",
            raw.infra_min_age.as_deref(),
            "24h",
            false,
        ),
        prices,
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, RawConfig};

    fn parse(text: &str) -> Result<Config, Vec<crate::ConfigError>> {
        let raw: RawConfig = toml::from_str(text).unwrap();
        Config::from_raw(&raw, &|_| None)
    }

    #[test]
    fn defaults_apply_without_a_section() {
        let d = parse("version = 1").unwrap().detection;
        assert!(d.enabled);
        assert_eq!((d.max_keys, d.max_tenants), (100_000, 10_000));
        assert_eq!(d.dedup_window.as_secs(), 3600);
        assert_eq!(d.warmup.as_secs(), 24 * 3600);
        assert_eq!(d.lateness.as_secs(), 10);
        assert!((d.risk - 1e-4).abs() < 1e-12);
        assert!(d.prices.is_empty());
    }

    #[test]
    fn values_are_checked_and_prices_read() {
        let d = parse(
            r#"
            version = 1
            [detection]
            max_networks = 0
            dedup_window = "15m"
            [detection.prices."gpt-4o*"]
            prompt = 2.5
            completion = 10
            "#,
        )
        .unwrap()
        .detection;
        assert_eq!(d.max_networks, 0);
        assert_eq!(d.dedup_window.as_secs(), 900);
        assert_eq!(d.prices["gpt-4o*"].completion, 10.0);

        let errors = parse(
            r#"
            version = 1
            [detection]
            risk = 0.5
            burst_min_share = 0
            max_keys = 60000000
            warmup = "soon"
            [detection.prices.m]
            prompt = -1
            "#,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in [
            "detection.risk",
            "detection.burst_min_share",
            "detection.max_keys",
            "detection.warmup",
            "detection.prices.\"m\"",
        ] {
            assert!(fields.contains(&field), "{field} missing from {errors:?}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let raw: Result<RawConfig, _> = toml::from_str("version = 1\n[detection]\nspikes = 3");
        assert!(raw.is_err());
        let raw: Result<RawConfig, _> =
            toml::from_str("version = 1\n[detection.prices.m]\ncost = 3");
        assert!(raw.is_err());
    }
}
