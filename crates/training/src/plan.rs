//! `models/train.toml`: what `bulwark model train --config` trains, from where, into
//! which files. Parsed as written (unknown fields refused), then validated into a
//! [`Plan`]. Paths are relative to the working directory (the repository root).

use std::path::{Path, PathBuf};

use bulwark_moderation::FeatureConfig;
use bulwark_semantic::Pooling;
use serde::Deserialize;

use crate::{TrainConfig, semantic::SemanticConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    version: u32,
    data: PathBuf,
    #[serde(default = "one")]
    seed: u64,
    card: Option<PathBuf>,
    misclassified_notes: Option<PathBuf>,
    traffic_budget: Option<f64>,
    ngram: RawNgram,
    semantic: Option<RawSemantic>,
    output_phishing: Option<RawOutputPhishing>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNgram {
    out: PathBuf,
    name: Option<String>,
    epochs: Option<usize>,
    bits: Option<u8>,
    window: Option<u16>,
    hop: Option<u16>,
    norm_exponent: Option<f32>,
    norm_floor: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutputPhishing {
    out: PathBuf,
    name: Option<String>,
    epochs: Option<usize>,
    bits: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSemantic {
    table: PathBuf,
    out: PathBuf,
    name: Option<String>,
    epochs: Option<usize>,
    learning_rate: Option<f32>,
    l2: Option<f32>,
    window: Option<u16>,
    hop: Option<u16>,
    norm_floor: Option<u16>,
}

/// A validated training plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub data: PathBuf,
    /// Where the model card goes (none: not written).
    pub card: Option<PathBuf>,
    /// The hand-written notes on the card's misclassified examples
    /// (`crate::misclassified::Notes`; none: every example prints "(no note yet)").
    pub misclassified_notes: Option<PathBuf>,
    /// The combined tier's input thresholds are raised until at most this share of the
    /// development half of real traffic is flagged per category (none: dev split only).
    pub traffic_budget: Option<f64>,
    pub ngram: TrainConfig,
    pub ngram_out: PathBuf,
    pub semantic: Option<SemanticPlan>,
    /// The output side's phishing detector (`crate::phishing`).
    pub output_phishing: Option<DetectorPlan>,
}

/// The output-side phishing detector's part of a plan.
#[derive(Debug, Clone)]
pub struct DetectorPlan {
    pub config: TrainConfig,
    pub out: PathBuf,
}

/// The semantic tier's part of a plan.
#[derive(Debug, Clone)]
pub struct SemanticPlan {
    pub config: SemanticConfig,
    /// The distilled table the heads are trained on.
    pub table: PathBuf,
    pub out: PathBuf,
}

/// Why a plan was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid training plan `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads and validates a plan.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|message| PlanError::Invalid {
        path: path.to_owned(),
        message,
    })
}

/// Parses and validates a plan's text.
pub fn parse(text: &str) -> Result<Plan, String> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| e.to_string())?;
    if raw.version != 1 {
        return Err(format!("version {} (expected 1)", raw.version));
    }
    let defaults = TrainConfig::default();
    let n = &raw.ngram;
    let ngram = TrainConfig {
        name: n.name.clone().unwrap_or(defaults.name.clone()),
        features: FeatureConfig {
            bucket_bits: n.bits.unwrap_or(defaults.features.bucket_bits),
            window_tokens: n.window.unwrap_or(defaults.features.window_tokens),
            hop_tokens: n.hop.unwrap_or(defaults.features.hop_tokens),
            norm_exponent: n.norm_exponent.unwrap_or(defaults.features.norm_exponent),
            norm_floor: n.norm_floor.unwrap_or(defaults.features.norm_floor),
            ..defaults.features
        },
        epochs: n.epochs.unwrap_or(defaults.epochs),
        seed: raw.seed,
        ..defaults
    };
    ngram
        .features
        .validate()
        .map_err(|m| format!("[ngram]: {m}"))?;
    let semantic = match raw.semantic {
        None => None,
        Some(s) => {
            let d = SemanticConfig::default();
            let config = SemanticConfig {
                name: s.name.unwrap_or(d.name.clone()),
                pooling: Pooling {
                    window_tokens: s.window.unwrap_or(d.pooling.window_tokens),
                    hop_tokens: s.hop.unwrap_or(d.pooling.hop_tokens),
                    norm_floor: s.norm_floor.unwrap_or(d.pooling.norm_floor),
                },
                epochs: s.epochs.unwrap_or(d.epochs),
                learning_rate: s.learning_rate.unwrap_or(d.learning_rate),
                l2: s.l2.unwrap_or(d.l2),
                seed: raw.seed,
                ..d
            };
            config
                .pooling
                .validate()
                .map_err(|m| format!("[semantic]: {m}"))?;
            Some(SemanticPlan {
                config,
                table: s.table,
                out: s.out,
            })
        }
    };
    let output_phishing = match raw.output_phishing {
        None => None,
        Some(d) => {
            let config = TrainConfig {
                name: d
                    .name
                    .unwrap_or_else(|| "bulwark-phishing-out-2026.11-1".to_owned()),
                features: FeatureConfig {
                    bucket_bits: d.bits.unwrap_or(ngram.features.bucket_bits),
                    ..ngram.features
                },
                epochs: d.epochs.unwrap_or(ngram.epochs),
                ..ngram.clone()
            };
            config
                .features
                .validate()
                .map_err(|m| format!("[output_phishing]: {m}"))?;
            Some(DetectorPlan { config, out: d.out })
        }
    };
    if let Some(b) = raw.traffic_budget
        && !(0.0..1.0).contains(&b)
    {
        return Err(format!("traffic_budget {b} outside [0, 1)"));
    }
    Ok(Plan {
        data: raw.data,
        card: raw.card,
        misclassified_notes: raw.misclassified_notes,
        traffic_budget: raw.traffic_budget,
        ngram,
        ngram_out: raw.ngram.out,
        semantic,
        output_phishing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_plan_parses() {
        let text = include_str!("../../../models/train.toml");
        let plan = parse(text).unwrap();
        assert!(plan.semantic.is_some());
        assert!(plan.output_phishing.is_some());
        assert_eq!(plan.ngram.seed, 1);
    }

    #[test]
    fn unknown_fields_and_versions_are_refused() {
        let base = "version = 1\ndata = \"d\"\n[ngram]\nout = \"o\"\n";
        assert!(parse(base).is_ok());
        assert!(parse(&base.replace("version = 1", "version = 2")).is_err());
        assert!(parse(&format!("{base}surprise = 1\n")).is_err());
        assert!(parse(&format!("{base}window = 33\n")).is_err());
    }
}
